package http1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
)

// Exchange is one request and its response. Exchanges are pooled: one is
// valid only until the handler it was given to returns, and byte slices it
// returns only as long.
type Exchange struct {
	c *Conn
	h head

	base int // offset of the request's first byte in the connection's read buffer

	body body

	// Response state.
	status      int
	hdr         []byte // response header lines set by a native handler, each ending in CRLF
	pend        []byte // body bytes not yet written to the connection
	declaredLen int64  // Content-Length the handler set; -1 none
	written     int64  // body bytes the handler wrote
	mode        uint8  // how the body is framed, decided at commit
	committed   bool
	forceChunk  bool // the handler asked for chunked framing or declared trailers
	userDate    bool
	userServer  bool
	continued   bool // 100 Continue was sent (or is not needed)
	isHead      bool
	rejected    *RequestError // why the request body failed, answered if nothing was sent

	std *responseWriter // the http.Handler bridge serving this exchange, if any
	rw  responseWriter  // storage for std, reused with its header map
}

// Framing modes of a response body.
const (
	modeNone    uint8 = iota // no body (HEAD, 1xx, 204, 304)
	modeLength               // Content-Length
	modeChunked              // chunked transfer coding
	modeClose                // delimited by closing the connection (HTTP/1.0)
)

const pendSize = 4096

func (cfg *Config) getExchange() *Exchange {
	if ex, ok := cfg.exchangePool.Get().(*Exchange); ok {
		return ex
	}
	return &Exchange{pend: make([]byte, 0, pendSize), hdr: make([]byte, 0, 256)}
}

func (cfg *Config) putExchange(ex *Exchange) {
	ex.c = nil
	ex.std = nil
	ex.body.trailer = nil
	if cap(ex.hdr) > 8192 || cap(ex.h.fields) > 256 {
		return // an outsized exchange is left to the garbage collector
	}
	cfg.exchangePool.Put(ex)
}

// start prepares the exchange for the head just parsed at c.rpos.
func (ex *Exchange) start(c *Conn) {
	ex.c = c
	ex.base = c.rpos
	c.rpos += ex.h.size
	ex.status = http.StatusOK
	ex.hdr = ex.hdr[:0]
	ex.pend = ex.pend[:0]
	ex.declaredLen = -1
	ex.written = 0
	ex.mode = modeNone
	ex.committed = false
	ex.forceChunk = false
	ex.userDate = false
	ex.userServer = false
	ex.continued = !ex.h.expectContinue || ex.h.minor == 0
	ex.isHead = string(ex.Method()) == "HEAD"
	ex.rejected = nil
	ex.std = nil
	ex.body.reset(ex, c.cfg.MaxRequestBodySize)
	c.bodyRate.reset(c.cfg.MinRequestBodyRate)
	c.writeRate.reset(c.cfg.MinResponseRate)

	h := &ex.h
	c.closeAfter = h.connClose || (h.minor == 0 && !h.connKeepAlive) || c.draining.Load()
}

// headBytes is the request head; the spans of ex.h index it.
func (ex *Exchange) headBytes() []byte {
	return (*ex.c.rbuf)[ex.base : ex.base+ex.h.size]
}

// Method is the request method.
func (ex *Exchange) Method() []byte { return ex.h.method.of(ex.headBytes()) }

// Target is the request-target as sent.
func (ex *Exchange) Target() []byte { return ex.h.target.of(ex.headBytes()) }

// Path is the target's path (without the query), "*" for OPTIONS *, and the
// authority for CONNECT.
func (ex *Exchange) Path() []byte {
	t := ex.Target()
	if ex.h.form == absoluteForm {
		i := bytes.Index(t, []byte("://")) + 3
		j := bytes.IndexAny(t[i:], "/?")
		if j < 0 {
			return []byte("/")
		}
		t = t[i+j:]
		if t[0] == '?' {
			return []byte("/")
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[:i]
	}
	return t
}

// Query is the target's query, without the '?'.
func (ex *Exchange) Query() []byte {
	t := ex.Target()
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[i+1:]
	}
	return nil
}

