package kestrel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/connlog"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// A ConnectionMiddleware sees each connection an endpoint accepts before
// TLS and the HTTP protocol, as Kestrel's ListenOptions.Use does: it can
// read from and write to c, inspect it (its addresses are those of a PROXY
// protocol header, when the endpoint takes one), refuse it, or wrap it.
//
// It returns the connection the server goes on with: c itself, or a
// net.Conn that wraps c, such as one that counts or transforms the bytes.
// Returning a non-nil error refuses the connection: the server closes c
// and ends the connection with the end reason connection_refused (the
// error.type of kestrel.connection.duration), logging the error at Debug
// level (event ConnectionMiddlewareRefused). A middleware that wants the
// client to see an answer writes it to c before returning the error.
//
// ctx is the connection's context: the one ConnContext returned, the
// parent of its requests' contexts, with the PROXY header
// (ProxyHeaderFromContext). To pass what a middleware learned to the
// requests, let ConnContext put a pointer in the context and fill it
// from the middleware. The server calls Close on the connection the
// middleware returned when the connection ends, however it ends
// (possibly more than once: Close must tolerate that); a wrapper sees the
// connection's end there. A wrapper must not be used by the middleware
// after it has been returned other than through its own methods.
//
// The middleware of an endpoint run in order: the first sees the accepted
// connection, each next one the connection the previous one returned.
// They run on the connection's own goroutine, before the TLS handshake
// time limit starts; a middleware that reads should set its own deadline
// on c (and clear it). A panic in a middleware is recovered: it is logged
// as an error (event ConnectionMiddlewareFailed, with its stack) and
// closes the connection. So is a panic in the Read, Write, Close,
// deadline setters or LocalAddr and RemoteAddr of the connection it
// returned, or of the connection below a *tls.Conn it returned,
// whichever goroutine calls them.
//
// A middleware may terminate TLS itself and return a *tls.Conn, with or
// without its handshake done: the server runs a handshake not yet run
// (within 10 s, Kestrel's default handshake time limit) before it
// chooses the protocol by ALPN, as net/http's server does for a
// tls.Listener's connections.
//
// A connection that was wrapped is served through its wrapper alone:
// what the server does on the socket directly when it has the socket
// (sendfile(2) for static files, holding idle keep-alive connections
// without a goroutine) falls back to the portable way through Read and
// Write. A middleware that returns c itself costs none of that.
type ConnectionMiddleware func(ctx context.Context, c net.Conn) (net.Conn, error)

// ConnectionLogging returns a ConnectionMiddleware that logs the
// connection's opening, each read and write (its size and first bytes)
// and its closing to log at Debug level, as Kestrel's UseConnectionLogging
// does. Endpoint.LogConnections (the configuration file's LogConnections)
// adds it, with the server's logger, after the endpoint's other
// middleware. Before the TLS handshake, as here, it logs the encrypted
// bytes.
func ConnectionLogging(log *slog.Logger) ConnectionMiddleware {
	return func(_ context.Context, c net.Conn) (net.Conn, error) {
		return connlog.Wrap(c, log), nil
	}
}

// hasMiddleware reports whether the endpoint's connections go through
// connection middleware, the built-in connection logging included.
func (ep *endpoint) hasMiddleware() bool {
	return len(ep.opts.ConnectionMiddleware) > 0 || ep.opts.LogConnections
}

// runMiddleware runs the endpoint's connection middleware on nc, then the
// connection logging. It returns the connection to serve or, when a
// middleware refused it, failed or panicked, reports false: the
// connection is then closed, its slot released first, with its end
// reason recorded and logged.
func (s *Server) runMiddleware(st *connState, l *listener, ctx context.Context, nc net.Conn, slot *transport.Slot) (c net.Conn, ok bool) {
	in := nc
	wrapper := -1 // the last middleware that returned a connection of its own
	for i, mw := range l.ep.opts.ConnectionMiddleware {
		next, err := s.callMiddleware(mw, ctx, nc)
		if err != nil && typedNil(err) {
			// Its methods (Error, Unwrap) would panic on the nil receiver.
			err = fmt.Errorf("the middleware returned a nil %T as its error, which is not a nil error (return the error interface's nil to go on)", err)
		}
		if err != nil {
			s.refuseByMiddleware(st, l, i, nc, slot, err)
			return nil, false
		}
		if next == nil {
			s.refuseByMiddleware(st, l, i, nc, slot, errors.New("the middleware returned no connection and no error"))
			return nil, false
		}
		if next != nc {
			wrapper = i
		}
		nc = next
	}
	if l.ep.opts.LogConnections {
		nc = connlog.Wrap(nc, s.log)
	}
	if nc != in {
		nc = s.guard(st, l, wrapper, in, nc)
	}
	return nc, true
}

