package kestrel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"go.opentelemetry.io/otel/metric"

	"github.com/kestrel-go/kestrel/internal/connlog"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/http2"
	"github.com/kestrel-go/kestrel/internal/http3"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
	"github.com/kestrel-go/kestrel/logging"
)

// DefaultURL is where a server listens when no endpoint is configured.
const DefaultURL = "http://localhost:5000"

// DefaultShutdownTimeout is how long Run lets in-flight requests finish
// when its context ends, unless Server.ShutdownTimeout says otherwise (as
// ASP.NET's HostOptions.ShutdownTimeout).
const DefaultShutdownTimeout = 30 * time.Second

// ErrServerClosed is returned by Serve, Start and Run after Shutdown or
// Close.
var ErrServerClosed = http.ErrServerClosed

// A Server serves HTTP/1.1 and HTTP/2 on the endpoints added with Listen and
// ListenURL, and HTTP/3 on the HTTPS endpoints whose Protocols include it.
// Set its fields before Start or Serve; the zero value serves
// 404s on http://localhost:5000 with Kestrel's limits.
type Server struct {
	// Handler serves requests; nil answers every request with 404 Not Found.
	Handler http.Handler

	// NativeHandler, when set, gets every request first, on the engine's
	// zero-allocation path. It may hand a request to Handler with
	// Context.ServeHTTP.
	NativeHandler NativeHandler

	// Limits bounds what clients can make the server hold or wait for.
	// Zero fields mean Kestrel's defaults.
	Limits Limits

	// DisableServerHeader turns off the "Server: Kestrel" response header.
	DisableServerHeader bool

	// Logger receives the server's logs; nil means slog.Default(). The
	// server's events carry Kestrel's categories, event ids and names as
	// attributes (see the logging package, whose handlers write them as
	// ASP.NET Core does); the ones a client can cause at will, such as a
	// refused connection or a failed TLS handshake, are at Debug level.
	Logger *slog.Logger

	// MeterProvider, when set, receives the server's metrics: Kestrel's
	// (meter "Microsoft.AspNetCore.Server.Kestrel": kestrel.active_connections,
	// kestrel.connection.duration, kestrel.rejected_connections,
	// kestrel.tls_handshake.duration, ...) and ASP.NET Core's HTTP server
	// ones (meter "Microsoft.AspNetCore.Hosting":
	// http.server.request.duration and http.server.active_requests), with
	// the OpenTelemetry semantic conventions' attributes. Methods outside
	// OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS (by default RFC 9110's, PATCH
	// and QUERY) are reported as "_OTHER". nil records nothing, at no cost.
	MeterProvider metric.MeterProvider

	// DefaultHTTPS is used by https:// endpoints that have no HTTPS options
	// of their own (Kestrel's default certificate). Without it they use
	// the development certificate made by `kestrel dev-certs`, if there is
	// one.
	DefaultHTTPS *HTTPS

	// UnixSocketMode, when not zero, is set as the permissions of the Unix
	// socket files of endpoints that do not set Endpoint.UnixSocketMode,
	// such as those from UseURLs: 0o660 lets a proxy in the socket's group
	// (nginx's www-data) connect.
	UnixSocketMode fs.FileMode

	// ShutdownTimeout is how long Run lets in-flight requests and upgraded
	// connections finish, once its context ends, before it aborts them;
	// zero means DefaultShutdownTimeout. Keep it below the service
	// manager's own stop timeout (systemd's TimeoutStopSec, 90 s by
	// default).
	ShutdownTimeout time.Duration

	// BaseContext, if set, returns the base context of the requests that
	// arrive on a listener, as http.Server's BaseContext; it must not
	// return nil. Cancelling it cancels their contexts.
	BaseContext func(net.Listener) context.Context

	// ConnContext, if set, returns the context of a new connection,
	// derived from ctx: the parent of its requests' contexts, as
	// http.Server's ConnContext. c is the accepted connection, before any
	// TLS handshake. It must not return nil.
	ConnContext func(ctx context.Context, c net.Conn) context.Context

	// ConnState, if set, is called when a connection changes state, with
	// net/http's states and meaning (HTTP/2 connections are active while
	// they have streams). c is the accepted connection, as for ConnContext.
	ConnState func(c net.Conn, state http.ConnState)

	// ErrorLog, when set and Logger is not, receives the server's logs as
	// lines, as http.Server's ErrorLog.
	ErrorLog *log.Logger

	mu           sync.Mutex
	endpoints    []endpoint // added in code or by a configuration file
	urls         []endpoint // from UseURLs
	rawURLs      []string
	listeners    []*listener
	conns        map[net.Conn]*connState // by the connection the engine serves
	upgraded     map[*http1.UpgradedConn]*connState
	cfg          *http1.Config
	h2cfg        *http2.Config
	h3cfg        *http3.Config
	quic         []*quicListener             // HTTP/3 listeners
	altSvc       atomic.Pointer[altSvcTable] // the Alt-Svc values of the endpoints that serve HTTP/3
	metrics      *metrics.Metrics            // nil: none
	rejected     logevents.Tally             // connections refused by the limit, for the summary
	counter      *transport.Counter
	hb           *heartbeat.Heartbeat
	draining     atomic.Bool
	closed       bool
	serving      sync.WaitGroup // accept loops
	connsDone    chan struct{}  // closed when the last connection ends during shutdown
	lastRelease  time.Time      // of idle memory; only the heartbeat touches these
	lastReleased int64

	onShutdown    []func()
	keepAlivesOff atomic.Bool
}

