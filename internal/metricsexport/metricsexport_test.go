package metricsexport_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/metricsexport"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestScrape(t *testing.T) {
	exp, err := metricsexport.New()
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	s := &kestrel.Server{Handler: mux, MeterProvider: exp.Provider, Logger: slog.New(slog.DiscardHandler)}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(s.Addresses()[0] + "/hello/you")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()

	h := exp.Handler("/metrics", false)
	var rec *httptest.ResponseRecorder
	var body string
	// The connection's duration is recorded once the server has closed it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body = rec.Body.String()
		if strings.Contains(body, "kestrel_connection_duration_seconds_count") || time.Now().After(deadline) {
			break
		}
	}
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		"# TYPE kestrel_active_connections gauge",
		`kestrel_active_connections{network_transport="tcp",network_type="ipv4",otel_scope_name="Microsoft.AspNetCore.Server.Kestrel"`,
		"# TYPE kestrel_connection_duration_seconds histogram",
		"# TYPE http_server_request_duration_seconds histogram",
		`http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/hello/{name}",network_protocol_version="1.1",otel_scope_name="Microsoft.AspNetCore.Hosting"`,
		`le="0.005"`,
		"# TYPE http_server_active_requests gauge",
		"go_goroutines ",
		"go_gc_duration_seconds",
		"process_cpu_seconds_total ",
		"process_resident_memory_bytes ",
		"target_info{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	// The request metrics carry no endpoint attributes (README's table).
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "http_server_") && strings.Contains(line, "server_address=") {
			t.Errorf("a request metric with the endpoint's attributes: %s", line)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	exp, err := metricsexport.New()
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	for _, c := range []struct {
		pprof bool
		path  string
		code  int
	}{
		{false, "/debug/pprof/", 404},
		{true, "/debug/pprof/", 200},
		{true, "/debug/pprof/cmdline", 200},
		{false, "/other", 404},
		{false, "/custom", 200},
	} {
		rec := httptest.NewRecorder()
		exp.Handler("/custom", c.pprof).ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
		if rec.Code != c.code {
			t.Errorf("pprof %v, GET %s: %d, want %d", c.pprof, c.path, rec.Code, c.code)
		}
	}
}

// TestHandlerPathIsLiteral: the metrics path is a path, not a ServeMux
// pattern: braces are literal (no wildcard to answer every path), "/"
// answers "/" only, and characters a URL escapes are matched escaped.
func TestHandlerPathIsLiteral(t *testing.T) {
	exp, err := metricsexport.New()
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	for _, c := range []struct {
		path, target string
		code         int
	}{
		{"/m/{x}", "/m/%7Bx%7D", 200},
		{"/m/{x}", "/m/other", 404},
		{"/m/{x...}", "/m/a/b", 404},
		{"/m/{$}", "/m/%7B$%7D", 200},
		{"/m/{$}", "/m/", 404},
		{"/", "/", 200},
		{"/", "/other", 404},
		{"/a b", "/a%20b", 200},
		{"/metrics", "/metrics", 200},
		{"/metrics", "/metrics/", 404},
	} {
		rec := httptest.NewRecorder()
		exp.Handler(c.path, false).ServeHTTP(rec, httptest.NewRequest("GET", c.target, nil))
		if rec.Code != c.code {
			t.Errorf("path %q, GET %s: %d, want %d", c.path, c.target, rec.Code, c.code)
		}
	}
}

// TestSnapshot: the values the demo's home page shows, after two requests
// on one connection that is still open.
func TestSnapshot(t *testing.T) {
	exp, err := metricsexport.New()
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	s := &kestrel.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), MeterProvider: exp.Provider, Logger: slog.New(slog.DiscardHandler)}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for range 2 {
		resp, err := (&http.Client{Transport: tr}).Get(s.Addresses()[0] + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	var snap map[string]float64
	// The request's duration is recorded as its response completes.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if snap, err = exp.Snapshot(); err != nil {
			t.Fatal(err)
		}
		if snap["http_server_request_duration_seconds_count"] == 2 || time.Now().After(deadline) {
			break
		}
	}
	for name, want := range map[string]float64{
		"http_server_request_duration_seconds_count": 2,
		"kestrel_active_connections":                 1,
		"http_server_active_requests":                0,
	} {
		if got, ok := snap[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if snap[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, snap[name])
		}
	}
}

// TestScrapeInvalidUTF8: a Unix socket's path and a route pattern are
// bytes, not necessarily UTF-8, where Prometheus's label values must be
// UTF-8. The scrape still answers 200 with every metric, the bytes that
// are not UTF-8 replaced by U+FFFD, and parses as the text format.
func TestScrapeInvalidUTF8(t *testing.T) {
	exp, err := metricsexport.New()
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /caf\xe9", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	s := &kestrel.Server{Handler: mux, MeterProvider: exp.Provider, Logger: slog.New(slog.DiscardHandler)}
	sock := filepath.Join(t.TempDir(), "k\xff\"\\\n.sock")
	if err := s.ListenUnix(sock); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Get("http://unix/caf%E9")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /caf%%E9: %d, want 200 from the route", resp.StatusCode)
	}

	h := exp.Handler("/metrics", false)
	var rec *httptest.ResponseRecorder
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if strings.Contains(rec.Body.String(), "kestrel_connection_duration_seconds_count") || rec.Code != 200 || time.Now().After(deadline) {
			break
		}
	}
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	wantAddr := `server_address="` + strings.ReplaceAll(filepath.Dir(sock), `\`, `\\`) + "/k\uFFFD\\\"\\\\\\n.sock\""
	for _, want := range []string{
		`kestrel_active_connections{network_transport="unix",otel_scope_name="Microsoft.AspNetCore.Server.Kestrel",otel_scope_schema_url="",otel_scope_version="",` + wantAddr + `} 0`,
		"http_route=\"/caf\uFFFD\"",
		"kestrel_connection_duration_seconds_count{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(body)); err != nil {
		t.Errorf("the scrape does not parse: %v", err)
	}
	if t.Failed() {
		t.Log(body)
	}
}
