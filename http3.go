package kestrel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/http3"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/tlsconn"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// HTTP/3: the transport side (a UDP socket and a QUIC listener beside each
// TCP listener of an HTTPS endpoint whose Protocols include HTTP3), the
// accept loop, and the Alt-Svc header that advertises HTTP/3 on the
// endpoint's HTTP/1.1 and HTTP/2 responses. The protocol is internal/http3.

// altSvcMaxAge is how long a client may remember that an endpoint serves
// HTTP/3 (Kestrel's ma=86400).
const altSvcMaxAge = 86400

// checkHTTP3 applies Kestrel's rules to an endpoint that asks for HTTP/3:
// HTTP/3 needs TLS and a UDP port. Asked for alone, it is an error;
// beside other protocols, HTTP/3 is left out and Start logs a warning.
func (ep *endpoint) checkHTTP3() error {
	if ep.opts.Protocols != HTTP3 {
		return nil
	}
	switch {
	case ep.scheme != "https":
		return fmt.Errorf("kestrel: endpoint %s: HTTP/3 needs HTTPS: use an https:// URL (with a certificate), or add Http1 or Http2 to Protocols", ep.url)
	case !ep.udp():
		return fmt.Errorf("kestrel: endpoint %s: HTTP/3 needs a UDP port of a TCP address; a Unix socket or an inherited socket cannot serve it", ep.url)
	}
	return nil
}

// udp reports whether the endpoint has an address a UDP socket can bind.
func (ep *endpoint) udp() bool {
	return ep.ln == nil && (ep.network == "tcp" || ep.network == "tcp4" || ep.network == "tcp6")
}

// servesHTTP3 reports whether the endpoint serves HTTP/3.
func (ep *endpoint) servesHTTP3() bool {
	return ep.opts.Protocols&HTTP3 != 0 && ep.scheme == "https" && ep.udp()
}

// udpSocket is a bound UDP socket and the QUIC transport on it. The
// endpoint listening on it can change (Reload) while the connections of
// the one before go on: the transport closes once neither listens nor
// has a connection left.
type udpSocket struct {
	pc net.PacketConn
	tr *quic.Transport

	// conns counts its QUIC connections against MaxConcurrentConnections,
	// apart from the TCP connections of the endpoint (Kestrel's QUIC
	// binding has a connection limit of its own); set by openQUIC.
	conns *transport.Counter

	mu    sync.Mutex
	cur   *quicListener // listening now
	users int           // listeners whose connections have not all ended

	closeOnce sync.Once
}

func newUDPSocket(pc net.PacketConn) *udpSocket {
	return &udpSocket{pc: pc, tr: &quic.Transport{Conn: pc}}
}

// Addr is the socket's address, as a TCP address (that of the endpoint).
func (us *udpSocket) Addr() net.Addr {
	a := us.pc.LocalAddr().(*net.UDPAddr)
	return &net.TCPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone}
}

// close closes a socket that nothing listens on; calls after the first
// do nothing.
func (us *udpSocket) close() {
	us.closeOnce.Do(func() {
		us.tr.Close()
		us.pc.Close()
	})
}

// release ends a listener's use of the socket, closing it after the last.
func (us *udpSocket) release() {
	us.mu.Lock()
	us.users--
	last := us.users == 0
	us.mu.Unlock()
	if last {
		us.close()
	}
}

// reserveRetired adds a user to a socket that no listener listens on
// but the connections of a stopped one still use, so that it stays open
// for another listener to take (release ends the reservation). It
// reports false, doing nothing, for a socket some listener listens on or
// that is closed.
func (us *udpSocket) reserveRetired() bool {
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.users == 0 || us.cur == nil || !us.cur.stopped.Load() {
		return false
	}
	us.users++
	return true
}

// quicListener is the HTTP/3 side of a listener: a QUIC listener on a UDP
// socket, beside the endpoint's TCP socket (same port number) or alone
// for an HTTP/3-only endpoint.
type quicListener struct {
	l       *listener
	sock    *udpSocket
	ln      *quic.Listener // nil until open
	ctx     context.Context
	stopped atomic.Bool
	done    chan struct{}  // closed when its accept loop has ended
	conns   sync.WaitGroup // connections being served; the socket outlives them

	// handshakeTimeout is the endpoint's TLS handshake timeout, and conf
	// the QUIC settings of new connections, from the limits in effect:
	// Reload replaces them (setLimits).
	handshakeTimeout time.Duration
	conf             atomic.Pointer[quic.Config]

	mu      sync.Mutex
	refused map[string]time.Time // clients refused lately, by address
}

