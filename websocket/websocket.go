// Package websocket accepts WebSocket connections on a kestrel.Server (or
// any net/http server) with github.com/coder/websocket, which does the
// RFC 6455 framing, and answers cleanly when the server refuses the
// upgrade because Limits.MaxConcurrentUpgradedConnections is reached.
//
// A WebSocket arrives over HTTP/1.1 (a GET with Upgrade: websocket,
// answered 101), over HTTP/2 (RFC 8441) or over HTTP/3 (RFC 9220): an
// extended CONNECT with :protocol websocket, answered 200, whose stream
// carries the WebSocket's frames. Accept takes all three and returns the
// same Conn. Browsers use an HTTP/2 or HTTP/3 connection they already
// have for a WebSocket when the server offers it (kestrel.Server does on
// an endpoint with Endpoint.EnableWebSocketsOverHTTP2); such a request's method is
// CONNECT, so register the handler for every method, not "GET /ws":
//
//	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
//		c, err := websocket.Accept(w, r, nil)
//		if err != nil {
//			return // answered already
//		}
//		defer c.CloseNow()
//		for {
//			typ, msg, err := c.Read(r.Context())
//			if err != nil {
//				return
//			}
//			c.Write(r.Context(), typ, msg)
//		}
//	})
package websocket

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	cws "github.com/coder/websocket"

	"github.com/kestrel-go/kestrel"
)

// Conn is a WebSocket connection; see github.com/coder/websocket.
type Conn = cws.Conn

// AcceptOptions are the options of Accept; see github.com/coder/websocket.
type AcceptOptions = cws.AcceptOptions

// MessageType is a WebSocket message's type: MessageText or MessageBinary.
type MessageType = cws.MessageType

// The message types.
const (
	MessageText   = cws.MessageText
	MessageBinary = cws.MessageBinary
)

// StatusCode is a close status code, such as StatusNormalClosure.
type StatusCode = cws.StatusCode

// Close status codes used here; see github.com/coder/websocket for all.
const (
	StatusNormalClosure           = cws.StatusNormalClosure
	StatusGoingAway               = cws.StatusGoingAway
	StatusInvalidFramePayloadData = cws.StatusInvalidFramePayloadData
)

// CloseStatus returns the close status code of err, or -1.
func CloseStatus(err error) StatusCode { return cws.CloseStatus(err) }

// Accept accepts a WebSocket connection: it upgrades an HTTP/1.1 request
// (101 Switching Protocols), or accepts an extended CONNECT over HTTP/2
// or HTTP/3 (200, RFC 8441 and RFC 9220: no Sec-WebSocket-Key nor
// Sec-WebSocket-Accept, Sec-WebSocket-Version 13 still required). On
// failure it has answered the request: 503 with Retry-After when the
// server's upgraded-connection limit is reached (kestrel.Server answers
// an extended CONNECT over the limit itself, before the handler runs),
// 426 Upgrade Required for an HTTP/2 or HTTP/3 request that is not an
// extended CONNECT, 4xx for a request that is not a valid WebSocket
// handshake.
//
// Over HTTP/2 and HTTP/3 the connection is the request's stream: it ends
// when the handler returns, so the handler must serve the WebSocket
// before it returns (as the example does), and the request's body and
// ResponseWriter belong to the connection.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if r.ProtoMajor >= 2 {
		return acceptTunnel(w, r, opts)
	}
	g := &guard{ResponseWriter: w}
	c, err := cws.Accept(g, r, opts)
	if err != nil && g.refused {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many WebSocket connections; try again later", http.StatusServiceUnavailable)
	}
	return c, err
}

// ErrNeedsHTTP1 is returned by Accept for a request over HTTP/2 or HTTP/3
// that is not an extended CONNECT: such a WebSocket handshake needs
// HTTP/1.1's Upgrade.
var ErrNeedsHTTP1 = errors.New("websocket: a WebSocket over HTTP/2 or HTTP/3 is an extended CONNECT with :protocol websocket; other requests need HTTP/1.1's Upgrade")

// Protocol returns the protocol an extended CONNECT request asks for
// (RFC 8441's :protocol, "websocket" for a WebSocket), or "" for any
// other request. kestrel.Server and x/net/http2's server show :protocol
// as the header ":protocol"; quic-go's HTTP/3 server puts it in r.Proto.
func Protocol(r *http.Request) string {
	if r.Method != http.MethodConnect || r.ProtoMajor < 2 {
		return ""
	}
	if p := r.Header.Get(":protocol"); p != "" {
		return p
	}
	if r.Proto != "" && r.Proto != "HTTP/2.0" && r.Proto != "HTTP/3.0" && r.Proto != "HTTP/3" {
		return r.Proto
	}
	return ""
}

