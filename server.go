package kestrel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/metric"

	"github.com/kestrel-go/kestrel/internal/certs"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/http2"
	"github.com/kestrel-go/kestrel/internal/http3"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
	"github.com/kestrel-go/kestrel/internal/workers"
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
// Set its fields before Start or Serve; the zero value serves 404s on
// http://localhost:5000 with Kestrel's limits. A running server's
// configuration changes with Reload, not by setting its fields.
type Server struct {
	// Handler serves requests; nil answers every request with 404 Not Found.
	// A Handler that also implements NativeHandler, such as a
	// grpcserver.Server, is served through ServeKestrel.
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

	// DisableGeneralOptionsHandler, if true, passes "OPTIONS *" requests
	// to the handlers (NativeHandler or Handler), over every protocol.
	// Otherwise the server answers them itself, as http.Server does: 200
	// OK with Content-Length: 0, after reading up to 4 KiB of a request
	// body (a longer one closes an HTTP/1.1 connection after the answer).
	DisableGeneralOptionsHandler bool

	// Logger receives the server's logs. The server's events carry
	// Kestrel's categories, event ids and names as attributes; the ones a
	// client can cause at will, such as a refused connection or a failed
	// TLS handshake, are at Debug level.
	//
	// When Logger and ErrorLog are nil, the logs go to slog.Default() if
	// the program set one with slog.SetDefault; otherwise they are written
	// as logging.NewTextHandler writes them (one line per event, in the
	// shape of Go's log package, a panic's stack on lines of its own) to
	// log.Writer(), standard error unless log.SetOutput changed it, at
	// the level slog.SetLogLoggerLevel set (Info unless changed). For
	// ASP.NET Core's console format, as the kestrel command writes it, set
	//
	//	Logger: slog.New(logging.NewConsoleHandler(os.Stderr, nil))
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
	// default). Reload gives the connections of the endpoints it stops as
	// long.
	ShutdownTimeout time.Duration

	// DrainDelay is how long Shutdown (and so Run and Service.Run on
	// SIGTERM) goes on serving, and accepting, once it is called, before
	// its graceful shutdown: readiness (ReadinessHandler) reports 503 at
	// once, keep-alive HTTP/1.1 responses say Connection: close and
	// HTTP/2 and HTTP/3 connections get a graceful GOAWAY, so that a load
	// balancer stops sending new requests and clients move on before any
	// connection is closed (Caddy's shutdown_delay; a Kubernetes preStop
	// sleep). Zero, the default, shuts down at once. Run gives the
	// shutdown DrainDelay plus ShutdownTimeout; a Shutdown context that
	// ends during the delay cuts it short. A binary upgrade's shutdown
	// (after Handoff) does not wait: the new process accepts on the same
	// sockets, so no client needs to move.
	DrainDelay time.Duration

	// BaseContext, if set, returns the base context of the requests that
	// arrive on a listener, as http.Server's BaseContext; it must not
	// return nil. Cancelling it cancels their contexts. It is called once
	// per listener, on the goroutine of its accept loop, where a panic in
	// it ends the process, as one in http.Server's does.
	BaseContext func(net.Listener) context.Context

	// ConnContext, if set, returns the context of a new connection,
	// derived from ctx: the parent of its requests' contexts, as
	// http.Server's ConnContext. c is the accepted connection, before any
	// TLS handshake. It must not return nil. A panic in it ends the
	// process, as one in http.Server's (called from its accept loop)
	// does: it runs for every connection, before the server can tell
	// anything about it, and is kept free of a recover's cost.
	ConnContext func(ctx context.Context, c net.Conn) context.Context

	// ConnState, if set, is called when a connection changes state, with
	// net/http's states and meaning (HTTP/2 connections are active while
	// they have streams). c is the accepted connection, as for ConnContext.
	// A panic in it closes that connection and is logged as the error
	// ConnStateFailed, in every state (net/http recovers those it reports
	// from a connection's goroutine, StateActive and StateIdle).
	ConnState func(c net.Conn, state http.ConnState)

	// ErrorLog, when set and Logger is not, receives the server's logs, as
	// http.Server's ErrorLog: an entry per event in logging.TextHandler's
	// shape, a panic's stack on the lines after it.
	ErrorLog *log.Logger

	mu        sync.Mutex
	endpoints []endpoint // added in code or by a configuration file
	urls      []endpoint // from UseURLs
	rawURLs   []string
	ports     *portsSetting           // from UsePorts; Start applies them
	urlsKept  []endpoint              // the URLs (or the default URL) Reload binds while the configuration has no endpoints; nil when endpoints from code or systemd serve
	urlsRaw   []string                // as given, for the log
	urlConfig *Config                 // the configuration whose EndpointDefaults the URLs' endpoints take (Config.Apply, Reload)
	spares    []*socket               // opened by others (systemd, the process replaced), not claimed yet
	udpSpares []*udpSocket            // UDP sockets from the process replaced or systemd, not claimed yet
	listeners []*listener             // the endpoints served, in the order they were bound
	others    []*Server               // the program's other servers (Service.Others), which bind errors name
	retiring  map[*listener]bool      // stopped by Reload, finishing their connections
	conns     map[net.Conn]*connState // by the connection the engine serves
	upgraded  map[*http1.UpgradedConn]*connState
	active    activeSettings                 // what Start, then Reload, took from the fields or the configuration
	log       *slog.Logger                   // set by init
	connState func(net.Conn, http.ConnState) // ConnState through callConnState; nil without one; set by init
	metrics   *metrics.Metrics               // nil: none
	altSvc    atomic.Pointer[altSvcTable]    // the Alt-Svc values of the endpoints that serve HTTP/3
	rejected  logevents.Tally                // connections refused by the limit, for the summary
	counter   *transport.Counter             // MaxConcurrentConnections: its siblings count each socket's connections
	upgrades  *transport.Counter             // MaxConcurrentUpgradedConnections
	parker    *transport.Parker              // nil where there is none
	workers   *workers.Pool                  // the goroutines of HTTP/2 and HTTP/3 streams
	hb        *heartbeat.Heartbeat
	closed    bool           // Shutdown or Close was called
	aborted   bool           // Close was called, or Shutdown has finished
	handedOff bool           // Handoff gave the sockets to another process
	passed    []*socket      // the sockets Handoff gave: their Unix files are the new process's
	stopped   chan struct{}  // closed once Close was called or a Shutdown finished (see stoppedChan)
	state     atomic.Int32   // a ServerState, for the health checks
	delayDone chan struct{}  // closed once Shutdown's drain delay is over; nil before it
	preConfig *configFields  // the fields before the first Config.Apply, for Reload
	reloadMu  sync.Mutex     // serializes Start, Reload and Handoff
	serving   sync.WaitGroup // accept loops
	draining  sync.WaitGroup // Reload's drains of the endpoints it stopped

	lastRelease  time.Time // of idle memory; only the heartbeat touches these
	lastReleased int64

	onShutdown    []func()
	onDraining    []func()
	acme          acmeSet // automatic HTTPS: the ACME configurations' managers
	stapleMu      sync.Mutex
	stapling      map[*certs.Reloader]bool // guarded by stapleMu: the certificate files whose OCSP responses are stapled
	keepAlivesOff atomic.Bool

	// For the status page (StatusHandler); guarded by mu.
	statusWanted bool      // count for it from Start
	startedAt    time.Time // when Start succeeded
	drainEnd     time.Time // when the drain delay ends: DrainDelay after it began, or Shutdown's deadline if sooner
}