// setLimits makes the QUIC connections accepted from now on take their
// settings (idle timeout, receive windows) from h3, the
// listener's HTTP/3 configuration of the moment.
func (ql *quicListener) setLimits(h3 *http3.Config) {
	ql.conf.Store(h3.QUICConfig(ql.handshakeTimeout))
}

// quicListener is a net.Listener for BaseContext: its Addr is the UDP
// address; QUIC connections are not accepted through it.
var _ net.Listener = (*quicListener)(nil)

func (ql *quicListener) Addr() net.Addr { return ql.sock.pc.LocalAddr() }

func (ql *quicListener) Accept() (net.Conn, error) {
	return nil, errors.New("kestrel: QUIC connections are accepted by the server")
}

// Close stops accepting connections; those accepted go on until they end,
// then the socket is released.
func (ql *quicListener) Close() error {
	ql.stopped.Store(true)
	if ql.ln != nil {
		return ql.ln.Close()
	}
	return nil
}

// bindQUIC gives l, bound for an endpoint that asks for HTTP/3, its UDP
// socket: on the number of its TCP port (a port 0 endpoint whose number
// is taken on UDP picks another pair when its TCP socket is new), or of
// its own for an HTTP/3-only endpoint (l.sock nil). A socket in pool at
// that address is taken instead of binding one. It reports whether the
// endpoint serves HTTP/3: one that cannot (no TLS, a Unix socket) is
// logged and served without it.
func (s *Server) bindQUIC(l *listener, pool *[]*udpSocket, fresh bool) (bool, error) {
	ep := &l.ep
	if !ep.servesHTTP3() {
		logevents.General(s.log, slog.LevelWarn, "Http3DisabledWithHttp1AndNoTls",
			"HTTP/3 is not enabled for "+ep.url+": HTTP/3 needs HTTPS on a TCP address. The endpoint serves "+ep.opts.Protocols.tcp().String()+".")
		return false, nil
	}
	for try := 0; ; try++ {
		port := ep.port
		if l.sock != nil {
			port = l.sock.Addr().(*net.TCPAddr).Port
		}
		if us := claimUDP(pool, ep, port); us != nil {
			l.quic = &quicListener{l: l, sock: us}
			return true, nil
		}
		pc, err := listenUDP(ep, port)
		if err == nil {
			l.quic = &quicListener{l: l, sock: newUDPSocket(pc)}
			return true, nil
		}
		if !fresh || ep.port != 0 || !transport.IsAddrInUse(err) || try == 8 {
			return true, udpBindError(ep, port, err)
		}
		l.sock.Close()
		ln, err := ep.bind()
		if err != nil {
			return true, s.bindError(ep, err)
		}
		l.sock = &socket{Listener: ln}
	}
}

// claimUDP takes from pool the UDP socket bound where ep listens on port
// (0: any port).
func claimUDP(pool *[]*udpSocket, ep *endpoint, port int) *udpSocket {
	for i, us := range *pool {
		if a := us.Addr().(*net.TCPAddr); (port == 0 || a.Port == port) && ep.boundTo(a) {
			*pool = slices.Delete(*pool, i, i+1)
			return us
		}
	}
	return nil
}

// udpBindError explains why ep's UDP port could not be bound; it wraps err.
func udpBindError(ep *endpoint, port int, err error) error {
	if transport.IsAddrInUse(err) {
		return &explained{fmt.Sprintf("kestrel: failed to bind to %s for HTTP/3: UDP port %d already in use (HTTP/3 needs the UDP port of the endpoint's number; is another server using it?)", ep.url, port), err}
	}
	return fmt.Errorf("kestrel: failed to bind to %s for HTTP/3 (UDP port %d): %w", ep.url, port, err)
}

// explained is an error whose message says all there is to say of the
// error it wraps.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// listenUDP binds ep's address on UDP port port.
func listenUDP(ep *endpoint, port int) (net.PacketConn, error) {
	host, _, err := net.SplitHostPort(ep.address)
	if err != nil {
		return nil, err
	}
	network := "udp" + ep.network[len("tcp"):]
	lc := net.ListenConfig{}
	if ep.opts.ReusePort {
		lc.Control = transport.ReusePort
	}
	return lc.ListenPacket(context.Background(), network, net.JoinHostPort(host, strconv.Itoa(port)))
}

