package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
	"github.com/kestrel-go/kestrel/logging"

	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// logRecorder keeps the records logged at or above its level.
type logRecorder struct {
	mu      sync.Mutex
	level   slog.Level
	records []slog.Record
}

func newLogRecorder(level slog.Level) (*logRecorder, *slog.Logger) {
	r := &logRecorder{level: level}
	return r, slog.New(r)
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler { return &attrHandler{r, attrs} }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

// attrHandler adds With attributes to the records it passes on.
type attrHandler struct {
	*logRecorder
	attrs []slog.Attr
}

func (h *attrHandler) Handle(ctx context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(h.attrs...)
	return h.logRecorder.Handle(ctx, rec)
}

// event is a record's level, message and attributes.
type event struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// events returns the records of the event called name ("" for all).
func (r *logRecorder) events(name string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, rec := range r.records {
		e := event{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
		rec.Attrs(func(a slog.Attr) bool {
			e.attrs[a.Key] = a.Value.String()
			return true
		})
		if name == "" || e.attrs[logging.EventNameKey] == name {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// metricTotal is the value (counters) or count (histograms) of the points
// of name matching want.
func metricTotal(t *testing.T, r sdkmetric.Reader, name string, want map[string]string) float64 {
	t.Helper()
	return metricstest.Total(metricstest.Match(metricstest.Points(t, r, name), want))
}

func waitMetric(t *testing.T, r sdkmetric.Reader, name string, want map[string]string, value float64) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got = metricTotal(t, r, name, want); got == value {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v; points: %+v", name, want, got, value, metricstest.Points(t, r, name))
		}
	}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// TestMetricsConnectionLimit provokes rejections by MaxConcurrentConnections:
// they are counted, end in kestrel.connection.duration with Kestrel's
// reason, are logged at Debug only, and summarized once at Warning.
func TestMetricsConnectionLimit(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	addr := startServer(t, &Server{MeterProvider: mp, Logger: log, Limits: Limits{MaxConcurrentConnections: 1},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })})
	endpoint := map[string]string{"server.address": "127.0.0.1", "server.port": portOf(addr), "network.type": "ipv4", "network.transport": "tcp"}

	held := dial(t, addr)
	io.WriteString(held, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(held), nil); err != nil {
		t.Fatal(err)
	}
	const refused = 20
	for range refused {
		c := dial(t, addr)
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection over the limit was served")
		}
	}
	waitMetric(t, reader, "kestrel.rejected_connections", endpoint, refused)
	if got := metricTotal(t, reader, "kestrel.active_connections", endpoint); got != 1 {
		t.Errorf("active connections %v, want 1", got)
	}
	if got := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "max_concurrent_connections_exceeded"}); got != refused {
		t.Errorf("rejected connections in kestrel.connection.duration: %v, want %d", got, refused)
	}

	rejected := rec.events("ConnectionRejected")
	if len(rejected) != refused {
		t.Fatalf("%d ConnectionRejected events, want %d", len(rejected), refused)
	}
	id := regexp.MustCompile(`^[0-9A-V]{13}$`)
	for _, e := range rejected {
		if e.level != slog.LevelDebug || e.attrs[logging.EventIDKey] != "24" || e.attrs[logging.CategoryKey] != "Microsoft.AspNetCore.Server.Kestrel.Connections" ||
			!id.MatchString(e.attrs["ConnectionId"]) || !strings.Contains(e.msg, e.attrs["ConnectionId"]) {
			t.Errorf("ConnectionRejected event: %+v", e)
		}
	}
	// The heartbeat summarizes them once, at Warning.
	waitFor(t, "the rejection summary", func() bool { return len(rec.events("ConnectionsRejected")) > 0 })
	sum := rec.events("ConnectionsRejected")
	if len(sum) != 1 || sum[0].level != slog.LevelWarn || sum[0].attrs["count"] != strconv.Itoa(refused) || sum[0].attrs["limit"] != "1" {
		t.Errorf("summary events: %+v", sum)
	}
	for _, e := range rec.events("") {
		// HeartbeatSlow says the machine is busy (a loaded test run), not
		// that a connection was refused.
		if name := e.attrs[logging.EventNameKey]; e.level >= slog.LevelInfo && name != "ConnectionsRejected" && name != "HeartbeatSlow" {
			t.Errorf("a line at %v for a refused connection: %+v", e.level, e)
		}
	}
}