// listener is a bound endpoint.
type listener struct {
	net.Listener
	ep  endpoint
	tls *tlsEndpoint    // nil for cleartext
	ctx context.Context // the base of its connections' contexts
}

// url is the listener's address as a URL, with the port that was bound.
func (l *listener) url() string { return addrURL(l.ep, l.Addr()) }

// addrURL is the address bound for ep as a URL.
func addrURL(ep endpoint, addr net.Addr) string {
	if a, ok := addr.(*net.UDPAddr); ok {
		addr = &net.TCPAddr{IP: a.IP, Port: a.Port}
	}
	switch a := addr.(type) {
	case *net.TCPAddr:
		host := "localhost"
		switch {
		case a.IP == nil || a.IP.IsUnspecified():
			if a.IP.To4() != nil && ep.network == "tcp4" {
				host = "0.0.0.0"
			} else {
				host = "[::]"
			}
		case a.IP.To4() != nil:
			host = a.IP.String()
		default:
			host = "[" + a.IP.String() + "]"
		}
		return ep.scheme + "://" + host + ":" + strconv.Itoa(a.Port)
	case *net.UnixAddr:
		return ep.scheme + "://unix:" + a.Name
	default:
		return ep.scheme + "://" + a.String()
	}
}

// Listen adds a TCP endpoint "host:port", bound by Start. "localhost"
// binds both 127.0.0.1 and ::1; an IP address binds that address; any
// other host ("*", "+", a name, or none) binds every address; port 0 picks
// a free port, reported by Addresses.
func (s *Server) Listen(address string) error {
	return s.ListenEndpoint(Endpoint{Address: address})
}

// ListenURL adds an endpoint from a URL prefix, as Kestrel reads them:
//
//	http://localhost:5000       both loopbacks (port 0 is refused: they would differ)
//	http://127.0.0.1:8080       that IPv4 address
//	http://[::1]:8080           that IPv6 address
//	http://0.0.0.0:80           every IPv4 address
//	http://[::]:80              every address, IPv6 dual-stack
//	http://*:80, http://+:80    every address, as does any host name
//	http://unix:/run/app.sock   a Unix socket (also unix:/run/app.sock)
//
// A missing port means 80. A path base ("/app") is an error: route paths
// in the handler instead.
func (s *Server) ListenURL(rawURL string) error {
	return s.ListenEndpoint(Endpoint{URL: rawURL})
}

