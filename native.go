package kestrel

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
)

// NativeHandler serves requests on the engine's zero-allocation path.
type NativeHandler interface {
	ServeKestrel(c *Context)
}

// NativeHandlerFunc adapts a function to NativeHandler.
type NativeHandlerFunc func(c *Context)

// ServeKestrel calls f(c).
func (f NativeHandlerFunc) ServeKestrel(c *Context) { f(c) }

// Context is one request and its response on the native path, whatever
// the protocol (HTTP/1.x, HTTP/2 or HTTP/3). It is valid only until the handler
// returns, and so are the byte slices it returns; copy what must outlive
// the handler.
//
// A response whose body fits in the server's 4 KiB response buffer when the
// handler returns is sent with a Content-Length; a longer or flushed one is
// streamed (HTTP/1.1: chunked transfer coding).
type Context struct {
	x *app.Exchange
}

func (c *Context) ex() *app.Exchange { return c.x }

// nativeContext returns the Context of an exchange, made once per pooled
// exchange.
func nativeContext(ex *app.Exchange) *Context {
	c, _ := ex.Native.(*Context)
	if c == nil {
		c = &Context{x: ex}
		ex.Native = c
	}
	return c
}

// Method is the request method, such as "GET".
func (c *Context) Method() []byte { return c.ex().Method() }

// Target is the request-target as the client sent it, such as
// "/search?q=go".
func (c *Context) Target() []byte { return c.ex().Target() }

// Path is the target's path, without the query, as sent (not unescaped:
// "/a%2Fb" stays so); "*" for OPTIONS *, the authority for CONNECT.
func (c *Context) Path() []byte { return c.ex().Path() }

// Query is the target's query string, without the '?'.
func (c *Context) Query() []byte { return c.ex().Query() }

// Host is the request's Host header (HTTP/2 and HTTP/3: :authority; an
// absolute-form target's authority when there is no Host), or nil.
func (c *Context) Host() []byte { return c.ex().Host() }

// RequestID is the request's id, as RequestID gives it for an
// *http.Request; it allocates the string.
func (c *Context) RequestID() string { return c.ex().RequestID() }

// AppendRequestID appends the request's id to b, without allocating.
func (c *Context) AppendRequestID(b []byte) []byte { return c.ex().AppendRequestID(b) }

// Proto is the request's protocol: "HTTP/1.1", "HTTP/1.0", "HTTP/2.0" or
// "HTTP/3.0".
func (c *Context) Proto() string { return c.ex().Req.Proto() }

// Header returns the value of the first request header called name
// (case-insensitively), or nil.
func (c *Context) Header(name string) []byte { return c.ex().Header(name) }

// VisitHeaders calls fn for each request header, in the order received.
func (c *Context) VisitHeaders(fn func(name, value []byte)) { c.ex().VisitHeaders(fn) }

// ContentLength is the request body's length: 0 when there is no body, -1
// when it is unknown (chunked, or an HTTP/2 or HTTP/3 body without
// content-length).
func (c *Context) ContentLength() int64 { return c.ex().ContentLength() }

// Body reads the request body. Reading past the body size limit fails with
// an *http.MaxBytesError and the request is answered with 413, unless the
// response has started (then HTTP/1.1 closes the connection after it).
func (c *Context) Body() io.Reader { return c.ex().Body() }

// Context is the request's context, made on first use: it is cancelled
// when the handler returns and when the client goes away or resets the
// stream, as an *http.Request's context is.
func (c *Context) Context() context.Context { return c.ex().Context() }

// TLS is the connection's TLS state, or nil without TLS.
func (c *Context) TLS() *tls.ConnectionState { return c.ex().TLS() }

// AddTrailer adds a response trailer: HTTP/2 and HTTP/3 send it in the
// trailing HEADERS frame, HTTP/1.1 in the last chunk. A response with
// trailers is streamed (it has no Content-Length). An invalid name, or
// one a trailer must not carry (Content-Length, Host, Content-Type, TE,
// "If-..." and the others net/http refuses as trailers), is ignored;
// control bytes in the value (CR, LF, NUL, and the others but horizontal
// tab) become spaces.
func (c *Context) AddTrailer(name, value string) { c.ex().AddTrailer(name, value) }

// RemoteAddr is the client's address.
func (c *Context) RemoteAddr() net.Addr { return c.ex().RemoteAddr() }

// LocalAddr is the server address the request arrived on.
func (c *Context) LocalAddr() net.Addr { return c.ex().LocalAddr() }

// SetStatus sets the response status (200 unless set). It has no effect
// once the response has started, nor with a code outside 200 to 999: a
// 1xx is never a response's final status (Upgrade answers 101).
func (c *Context) SetStatus(code int) { c.ex().SetStatus(code) }

