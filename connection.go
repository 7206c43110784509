package kestrel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/mholt/acmez/v3"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/http2"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/tlsconn"
	"github.com/kestrel-go/kestrel/internal/transport"
	"github.com/kestrel-go/kestrel/logging"
)

// A TCP or Unix socket connection's life, from accept to close, in the
// order it happens (Kestrel's ConnectionDispatcher and KestrelConnection):
//
//  1. acceptLoop: the socket's accept loop (transport.Accept) takes a slot
//     of MaxConcurrentConnections (the socket's own count, as each of
//     Kestrel's bindings has) or refuses the connection (Reject), and
//     hands it, as an *accepted with its listener, to serveConn on a
//     goroutine of its own.
//  2. serveConn: startConn gives it an id, counts it and logs
//     ConnectionStart; the PROXY protocol header, when the endpoint
//     takes one (acceptProxyHeader); ConnContext and ConnState(StateNew);
//     the endpoint's connection middleware, then the built-in connection
//     logging (runMiddleware); the TLS handshake (handshake); the
//     protocol: HTTP/2 after ALPN h2 or with prior knowledge (serveHTTP2),
//     otherwise HTTP/1.1, which may turn into h2c.
//  3. serveRegistered: the connection joins the registry the heartbeat
//     ticks and Shutdown drains (register), and its engine serves it.
//  4. The end: the engine's done callback (connDone), or the handler's
//     close of an upgraded connection (trackUpgraded), ends it: endConn
//     records kestrel.connection.duration with the end reason and logs
//     ConnectionStop. A connection refused on the way ends the same way,
//     with ConnState(StateClosed) (connClosed) once ConnState saw it.
//
// HTTP/3 connections (QUIC over UDP) have their own path, in http3.go.

// acceptLoop serves the connections sk accepts until it is closed.
func (s *Server) acceptLoop(sk *socket) error {
	sk.ctx = s.listenerContext(sk.Listener)
	err := transport.Accept(sk, sk.conns, s.log.With(logging.Category(logevents.CategoryKestrel)), acceptor{s})
	if sk.stopped.Load() {
		return ErrServerClosed
	}
	logevents.General(s.log, slog.LevelError, "ListenerFailed", "The listener on "+sk.Addr().String()+" failed: "+err.Error())
	return fmt.Errorf("kestrel: accept on %s: %w", sk.Addr(), err)
}

// acceptor hands a socket's connections to the server; each comes with
// its listener (see socket.Accept).
type acceptor struct {
	s *Server
}

func (a acceptor) Queue(nc net.Conn) { a.s.metrics.Endpoint(nc.LocalAddr()).QueuedStart() }

func (a acceptor) Serve(nc net.Conn, slot *transport.Slot) { a.s.serveConn(nc, slot) }

// Reject closes a connection refused by MaxConcurrentConnections: it is
// logged at Debug (Kestrel's ConnectionRejected, a Warning there, would
// let a client grow the log at its accept rate), counted in
// kestrel.rejected_connections, and summarized by the heartbeat at most
// once per rejectedSummaryInterval.
func (a acceptor) Reject(nc net.Conn) {
	s := a.s
	s.rejected.Add()
	s.metrics.Endpoint(nc.LocalAddr()).Rejected()
	if logevents.ConnectionRejectedEvent.Enabled(s.log) {
		logevents.ConnectionRejected(s.log, logevents.NewConnectionID())
	}
	nc.Close()
}

// enterWay records st as on its way from the accept loop to its engine.
func (l *listener) enterWay(st *connState) {
	l.wayMu.Lock()
	if l.onWay == nil {
		l.onWay = make(map[*connState]struct{})
	}
	l.onWay[st] = struct{}{}
	l.wayMu.Unlock()
}

// leaveWay ends st's way: registered with its engine, or refused.
func (l *listener) leaveWay(st *connState) {
	l.wayMu.Lock()
	delete(l.onWay, st)
	l.wayMu.Unlock()
	l.pending.Done()
}