// TestMetricsTLSHandshakes fails handshakes in two ways and completes one.
func TestMetricsTLSHandshakes(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "127.0.0.1")
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{MeterProvider: mp, Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key}})

	// Plain HTTP to the HTTPS port.
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	io.ReadAll(c)
	// A client that does not trust the certificate aborts with an alert.
	if _, err := (&http.Client{}).Get("https://" + addr + "/"); err == nil {
		t.Fatal("an untrusting client connected")
	}
	// A good one.
	client := pki.client()
	client.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS13
	resp, body := get(t, client, "https://"+addr+"/")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	client.CloseIdleConnections()

	hs := "kestrel.tls_handshake.duration"
	waitMetric(t, reader, hs, map[string]string{"error.type": "plain_http"}, 1)
	waitMetric(t, reader, hs, map[string]string{"error.type": "remote_alert"}, 1)
	waitMetric(t, reader, hs, map[string]string{"error.type": "", "tls.protocol.version": "1.3", "server.port": portOf(addr)}, 1)
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "tls_handshake_failed"}, 2)
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "", "tls.protocol.version": "1.3",
		"network.protocol.name": "http", "network.protocol.version": "1.1"}, 1)
	waitMetric(t, reader, "kestrel.active_tls_handshakes", nil, 0)
	waitMetric(t, reader, "http.server.request.duration", map[string]string{"url.scheme": "https", "http.response.status_code": "200"}, 1)

	failed := rec.events("AuthenticationFailed")
	if len(failed) != 2 {
		t.Fatalf("%d AuthenticationFailed events, want 2: %+v", len(failed), rec.events(""))
	}
	for _, e := range failed {
		if e.level != slog.LevelDebug || e.attrs[logging.CategoryKey] != "Microsoft.AspNetCore.Server.Kestrel.Https.Internal.HttpsConnectionMiddleware" ||
			e.attrs[logging.EventIDKey] != "1" || e.attrs[logging.ExceptionKey] == "" {
			t.Errorf("AuthenticationFailed event: %+v", e)
		}
	}
	if est := rec.events("HttpsConnectionEstablished"); len(est) != 1 || est[0].attrs["Protocol"] != "Tls13" {
		t.Errorf("HttpsConnectionEstablished events: %+v", est)
	}
	for _, e := range rec.events("") {
		if e.level >= slog.LevelInfo && e.attrs[logging.EventNameKey] != "HeartbeatSlow" {
			t.Errorf("a line at %v for a failed handshake: %+v", e.level, e)
		}
	}
}

// TestMetricsUpgrade counts an upgraded connection while it is open, and
// ends the connection only when the upgraded stream closes.
func TestMetricsUpgrade(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	addr := startServer(t, &Server{MeterProvider: mp, Handler: echoUpgrade(t)})
	c, br, resp := dialUpgrade(t, addr, "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	waitMetric(t, reader, "kestrel.upgraded_connections", map[string]string{"server.port": portOf(addr)}, 1)
	waitMetric(t, reader, "http.server.request.duration", map[string]string{"http.response.status_code": "101"}, 1)
	if got := metricTotal(t, reader, "kestrel.connection.duration", nil); got != 0 {
		t.Errorf("the upgraded connection ended in the metrics while open (%v)", got)
	}
	if got := metricTotal(t, reader, "kestrel.active_connections", nil); got != 1 {
		t.Errorf("active connections %v while upgraded, want 1", got)
	}
	c.Close()
	waitMetric(t, reader, "kestrel.upgraded_connections", nil, 0)
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": ""}, 1)
	waitMetric(t, reader, "kestrel.active_connections", nil, 0)
}

// TestMetricsShutdownTimeout aborts a hanging request at the shutdown
// deadline: the connection ends with app_shutdown_timeout.
func TestMetricsShutdownTimeout(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	started := make(chan struct{})
	s := &Server{MeterProvider: mp, Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})}
	addr := startServer(t, s)
	c := dial(t, addr)
	io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "app_shutdown_timeout", "server.port": portOf(addr)}, 1)
	e := rec.events("NotAllConnectionsClosedGracefully")
	if len(e) != 1 || e[0].level != slog.LevelWarn || e[0].attrs["count"] != "1" || e[0].attrs[logging.EventIDKey] != "16" {
		t.Errorf("NotAllConnectionsClosedGracefully: %+v", e)
	}
	starts, stops := rec.events("ConnectionStart"), rec.events("ConnectionStop")
	if len(starts) != 1 || len(stops) != 1 || starts[0].attrs["ConnectionId"] != stops[0].attrs["ConnectionId"] {
		t.Errorf("connection start and stop events: %+v %+v", starts, stops)
	}
}

