package metrics

import (
	"crypto/tls"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

var (
	local4 = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	local6 = &net.TCPAddr{IP: net.IPv6loopback, Port: 5001}
	sock   = &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}
)

func newMetrics(t testing.TB, opts Options) (*Metrics, func(name string) []metricstest.Point) {
	t.Helper()
	r, mp := metricstest.New()
	m, err := New(mp, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, func(name string) []metricstest.Point { return metricstest.Points(t, r, name) }
}

func one(t *testing.T, points []metricstest.Point, want map[string]string) metricstest.Point {
	t.Helper()
	got := metricstest.Match(points, want)
	if len(got) != 1 {
		t.Fatalf("%d points match %v; all points: %+v", len(got), want, points)
	}
	return got[0]
}

func TestNilRecordsNothing(t *testing.T) {
	m, err := New(nil, Options{})
	if m != nil || err != nil {
		t.Fatalf("New(nil) = %v, %v", m, err)
	}
	e := m.Endpoint(local4)
	e.ConnStart()
	e.ConnEnd(time.Now(), HTTP11, 0, KeepAliveTimeout)
	e.Rejected()
	e.TLSStart()
	e.TLSEnd(time.Now(), tls.VersionTLS13, "")
	e.UpgradedStart()
	e.UpgradedStop()
	e.QueuedStart()
	e.QueuedStop()
	e.RequestQueuedStart(HTTP2)
	e.RequestQueuedStop(HTTP2)
	m.RequestEnd(m.RequestStart([]byte("GET"), false), HTTP11, 200, "", "")
}

func TestEndpointAttributes(t *testing.T) {
	m, points := newMetrics(t, Options{})
	m.Endpoint(local4).ConnStart()
	m.Endpoint(local6).ConnStart()
	m.Endpoint(local6).ConnStart()
	m.Endpoint(sock).ConnStart()
	m.Endpoint(&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 80}).ConnStart()

	ps := points("kestrel.active_connections")
	if ps[0].Scope != KestrelMeterName || ps[0].Unit != "{connection}" {
		t.Errorf("scope %q unit %q", ps[0].Scope, ps[0].Unit)
	}
	for _, c := range []struct {
		attrs map[string]string
		value float64
	}{
		{map[string]string{"server.address": "127.0.0.1", "server.port": "5000", "network.type": "ipv4", "network.transport": "tcp"}, 1},
		{map[string]string{"server.address": "::1", "server.port": "5001", "network.type": "ipv6", "network.transport": "tcp"}, 2},
		{map[string]string{"server.address": "/run/app.sock", "network.transport": "unix"}, 1},
		{map[string]string{"server.address": "10.1.2.3", "server.port": "80", "network.type": "ipv4"}, 1},
	} {
		p := one(t, ps, c.attrs)
		if p.Value != c.value {
			t.Errorf("%v: value %v, want %v", c.attrs, p.Value, c.value)
		}
		if len(p.Attrs) != len(c.attrs) && c.attrs["server.address"] != "10.1.2.3" {
			t.Errorf("%v: extra attributes in %v", c.attrs, p.Attrs)
		}
	}
	if m.Endpoint(local6) != m.Endpoint(&net.TCPAddr{IP: net.IPv6loopback, Port: 5001}) {
		t.Error("the endpoint of one address is built twice")
	}
}

