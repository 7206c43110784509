package kestrel_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel"
)

// A program with its own handler (an http.ServeMux here; chi, gorilla/mux
// or a gRPC server alike) runs as a service with one call: Service.Run
// listens (on the sockets systemd or the process it replaces passes, or
// its own), reloads the configuration file when it changes and on SIGHUP,
// restarts on a new binary on SIGUSR2 (UpgradeService), tells systemd how
// it is doing, and shuts down gracefully on SIGTERM. Its main is:
//
//	func main() {
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /hello", hello)
//		svc := &kestrel.Service{
//			Server:     &kestrel.Server{Handler: mux},
//			ConfigFile: "/etc/app/appsettings.json",
//			PIDFile:    "/run/app/app.pid",
//		}
//		if err := svc.Run(context.Background()); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Here the context ends the service once the example has seen it work.
func ExampleService() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello from my own mux")
	})

	dir, err := os.MkdirTemp("", "app")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	config := filepath.Join(dir, "appsettings.json")
	err = os.WriteFile(config, []byte(`{
		"AllowedHosts": "localhost;127.0.0.1",
		"Kestrel": { "Endpoints": { "Http": { "Url": "http://127.0.0.1:0" } } } }`), 0o644)
	if err != nil {
		log.Fatal(err)
	}

	srv := &kestrel.Server{Handler: mux, Logger: slog.New(slog.DiscardHandler)}
	svc := &kestrel.Service{
		Server:     srv,
		ConfigFile: config,
		PIDFile:    filepath.Join(dir, "app.pid"),
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	// The PID file is written once the server listens.
	for {
		if b, err := os.ReadFile(svc.PIDFile); err == nil {
			fmt.Println("PID file names this process:", strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	get := func(host string) {
		req, _ := http.NewRequest("GET", srv.Addresses()[0]+"/hello", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(strings.TrimSpace("Host " + host + ": " + resp.Status + " " + string(body)))
	}
	get("localhost")
	get("example.com") // AllowedHosts, from the file, is in front of the mux

	stop() // as SIGTERM does
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(svc.PIDFile)
	fmt.Println("PID file removed:", os.IsNotExist(err))
	// Output:
	// PID file names this process: true
	// Host localhost: 200 OK Hello from my own mux
	// Host example.com: 400 Bad Request
	// PID file removed: true
}