// acceptTunnel accepts a WebSocket over an HTTP/2 or HTTP/3 stream. The
// stream is given to github.com/coder/websocket as a connection the
// handshake took over: its Accept sees the HTTP/1.1 form of the handshake
// (with a key of its own, as RFC 8441 has none), and its 101 becomes the
// 200 that accepts the extended CONNECT, without the 101's headers.
func acceptTunnel(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	switch p := Protocol(r); p {
	case "websocket":
	case "":
		http.Error(w, "a WebSocket over "+r.Proto+" is an extended CONNECT with :protocol websocket (RFC 8441, RFC 9220), or an HTTP/1.1 Upgrade", http.StatusUpgradeRequired)
		return nil, ErrNeedsHTTP1
	default:
		http.Error(w, "extended CONNECT for "+p+", not websocket", http.StatusBadRequest)
		return nil, errors.New("websocket: extended CONNECT for " + p + ", not websocket")
	}
	r1 := new(http.Request)
	*r1 = *r
	r1.Method, r1.Proto, r1.ProtoMajor, r1.ProtoMinor = http.MethodGet, "HTTP/1.1", 1, 1
	r1.Header = r.Header.Clone()
	r1.Header.Del(":protocol")
	r1.Header.Set("Connection", "Upgrade")
	r1.Header.Set("Upgrade", "websocket")
	r1.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==") // 16 zero bytes; its Accept is not sent
	tw := &tunnelWriter{w: w, r: r, header: make(http.Header)}
	return cws.Accept(tw, r1, opts)
}

// tunnelWriter is the ResponseWriter github.com/coder/websocket's Accept
// sees for an extended CONNECT: the headers it sets go to w, but for the
// HTTP/1.1 handshake's; its 101 is sent as 200; Hijack returns the stream.
type tunnelWriter struct {
	w      http.ResponseWriter
	r      *http.Request
	header http.Header
	err    error // the 200 could not be sent
}

func (t *tunnelWriter) Header() http.Header { return t.header }

func (t *tunnelWriter) WriteHeader(code int) {
	h := t.w.Header()
	for k, v := range t.header {
		switch k {
		case "Connection", "Upgrade", "Sec-Websocket-Accept":
			continue // HTTP/1.1's handshake (RFC 8441, 5)
		}
		h[k] = v
	}
	if code != http.StatusSwitchingProtocols {
		t.w.WriteHeader(code)
		return
	}
	t.w.WriteHeader(http.StatusOK)
	t.err = http.NewResponseController(t.w).Flush()
}

func (t *tunnelWriter) Write(p []byte) (int, error) { return t.w.Write(p) }

func (t *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if t.err != nil {
		return nil, nil, t.err
	}
	c := &streamConn{body: t.r.Body, w: t.w, rc: http.NewResponseController(t.w), remote: t.r.RemoteAddr, quic: t.r.ProtoMajor == 3}
	if a, ok := t.r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		c.local = a
	}
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)), nil
}

// streamConn is an HTTP/2 or HTTP/3 stream as a net.Conn: it reads the
// request body and writes, flushed at once, the response body.
type streamConn struct {
	body   interface{ Read([]byte) (int, error) }
	w      http.ResponseWriter
	rc     *http.ResponseController
	local  net.Addr
	remote string
	quic   bool // HTTP/3: the addresses are UDP ones

	mu     sync.Mutex // serializes writes; held while one waits for the client
	once   sync.Once
	closed atomic.Bool
}

func (c *streamConn) Read(p []byte) (int, error) { return c.body.Read(p) }

func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	return n, err
}

// Close stops the connection's reads and writes, as a net.Conn's Close
// does: a pending Read or Write fails at once. A Write waiting for a
// client that does not read (its flow-control window shut) is aborted by
// the write deadline, which resets the stream; without one pending, the
// stream ends normally when the handler returns. coder/websocket relies
// on this to end a write whose context is done.
func (c *streamConn) Close() error {
	c.once.Do(func() {
		c.closed.Store(true) // a Write not yet started fails
		if c.mu.TryLock() {
			c.mu.Unlock()
		} else {
			_ = c.rc.SetWriteDeadline(time.Now()) // wakes the pending Write
		}
		_ = c.rc.SetReadDeadline(time.Now()) // wakes a pending Read
	})
	return nil
}

func (c *streamConn) LocalAddr() net.Addr { return c.local }

func (c *streamConn) RemoteAddr() net.Addr {
	ap, err := netip.ParseAddrPort(c.remote)
	if err != nil {
		return nil
	}
	if c.quic {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

func (c *streamConn) SetDeadline(t time.Time) error {
	if err := c.rc.SetReadDeadline(t); err != nil {
		return err
	}
	return c.rc.SetWriteDeadline(t)
}

func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.rc.SetReadDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.rc.SetWriteDeadline(t) }

// guard passes everything through to the ResponseWriter, except what the
// library writes after the server refused the upgrade, so that Accept can
// answer 503 instead of the library's 500.
type guard struct {
	http.ResponseWriter
	refused bool
}

func (g *guard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := g.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, brw, err := hj.Hijack()
	if errors.Is(err, kestrel.ErrUpgradeLimit) {
		g.refused = true
	}
	return c, brw, err
}

func (g *guard) WriteHeader(code int) {
	if !g.refused {
		g.ResponseWriter.WriteHeader(code)
	}
}

func (g *guard) Write(p []byte) (int, error) {
	if g.refused {
		return len(p), nil
	}
	return g.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the ResponseWriter.
func (g *guard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// Echo returns a handler that echoes every message back with its type
// until the client closes (the demo app's /ws). A text message that is not
// UTF-8 ends the connection with StatusInvalidFramePayloadData (1007), as
// RFC 6455, 8.1 asks; coder/websocket's Conn leaves that check to its
// reader, so a handler of its own that reads text should make it too.
func Echo(opts *AcceptOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(32 << 20)
		ctx := context.Background() // the connection, not the request, bounds the echo
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				if s := CloseStatus(err); s != -1 {
					c.Close(s, "")
				}
				return
			}
			if typ == MessageText && !utf8.Valid(msg) {
				c.Close(StatusInvalidFramePayloadData, "text message is not UTF-8")
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
}
