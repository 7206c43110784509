package kestrel

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// socket is a bound listening socket and its accept loop. The endpoint it
// serves, its listener, can change (Reload) while it keeps accepting.
type socket struct {
	net.Listener
	systemd bool          // passed by systemd socket activation
	stopped atomic.Bool   // closed on purpose: its accept loop ends quietly
	done    chan struct{} // closed when its accept loop has ended; nil until it starts

	mu sync.Mutex
	l  *listener // the endpoint served now
}

// Accept accepts a connection for the listener the socket serves now, and
// counts it as on its way to that listener.
func (sk *socket) Accept() (net.Conn, error) {
	c, err := sk.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sk.mu.Lock()
	l := sk.l
	l.pending.Add(1)
	sk.mu.Unlock()
	return &accepted{Conn: c, l: l}, nil
}

// stop closes the socket on purpose.
func (sk *socket) stop() {
	sk.stopped.Store(true)
	sk.Close()
}

// accepted is a connection on its way from an accept loop to its listener.
type accepted struct {
	net.Conn
	l *listener
}

// Close is called only by the accept loop, for a connection over the
// connection limit; serveConn unwraps the connections it serves.
func (a *accepted) Close() error {
	a.l.pending.Done()
	return a.Conn.Close()
}

// listener is an endpoint served on a socket, with its connections.
type listener struct {
	sock *socket
	ep   endpoint
	tls  *tlsEndpoint  // nil for cleartext
	cfg  *http1.Config // for new connections; s.mu

	// Stopping the listener sets closing, which makes every response say
	// Connection: close, then draining, which connections poll: they end
	// after the request in flight, and those waiting for one are closed.
	closing  atomic.Bool
	draining atomic.Bool

	pending  sync.WaitGroup // accepted connections not registered yet
	nconns   int            // registered connections; s.mu
	lastConn time.Time      // when the last one was registered; s.mu
}

// url is the listener's address as a URL, with the port that was bound.
func (l *listener) url() string {
	switch a := l.sock.Addr().(type) {
	case *net.TCPAddr:
		host := "localhost"
		switch {
		case a.IP == nil || a.IP.IsUnspecified():
			if a.IP.To4() != nil && l.ep.network == "tcp4" {
				host = "0.0.0.0"
			} else {
				host = "[::]"
			}
		case a.IP.To4() != nil:
			host = a.IP.String()
		default:
			host = "[" + a.IP.String() + "]"
		}
		return l.ep.scheme + "://" + host + ":" + strconv.Itoa(a.Port)
	case *net.UnixAddr:
		return l.ep.scheme + "://unix:" + a.Name
	default:
		return l.ep.scheme + "://" + a.String()
	}
}

// systemdListener serves a systemd socket that no endpoint took, as HTTP.
func systemdListener(sk *socket) *listener {
	return &listener{sock: sk, ep: endpoint{url: "systemd socket " + sk.Addr().String(), scheme: "http", port: -1}}
}

// unclaimedSystemd reports whether l serves a systemd socket that no
// endpoint took.
func (l *listener) unclaimedSystemd() bool { return l.sock.systemd && l.ep.from == nil }

// closeIfClosing makes the response say Connection: close, and so end its
// connection, once l is stopping and if the head is not sent yet.
func (l *listener) closeIfClosing(ex *app.Exchange) {
	if l.closing.Load() && !ex.Committed() {
		ex.SetHeader("Connection", "close")
	}
}

// protocolConfig returns the configuration of the connections l accepts
// from now on: the settings' limits, and l's handler, which says
// Connection: close once l is stopping.
func (s *Server) protocolConfig(l *listener, st activeSettings) *http1.Config {
	limits := st.limits
	serve := s.appHandler()
	appCfg := &app.Config{
		Logger:             s.log,
		Heartbeat:          s.hb,
		ServerHeader:       st.serverHeader,
		MaxRequestBodySize: limits.MaxRequestBodySize,
		Handler: func(ex *app.Exchange) {
			l.closeIfClosing(ex)
			serve(ex)
			l.closeIfClosing(ex) // the head of a buffered response is still to be sent
		},
	}
	return &http1.Config{
		App:                        appCfg,
		MaxRequestLineSize:         limits.MaxRequestLineSize,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		MinRequestBodyRate:         limits.MinRequestBodyDataRate.engine(),
		MinResponseRate:            limits.MinResponseDataRate.engine(),
		Upgrades:                   s.upgrades,
		Upgraded:                   s.trackUpgraded,
		Parker:                     s.parker,
	}
}