// Host is the Host header's value (empty when absent in HTTP/1.0).
func (ex *Exchange) Host() []byte {
	if ex.h.hostCount == 0 {
		if ex.h.form == absoluteForm {
			return targetAuthority(ex.Target())
		}
		return nil
	}
	return ex.h.host.of(ex.headBytes())
}

// ProtoMinor is 1 for HTTP/1.1 and 0 for HTTP/1.0.
func (ex *Exchange) ProtoMinor() int { return int(ex.h.minor) }

// Header returns the value of the first request header called name, ignoring
// case, or nil.
func (ex *Exchange) Header(name string) []byte {
	b := ex.headBytes()
	for _, f := range ex.h.fields {
		if equalFold(f.name.of(b), name) {
			return f.value.of(b)
		}
	}
	return nil
}

// VisitHeaders calls fn for every request header in order.
func (ex *Exchange) VisitHeaders(fn func(name, value []byte)) {
	b := ex.headBytes()
	for _, f := range ex.h.fields {
		fn(f.name.of(b), f.value.of(b))
	}
}

// ContentLength is the request's declared body length: -1 when chunked, 0
// when there is no body.
func (ex *Exchange) ContentLength() int64 {
	switch {
	case ex.h.chunked:
		return -1
	case ex.h.contentLength < 0:
		return 0
	}
	return ex.h.contentLength
}

// Body reads the request body. It is the same reader for every call.
func (ex *Exchange) Body() io.ReadCloser { return &ex.body }

// SetMaxRequestBodySize sets the limit for this request's body; n < 0 means
// unlimited. It fails once the body has started being read.
func (ex *Exchange) SetMaxRequestBodySize(n int64) error {
	if ex.body.started {
		return errBodyLimitTooLate
	}
	ex.body.limit = n
	return nil
}

// SetMinRequestBodyDataRate sets this request's minimum body data rate;
// the zero Rate turns the check off.
func (ex *Exchange) SetMinRequestBodyDataRate(r Rate) { ex.c.bodyRate.set(r) }

// SetMinResponseDataRate sets this request's minimum response data rate;
// the zero Rate turns the check off.
func (ex *Exchange) SetMinResponseDataRate(r Rate) { ex.c.writeRate.set(r) }

var errBodyLimitTooLate = errors.New("kestrel: the request body size limit cannot be changed after the body has started being read")

// RemoteAddr is the client's address.
func (ex *Exchange) RemoteAddr() net.Addr { return ex.c.nc.RemoteAddr() }

// LocalAddr is the address the request arrived on.
func (ex *Exchange) LocalAddr() net.Addr { return ex.c.nc.LocalAddr() }

// SetStatus sets the response status code. It has no effect once the
// response has started.
func (ex *Exchange) SetStatus(code int) {
	if !ex.committed && code >= 100 && code <= 999 {
		ex.status = code
	}
}

// SetHeader sets a response header, replacing any with the same name.
func (ex *Exchange) SetHeader(name, value string) {
	ex.DelHeader(name)
	ex.AddHeader(name, value)
}

// AddHeader adds a response header line. Names that are not tokens are
// ignored; CR, LF and NUL in values become spaces. Content-Length,
// Transfer-Encoding and Connection are interpreted: the server writes
// those itself.
func (ex *Exchange) AddHeader(name, value string) {
	if ex.committed || !validTokenString(name) {
		return
	}
	if ex.special(name, value) {
		return
	}
	ex.hdr = append(ex.hdr, name...)
	ex.hdr = append(ex.hdr, ": "...)
	n := len(ex.hdr)
	ex.hdr = append(ex.hdr, value...)
	for i := n; i < len(ex.hdr); i++ {
		if c := ex.hdr[i]; c == '\r' || c == '\n' || c == 0 {
			ex.hdr[i] = ' '
		}
	}
	ex.hdr = append(ex.hdr, "\r\n"...)
}

