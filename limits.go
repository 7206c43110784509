package kestrel

import (
	"fmt"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/http2"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// Unlimited turns off a limit that Kestrel allows to be unlimited, where
// the field's doc says so.
const Unlimited = -1

// NoUpgrades, as MaxConcurrentUpgradedConnections, allows no upgraded
// connection (Kestrel's limit of 0, which the field's zero value cannot
// say): an upgrade fails with ErrUpgradeLimit.
const NoUpgrades = -2

// NoRequestBody, as MaxRequestBodySize, allows no request body at all:
// Kestrel's limit of 0 bytes, which the field's zero value cannot say (it
// means the default). A request with a body is answered with 413.
const NoRequestBody = -2

// upgradeMax is the upgraded connections' counter's maximum for a
// MaxConcurrentUpgradedConnections.
func upgradeMax(n int64) int64 {
	if n == NoUpgrades {
		return transport.NoneAdmitted
	}
	return n
}

// Kestrel's defaults for the fields of [Limits].
const (
	DefaultMaxRequestBodySize         = 30_000_000
	DefaultMaxRequestLineSize         = 8 * 1024
	DefaultMaxRequestHeadersTotalSize = 32 * 1024
	DefaultMaxRequestHeaderCount      = 100
	DefaultKeepAliveTimeout           = 130 * time.Second
	DefaultRequestHeadersTimeout      = 30 * time.Second
	DefaultMaxRequestBufferSize       = 1024 * 1024
	DefaultMaxResponseBufferSize      = 64 * 1024
	DefaultMinDataRate                = 240 // bytes per second
	DefaultMinDataRateGracePeriod     = 5 * time.Second
)

// maxRequestHead bounds MaxRequestLineSize plus MaxRequestHeadersTotalSize:
// an HTTP/1.1 head is held in one buffer of their size, which must fit an
// int on 32-bit platforms too (1 GiB, as an Unlimited MaxResponseBufferSize
// is 1 GiB over HTTP/2).
const maxRequestHead = 1 << 30

// DataRate is a minimum data rate: a client that moves fewer than
// BytesPerSecond bytes per second on average, once GracePeriod has
// passed, is timed out. The zero DataRate turns the check off.
type DataRate struct {
	BytesPerSecond float64
	GracePeriod    time.Duration
}

func (r DataRate) engine() app.Rate {
	return app.Rate{BytesPerSecond: r.BytesPerSecond, Grace: r.GracePeriod}
}

// NoMinDataRate turns a minimum data rate off, where a *DataRate is
// expected.
var NoMinDataRate = &DataRate{}

// check validates a rate as Kestrel does: a positive rate and a grace
// period over one second (the heartbeat's resolution).
func (r DataRate) check(name string) error {
	if r == (DataRate{}) {
		return nil
	}
	if !(r.BytesPerSecond > 0) {
		return fmt.Errorf("kestrel: %s.BytesPerSecond is %v; use a positive rate, or NoMinDataRate to turn the check off", name, r.BytesPerSecond)
	}
	if r.GracePeriod <= time.Second {
		return fmt.Errorf("kestrel: %s.GracePeriod is %v; use more than 1s (the heartbeat ticks once a second)", name, r.GracePeriod)
	}
	return nil
}

// Limits bounds what one client can make the server hold or wait for.
// The zero value of every field means Kestrel's default for it.
type Limits struct {
	// MaxConcurrentConnections is the number of connections served at once
	// on each endpoint, as in Kestrel: each socket (TCP or Unix, and an
	// endpoint's UDP socket for HTTP/3) counts its own connections. A
	// connection accepted beyond it is closed at once, without a response.
	// Zero (the default) means unlimited.
	MaxConcurrentConnections int64

	// MaxRequestBodySize is the largest request body, in bytes, that a
	// handler may read; reading past it fails and the request is answered
	// with 413 Payload Too Large. Zero means 30,000,000 bytes; Unlimited
	// turns the check off; NoRequestBody allows no body.
	MaxRequestBodySize int64

	// MaxRequestLineSize is the longest request line, in bytes, counting
	// its CRLF; over HTTP/2 and HTTP/3, the longest :method, :scheme,
	// :authority (or the Host header, without :authority) and :path
	// together, as Kestrel measures them. A longer one is answered with
	// 414 URI Too Long. Zero means 8,192.
	MaxRequestLineSize int

	// MaxRequestHeadersTotalSize is the most bytes the header fields of a
	// request may take, over HTTP/1.1 counting each line's CRLF but not the
	// empty line that ends them (as Kestrel counts); over HTTP/2 and HTTP/3,
	// each field's name and value plus 32 (RFC 9113, 6.5.2). Trailers have
	// the same limit, and MaxRequestHeaderCount, of their own. More is
	// answered with 431 Request Header Fields Too Large. Zero means 32,768.
	MaxRequestHeadersTotalSize int

	// MaxRequestHeaderCount is the most header fields a request may have.
	// More is answered with 431. Zero means 100.
	MaxRequestHeaderCount int

	// KeepAliveTimeout is how long an idle keep-alive connection is kept
	// open waiting for its next request; then it is closed without a
	// response. Zero means 130 seconds; Unlimited keeps it forever.
	KeepAliveTimeout time.Duration

	// RequestHeadersTimeout is how long the server waits for a request's
	// head, from its first byte; then it answers 408 Request Timeout and
	// closes the connection. Zero means 30 seconds; Unlimited waits forever.
	RequestHeadersTimeout time.Duration

	// MaxConnectionAge is how long a connection may live before it is
	// asked to go away, so that the long-lived connections of clients
	// behind an L4 load balancer spread again over instances added since
	// they were made. Each connection's age is this, from its accept,
	// plus or minus up to 10% at random, as grpc-go's, so that a fleet's
	// connections do not all go at once. Past it, HTTP/1.1 answers its next
	// response with Connection: close (a request in flight completes; a
	// keep-alive connection idle for a second is closed, one busier is
	// not, as its client may be sending its next request); HTTP/2 sends a
	// graceful GOAWAY (the streams the client opened are served, then the
	// connection closes); HTTP/3 the same with its GOAWAY. Upgraded
	// HTTP/1.1 connections (WebSockets, opaque upgrades) are not cut, and
	// streams over HTTP/2 and HTTP/3 only by MaxConnectionAgeGrace. The
	// heartbeat checks the age, once a second; a Reload's change applies
	// to the connections accepted after it. Zero (the default) means no
	// limit, as in Kestrel, which has none; grpc-go's
	// keepalive.ServerParameters.MaxConnectionAge and nginx's
	// keepalive_time (1 h by default there) are its equivalents.
	MaxConnectionAge time.Duration

	// MaxConnectionAgeGrace bounds how long, after MaxConnectionAge sent
	// an HTTP/2 or HTTP/3 connection its GOAWAY, the streams still open
	// (a long gRPC stream, a WebSocket over HTTP/2 or HTTP/3) may run:
	// then the connection is aborted, its end reason
	// max_connection_age_grace_exceeded. HTTP/1.1 is not cut: its request
	// in flight is the last. Zero (the default) means no bound but
	// Shutdown's; grpc-go's keepalive.ServerParameters.MaxConnectionAgeGrace
	// is its equivalent.
	MaxConnectionAgeGrace time.Duration

	// MaxConcurrentUpgradedConnections is the number of upgraded
	// connections (WebSockets and other protocols switched to after a 101)
	// open at once; an upgrade beyond it fails and the request can still be
	// answered normally. An upgraded connection no longer counts against
	// MaxConcurrentConnections. Zero (the default) means unlimited;
	// NoUpgrades allows none.
	MaxConcurrentUpgradedConnections int64

	// MaxRequestBufferSize is the most request bytes the server buffers
	// ahead of the handler. The engine reads only when the handler (or the
	// parser) needs bytes, so it never buffers more than a request head,
	// one chunk-size or trailer line, and 4 KiB; the limit must still hold
	// a whole head. Zero means 1 MiB; Unlimited turns it off.
	MaxRequestBufferSize int64

	// MaxResponseBufferSize is the most response bytes buffered before a
	// write waits for the client. The engine buffers at most 4 KiB (and
	// writes larger bodies straight to the connection), so writes wait
	// sooner than this limit requires. Zero means 64 KiB; Unlimited turns
	// it off.
	MaxResponseBufferSize int64

	// MinRequestBodyDataRate is the slowest a client may send a request
	// body, measured only while the handler waits for body bytes. A slower
	// client gets 408 Request Timeout and the connection closes (or is
	// aborted if the response has started). nil means 240 bytes/s after a
	// 5 s grace period; NoMinDataRate turns it off.
	MinRequestBodyDataRate *DataRate

	// MinResponseDataRate is the slowest a client may read the response,
	// measured while a write waits for it. A slower client's connection is
	// aborted. nil means 240 bytes/s after a 5 s grace period;
	// NoMinDataRate turns it off.
	MinResponseDataRate *DataRate

	// Http2 holds the limits that apply to HTTP/2 connections only.
	Http2 Http2Limits

	// Http3 holds the limits that apply to HTTP/3 connections only.
	Http3 Http3Limits
}

// Http3Limits are Kestrel's Limits.Http3. The zero value of every field
// means Kestrel's default for it.
//
// The general limits apply to HTTP/3 too: MaxRequestBodySize, the minimum
// data rates and the request header limits per request;
// MaxConcurrentConnections counts an endpoint's QUIC connections apart
// from its TCP connections; KeepAliveTimeout is
// how long a connection without requests stays open, and QUIC's idle
// timeout; RequestHeadersTimeout bounds the wait for a request stream's
// HEADERS frame; MaxRequestBufferSize bounds a request stream's QUIC
// receive window (1 MiB by default, so that a client may send that much
// of a body before the handler reads it).
type Http3Limits struct {
	// MaxRequestHeaderFieldSize is the largest request header field
	// (name or value), decoded, in bytes; a request with a larger one is
	// answered with 431. Zero means 32 KiB.
	MaxRequestHeaderFieldSize int
}

// DefaultHttp3MaxRequestHeaderFieldSize is Kestrel's default for
// [Http3Limits.MaxRequestHeaderFieldSize].
const DefaultHttp3MaxRequestHeaderFieldSize = 32 << 10

// withDefaults returns the limits with every zero field set to its
// default, or an error naming a value out of range.
func (l Http3Limits) withDefaults() (Http3Limits, error) {
	if l.MaxRequestHeaderFieldSize == 0 {
		l.MaxRequestHeaderFieldSize = DefaultHttp3MaxRequestHeaderFieldSize
	}
	if l.MaxRequestHeaderFieldSize < 0 {
		return l, fmt.Errorf("kestrel: Limits.Http3.MaxRequestHeaderFieldSize is %d; use a positive number of bytes (default %d)", l.MaxRequestHeaderFieldSize, DefaultHttp3MaxRequestHeaderFieldSize)
	}
	return l, nil
}

// Http2Limits are Kestrel's Limits.Http2. The zero value of every field
// means Kestrel's default for it.
type Http2Limits struct {
	// MaxStreamsPerConnection is how many streams a client may have open on
	// a connection at once (SETTINGS_MAX_CONCURRENT_STREAMS); a stream
	// beyond it is refused with REFUSED_STREAM. The handlers of streams
	// the client reset count until they return. Zero means 100.
	MaxStreamsPerConnection uint32

	// HeaderTableSize is the size of the HPACK decoder's dynamic table,
	// in bytes. Zero means 4096; NoHeaderTable turns the table off. It
	// binds a client once it has acknowledged the server's SETTINGS: until
	// then HTTP/2 lets it use 4096 bytes (RFC 9113, 6.5.3).
	HeaderTableSize uint32

	// MaxFrameSize is the largest frame payload a client may send, from
	// 2^14 to 2^24-1 bytes. Zero means 16,384.
	MaxFrameSize uint32

	// MaxRequestHeaderFieldSize is the largest request header field
	// (name or value), decoded, in bytes; a larger one is a connection
	// error (COMPRESSION_ERROR), as in Kestrel. Zero means 32 KiB.
	MaxRequestHeaderFieldSize int

	// InitialConnectionWindowSize is how many request body bytes a
	// connection buffers for all its streams before the client must wait,
	// from 65,535 to 2^31-1. Zero means 1 MiB.
	InitialConnectionWindowSize uint32

	// InitialStreamWindowSize is how many request body bytes a stream
	// buffers before the client must wait, from 65,535 to 2^31-1. Zero
	// means 768 KiB.
	InitialStreamWindowSize uint32

	// KeepAlivePingDelay, when set, sends a PING on a connection from
	// which nothing was read for that long; KeepAlivePingTimeout closes it
	// when nothing comes back in that time. Zero turns the pings off
	// (Kestrel's default); the timeout defaults to 20 s.
	KeepAlivePingDelay   time.Duration
	KeepAlivePingTimeout time.Duration

	// ClientPingPolicy limits the PINGs a client sends, as grpc-go's
	// server does. Its zero value allows any (Kestrel's default), unless
	// the server's Handler or NativeHandler has a ClientPingPolicy method
	// (as grpcserver.Server has), which then gives it.
	ClientPingPolicy ClientPingPolicy
}

// ClientPingPolicy is what an HTTP/2 connection demands of the PINGs its
// client sends, as grpc-go's server enforces its
// keepalive.EnforcementPolicy: a PING sooner than MinInterval after the
// previous one (or, with no stream open and PermitWithoutStream off,
// sooner than two hours) is a strike, unless the server sent a response's
// HEADERS or DATA since; the third strike ends the connection with GOAWAY
// ENHANCE_YOUR_CALM and the debug data "too_many_pings", on which
// grpc-go's client halves how often it pings. A zero MinInterval demands
// nothing.
type ClientPingPolicy struct {
	MinInterval         time.Duration
	PermitWithoutStream bool
}

// NoHeaderTable, as Http2Limits.HeaderTableSize, turns the HPACK dynamic
// table off.
const NoHeaderTable = ^uint32(0)

// Kestrel's defaults for the fields of [Http2Limits].
const (
	DefaultHttp2MaxStreamsPerConnection     = http2.DefaultMaxStreamsPerConnection
	DefaultHttp2HeaderTableSize             = http2.DefaultHeaderTableSize
	DefaultHttp2MaxFrameSize                = http2.DefaultMaxFrameSize
	DefaultHttp2MaxRequestHeaderFieldSize   = http2.DefaultMaxRequestHeaderFieldSize
	DefaultHttp2InitialConnectionWindowSize = http2.DefaultInitialConnectionWindowSize
	DefaultHttp2InitialStreamWindowSize     = http2.DefaultInitialStreamWindowSize
	DefaultHttp2KeepAlivePingTimeout        = http2.DefaultKeepAlivePingTimeout
)

// withDefaults returns the limits with every zero field set to its
// default, or an error naming a value out of range.
func (l Http2Limits) withDefaults() (Http2Limits, error) {
	if l.MaxStreamsPerConnection == 0 {
		l.MaxStreamsPerConnection = DefaultHttp2MaxStreamsPerConnection
	}
	switch l.HeaderTableSize {
	case 0:
		l.HeaderTableSize = DefaultHttp2HeaderTableSize
	case NoHeaderTable:
		l.HeaderTableSize = 0
	}
	if l.MaxFrameSize == 0 {
		l.MaxFrameSize = DefaultHttp2MaxFrameSize
	}
	if l.MaxRequestHeaderFieldSize == 0 {
		l.MaxRequestHeaderFieldSize = DefaultHttp2MaxRequestHeaderFieldSize
	}
	if l.InitialConnectionWindowSize == 0 {
		l.InitialConnectionWindowSize = DefaultHttp2InitialConnectionWindowSize
	}
	if l.InitialStreamWindowSize == 0 {
		l.InitialStreamWindowSize = DefaultHttp2InitialStreamWindowSize
	}
	if l.KeepAlivePingTimeout == 0 {
		l.KeepAlivePingTimeout = DefaultHttp2KeepAlivePingTimeout
	}
	switch {
	case l.MaxFrameSize < 1<<14 || l.MaxFrameSize > 1<<24-1:
		return l, fmt.Errorf("kestrel: Limits.Http2.MaxFrameSize is %d; use a value from 16384 to 16777215 (default %d)", l.MaxFrameSize, DefaultHttp2MaxFrameSize)
	case l.MaxRequestHeaderFieldSize < 0:
		return l, fmt.Errorf("kestrel: Limits.Http2.MaxRequestHeaderFieldSize is %d; use a positive number of bytes (default %d)", l.MaxRequestHeaderFieldSize, DefaultHttp2MaxRequestHeaderFieldSize)
	case l.InitialConnectionWindowSize < 65535 || l.InitialConnectionWindowSize > 1<<31-1:
		return l, fmt.Errorf("kestrel: Limits.Http2.InitialConnectionWindowSize is %d; use a value from 65535 to 2147483647 (default %d)", l.InitialConnectionWindowSize, DefaultHttp2InitialConnectionWindowSize)
	case l.InitialStreamWindowSize < 65535 || l.InitialStreamWindowSize > 1<<31-1:
		return l, fmt.Errorf("kestrel: Limits.Http2.InitialStreamWindowSize is %d; use a value from 65535 to 2147483647 (default %d)", l.InitialStreamWindowSize, DefaultHttp2InitialStreamWindowSize)
	case l.KeepAlivePingDelay < 0 || l.KeepAlivePingDelay > 0 && l.KeepAlivePingDelay < time.Second:
		return l, fmt.Errorf("kestrel: Limits.Http2.KeepAlivePingDelay is %v; use at least 1s, or 0 for no pings", l.KeepAlivePingDelay)
	case l.KeepAlivePingTimeout < time.Second:
		return l, fmt.Errorf("kestrel: Limits.Http2.KeepAlivePingTimeout is %v; use at least 1s (default 20s)", l.KeepAlivePingTimeout)
	}
	return l, nil
}

// withDefaults returns l with every zero field set to its default and checks
// that the values make sense.
func (l Limits) withDefaults() (Limits, error) {
	if l.MaxRequestBodySize == 0 {
		l.MaxRequestBodySize = DefaultMaxRequestBodySize
	}
	if l.MaxRequestLineSize == 0 {
		l.MaxRequestLineSize = DefaultMaxRequestLineSize
	}
	if l.MaxRequestHeadersTotalSize == 0 {
		l.MaxRequestHeadersTotalSize = DefaultMaxRequestHeadersTotalSize
	}
	if l.MaxRequestHeaderCount == 0 {
		l.MaxRequestHeaderCount = DefaultMaxRequestHeaderCount
	}
	if l.KeepAliveTimeout == 0 {
		l.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if l.RequestHeadersTimeout == 0 {
		l.RequestHeadersTimeout = DefaultRequestHeadersTimeout
	}
	if l.MaxRequestBufferSize == 0 {
		l.MaxRequestBufferSize = DefaultMaxRequestBufferSize
	}
	if l.MaxResponseBufferSize == 0 {
		l.MaxResponseBufferSize = DefaultMaxResponseBufferSize
	}
	defaultRate := &DataRate{BytesPerSecond: DefaultMinDataRate, GracePeriod: DefaultMinDataRateGracePeriod}
	if l.MinRequestBodyDataRate == nil {
		l.MinRequestBodyDataRate = defaultRate
	}
	if l.MinResponseDataRate == nil {
		l.MinResponseDataRate = defaultRate
	}
	if err := l.MinRequestBodyDataRate.check("Limits.MinRequestBodyDataRate"); err != nil {
		return l, err
	}
	if err := l.MinResponseDataRate.check("Limits.MinResponseDataRate"); err != nil {
		return l, err
	}
	switch {
	case l.MaxConcurrentUpgradedConnections < 0 && l.MaxConcurrentUpgradedConnections != Unlimited && l.MaxConcurrentUpgradedConnections != NoUpgrades:
		return l, fmt.Errorf("kestrel: Limits.MaxConcurrentUpgradedConnections is %d; use a positive number, 0 or Unlimited for no limit, or NoUpgrades for none", l.MaxConcurrentUpgradedConnections)
	case l.MaxRequestBufferSize < 0 && l.MaxRequestBufferSize != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestBufferSize is %d; use a positive number of bytes, or Unlimited", l.MaxRequestBufferSize)
	case l.MaxRequestBufferSize > 0 && l.MaxRequestBufferSize < int64(l.MaxRequestLineSize):
		return l, fmt.Errorf("kestrel: Limits.MaxRequestBufferSize (%d) is smaller than Limits.MaxRequestLineSize (%d); the buffer must hold a whole request line", l.MaxRequestBufferSize, l.MaxRequestLineSize)
	case l.MaxRequestBufferSize > 0 && l.MaxRequestBufferSize < int64(l.MaxRequestHeadersTotalSize):
		return l, fmt.Errorf("kestrel: Limits.MaxRequestBufferSize (%d) is smaller than Limits.MaxRequestHeadersTotalSize (%d); the buffer must hold a whole request head", l.MaxRequestBufferSize, l.MaxRequestHeadersTotalSize)
	case l.MaxResponseBufferSize < 0 && l.MaxResponseBufferSize != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.MaxResponseBufferSize is %d; use a positive number of bytes, 0 for the default, or Unlimited", l.MaxResponseBufferSize)
	case l.MaxConcurrentConnections < 0 && l.MaxConcurrentConnections != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.MaxConcurrentConnections is %d; use a positive number, or 0 or Unlimited for no limit", l.MaxConcurrentConnections)
	case l.MaxRequestBodySize < 0 && l.MaxRequestBodySize != Unlimited && l.MaxRequestBodySize != NoRequestBody:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestBodySize is %d; use a positive number of bytes, Unlimited, or NoRequestBody", l.MaxRequestBodySize)
	case l.MaxRequestLineSize < 16:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestLineSize is %d; use at least 16 bytes (default %d)", l.MaxRequestLineSize, DefaultMaxRequestLineSize)
	case l.MaxRequestHeadersTotalSize < 2:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestHeadersTotalSize is %d; use at least 2 bytes (default %d)", l.MaxRequestHeadersTotalSize, DefaultMaxRequestHeadersTotalSize)
	case l.MaxRequestLineSize > maxRequestHead || l.MaxRequestHeadersTotalSize > maxRequestHead ||
		int64(l.MaxRequestLineSize)+int64(l.MaxRequestHeadersTotalSize) > maxRequestHead:
		// HTTP/1.1 holds a whole head in one buffer of this size: past it
		// (or past an int, the buffer's size wrapping) the first large
		// head failed to allocate it.
		return l, fmt.Errorf("kestrel: Limits.MaxRequestLineSize (%d) plus Limits.MaxRequestHeadersTotalSize (%d) is more than a request head may be (1 GiB, held in one buffer)", l.MaxRequestLineSize, l.MaxRequestHeadersTotalSize)
	case l.MaxRequestHeaderCount < 1:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestHeaderCount is %d; use at least 1 (default %d)", l.MaxRequestHeaderCount, DefaultMaxRequestHeaderCount)
	case l.KeepAliveTimeout < 0 && l.KeepAliveTimeout != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.KeepAliveTimeout is %v; use a positive duration, or Unlimited", l.KeepAliveTimeout)
	case l.RequestHeadersTimeout < 0 && l.RequestHeadersTimeout != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.RequestHeadersTimeout is %v; use a positive duration, or Unlimited", l.RequestHeadersTimeout)
	case l.MaxConnectionAge < 0:
		return l, fmt.Errorf("kestrel: Limits.MaxConnectionAge is %v; use a positive duration, or 0 for no limit", l.MaxConnectionAge)
	case l.MaxConnectionAgeGrace < 0:
		return l, fmt.Errorf("kestrel: Limits.MaxConnectionAgeGrace is %v; use a positive duration, or 0 for no bound", l.MaxConnectionAgeGrace)
	}
	h2, err := l.Http2.withDefaults()
	if err != nil {
		return l, err
	}
	l.Http2 = h2
	h3, err := l.Http3.withDefaults()
	if err != nil {
		return l, err
	}
	l.Http3 = h3
	return l, nil
}