// ListenUnix adds a Unix domain socket endpoint at path, which must be
// absolute. A stale socket file left by a dead process is replaced; one a
// live process listens on is an error at Start. The file is removed when
// the server stops.
func (s *Server) ListenUnix(path string) error {
	return s.ListenEndpoint(Endpoint{UnixPath: path})
}

// ListenFile adds an endpoint for an inherited listening socket, such as
// one passed by a parent process (os.NewFile(3, "listener")). The server
// takes ownership of f.
func (s *Server) ListenFile(f *os.File) error {
	return s.ListenEndpoint(Endpoint{File: f})
}

// ListenSystemd adds the listening sockets passed by systemd socket
// activation (LISTEN_PID and LISTEN_FDS) and reports how many there were.
func (s *Server) ListenSystemd() (int, error) {
	ls, err := systemdListeners()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, l := range ls {
			l.Close()
		}
		return 0, ErrServerClosed
	}
	for _, l := range ls {
		s.endpoints = append(s.endpoints, endpoint{ln: l, url: "systemd socket " + l.Addr().String(), scheme: "http", port: -1})
	}
	return len(ls), nil
}

// ListenEndpoint adds an endpoint with its own options. Endpoints added in
// code take precedence over URLs given to UseURLs.
func (s *Server) ListenEndpoint(ep Endpoint) error {
	eps, err := ep.resolve()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	s.endpoints = append(s.endpoints, eps...)
	return nil
}

// UseURLs sets URL prefixes from a flag or an environment variable
// (semicolon-separated, as in --urls and KESTREL_URLS). As in Kestrel,
// they are used only when no endpoint was added in code or by a
// configuration file; otherwise Start logs a warning naming them.
func (s *Server) UseURLs(urls string) error {
	var eps []endpoint
	var raw []string
	for _, u := range strings.Split(urls, ";") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		e, err := Endpoint{URL: u}.resolve()
		if err != nil {
			return err
		}
		eps = append(eps, e...)
		raw = append(raw, u)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urls = eps
	s.rawURLs = raw
	return nil
}

// init prepares what every connection shares. s.mu is held.
func (s *Server) init() error {
	if s.cfg != nil {
		return nil
	}
	limits, err := s.Limits.withDefaults()
	if err != nil {
		return err
	}
	log := s.Logger
	if log == nil && s.ErrorLog != nil {
		log = errorLogger(s.ErrorLog)
	}
	if log == nil {
		log = slog.Default()
	}
	m, err := s.newMetrics()
	if err != nil {
		return err
	}
	s.metrics = m
	s.conns = make(map[net.Conn]*connState)
	s.upgraded = make(map[*http1.UpgradedConn]*connState)
	s.counter = transport.NewCounter(limits.MaxConcurrentConnections)
	s.hb = heartbeat.New(s.tick)
	appCfg := &app.Config{
		Logger:             log,
		Heartbeat:          s.hb,
		ServerHeader:       !s.DisableServerHeader,
		MaxRequestBodySize: limits.MaxRequestBodySize,
	}
	cfg := &http1.Config{
		App:                        appCfg,
		MaxRequestLineSize:         limits.MaxRequestLineSize,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		MinRequestBodyRate:         limits.MinRequestBodyDataRate.engine(),
		MinResponseRate:            limits.MinResponseDataRate.engine(),
		Upgraded:                   s.trackUpgraded,
		NoKeepAlives:               &s.keepAlivesOff,
		OnState:                    s.ConnState,
	}
	if pk, err := transport.NewParker(); err == nil {
		cfg.Parker = pk
	} else if runtime.GOOS == "linux" {
		logevents.General(log, slog.LevelWarn, "ParkerUnavailable", "Idle connections keep a goroutine each: the connection parker did not start: "+err.Error())
	}
	if limits.MaxConcurrentUpgradedConnections > 0 {
		cfg.Upgrades = transport.NewCounter(limits.MaxConcurrentUpgradedConnections)
	}
	native, handler := s.NativeHandler, s.Handler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	if native != nil {
		appCfg.Handler = func(ex *app.Exchange) {
			s.advertiseHTTP3Native(ex)
			native.ServeKestrel(nativeContext(ex))
		}
	} else {
		handler = s.advertiseHTTP3(handler)
		appCfg.Handler = func(ex *app.Exchange) { ex.ServeHTTP(handler) }
	}
	if s.metrics != nil {
		appCfg.Handler = s.measureRequests(appCfg.Handler)
	}
	h2 := limits.Http2
	maxOutput := limits.MaxResponseBufferSize
	if maxOutput <= 0 {
		maxOutput = 1 << 30 // Unlimited
	}
	s.h2cfg = &http2.Config{
		App:                        appCfg,
		MaxStreams:                 h2.MaxStreamsPerConnection,
		HeaderTableSize:            h2.HeaderTableSize,
		MaxFrameSize:               h2.MaxFrameSize,
		MaxRequestHeaderFieldSize:  h2.MaxRequestHeaderFieldSize,
		InitialConnectionWindow:    h2.InitialConnectionWindowSize,
		InitialStreamWindow:        h2.InitialStreamWindowSize,
		KeepAlivePingDelay:         h2.KeepAlivePingDelay,
		KeepAlivePingTimeout:       h2.KeepAlivePingTimeout,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		MinRequestBodyRate:         cfg.MinRequestBodyRate,
		MinResponseRate:            cfg.MinResponseRate,
		MaxOutput:                  int(min(maxOutput, 1<<30)),
		Parker:                     cfg.Parker,
		Released:                   &cfg.Released,
	}
	s.h3cfg = newHTTP3Config(appCfg, limits)
	s.cfg = cfg
	s.hb.Start()
	return nil
}