// openQUIC starts listening for QUIC connections on ql's socket, with
// its endpoint's TLS configuration and limits, and its accept loop. The
// listener that listened on the socket before (Reload) stops accepting,
// its connections go on, and its endpoint is returned. s.mu is held.
func (s *Server) openQUIC(ql *quicListener) (prevListener *listener) {
	l, us := ql.l, ql.sock
	te := l.tls
	var allowed func(string) bool
	if te.sni != nil {
		allowed = func(name string) bool { return te.sni(name)&HTTP3 != 0 }
	}
	timeout := te.timeout
	if timeout <= 0 {
		timeout = tlsconn.DefaultHandshakeTimeout
	}
	ql.handshakeTimeout = timeout
	ql.setLimits(l.h3cfg)
	qconf := *ql.conf.Load()
	if us.conns == nil {
		us.conns = s.counter.Sibling()
	}
	conns := us.conns
	qconf.GetConfigForClient = func(info *quic.ClientInfo) (*quic.Config, error) {
		// Over MaxConcurrentConnections, a connection is refused before
		// its handshake (CONNECTION_REFUSED).
		if max := conns.Max(); max > 0 && conns.Current() >= max {
			if ql.firstRefusal(info.RemoteAddr) {
				s.rejectQUIC(us.pc.LocalAddr())
			}
			return nil, errTooManyConnections
		}
		return ql.conf.Load(), nil // the limits of the moment (Reload)
	}
	us.mu.Lock()
	if prev := us.cur; prev != nil {
		if !prev.stopped.Load() { // else a reload retired its endpoint already
			prevListener = prev.l
		}
		prev.Close() // quic-go has one listener per transport
	}
	us.cur = ql
	us.users++
	if us.tr.ConnContext == nil {
		// quic-go reads it in Listen, below, where no connection runs.
		us.tr.ConnContext = s.quicConnContext
	}
	us.mu.Unlock()
	ql.done = make(chan struct{})
	tc := te.config
	if te.hello != nil {
		// The TLSHandshakeCallback chooses each QUIC connection's
		// configuration too, as Kestrel's does for HTTP/3: a host name it
		// refuses, or gives a client certificate policy, is no easier to
		// reach over QUIC than over TCP.
		tc = te.hello.config
	}
	ln, err := us.tr.Listen(http3.TLSConfig(tc, allowed), &qconf)
	if err != nil {
		logevents.General(s.log, slog.LevelError, "ListenerFailed", "HTTP/3 on "+l.url()+" could not start: "+err.Error())
		close(ql.done)
		us.release()
		return prevListener
	}
	ql.ln = ln
	ql.ctx = s.listenerContext(ql)
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		s.acceptQUIC(ql)
		close(ql.done)
		go func() {
			ql.conns.Wait()
			us.release()
		}()
	}()
	return prevListener
}

// firstRefusal reports whether a refused connection attempt from addr is
// new, rather than another packet of one refused within the last second
// (a ClientHello can take two Initial packets), so that it is counted
// once.
func (ql *quicListener) firstRefusal(addr net.Addr) bool {
	ql.mu.Lock()
	defer ql.mu.Unlock()
	now, key := time.Now(), addr.String()
	if t, ok := ql.refused[key]; ok && now.Sub(t) < time.Second {
		return false
	}
	if ql.refused == nil || len(ql.refused) >= 1024 {
		ql.refused = make(map[string]time.Time)
	}
	ql.refused[key] = now
	return true
}

var errTooManyConnections = errors.New("kestrel: MaxConcurrentConnections reached")

