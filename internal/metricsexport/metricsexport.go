// Package metricsexport serves a server's metrics to Prometheus: an
// OpenTelemetry SDK meter provider whose measurements OpenTelemetry's
// Prometheus exporter exposes in the Prometheus text format, with the Go
// runtime and process metrics of Prometheus's own collectors.
//
// The runtime metrics come from client_golang's Go and process collectors
// (go_goroutines, go_memstats_*, go_gc_duration_seconds,
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds, ...) rather than OpenTelemetry's runtime
// instrumentation: client_golang is already the exporter's dependency,
// its names are the ones Prometheus dashboards and alerts for Go
// services use, and it adds the process's CPU, memory and file
// descriptors, which the OpenTelemetry runtime instrumentation does not
// report.
package metricsexport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Exporter is a meter provider and the registry Prometheus scrapes.
type Exporter struct {
	// Provider is the meter provider to give the server
	// (kestrel.Server.MeterProvider).
	Provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// New returns an exporter with the Go runtime and process collectors. The
// resource (service.name and the other attributes of the target_info
// metric) comes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func New() (*Exporter, error) {
	reg := prometheus.NewRegistry()
	if err := errors.Join(
		reg.Register(collectors.NewGoCollector()),
		reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
	); err != nil {
		return nil, fmt.Errorf("metrics: registering the Go collectors: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("metrics: creating the Prometheus exporter: %w", err)
	}
	return &Exporter{Provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), registry: reg}, nil
}

// Handler serves the metrics at path and, with withPprof, the runtime
// profiles at /debug/pprof/; everything else is 404. path, a clean
// unescaped path such as "/metrics", is matched literally: its braces are
// not ServeMux wildcards, and "/" answers "/" only.
func (e *Exporter) Handler(path string, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+pathPattern(path), promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// pathPattern returns the ServeMux pattern that matches path and nothing
// else: the path escaped, which ServeMux unescapes segment by segment as
// literals, and "{$}" after a final slash, which would otherwise match
// every path below it.
func pathPattern(path string) string {
	p := (&url.URL{Path: path}).EscapedPath()
	if strings.HasSuffix(p, "/") {
		p += "{$}"
	}
	return p
}

// Shutdown stops the meter provider.
func (e *Exporter) Shutdown(ctx context.Context) error { return e.Provider.Shutdown(ctx) }

// Snapshot returns the current value of every metric, summed over its
// label sets, by its Prometheus name: counters and gauges under their
// family's name (kestrel_active_connections, process_cpu_seconds_total),
// histograms and summaries as their sample count under the name with
// "_count" (http_server_request_duration_seconds_count). It is what the
// demo app's home page shows live.
func (e *Exporter) Snapshot() (map[string]float64, error) {
	families, err := e.registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: gathering: %w", err)
	}
	out := make(map[string]float64, len(families))
	for _, f := range families {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				out[name] += m.Counter.GetValue()
			case m.Gauge != nil:
				out[name] += m.Gauge.GetValue()
			case m.Untyped != nil:
				out[name] += m.Untyped.GetValue()
			case m.Histogram != nil:
				out[name+"_count"] += float64(m.Histogram.GetSampleCount())
			case m.Summary != nil:
				out[name+"_count"] += float64(m.Summary.GetSampleCount())
			}
		}
	}
	return out, nil
}
