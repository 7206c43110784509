// Command serviceapp is a program with its own http.ServeMux run by
// kestrel.Service, as a team's own binary would be; the tests of
// service_test.go build it, upgrade it under load, reload its
// configuration and watch what it tells a fake systemd.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/kestrel-go/kestrel"
)

func main() {
	config := flag.String("config", "", "the configuration file")
	pidFile := flag.String("pid-file", "", "the PID file")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello from my own mux")
	})
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getpid())
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return // over the configuration's limit: the server answers 413
		}
		fmt.Fprintf(w, "%d bytes", n)
	})

	srv := &kestrel.Server{
		Handler: mux,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	svc := &kestrel.Service{Server: srv, ConfigFile: *config, PIDFile: *pidFile}
	if err := svc.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
