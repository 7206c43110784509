package http1

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/metrics"
)

// exchange is one HTTP/1.x request and its response: the application
// layer's Exchange, with this protocol's side of it (app.Stream): the
// head's place in the connection's read buffer, the body's framing, and
// the response's framing. Exchanges are pooled by the connection's Config.
type exchange struct {
	app.Exchange
	c     *Conn
	flags headFlags
	base  int // offset of the request's first byte in the connection's read buffer

	body      body
	mode      uint8 // how the response body is framed, decided at commit
	continued bool  // 100 Continue was sent (or is not needed)

	// The handler set a read or write deadline on the connection
	// (http.ResponseController), which ends with the request.
	readDeadline, writeDeadline bool
}

// Framing modes of a response body.
const (
	modeNone    uint8 = iota // no body (HEAD, 1xx, 204, 304)
	modeLength               // Content-Length
	modeChunked              // chunked transfer coding
	modeClose                // delimited by closing the connection (HTTP/1.0)
)

func (cfg *Config) getExchange() *exchange {
	if ex, ok := cfg.exchangePool.Get().(*exchange); ok {
		return ex
	}
	ex := &exchange{}
	ex.Init(cfg.App, ex)
	return ex
}

func (cfg *Config) putExchange(ex *exchange) {
	ex.c = nil
	ex.Release()
	if ex.Outsized() {
		return // an outsized exchange is left to the garbage collector
	}
	cfg.exchangePool.Put(ex)
}

// start prepares the exchange for the head just parsed at c.rpos.
func (ex *exchange) start(c *Conn) {
	ex.c = c
	ex.base = c.rpos
	c.rpos += ex.flags.size
	ex.syncHead()
	h := &ex.Req
	c.closeAfter = ex.flags.connClose || (h.ProtoMinor == 0 && !ex.flags.connKeepAlive) || c.closing() ||
		c.cfg.NoKeepAlives != nil && c.cfg.NoKeepAlives.Load()
	h.Close = c.closeAfter
	ex.Start()
	ex.Parent = c.ctx
	ex.Conn = c.info
	ex.mode = modeNone
	ex.continued = !ex.flags.expectContinue || h.ProtoMinor == 0
	ex.readDeadline, ex.writeDeadline = false, false
	ex.body.reset(ex)
	c.bodyDone.Store(ex.body.done())
	c.bodyRate.Reset(c.cfg.MinRequestBodyRate)
	c.writeRate.Reset(c.cfg.MinResponseRate)
}

// Pipelined reports whether the client sent more than this request: the
// start of another, pipelined behind it. During the server's drain delay
// the requests already sent are answered, and the last of them says
// Connection: close (closing after the first would lose the others).
func (ex *exchange) Pipelined() bool { return ex.body.done() && ex.c.rend > ex.c.rpos }

// syncHead points the head at its bytes in the read buffer, which moves
// when the buffer is replaced or compacted.
func (ex *exchange) syncHead() {
	ex.Req.Buf = (*ex.c.rbuf)[ex.base : ex.base+ex.flags.size]
}

// The app.Stream side.

func (ex *exchange) ReadBody(p []byte) (int, error) { return ex.body.Read(p) }

func (ex *exchange) NetConn() net.Conn { return ex.c.nc }

func (ex *exchange) PeerAddr() string { return ex.c.RemoteAddr() }

// TLSState is the connection's TLS state, taken once per connection and
// shared by its requests, as net/http's Request.TLS is; nil over
// cleartext.
func (ex *exchange) TLSState() *tls.ConnectionState {
	c := ex.c
	if c.tlsState == nil {
		tc, ok := c.nc.(interface{ ConnectionState() tls.ConnectionState })
		if !ok {
			return nil
		}
		st := tc.ConnectionState()
		c.tlsState = &st
	}
	return c.tlsState
}

func (ex *exchange) WriteErr() error { return ex.c.werr }