// TestMetricsRequests records request durations with method, status,
// protocol, route and error.
func TestMetricsRequests(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.PathValue("id")) })
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) { <-release })
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	addr := startServer(t, &Server{MeterProvider: mp, Handler: mux, Limits: Limits{MaxRequestBodySize: 10}})

	client := newClient(t)
	for _, id := range []string{"1", "2"} {
		get(t, client, "http://"+addr+"/items/"+id)
	}
	get(t, client, "http://"+addr+"/panic")
	roundTrip(t, addr, "BREW", "BREW /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
	roundTrip(t, addr, "GET", "GET /items/3 HTTP/1.0\r\n\r\n")
	if resp, _ := roundTrip(t, addr, "POST", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 100)); resp.StatusCode != 413 {
		t.Fatalf("oversized upload: %d", resp.StatusCode)
	}
	go func() {
		resp, err := client.Get("http://" + addr + "/hold")
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitMetric(t, reader, "http.server.active_requests", map[string]string{"http.request.method": "GET", "url.scheme": "http"}, 1)
	close(release)
	waitMetric(t, reader, "http.server.active_requests", nil, 0)

	d := "http.server.request.duration"
	points := metricstest.Points(t, reader, d)
	if len(points) == 0 || points[0].Scope != "Microsoft.AspNetCore.Hosting" || points[0].Unit != "s" {
		t.Fatalf("points %+v", points)
	}
	for _, c := range []struct {
		attrs map[string]string
		n     float64
	}{
		{map[string]string{"http.request.method": "GET", "url.scheme": "http", "network.protocol.version": "1.1",
			"http.response.status_code": "200", "http.route": "/items/{id}", "error.type": ""}, 2},
		{map[string]string{"http.route": "/items/{id}", "network.protocol.version": "1.0", "http.response.status_code": "200"}, 1},
		{map[string]string{"http.route": "/panic", "http.response.status_code": "500", "error.type": "panic"}, 1},
		{map[string]string{"http.request.method": "_OTHER", "http.response.status_code": "405", "http.route": ""}, 1},
		{map[string]string{"http.request.method": "POST", "http.route": "/upload", "http.response.status_code": "413", "error.type": ""}, 1},
		{map[string]string{"http.route": "/hold", "http.response.status_code": "200"}, 1},
	} {
		if got := metricTotal(t, reader, d, c.attrs); got != c.n {
			t.Errorf("%v: %v requests, want %v (points %+v)", c.attrs, got, c.n, metricstest.Points(t, reader, d))
		}
	}
}

// TestLifetimeEventsOnConsole checks what Run prints through the logging
// package's console format, as ASP.NET Core prints it.
func TestLifetimeEventsOnConsole(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	s := &Server{Logger: slog.New(logging.NewConsoleHandler(&out, nil))}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, "Application started", func() bool { return strings.Contains(out.String(), "Application started") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	addr := s.Addresses()[0]
	want := "info: Microsoft.Hosting.Lifetime[14]\n      Now listening on: " + addr + "\n" +
		"info: Microsoft.Hosting.Lifetime[0]\n      Application started. Press Ctrl+C to shut down.\n" +
		"info: Microsoft.Hosting.Lifetime[0]\n      Application is shutting down...\n"
	if got := out.String(); got != want {
		t.Errorf("console output\n%s\nwant\n%s", got, want)
	}
}

// BenchmarkNativePlaintextMetrics is BenchmarkNativePlaintext with metrics
// on, read by the OpenTelemetry SDK.
func BenchmarkNativePlaintextMetrics(b *testing.B) {
	_, mp := metricstest.New()
	c := benchServer(b, &Server{MeterProvider: mp, NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.SetContentType("text/plain")
		c.WriteString("Hello, World!")
	})})
	runPipelined(b, c, benchRequest, "Hello, World!", 16)
}