// special handles the response headers that decide framing and the
// connection's fate, and reports whether the header is not to be copied.
func (ex *Exchange) special(name, value string) bool {
	switch len(name) {
	case 4:
		if strEqualFold(name, "date") {
			ex.userDate = true
		}
	case 6:
		if strEqualFold(name, "server") {
			ex.userServer = true
		}
	case 10:
		if strEqualFold(name, "connection") {
			forEachToken([]byte(value), func(t []byte) {
				if equalFold(t, "close") {
					ex.c.closeAfter = true
				}
			})
			return true
		}
	case 14:
		if strEqualFold(name, "content-length") {
			if n, ok := parseContentLength([]byte(value)); ok {
				ex.declaredLen = n
			}
			return true
		}
	case 17:
		if strEqualFold(name, "transfer-encoding") {
			ex.forceChunk = true
			return true
		}
	}
	return false
}

// DelHeader removes the response headers called name.
func (ex *Exchange) DelHeader(name string) {
	if ex.committed {
		return
	}
	switch {
	case strEqualFold(name, "content-length"):
		ex.declaredLen = -1
	case strEqualFold(name, "date"):
		ex.userDate = false
	case strEqualFold(name, "server"):
		ex.userServer = false
	}
	b := ex.hdr
	out := b[:0]
	for len(b) > 0 {
		end := bytes.IndexByte(b, '\n') + 1
		line := b[:end]
		b = b[end:]
		if colon := bytes.IndexByte(line, ':'); colon >= 0 && equalFold(line[:colon], name) {
			continue
		}
		out = append(out, line...)
	}
	ex.hdr = out
}

// Write writes response body bytes. A response whose body fits in the
// exchange's buffer when the handler returns gets a Content-Length; a
// longer one is streamed (chunked in HTTP/1.1).
func (ex *Exchange) Write(p []byte) (int, error) {
	if err := ex.checkWrite(len(p)); err != nil {
		return 0, err
	}
	if ex.committed && ex.mode != modeChunked {
		if ex.mode == modeNone {
			return len(p), nil // HEAD: counted, not sent
		}
		if !ex.c.write(p) {
			return 0, ex.c.werr
		}
		return len(p), nil
	}
	if len(ex.pend)+len(p) <= cap(ex.pend) {
		ex.pend = append(ex.pend, p...)
		return len(p), nil
	}
	if !ex.committed {
		ex.commit(false)
	}
	if ex.mode != modeChunked {
		ex.flushPending()
		if ex.mode != modeNone && !ex.c.write(p) {
			return 0, ex.c.werr
		}
		return len(p), nil
	}
	// Chunked: the buffered bytes and p go out as one chunk.
	if !ex.writeChunk(p) {
		return 0, ex.c.werr
	}
	return len(p), nil
}

// WriteString is Write for a string.
func (ex *Exchange) WriteString(s string) (int, error) {
	if len(ex.pend)+len(s) <= cap(ex.pend) && !(ex.committed && ex.mode != modeChunked) {
		if err := ex.checkWrite(len(s)); err != nil {
			return 0, err
		}
		ex.pend = append(ex.pend, s...)
		return len(s), nil
	}
	return ex.Write([]byte(s))
}

var errHijacked = errors.New("kestrel: connection has been hijacked")

