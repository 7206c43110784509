// Package http3 is the HTTP/3 engine (RFC 9114) on QUIC connections from
// github.com/quic-go/quic-go: the control streams and their SETTINGS and
// GOAWAY frames, request streams and their frames, QPACK field sections
// (github.com/quic-go/qpack, without a dynamic table, as Kestrel), request
// validation, Kestrel's HTTP/3 limits, idle and graceful shutdown.
// Requests are served by the application layer shared with HTTP/1.1 and
// HTTP/2 (internal/app): a request stream is an app.Stream. Flow control
// is QUIC's: a request body is read from the QUIC stream as the handler
// reads it, and a response is written as QUIC's windows allow.
package http3

import (
	"crypto/tls"
	"math"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/bufpool"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// NextProto is HTTP/3's ALPN protocol name.
const NextProto = "h3"

// Defaults, as Kestrel's Limits.Http3 and QuicTransportOptions.
const (
	DefaultMaxRequestHeaderFieldSize = 32 << 10
	DefaultMaxStreams                = 100
	defaultMaxUniStreams             = 10
)

// Config is what every HTTP/3 connection of a server shares. It must not
// change once connections are served.
type Config struct {
	// App is the application layer's configuration.
	App *app.Config

	// MaxRequestHeaderFieldSize bounds one request field's name or value,
	// decoded (Kestrel's Limits.Http3.MaxRequestHeaderFieldSize).
	MaxRequestHeaderFieldSize int

	// MaxStreams is how many requests a client may have open on a
	// connection at once (QUIC's bidirectional stream limit).
	MaxStreams int

	// The general limits, per request or per connection.
	MaxRequestLineSize         int           // a request's :method, :scheme, :authority and :path together
	MaxRequestHeadersTotalSize int           // a decoded field section, announced as SETTINGS_MAX_FIELD_SECTION_SIZE
	MaxRequestHeaderCount      int           // fields of a field section
	KeepAliveTimeout           time.Duration // a connection without requests; QUIC's idle timeout
	RequestHeadersTimeout      time.Duration // a request stream's HEADERS frame
	MaxRequestBufferSize       int64         // a stream's QUIC receive window; <= 0: quic-go's default
	MinRequestBodyRate         app.Rate
	MinResponseRate            app.Rate

	// ConnectProtocol sends SETTINGS_ENABLE_CONNECT_PROTOCOL and accepts
	// extended CONNECT (RFC 9220): WebSockets over HTTP/3 streams.
	ConnectProtocol bool

	// Upgrades, if set, bounds the extended CONNECT streams open at once,
	// with the server's other upgraded connections
	// (MaxConcurrentUpgradedConnections); a stream beyond it is answered
	// 503 without running the handler.
	Upgrades *transport.Counter

	readPool   *bufpool.Pool
	streamPool sync.Pool
	initOnce   sync.Once
}

// readBufferSize is a request stream's read buffer: frame headers and
// HEADERS frames up to this size are read through it.
const readBufferSize = 4 << 10

func (cfg *Config) init() {
	cfg.initOnce.Do(func() {
		cfg.readPool = bufpool.New(readBufferSize)
		if cfg.MaxRequestHeaderFieldSize == 0 {
			cfg.MaxRequestHeaderFieldSize = DefaultMaxRequestHeaderFieldSize
		}
		if cfg.MaxStreams == 0 {
			cfg.MaxStreams = DefaultMaxStreams
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
	})
}

// maxHeadersFrame bounds a HEADERS frame's encoded payload: a frame longer
// than this is answered with 431 before it is read. Huffman coding can make
// a field section's encoding longer than the decoded size the limits
// count, hence the margin. It is a uint64, as a frame's length is, and at
// most math.MaxInt32, so that the frame is read into one buffer on 32-bit
// platforms too: twice a large limit would wrap their int.
func (cfg *Config) maxHeadersFrame() uint64 {
	return min(2*uint64(cfg.MaxRequestHeadersTotalSize)+16<<10, math.MaxInt32)
}

// keepAlivePeriod is how often the server pings a connection that receives
// nothing, so that a request that waits on its handler in silence outlives
// QUIC's idle timeout; quic-go pings at most every half idle timeout.
const keepAlivePeriod = 15 * time.Second

// QUICConfig returns the QUIC settings of the server's listeners.
func (cfg *Config) QUICConfig(handshakeTimeout time.Duration) *quic.Config {
	cfg.init()
	qc := &quic.Config{
		HandshakeIdleTimeout:  handshakeTimeout / 2, // quic-go gives up after twice this
		MaxIdleTimeout:        cfg.KeepAliveTimeout,
		KeepAlivePeriod:       keepAlivePeriod,
		MaxIncomingStreams:    int64(cfg.MaxStreams),
		MaxIncomingUniStreams: defaultMaxUniStreams,
		// A request stream counts against MaxStreams until its handler
		// has returned, not only until it is complete in QUIC (a stream
		// the server reset while its handler runs is): the Conn gives
		// its credit back (ReleaseStreamCredit) when it is done with it.
		RequireStreamCreditRelease: true,
	}
	if cfg.KeepAliveTimeout <= 0 {
		qc.MaxIdleTimeout = 24 * time.Hour // "unlimited"; a dead peer is still found by the pings
	}
	if n := cfg.MaxRequestBufferSize; n > 0 {
		qc.MaxStreamReceiveWindow = uint64(n)
		qc.InitialStreamReceiveWindow = uint64(min(n, 512<<10))
	}
	return qc
}

// TLSConfig returns the TLS configuration of a QUIC listener from an
// endpoint's: TLS 1.3 (as QUIC requires), ALPN h3, and the endpoint's
// certificates, SNI entries and client certificate settings, taken from
// base at every handshake so that certificate reloads apply. allowed, when
// set, tells whether a client's SNI host name may use HTTP/3.
func TLSConfig(base *tls.Config, allowed func(serverName string) bool) *tls.Config {
	// The session ticket keys are made before base is cloned, so that the
	// clones share them and sessions resume across handshakes.
	_, _ = base.DecryptTicket(nil, tls.ConnectionState{})
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{NextProto},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if allowed != nil && !allowed(hello.ServerName) {
				return nil, errNotAllowed{hello.ServerName}
			}
			cfg := base
			if base.GetConfigForClient != nil {
				c, err := base.GetConfigForClient(hello)
				if err != nil {
					return nil, err
				}
				if c != nil {
					cfg = c
				}
			}
			_, _ = cfg.DecryptTicket(nil, tls.ConnectionState{}) // see above
			cfg = cfg.Clone()
			cfg.MinVersion = tls.VersionTLS13
			if cfg.MaxVersion != 0 && cfg.MaxVersion < tls.VersionTLS13 {
				return nil, errNoTLS13{hello.ServerName}
			}
			cfg.NextProtos = []string{NextProto}
			return cfg, nil
		},
	}
}

type errNotAllowed struct{ name string }

func (e errNotAllowed) Error() string {
	return "http3: HTTP/3 is not enabled for host name " + quoteName(e.name) + " (its SNI entry's Protocols, or TLS versions without 1.3, which QUIC requires)"
}

type errNoTLS13 struct{ name string }

func (e errNoTLS13) Error() string {
	return "http3: the TLS settings for host name " + quoteName(e.name) + " exclude TLS 1.3, which QUIC requires"
}

func quoteName(n string) string {
	if n == "" {
		return "(none)"
	}
	return `"` + n + `"`
}