// BenchmarkNativePlaintextStatus is BenchmarkNativePlaintext with the
// status page's counts on (StatusHandler) and no MeterProvider.
func BenchmarkNativePlaintextStatus(b *testing.B) {
	s := &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.SetContentType("text/plain")
		c.WriteString("Hello, World!")
	})}
	s.StatusHandler(nil)
	c := benchServer(b, s)
	runPipelined(b, c, benchRequest, "Hello, World!", 16)
}

// TestNativeZeroAllocsWithMetrics guards the native path with metrics on,
// and with the status page's counts: measuring a request allocates
// nothing.
func TestNativeZeroAllocsWithMetrics(t *testing.T) {
	res := testing.Benchmark(BenchmarkNativePlaintextMetrics)
	if a := res.AllocsPerOp(); a != 0 {
		t.Errorf("native plaintext with metrics: %d allocations per request, want 0 (%s)", a, res.MemString())
	}
	res = testing.Benchmark(BenchmarkNativePlaintextStatus)
	if a := res.AllocsPerOp(); a != 0 {
		t.Errorf("native plaintext with the status page's counts: %d allocations per request, want 0 (%s)", a, res.MemString())
	}
}

// TestMetricsHTTP2 checks the metrics of HTTP/2 streams: each is a request
// of http.server.request.duration with protocol version 2, passes through
// kestrel.queued_requests on its way to its handler, and the connection
// is counted as an HTTP/2 one.
func TestMetricsHTTP2(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.PathValue("id")) })
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) { <-release })
	addr := startServer(t, &Server{MeterProvider: mp, Handler: mux})
	client := h2cClient(t)
	for _, id := range []string{"1", "2", "3"} {
		resp, err := client.Get("http://" + addr + "/items/" + id)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s, want HTTP/2", resp.Proto)
		}
	}
	held := make(chan struct{})
	go func() {
		defer close(held)
		if resp, err := client.Get("http://" + addr + "/hold"); err == nil {
			resp.Body.Close()
		}
	}()
	h2 := map[string]string{"network.protocol.version": "2"}
	waitMetric(t, reader, "http.server.active_requests", nil, 1)
	waitMetric(t, reader, "kestrel.active_connections", nil, 1)
	close(release)
	waitMetric(t, reader, "http.server.active_requests", nil, 0)
	want := map[string]string{"network.protocol.version": "2", "http.route": "/items/{id}", "http.response.status_code": "200", "url.scheme": "http"}
	if got := metricTotal(t, reader, "http.server.request.duration", want); got != 3 {
		t.Errorf("%v requests of %v, want 3; points %+v", got, want, metricstest.Points(t, reader, "http.server.request.duration"))
	}
	queued := metricstest.Match(metricstest.Points(t, reader, "kestrel.queued_requests"), h2)
	if len(queued) == 0 || metricstest.Total(queued) != 0 {
		t.Errorf("kestrel.queued_requests for HTTP/2: %+v, want a point at 0 (streams counted in, then out)", queued)
	}
	// The connection is idle, and CloseIdleConnections closes it, only
	// once the client is done with /hold's stream too.
	<-held
	client.Transport.(*http.Transport).CloseIdleConnections()
	waitMetric(t, reader, "kestrel.connection.duration", h2, 1)
}