// closeOnWay closes the connections still on their way, with the end
// reason app_shutdown_timeout, and reports how many there were.
func (l *listener) closeOnWay() int {
	l.wayMu.Lock()
	defer l.wayMu.Unlock()
	for st := range l.onWay {
		st.reason.Force(metrics.AppShutdownTimeout)
		st.raw.Close()
	}
	return len(l.onWay)
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

// connState is what the server knows of a connection, from accept to
// end: its id for the logs, its metrics, and why it ended. An upgraded
// connection's state lives until the handler closes it.
type connState struct {
	id         string
	ep         *metrics.Endpoint
	start      time.Time
	tlsVersion uint16
	proto      metrics.Protocol

	// reason is where the engine records why the connection ended (the
	// first error wins); Shutdown forces app_shutdown_timeout on the
	// connections it aborts.
	reason metrics.EndReason

	conn engineConn // nil until the engine has it
	l    *listener  // the endpoint it came from
	raw  net.Conn   // the accepted socket, closed by abort on its way

	// tls is the base of the connection's context on a TLS endpoint, so
	// that TLSFromContext finds the handshake's result.
	tls tlsContext

	// Guarded by Server.mu.
	engineDone  bool // the engine is done with the connection
	upgradeOpen bool // a handler holds it, upgraded or hijacked

	// MaxConnectionAge, in Unix nanoseconds (0: none): when the
	// connection is retired (its age, jittered), and when an HTTP/2 or
	// HTTP/3 one still open is aborted: retireAt plus the grace until
	// the heartbeat sends its GOAWAY (goAway), then the GOAWAY's time
	// plus the grace. Guarded by Server.mu.
	retireAt int64
	abortAt  int64
	goAway   bool
}

// tlsContext is a TLS connection's context below ConnContext's: it
// answers TLSFromContext for the connection's context and its requests'.
type tlsContext struct {
	context.Context
	tcp  atomic.Pointer[tls.Conn] // set once the handshake is done
	quic interface{ ConnectionState() tls.ConnectionState }
}

type tlsContextKey struct{}

func (c *tlsContext) Value(key any) any {
	if key == (tlsContextKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// TLSFromContext returns the TLS state of the connection a request came
// on, from the request's context (r.Context() or Context.Context()) or
// from the connection's context given to ConnContext (ConnContext runs
// before the TLS handshake: the state is there once it is done); nil for
// a connection without TLS, or before its handshake. For a handler it is
// r.TLS; this reaches it where only a context travels, and from
// ConnContext's goroutines.
func TLSFromContext(ctx context.Context) *tls.ConnectionState {
	c, _ := ctx.Value(tlsContextKey{}).(*tlsContext)
	if c == nil {
		return nil
	}
	var cs tls.ConnectionState
	if tc := c.tcp.Load(); tc != nil {
		cs = tc.ConnectionState()
	} else if c.quic != nil {
		cs = c.quic.ConnectionState()
	} else {
		return nil
	}
	return &cs
}

// engineConn is what the server does with a connection's protocol engine.
type engineConn interface {
	Tick(now int64)
	CloseIfIdle() bool
	Abort()
	// Retire ends the connection gracefully once it has reached
	// MaxConnectionAge: HTTP/1.1's next response is its last, HTTP/2 and
	// HTTP/3 send GOAWAY and close once their streams end.
	Retire()
}

// setProto records the protocol the connection speaks (HTTP/1.1 may
// turn into HTTP/2 on an h2c connection).
func (st *connState) setProto(p metrics.Protocol) {
	st.ep.ConnProtocol(st.proto, p)
	st.proto = p
}

// startConn begins a connection's life: its id, its place in
// kestrel.active_connections, the ConnectionStart event.
func (s *Server) startConn(nc net.Conn) *connState {
	st := &connState{id: logevents.NewConnectionID(), ep: s.metrics.Endpoint(nc.LocalAddr()), start: time.Now()}
	st.ep.QueuedStop()
	st.ep.ConnStart()
	logevents.ConnectionStart(s.log, st.id)
	return st
}

// serveConn serves a connection from an accept loop: the PROXY header,
// the connection middleware, the TLS handshake, then the protocol. It
// registers the connection with its listener.
func (s *Server) serveConn(nc net.Conn, slot *transport.Slot) {
	a := nc.(*accepted)
	l, nc := a.l, a.Conn
	st := s.startConn(nc)
	st.l, st.raw = l, nc
	l.enterWay(st)
	info := &app.ConnInfo{ID: st.id, Reason: &st.reason, Metrics: st.ep}

	// The PROXY protocol header, before anything else.
	base := l.sock.ctx
	var rest []byte // read past a PROXY header, for the engine to serve first
	if l.ep.proxy != nil {
		pc, h, ok := s.acceptProxyHeader(st, l.ep.proxy, nc)
		if !ok {
			// The slot first: a client that sees the close and connects
			// again finds it free.
			slot.Release()
			nc.Close()
			s.endConn(st)
			l.leaveWay(st)
			return
		}
		nc = pc
		if h != nil {
			base = context.WithValue(base, proxyHeaderKey{}, h)
		}
		if p, ok := pc.(*proxyConn); ok && l.tls == nil && !l.ep.hasMiddleware() {
			// The engine takes these bytes, and the socket is then
			// its own as without the header (parking, sendfile); TLS
			// and the connection middleware read them through the
			// proxyConn.
			rest = p.takeRest()
		}
	}

	// ConnContext and ConnState see the connection as accepted (with the
	// PROXY header's addresses), as net/http's do.
	if l.tls != nil {
		st.tls.Context = base
		base = &st.tls
	}
	accepted := nc
	ctx := s.connContext(base, nc)
	if s.connState != nil {
		s.connState(nc, http.StateNew)
	}
	fail := func() {
		slot.Release() // before the close the client sees
		nc.Close()
		s.endConn(st)
		s.connClosed(accepted)
	}

	// The connection middleware (ListenOptions.Use), then TLS.
	if l.ep.hasMiddleware() {
		mc, ok := s.runMiddleware(st, l, ctx, nc, slot)
		if !ok {
			slot.Release()
			s.endConn(st)
			s.connClosed(accepted)
			l.leaveWay(st)
			return
		}
		nc = mc
		if p, ok := nc.(*proxyConn); ok && l.tls == nil {
			// The middleware returned the connection as it came: the
			// engine takes the bytes read past the PROXY header, and has
			// the socket (parking, sendfile), as without middleware.
			rest = p.takeRest()
		}
	}
	if l.tls != nil {
		tc, ok := s.handshake(st, l, ctx, nc)
		if !ok {
			fail()
			l.leaveWay(st)
			return
		}
		nc = tc
	} else if wt, ok := nc.(*wrappedTLSConn); ok && !s.middlewareHandshake(st, ctx, wt) {
		fail()
		l.leaveWay(st)
		return
	}

	// The protocol: ALPN's choice over TLS, the endpoint's otherwise.
	s.mu.Lock()
	cfg, h2cfg := l.cfg, l.h2cfg // the limits of the moment (Reload)
	s.mu.Unlock()
	protocols := l.ep.opts.Protocols.tcp()
	// The endpoint's TLS, or a middleware's (guarded: wrappedTLSConn).
	tc, isTLS := nc.(interface{ ConnectionState() tls.ConnectionState })
	if isTLS {
		cs := tc.ConnectionState()
		if cs.NegotiatedProtocol == acmez.ACMETLS1Protocol {
			// An ACME CA's TLS-ALPN-01 validation: the handshake, with
			// its challenge certificate, was the whole answer.
			fail()
			l.leaveWay(st)
			return
		}
		// h2 only where the endpoint (or the client's SNI entry) serves
		// HTTP/2, whatever a TLSHandshakeCallback's configuration let ALPN
		// agree on: otherwise HTTP/1.1, as Kestrel falls back.
		if cs.NegotiatedProtocol == "h2" && l.tls.protocols(protocols, cs.ServerName)&HTTP2 != 0 {
			s.serveHTTP2(l, h2cfg, st, info, nc, slot, ctx, accepted, nil)
			return
		}
		http2Only := protocols == HTTP2
		if l.tls != nil {
			http2Only = l.tls.http2Only(protocols, cs.ServerName)
		}
		if http2Only {
			// Kestrel's rule: HTTP/2 over TLS needs ALPN.
			logevents.General(s.log, slog.LevelDebug, "Http2NotNegotiated",
				`Connection id "`+st.id+`": HTTP/2 over TLS was not negotiated on an HTTP/2-only endpoint (`+l.ep.url+`: the client did not offer ALPN h2).`,
				slog.String("ConnectionId", st.id))
			st.reason.Set(metrics.InvalidHTTPVersion)
			fail()
			l.leaveWay(st)
			return
		}
	} else if protocols == HTTP2 {
		s.serveHTTP2(l, h2cfg, st, info, nc, slot, ctx, accepted, rest) // h2c with prior knowledge
		return
	}
	st.setProto(metrics.HTTP11)
	opts := http1.ConnOptions{
		Draining: &l.draining,
		Slot:     slot,
		Context:  ctx,
		Accepted: accepted,
		Info:     info,
		Buffered: rest,
		Done: func() {
			slot.Release()
			s.connDone(nc)
		},
	}
	if protocols&HTTP2 != 0 && !isTLS {
		opts.HTTP2 = func(nc net.Conn, buffered []byte) {
			s.serveHTTP2(l, h2cfg, st, info, nc, slot, ctx, accepted, buffered)
		}
	}
	s.serveRegistered(l, http1.NewConn(cfg, nc, opts), nc, accepted, st, slot)
}

// acceptProxyHeader reads the PROXY header of a connection on an endpoint
// with ProxyProtocol; a refusal is logged at Debug and recorded as the
// connection's end reason, and the connection is not to be served.
func (s *Server) acceptProxyHeader(st *connState, pol *proxyPolicy, nc net.Conn) (net.Conn, *ProxyHeader, bool) {
	c, h, reason, err := readProxyHeader(pol, nc)
	if err != nil {
		st.reason.Set(reason)
		if logevents.ProxyProtocolRefusedEvent.Enabled(s.log) {
			logevents.ProxyProtocolRefused(s.log, st.id, nc.RemoteAddr().String(), err.Error())
		}
		return nil, nil, false
	}
	return c, h, true
}

// connContext is the context of a new connection: the parent of its
// requests' contexts.
func (s *Server) connContext(base context.Context, nc net.Conn) context.Context {
	if s.ConnContext == nil {
		return base
	}
	ctx := s.ConnContext(base, nc)
	if ctx == nil {
		panic("kestrel: ConnContext returned a nil context")
	}
	return ctx
}

// handshake runs the TLS handshake of an https endpoint's connection,
// measuring it; a failure is logged at Debug, as Kestrel does, and ends
// the connection with tls_handshake_failed (tls_refused when the
// endpoint's TLSHandshakeCallback refused it). ctx is the connection's,
// for the callback.
func (s *Server) handshake(st *connState, l *listener, ctx context.Context, nc net.Conn) (*tls.Conn, bool) {
	st.ep.TLSStart()
	start := time.Now()
	config := l.tls.config
	hctx := context.Background()
	if l.tls.hello != nil {
		nc, config = l.tls.hello.wrap(ctx, nc), l.tls.hello.config
		// The time limit is the connection's deadline, which a callback
		// slower than it would not meet: a context with the same limit
		// closes the connection at the limit (and is the ClientHello's
		// ClientHelloInfo.Context, for a callback that waits).
		timeout := l.tls.timeout
		if timeout <= 0 {
			timeout = tlsconn.DefaultHandshakeTimeout
		}
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(hctx, timeout)
		defer cancel()
	}
	tc, err := tlsconn.Handshake(hctx, nc, config, l.tls.timeout)
	if err != nil {
		kind := tlsconn.ErrorType(err)
		st.ep.TLSEnd(start, 0, kind)
		if kind == tlsconn.TypeRefused {
			st.reason.Set(metrics.TLSRefused)
		} else {
			st.reason.Set(metrics.TLSHandshakeFailed)
		}
		if kind == "timeout" {
			logevents.AuthenticationTimedOut(s.log, st.id)
		} else {
			logevents.AuthenticationFailed(s.log, st.id, err)
		}
		return nil, false
	}
	st.tlsVersion = tc.ConnectionState().Version
	st.tls.tcp.Store(tc)
	st.ep.TLSEnd(start, st.tlsVersion, "")
	if logevents.HTTPSConnectionEstablishedEvent.Enabled(s.log) {
		logevents.HTTPSConnectionEstablished(s.log, st.id, tlsconn.VersionName(st.tlsVersion))
	}
	return tc, true
}

// middlewareHandshake completes the handshake of a *tls.Conn a connection
// middleware made and returned without one, within Kestrel's default
// handshake time limit (the endpoint itself has no HTTPS options); a
// failure ends the connection and is logged as the endpoint's own
// handshake's is.
func (s *Server) middlewareHandshake(st *connState, ctx context.Context, c *wrappedTLSConn) bool {
	err := c.handshake(ctx, tlsconn.DefaultHandshakeTimeout)
	switch {
	case err == nil:
		return true
	case errors.Is(err, errWrapperPanicked):
		return false // logged, with its reason, by the guard
	}
	st.reason.Set(metrics.TLSHandshakeFailed)
	if tlsconn.ErrorType(err) == "timeout" {
		logevents.AuthenticationTimedOut(s.log, st.id)
	} else {
		logevents.AuthenticationFailed(s.log, st.id, err)
	}
	return false
}

// serveHTTP2 serves nc as an HTTP/2 connection: over TLS after ALPN chose
// h2, or in cleartext (h2c) with the bytes HTTP/1.1 read before it saw the
// connection preface.
func (s *Server) serveHTTP2(l *listener, cfg *http2.Config, st *connState, info *app.ConnInfo, nc net.Conn, slot *transport.Slot, ctx context.Context, accepted net.Conn, buffered []byte) {
	st.setProto(metrics.HTTP2)
	c := http2.NewConn(cfg, nc, http2.Options{
		Info:     info,
		Draining: &l.draining,
		Context:  ctx,
		Accepted: accepted,
		OnState:  s.connState,
		Buffered: buffered,
		Done: func() {
			slot.Release()
			s.connDone(nc)
		},
	})
	s.serveRegistered(l, c, nc, accepted, st, slot)
}

// serveRegistered registers c, the engine serving nc (accepted as
// accepted), and serves it; once the server has been closed, it closes
// the connection instead.
func (s *Server) serveRegistered(l *listener, c interface {
	engineConn
	Serve()
}, nc, accepted net.Conn, st *connState, slot *transport.Slot) {
	if !s.register(l, nc, st, c) {
		slot.Release()
		nc.Close()
		s.endConn(st)
		s.connClosed(accepted)
		return
	}
	c.Serve()
}

// register puts a connection in the registry the heartbeat ticks and
// Shutdown drains, or reports false once the server has been closed (a
// shutdown serves the connections accepted before it began). A connection
// handed from one engine to another keeps its entry. Its first
// registration ends its way from the accept loop (listener.pending).
func (s *Server) register(l *listener, nc net.Conn, st *connState, c engineConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[nc] == nil {
		defer l.leaveWay(st)
		if s.aborted {
			return false
		}
		if st.retireAt == 0 {
			lim := s.active.limits
			st.retireAt, st.abortAt = ageDeadlines(st.start, lim.MaxConnectionAge, lim.MaxConnectionAgeGrace)
		}
	}
	st.conn = c
	s.conns[nc] = st
	return true
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
		s.mu.Unlock()
		if end {
			s.endConn(st) // a connection lasts until its upgraded life ends
		}
	})
}

// connDone is the engine's done callback: the connection ends, unless a
// handler took it over and still holds it.
func (s *Server) connDone(nc net.Conn) {
	s.mu.Lock()
	st := s.conns[nc]
	delete(s.conns, nc)
	end := st != nil && !st.upgradeOpen
	if st != nil {
		st.engineDone = true
	}
	s.mu.Unlock()
	if end {
		s.endConn(st)
	}
}

// connClosed reports a connection that ended before it was served.
func (s *Server) connClosed(nc net.Conn) {
	if s.connState != nil {
		s.connState(nc, http.StateClosed)
	}
}

// callConnState calls ConnState. A panic closes the connection (the
// engine serving it then ends it) and is logged as the error
// ConnStateFailed with its stack, as net/http's connection goroutine
// recovers the panics of the states it reports there; net/http's
// StateNew, reported from its accept loop, would end the process.
func (s *Server) callConnState(c net.Conn, state http.ConnState) {
	defer func() {
		if v := recover(); v != nil {
			logevents.General(s.log, slog.LevelError, "ConnStateFailed",
				fmt.Sprintf("ConnState(%v) panicked on the connection from %v, which is closed: %v\n%s", state, c.RemoteAddr(), v, debug.Stack()))
			c.Close()
		}
	}()
	s.ConnState(c, state)
}

// endConn ends a connection's life: its duration with the reason it
// ended, the ConnectionStop event.
func (s *Server) endConn(st *connState) {
	// The event, then the metric: whoever sees the connection's duration
	// recorded finds its ConnectionStop logged too.
	logevents.ConnectionStop(s.log, st.id)
	st.ep.ConnEnd(st.start, st.proto, st.tlsVersion, st.reason.Get())
}
