package kestrel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// DefaultURL is where a server listens when no endpoint is configured.
const DefaultURL = "http://localhost:5000"

// ShutdownTimeout is how long Run lets in-flight requests finish when its
// context ends.
const ShutdownTimeout = 30 * time.Second

// ErrServerClosed is returned by Serve, Start and Run after Shutdown or
// Close.
var ErrServerClosed = http.ErrServerClosed

// A Server serves HTTP/1.1 on the endpoints added with Listen and
// ListenURL. Set its fields before Start or Serve; the zero value serves
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

	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	endpoints []endpoint
	listeners []*listener
	conns     map[*http1.Conn]struct{}
	cfg       *http1.Config
	counter   *transport.Counter
	hb        *heartbeat.Heartbeat
	draining  atomic.Bool
	closed    bool
	serving   sync.WaitGroup // accept loops
	connsDone chan struct{}  // closed when the last connection ends during shutdown
}

// endpoint is an address to bind, with the URL it was configured as.
type endpoint struct {
	network, address string
	url              string // as configured, for messages
	scheme           string
	localhost        bool // one of the two loopbacks of "localhost"
}

// listener is a bound endpoint.
type listener struct {
	net.Listener
	scheme string
}

// Listen adds a TCP endpoint "host:port", bound by Start. "localhost"
// binds both 127.0.0.1 and ::1; an empty host, "*" or "+" binds every
// address; port 0 picks a free port, reported by Addresses.
func (s *Server) Listen(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("kestrel: listen address %q: %w (use host:port, such as localhost:5000)", address, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("kestrel: listen address %q: port %q is not a number from 0 to 65535", address, port)
	}
	return s.addEndpoints("http", host, int(p), "http://"+address)
}

// ListenURL adds an endpoint from a URL prefix such as
// "http://localhost:5000", "http://127.0.0.1:0" or "http://[::]:80".
// As in Kestrel, a host that is neither an IP address nor "localhost"
// (a name, "*", "+") binds every address; a missing port means 80.
func (s *Server) ListenURL(rawURL string) error {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return fmt.Errorf("kestrel: URL %q: missing scheme (use a URL such as http://localhost:5000)", rawURL)
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "http":
	case "https":
		return fmt.Errorf("kestrel: URL %q: HTTPS endpoints are not supported by this version; use http://", rawURL)
	default:
		return fmt.Errorf("kestrel: URL %q: unsupported scheme %q (use http://)", rawURL, scheme)
	}
	hostport, path, _ := strings.Cut(rest, "/")
	if path != "" {
		return fmt.Errorf("kestrel: URL %q: a path base is not supported; give the URL without a path (http://host:port) and route the path in the handler", rawURL)
	}
	if strings.ContainsAny(hostport, "?#@") || hostport == "" {
		return fmt.Errorf("kestrel: URL %q: malformed URL (use http://host:port)", rawURL)
	}
	u, err := url.Parse(scheme + "://" + hostport)
	if err != nil {
		return fmt.Errorf("kestrel: URL %q: %w", rawURL, err)
	}
	port := 80
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return fmt.Errorf("kestrel: URL %q: port %q is not a number from 0 to 65535", rawURL, p)
		}
		port = int(n)
	} else if strings.HasSuffix(hostport, ":") {
		return fmt.Errorf("kestrel: URL %q: empty port", rawURL)
	}
	return s.addEndpoints(scheme, u.Hostname(), port, rawURL)
}

