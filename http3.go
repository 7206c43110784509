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

// quicOnly splits out the endpoints that serve HTTP/3 alone: they bind no
// TCP port.
func quicOnly(eps []endpoint) (tcp, udp []endpoint) {
	for _, ep := range eps {
		if ep.opts.Protocols == HTTP3 {
			udp = append(udp, ep)
		} else {
			tcp = append(tcp, ep)
		}
	}
	return tcp, udp
}

// quicListener is an endpoint's UDP socket and the QUIC listener on it.
type quicListener struct {
	ep   endpoint
	pc   net.PacketConn
	tr   *quic.Transport
	ln   *quic.Listener
	ctx  context.Context // the base of its connections' contexts
	only bool            // an HTTP/3-only endpoint: no TCP listener beside it

	conns sync.WaitGroup // connections being served; the transport outlives them

	mu      sync.Mutex
	refused map[string]time.Time // clients refused lately, by address
}

// quicListener is a net.Listener for BaseContext: its Addr is the UDP
// address; QUIC connections are not accepted through it.
var _ net.Listener = (*quicListener)(nil)

func (ql *quicListener) Addr() net.Addr { return ql.pc.LocalAddr() }

func (ql *quicListener) Accept() (net.Conn, error) {
	return nil, errors.New("kestrel: QUIC connections are accepted by the server")
}

// Close stops accepting connections; those accepted go on until they end,
// then the UDP socket closes.
func (ql *quicListener) Close() error { return ql.ln.Close() }

// bindQUIC binds the UDP sockets of the HTTPS endpoints that serve HTTP/3:
// beside each TCP listener in bound, on the port it got (a port 0
// endpoint whose number is taken on UDP picks another pair), and for the
// HTTP/3-only endpoints in only. On failure nothing stays bound but the
// TCP listeners, which the caller closes.
func (s *Server) bindQUIC(bound []*listener, only []endpoint) ([]*quicListener, error) {
	var out []*quicListener
	fail := func(err error) ([]*quicListener, error) {
		for _, ql := range out {
			ql.closeNow()
		}
		return nil, err
	}
	log := s.cfg.App.Logger
	for _, l := range bound {
		ep := &l.ep
		if ep.opts.Protocols&HTTP3 == 0 {
			continue
		}
		if !ep.servesHTTP3() {
			logevents.General(log, slog.LevelWarn, "Http3DisabledWithHttp1AndNoTls",
				"HTTP/3 is not enabled for "+ep.url+": HTTP/3 needs HTTPS on a TCP address. The endpoint serves "+ep.opts.Protocols.tcp().String()+".")
			continue
		}
		ql, err := s.bindUDPBeside(l)
		if err != nil {
			return fail(err)
		}
		out = append(out, ql)
	}
	for i := range only {
		ep := &only[i]
		ql, err := s.listenQUIC(ep, ep.port)
		if err != nil && ep.anyIP && !transport.IsAddrInUse(err) {
			// No IPv6: every IPv4 address instead, as for TCP.
			v4 := *ep
			v4.network, v4.address = "tcp4", "0.0.0.0:"+strconv.Itoa(ep.port)
			ql, err = s.listenQUIC(&v4, ep.port)
		}
		if err != nil && ep.localhost && !transport.IsAddrInUse(err) {
			logevents.General(log, slog.LevelWarn, "UnableToBindLoopback", "Unable to bind to "+ep.url+" on the "+ep.address+" loopback interface: '"+err.Error()+"'.")
			continue
		}
		if err != nil {
			return fail(udpBindError(ep, ep.port, err))
		}
		ql.only = true
		out = append(out, ql)
	}
	if len(only) > 0 && !slices.ContainsFunc(out, func(ql *quicListener) bool { return ql.only }) {
		return fail(fmt.Errorf("kestrel: failed to bind to %s: no loopback interface could be bound", only[0].url))
	}
	return out, nil
}