// TestMetricsEndReasons ends connections in two more of Kestrel's ways and
// reads each reason from kestrel.connection.duration as a server reports
// it: a body slower than MinRequestBodyDataRate (with its Debug event
// naming the connection and the request) and a client that resets the
// connection. kestrel.queued_connections counts each accepted connection
// in and out.
func TestMetricsEndReasons(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	addr := startServer(t, &Server{MeterProvider: mp, Logger: log,
		Limits:  Limits{MinRequestBodyDataRate: &DataRate{BytesPerSecond: 1000, GracePeriod: 2 * time.Second}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })})
	port := map[string]string{"server.port": portOf(addr)}

	// A body trickled at a byte every 300 ms: 408 after the grace period.
	slow := dial(t, addr)
	io.WriteString(slow, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
	trickle(t, slow, 300*time.Millisecond)
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(slow), nil); err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body: %v %v, want 408", resp, err)
	}
	slow.Close() // or the server's lingering close waits for the trickle to end
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "min_request_body_data_rate", "server.port": portOf(addr)}, 1)
	e := rec.events("RequestBodyMinimumDataRateNotSatisfied")
	if len(e) != 1 || e[0].level != slog.LevelDebug || e[0].attrs["ConnectionId"] == "" ||
		e[0].attrs["TraceIdentifier"] != e[0].attrs["ConnectionId"]+":00000001" {
		t.Errorf("RequestBodyMinimumDataRateNotSatisfied events: %+v", e)
	}

	// A client that served a request, then resets its idle connection.
	reset := dial(t, addr)
	io.WriteString(reset, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(reset), nil); err != nil {
		t.Fatal(err)
	}
	reset.(*net.TCPConn).SetLinger(0)
	reset.Close()
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "connection_reset", "server.port": portOf(addr)}, 1)

	queued := metricstest.Match(metricstest.Points(t, reader, "kestrel.queued_connections"), port)
	if len(queued) == 0 || metricstest.Total(queued) != 0 {
		t.Errorf("kestrel.queued_connections: %+v, want a point back at 0", queued)
	}
}

// TestMetricsResetMidResponse: an HTTP/1.1 client that resets its
// connection while the response streams (the server writes, it does not
// read) ends it with connection_reset, as one that resets between
// requests does, whether the write fails with ECONNRESET or EPIPE.
func TestMetricsResetMidResponse(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	addr := startServer(t, &Server{MeterProvider: mp, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, err := w.Write(make([]byte, 16<<10)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "connection_reset"}, 1)
	waitMetric(t, reader, "kestrel.active_connections", nil, 0)
}

// TestMetricsGracefulStop: a shutdown that lets the request in flight
// finish ends every connection (an idle HTTP/1.1 one, the busy one, an
// h2c one) without an error.type, with a ConnectionStop each, and says
// nothing about connections not closed gracefully.
func TestMetricsGracefulStop(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	started, release := make(chan struct{}), make(chan struct{})
	s := &Server{MeterProvider: mp, Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(started)
			<-release
		}
		io.WriteString(w, "ok")
	})}
	addr := startServer(t, s)
	port := portOf(addr)

	idle := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil {
		t.Fatal(err)
	}
	h2 := h2cClient(t)
	if resp, err := h2.Get("http://" + addr + "/"); err != nil || resp.ProtoMajor != 2 {
		t.Fatalf("h2c: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	busy := dial(t, addr)
	io.WriteString(busy, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	waitMetric(t, reader, "kestrel.active_connections", map[string]string{"server.port": port}, 3)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("the request in flight: %v %v, want 200 with Connection: close", resp, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"server.port": port, "error.type": ""}, 3)
	if got := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"server.port": port}); got != 3 {
		t.Errorf("%v connections in kestrel.connection.duration, want 3 (none with an error); points %+v", got, metricstest.Points(t, reader, "kestrel.connection.duration"))
	}
	if got := metricTotal(t, reader, "kestrel.active_connections", map[string]string{"server.port": port}); got != 0 {
		t.Errorf("active connections after the shutdown: %v", got)
	}
	if n := len(rec.events("ConnectionStop")); n != 3 {
		t.Errorf("%d ConnectionStop events, want 3", n)
	}
	if e := rec.events("NotAllConnectionsClosedGracefully"); len(e) != 0 {
		t.Errorf("NotAllConnectionsClosedGracefully after a graceful stop: %+v", e)
	}
}

