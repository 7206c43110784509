package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	pathpkg "path"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/accesslog"
	"github.com/kestrel-go/kestrel/internal/demo"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metricsexport"
	"github.com/kestrel-go/kestrel/logging"
)

// observability holds the flags for logs, the access log and metrics.
type observability struct {
	logFormat *string
	accessLog *bool
	metrics   *string
	pprof     *bool
	demo      *demo.App // the demo app, if served: it gets the live counters
}

func addObservabilityFlags(fs *flag.FlagSet) *observability {
	return &observability{
		logFormat: fs.String("log-format", "console", "log format: console (ASP.NET Core's) or json (one object per line)"),
		accessLog: fs.Bool("access-log", false, "log one line per request (combined log format with the duration; a JSON object with --log-format json)"),
		metrics:   fs.String("metrics", "", "serve Prometheus metrics at this URL, such as http://127.0.0.1:9464 (path /metrics unless the URL has one)"),
		pprof:     fs.Bool("pprof", false, "also serve the Go runtime profiles at /debug/pprof/ on the --metrics listener"),
	}
}

// logger makes the command's logger on w.
func (o *observability) logger(w io.Writer, level slog.Level, environ []string) (*slog.Logger, error) {
	opts := &logging.Options{Level: level, Category: logevents.CategoryKestrel}
	switch *o.logFormat {
	case "console":
		opts.Color = isTerminal(w) && getenv(environ, "NO_COLOR") == ""
		return slog.New(logging.NewConsoleHandler(w, opts)), nil
	case "json":
		opts.TimestampFormat, opts.UTC = time.RFC3339Nano, true
		return slog.New(logging.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use console or json", *o.logFormat)
}

// isTerminal reports whether w is a terminal, which gets colors.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// wrapAccessLog returns h recording each request on w when --access-log
// is set: a combined-format line, or a JSON object with --log-format json.
func (o *observability) wrapAccessLog(h http.Handler, w io.Writer) http.Handler {
	if !*o.accessLog {
		return h
	}
	if *o.logFormat == "json" {
		log := slog.New(logging.NewJSONHandler(w, &logging.Options{TimestampFormat: time.RFC3339Nano, UTC: true}))
		return accesslog.Handler(h, accesslog.Options{Logger: log})
	}
	return accesslog.Handler(h, accesslog.Options{Writer: w})
}

// startMetrics gives srv a meter provider and serves its metrics at the
// --metrics URL on a listener of their own (another kestrel.Server, whose
// own connections are not counted), which it returns (nil without
// --metrics). In a process that replaces another (kestrel upgrade), it
// takes that process's metrics socket, which comes first. The returned function stops it.
func (o *observability) startMetrics(srv *kestrel.Server, log *slog.Logger) (ms *kestrel.Server, stop func(), err error) {
	if *o.metrics == "" {
		if *o.pprof {
			return nil, nil, fmt.Errorf("--pprof needs --metrics: the profiles are served on the metrics listener")
		}
		return nil, func() {}, nil
	}
	u, err := url.Parse(*o.metrics)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, fmt.Errorf("--metrics %q: want an http:// URL such as http://127.0.0.1:9464", *o.metrics)
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		path = "/metrics"
	}
	if path != pathpkg.Clean(path) {
		return nil, nil, fmt.Errorf("--metrics %q: want a clean path such as /metrics (no \".\", \"..\" or \"//\")", *o.metrics)
	}
	exp, err := metricsexport.New()
	if err != nil {
		return nil, nil, err
	}
	ms = &kestrel.Server{Handler: exp.Handler(path, *o.pprof), Logger: log}
	if _, err := ms.ListenInherited(); err != nil { // before the app server's (see kestrel.Service's Others)
		return nil, nil, &prefixedError{"--metrics", err}
	}
	if err := ms.ListenURL("http://" + u.Host); err != nil {
		return nil, nil, &prefixedError{"--metrics", err}
	}
	if err := ms.Start(); err != nil {
		return nil, nil, &prefixedError{"--metrics", err}
	}
	for _, a := range ms.Addresses() {
		logevents.General(log, slog.LevelInfo, "MetricsListening", "Serving Prometheus metrics on: "+a+(&url.URL{Path: path}).EscapedPath())
		if *o.pprof {
			logevents.General(log, slog.LevelInfo, "PprofListening", "Serving Go runtime profiles on: "+a+"/debug/pprof/")
		}
	}
	srv.MeterProvider = exp.Provider
	if o.demo != nil {
		o.demo.SetMetrics(exp.Snapshot)
	}
	return ms, func() {
		ms.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		exp.Shutdown(ctx)
	}, nil
}

// prefixedError is err, from what a flag or subcommand set up, under its
// name; its message drops the "kestrel: " the command prints once.
type prefixedError struct {
	prefix string
	err    error
}

func (e *prefixedError) Error() string {
	return e.prefix + ": " + strings.TrimPrefix(e.err.Error(), "kestrel: ")
}

func (e *prefixedError) Unwrap() error { return e.err }