// listener is an endpoint served on a socket, with its connections.
type listener struct {
	sock  *socket       // TCP; nil for an HTTP/3-only endpoint
	quic  *quicListener // HTTP/3 over UDP; nil for an endpoint without it
	ep    endpoint
	tls   *tlsEndpoint  // nil for cleartext
	cfg   *http1.Config // for new connections; s.mu
	h2cfg *http2.Config // for new HTTP/2 connections; s.mu
	h3cfg *http3.Config // for new HTTP/3 connections; s.mu

	// Stopping the listener sets closing, which makes every response say
	// Connection: close, then draining, which connections poll: they end
	// after the request in flight, and those waiting for one are closed.
	closing  atomic.Bool
	draining atomic.Bool
	// delaying is set while Shutdown's DrainDelay runs: a response with
	// requests pipelined behind it does not say Connection: close then,
	// so that each request the client sent is answered.
	delaying atomic.Bool

	pending sync.WaitGroup // accepted connections not registered yet

	// onWay holds the TCP connections on their way (see enterWay), for
	// Close and an expired Shutdown to close: a PROXY header, connection
	// middleware or TLS handshake may wait on the client.
	wayMu sync.Mutex
	onWay map[*connState]struct{}
}

// url is the listener's address as a URL, with the port that was bound.
func (l *listener) url() string {
	if l.sock == nil {
		return addrURL(l.ep, l.quic.sock.Addr())
	}
	return addrURL(l.ep, l.sock.Addr())
}

// addrURL is the address bound for ep as a URL.
func addrURL(ep endpoint, addr net.Addr) string {
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
			// A link-local address's zone, without which no client
			// reaches it, as RFC 6874 writes it in a URL: "%25" and the
			// zone (fe80::1%25eth0). A listener's address has none: the
			// zone is the one bound.
			zone := a.Zone
			if h, _, err := net.SplitHostPort(ep.address); zone == "" && err == nil {
				if ip, err := netip.ParseAddr(h); err == nil && ip.Zone() != "" && net.IP(ip.AsSlice()).Equal(a.IP) {
					zone = ip.Zone()
				}
			}
			if zone != "" {
				zone = "%25" + url.PathEscape(zone)
			}
			host = "[" + a.IP.String() + zone + "]"
		}
		return ep.scheme + "://" + host + ":" + strconv.Itoa(a.Port)
	case *net.UnixAddr:
		return ep.scheme + "://unix:" + a.Name
	default:
		return ep.scheme + "://" + a.String()
	}
}

// activeSettings are what a started server takes from its fields (Start), or
// from a configuration over the fields set in code (Reload).
type activeSettings struct {
	limits          Limits // with the defaults filled in
	serverHeader    bool
	defaultHTTPS    *HTTPS
	socketMode      fs.FileMode
	shutdownTimeout time.Duration
	drainDelay      time.Duration
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

// ListenSystemd takes the listening sockets passed by systemd socket
// activation (LISTEN_PID and LISTEN_FDS) and reports how many there were.
// An endpoint added in code or by a configuration file whose address is
// that of one of these sockets serves it instead of binding its own, with
// its options: "https://*:443" serves HTTPS on the socket of
// ListenStream=443, and, if it serves HTTP/3, takes the UDP socket of
// ListenDatagram=443 instead of binding its own. Start serves the
// listening sockets no endpoint takes as HTTP endpoints of their own, and
// closes the UDP ones no endpoint takes. As endpoints added in code, the
// sockets take precedence over URLs given to UseURLs, which are not bound.
func (s *Server) ListenSystemd() (int, error) {
	ls, pcs, unused := systemdListeners()
	for _, u := range unused {
		logevents.General(s.logger(), slog.LevelWarn, "SystemdSocketUnused", "Closing "+u+", passed by systemd socket activation: the server serves listening (ListenStream=) and UDP (ListenDatagram=) sockets only.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, l := range ls {
			l.Close()
		}
		for _, pc := range pcs {
			pc.Close()
		}
		return 0, ErrServerClosed
	}
	for _, l := range ls {
		s.spares = append(s.spares, &socket{Listener: l, systemd: true})
	}
	for _, pc := range pcs {
		s.udpSpares = append(s.udpSpares, newUDPSocket(pc))
	}
	return len(ls) + len(pcs), nil
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
		closeInherited(eps) // the server took ownership of ep.File
		return ErrServerClosed
	}
	s.endpoints = append(s.endpoints, eps...)
	return nil
}

// closeInherited closes the inherited sockets (ListenFile) of endpoints
// that were never bound.
func closeInherited(eps []endpoint) {
	for _, ep := range eps {
		if ep.ln != nil {
			ep.ln.Close()
		}
	}
}