func (s *Server) logger() *slog.Logger {
	if s.cfg != nil {
		return s.cfg.App.Logger
	}
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Start binds every endpoint (http://localhost:5000 when there is none)
// and serves them in the background. If any endpoint cannot be bound, none
// is kept and the error names its URL.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if err := s.init(); err != nil {
		return err
	}
	eps := s.endpoints
	switch {
	case len(eps) > 0 && len(s.rawURLs) > 0:
		logevents.General(s.cfg.App.Logger, slog.LevelWarn, "OverridingAddresses", "Overriding address(es) '"+strings.Join(s.rawURLs, ";")+"'. Binding to endpoints defined in code or the configuration file instead.")
	case len(eps) == 0 && len(s.urls) > 0:
		eps = s.urls
	case len(eps) == 0 && len(s.listeners) == 0:
		eps, _ = parseURL(DefaultURL)
	}
	if err := checkSchemes(eps); err != nil {
		return err
	}
	if err := s.buildTLS(eps); err != nil {
		return err
	}
	eps, quicOnlyEps := quicOnly(eps)
	bound, err := s.bindAll(eps)
	if err != nil {
		return err
	}
	quicBound, err := s.bindQUIC(bound, quicOnlyEps)
	if err != nil {
		for _, l := range bound {
			l.Close()
		}
		return err
	}
	s.endpoints, s.urls, s.rawURLs = nil, nil, nil
	s.startQUIC(quicBound)
	s.listeners = append(s.listeners, bound...)
	s.serving.Add(len(bound))
	for _, l := range bound {
		go func() {
			defer s.serving.Done()
			s.acceptLoop(l)
		}()
	}
	return nil
}

// checkSchemes refuses HTTP and HTTPS on one port.
func checkSchemes(eps []endpoint) error {
	seen := map[int]endpoint{}
	for _, ep := range eps {
		if ep.port <= 0 {
			continue
		}
		if prev, ok := seen[ep.port]; ok && prev.scheme != ep.scheme {
			return fmt.Errorf("kestrel: %s and %s use port %d for both HTTP and HTTPS; give each its own port", prev.url, ep.url, ep.port)
		}
		seen[ep.port] = ep
	}
	return nil
}