// bindUDPBeside binds the UDP port of l's number. When l's endpoint asked
// for port 0 and the number is taken on UDP, l is bound anew until both
// get one (a few tries).
func (s *Server) bindUDPBeside(l *listener) (*quicListener, error) {
	for try := 0; ; try++ {
		port := l.Addr().(*net.TCPAddr).Port
		ql, err := s.listenQUIC(&l.ep, port)
		if err == nil {
			return ql, nil
		}
		if l.ep.port != 0 || !transport.IsAddrInUse(err) || try == 8 {
			return nil, udpBindError(&l.ep, port, err)
		}
		l.Listener.Close()
		if l.Listener, err = l.ep.bind(); err != nil {
			return nil, bindError(&l.ep, err)
		}
	}
}

func udpBindError(ep *endpoint, port int, err error) error {
	if transport.IsAddrInUse(err) {
		return fmt.Errorf("kestrel: failed to bind to %s for HTTP/3: UDP port %d already in use (HTTP/3 needs the UDP port of the endpoint's number; is another server using it?)", ep.url, port)
	}
	return fmt.Errorf("kestrel: failed to bind to %s for HTTP/3 (UDP port %d): %w", ep.url, port, err)
}

// listenQUIC binds ep's address on UDP port port and listens for QUIC
// connections there, with the endpoint's TLS configuration.
func (s *Server) listenQUIC(ep *endpoint, port int) (*quicListener, error) {
	host, _, err := net.SplitHostPort(ep.address)
	if err != nil {
		return nil, err
	}
	network := "udp" + ep.network[len("tcp"):]
	lc := net.ListenConfig{}
	if ep.opts.ReusePort {
		lc.Control = transport.ReusePort
	}
	pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	te := ep.tls
	var allowed func(string) bool
	if te.sni != nil {
		allowed = func(name string) bool { return te.sni(name)&HTTP3 != 0 }
	}
	timeout := te.timeout
	if timeout <= 0 {
		timeout = tlsconn.DefaultHandshakeTimeout
	}
	ql := &quicListener{ep: *ep, pc: pc}
	qconf := s.h3cfg.QUICConfig(timeout)
	base := *qconf
	qconf.GetConfigForClient = func(info *quic.ClientInfo) (*quic.Config, error) {
		// Over MaxConcurrentConnections, a connection is refused before
		// its handshake (CONNECTION_REFUSED).
		if max := s.counter.Max(); max > 0 && s.counter.Current() >= max {
			if ql.firstRefusal(info.RemoteAddr) {
				s.rejectQUIC(pc.LocalAddr())
			}
			return nil, errTooManyConnections
		}
		return &base, nil
	}
	ql.tr = &quic.Transport{Conn: pc}
	ql.ln, err = ql.tr.Listen(http3.TLSConfig(te.config, allowed), qconf)
	if err != nil {
		ql.tr.Close()
		pc.Close()
		return nil, err
	}
	return ql, nil
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

// rejectQUIC counts and logs a QUIC connection refused by
// MaxConcurrentConnections, as acceptor.Reject does a TCP one.
func (s *Server) rejectQUIC(local net.Addr) {
	s.rejected.Add()
	s.metrics.Endpoint(local).Rejected()
	if logevents.ConnectionRejectedEvent.Enabled(s.cfg.App.Logger) {
		logevents.ConnectionRejected(s.cfg.App.Logger, logevents.NewConnectionID())
	}
}

// startQUIC serves the QUIC listeners and publishes the Alt-Svc values
// of their endpoints; s.mu is held.
func (s *Server) startQUIC(qls []*quicListener) {
	s.quic = append(s.quic, qls...)
	var table altSvcTable
	for _, ql := range s.quic {
		if !ql.only && !ql.ep.opts.DisableAltSvcHeader {
			a := ql.pc.LocalAddr().(*net.UDPAddr).AddrPort()
			table = append(table, altSvcEntry{
				addr:  a.Addr().Unmap(),
				port:  a.Port(),
				value: `h3=":` + strconv.Itoa(int(a.Port())) + `"; ma=` + strconv.Itoa(altSvcMaxAge),
				tls:   ql.ep.tls,
			})
		}
	}
	if len(table) > 0 {
		s.altSvc.Store(&table)
	}
	s.serving.Add(len(qls))
	for _, ql := range qls {
		ql.ctx = s.listenerContext(ql)
		go func() {
			defer s.serving.Done()
			s.acceptQUIC(ql)
			go ql.closeWhenDone()
		}()
	}
}

// acceptQUIC accepts QUIC connections until the listener closes.
func (s *Server) acceptQUIC(ql *quicListener) {
	for {
		qc, err := ql.ln.Accept(context.Background())
		if err != nil {
			if !errors.Is(err, quic.ErrServerClosed) {
				logevents.General(s.cfg.App.Logger, slog.LevelError, "ListenerFailed", "The QUIC listener on "+ql.Addr().String()+" failed: "+err.Error())
			}
			return
		}
		slot := s.counter.Acquire()
		if slot == nil {
			s.rejectQUIC(qc.LocalAddr())
			go qc.CloseWithError(quic.ApplicationErrorCode(http3ExcessiveLoad), "too many connections")
			continue
		}
		ql.conns.Add(1)
		go func() {
			defer ql.conns.Done()
			s.serveQUIC(ql, qc, slot)
		}()
	}
}

// http3ExcessiveLoad is H3_EXCESSIVE_LOAD, the code a connection over the
// limit is closed with after its handshake.
const http3ExcessiveLoad = 0x107

// closeWhenDone closes the UDP socket once the listener stopped and its
// connections ended.
func (ql *quicListener) closeWhenDone() {
	ql.conns.Wait()
	ql.closeNow()
}

func (ql *quicListener) closeNow() {
	ql.ln.Close()
	ql.tr.Close()
	ql.pc.Close()
}

// serveQUIC serves one QUIC connection with the HTTP/3 engine, in the
// server's registry as the other engines' connections are.
func (s *Server) serveQUIC(ql *quicListener, qc *quic.Conn, slot *transport.Slot) {
	nc := http3.NetConn(qc)
	s.metrics.Endpoint(nc.LocalAddr()).QueuedStart()
	st := s.startConn(nc)
	st.proto = metrics.HTTP3
	st.tlsVersion = tls.VersionTLS13
	if logevents.HTTPSConnectionEstablishedEvent.Enabled(s.cfg.App.Logger) {
		logevents.HTTPSConnectionEstablished(s.cfg.App.Logger, st.id, tlsconn.VersionName(st.tlsVersion))
	}
	ctx := s.connContext(ql.ctx, nc)
	if s.ConnState != nil {
		s.ConnState(nc, http.StateNew)
	}
	c := http3.NewConn(s.h3cfg, qc, http3.Options{
		Info:     &app.ConnInfo{ID: st.id, Reason: &st.reason},
		Context:  ctx,
		Accepted: nc,
		OnState:  s.ConnState,
		Done: func() {
			slot.Release()
			s.connDone(nc)
		},
	})
	if !s.register(nc, st, c) {
		slot.Release()
		nc.Close()
		s.endConn(st)
		s.connClosed(nc)
		return
	}
	c.Serve()
}

// closeQUIC stops the QUIC listeners; s.mu is held.
func (s *Server) closeQUIC() {
	for _, ql := range s.quic {
		ql.Close()
	}
}

// quicAddresses are the URLs of the HTTP/3-only endpoints; s.mu is held.
func (s *Server) quicAddresses() []string {
	var out []string
	for _, ql := range s.quic {
		if ql.only {
			out = append(out, addrURL(ql.ep, ql.Addr()))
		}
	}
	return out
}

// newHTTP3Config is the HTTP/3 engine's configuration from the limits.
func newHTTP3Config(appCfg *app.Config, limits Limits) *http3.Config {
	return &http3.Config{
		App:                        appCfg,
		MaxRequestHeaderFieldSize:  limits.Http3.MaxRequestHeaderFieldSize,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		MaxRequestBufferSize:       limits.MaxRequestBufferSize,
		MinRequestBodyRate:         limits.MinRequestBodyDataRate.engine(),
		MinResponseRate:            limits.MinResponseDataRate.engine(),
	}
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
		if e := t.find(ex.LocalAddr()); e != nil {
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