// UseURLs sets URL prefixes from a flag or an environment variable
// (semicolon-separated, as in --urls and KESTREL_URLS). As in Kestrel,
// they are used only when no endpoint was added in code or by a
// configuration file; otherwise Start logs a warning naming them. The
// rule holds through Server.Reload: a configuration that adds the first
// endpoints stops the URLs (with the same warning), and one that removes
// the last binds them again, so that a reload serves what a restart with
// the same file would.
func (s *Server) UseURLs(urls string) error {
	var eps []endpoint
	var raw []string
	seen := make(map[string]bool) // by foldKey: a lookup, not a scan of raw (n URLs cost n²)
	for _, u := range strings.Split(urls, ";") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		k := foldKey(u)
		if seen[k] {
			return fmt.Errorf("kestrel: URL %q is listed twice; list each URL once", u)
		}
		seen[k] = true
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

// foldKey returns a key that two strings share exactly when
// strings.EqualFold finds them equal: each rune becomes the least rune of
// its case-folding orbit (unicode.SimpleFold's).
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// init prepares what every connection shares. s.mu is held.
func (s *Server) init() error {
	if s.hb != nil {
		return nil
	}
	active, err := s.configFields().settings()
	if err != nil {
		return err
	}
	log := s.Logger
	if log == nil && s.ErrorLog != nil {
		log = errorLogger(s.ErrorLog)
	}
	if log == nil {
		log = defaultLogger()
	}
	m, err := s.newMetrics()
	if err != nil {
		return err
	}
	s.active, s.log, s.metrics = active, log, m
	if s.ConnState != nil {
		s.connState = s.callConnState
	}
	s.conns = make(map[net.Conn]*connState)
	s.upgraded = make(map[*http1.UpgradedConn]*connState)
	s.retiring = make(map[*listener]bool)
	s.counter = transport.NewCounter(active.limits.MaxConcurrentConnections)
	s.upgrades = transport.NewCounter(upgradeMax(active.limits.MaxConcurrentUpgradedConnections))
	var hb *heartbeat.Heartbeat
	hb = heartbeat.New(func(now time.Time) { s.tick(hb, now) })
	s.hb = hb
	s.workers = new(workers.Pool)
	if pk, err := transport.NewParker(); err == nil {
		s.parker = pk
	} else if runtime.GOOS == "linux" {
		logevents.General(log, slog.LevelWarn, "ParkerUnavailable", "Idle connections keep a goroutine each: the connection parker did not start: "+err.Error())
	}
	s.hb.Start()
	return nil
}

// uninit undoes init on a server that serves nothing, and returns the
// function that stops what init started, to be called once s.mu is
// released. s.mu is held.
func (s *Server) uninit() func() {
	hb, pk, w, m := s.hb, s.parker, s.workers, s.metrics
	s.hb, s.parker, s.workers, s.metrics = nil, nil, nil, nil
	return func() {
		hb.Stop()
		w.Close()
		if pk != nil {
			pk.Close()
		}
		m.Close()
	}
}

func (s *Server) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	if s.Logger != nil {
		return s.Logger
	}
	return defaultLogger()
}

// goDefaultHandler is the handler of slog.Default() before any program
// code could call slog.SetDefault.
var goDefaultHandler = slog.Default().Handler()

// defaultLogger is the logger of a server without Logger or ErrorLog:
// slog.Default() when the program set one, otherwise readable lines (see
// logging.TextHandler) on log's output at log's minimum slog level.
func defaultLogger() *slog.Logger {
	d := slog.Default()
	if d.Handler() != goDefaultHandler {
		return d
	}
	level := logging.LevelCritical
	for _, l := range []slog.Level{logging.LevelTrace, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if d.Enabled(context.Background(), l) {
			level = l
			break
		}
	}
	return slog.New(logging.NewTextHandler(log.Writer(), &logging.Options{
		Level:           level,
		TimestampFormat: "2006/01/02 15:04:05",
	}))
}