func (s *Server) addEndpoints(scheme, host string, port int, rawURL string) error {
	var eps []endpoint
	p := strconv.Itoa(port)
	switch ip := net.ParseIP(host); {
	case strings.EqualFold(host, "localhost"):
		if port == 0 {
			return fmt.Errorf("kestrel: URL %q: port 0 cannot be used with localhost, because the two loopback addresses would get different ports; use http://127.0.0.1:0 or http://[::1]:0", rawURL)
		}
		eps = []endpoint{
			{network: "tcp4", address: "127.0.0.1:" + p, localhost: true},
			{network: "tcp6", address: "[::1]:" + p, localhost: true},
		}
	case ip != nil && ip.To4() != nil:
		eps = []endpoint{{network: "tcp4", address: net.JoinHostPort(ip.String(), p)}}
	case ip != nil:
		eps = []endpoint{{network: "tcp", address: net.JoinHostPort(ip.String(), p)}}
	default:
		// Any other host binds every address: IPv6 dual-stack, or IPv4
		// where there is no IPv6.
		eps = []endpoint{{network: "tcp", address: ":" + p}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	for i := range eps {
		eps[i].url = rawURL
		eps[i].scheme = scheme
	}
	s.endpoints = append(s.endpoints, eps...)
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
	if log == nil {
		log = slog.Default()
	}
	s.conns = make(map[*http1.Conn]struct{})
	s.counter = transport.NewCounter(limits.MaxConcurrentConnections)
	s.hb = heartbeat.New(s.tick)
	cfg := &http1.Config{
		MaxRequestLineSize:         limits.MaxRequestLineSize,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		MaxRequestBodySize:         limits.MaxRequestBodySize,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		ServerHeader:               !s.DisableServerHeader,
		Heartbeat:                  s.hb,
		Logger:                     log,
	}
	native, handler := s.NativeHandler, s.Handler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	if native != nil {
		cfg.Handler = func(ex *http1.Exchange) { native.ServeKestrel((*Context)(ex)) }
	} else {
		cfg.Handler = func(ex *http1.Exchange) { ex.ServeHTTP(handler) }
	}
	s.cfg = cfg
	s.hb.Start()
	return nil
}

func (s *Server) logger() *slog.Logger {
	if s.cfg != nil {
		return s.cfg.Logger
	}
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Start binds every endpoint added with Listen or ListenURL
// (http://localhost:5000 when there is none) and serves them in the
// background. If any endpoint cannot be bound, none is kept and the error
// names its URL.
func (s *Server) Start() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if err := s.init(); err != nil {
		s.mu.Unlock()
		return err
	}
	if len(s.endpoints) == 0 && len(s.listeners) == 0 {
		s.mu.Unlock()
		if err := s.ListenURL(DefaultURL); err != nil {
			return err
		}
		s.mu.Lock()
	}
	eps := s.endpoints
	s.endpoints = nil
	var bound []*listener
	for _, ep := range eps {
		l, err := net.Listen(ep.network, ep.address)
		if err != nil {
			if ep.localhost && !transport.IsAddrInUse(err) && ep.network == "tcp6" {
				s.cfg.Logger.Warn("unable to bind to the IPv6 loopback; listening on IPv4 only", "url", ep.url, "error", err)
				continue
			}
			for _, b := range bound {
				b.Close()
			}
			s.mu.Unlock()
			if transport.IsAddrInUse(err) {
				return fmt.Errorf("kestrel: failed to bind to %s: address %s already in use", ep.url, ep.address)
			}
			return fmt.Errorf("kestrel: failed to bind to %s: %w", ep.url, err)
		}
		bound = append(bound, &listener{Listener: l, scheme: ep.scheme})
	}
	s.listeners = append(s.listeners, bound...)
	s.serving.Add(len(bound))
	s.mu.Unlock()
	for _, l := range bound {
		go func() {
			defer s.serving.Done()
			s.acceptLoop(l)
		}()
	}
	return nil
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
	ln := &listener{Listener: l, scheme: "http"}
	s.listeners = append(s.listeners, ln)
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	return s.acceptLoop(ln)
}

func (s *Server) acceptLoop(l *listener) error {
	err := transport.Accept(l, s.counter, s.cfg.Logger, s.serveConn)
	if s.draining.Load() || errors.Is(err, net.ErrClosed) && s.isClosed() {
		return ErrServerClosed
	}
	s.cfg.Logger.Error("listener failed", "address", l.Addr().String(), "error", err)
	return fmt.Errorf("kestrel: accept on %s: %w", l.Addr(), err)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) serveConn(nc net.Conn) {
	c := http1.NewConn(s.cfg, nc, &s.draining)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if len(s.conns) == 0 && s.connsDone != nil {
			close(s.connsDone)
			s.connsDone = nil
		}
		s.mu.Unlock()
	}()
	c.Serve()
}

// tick is the heartbeat's: it checks every connection's deadlines.
func (s *Server) tick(now time.Time) {
	n := s.hb.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Tick(n)
	}
}

// Addresses returns the bound addresses as URLs, such as
// "http://127.0.0.1:5000" and "http://[::1]:5000". With port 0, they show
// the port that was picked.
func (s *Server) Addresses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.listeners))
	for _, l := range s.listeners {
		a := l.Addr()
		if ta, ok := a.(*net.TCPAddr); ok {
			host := "localhost"
			if ta.IP != nil && !ta.IP.IsUnspecified() {
				host = ta.IP.String()
			} else {
				host = "[::]"
			}
			if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
				host = "[" + host + "]"
			}
			out = append(out, l.scheme+"://"+host+":"+strconv.Itoa(ta.Port))
			continue
		}
		out = append(out, l.scheme+"://"+a.Network()+":"+a.String())
	}
	return out
}

// closeListeners closes every listener; s.mu is held.
func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
}

// Shutdown stops the server gracefully: it stops accepting, closes idle
// keep-alive connections at once, lets in-flight requests finish (their
// responses carry Connection: close), and aborts the connections left when
// ctx ends, returning ctx's error then.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	s.closed = true
	s.closeListeners()
	done := make(chan struct{})
	if len(s.conns) == 0 {
		close(done)
	} else {
		s.connsDone = done
	}
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
			s.abortAll()
			s.stopHeartbeat()
			return ctx.Err()
		case <-poll.C:
		}
	}
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.CloseIfIdle()
	}
}

func (s *Server) abortAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Abort()
	}
}

func (s *Server) stopHeartbeat() {
	s.mu.Lock()
	hb := s.hb
	s.mu.Unlock()
	if hb != nil {
		hb.Stop()
	}
}

// Close stops the server at once: listeners and connections are closed.
func (s *Server) Close() error {
	s.draining.Store(true)
	s.mu.Lock()
	s.closed = true
	s.closeListeners()
	for c := range s.conns {
		c.Abort()
	}
	s.mu.Unlock()
	s.serving.Wait()
	s.stopHeartbeat()
	return nil
}

// Run starts the server, logs "Now listening on: <url>" for each bound
// address, serves until ctx ends, then shuts down gracefully, giving
// in-flight requests ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	log := s.logger()
	for _, a := range s.Addresses() {
		log.Info("Now listening on: " + a)
	}
	log.Info("Application started. Press Ctrl+C to shut down.")
	<-ctx.Done()
	log.Info("Application is shutting down...")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("kestrel: shutdown: %w", err)
	}
	return nil
}
