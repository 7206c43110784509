package kestrel_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kestrel-go/kestrel"
)

// A server behind a load balancer serves readiness at /healthz and
// liveness at /healthz/live in front of its own mux, and on Shutdown
// (SIGTERM under Service.Run) reports draining at once while it goes on
// serving for DrainDelay, so that the balancer stops sending before any
// connection is closed.
func ExampleServer_HealthChecks() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello")
	})
	srv := &kestrel.Server{
		DrainDelay: time.Second, // 5 to 15 s in production: a few balancer check intervals
		Logger:     slog.New(slog.DiscardHandler),
	}
	srv.Handler = srv.HealthChecks("/healthz", mux)
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	base := srv.Addresses()[0]
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) {
		resp, err := client.Get(base + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %q\n", path, resp.StatusCode, body)
	}
	get("/healthz")

	done := make(chan error)
	go func() { done <- srv.Shutdown(context.Background()) }()
	for srv.State() != kestrel.StateDraining {
		time.Sleep(time.Millisecond)
	}
	get("/healthz")      // the balancer sees 503 and takes the server out
	get("/healthz/live") // the process is alive: do not restart it
	get("/hello")        // still served during the delay
	fmt.Println(<-done, srv.State())
	// Output:
	// /healthz: 200 "ready\n"
	// /healthz: 503 "draining\n"
	// /healthz/live: 200 "draining\n"
	// /hello: 200 "Hello"
	// <nil> stopped
}
