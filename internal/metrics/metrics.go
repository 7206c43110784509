// Package metrics holds the server's OpenTelemetry instruments: Kestrel's,
// on the meter "Microsoft.AspNetCore.Server.Kestrel", and the HTTP server
// ones ASP.NET Core's hosting layer emits, on "Microsoft.AspNetCore.Hosting",
// with the names, units, bucket boundaries and attributes of the
// OpenTelemetry semantic conventions.
//
// Counts that go up and down (active connections, requests, handshakes,
// queued and upgraded connections) and the rejected-connection count are
// kept in atomic counters and reported through observable instruments
// when the SDK collects, so that counting costs an atomic add; durations
// are recorded on histograms. Attribute sets are built once per
// combination (a local address; a request's method, scheme, protocol,
// status and route) and cached, so that measuring a request allocates
// nothing.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Meter names, as in ASP.NET Core.
const (
	KestrelMeterName = "Microsoft.AspNetCore.Server.Kestrel"
	HostingMeterName = "Microsoft.AspNetCore.Hosting"
)

// Histogram bucket boundaries in seconds advised by the semantic
// conventions (ASP.NET Core's MetricsConstants): short ones for requests
// and TLS handshakes, long ones for connections.
var (
	shortSecondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	longSecondsBuckets  = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}
)

// DefaultKnownMethods are the methods http.request.method reports by name
// (RFC 9110's, PATCH and QUERY, as the semantic conventions define them);
// any other method is reported as "_OTHER".
var DefaultKnownMethods = []string{"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}

// otherMethod is http.request.method for a method not in the known list.
const otherMethod = "_OTHER"

// bg is the context of every measurement: the instruments take no
// exemplars from request contexts.
var bg = context.Background()

// Bounds of the attribute-set caches. A combination past them is still
// recorded, with a set built for that one measurement (and, for an
// endpoint, counters that are not reported).
const (
	maxEndpoints   = 256
	maxEndSets     = 512
	maxRequestSets = 4096
)

// Options adjust the instruments.
type Options struct {
	// KnownMethods overrides DefaultKnownMethods (the semantic
	// conventions' OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS); nil keeps the
	// default.
	KnownMethods []string

	// Status keeps the counts of a status page (see Status), which New
	// makes even without a MeterProvider.
	Status bool
}

// Metrics is the server's set of instruments. A nil *Metrics records
// nothing and costs nothing: every method checks for it.
type Metrics struct {
	activeConns  metric.Int64ObservableUpDownCounter
	connDuration metric.Float64Histogram
	rejected     metric.Int64ObservableCounter
	queuedConns  metric.Int64ObservableUpDownCounter
	queuedReqs   metric.Int64ObservableUpDownCounter
	upgraded     metric.Int64ObservableUpDownCounter
	tlsDuration  metric.Float64Histogram
	activeTLS    metric.Int64ObservableUpDownCounter

	reqDuration metric.Float64Histogram
	activeReqs  metric.Int64ObservableUpDownCounter

	methods     map[string]uint8 // known method to its index in methodNames
	methodNames []string         // index 0 is _OTHER
	active      [][2]count       // active requests per method and scheme (http, https)

	endpoints cache[endpointKey, *Endpoint]
	requests  cache[requestKey, []metric.RecordOption]

	acme acme

	registrations []metric.Registration

	status *Status // nil without Options.Status
}

// count is one attribute set's up-down count, reported once it has been
// used.
type count struct {
	n    atomic.Int64
	used atomic.Bool
	obs  []metric.ObserveOption
}

func (c *count) add(n int64) {
	if !c.used.Load() {
		c.used.Store(true)
	}
	c.n.Add(n)
}

func (c *count) observe(o metric.Observer, inst metric.Int64Observable) {
	if c.used.Load() {
		o.ObserveInt64(inst, c.n.Load(), c.obs...)
	}
}

// New creates the instruments on mp's meters. A nil mp returns a nil
// *Metrics, which records nothing, unless opts.Status asks for the status
// page's counts: then the instruments are no-ops and the counts are kept.
func New(mp metric.MeterProvider, opts Options) (*Metrics, error) {
	if mp == nil {
		if !opts.Status {
			return nil, nil
		}
		mp = noop.NewMeterProvider()
	}
	m := &Metrics{}
	if opts.Status {
		m.status = newStatus()
	}
	k := mp.Meter(KestrelMeterName)
	h := mp.Meter(HostingMeterName)
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.activeConns, err = k.Int64ObservableUpDownCounter("kestrel.active_connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Number of connections that are currently active on the server."))
	check(err)
	m.connDuration, err = k.Float64Histogram("kestrel.connection.duration", metric.WithUnit("s"),
		metric.WithDescription("The duration of connections on the server."),
		metric.WithExplicitBucketBoundaries(longSecondsBuckets...))
	check(err)
	m.rejected, err = k.Int64ObservableCounter("kestrel.rejected_connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Number of connections rejected by the server. Connections are rejected when the currently active count exceeds the value configured with MaxConcurrentConnections."))
	check(err)
	m.queuedConns, err = k.Int64ObservableUpDownCounter("kestrel.queued_connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Number of connections that are currently queued and are waiting to start."))
	check(err)
	m.queuedReqs, err = k.Int64ObservableUpDownCounter("kestrel.queued_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Number of HTTP requests on multiplexed connections (HTTP/2 and HTTP/3) that are currently queued and are waiting to start."))
	check(err)
	m.upgraded, err = k.Int64ObservableUpDownCounter("kestrel.upgraded_connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Number of HTTP connections that are currently upgraded (WebSockets): HTTP/1.1 connections, and HTTP/2 and HTTP/3 extended CONNECT streams."))
	check(err)
	m.tlsDuration, err = k.Float64Histogram("kestrel.tls_handshake.duration", metric.WithUnit("s"),
		metric.WithDescription("The duration of TLS handshakes on the server."),
		metric.WithExplicitBucketBoundaries(shortSecondsBuckets...))
	check(err)
	m.activeTLS, err = k.Int64ObservableUpDownCounter("kestrel.active_tls_handshakes", metric.WithUnit("{handshake}"),
		metric.WithDescription("Number of TLS handshakes that are currently in progress on the server."))
	check(err)
	m.reqDuration, err = h.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(shortSecondsBuckets...))
	check(err)
	m.activeReqs, err = h.Int64ObservableUpDownCounter("http.server.active_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Number of active HTTP server requests."))
	check(err)
	check(m.acme.init(k))
	if len(errs) > 0 {
		return nil, fmt.Errorf("kestrel: creating metric instruments: %w", errors.Join(errs...))
	}

	known := opts.KnownMethods
	if known == nil {
		known = DefaultKnownMethods
	}
	m.methods = make(map[string]uint8, len(known))
	m.methodNames = []string{otherMethod}
	for _, name := range known {
		if _, dup := m.methods[name]; dup || name == "" || len(m.methodNames) == 255 {
			continue
		}
		m.methods[name] = uint8(len(m.methodNames))
		m.methodNames = append(m.methodNames, name)
	}
	m.active = make([][2]count, len(m.methodNames))
	for i, name := range m.methodNames {
		for s, scheme := range [2]string{"http", "https"} {
			set := attribute.NewSet(attribute.String("http.request.method", name), attribute.String("url.scheme", scheme))
			m.active[i][s].obs = []metric.ObserveOption{metric.WithAttributeSet(set)}
		}
	}

	kr, err := k.RegisterCallback(m.observeKestrel, m.activeConns, m.rejected, m.queuedConns, m.queuedReqs, m.upgraded, m.activeTLS, m.acme.expiry)
	if err != nil {
		return nil, fmt.Errorf("kestrel: registering the metrics callback: %w", err)
	}
	hr, err := h.RegisterCallback(m.observeHosting, m.activeReqs)
	if err != nil {
		kr.Unregister()
		return nil, fmt.Errorf("kestrel: registering the metrics callback: %w", err)
	}
	m.registrations = []metric.Registration{kr, hr}
	return m, nil
}