// buildTLS builds the TLS configuration of every https endpoint: one for
// each Endpoint, shared by the sockets it resolved to (the two loopbacks
// of localhost), never shared between Endpoints, even with the same URL.
func (s *Server) buildTLS(eps []endpoint) error {
	built := map[*Endpoint]*tlsEndpoint{}
	for i := range eps {
		ep := &eps[i]
		if ep.scheme != "https" {
			continue
		}
		if te := built[ep.from]; te != nil {
			ep.tls = te
			continue
		}
		h := ep.opts.HTTPS
		if h == nil || h.defaultCertificate {
			def := s.DefaultHTTPS
			if def == nil {
				var err error
				if def, err = devCertificate(ep.url); err != nil {
					return err
				}
				logevents.General(s.cfg.App.Logger, slog.LevelInfo, "UsingDevelopmentCertificate", "Using the development certificate for "+ep.url+".")
			}
			if h == nil {
				h = def
			} else {
				// The endpoint's options with the default certificate.
				merged := *h
				merged.Certificate, merged.CertificateFile, merged.KeyFile, merged.Password = def.Certificate, def.CertificateFile, def.KeyFile, def.Password
				merged.SNI, merged.ServerCertificateSelector = def.SNI, def.ServerCertificateSelector
				h = &merged
			}
		}
		te, err := h.build(ep.url, s.cfg.App.Logger.With(logging.Category(logevents.CategoryKestrel)), ep.opts.Protocols)
		if err != nil {
			return err
		}
		ep.tls = te
		built[ep.from] = te
	}
	return nil
}

// bindAll binds every endpoint, or none.
func (s *Server) bindAll(eps []endpoint) ([]*listener, error) {
	var bound []*listener
	fail := func(err error) ([]*listener, error) {
		for _, b := range bound {
			b.Close()
		}
		return nil, err
	}
	for i := range eps {
		ep := &eps[i]
		if ep.nameHost != "" {
			s.cfg.App.Logger.Warn("Binding " + ep.url + " to every network interface: " + strconv.Quote(ep.nameHost) +
				" is not an IP address or localhost. To listen on one interface, use its IP address; to listen on all of them, write * as the host.")
		}
		if ep.network == "unix" && ep.opts.UnixSocketMode == 0 {
			ep.opts.UnixSocketMode = s.UnixSocketMode
		}
		l, err := ep.bind()
		if err != nil && ep.anyIP && !transport.IsAddrInUse(err) {
			// No IPv6: every IPv4 address instead.
			v4 := *ep
			v4.network, v4.address = "tcp4", "0.0.0.0:"+strconv.Itoa(ep.port)
			if l, err = v4.bind(); err == nil {
				ep = &v4
			}
		}
		if err != nil {
			if ep.localhost && !transport.IsAddrInUse(err) && !errors.Is(err, os.ErrPermission) {
				// A loopback this machine lacks (often ::1); a refused
				// port fails on both, and is an error.
				logevents.General(s.cfg.App.Logger, slog.LevelWarn, "UnableToBindLoopback", "Unable to bind to "+ep.url+" on the "+ep.address+" loopback interface: '"+err.Error()+"'.")
				continue
			}
			return fail(bindError(ep, err))
		}
		bound = append(bound, &listener{Listener: l, ep: *ep, tls: ep.tls})
	}
	if len(bound) == 0 && len(eps) > 0 {
		return nil, fmt.Errorf("kestrel: failed to bind to %s: no loopback interface could be bound", eps[0].url)
	}
	return bound, nil
}