// errMiddlewarePanic marks a middleware's panic, recovered.
var errMiddlewarePanic = errors.New("panic")

// callMiddleware calls mw, turning a panic into an error.
func (s *Server) callMiddleware(mw ConnectionMiddleware, ctx context.Context, nc net.Conn) (c net.Conn, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v\n%s", errMiddlewarePanic, v, debug.Stack())
		}
	}()
	return mw(ctx, nc)
}

// refuseByMiddleware closes a connection the i-th middleware refused (nc
// is the connection it was given), recording and logging why.
func (s *Server) refuseByMiddleware(st *connState, l *listener, i int, nc net.Conn, slot *transport.Slot, err error) {
	defer func() {
		// After the log, what the client sees comes last: the slot free
		// (a client that connects again at once finds it), then the close.
		slot.Release()
		nc.Close()
	}()
	where := fmt.Sprintf("connection middleware %d of %s", i, l.ep.url)
	if errors.Is(err, errMiddlewarePanic) {
		st.reason.Set(metrics.OtherError)
		logevents.General(s.log, slog.LevelError, "ConnectionMiddlewareFailed",
			`Connection id "`+st.id+`": `+where+` panicked: `+err.Error(),
			slog.String("ConnectionId", st.id))
		return
	}
	st.reason.Set(metrics.ConnectionRefused)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		logevents.General(s.log, slog.LevelDebug, "ConnectionMiddlewareRefused",
			`Connection id "`+st.id+`" refused by `+where+`: `+err.Error()+".",
			slog.String("ConnectionId", st.id), slog.String("RemoteAddress", nc.RemoteAddr().String()))
	}
}

// guard returns c, a connection the middleware returned in place of the
// one accepted (in), to be served through its methods alone, guarded
// (wrappedConn). The sockets of the standard library are served as they
// are; a *tls.Conn a middleware made is guarded too, as wrappedTLSConn,
// which keeps its connection state for the engines (its Read and Write
// call the middleware's connection below it). i is the last middleware
// that returned a connection of its own, -1 when only the connection
// logging did.
func (s *Server) guard(st *connState, l *listener, i int, in, c net.Conn) net.Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return c
	}
	where := "the connection logging"
	if i >= 0 {
		where = fmt.Sprintf("connection middleware %d of %s", i, l.ep.url)
	}
	failed := func(op string, v any, stack []byte) {
		st.reason.Set(metrics.OtherError)
		logevents.General(s.log, slog.LevelError, "ConnectionMiddlewareFailed",
			fmt.Sprintf(`Connection id "%s": %s of the connection that %s returned panicked, closing the connection: %v`+"\n%s", st.id, op, where, v, stack),
			slog.String("ConnectionId", st.id))
	}
	if tc, ok := c.(*tls.Conn); ok {
		w := &wrappedTLSConn{tls: tc}
		w.Conn, w.sock, w.failed = c, in, failed
		return w
	}
	return &wrappedConn{Conn: c, sock: in, failed: failed}
}

// errWrapperPanicked is what a wrappedConn's methods return once one of
// them panicked.
var errWrapperPanicked = errors.New("kestrel: the connection a connection middleware returned panicked (logged as ConnectionMiddlewareFailed)")

// wrappedConn is a connection a middleware returned, which the engines
// read and write through its methods alone. It hides the socket a
// wrapper may embed (a *net.TCPConn exposes syscall.Conn, which the
// engines would read and write directly, past the wrapper), and it keeps
// a panic in the wrapper's Read, Write, Close, deadline setters or
// address getters to its connection, as net/http's connection goroutine
// and Kestrel do: the first panic is reported to failed (logged with its
// stack), the accepted socket is closed, and that call and every later
// one fail with errWrapperPanicked (the address getters answer with the
// accepted socket's) without calling the wrapper again.
type wrappedConn struct {
	net.Conn
	sock   net.Conn // the connection as accepted
	failed func(op string, v any, stack []byte)
	broken atomic.Bool
}

// recovered, deferred by each guarded method, turns a panic of the
// wrapper's op into *err.
func (c *wrappedConn) recovered(op string, err *error) {
	if v := recover(); v != nil {
		*err = errWrapperPanicked
		c.fail(op, v)
	}
}