// appHandler returns what serves an exchange: the native handler, or the
// http.Handler (404 for everything without one).
func (s *Server) appHandler() func(*app.Exchange) {
	native, handler := s.NativeHandler, s.Handler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	if native != nil {
		return func(ex *app.Exchange) { native.ServeKestrel(nativeContext(ex)) }
	}
	return func(ex *app.Exchange) { ex.ServeHTTP(handler) }
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
// Endpoints without a certificate of their own use def, then the
// development certificate.
func buildTLS(eps []endpoint, def *HTTPS, log *slog.Logger) error {
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
			def := def
			if def == nil {
				var err error
				if def, err = devCertificate(ep.url); err != nil {
					return err
				}
				log.Info("using the development certificate for " + ep.url)
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
		te, err := h.build(ep.url, log)
		if err != nil {
			return err
		}
		ep.tls = te
		built[ep.from] = te
	}
	return nil
}

// bindAll binds every endpoint, or none. An endpoint whose address is that
// of a socket in pool takes that socket instead of binding; Unix sockets
// without a mode of their own get socketMode.
func (s *Server) bindAll(eps []endpoint, pool *[]*socket, socketMode fs.FileMode) ([]*listener, error) {
	var bound []*listener
	var claimed []*socket
	fail := func(err error) ([]*listener, error) {
		for _, b := range bound {
			if !slices.Contains(claimed, b.sock) {
				b.sock.Close()
			}
		}
		*pool = append(*pool, claimed...)
		return nil, err
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
		if sk := claim(pool, ep); sk != nil {
			claimed = append(claimed, sk)
			bound = append(bound, &listener{sock: sk, ep: *ep, tls: ep.tls})
			if u, ok := sk.Listener.(*net.UnixListener); ok && !sk.systemd {
				u.SetUnlinkOnClose(true) // the endpoint's file, as if it had bound it (systemd's stays systemd's)
			}
			if ep.network == "unix" && ep.opts.UnixSocketMode != 0 {
				if err := os.Chmod(ep.address, ep.opts.UnixSocketMode); err != nil {
					return fail(fmt.Errorf("kestrel: %s: set socket file mode: %w", ep.url, err))
				}
			}
			continue
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
				s.log.Warn("Unable to bind to "+ep.url+" on the "+ep.address+" loopback interface", "error", err)
				continue
			}
			return fail(bindError(ep, err))
		}
		bound = append(bound, &listener{sock: &socket{Listener: l}, ep: *ep, tls: ep.tls})
	}
	if len(bound) == 0 && len(eps) > 0 {
		return nil, fmt.Errorf("kestrel: failed to bind to %s: no loopback interface could be bound", eps[0].url)
	}
	return bound, nil
}

// claim takes from pool the socket bound where ep listens, if there is one.
func claim(pool *[]*socket, ep *endpoint) *socket {
	for i, sk := range *pool {
		if ep.boundTo(sk.Addr()) {
			*pool = slices.Delete(*pool, i, i+1)
			return sk
		}
	}
	return nil
}

// boundTo reports whether a socket bound to a is where ep listens: the
// same Unix socket path, or the same IP address and port. The socket of an
// endpoint on every address may be IPv4-only (where there is no IPv6), and
// an endpoint on port 0 takes a socket on any port of its address (the
// port picked before).
func (ep *endpoint) boundTo(a net.Addr) bool {
	switch a := a.(type) {
	case *net.UnixAddr:
		return ep.network == "unix" && a.Name == ep.address
	case *net.TCPAddr:
		if !strings.HasPrefix(ep.network, "tcp") || ep.port != 0 && a.Port != ep.port {
			return false
		}
		if ep.anyIP {
			return a.IP.IsUnspecified()
		}
		host, _, _ := net.SplitHostPort(ep.address)
		ip := net.ParseIP(host)
		return ip != nil && ip.Equal(a.IP) && (ip.To4() == nil) == (a.IP.To4() == nil)
	}
	return false
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
