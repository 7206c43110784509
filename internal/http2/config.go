// Package http2 is the HTTP/2 engine (RFC 9113): the connection's state
// machine, streams and their states, flow control in both directions, the
// output queue shared by the connection's streams, Kestrel's HTTP/2 limits
// and the defences against abusive clients (rapid reset, CONTINUATION and
// control-frame floods, HPACK bombs, clients that never read). The codec
// is golang.org/x/net/http2's Framer and hpack; requests are served by the
// application layer shared with HTTP/1.1 (internal/app): a stream is an
// app.Stream.
package http2

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/bufpool"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// Kestrel's defaults for Limits.Http2.
const (
	DefaultMaxStreamsPerConnection     = 100
	DefaultHeaderTableSize             = 4096
	DefaultMaxFrameSize                = 1 << 14
	DefaultMaxRequestHeaderFieldSize   = 32 << 10
	DefaultInitialConnectionWindowSize = 1 << 20
	DefaultInitialStreamWindowSize     = 768 << 10
	DefaultKeepAlivePingTimeout        = 20 * time.Second
)

// Config is what every HTTP/2 connection of a server shares. It must not
// change once connections are served.
type Config struct {
	// App is the application layer's configuration.
	App *app.Config

	// Kestrel's Limits.Http2.
	MaxStreams                uint32        // concurrent streams a client may open
	HeaderTableSize           uint32        // the HPACK decoder's dynamic table
	MaxFrameSize              uint32        // the largest frame the client may send
	MaxRequestHeaderFieldSize int           // one decoded header field
	InitialConnectionWindow   uint32        // how much request body the connection buffers
	InitialStreamWindow       uint32        // how much request body a stream buffers
	KeepAlivePingDelay        time.Duration // 0: no keep-alive pings
	KeepAlivePingTimeout      time.Duration
	PingPolicy                PingPolicy // what the client's PINGs must respect

	// The general limits, per stream or per connection.
	MaxRequestLineSize         int           // an HTTP/1.x request line sent to an HTTP/2-only endpoint, CRLF included; a request's :method, :scheme, :authority and :path together
	MaxRequestHeadersTotalSize int           // the decoded header list
	MaxRequestHeaderCount      int           // fields of a header list
	KeepAliveTimeout           time.Duration // a connection without streams
	RequestHeadersTimeout      time.Duration // the preface, and a header block
	MinRequestBodyRate         app.Rate
	MinResponseRate            app.Rate

	// MaxOutput bounds the response bytes queued for the connection before
	// writers wait for the client to read (MaxResponseBufferSize).
	MaxOutput int

	// Parker, if set, holds long-idle connections without a goroutine.
	Parker *transport.Parker

	// ConnectProtocol sends SETTINGS_ENABLE_CONNECT_PROTOCOL and accepts
	// extended CONNECT (RFC 8441): WebSockets over HTTP/2 streams.
	ConnectProtocol bool

	// Upgrades, if set, bounds the extended CONNECT streams open at once,
	// with the HTTP/1.1 upgraded connections
	// (MaxConcurrentUpgradedConnections); a stream beyond it is answered
	// 503 without running the handler.
	Upgrades *transport.Counter

	// Released estimates the memory that became garbage (see
	// http1.Config.Released); shared with the HTTP/1 engine.
	Released *atomic.Int64

	readPool      *bufpool.Pool
	smallReadPool *bufpool.Pool // an idle connection's that cannot park
	outPool       *bufpool.Pool
	streamPool    sync.Pool
	initOnce      sync.Once
	interned      sync.Map // response header strings, allocated once
	internedN     atomic.Int64
}

// readBufferSize is the connection's read buffer while it is busy: a
// frame of the default maximum size and its header fit.
const readBufferSize = 16<<10 + 9

// smallReadBufferSize is the read buffer an idle connection that cannot
// be parked (TLS, connection middleware) waits with, as the wait may be
// long: a request's HEADERS frame fits, and its next frames go to a
// buffer of readBufferSize.
const smallReadBufferSize = 4 << 10

// outBufferSize is the output queue's pooled buffer: a response's head and
// a frame of body.
const outBufferSize = 20 << 10

func (cfg *Config) init() {
	cfg.initOnce.Do(func() {
		cfg.readPool = bufpool.New(readBufferSize)
		cfg.smallReadPool = bufpool.New(smallReadBufferSize)
		cfg.outPool = bufpool.New(outBufferSize)
		if cfg.MaxStreams == 0 {
			cfg.MaxStreams = DefaultMaxStreamsPerConnection
		}
		if cfg.MaxFrameSize == 0 {
			cfg.MaxFrameSize = DefaultMaxFrameSize
		}
		if cfg.MaxRequestHeaderFieldSize == 0 {
			cfg.MaxRequestHeaderFieldSize = DefaultMaxRequestHeaderFieldSize
		}
		if cfg.InitialConnectionWindow == 0 {
			cfg.InitialConnectionWindow = DefaultInitialConnectionWindowSize
		}
		if cfg.InitialStreamWindow == 0 {
			cfg.InitialStreamWindow = DefaultInitialStreamWindowSize
		}
		if cfg.KeepAlivePingTimeout == 0 {
			cfg.KeepAlivePingTimeout = DefaultKeepAlivePingTimeout
		}
		if cfg.MaxRequestLineSize == 0 {
			cfg.MaxRequestLineSize = 8 << 10
		}
		if cfg.MaxRequestHeadersTotalSize == 0 {
			cfg.MaxRequestHeadersTotalSize = 32 << 10
		}
		if cfg.MaxRequestHeaderCount == 0 {
			cfg.MaxRequestHeaderCount = 100
		}
		if cfg.MaxOutput == 0 {
			cfg.MaxOutput = 64 << 10
		}
		if cfg.Released == nil {
			cfg.Released = new(atomic.Int64)
		}
	})
}