// quicConnContext is the QUIC transport's ConnContext. quic-go's Accept
// returns only the connections whose handshake completed: one that fails
// (a TLS alert either way, a client certificate refused, say) or times
// out is logged here from the cause its context ends with, as
// AuthenticationFailed or AuthenticationTimedOut, as a TCP connection's
// handshake is.
func (s *Server) quicConnContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	if !logevents.AuthenticationFailedEvent.Enabled(s.log) && !logevents.AuthenticationTimedOutEvent.Enabled(s.log) {
		return ctx, nil
	}
	accepted := new(atomic.Bool) // set by acceptQUIC
	ctx = context.WithValue(ctx, quicAcceptedKey{}, accepted)
	context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		var te *quic.TransportError
		var handshake *quic.HandshakeTimeoutError
		var idle *quic.IdleTimeoutError
		switch {
		case errors.As(cause, &te) && te.ErrorCode.IsCryptoError():
			// TLS alerts end handshakes only: QUIC carries no TLS
			// alert after it.
			logevents.AuthenticationFailed(s.log, logevents.NewConnectionID(), fmt.Errorf("quic handshake: %w", cause))
		case errors.As(cause, &handshake), errors.As(cause, &idle) && !accepted.Load():
			// A client silent in its handshake ends it with quic-go's
			// idle timeout (HandshakeTimeout/2) before its limit.
			logevents.AuthenticationTimedOut(s.log, logevents.NewConnectionID())
		}
	})
	return ctx, nil
}

// quicAcceptedKey is the context key of a QUIC connection's flag that
// Accept returned it: its handshake is complete.
type quicAcceptedKey struct{}

// rejectQUIC counts and logs a QUIC connection refused by
// MaxConcurrentConnections, as acceptor.Reject does a TCP one.
func (s *Server) rejectQUIC(local net.Addr) {
	s.rejected.Add()
	s.metrics.Endpoint(local).Rejected()
	if logevents.ConnectionRejectedEvent.Enabled(s.log) {
		logevents.ConnectionRejected(s.log, logevents.NewConnectionID())
	}
}

// publishAltSvc publishes the Alt-Svc values of the endpoints that serve
// HTTP/3 beside HTTP/1.1 or HTTP/2. s.mu is held.
func (s *Server) publishAltSvc() {
	var table altSvcTable
	for _, l := range s.listeners {
		if l.quic != nil && l.sock != nil && !l.ep.opts.DisableAltSvcHeader {
			a := l.quic.sock.pc.LocalAddr().(*net.UDPAddr).AddrPort()
			table = append(table, altSvcEntry{
				addr:  a.Addr().Unmap(),
				port:  a.Port(),
				value: `h3=":` + strconv.Itoa(int(a.Port())) + `"; ma=` + strconv.Itoa(altSvcMaxAge),
				tls:   l.tls,
			})
		}
	}
	if len(table) == 0 {
		s.altSvc.Store(nil)
		return
	}
	s.altSvc.Store(&table)
}

// acceptQUIC accepts QUIC connections until the listener closes.
func (s *Server) acceptQUIC(ql *quicListener) {
	for {
		qc, err := ql.ln.Accept(context.Background())
		if err != nil {
			if !errors.Is(err, quic.ErrServerClosed) && !ql.stopped.Load() {
				logevents.General(s.log, slog.LevelError, "ListenerFailed", "The QUIC listener on "+ql.Addr().String()+" failed: "+err.Error())
			}
			return
		}
		if accepted, ok := qc.Context().Value(quicAcceptedKey{}).(*atomic.Bool); ok {
			accepted.Store(true)
		}
		slot := ql.sock.conns.Acquire()
		if slot == nil {
			s.rejectQUIC(qc.LocalAddr())
			go qc.CloseWithError(quic.ApplicationErrorCode(http3ExcessiveLoad), "too many connections")
			continue
		}
		ql.conns.Add(1)
		ql.l.pending.Add(1)
		go func() {
			defer ql.conns.Done()
			s.serveQUIC(ql, qc, slot)
		}()
	}
}

// http3ExcessiveLoad is H3_EXCESSIVE_LOAD, the code a connection over the
// limit is closed with after its handshake.
const http3ExcessiveLoad = 0x107