// Start binds every endpoint (http://localhost:5000 when there is none)
// and serves them in the background. If any endpoint cannot be bound, none
// is kept and the error names its URL. Endpoints with HTTPS.ACME get
// their certificates (from storage, or from the CA) before Start
// returns; if they cannot, the server is closed and the error says why.
func (s *Server) Start() error {
	if err := s.start(); err != nil {
		s.dropUnstartedACME()
		return err
	}
	s.syncStapling()
	if err := s.startACME(); err != nil {
		s.Close()
		return err
	}
	// Ready only now: while the ACME certificates are obtained, the
	// endpoints listen (HTTP-01 is answered) but the HTTPS ones have no
	// certificate to serve.
	s.mu.Lock()
	if s.state.CompareAndSwap(int32(StateStarting), int32(StateReady)) {
		s.startedAt = time.Now()
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) start() (err error) {
	var stopInit func()
	defer func() {
		if stopInit != nil {
			stopInit() // once s.mu is released: the heartbeat's tick takes it
		}
	}()
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping() {
		return ErrServerClosed
	}
	fresh := s.hb == nil
	if err := s.init(); err != nil {
		return err
	}
	defer func() {
		// A server that could not start runs nothing, as if Start had not
		// been called: dropped without Close, it leaks nothing, and
		// Start can be tried again.
		if err != nil && fresh && len(s.listeners) == 0 {
			stopInit = s.uninit()
		}
	}()
	eps := s.endpoints
	systemd := slices.ContainsFunc(s.spares, func(sk *socket) bool { return sk.systemd })
	// The URLs (or the default URL) serve when nothing else is configured:
	// not while endpoints from code or systemd's sockets serve, which stay,
	// and not while the configuration has endpoints, which Reload may add
	// or remove (it then binds or stops the URLs by the same rule).
	s.applyPorts()
	fallback, fallbackRaw := s.urls, s.rawURLs
	if len(fallback) == 0 && len(s.listeners) == 0 {
		fallback, _ = Endpoint{URL: DefaultURL}.resolve()
		fallbackRaw = nil
	}
	for i := range fallback {
		fallback[i].fromURLs = true
	}
	pinned := systemd || slices.ContainsFunc(eps, func(ep endpoint) bool { return !ep.fromConfig })
	switch {
	case (len(eps) > 0 || systemd) && len(fallbackRaw) > 0:
		s.logOverriding(fallbackRaw)
	case len(eps) == 0 && !systemd:
		var err error
		if eps, err = s.urlConfig.urlEndpoints(fallback); err != nil {
			return err
		}
	}
	served := make([]endpoint, 0, len(s.listeners)+len(eps))
	for _, l := range s.listeners {
		served = append(served, l.ep)
	}
	if err := checkSchemes(append(served, eps...)); err != nil {
		return err
	}
	if err := s.buildTLS(eps, s.active.defaultHTTPS); err != nil {
		return err
	}
	if err := checkDefaultCertificate(s.active.defaultHTTPS); err != nil {
		return err
	}
	bound, err := s.bindAll(eps, &s.spares, &s.udpSpares, s.active.socketMode)
	if err != nil {
		return err
	}
	for _, sk := range s.spares {
		if sk.systemd {
			bound = append(bound, systemdListener(sk))
			continue
		}
		logevents.General(s.log, slog.LevelInfo, "InheritedSocketUnused", "Closing the inherited socket "+sk.Addr().String()+": no endpoint listens on it.")
		if u, ok := sk.Listener.(*net.UnixListener); ok {
			// Its endpoint is gone from this process's configuration:
			// its file goes, as Reload removes a dropped endpoint's.
			u.SetUnlinkOnClose(true)
		}
		sk.Close()
	}
	for _, us := range s.udpSpares {
		logevents.General(s.log, slog.LevelInfo, "InheritedSocketUnused", "Closing the inherited UDP socket "+us.pc.LocalAddr().String()+": no endpoint serves HTTP/3 on it.")
		us.close()
	}
	s.spares, s.udpSpares = nil, nil
	s.endpoints, s.urls, s.rawURLs = nil, nil, nil
	if !pinned {
		s.urlsKept, s.urlsRaw = fallback, fallbackRaw // for Reload
	}
	for _, l := range bound {
		s.open(l)
	}
	s.listeners = append(s.listeners, bound...)
	s.publishAltSvc()
	return nil
}

// logOverriding says that endpoints from code, systemd or the
// configuration are bound instead of the URLs, as Kestrel does.
func (s *Server) logOverriding(raw []string) {
	logevents.General(s.log, slog.LevelWarn, "OverridingAddresses", "Overriding address(es) '"+strings.Join(raw, ";")+"'. Binding to endpoints defined in code or the configuration file instead.")
}

// checkSchemes refuses HTTP and HTTPS on one TCP socket (the same port
// on the same address, or on every address), two endpoints on one TCP or
// UDP socket (unless both set ReusePort), and two endpoints on one Unix
// socket: the second would find each in use by the first, and its error
// would blame another process.
func checkSchemes(eps []endpoint) error {
	// Each endpoint is checked against what the earlier ones on its port
	// have bound, indexed by what decides a clash (scheme, transports,
	// ReusePort), or on its Unix socket, in maps: not against every
	// earlier endpoint, which made n endpoints cost n².
	bound := make(map[socketClass]*portSockets)
	byPath := make(map[string]int)
	for i := range eps {
		a := &eps[i]
		switch {
		case a.network == "unix":
			path := filepath.Clean(a.address)
			if j, ok := byPath[path]; ok {
				return fmt.Errorf("kestrel: %s and %s use the same Unix socket %s; give each its own path", eps[j].named(), a.named(), path)
			}
			byPath[path] = i
		case a.port > 0:
			own := classOf(a)
			j := -1
			for _, c := range own.neighbours() {
				if !own.clashes(c) {
					continue
				}
				if k, ok := bound[c].conflict(*a); ok && (j < 0 || k < j) {
					j = k
				}
			}
			switch {
			case j < 0:
			case eps[j].scheme != a.scheme:
				return fmt.Errorf("kestrel: %s and %s use port %d for both HTTP and HTTPS; give each its own port", eps[j].named(), a.named(), a.port)
			default:
				return fmt.Errorf("kestrel: %s and %s both listen on port %d of the same address (or one of them on every address); give each its own port, or remove one", eps[j].named(), a.named(), a.port)
			}
			if bound[own] == nil {
				bound[own] = &portSockets{first: -1, byAddress: make(map[string]int), anyIP: -1, tcp4: -1, every4: -1}
			}
			bound[own].add(i, *a)
		}
	}
	return nil
}

// socketClass is what, besides the address, decides whether two
// endpoints of one port clash: their schemes, whether each binds a TCP
// socket (all but HTTP/3-only ones) and a UDP one (HTTP/3), and
// ReusePort.
type socketClass struct {
	port      int
	scheme    string
	tcp, udp  bool
	reusePort bool
}

func classOf(ep *endpoint) socketClass {
	return socketClass{port: ep.port, scheme: ep.scheme, tcp: ep.opts.Protocols != HTTP3, udp: ep.servesHTTP3(), reusePort: ep.opts.ReusePort}
}

// neighbours returns every class of c's port.
func (c socketClass) neighbours() (all [16]socketClass) {
	for i := range all {
		all[i] = socketClass{port: c.port, scheme: [2]string{"http", "https"}[i/8], tcp: i&1 != 0, udp: i&2 != 0, reusePort: i&4 != 0}
	}
	return all
}

// clashes reports whether endpoints of classes c and o on one address
// and port clash: they bind one TCP or one UDP socket, and serve HTTP
// beside HTTPS on it, or do not both set ReusePort. (An HTTP/3-only
// endpoint binds UDP alone, beside a TCP one.)
func (c socketClass) clashes(o socketClass) bool {
	return (c.tcp && o.tcp || c.udp && o.udp) && (c.scheme != o.scheme || !(c.reusePort && o.reusePort))
}

// portSockets indexes the TCP endpoints of one port and scheme by what
// decides whether two need the same socket (the same address, or every
// address: one of them binds [::] or 0.0.0.0; different addresses on one
// port are different sockets, as Kestrel binds them): for each kind, the
// index of the first one.
type portSockets struct {
	first     int // -1: none
	byAddress map[string]int
	anyIP     int // -1: none
	tcp4      int // network tcp4
	every4    int // tcp4 on 0.0.0.0
}

// every4 reports an IPv4 endpoint on every address.
func every4(e endpoint) bool { return e.network == "tcp4" && strings.HasPrefix(e.address, "0.0.0.0:") }

func (p *portSockets) add(i int, e endpoint) {
	if p.first < 0 {
		p.first = i
	}
	if _, ok := p.byAddress[e.address]; !ok {
		p.byAddress[e.address] = i
	}
	if e.anyIP && p.anyIP < 0 {
		p.anyIP = i
	}
	if e.network == "tcp4" && p.tcp4 < 0 {
		p.tcp4 = i
	}
	if every4(e) && p.every4 < 0 {
		p.every4 = i
	}
}

// conflict returns the first endpoint of p that needs the same socket as
// e, if any; p may be nil.
func (p *portSockets) conflict(e endpoint) (int, bool) {
	if p == nil {
		return 0, false
	}
	if e.anyIP {
		return p.first, true // every endpoint of the port
	}
	j := -1
	earliest := func(k int) {
		if k >= 0 && (j < 0 || k < j) {
			j = k
		}
	}
	if k, ok := p.byAddress[e.address]; ok {
		earliest(k)
	}
	earliest(p.anyIP)
	if every4(e) {
		earliest(p.tcp4)
	}
	if e.network == "tcp4" {
		earliest(p.every4)
	}
	return j, j >= 0
}

// buildTLS builds the TLS configuration of every https endpoint: one for
// each Endpoint, shared by the sockets it resolved to (the two loopbacks
// of localhost), never shared between Endpoints, even with the same URL.
// Endpoints without a certificate of their own use def, then the
// development certificate.
func (s *Server) buildTLS(eps []endpoint, def *HTTPS) error {
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
		name := ep.url
		if ep.origin != "" {
			name = ep.origin + " (" + ep.url + ")"
		}
		h := ep.opts.HTTPS
		if h == nil || h.defaultCertificate {
			def, ownSNI := def, h != nil && len(h.SNI) > 0
			if ownSNI && def != nil && def.ACME != nil {
				for _, host := range slices.Sorted(maps.Keys(h.SNI)) {
					if e := h.SNI[host]; e.Certificate == nil && e.CertificateFile == "" {
						return fmt.Errorf("kestrel: %s: SNI entry %q has no certificate, and the default one comes from ACME (Kestrel:Acme, Server.DefaultHTTPS), which serves the names of its Domains, not an SNI entry's; give the entry a certificate", name, host)
					}
				}
			}
			if def == nil {
				var err error
				if def, err = devCertificate(name); err != nil {
					return err
				}
				logevents.General(s.log, slog.LevelInfo, "UsingDevelopmentCertificate", "Using the development certificate for "+ep.url+".")
			}
			if h == nil {
				h = def
			} else {
				// The endpoint's options with the default certificate.
				merged := *h
				merged.Certificate, merged.CertificateFile, merged.KeyFile, merged.Password = def.Certificate, def.CertificateFile, def.KeyFile, def.Password
				merged.DisableOCSPStapling = merged.DisableOCSPStapling || def.DisableOCSPStapling
				if !ownSNI {
					merged.SNI, merged.ServerCertificateSelector, merged.ACME = def.SNI, def.ServerCertificateSelector, def.ACME
				}
				// else the endpoint's SNI entries without a certificate
				// take the default one, as they take an endpoint's own.
				if len(merged.SessionTicketKeyFiles) == 0 {
					merged.SessionTicketKeyFiles = def.SessionTicketKeyFiles
				}
				h = &merged
			}
			if def.origin != "" && !ownSNI {
				// What fails is the default certificate: its key is the one
				// to fix. (With SNI entries, it may be an entry's file,
				// which the error names.)
				name = def.origin + " (for " + name + ")"
			}
		}
		var te *tlsEndpoint
		var err error
		if h.ACME != nil {
			te, err = s.acmeEndpoint(name, h, ep.opts.Protocols)
		} else {
			te, err = h.build(name, s.log.With(logging.Category(logevents.CategoryKestrel)), ep.opts.Protocols)
		}
		if err != nil {
			return err
		}
		ep.tls = te
		built[ep.from] = te
	}
	return nil
}