// fail ends the connection after the wrapper's op panicked with v: the
// first panic is reported with its stack (fail runs in the deferred
// call, on the panicking stack) and closes the accepted socket.
func (c *wrappedConn) fail(op string, v any) {
	if c.broken.Swap(true) {
		return
	}
	// The reason and the log before the close: the engine, seeing the
	// socket closed on another goroutine, may end the connection at once.
	c.failed(op, v, debug.Stack())
	c.sock.Close()
}

func (c *wrappedConn) Read(p []byte) (n int, err error) {
	if c.broken.Load() {
		return 0, errWrapperPanicked
	}
	defer c.recovered("Read", &err)
	return c.Conn.Read(p)
}

func (c *wrappedConn) Write(p []byte) (n int, err error) {
	if c.broken.Load() {
		return 0, errWrapperPanicked
	}
	defer c.recovered("Write", &err)
	return c.Conn.Write(p)
}

func (c *wrappedConn) Close() (err error) {
	if c.broken.Load() {
		return c.sock.Close()
	}
	defer c.recovered("Close", &err)
	return c.Conn.Close()
}

// LocalAddr and RemoteAddr, once the wrapper's panicked, answer with the
// accepted connection's addresses (never nil: the engines and the logs
// use them).
func (c *wrappedConn) LocalAddr() (a net.Addr) {
	if c.broken.Load() {
		return c.sock.LocalAddr()
	}
	defer c.recoveredAddr("LocalAddr", &a, c.sock.LocalAddr)
	return c.Conn.LocalAddr()
}

func (c *wrappedConn) RemoteAddr() (a net.Addr) {
	if c.broken.Load() {
		return c.sock.RemoteAddr()
	}
	defer c.recoveredAddr("RemoteAddr", &a, c.sock.RemoteAddr)
	return c.Conn.RemoteAddr()
}

// recoveredAddr, deferred by the address getters, turns a panic of the
// wrapper's op into the accepted connection's address (sock).
func (c *wrappedConn) recoveredAddr(op string, a *net.Addr, sock func() net.Addr) {
	if v := recover(); v != nil {
		*a = sock()
		c.fail(op, v)
	}
}

func (c *wrappedConn) SetDeadline(t time.Time) (err error) {
	if c.broken.Load() {
		return errWrapperPanicked
	}
	defer c.recovered("SetDeadline", &err)
	return c.Conn.SetDeadline(t)
}

func (c *wrappedConn) SetReadDeadline(t time.Time) (err error) {
	if c.broken.Load() {
		return errWrapperPanicked
	}
	defer c.recovered("SetReadDeadline", &err)
	return c.Conn.SetReadDeadline(t)
}

func (c *wrappedConn) SetWriteDeadline(t time.Time) (err error) {
	if c.broken.Load() {
		return errWrapperPanicked
	}
	defer c.recovered("SetWriteDeadline", &err)
	return c.Conn.SetWriteDeadline(t)
}

// NetConn is the middleware's connection, for what looks through
// wrappers without reading or writing (socket options before a close,
// whether the client has gone).
func (c *wrappedConn) NetConn() net.Conn { return c.Conn }

// wrappedTLSConn is a *tls.Conn a middleware made over a connection of its
// own, guarded as wrappedConn is (a panic in that connection surfaces in
// the *tls.Conn's methods); the engines see its TLS state through
// ConnectionState, and a lingering close half-closes it (CloseWrite).
type wrappedTLSConn struct {
	wrappedConn
	tls *tls.Conn
}

// ConnectionState is the *tls.Conn's: it reads no connection.
func (c *wrappedTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// handshake runs the *tls.Conn's handshake, if the middleware returned it
// without one (tls.Server's connections handshake on their first read,
// too late for ALPN to choose the protocol), within timeout and ctx, as
// net/http's connection goroutine does for a tls.Listener's connections.
// A panic below it fails it as it fails the other methods.
func (c *wrappedTLSConn) handshake(ctx context.Context, timeout time.Duration) (err error) {
	if c.tls.ConnectionState().HandshakeComplete {
		return nil
	}
	if c.broken.Load() {
		return errWrapperPanicked
	}
	defer c.recovered("Handshake", &err)
	c.tls.SetDeadline(time.Now().Add(timeout))
	if err := c.tls.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	return c.tls.SetDeadline(time.Time{})
}

// CloseWrite sends the TLS close_notify and half-closes the connection
// below, through the middleware's connection.
func (c *wrappedTLSConn) CloseWrite() (err error) {
	if c.broken.Load() {
		return errWrapperPanicked
	}
	defer c.recovered("CloseWrite", &err)
	return c.tls.CloseWrite()
}