// serveQUIC serves one QUIC connection with the HTTP/3 engine, in the
// server's registry as the other engines' connections are.
func (s *Server) serveQUIC(ql *quicListener, qc *quic.Conn, slot *transport.Slot) {
	l := ql.l
	nc := http3.NetConn(qc)
	s.metrics.Endpoint(nc.LocalAddr()).QueuedStart()
	st := s.startConn(nc)
	st.l = l
	st.setProto(metrics.HTTP3)
	st.tlsVersion = tls.VersionTLS13
	if logevents.HTTPSConnectionEstablishedEvent.Enabled(s.log) {
		logevents.HTTPSConnectionEstablished(s.log, st.id, tlsconn.VersionName(st.tlsVersion))
	}
	st.tls.Context = ql.ctx
	st.tls.quic = nc.(interface{ ConnectionState() tls.ConnectionState })
	ctx := s.connContext(&st.tls, nc)
	if s.connState != nil {
		s.connState(nc, http.StateNew)
	}
	s.mu.Lock()
	cfg := l.h3cfg // the limits of the moment (Reload)
	s.mu.Unlock()
	c := http3.NewConn(cfg, qc, http3.Options{
		Info:     &app.ConnInfo{ID: st.id, Reason: &st.reason, Metrics: st.ep},
		Context:  ctx,
		Accepted: nc,
		OnState:  s.connState,
		Done: func() {
			slot.Release()
			s.connDone(nc)
		},
	})
	s.serveRegistered(l, c, nc, nc, st, slot)
}

// newHTTP3Config is the HTTP/3 engine's configuration from the limits.
func newHTTP3Config(appCfg *app.Config, limits Limits) *http3.Config {
	return &http3.Config{
		App:                        appCfg,
		MaxRequestHeaderFieldSize:  limits.Http3.MaxRequestHeaderFieldSize,
		MaxRequestLineSize:         limits.MaxRequestLineSize,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		MaxRequestBufferSize:       limits.MaxRequestBufferSize,
		MinRequestBodyRate:         limits.MinRequestBodyDataRate.engine(),
		MinResponseRate:            limits.MinResponseDataRate.engine(),
	}
}

// socketAddr is the local address of the socket a connection was accepted
// on: under TLS and a PROXY header, whose destination is the balancer's
// address, not the endpoint's.
func socketAddr(nc net.Conn) net.Addr {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if pc, ok := nc.(*proxyConn); ok {
		nc = pc.Conn
	}
	return nc.LocalAddr()
}

// altSvcTable holds the Alt-Svc values of the endpoints that serve
// HTTP/3, by the address of their TCP side.
type altSvcTable []altSvcEntry

type altSvcEntry struct {
	addr  netip.Addr // unspecified: every address
	port  uint16
	value string
	tls   *tlsEndpoint
}

// find returns the entry of the endpoint a request arrived at over TLS,
// by its local address, or nil.
func (t altSvcTable) find(local net.Addr) *altSvcEntry {
	a, ok := local.(*net.TCPAddr)
	if !ok {
		return nil
	}
	ap := a.AddrPort()
	for i := range t {
		e := &t[i]
		if e.port == ap.Port() && (e.addr.IsUnspecified() || e.addr == ap.Addr().Unmap()) {
			return e
		}
	}
	return nil
}

// forHost is the entry's Alt-Svc value for a client that asked for
// serverName, or "" when its SNI entry leaves HTTP/3 out.
func (e *altSvcEntry) forHost(serverName string) string {
	if e.tls.sni != nil && e.tls.sni(serverName)&HTTP3 == 0 {
		return ""
	}
	return e.value
}

// advertiseHTTP3 adds the endpoint's Alt-Svc value to the response header
// of h's HTTP/1.1 and HTTP/2 requests on endpoints that serve HTTP/3, as
// Kestrel does; h may replace or delete it.
func (s *Server) advertiseHTTP3(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := s.altSvc.Load(); t != nil && r.TLS != nil && r.ProtoMajor < 3 {
			local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
			if ex := app.FromRequest(r); ex != nil {
				local = socketAddr(ex.Stream().NetConn())
			}
			if e := t.find(local); e != nil {
				if v := e.forHost(r.TLS.ServerName); v != "" {
					w.Header()["Alt-Svc"] = []string{v}
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// advertiseHTTP3Native is advertiseHTTP3 for the native handler.
func (s *Server) advertiseHTTP3Native(ex *app.Exchange) {
	if t := s.altSvc.Load(); t != nil && ex.Req.ProtoMajor < 3 {
		tc, ok := ex.Stream().NetConn().(*tls.Conn)
		if !ok {
			return
		}
		if e := t.find(socketAddr(tc)); e != nil {
			name := ""
			if e.tls.sni != nil {
				name = tc.ConnectionState().ServerName
			}
			if v := e.forHost(name); v != "" {
				ex.AddHeader("Alt-Svc", v)
			}
		}
	}
}