// checkDefaultCertificate loads the default certificate of a
// configuration file (Kestrel:Certificates:Default), used by an https
// endpoint or not: Kestrel loads it at start, so that a broken one is an
// error now rather than at the first reload or port setting that adds an
// https endpoint.
func checkDefaultCertificate(def *HTTPS) error {
	if def == nil || def.origin == "" || def.CertificateFile == "" {
		return nil
	}
	if _, err := certs.Load(certs.Spec{Path: def.CertificateFile, KeyPath: def.KeyFile, Password: def.Password}); err != nil {
		return fmt.Errorf("kestrel: %s: %w", def.origin, err)
	}
	return nil
}

// bindAll binds every endpoint, or none: its TCP socket and, for HTTP/3,
// its UDP socket. An endpoint whose address is that of a socket in pool
// (udpPool) takes that socket instead of binding; Unix sockets without a
// mode of their own get socketMode.
func (s *Server) bindAll(eps []endpoint, pool *[]*socket, udpPool *[]*udpSocket, socketMode fs.FileMode) ([]*listener, error) {
	var bound []*listener
	var claimed []*socket
	var claimedUDP []*udpSocket
	var unlink []*net.UnixListener // claimed sockets whose files become the endpoints'
	fail := func(err error) ([]*listener, error) {
		for _, b := range bound {
			// An inherited socket (ListenFile) stays its endpoint's, for
			// the next try or for Close.
			if b.sock != nil && !slices.Contains(claimed, b.sock) && b.ep.ln == nil {
				b.sock.Close()
			}
			if b.quic != nil && !slices.Contains(claimedUDP, b.quic.sock) {
				b.quic.sock.close()
			}
		}
		*pool = append(*pool, claimed...)
		*udpPool = append(*udpPool, claimedUDP...)
		return nil, err
	}
	// withQUIC binds l's UDP socket when its endpoint asks for HTTP/3.
	withQUIC := func(l *listener, fresh bool) error {
		if l.ep.opts.Protocols&HTTP3 == 0 {
			return nil
		}
		n := len(*udpPool)
		if _, err := s.bindQUIC(l, udpPool, fresh); err != nil {
			return err
		}
		if len(*udpPool) < n {
			claimedUDP = append(claimedUDP, l.quic.sock)
		}
		return nil
	}
	for i := range eps {
		ep := &eps[i]
		if ep.nameHost != "" {
			s.log.Warn("Binding " + ep.url + " to every network interface: " + strconv.Quote(ep.nameHost) +
				" is not an IP address or localhost. To listen on one interface, use its IP address; to listen on all of them, write * as the host.")
		}
		if ep.network == "unix" && ep.opts.UnixSocketMode == 0 {
			ep.opts.UnixSocketMode = socketMode
		}
		if ep.opts.Protocols == HTTP3 {
			l, err := s.bindQUICOnly(ep, udpPool, &claimedUDP)
			if err != nil {
				return fail(err)
			}
			if l != nil {
				bound = append(bound, l)
			}
			continue
		}
		if sk := claim(pool, ep); sk != nil {
			claimed = append(claimed, sk)
			l := &listener{sock: sk, ep: *ep, tls: ep.tls}
			bound = append(bound, l)
			if u, ok := sk.Listener.(*net.UnixListener); ok && !sk.systemd {
				// The endpoint's file, as if it had bound it (systemd's
				// stays systemd's), once every endpoint is bound: should
				// one fail, the socket goes back to its owner, the process
				// this one was to replace, which still serves it.
				unlink = append(unlink, u)
			}
			// systemd's file keeps the permissions of its unit's SocketMode=.
			if ep.network == "unix" && ep.opts.UnixSocketMode != 0 && !sk.systemd {
				if err := os.Chmod(ep.address, ep.opts.UnixSocketMode); err != nil {
					return fail(fmt.Errorf("kestrel: %s: set socket file mode: %w", ep.url, err))
				}
			}
			if err := withQUIC(l, false); err != nil {
				return fail(err)
			}
			continue
		}
		ln, err := ep.bind()
		if err != nil && ep.anyIP && !transport.IsAddrInUse(err) {
			// No IPv6: every IPv4 address instead.
			v4 := *ep
			v4.network, v4.address = "tcp4", "0.0.0.0:"+strconv.Itoa(ep.port)
			if ln, err = v4.bind(); err == nil {
				ep = &v4
			}
		}
		if err != nil {
			if ep.localhost && !transport.IsAddrInUse(err) && !errors.Is(err, os.ErrPermission) {
				// A loopback this machine lacks (often ::1); a refused
				// port fails on both, and is an error.
				logevents.General(s.log, slog.LevelWarn, "UnableToBindLoopback", "Unable to bind to "+ep.url+" on the "+ep.address+" loopback interface: '"+err.Error()+"'.")
				continue
			}
			if held := heldPort(*pool, ep, eps[i+1:]); held != "" && transport.IsAddrInUse(err) {
				return fail(heldPortError(ep, held))
			}
			return fail(s.bindError(ep, err))
		}
		l := &listener{sock: &socket{Listener: ln}, ep: *ep, tls: ep.tls}
		bound = append(bound, l)
		if err := withQUIC(l, true); err != nil {
			return fail(err)
		}
	}
	if len(bound) == 0 && len(eps) > 0 {
		return nil, fmt.Errorf("kestrel: failed to bind to %s: no loopback interface could be bound", eps[0].url)
	}
	for _, u := range unlink {
		u.SetUnlinkOnClose(true)
	}
	return bound, nil
}