// TestMetricsHTTP2QueuedOnConnectionError: a stream queued for its handler
// when its connection fails (HEADERS of a request with a body, then DATA
// on stream 0 in the same read) never starts, and leaves
// kestrel.queued_requests with the connection, which a client could
// otherwise raise by one per connection.
func TestMetricsHTTP2QueuedOnConnectionError(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	s := &Server{MeterProvider: mp, Logger: quietLogger, Handler: okHandler()}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2})
	c := dialRawH2(t, addr)
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	fr.AllowIllegalWrites = true
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "localhost"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true})
	fr.WriteData(0, false, []byte("x"))
	c.nc.Write(buf.Bytes())
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c.nc) // until the server closes
	waitMetric(t, reader, "kestrel.active_connections", nil, 0)
	waitMetric(t, reader, "kestrel.queued_requests", nil, 0)
}

// TestMetricsStreamAbortKeepsConnection: on HTTP/2 and HTTP/3 a handler
// that panics with http.ErrAbortHandler, or panics after its response
// started, resets its stream only, as Kestrel does (Http2StreamResetAbort,
// Http3StreamAbort at Debug): the connection serves the next request and
// ends without an error.type, and nothing says the application aborted
// the connection. On HTTP/1.1 the same panics end the connection, with
// aborted_by_app and error_after_starting_response.
func TestMetricsStreamAbortKeepsConnection(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/late":
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom")
		}
		io.WriteString(w, "ok")
	})
	for _, c := range []struct {
		name, event string
	}{
		{"HTTP/1.1", ""},
		{"HTTP/2", "Http2StreamResetAbort"},
		{"HTTP/3", "Http3StreamAbort"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reader, mp := metricstest.New()
			rec, log := newLogRecorder(slog.LevelDebug)
			s := &Server{MeterProvider: mp, Logger: log, Handler: h}
			var client *http.Client
			var url string
			switch c.name {
			case "HTTP/1.1":
				url = "http://" + startServer(t, s)
				client = newClient(t)
			case "HTTP/2":
				url = "http://" + startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2})
				client = h2cClient(t)
			case "HTTP/3":
				_, addr := h3Server(t, s, HTTP3)
				url = "https://" + addr
				tr := &http3.Transport{TLSClientConfig: testClientTLS(t)}
				t.Cleanup(func() { tr.Close() })
				client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
			}
			for _, p := range []string{"/abort", "/late", "/"} {
				resp, err := client.Get(url + p)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if p == "/" && (err != nil || resp.StatusCode != 200) {
					t.Fatalf("GET / after the aborted streams: %v %v", resp, err)
				}
			}
			if c.name == "HTTP/1.1" {
				waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "aborted_by_app"}, 1)
				waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "error_after_starting_response"}, 1)
				if e := rec.events("ApplicationAbortedConnection"); len(e) != 1 || e[0].level != slog.LevelInfo {
					t.Errorf("ApplicationAbortedConnection events: %+v", e)
				}
				return
			}
			// The connections end: the client closes its HTTP/2 one; the
			// server shuts the HTTP/3 ones down (quic-go's client drops a
			// connection whose stream failed from its pool, unclosed, and
			// dials again).
			if tr, ok := client.Transport.(*http.Transport); ok {
				tr.CloseIdleConnections()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.Shutdown(ctx); err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			}
			waitMetric(t, reader, "kestrel.active_connections", nil, 0)
			ends := metricstest.Points(t, reader, "kestrel.connection.duration")
			for _, reason := range []string{"aborted_by_app", "error_after_starting_response"} {
				if p := metricstest.Match(ends, map[string]string{"error.type": reason}); len(p) != 0 {
					t.Errorf("a connection ended with %s for a stream reset: %+v", reason, ends)
				}
			}
			if c.name == "HTTP/2" && metricstest.Total(metricstest.Match(ends, map[string]string{"error.type": ""})) != 1 {
				t.Errorf("kestrel.connection.duration: %+v, want one connection without error.type", ends)
			}
			if e := rec.events("ApplicationAbortedConnection"); len(e) != 0 {
				t.Errorf("ApplicationAbortedConnection for a stream reset: %+v", e)
			}
			e := rec.events(c.event)
			if len(e) != 2 {
				t.Fatalf("%d %s events, want 2 (all: %+v)", len(e), c.event, rec.events(""))
			}
			for _, e := range e {
				if e.level != slog.LevelDebug || e.attrs["TraceIdentifier"] == "" || !strings.Contains(e.msg, "stream error") {
					t.Errorf("%s event: %+v", c.event, e)
				}
			}
		})
	}
}

