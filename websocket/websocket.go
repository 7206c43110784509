// Package websocket accepts WebSocket connections on a kestrel.Server (or
// any net/http server) with github.com/coder/websocket, which does the
// RFC 6455 framing, and answers cleanly when the server refuses the
// upgrade because Limits.MaxConcurrentUpgradedConnections is reached.
//
//	http.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
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
	StatusNormalClosure = cws.StatusNormalClosure
	StatusGoingAway     = cws.StatusGoingAway
)

// CloseStatus returns the close status code of err, or -1.
func CloseStatus(err error) StatusCode { return cws.CloseStatus(err) }

// Accept upgrades the request to a WebSocket connection. On failure it has
// answered the request: 503 with Retry-After when the server's
// upgraded-connection limit is reached, 426 Upgrade Required for a
// request over HTTP/2 or HTTP/3 (WebSockets need HTTP/1.1 here: RFC 8441's
// extended CONNECT is not offered), 4xx for a request that is not a valid WebSocket
// handshake.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if r.ProtoMajor != 1 {
		http.Error(w, "WebSocket connections need HTTP/1.1; this request came over "+r.Proto, http.StatusUpgradeRequired)
		return nil, ErrNeedsHTTP1
	}
	g := &guard{ResponseWriter: w}
	c, err := cws.Accept(g, r, opts)
	if err != nil && g.refused {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many WebSocket connections; try again later", http.StatusServiceUnavailable)
	}
	return c, err
}

// ErrNeedsHTTP1 is returned by Accept for a request over HTTP/2 or HTTP/3.
var ErrNeedsHTTP1 = errors.New("websocket: WebSocket connections need HTTP/1.1")

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
// until the client closes (the demo app's /ws).
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
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
}