// bindError explains why ep could not be bound, and what to do.
func bindError(ep *endpoint, err error) error {
	switch {
	case transport.IsAddrInUse(err):
		return fmt.Errorf("kestrel: failed to bind to %s: address %s already in use (is another server running on port %d?)", ep.url, ep.address, ep.port)
	case errors.Is(err, os.ErrPermission) && ep.port > 0 && ep.port < 1024:
		return fmt.Errorf("kestrel: failed to bind to %s: %w: ports below 1024 need privileges; "+
			"run as root, give the program the capability (sudo setcap cap_net_bind_service=+ep /path/to/program), "+
			"listen on a port from 1024 up behind a proxy such as nginx, or let systemd open the socket (socket activation)", ep.url, err)
	case errors.Is(err, os.ErrPermission) && ep.network == "unix":
		return fmt.Errorf("kestrel: failed to bind to %s: %w: the user cannot create %s; use a directory it may write to (systemd's RuntimeDirectory=, for example /run/app/)", ep.url, err, ep.address)
	}
	return fmt.Errorf("kestrel: failed to bind to %s: %w", ep.url, err)
}

// Serve serves connections accepted from l until Shutdown or Close, which
// close l; it then returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if err := s.init(); err != nil {
		s.mu.Unlock()
		return err
	}
	ln := &listener{Listener: l, ep: endpoint{scheme: "http", url: l.Addr().String(), port: -1}}
	s.listeners = append(s.listeners, ln)
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	return s.acceptLoop(ln)
}

func (s *Server) acceptLoop(l *listener) error {
	l.ctx = s.listenerContext(l.Listener)
	err := transport.Accept(l, s.counter, s.cfg.App.Logger.With(logging.Category(logevents.CategoryKestrel)), acceptor{s, l})
	if s.draining.Load() || errors.Is(err, net.ErrClosed) && s.isClosed() {
		return ErrServerClosed
	}
	logevents.General(s.cfg.App.Logger, slog.LevelError, "ListenerFailed", "The listener on "+l.Addr().String()+" failed: "+err.Error())
	return fmt.Errorf("kestrel: accept on %s: %w", l.Addr(), err)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) serveConn(l *listener, nc net.Conn, slot *transport.Slot) {
	st := s.startConn(nc)
	info := &app.ConnInfo{ID: st.id, Reason: &st.reason}
	accepted := nc
	ctx := s.connContext(l.ctx, nc)
	if s.ConnState != nil {
		s.ConnState(nc, http.StateNew)
	}
	if l.ep.opts.LogConnections {
		nc = connlog.Wrap(nc, s.cfg.App.Logger)
	}
	if l.tls != nil {
		tc, ok := s.handshake(st, l, nc)
		if !ok {
			nc.Close()
			slot.Release()
			s.endConn(st)
			s.connClosed(accepted)
			return
		}
		nc = tc
	}
	protocols := l.ep.opts.Protocols.tcp()
	if tc, ok := nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		if cs.NegotiatedProtocol == "h2" {
			s.serveHTTP2(st, info, nc, slot, ctx, accepted, nil)
			return
		}
		if l.tls.http2Only(protocols, cs.ServerName) {
			// Kestrel's rule: HTTP/2 over TLS needs ALPN.
			logevents.General(s.cfg.App.Logger, slog.LevelDebug, "Http2NotNegotiated",
				`Connection id "`+st.id+`": HTTP/2 over TLS was not negotiated on an HTTP/2-only endpoint (`+l.ep.url+`: the client did not offer ALPN h2).`,
				slog.String("ConnectionId", st.id))
			st.reason.Set(metrics.InvalidHTTPVersion)
			nc.Close()
			slot.Release()
			s.endConn(st)
			s.connClosed(accepted)
			return
		}
	} else if protocols == HTTP2 {
		s.serveHTTP2(st, info, nc, slot, ctx, accepted, nil) // h2c with prior knowledge
		return
	}
	st.proto = metrics.HTTP11
	opts := http1.ConnOptions{
		Draining: &s.draining,
		Slot:     slot,
		Context:  ctx,
		Accepted: accepted,
		Info:     info,
		Done: func() {
			slot.Release()
			s.connDone(nc)
		},
	}
	if protocols&HTTP2 != 0 && l.tls == nil {
		opts.HTTP2 = func(nc net.Conn, buffered []byte) { s.serveHTTP2(st, info, nc, slot, ctx, accepted, buffered) }
	}
	c := http1.NewConn(s.cfg, nc, opts)
	if !s.register(nc, st, c) {
		slot.Release()
		nc.Close()
		s.endConn(st)
		s.connClosed(accepted)
		return
	}
	c.Serve()
}