// SetReadDeadline sets the connection's read deadline for the rest of the
// request; clearDeadlines removes it when the request ends.
func (ex *exchange) SetReadDeadline(t time.Time) error {
	ex.readDeadline = true
	return ex.c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the connection's write deadline for the rest of
// the request; clearDeadlines removes it when the request ends.
func (ex *exchange) SetWriteDeadline(t time.Time) error {
	ex.writeDeadline = true
	return ex.c.nc.SetWriteDeadline(t)
}

// clearDeadlines removes the deadlines the handler set, once its request
// is over and the connection goes on, as net/http's server does: they
// were the request's, and would otherwise cut a later request on the
// connection short (or close it as it waits for one). The response's
// rest, still buffered, is written first under the handler's write
// deadline, which covers the whole response as net/http's does; it
// reports false when that write failed and the connection must end.
func (ex *exchange) clearDeadlines() bool {
	c := ex.c
	if ex.writeDeadline {
		if !c.flush() {
			return false
		}
		c.nc.SetWriteDeadline(time.Time{})
	}
	if ex.readDeadline {
		// The heartbeat's lock orders this before any read deadline it
		// sets to time the connection out.
		c.tickMu.Lock()
		c.nc.SetReadDeadline(time.Time{})
		c.tickMu.Unlock()
	}
	return true
}

func (ex *exchange) SetMinRequestBodyRate(r app.Rate) { ex.c.bodyRate.Set(r) }

func (ex *exchange) SetMinResponseRate(r app.Rate) { ex.c.writeRate.Set(r) }

func (ex *exchange) SetRequestContext(ctx *app.RequestContext) { ex.c.setRequestContext(ctx) }

func (ex *exchange) Hijackable() bool { return true }

func (ex *exchange) Hijack(_ *app.Exchange, sendHead bool) (net.Conn, error) {
	return ex.c.hijack(ex, sendHead)
}

// CanUpgrade reports whether the request asks for a protocol upgrade the
// server can perform: HTTP/1.1, "Connection: upgrade", an Upgrade header,
// and no body.
func (ex *exchange) CanUpgrade() bool {
	h := &ex.Req
	return h.ProtoMinor == 1 && ex.flags.connUpgrade && ex.flags.upgrade && !h.Chunked && h.ContentLength <= 0
}

// WriteHead writes the status line and headers, choosing the body's
// framing: Content-Length when the length is known, chunked otherwise
// (HTTP/1.0: close-delimited).
func (ex *exchange) WriteHead(_ *app.Exchange, length int64, final bool) {
	c := ex.c
	status := ex.Status()
	tunnel := status/100 == 2 && string(ex.Method()) == http.MethodConnect
	switch {
	case status == http.StatusSwitchingProtocols || !app.BodyAllowed(status):
		ex.mode = modeNone
	case tunnel:
		// A tunnel: no Content-Length nor Transfer-Encoding (RFC 9110,
		// 9.3.6); what the handler writes goes as it is, and the
		// connection ends with it.
		ex.mode = modeClose
		c.closeAfter = true
	case length >= 0:
		ex.mode = modeLength
	case ex.Req.ProtoMinor >= 1:
		ex.mode = modeChunked
	case ex.IsHead():
		// HTTP/1.0 cannot delimit a body of unknown length but by closing
		// the connection; a HEAD response has none to delimit.
	default:
		ex.mode = modeClose
		c.closeAfter = true
	}
	if ex.IsHead() {
		ex.mode = modeNone
	}
	if ex.ConnectionClose() || ex.Rejected() != nil || c.closing() || c.cfg.NoKeepAlives != nil && c.cfg.NoKeepAlives.Load() {
		c.closeAfter = true // shutting down: this is the connection's last response
	}
	if !c.closeAfter && !ex.body.done() {
		// An unread body must be read before the next request. Once the
		// handler has returned, drop what has arrived of it now, so that
		// the head can say whether the connection stays open. A rest of
		// known length still to come is not waited for before the
		// response (the client may wait for the response before it sends
		// more): as while the handler runs (a streamed response), the
		// connection is kept for a short one, drained once the response
		// is out (EndResponse). A chunked rest may not end within the
		// drain's limits: it is drained before the head, which says
		// whether the connection stays open. A handler that reads the
		// body as it writes (full duplex, whose body is flowing) keeps
		// the connection too: EndResponse drains what it leaves.
		switch {
		case final && ex.body.drain(false):
		case final && ex.body.chunked:
			c.closeAfter = !ex.body.drain(true)
		case !final && ex.FullDuplex() && ex.continued && ex.body.err == nil:
		default:
			c.closeAfter = ex.body.chunked || !ex.body.drainable()
		}
	}

	c.writeStatusLine(status)
	c.write(ex.HeaderLines())
	if length >= 0 && !tunnel {
		c.writeString("Content-Length: ")
		c.writeInt(length, 10)
		c.writeString("\r\n")
	} else if ex.mode == modeChunked {
		c.writeString("Transfer-Encoding: ")
		if tc := ex.TransferCodings(); tc != "" {
			// The handler's body is coded already: the codings, then the
			// chunked that frames it (RFC 9112, 6.1).
			c.writeString(tc)
			c.writeString(", ")
		}
		c.writeString("chunked\r\n")
	}
	switch {
	case status == http.StatusSwitchingProtocols:
		c.writeString("Connection: Upgrade\r\n")
	case c.closeAfter && ex.ConnectionUpgrade():
		c.writeString("Connection: Upgrade, close\r\n")
	case c.closeAfter:
		c.writeString("Connection: close\r\n")
	case ex.Req.ProtoMinor == 0:
		c.writeString("Connection: keep-alive\r\n")
	case ex.ConnectionUpgrade():
		// The handler's, beside its Upgrade header (a 426).
		c.writeString("Connection: Upgrade\r\n")
	}
	if !ex.UserDate() {
		c.write(c.cfg.App.Heartbeat.DateLine())
	}
	if c.cfg.App.ServerHeader && !ex.UserServer() {
		c.writeString("Server: Kestrel\r\n")
	}
	c.writeString("\r\n")
}

// WriteBody writes body bytes in the framing chosen at commit: a and b
// make one chunk.
func (ex *exchange) WriteBody(a, b []byte) error {
	c := ex.c
	switch ex.mode {
	case modeNone:
		return c.werr
	case modeChunked:
		n := len(a) + len(b)
		if n == 0 {
			return c.werr
		}
		c.writeInt(int64(n), 16)
		c.writeString("\r\n")
		c.write(a)
		c.write(b)
		c.writeString("\r\n")
	default:
		c.writeBoth(a, b)
	}
	return c.werr
}

func (ex *exchange) FlushBody(p []byte) error {
	if len(p) > 0 {
		if err := ex.WriteBody(p, nil); err != nil {
			return err
		}
	}
	if !ex.c.flush() {
		return ex.c.werr
	}
	return nil
}

// WriteInformational sends a 1xx response with the headers given.
func (ex *exchange) WriteInformational(code int, headers func(w func(name, value string))) error {
	c := ex.c
	if code == http.StatusContinue {
		if ex.continued {
			return nil
		}
		ex.continued = true
	}
	c.writeStatusLine(code)
	headers(func(name, value string) { c.writeHeaderLine(name, value) })
	c.writeString("\r\n")
	if !c.flush() {
		return c.werr
	}
	return nil
}

// errFileShrank is the write error of a file that ended before the
// bytes the response promised were sent.
var errFileShrank = errors.New("kestrel: the file ended before the bytes its length promised")

// EndResponse completes the response after the handler returned and
// reports whether the connection can serve another request.
func (ex *exchange) EndResponse(_ *app.Exchange) bool {
	c := ex.c
	c.ended = true
	if re := ex.Rejected(); re != nil {
		c.info.End(re.End)
		c.closeAfter = true
		if !ex.RejectionAnswered() && re == errBodyTimeout {
			return false // the response started: abort
		}
		c.linger = re != errBodyTimeout
	}
	switch ex.mode {
	case modeChunked:
		c.writeString("0\r\n")
		ex.VisitTrailers(func(name, value string) { c.writeHeaderLine(name, value) })
		c.writeString("\r\n")
	case modeLength:
		if ex.Written() < ex.DeclaredLength() {
			// A handler that stopped because the client went away (its
			// write failed) is not at fault: nothing to log.
			if c.werr == nil || c.werr == errFileShrank {
				c.info.End(metrics.ResponseContentLengthMismatch)
				c.cfg.App.Logger.Warn(ex.LengthMismatch()+"; closing the connection",
					"remote", c.RemoteAddr(), "contentLength", ex.DeclaredLength(), "written", ex.Written(), "refused", ex.Refused())
				c.flush()
			}
			return false
		}
	}
	if c.werr != nil {
		return false
	}
	if ex.RequestAborted() {
		// The client went away (shut its side or reset) or the request
		// was aborted: the response goes out if it can, and the
		// connection serves no other request.
		c.closeAfter = true
	}
	if !c.closeAfter && !ex.body.done() && !ex.body.drain(true) {
		c.closeAfter = true
	}
	if c.closeAfter {
		if ex.Rejected() == nil {
			ex.body.logUnread()
		}
		if !ex.body.done() && ex.continued {
			// The client may still be sending the body: close gracefully so
			// that it reads the response before any reset.
			c.linger = true
		}
		// So does a client whose next requests, or whose body sent
		// without waiting for 100 Continue, are left unread.
		c.lingerUnread = true
		c.flush()
		return false
	}
	return true
}

// serveRequest runs the handler for the head just parsed and completes the
// response. It reports whether the connection can serve another request.
func (c *Conn) serveRequest() bool {
	ex := c.ex
	ex.start(c)
	c.served++
	ex.Seq = uint32(c.served)
	c.seq.Store(ex.Seq)
	c.hold()
	c.earlier, c.ended = c.wlen, false
	ok := ex.Run()
	c.unhold()
	if !ok {
		if !c.ended && !c.hijacked {
			c.abortOutput() // a panic or abort: EndResponse did not run
		}
		return false
	}
	c.earlier = 0
	return ex.clearDeadlines()
}