// TestMetricsHTTP2ConnectionErrorReasons sends frames that are HTTP/2
// connection errors and reads Kestrel's reason for each in
// kestrel.connection.duration's error.type (Http2Connection's
// ConnectionEndReason), the GOAWAY's code, and the Http2ConnectionError
// event, which says what was wrong.
func TestMetricsHTTP2ConnectionErrorReasons(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{MeterProvider: mp, Logger: log, Handler: okHandler()}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2})
	get := func(fr *http2.Framer, id uint32) {
		var block bytes.Buffer
		enc := hpack.NewEncoder(&block)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "localhost"}, {":path", "/"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	}
	ended := map[string]float64{} // connections ended so far, by error.type
	for i, c := range []struct {
		name      string
		write     func(fr *http2.Framer)
		code      http2.ErrCode
		errorType string
	}{
		{"DATA on stream 0", func(fr *http2.Framer) { fr.WriteData(0, false, []byte("x")) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"PING of 7 bytes", func(fr *http2.Framer) { fr.WriteRawFrame(http2.FramePing, 0, 0, make([]byte, 7)) }, http2.ErrCodeFrameSize, "invalid_frame_length"},
		{"PING on stream 1", func(fr *http2.Framer) { fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"SETTINGS on stream 1", func(fr *http2.Framer) { fr.WriteRawFrame(http2.FrameSettings, 0, 1, nil) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"SETTINGS of 5 bytes", func(fr *http2.Framer) { fr.WriteRawFrame(http2.FrameSettings, 0, 0, make([]byte, 5)) }, http2.ErrCodeFrameSize, "invalid_frame_length"},
		{"SETTINGS_ENABLE_PUSH 2", func(fr *http2.Framer) { fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}) }, http2.ErrCodeProtocol, "invalid_settings"},
		{"RST_STREAM on stream 0", func(fr *http2.Framer) { fr.WriteRSTStream(0, http2.ErrCodeCancel) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"RST_STREAM of an idle stream", func(fr *http2.Framer) { fr.WriteRSTStream(7, http2.ErrCodeCancel) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"WINDOW_UPDATE of 0", func(fr *http2.Framer) { fr.WriteWindowUpdate(0, 0) }, http2.ErrCodeProtocol, "invalid_window_update_size"},
		{"WINDOW_UPDATE past 2^31-1", func(fr *http2.Framer) { fr.WriteWindowUpdate(0, 1<<31-1) }, http2.ErrCodeFlowControl, "invalid_window_update_size"},
		{"WINDOW_UPDATE of an idle stream", func(fr *http2.Framer) { fr.WriteWindowUpdate(9, 1) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"GOAWAY on stream 1", func(fr *http2.Framer) { fr.WriteRawFrame(http2.FrameGoAway, 0, 1, make([]byte, 8)) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"PUSH_PROMISE", func(fr *http2.Framer) { fr.WriteRawFrame(http2.FramePushPromise, 4, 1, make([]byte, 4)) }, http2.ErrCodeProtocol, "unexpected_frame"},
		{"HEADERS on stream 2", func(fr *http2.Framer) { get(fr, 2) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"HEADERS of a closed stream", func(fr *http2.Framer) { get(fr, 3); get(fr, 1) }, http2.ErrCodeStreamClosed, "invalid_stream_id"},
		{"DATA of an idle stream", func(fr *http2.Framer) { fr.WriteData(3, false, []byte("x")) }, http2.ErrCodeProtocol, "invalid_stream_id"},
		{"a frame over SETTINGS_MAX_FRAME_SIZE", func(fr *http2.Framer) { fr.WriteRawFrame(0xfa, 0, 0, make([]byte, 20000)) }, http2.ErrCodeFrameSize, "max_frame_length_exceeded"},
		{"an HPACK error", func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff}, EndHeaders: true, EndStream: true})
		}, http2.ErrCodeCompression, "error_reading_headers"},
		{"CONTINUATION without HEADERS", func(fr *http2.Framer) { fr.WriteContinuation(1, true, []byte{0x82}) }, http2.ErrCodeProtocol, "unexpected_frame"},
	} {
		rc := dialRawH2(t, addr)
		var buf bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		fr.AllowIllegalWrites = true
		c.write(fr)
		rc.nc.Write(buf.Bytes())
		var goAway *http2.GoAwayFrame
		for {
			rc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			f, err := rc.fr.ReadFrame()
			if err != nil {
				break
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				goAway = g
			}
		}
		rc.nc.Close()
		if goAway == nil || goAway.ErrCode != c.code {
			t.Errorf("%s: GOAWAY %+v, want %v", c.name, goAway, c.code)
		}
		waitMetric(t, reader, "kestrel.connection.duration", nil, float64(i+1))
		ended[c.errorType]++
		if got := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"error.type": c.errorType}); got != ended[c.errorType] {
			t.Errorf("%s: the connection did not end with error.type %s; points: %+v", c.name, c.errorType, metricstest.Points(t, reader, "kestrel.connection.duration"))
			ended = map[string]float64{}
			for _, p := range metricstest.Points(t, reader, "kestrel.connection.duration") {
				ended[p.Attrs["error.type"]] += float64(p.Count)
			}
		}
		e := rec.events("Http2ConnectionError")
		if len(e) != i+1 {
			t.Fatalf("%s: %d Http2ConnectionError events, want %d", c.name, len(e), i+1)
		}
		if msg := e[i].msg; strings.HasSuffix(msg, ": ") || !strings.Contains(msg, "("+c.code.String()+")") {
			t.Errorf("%s: Http2ConnectionError %q: want the code and what was wrong", c.name, msg)
		}
		if a := e[i].attrs; e[i].level != slog.LevelDebug || a[logging.EventIDKey] != "29" || a[logging.CategoryKey] != "Microsoft.AspNetCore.Server.Kestrel.Http2" || a["ConnectionId"] == "" {
			t.Errorf("%s: Http2ConnectionError %+v, want Kestrel's event 29 of Microsoft.AspNetCore.Server.Kestrel.Http2 at Debug", c.name, e[i])
		}
	}
}