// register puts a connection in the registry the heartbeat ticks and
// Shutdown drains, or reports false when the server is closed. A
// connection handed from one engine to another keeps its entry.
func (s *Server) register(nc net.Conn, st *connState, c engineConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.conns[nc] == nil {
		return false
	}
	st.conn = c
	s.conns[nc] = st
	return true
}

// serveHTTP2 serves nc as an HTTP/2 connection: over TLS after ALPN chose
// h2, or in cleartext (h2c) with the bytes HTTP/1.1 read before it saw the
// connection preface.
func (s *Server) serveHTTP2(st *connState, info *app.ConnInfo, nc net.Conn, slot *transport.Slot, ctx context.Context, accepted net.Conn, buffered []byte) {
	st.proto = metrics.HTTP2
	c := http2.NewConn(s.h2cfg, nc, http2.Options{
		Info:     info,
		Draining: &s.draining,
		Context:  ctx,
		Accepted: accepted,
		OnState:  s.ConnState,
		Buffered: buffered,
		Done: func() {
			slot.Release()
			s.connDone(nc)
		},
	})
	if !s.register(nc, st, c) {
		slot.Release()
		nc.Close()
		s.endConn(st)
		s.connClosed(accepted)
		return
	}
	c.Serve()
}

// trackUpgraded keeps an upgraded connection until the handler closes it,
// so Shutdown can wait for it.
func (s *Server) trackUpgraded(uc *http1.UpgradedConn) {
	s.mu.Lock()
	st := s.conns[uc.NetConn()]
	if st != nil {
		st.upgradeOpen = true
	}
	s.upgraded[uc] = st
	s.mu.Unlock()
	var ep *metrics.Endpoint
	if st != nil {
		ep = st.ep
	}
	ep.UpgradedStart()
	uc.OnClose(func() {
		ep.UpgradedStop()
		s.mu.Lock()
		delete(s.upgraded, uc)
		end := st != nil && st.engineDone
		if st != nil {
			st.upgradeOpen = false
		}
		s.checkDone()
		s.mu.Unlock()
		if end {
			s.endConn(st) // a connection lasts until its upgraded life ends
		}
	})
}

// checkDone signals Shutdown when the last connection is gone; s.mu is held.
func (s *Server) checkDone() {
	if len(s.conns) == 0 && len(s.upgraded) == 0 && s.connsDone != nil {
		close(s.connsDone)
		s.connsDone = nil
	}
}

// tick is the heartbeat's: it checks every connection's deadlines.
func (s *Server) tick(now time.Time) {
	n := s.hb.Now()
	s.mu.Lock()
	for _, st := range s.conns {
		st.conn.Tick(n)
	}
	s.mu.Unlock()
	s.returnIdleMemory(now)
	s.observeTick(now)
}

// Returning memory after a burst: at least this many bytes became garbage
// (stacks of goroutines that ended or left idle connections, large head
// buffers given back) since the last time, at most once per interval.
const (
	releaseThreshold = 8 << 20
	releaseInterval  = 10 * time.Second
)

// returnIdleMemory gives memory back to the operating system once a burst
// of connections has gone idle or closed. Their goroutines' stacks and the
// large buffers of their heads are garbage (or idle in pools) now, but the
// Go runtime keeps such memory until a later collection, up to two minutes
// away in a quiet process, and pooled buffers survive one collection; a
// server at the edge is better off returning it once the burst settles.
func (s *Server) returnIdleMemory(now time.Time) {
	n := s.cfg.Released.Load()
	settled := n == s.lastReleased // nothing more since the last tick
	s.lastReleased = n
	if n < releaseThreshold || !settled || now.Sub(s.lastRelease) < releaseInterval {
		return
	}
	s.cfg.Released.Add(-n)
	s.lastReleased = 0
	s.lastRelease = now
	go func() {
		runtime.GC() // pooled buffers move to the pools' victim caches
		debug.FreeOSMemory()
	}()
}