func TestConnectionDuration(t *testing.T) {
	m, points := newMetrics(t, Options{})
	e := m.Endpoint(local4)
	start := time.Now().Add(-1500 * time.Millisecond)
	e.ConnStart()
	e.ConnEnd(start, HTTP11, 0, ReasonUnset)
	e.ConnStart()
	e.ConnEnd(start, HTTP11, tls.VersionTLS13, RequestHeadersTimeout)
	e.ConnStart()
	e.ConnEnd(start, ProtocolUnknown, 0, TLSHandshakeFailed)
	e.ConnStart()
	e.ConnEnd(start, HTTP11, 0, RequestNoKeepAlive) // not an error: no error.type

	ps := points("kestrel.connection.duration")
	if got := metricstest.Total(ps); got != 4 {
		t.Fatalf("%v connections recorded, want 4", got)
	}
	ok := one(t, ps, map[string]string{"network.protocol.name": "http", "network.protocol.version": "1.1", "error.type": "", "tls.protocol.version": ""})
	if ok.Count != 2 || ok.Sum < 3 || ok.Unit != "s" {
		t.Errorf("normal ends: %+v", ok)
	}
	if !reflect.DeepEqual(ok.Bounds, longSecondsBuckets) {
		t.Errorf("buckets %v, want %v", ok.Bounds, longSecondsBuckets)
	}
	one(t, ps, map[string]string{"error.type": "request_headers_timeout", "tls.protocol.version": "1.3", "network.protocol.version": "1.1"})
	one(t, ps, map[string]string{"error.type": "tls_handshake_failed", "network.protocol.version": ""})
	if v := metricstest.Total(points("kestrel.active_connections")); v != 0 {
		t.Errorf("active connections %v after every end", v)
	}
}

func TestRejected(t *testing.T) {
	m, points := newMetrics(t, Options{})
	e := m.Endpoint(local4)
	e.Rejected()
	e.Rejected()
	p := one(t, points("kestrel.rejected_connections"), map[string]string{"server.port": "5000"})
	if p.Value != 2 || p.Unit != "{connection}" {
		t.Errorf("rejected: %+v", p)
	}
	d := one(t, points("kestrel.connection.duration"), map[string]string{"error.type": "max_concurrent_connections_exceeded"})
	if d.Count != 2 {
		t.Errorf("rejected connections in duration: %d", d.Count)
	}
}

func TestTLSHandshakes(t *testing.T) {
	m, points := newMetrics(t, Options{})
	e := m.Endpoint(local4)
	e.TLSStart()
	e.TLSStart()
	if v := metricstest.Total(points("kestrel.active_tls_handshakes")); v != 2 {
		t.Errorf("active handshakes %v, want 2", v)
	}
	e.TLSEnd(time.Now(), tls.VersionTLS12, "")
	e.TLSEnd(time.Now(), tls.VersionTLS13, "timeout")
	ps := points("kestrel.tls_handshake.duration")
	p := one(t, ps, map[string]string{"tls.protocol.version": "1.2", "error.type": ""})
	if !reflect.DeepEqual(p.Bounds, shortSecondsBuckets) {
		t.Errorf("buckets %v", p.Bounds)
	}
	one(t, ps, map[string]string{"error.type": "timeout", "tls.protocol.version": ""})
	if v := metricstest.Total(points("kestrel.active_tls_handshakes")); v != 0 {
		t.Errorf("active handshakes %v after both ended", v)
	}
}

func TestUpDownCounters(t *testing.T) {
	m, points := newMetrics(t, Options{})
	e := m.Endpoint(local4)
	e.UpgradedStart()
	e.QueuedStart()
	e.RequestQueuedStart(HTTP2)
	one(t, points("kestrel.upgraded_connections"), map[string]string{"server.port": "5000"})
	one(t, points("kestrel.queued_connections"), map[string]string{"server.port": "5000"})
	q := one(t, points("kestrel.queued_requests"), map[string]string{"network.protocol.name": "http", "network.protocol.version": "2"})
	if q.Value != 1 || q.Unit != "{request}" {
		t.Errorf("queued requests %+v", q)
	}
	e.UpgradedStop()
	e.QueuedStop()
	e.RequestQueuedStop(HTTP2)
	for _, name := range []string{"kestrel.upgraded_connections", "kestrel.queued_connections", "kestrel.queued_requests"} {
		if v := metricstest.Total(points(name)); v != 0 {
			t.Errorf("%s = %v after stop", name, v)
		}
	}
}