// checkWrite counts n body bytes about to be written, refusing them when
// the response cannot carry them.
func (ex *Exchange) checkWrite(n int) error {
	if ex.c.hijacked {
		return errHijacked
	}
	if ex.c.werr != nil {
		return ex.c.werr
	}
	if !bodyAllowed(ex.status) {
		if n == 0 {
			return nil
		}
		return http.ErrBodyNotAllowed
	}
	if ex.declaredLen >= 0 && ex.written+int64(n) > ex.declaredLen {
		return http.ErrContentLength
	}
	ex.written += int64(n)
	return nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writeChunk writes the pending bytes and p as one chunk.
func (ex *Exchange) writeChunk(p []byte) bool {
	n := len(ex.pend) + len(p)
	if n == 0 {
		return true
	}
	c := ex.c
	c.writeInt(int64(n), 16)
	c.writeString("\r\n")
	c.write(ex.pend)
	ex.pend = ex.pend[:0]
	c.write(p)
	return c.writeString("\r\n")
}

// Flush sends the response head, if not yet sent, and everything written
// so far.
func (ex *Exchange) Flush() error {
	if ex.c.hijacked {
		return errHijacked
	}
	if !ex.committed {
		ex.commit(false)
	}
	ex.flushPending()
	if !ex.c.flush() {
		return ex.c.werr
	}
	return nil
}

func (ex *Exchange) flushPending() {
	switch ex.mode {
	case modeChunked:
		ex.writeChunk(nil)
	case modeNone:
		ex.pend = ex.pend[:0]
	default:
		ex.c.write(ex.pend)
		ex.pend = ex.pend[:0]
	}
}

// WriteInformational sends a 1xx response with the headers set so far,
// which stay set for the final response. 100 Continue marks the request's
// expectation as met.
func (ex *Exchange) WriteInformational(code int, headers func(w func(name, value string))) error {
	c := ex.c
	if ex.committed || code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		return fmt.Errorf("kestrel: invalid informational status %d", code)
	}
	if ex.h.minor == 0 {
		return nil // HTTP/1.0 clients do not expect 1xx responses
	}
	if code == http.StatusContinue {
		if ex.continued {
			return nil
		}
		ex.continued = true
	}
	c.writeStatusLine(code)
	if headers != nil {
		headers(func(name, value string) { c.writeHeaderLine(name, value) })
	}
	c.writeString("\r\n")
	if !c.flush() {
		return c.werr
	}
	return nil
}

// commit writes the response head. final means the handler has returned,
// so a buffered body's length is known.
func (ex *Exchange) commit(final bool) {
	c := ex.c
	h := &ex.h
	if ex.std != nil {
		ex.std.beforeCommit()
	}
	ex.committed = true
	length := int64(-1)
	switch {
	case !bodyAllowed(ex.status):
		ex.mode = modeNone
		if ex.status == http.StatusNotModified {
			length = ex.declaredLen
		}
	case ex.declaredLen >= 0:
		ex.mode = modeLength
		length = ex.declaredLen
	case final && !ex.forceChunk:
		ex.mode = modeLength
		length = int64(len(ex.pend))
		if ex.isHead && length == 0 {
			length = -1 // the length of the body a GET would get is unknown
		}
	case h.minor >= 1:
		ex.mode = modeChunked
	default:
		ex.mode = modeClose
		c.closeAfter = true
	}
	if ex.isHead {
		ex.mode = modeNone
	}
	if c.draining.Load() {
		c.closeAfter = true // shutting down: this is the connection's last response
	}
	if !c.closeAfter && !ex.body.done() {
		// An unread body must be read before the next request. Once the
		// handler has returned, try now, so that the head can say whether
		// the connection stays open; while it runs (a streamed response),
		// keep the connection only for a short rest of known length.
		if final {
			c.closeAfter = !ex.body.drain()
		} else {
			c.closeAfter = ex.body.chunked || !ex.body.drainable()
		}
	}
	if ex.status == http.StatusSwitchingProtocols {
		ex.mode = modeNone
		length = -1
	}

	c.writeStatusLine(ex.status)
	c.write(ex.hdr)
	if length >= 0 {
		c.writeString("Content-Length: ")
		c.writeInt(length, 10)
		c.writeString("\r\n")
	} else if ex.mode == modeChunked {
		c.writeString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case ex.status == http.StatusSwitchingProtocols:
		c.writeString("Connection: Upgrade\r\n")
	case c.closeAfter:
		c.writeString("Connection: close\r\n")
	case h.minor == 0:
		c.writeString("Connection: keep-alive\r\n")
	}
	if !ex.userDate {
		c.write(c.cfg.Heartbeat.DateLine())
	}
	if c.cfg.ServerHeader && !ex.userServer {
		c.writeString("Server: Kestrel\r\n")
	}
	c.writeString("\r\n")
}