// TestMetricsHTTP3ClientClose: an HTTP/3 client that closes its
// connection ends it normally, whatever application error code it closes
// with (quic-go's Transport.Close sends 0, not H3_NO_ERROR): no
// error.type, no RequestProcessingError, as Kestrel, whose QUIC
// transport takes a peer's close as the end of the connection.
func TestMetricsHTTP3ClientClose(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	_, addr := h3Server(t, &Server{MeterProvider: mp, Logger: log, Handler: okHandler()}, HTTP3)
	tr := &http3.Transport{TLSClientConfig: testClientTLS(t)}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tr.Close()
	waitMetric(t, reader, "kestrel.connection.duration", nil, 1)
	if got := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"error.type": ""}); got != 1 {
		t.Errorf("kestrel.connection.duration: %+v, want one connection without error.type", metricstest.Points(t, reader, "kestrel.connection.duration"))
	}
	if e := rec.events("RequestProcessingError"); len(e) != 0 {
		t.Errorf("RequestProcessingError for a client's close: %+v", e)
	}
	waitMetric(t, reader, "kestrel.active_connections", nil, 0)
}

// TestMetricsHTTP3KeepAliveTimeout: an idle HTTP/3 connection closed at
// KeepAliveTimeout ends with keep_alive_timeout, and is not logged as a
// ConnectionKeepAlive ("completed keep alive response"), the event of a
// response after which the connection stays open: the one response has
// the only one.
func TestMetricsHTTP3KeepAliveTimeout(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	_, addr := h3Server(t, &Server{MeterProvider: mp, Logger: log, Handler: okHandler(), Limits: Limits{KeepAliveTimeout: time.Second}}, HTTP3)
	resp, err := h3Client(t).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "keep_alive_timeout"}, 1)
	if e := rec.events("ConnectionKeepAlive"); len(e) != 1 {
		t.Errorf("ConnectionKeepAlive for one response and a keep-alive timeout: %+v", e)
	}
}