// Close unregisters the callbacks that report the counts, so that a
// stopped server's instruments stop reporting.
func (m *Metrics) Close() {
	if m == nil {
		return
	}
	for _, r := range m.registrations {
		r.Unregister()
	}
}

func (m *Metrics) observeKestrel(_ context.Context, o metric.Observer) error {
	m.acme.observe(o)
	eps := m.endpoints.m.Load()
	if eps == nil {
		return nil
	}
	for _, e := range *eps {
		e.active.observe(o, m.activeConns)
		e.rejected.observe(o, m.rejected)
		e.queued.observe(o, m.queuedConns)
		e.upgraded.observe(o, m.upgraded)
		e.handshakes.observe(o, m.activeTLS)
		for p := range e.queuedReqs {
			e.queuedReqs[p].observe(o, m.queuedReqs)
		}
	}
	return nil
}

func (m *Metrics) observeHosting(_ context.Context, o metric.Observer) error {
	for i := range m.active {
		for s := range m.active[i] {
			m.active[i][s].observe(o, m.activeReqs)
		}
	}
	return nil
}

// ParseKnownMethods reads a comma-separated list of methods, the format of
// OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS; an empty string means the
// default list (nil), one with only separators an empty list.
func ParseKnownMethods(s string) []string {
	if s == "" {
		return nil
	}
	out := []string{}
	for start := 0; start <= len(s); {
		end := start
		for end < len(s) && s[end] != ',' {
			end++
		}
		if m := trimSpace(s[start:end]); m != "" {
			out = append(out, m)
		}
		start = end + 1
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Protocol is the HTTP version a connection or request speaks.
type Protocol uint8

// Protocols.
const (
	ProtocolUnknown Protocol = iota
	HTTP10
	HTTP11
	HTTP2
	HTTP3

	numProtocols
)

// Version is the protocol's network.protocol.version value.
func (p Protocol) Version() string {
	switch p {
	case HTTP10:
		return "1.0"
	case HTTP11:
		return "1.1"
	case HTTP2:
		return "2"
	case HTTP3:
		return "3"
	}
	return ""
}

// tlsVersion is tls.protocol.version for a crypto/tls version number, or
// "" when there is none.
func tlsVersion(v uint16) string {
	switch v {
	case 0x0301:
		return "1.0"
	case 0x0302:
		return "1.1"
	case 0x0303:
		return "1.2"
	case 0x0304:
		return "1.3"
	}
	return ""
}

// endpointKey identifies a local address.
type endpointKey struct {
	ap      netip.AddrPort // TCP and UDP
	network string
	name    string // other addresses, such as a Unix socket's path
}

// Endpoint is the counts and attribute sets of one local address:
// server.address, server.port, network.type and network.transport, as
// Kestrel reports them for the connections that arrive on it. A nil
// *Endpoint records nothing.
type Endpoint struct {
	m    *Metrics
	base []attribute.KeyValue

	active, rejected, queued, upgraded, handshakes count
	queuedReqs                                     [numProtocols]count

	ends cache[endKey, []metric.RecordOption]
}

// endKey is the attributes a connection adds when it ends, or a TLS
// handshake when it ends (tls true).
type endKey struct {
	tls       bool
	proto     Protocol
	version   uint16 // TLS version
	reason    Reason
	errorType string // of a TLS handshake
}

// Endpoint returns the counts and attribute sets of the local address
// addr (a connection's LocalAddr), made on first use. A nil *Metrics
// returns a nil *Endpoint.
func (m *Metrics) Endpoint(addr net.Addr) *Endpoint {
	if m == nil {
		return nil
	}
	var k endpointKey
	switch a := addr.(type) {
	case *net.TCPAddr:
		k = endpointKey{ap: a.AddrPort(), network: "tcp"}
	case *net.UDPAddr:
		k = endpointKey{ap: a.AddrPort(), network: "udp"}
	case nil:
	default:
		k = endpointKey{network: a.Network(), name: a.String()}
	}
	if e, ok := m.endpoints.load(k); ok {
		return e
	}
	return m.endpoints.store(k, m.newEndpoint(k), maxEndpoints)
}

func (m *Metrics) newEndpoint(k endpointKey) *Endpoint {
	var base []attribute.KeyValue
	switch {
	case k.ap.IsValid():
		ip := k.ap.Addr().Unmap()
		base = append(base, attribute.String("server.address", ip.String()), attribute.Int("server.port", int(k.ap.Port())))
		if ip.Is4() {
			base = append(base, attribute.String("network.type", "ipv4"))
		} else {
			base = append(base, attribute.String("network.type", "ipv6"))
		}
		base = append(base, attribute.String("network.transport", k.network))
	case k.network == "unix" || k.network == "unixpacket":
		base = append(base, attribute.String("server.address", validUTF8(k.name)), attribute.String("network.transport", "unix"))
	case k.network != "":
		base = append(base, attribute.String("server.address", validUTF8(k.name)), attribute.String("network.transport", validUTF8(k.network)))
	}
	e := &Endpoint{m: m, base: base}
	obs := []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(base...))}
	e.active.obs, e.rejected.obs, e.queued.obs, e.upgraded.obs, e.handshakes.obs = obs, obs, obs, obs, obs
	for p := range numProtocols {
		set := e.with(attribute.String("network.protocol.name", "http"), attribute.String("network.protocol.version", p.Version()))
		e.queuedReqs[p].obs = []metric.ObserveOption{metric.WithAttributeSet(set)}
	}
	return e
}