func TestRequests(t *testing.T) {
	m, points := newMetrics(t, Options{})
	r := m.RequestStart([]byte("GET"), true)
	a := one(t, points("http.server.active_requests"), map[string]string{"http.request.method": "GET", "url.scheme": "https"})
	if a.Value != 1 || a.Scope != HostingMeterName || a.Unit != "{request}" || len(a.Attrs) != 2 {
		t.Errorf("active request: %+v", a)
	}
	m.RequestEnd(r, HTTP11, 200, "GET /items/{id}", "")
	m.RequestEnd(m.RequestStart([]byte("BREW"), false), HTTP10, 503, "", "")
	m.RequestEnd(m.RequestStart([]byte("get"), false), HTTP11, 500, "", ErrorPanic)

	if v := metricstest.Total(points("http.server.active_requests")); v != 0 {
		t.Errorf("active requests %v after the ends", v)
	}
	ps := points("http.server.request.duration")
	ok := one(t, ps, map[string]string{"http.request.method": "GET", "url.scheme": "https", "network.protocol.version": "1.1",
		"http.response.status_code": "200", "http.route": "/items/{id}", "error.type": ""})
	if ok.Unit != "s" || !reflect.DeepEqual(ok.Bounds, shortSecondsBuckets) || ok.Scope != HostingMeterName {
		t.Errorf("duration point %+v", ok)
	}
	one(t, ps, map[string]string{"http.request.method": "_OTHER", "url.scheme": "http", "network.protocol.version": "1.0",
		"http.response.status_code": "503", "error.type": "503", "http.route": ""})
	// Methods are case-sensitive: "get" is not GET.
	one(t, ps, map[string]string{"http.request.method": "_OTHER", "http.response.status_code": "500", "error.type": "panic"})
}

// TestRequestRoute: http.route is the path template of the ServeMux
// pattern that matched, as the semantic conventions define it (and as
// otelhttp and ASP.NET Core report it): without the pattern's method,
// which is http.request.method's, and host.
func TestRequestRoute(t *testing.T) {
	for _, c := range []struct{ pattern, route string }{
		{"GET /items/{id}", "/items/{id}"},
		{"/items/{id}", "/items/{id}"},
		{"POST /upload", "/upload"},
		{"example.com/static/", "/static/"},
		{"GET example.com/{$}", "/{$}"},
		{"/", "/"},
		{"", ""},
	} {
		m, points := newMetrics(t, Options{})
		m.RequestEnd(m.RequestStart([]byte("GET"), false), HTTP11, 200, c.pattern, "")
		ps := points("http.server.request.duration")
		if len(ps) != 1 || ps[0].Attrs["http.route"] != c.route {
			t.Errorf("pattern %q: points %+v, want http.route %q", c.pattern, ps, c.route)
		}
	}
}

func TestKnownMethods(t *testing.T) {
	for _, c := range []struct {
		env  string
		want []string
	}{
		{"", nil},
		{"GET, BREW ,PROPFIND", []string{"GET", "BREW", "PROPFIND"}},
		{",", []string{}},
	} {
		if got := ParseKnownMethods(c.env); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseKnownMethods(%q) = %#v, want %#v", c.env, got, c.want)
		}
	}
	m, points := newMetrics(t, Options{KnownMethods: ParseKnownMethods("BREW,GET")})
	m.RequestEnd(m.RequestStart([]byte("BREW"), false), HTTP11, 418, "", "")
	m.RequestEnd(m.RequestStart([]byte("POST"), false), HTTP11, 200, "", "")
	ps := points("http.server.request.duration")
	one(t, ps, map[string]string{"http.request.method": "BREW"})
	one(t, ps, map[string]string{"http.request.method": "_OTHER", "http.response.status_code": "200"})
}