// finish completes the response after the handler returned and reports
// whether the connection can serve another request.
func (ex *Exchange) finish() bool {
	c := ex.c
	if c.hijacked {
		return false
	}
	if ex.rejected != nil && !ex.committed {
		c.cfg.Logger.Info("request rejected", "remote", c.RemoteAddr(), "status", ex.rejected.Status, "reason", ex.rejected.Reason)
		ex.resetResponse(ex.rejected.Status)
		c.closeAfter = true
	}
	if ex.rejected != nil {
		c.closeAfter = true
		if ex.committed && ex.rejected == errBodyTimeout {
			return false // the response started: abort
		}
		c.linger = ex.rejected != errBodyTimeout
	}
	if !ex.committed {
		ex.commit(true)
	}
	ex.flushPending()
	switch ex.mode {
	case modeChunked:
		c.writeString("0\r\n")
		if ex.std != nil {
			ex.std.writeTrailers()
		}
		c.writeString("\r\n")
	case modeLength:
		if ex.written < ex.declaredLen {
			c.cfg.Logger.Warn("response shorter than its Content-Length; closing the connection",
				"remote", c.RemoteAddr(), "contentLength", ex.declaredLen, "written", ex.written)
			c.flush()
			return false
		}
	}
	if c.werr != nil {
		return false
	}
	if !c.closeAfter && !ex.body.done() {
		if !ex.body.drain() {
			c.closeAfter = true
		}
	}
	if c.closeAfter {
		if !ex.body.done() && ex.continued {
			// The client may still be sending the body: close gracefully so
			// that it reads the response before any reset.
			c.linger = true
		}
		c.flush()
		return false
	}
	return true
}

// resetResponse discards what the handler set and answers with an empty
// response of the given status.
func (ex *Exchange) resetResponse(status int) {
	ex.status = status
	ex.hdr = ex.hdr[:0]
	ex.pend = ex.pend[:0]
	ex.declaredLen = 0
	ex.written = 0
	ex.forceChunk = false
	ex.userDate = false
	ex.userServer = false
	ex.std = nil
}

// serveRequest runs the handler for the head just parsed and completes the
// response. It reports whether the connection can serve another request.
func (c *Conn) serveRequest() bool {
	ex := c.ex
	ex.start(c)
	c.served++
	if !c.runHandler(ex) {
		return false
	}
	return ex.finish()
}

// runHandler calls the handler, recovering a panic: the client gets a 500
// if nothing was sent yet, otherwise the connection is aborted.
func (c *Conn) runHandler(ex *Exchange) (ok bool) {
	defer func() {
		if ok {
			return
		}
		v := recover()
		if c.hijacked {
			return
		}
		if v != http.ErrAbortHandler {
			c.cfg.Logger.Error("handler panicked", "remote", c.RemoteAddr(),
				"method", string(ex.Method()), "target", string(ex.Target()),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
		if ex.committed || v == http.ErrAbortHandler {
			return // ok stays false: the connection is aborted
		}
		ex.resetResponse(http.StatusInternalServerError)
		ok = ex.finish()
		// The connection must be closed by Serve if finish failed.
	}()
	c.cfg.Handler(ex)
	return true
}

// writeHeaderLine writes "name: value\r\n", with CR, LF and NUL in the
// value replaced by spaces.
func (c *Conn) writeHeaderLine(name, value string) {
	if !validTokenString(name) {
		return
	}
	c.writeString(name)
	c.writeString(": ")
	start := c.wlen
	if c.wlen+len(value) > len(*c.wbuf) {
		c.writeString(sanitizeValue(value))
	} else {
		c.writeString(value)
		buf := (*c.wbuf)[start:c.wlen]
		for i, b := range buf {
			if b == '\r' || b == '\n' || b == 0 {
				buf[i] = ' '
			}
		}
	}
	c.writeString("\r\n")
}

func sanitizeValue(v string) string {
	if !bytes.ContainsAny([]byte(v), "\r\n\x00") {
		return v
	}
	b := []byte(v)
	for i, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

func validTokenString(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := range len(s) {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

func strEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
