package accesslog_test

import (
	"log/slog"
	"net/http"
	"os"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/accesslog"
	"github.com/kestrel-go/kestrel/logging"
)

// An access log on standard output, one line per request in the
// Combined Log Format with the duration and the request id.
func ExampleHandler() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("Hello!")) })
	srv := &kestrel.Server{Handler: accesslog.Handler(mux, accesslog.Options{Writer: os.Stdout})}
	_ = srv // srv.ListenURL(...); srv.Run(ctx)
}

// The access log as JSON records, for a container's log collector.
func ExampleHandler_json() {
	log := slog.New(logging.NewJSONHandler(os.Stdout, nil))
	mux := http.NewServeMux()
	srv := &kestrel.Server{Handler: accesslog.Handler(mux, accesslog.Options{Logger: log})}
	_ = srv
}