// bindQUICOnly binds the UDP socket of an HTTP/3-only endpoint, or takes
// the one in udpPool at its address, recording it in claimed. A loopback
// the machine lacks gives nil and a warning.
func (s *Server) bindQUICOnly(ep *endpoint, udpPool *[]*udpSocket, claimed *[]*udpSocket) (*listener, error) {
	l := &listener{ep: *ep, tls: ep.tls}
	n := len(*udpPool)
	_, err := s.bindQUIC(l, udpPool, false)
	if err != nil && ep.anyIP && !transport.IsAddrInUse(err) {
		// No IPv6: every IPv4 address instead, as for TCP.
		l.ep.network, l.ep.address = "tcp4", "0.0.0.0:"+strconv.Itoa(ep.port)
		_, err = s.bindQUIC(l, udpPool, false)
	}
	if err != nil && ep.localhost && !transport.IsAddrInUse(err) {
		logevents.General(s.log, slog.LevelWarn, "UnableToBindLoopback", "Unable to bind to "+ep.url+" on the "+ep.address+" loopback interface: '"+err.Error()+"'.")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(*udpPool) < n {
		*claimed = append(*claimed, l.quic.sock)
	}
	return l, nil
}

// named returns the endpoint's URL for an error, followed by the file
// and key of an endpoint from a configuration.
func (ep endpoint) named() string {
	if ep.origin != "" {
		return ep.url + " (" + ep.origin + ")"
	}
	return ep.url
}

// bindError explains why ep could not be bound, and what to do.
func (s *Server) bindError(ep *endpoint, err error) error {
	url := ep.named()
	switch {
	case transport.IsAddrInUse(err):
		if held := s.otherServerAt(ep); held != "" {
			return &wrapped{msg: fmt.Sprintf("kestrel: failed to bind to %s: address %s already in use by this program's other server, which listens on %s; give each its own port", url, ep.address, held), err: err}
		}
		return &wrapped{msg: fmt.Sprintf("kestrel: failed to bind to %s: address %s already in use (is another server running on port %d?)", url, ep.address, ep.port), err: err}
	case errors.Is(err, os.ErrPermission) && ep.port > 0 && ep.port < 1024:
		return fmt.Errorf("kestrel: failed to bind to %s: %w: ports below 1024 need privileges; "+
			"run as root, give the program the capability (sudo setcap cap_net_bind_service=+ep /path/to/program), "+
			"listen on a port from 1024 up behind a proxy such as nginx, or let systemd open the socket (socket activation)", url, err)
	case errors.Is(err, os.ErrPermission) && ep.network == "unix":
		return fmt.Errorf("kestrel: failed to bind to %s: %w: the user cannot create %s; use a directory it may write to (systemd's RuntimeDirectory=, for example /run/app/)", url, err, ep.address)
	case errors.Is(err, fs.ErrNotExist) && ep.network == "unix":
		return fmt.Errorf("kestrel: failed to bind to %s: %w: the folder %s does not exist; create it first (systemd's RuntimeDirectory= creates one, such as /run/app/), or choose a path in an existing folder", url, err, filepath.Dir(ep.address))
	case errors.Is(err, syscall.ENOTDIR) && ep.network == "unix":
		return fmt.Errorf("kestrel: failed to bind to %s: %w: a part of the path %s is a file, not a folder; choose a path in an existing folder", url, err, filepath.Dir(ep.address))
	}
	if host, _, serr := net.SplitHostPort(ep.address); serr == nil && strings.HasPrefix(ep.network, "tcp") {
		if transport.IsAddrNotAvail(err) {
			return fmt.Errorf("kestrel: failed to bind to %s: %w: %s is not an address of this machine; use one of its addresses (see ip addr), localhost, or * for every address", url, err, host)
		}
		if ip, perr := netip.ParseAddr(host); perr == nil && ip.Is6() && ip.IsLinkLocalUnicast() {
			// Linux refuses fe80::/10 without a zone, or with the name of
			// an interface it does not have (EINVAL, ENODEV).
			if zone := ip.Zone(); zone != "" && !hasInterface(zone) {
				return fmt.Errorf("kestrel: failed to bind to %s: %w: %s is a link-local address, and this machine has no interface %s: use the zone of the interface that has it, as in http://[%s%%eth0]:%d (see ip -6 addr), or listen on * for every address", url, err, host, zone, ip.WithZone(""), ep.port)
			}
			return fmt.Errorf("kestrel: failed to bind to %s: %w: %s is a link-local address, which exists on one interface only: "+
				"add the zone of the interface that has it, as in http://[fe80::1%%eth0]:%d (see ip -6 addr), or listen on * for every address", url, err, host, ep.port)
		}
	}
	return fmt.Errorf("kestrel: failed to bind to %s: %w", url, err)
}

// hasInterface reports whether this machine has the network interface a
// zone names, by name (eth0) or index (2).
func hasInterface(zone string) bool {
	if _, err := net.InterfaceByName(zone); err == nil {
		return true
	}
	n, err := strconv.Atoi(zone)
	if err != nil {
		return false
	}
	_, err = net.InterfaceByIndex(n)
	return err == nil
}

// otherServerAt returns the URL of an endpoint of one of the program's
// other servers (Service.Others) whose TCP socket overlaps ep's: the same
// port on the same address, or one of them on every address; "" if none.
func (s *Server) otherServerAt(ep *endpoint) string {
	if !strings.HasPrefix(ep.network, "tcp") || ep.port <= 0 {
		return ""
	}
	host, _, _ := net.SplitHostPort(ep.address)
	ip := net.ParseIP(host)
	for _, o := range s.others {
		if o == s {
			continue
		}
		o.mu.Lock()
		for _, l := range o.listeners {
			if l.sock == nil {
				continue
			}
			a, ok := l.sock.Addr().(*net.TCPAddr)
			if ok && a.Port == ep.port && (ep.anyIP || ip == nil || ip.IsUnspecified() || a.IP.IsUnspecified() || ip.Equal(a.IP)) {
				url := l.url()
				o.mu.Unlock()
				return url
			}
		}
		o.mu.Unlock()
	}
	return ""
}

// heldPort returns the URL of the endpoint that serves a socket of pool
// on ep's TCP port and that Reload stops (none of the endpoints still to
// bind, rest, takes it over), or "" when there is none: the operating
// system refuses ep an overlapping address (* over 127.0.0.1, or the
// reverse) while that socket listens.
func heldPort(pool []*socket, ep *endpoint, rest []endpoint) string {
	if !strings.HasPrefix(ep.network, "tcp") || ep.port <= 0 {
		return ""
	}
	for _, sk := range pool {
		a, ok := sk.Addr().(*net.TCPAddr)
		if !ok || sk.systemd || a.Port != ep.port || slices.ContainsFunc(rest, func(r endpoint) bool { return r.boundTo(a) }) {
			continue
		}
		sk.mu.Lock()
		l := sk.l
		sk.mu.Unlock()
		if l == nil {
			return sk.Addr().String()
		}
		return l.url()
	}
	return ""
}

// heldPortError explains a reload's bind of ep refused because this
// server holds the port with held, an endpoint the reload stops: Reload
// binds the new endpoints before it stops the old ones, so that a refused
// bind changes nothing.
func heldPortError(ep *endpoint, held string) error {
	return fmt.Errorf("kestrel: failed to bind to %s: port %d is held by this server's endpoint %s, "+
		"which this configuration stops, and the operating system refuses an overlapping address on it while it listens; "+
		"the server goes on as it was. Make the change in two reloads: first without the endpoint on port %d, then with %s "+
		"(the port refuses connections in between), or restart the server", ep.named(), ep.port, held, ep.port, ep.url)
}

// open starts serving l, with the protocol configuration of the active
// settings: a new socket starts its accept loop; a socket that served
// another listener switches to l and returns the other, which no longer
// gets connections. s.mu is held.
func (s *Server) open(l *listener) (prev *listener) {
	l.cfg, l.h2cfg, l.h3cfg = s.protocolConfig(l, s.active)
	if l.quic != nil {
		prev = s.openQUIC(l.quic)
	}
	sk := l.sock
	if sk == nil {
		return prev
	}
	if sk.conns == nil {
		sk.conns = s.counter.Sibling()
	}
	sk.mu.Lock()
	if sk.l != nil {
		prev = sk.l
	}
	sk.l = l
	sk.mu.Unlock()
	if sk.done == nil {
		sk.done = make(chan struct{})
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			defer close(sk.done)
			s.acceptLoop(sk)
		}()
	}
	return prev
}

