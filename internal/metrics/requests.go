package metrics

import (
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ErrorPanic is the error.type of a request whose handler panicked.
const ErrorPanic = "panic"

// epoch is the origin of the monotonic clock requests are timed on:
// time.Since(epoch) reads only the monotonic clock, where time.Now also
// reads the wall clock.
var epoch = time.Now()

// Request is a request being measured, from RequestStart to RequestEnd.
type Request struct {
	start  time.Duration // since epoch
	method uint8         // index in methodNames
	https  bool
}

// requestKey is the attributes of a request's duration.
type requestKey struct {
	method    uint8
	https     bool
	proto     Protocol
	status    uint16
	errorType string
	route     string
}

// RequestStart counts a request in http.server.active_requests and starts
// its clock. method is the request method as the client sent it.
func (m *Metrics) RequestStart(method []byte, https bool) Request {
	if m == nil {
		return Request{}
	}
	r := Request{start: time.Since(epoch), method: m.methods[string(method)], https: https}
	m.active[r.method][b2i(https)].add(1)
	return r
}

// RequestEnd counts r out of http.server.active_requests and records its
// duration in http.server.request.duration with the protocol, the
// response status (0 when none was sent), the ServeMux pattern that
// matched ("" for none; http.route is its path) and errorType
// (low-cardinality, such as ErrorPanic; "" means the status decides: a
// 5xx is an error, named by its code).
func (m *Metrics) RequestEnd(r Request, proto Protocol, status int, route, errorType string) {
	if m == nil {
		return
	}
	m.active[r.method][b2i(r.https)].add(-1)
	end := time.Since(epoch)
	if status < 0 || status > 999 {
		status = 0
	}
	m.status.request(proto, end, end-r.start, errorType != "" || status >= 500)
	if !m.reqDuration.Enabled(bg) {
		return // a view drops it
	}
	k := requestKey{method: r.method, https: r.https, proto: proto, status: uint16(status), errorType: errorType, route: route}
	opts, ok := m.requests.load(k)
	if !ok {
		opts = m.requests.store(k, m.requestOptions(k), maxRequestSets)
	}
	m.reqDuration.Record(bg, (end - r.start).Seconds(), opts...)
}

func (m *Metrics) requestOptions(k requestKey) []metric.RecordOption {
	scheme := "http"
	if k.https {
		scheme = "https"
	}
	kv := []attribute.KeyValue{
		attribute.String("http.request.method", m.methodNames[k.method]),
		attribute.String("url.scheme", scheme),
	}
	if v := k.proto.Version(); v != "" {
		kv = append(kv, attribute.String("network.protocol.version", v))
	}
	if k.status != 0 {
		kv = append(kv, attribute.Int("http.response.status_code", int(k.status)))
	}
	if route := httpRoute(k.route); route != "" {
		kv = append(kv, attribute.String("http.route", validUTF8(route)))
	}
	errorType := k.errorType
	if errorType == "" && k.status >= 500 {
		errorType = strconv.Itoa(int(k.status))
	}
	if errorType != "" {
		kv = append(kv, attribute.String("error.type", errorType))
	}
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// httpRoute returns the http.route of a ServeMux pattern ("[METHOD ][HOST]/[PATH]"):
// its path template, from the first slash. The semantic conventions'
// route is a path template, the method is http.request.method's, and
// otelhttp and ASP.NET Core report "/items/{id}" for "GET /items/{id}".
func httpRoute(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