// SetHeader sets a response header, replacing any with the same name. An
// invalid name is ignored; control bytes in the value (CR, LF, NUL, and
// the others but horizontal tab) become spaces.
// Content-Length and Connection: close are honoured (a Content-Length
// shorter than the body already written is ignored); Date and Server
// replace the server's own.
func (c *Context) SetHeader(name, value string) { c.ex().SetHeader(name, value) }

// AddHeader adds a response header, keeping any with the same name.
func (c *Context) AddHeader(name, value string) { c.ex().AddHeader(name, value) }

// SetContentType sets the Content-Type response header.
func (c *Context) SetContentType(v string) { c.ex().SetHeader("Content-Type", v) }

// Write writes response body bytes.
func (c *Context) Write(p []byte) (int, error) { return c.ex().Write(p) }

// WriteString writes response body bytes from a string.
func (c *Context) WriteString(s string) (int, error) { return c.ex().WriteString(s) }

// Flush sends the response head, if not sent yet, and the body written so
// far.
func (c *Context) Flush() error { return c.ex().Flush() }

// ServeHTTP serves the request with a standard handler. It allocates the
// *http.Request and its ResponseWriter; use it for the paths that are not
// hot.
func (c *Context) ServeHTTP(h http.Handler) { c.ex().ServeHTTP(h) }

// RefuseStream refuses an HTTP/2 or HTTP/3 request unprocessed, so that
// its client may send it again, and tells the client to take its next
// requests to a new connection: the connection's graceful shutdown
// begins (GOAWAY; its other requests in flight finish), then the stream
// is reset with REFUSED_STREAM (HTTP/3: H3_REQUEST_REJECTED), which
// clients such as grpc-go's retry on their own (RFC 9113, 8.7). It reports
// false, and does nothing, over HTTP/1.x or once the response has started.
// The handler writes nothing after it; grpcserver uses it for the calls
// that come after GracefulStop or Stop.
func (c *Context) RefuseStream() bool { return c.ex().Refuse() }

// Upgradable reports whether the request asks for a protocol upgrade the
// server can perform; see IsUpgradable.
func (c *Context) Upgradable() bool { return c.ex().Upgradable() }

// Upgrade answers 101 Switching Protocols and returns the connection,
// which then belongs to the caller; for an extended CONNECT over HTTP/2
// or HTTP/3 (a WebSocket), it answers 200 (or the 2xx set by SetStatus;
// another status fails it) and returns the stream. See the package-level
// Upgrade.
func (c *Context) Upgrade() (net.Conn, error) { return c.ex().Upgrade() }

// SetMaxRequestBodySize sets this request's body size limit, in bytes;
// Unlimited turns it off. It fails once the body has started being read,
// and with ErrBodyLimitReadOnly for an upgraded request.
func (c *Context) SetMaxRequestBodySize(n int64) error {
	if err := checkBodySize(n); err != nil {
		return err
	}
	return c.ex().SetMaxRequestBodySize(n)
}

// SetReadDeadline sets when a read of the request body that is still
// waiting for the client fails with an error wrapping
// os.ErrDeadlineExceeded, as http.ResponseController's does; the zero
// time means no deadline. It may be called from another goroutine while
// the handler reads.
func (c *Context) SetReadDeadline(t time.Time) error { return c.ex().Stream().SetReadDeadline(t) }

// SetWriteDeadline sets when the response is abandoned, as
// http.ResponseController's does: a write still waiting for the client
// (for HTTP/2 or HTTP/3 flow-control window, or for a connection the
// client does not read) then fails with an error wrapping
// os.ErrDeadlineExceeded, and the stream is reset (over HTTP/1.1, the
// connection is closed once the request ends); the zero time means no
// deadline. It may be called from another goroutine while the handler
// writes.
func (c *Context) SetWriteDeadline(t time.Time) error { return c.ex().Stream().SetWriteDeadline(t) }

// SetMinRequestBodyDataRate sets this request's minimum body data rate;
// the zero DataRate turns the check off.
func (c *Context) SetMinRequestBodyDataRate(rate DataRate) error {
	if err := rate.check("MinRequestBodyDataRate"); err != nil {
		return err
	}
	c.ex().SetMinRequestBodyDataRate(rate.engine())
	return nil
}

// SetMinResponseDataRate sets this request's minimum response data rate;
// the zero DataRate turns the check off.
func (c *Context) SetMinResponseDataRate(rate DataRate) error {
	if err := rate.check("MinResponseDataRate"); err != nil {
		return err
	}
	c.ex().SetMinResponseDataRate(rate.engine())
	return nil
}