// validUTF8 returns s with each run of bytes that are not UTF-8 replaced
// by U+FFFD. A Unix socket's path and a route pattern are bytes, where an
// attribute's string value must be UTF-8 (the OpenTelemetry
// specification's, and Prometheus's label values: one that is not makes
// the exporter fail the whole scrape).
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// with returns a set of the endpoint's attributes and kv.
func (e *Endpoint) with(kv ...attribute.KeyValue) attribute.Set {
	all := make([]attribute.KeyValue, 0, len(e.base)+len(kv))
	all = append(all, e.base...)
	all = append(all, kv...)
	return attribute.NewSet(all...)
}

// endOptions returns the options of a connection's or handshake's end.
func (e *Endpoint) endOptions(k endKey) []metric.RecordOption {
	if o, ok := e.ends.load(k); ok {
		return o
	}
	var kv []attribute.KeyValue
	if !k.tls {
		if v := k.proto.Version(); v != "" {
			kv = append(kv, attribute.String("network.protocol.name", "http"), attribute.String("network.protocol.version", v))
		}
	}
	if v := tlsVersion(k.version); v != "" {
		kv = append(kv, attribute.String("tls.protocol.version", v))
	}
	if t := k.reason.ErrorType(); t != "" {
		kv = append(kv, attribute.String("error.type", t))
	}
	if k.errorType != "" {
		kv = append(kv, attribute.String("error.type", k.errorType))
	}
	return e.ends.store(k, []metric.RecordOption{metric.WithAttributeSet(e.with(kv...))}, maxEndSets)
}