// Addresses returns the bound addresses as URLs, such as
// "http://127.0.0.1:5000" and "http://[::1]:5000". With port 0, they show
// the port that was picked.
func (s *Server) Addresses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.url())
	}
	return append(out, s.quicAddresses()...)
}

// closeListeners closes every listener; s.mu is held.
func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
	s.closeQUIC()
}

// Shutdown stops the server gracefully: it stops accepting, runs the
// functions given to RegisterOnShutdown, closes idle keep-alive
// connections at once, lets in-flight requests finish (their
// responses carry Connection: close) and upgraded connections run until
// their handlers close them, and aborts the connections left when ctx
// ends, logging how many and returning ctx's error then.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	if !s.closed {
		for _, f := range s.onShutdown {
			go f()
		}
	}
	s.closed = true
	s.closeListeners()
	done := make(chan struct{})
	s.connsDone = done
	s.checkDone()
	s.mu.Unlock()
	s.serving.Wait()

	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			s.stopHeartbeat()
			return nil
		case <-ctx.Done():
			if n := s.abortAll(); n > 0 {
				logevents.NotAllConnectionsClosedGracefully(s.cfg.App.Logger, n)
			}
			s.stopHeartbeat()
			return ctx.Err()
		case <-poll.C:
		}
	}
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.conns {
		st.conn.CloseIfIdle()
	}
}

// abortAll aborts every connection left, recording app_shutdown_timeout
// as the reason they ended, and returns how many there were.
func (s *Server) abortAll() int {
	s.mu.Lock()
	conns := make([]engineConn, 0, len(s.conns))
	for _, st := range s.conns {
		st.reason.Force(metrics.AppShutdownTimeout)
		conns = append(conns, st.conn)
	}
	ups := make([]*http1.UpgradedConn, 0, len(s.upgraded))
	n := len(conns)
	for uc, st := range s.upgraded {
		if st != nil {
			st.reason.Force(metrics.AppShutdownTimeout)
		}
		if st == nil || st.engineDone { // else counted among conns
			n++
		}
		ups = append(ups, uc)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Abort()
	}
	for _, uc := range ups {
		uc.Close() // its OnClose takes s.mu
	}
	return n
}

// stopHeartbeat stops the heartbeat and the parker once no connection is
// left to tick or park.
func (s *Server) stopHeartbeat() {
	s.mu.Lock()
	hb := s.hb
	var pk *transport.Parker
	if s.cfg != nil {
		pk = s.cfg.Parker
	}
	m := s.metrics
	s.mu.Unlock()
	if hb != nil {
		hb.Stop()
	}
	if pk != nil {
		pk.Close()
	}
	m.Close()
}

// Close stops the server at once: listeners and connections are closed.
func (s *Server) Close() error {
	s.draining.Store(true)
	s.mu.Lock()
	s.closed = true
	s.closeListeners()
	s.mu.Unlock()
	s.abortAll()
	s.serving.Wait()
	s.stopHeartbeat()
	return nil
}

// Run starts the server, logs "Now listening on: <url>" for each bound
// address, serves until ctx ends, then shuts down gracefully, giving
// in-flight requests ShutdownTimeout to finish.
//
// Run returns an error only when the server cannot start. A shutdown is a
// success even when the timeout aborts requests (Shutdown logs how many
// connections it aborted): as with ASP.NET's host, a server stopped on
// purpose exits cleanly, and a service manager does not record a failure.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	log := s.logger()
	for _, a := range s.Addresses() {
		logevents.ListeningOn(log, a)
	}
	logevents.ApplicationStarted(log)
	<-ctx.Done()
	logevents.ApplicationStopping(log)
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = s.Shutdown(sctx) // only the deadline can end it early; Shutdown logged what it aborted
	return nil
}