// Serve serves connections accepted from l until Shutdown or Close, which
// close l; it then returns ErrServerClosed. The server is ready (see
// State) from then on. Once Shutdown has begun (its DrainDelay included),
// Serve returns ErrServerClosed at once, as Start does. As
// http.Server.Serve, it always returns a non-nil error and closes l: when
// l's Accept fails (l closed by its owner, say), Serve returns that error,
// l is no longer among the Addresses, and the server goes on serving the
// connections l accepted and its other endpoints.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.stopping() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if err := s.init(); err != nil {
		s.mu.Unlock()
		l.Close()
		return err
	}
	sk := &socket{Listener: l, done: make(chan struct{})}
	ln := &listener{sock: sk, ep: endpoint{scheme: "http", url: l.Addr().String(), port: -1}}
	s.open(ln)
	s.listeners = append(s.listeners, ln)
	if s.state.CompareAndSwap(int32(StateStarting), int32(StateReady)) {
		s.startedAt = time.Now()
	}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	defer close(sk.done)
	err := s.acceptLoop(sk)
	if !sk.stopped.Load() {
		l.Close()
		s.mu.Lock()
		if i := slices.Index(s.listeners, ln); i >= 0 {
			// Its connections are still the server's: Shutdown drains
			// them with those of the endpoints Reload stopped.
			s.listeners = slices.Delete(s.listeners, i, i+1)
			s.retiring[ln] = true
		}
		s.mu.Unlock()
	}
	return err
}