func TestEndReason(t *testing.T) {
	var e EndReason
	if e.Get() != ReasonUnset {
		t.Fatal("zero EndReason is not unset")
	}
	e.Set(RequestNoKeepAlive) // not an error: not kept
	if e.Get() != ReasonUnset {
		t.Errorf("a normal reason was kept: %v", e.Get())
	}
	e.Set(MinRequestBodyDataRate)
	e.Set(ConnectionReset) // the first error wins
	if e.Get() != MinRequestBodyDataRate {
		t.Errorf("got %v, want the first error", e.Get())
	}
	e.Force(AppShutdownTimeout)
	if e.Get() != AppShutdownTimeout {
		t.Errorf("Force did not overwrite: %v", e.Get())
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]Reason{}
	for r := range numReasons {
		name := r.ErrorType()
		if r <= ResponseNoKeepAlive {
			if name != "" {
				t.Errorf("reason %d is not an error but has error.type %q", r, name)
			}
			continue
		}
		if name == "" {
			t.Errorf("error reason %d has no error.type", r)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("reasons %d and %d share %q", prev, r, name)
		}
		seen[name] = r
	}
	for name, r := range map[string]Reason{
		"request_headers_timeout":        RequestHeadersTimeout,
		"min_request_body_data_rate":     MinRequestBodyDataRate,
		"max_request_body_size_exceeded": MaxRequestBodySizeExceeded,
		"invalid_request_headers":        InvalidRequestHeaders,
		"tls_handshake_failed":           TLSHandshakeFailed,
		"app_shutdown_timeout":           AppShutdownTimeout,
		"connection_reset":               ConnectionReset,
		"keep_alive_timeout":             KeepAliveTimeout,
	} {
		if r.ErrorType() != name {
			t.Errorf("%d.ErrorType() = %q, want %q", r, r.ErrorType(), name)
		}
	}
	if Reason(200).ErrorType() != "" {
		t.Error("an out-of-range reason has an error.type")
	}
}

// TestRequestPathAllocations checks that a request's measurements
// allocate nothing once its attribute combination has been seen.
func TestRequestPathAllocations(t *testing.T) {
	m, _ := newMetrics(t, Options{})
	method := []byte("GET")
	m.RequestEnd(m.RequestStart(method, false), HTTP11, 200, "GET /", "")
	if n := testing.AllocsPerRun(1000, func() {
		m.RequestEnd(m.RequestStart(method, false), HTTP11, 200, "GET /", "")
	}); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
	e := m.Endpoint(local4)
	e.ConnEnd(time.Now(), HTTP11, 0, KeepAliveTimeout)
	if n := testing.AllocsPerRun(1000, func() {
		e := m.Endpoint(local4)
		e.ConnStart()
		e.ConnEnd(time.Now(), HTTP11, 0, KeepAliveTimeout)
	}); n != 0 {
		t.Errorf("%v allocations per connection, want 0", n)
	}
}

func TestCacheBound(t *testing.T) {
	var c cache[int, int]
	for i := range 10 {
		if got := c.store(i, i*2, 4); got != i*2 {
			t.Fatalf("store(%d) = %d", i, got)
		}
	}
	if c.len() != 4 {
		t.Errorf("cache holds %d entries, want its bound 4", c.len())
	}
	if got := c.store(1, 99, 4); got != 2 {
		t.Errorf("a second store returned %d, want the first value 2", got)
	}
}

func BenchmarkRequest(b *testing.B) {
	m, _ := newMetrics(b, Options{})
	method := []byte("GET")
	b.ReportAllocs()
	for b.Loop() {
		m.RequestEnd(m.RequestStart(method, false), HTTP11, 200, "GET /plaintext", "")
	}
}

func BenchmarkConnection(b *testing.B) {
	m, _ := newMetrics(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		e := m.Endpoint(local4)
		e.ConnStart()
		e.ConnEnd(time.Now(), HTTP11, 0, ReasonUnset)
	}
}

func BenchmarkRequestParallel(b *testing.B) {
	m, _ := newMetrics(b, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		method := []byte("GET")
		for pb.Next() {
			m.RequestEnd(m.RequestStart(method, false), HTTP11, 200, "", "")
		}
	})
}