// Rejected counts a connection refused by MaxConcurrentConnections; as in
// Kestrel, it also ends in kestrel.connection.duration with error.type
// max_concurrent_connections_exceeded.
func (e *Endpoint) Rejected() {
	if e == nil {
		return
	}
	e.rejected.add(1)
	if st := e.m.status; st != nil {
		st.reasons[MaxConcurrentConnectionsExceeded].Add(1)
	}
	e.m.connDuration.Record(bg, 0, e.endOptions(endKey{reason: MaxConcurrentConnectionsExceeded})...)
}

// QueuedStart counts a connection accepted and waiting to be served.
func (e *Endpoint) QueuedStart() {
	if e != nil {
		e.queued.add(1)
	}
}

// QueuedStop counts a queued connection out, as it starts.
func (e *Endpoint) QueuedStop() {
	if e != nil {
		e.queued.add(-1)
	}
}

// ConnStart counts a connection in kestrel.active_connections.
func (e *Endpoint) ConnStart() {
	if e != nil {
		e.active.add(1)
		e.m.status.connStart()
	}
}

// ConnProtocol records that a connection counted by ConnStart speaks
// proto now, where it spoke from (ProtocolUnknown before it was known),
// for the status page's connections by protocol.
func (e *Endpoint) ConnProtocol(from, to Protocol) {
	if e != nil {
		e.m.status.connProtocol(from, to)
	}
}

// ConnEnd counts a connection out of kestrel.active_connections and
// records its duration since start, with the protocol it spoke, its TLS
// version (0 for none) and the reason it ended.
func (e *Endpoint) ConnEnd(start time.Time, proto Protocol, tlsVersion uint16, reason Reason) {
	if e == nil {
		return
	}
	e.active.add(-1)
	e.m.status.connEnd(proto, reason)
	if !reason.IsError() {
		reason = ReasonUnset
	}
	e.m.connDuration.Record(bg, time.Since(start).Seconds(), e.endOptions(endKey{proto: proto, version: tlsVersion, reason: reason})...)
}

// TLSStart counts a TLS handshake in kestrel.active_tls_handshakes.
func (e *Endpoint) TLSStart() {
	if e != nil {
		e.handshakes.add(1)
	}
}

// TLSEnd counts a handshake out and records its duration since start,
// with the negotiated version on success, or the failure's error.type
// (which must have low cardinality).
func (e *Endpoint) TLSEnd(start time.Time, version uint16, errorType string) {
	if e == nil {
		return
	}
	e.handshakes.add(-1)
	e.m.status.tlsEnd(errorType)
	if errorType != "" {
		version = 0
	}
	e.m.tlsDuration.Record(bg, time.Since(start).Seconds(), e.endOptions(endKey{tls: true, version: version, errorType: errorType})...)
}

// UpgradedStart counts a connection upgraded (or hijacked) by a handler.
func (e *Endpoint) UpgradedStart() {
	if e != nil {
		e.upgraded.add(1)
	}
}

// UpgradedStop counts an upgraded connection out, when it closes.
func (e *Endpoint) UpgradedStop() {
	if e != nil {
		e.upgraded.add(-1)
	}
}

// RequestQueuedStart counts a request of a multiplexed connection (an
// HTTP/2 or HTTP/3 stream) waiting to start.
func (e *Endpoint) RequestQueuedStart(proto Protocol) {
	if e != nil && proto < numProtocols {
		e.queuedReqs[proto].add(1)
	}
}

// RequestQueuedStop counts a queued request out, as it starts.
func (e *Endpoint) RequestQueuedStop(proto Protocol) {
	if e != nil && proto < numProtocols {
		e.queuedReqs[proto].add(-1)
	}
}