// tick is the heartbeat hb's: it checks every connection's deadlines. A
// heartbeat that uninit took from the server does nothing.
func (s *Server) tick(hb *heartbeat.Heartbeat, now time.Time) {
	s.mu.Lock()
	if s.hb != hb {
		s.mu.Unlock()
		return
	}
	n := hb.Now()
	w, log, counter := s.workers, s.log, s.counter
	var retire, abort []engineConn // past MaxConnectionAge: done once s.mu is released
	for _, st := range s.conns {
		r, a := s.retireAged(st, n)
		if r {
			retire = append(retire, st.conn)
		}
		if a {
			abort = append(abort, st.conn)
		}
		st.conn.Tick(n)
	}
	cfgs := make([]*http1.Config, 0, len(s.listeners)+len(s.retiring))
	for _, l := range s.listeners {
		cfgs = append(cfgs, l.cfg)
	}
	for l := range s.retiring {
		cfgs = append(cfgs, l.cfg)
	}
	s.mu.Unlock()
	endAged(retire, abort)
	w.Trim(n)
	s.returnIdleMemory(now, cfgs)
	s.observeTick(now, log, counter)
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
// cfgs are the protocol configurations in use, which count the bytes.
func (s *Server) returnIdleMemory(now time.Time, cfgs []*http1.Config) {
	var n int64
	for _, cfg := range cfgs {
		n += cfg.Released.Load()
	}
	settled := n == s.lastReleased // nothing more since the last tick
	s.lastReleased = n
	if n < releaseThreshold || !settled || now.Sub(s.lastRelease) < releaseInterval {
		return
	}
	for _, cfg := range cfgs {
		cfg.Released.Swap(0)
	}
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
	return out
}

// stopSockets stops accepting on every socket, and closes the spares no
// endpoint took and the inherited sockets of endpoints never bound. A
// Unix socket file stays when another process took the sockets over
// (Handoff). s.mu is held.
func (s *Server) stopSockets() {
	for _, l := range s.listeners {
		if l.quic != nil {
			l.quic.Close()
		}
		if l.sock == nil {
			continue
		}
		s.keepPassedFile(l.sock)
		l.sock.stop()
	}
	for _, sk := range s.spares {
		sk.Close()
	}
	for _, us := range s.udpSpares {
		us.close()
	}
	s.spares, s.udpSpares = nil, nil
	closeInherited(s.endpoints) // given to a server that never started, or whose Start failed
	s.endpoints = nil
}

// keepPassedFile leaves the file of sk, a Unix socket that Handoff gave
// to a new process, in place when sk closes: the file is the new
// process's. s.mu is held.
func (s *Server) keepPassedFile(sk *socket) {
	if !s.handedOff || !slices.Contains(s.passed, sk) {
		return
	}
	if u, ok := sk.Listener.(*net.UnixListener); ok {
		u.SetUnlinkOnClose(false)
	}
}

// allListeners returns the listeners served and those Reload is stopping.
// s.mu is held.
func (s *Server) allListeners() []*listener {
	ls := slices.Clone(s.listeners)
	for l := range s.retiring {
		ls = append(ls, l)
	}
	return ls
}

// Shutdown stops the server gracefully: it stops accepting, runs the
// functions given to RegisterOnShutdown, closes idle keep-alive
// connections at once, lets in-flight requests finish (their responses
// carry Connection: close) and upgraded connections run until their
// handlers close them, and aborts the connections left when ctx ends,
// logging how many and returning ctx's error then, once they ended or
// after a second more (logging that some did not: their handlers ignore
// their request's context); with none left to abort, it returns nil, as
// http.Server.Shutdown does. Connections accepted just before it began
// are served their first request.
//
// With a DrainDelay, the server's State turns to StateDraining (and its
// ReadinessHandler to 503) at once, and Shutdown goes on serving and
// accepting for the delay, with responses saying Connection: close and
// HTTP/2 and HTTP/3 connections sent a graceful GOAWAY, before it stops
// accepting; ctx ending (or Close) cuts the delay short. Concurrent calls
// wait for the same delay.
//
// After Handoff, Shutdown does not wait the DrainDelay, and idle
// keep-alive connections are closed only once they have been idle for a
// second, so that no client loses a request it sent on one as it was
// closed; see Handoff.
func (s *Server) Shutdown(ctx context.Context) error {
	s.delayDrain(ctx)
	defer s.state.Store(int32(StateStopped))
	s.mu.Lock()
	if !s.closed {
		for _, f := range s.onShutdown {
			go f()
		}
	}
	s.closed = true
	ls := s.allListeners()
	for _, l := range ls {
		// Responses say Connection: close from before the listeners
		// refuse connections: a client that sees the refusal never gets
		// another request of a keep-alive connection served.
		l.closing.Store(true)
	}
	s.stopSockets()
	var idleGrace time.Duration
	if s.handedOff {
		idleGrace = handoffIdleGrace
		s.goAwayHTTP3(ls)
	}
	s.mu.Unlock()
	s.serving.Wait()

	aborted, err := s.drain(ctx, ls, idleGrace, true)
	if aborted > 0 {
		logevents.NotAllConnectionsClosedGracefully(s.logger(), aborted)
		s.waitAborted(ls, true)
	}
	s.mu.Lock()
	s.aborted = true // a connection still on its way is closed
	s.mu.Unlock()
	s.draining.Wait()
	closeUDP(ls)
	s.stopHeartbeat()
	s.markStopped()
	return err
}

// stoppedChan returns a channel closed once Close was called or a Shutdown
// has finished.
func (s *Server) stoppedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stoppedLocked()
}

// markStopped closes the channel of stoppedChan.
func (s *Server) markStopped() {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.stoppedLocked()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// stoppedLocked returns the channel of stoppedChan, made on first use.
// s.mu is held.
func (s *Server) stoppedLocked() chan struct{} {
	if s.stopped == nil {
		s.stopped = make(chan struct{})
	}
	return s.stopped
}

// closeUDP closes the UDP sockets of the listeners ls once the server has
// stopped: each closed once the last of its QUIC connections was done,
// in a goroutine that could run after Shutdown or Close returned, so that
// a server started at once on the same port could not bind it.
func closeUDP(ls []*listener) {
	for _, l := range ls {
		if l.quic != nil {
			l.quic.sock.close()
		}
	}
}

// stopHeartbeat stops the heartbeat and the parker once no connection is
// left to tick or park.
func (s *Server) stopHeartbeat() {
	s.mu.Lock()
	hb, pk, m, w := s.hb, s.parker, s.metrics, s.workers
	s.mu.Unlock()
	if hb != nil {
		hb.Stop()
		w.Close()
	}
	if pk != nil {
		pk.Close()
	}
	s.stopACME()
	s.syncStapling() // the server is closed: stops every stapler
	m.Close()
}

// Close stops the server at once: listeners and connections are closed.
func (s *Server) Close() error {
	s.state.Store(int32(StateStopped))
	s.mu.Lock()
	s.closed, s.aborted = true, true
	s.stopSockets()
	ls := s.allListeners()
	for _, l := range ls {
		l.draining.Store(true)
	}
	s.mu.Unlock()
	s.abort(nil, true)
	s.serving.Wait()
	s.draining.Wait()
	closeUDP(ls)
	s.stopHeartbeat()
	s.markStopped()
	return nil
}

// Run starts the server, logs "Now listening on: <url>" for each bound
// address, serves until ctx ends, then shuts down gracefully, giving
// in-flight requests ShutdownTimeout to finish (after DrainDelay, if set).
// A Shutdown or Close called elsewhere in the program ends it too: Run
// returns nil once Shutdown has finished, or Close was called.
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
	select {
	case <-ctx.Done():
	case <-s.stoppedChan():
		return nil // stopped by Shutdown or Close
	}
	logevents.ApplicationStopping(log)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownDeadline())
	defer cancel()
	_ = s.Shutdown(sctx) // only the deadline can end it early; Shutdown logged what it aborted
	return nil
}

// shutdownTimeout is the ShutdownTimeout in effect: the field's, or the
// configuration's since the last Reload.
func (s *Server) shutdownTimeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active.shutdownTimeout > 0 {
		return s.active.shutdownTimeout
	}
	if s.ShutdownTimeout > 0 {
		return s.ShutdownTimeout
	}
	return DefaultShutdownTimeout
}

// syncStapling starts the OCSP stapling of the certificate files that the
// listeners serve, and stops that of the files no longer served (after a
// Reload, or every one once the server is closed). Each stapler fetches in
// the background: this does not wait for a responder.
func (s *Server) syncStapling() {
	want := map[*certs.Reloader]bool{}
	s.mu.Lock()
	if !s.closed {
		for _, l := range s.listeners {
			if l.tls != nil {
				for _, r := range l.tls.staple {
					want[r] = true
				}
			}
		}
	}
	log := s.log
	s.mu.Unlock()
	s.stapleMu.Lock()
	defer s.stapleMu.Unlock()
	for r := range s.stapling {
		if !want[r] {
			r.StopStapling()
			delete(s.stapling, r)
		}
	}
	for r := range want {
		if !s.stapling[r] {
			if s.stapling == nil {
				s.stapling = map[*certs.Reloader]bool{}
			}
			r.StartStapling(log, nil)
			s.stapling[r] = true
		}
	}
}
