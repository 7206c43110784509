package kestrel

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/tlsconn"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// rejectedSummaryInterval is how often, at most, the connections refused
// by MaxConcurrentConnections are summarized at Warning level; each one
// is logged at Debug.
const rejectedSummaryInterval = 10 * time.Second

// engineConn is what the server does with a connection's protocol engine.
type engineConn interface {
	Tick(now int64)
	CloseIfIdle() bool
	Abort()
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

	// Guarded by Server.mu.
	engineDone  bool // the engine is done with the connection
	upgradeOpen bool // a handler holds it, upgraded or hijacked
}

// setProto records the protocol the connection speaks (HTTP/1.1 may
// turn into HTTP/2 on an h2c connection).
func (st *connState) setProto(p metrics.Protocol) {
	st.ep.ConnProtocol(st.proto, p)
	st.proto = p
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

// startConn begins a connection's life: its id, its place in
// kestrel.active_connections, the ConnectionStart event.
func (s *Server) startConn(nc net.Conn) *connState {
	st := &connState{id: logevents.NewConnectionID(), ep: s.metrics.Endpoint(nc.LocalAddr()), start: time.Now()}
	st.ep.QueuedStop()
	st.ep.ConnStart()
	logevents.ConnectionStart(s.log, st.id)
	return st
}

// endConn ends a connection's life: its duration with the reason it
// ended, the ConnectionStop event.
func (s *Server) endConn(st *connState) {
	st.ep.ConnEnd(st.start, st.proto, st.tlsVersion, st.reason.Get())
	logevents.ConnectionStop(s.log, st.id)
}

// handshake runs the TLS handshake of an https endpoint's connection,
// measuring it; a failure is logged at Debug, as Kestrel does, and ends
// the connection with tls_handshake_failed.
func (s *Server) handshake(st *connState, l *listener, nc net.Conn) (*tls.Conn, bool) {
	st.ep.TLSStart()
	start := time.Now()
	tc, err := tlsconn.Handshake(context.Background(), nc, l.tls.config, l.tls.timeout)
	if err != nil {
		kind := tlsconn.ErrorType(err)
		st.ep.TLSEnd(start, 0, kind)
		st.reason.Set(metrics.TLSHandshakeFailed)
		if kind == "timeout" {
			logevents.AuthenticationTimedOut(s.log, st.id)
		} else {
			logevents.AuthenticationFailed(s.log, st.id, err)
		}
		return nil, false
	}
	st.tlsVersion = tc.ConnectionState().Version
	st.ep.TLSEnd(start, st.tlsVersion, "")
	if logevents.HTTPSConnectionEstablishedEvent.Enabled(s.log) {
		logevents.HTTPSConnectionEstablished(s.log, st.id, tlsconn.VersionName(st.tlsVersion))
	}
	return tc, true
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

// measureRequests wraps the engine's request handler to record
// http.server.active_requests and http.server.request.duration.
func (s *Server) measureRequests(next func(*app.Exchange)) func(*app.Exchange) {
	m := s.metrics
	return func(ex *app.Exchange) {
		r := m.RequestStart(ex.Method(), ex.Secure())
		returned := false
		defer func() {
			status, errorType := ex.ResponseStatus(), ""
			if !returned { // panicked: the engine answers 500 unless the response started
				errorType = metrics.ErrorPanic
				if !ex.Committed() {
					status = http.StatusInternalServerError
				}
			}
			proto := metrics.HTTP11
			switch {
			case ex.Req.ProtoMajor == 2:
				proto = metrics.HTTP2
			case ex.Req.ProtoMajor == 3:
				proto = metrics.HTTP3
			case ex.Req.ProtoMinor == 0:
				proto = metrics.HTTP10
			}
			m.RequestEnd(r, proto, status, ex.Pattern(), errorType)
		}()
		next(ex)
		returned = true
	}
}

// observeTick is the heartbeat's share of the logs: a slow heartbeat, and
// the summary of rejected connections.
func (s *Server) observeTick(now time.Time) {
	if took := time.Since(now); took > heartbeat.Interval {
		logevents.HeartbeatSlow(s.log, took, heartbeat.Interval, now)
	}
	if n, over, ok := s.rejected.Due(now, rejectedSummaryInterval); ok {
		logevents.ConnectionsRejected(s.log, n, s.counter.Max(), over)
	}
}

// newMetrics creates the instruments on s.MeterProvider, with the known
// HTTP methods from OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS, as the
// semantic conventions ask.
func (s *Server) newMetrics() (*metrics.Metrics, error) {
	return metrics.New(s.MeterProvider, metrics.Options{
		KnownMethods: metrics.ParseKnownMethods(os.Getenv("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS")),
		Status:       s.statusWanted,
	})
}
