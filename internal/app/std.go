package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/httpsyntax"
)

// ServeHTTP serves the exchange with a standard http.Handler: it builds the
// *http.Request from the parsed head and gives the handler a
// ResponseWriter that writes through the exchange.
func (ex *Exchange) ServeHTTP(handler http.Handler) {
	parent := ex.Parent
	if parent == nil {
		parent = ex.cfg.BaseContext
	}
	ex.ServeHTTPContext(parent, handler)
}

// ServeHTTPContext is ServeHTTP with parent as the request context's
// parent (a connection's context).
func (ex *Exchange) ServeHTTPContext(parent context.Context, handler http.Handler) {
	// The request is built on the stack; WithContext makes the one copy
	// the handler gets. Its context, URL and header values come in one
	// allocation.
	var r http.Request
	a := new(requestAlloc)
	if err := ex.newRequest(&r, a); err != nil {
		ex.rejected = ErrInvalidTarget
		return
	}
	ctx := &a.ctx
	ctx.parent, ctx.ex = parent, ex
	req := r.WithContext(ctx)
	if ex.Req.HasBody() {
		// Trailers, declared or not, land in the handler's Request.Trailer
		// as the body ends, as net/http delivers them.
		ex.reqTrailer = &req.Trailer
	}
	if parent.Done() != nil {
		// A cancellable parent (a connection context) cancels the request.
		stop := context.AfterFunc(parent, ctx.Cancel)
		defer stop()
	}
	ex.s.SetRequestContext(ctx)
	// The writer, its header map and the body are the request's own, not
	// the exchange's: a goroutine the handler leaves behind may still hold
	// them when the exchange serves another request, perhaps another
	// client's, and they must then fail rather than reach it.
	hw := &a.w
	w := &hw.responseWriter
	*w = responseWriter{ex: ex, req: req, header: make(http.Header)}
	ex.std = w
	defer func() {
		if ex.tunnel != nil {
			// Before the writer's end, which waits for its calls: a
			// tunnel's write still waiting for its client is one of them.
			ex.tunnel.end()
		}
		a.body.end(ex)
		// The request's Trailer map is the handler's now: trailers the
		// server reads as it drains the body are not put into it.
		ex.reqTrailer = nil
		w.end()
		ex.s.SetRequestContext(nil)
		ctx.Cancel()
		ctx.detach()
		if f := req.MultipartForm; f != nil {
			// As net/http's server does: the temporary files of a form
			// the handler parsed go with the request.
			_ = f.RemoveAll()
		}
	}()
	if ex.s.Hijackable() {
		handler.ServeHTTP(hw, req) // http.Hijacker, as net/http's HTTP/1 writer
	} else {
		handler.ServeHTTP(w, req) // no Hijack, as net/http's HTTP/2 writer
	}
}

// FromRequest returns the exchange serving r, or nil when r was not
// served by this server or its handler has returned (Ended tells which).
func FromRequest(r *http.Request) *Exchange {
	if c := requestContext(r); c != nil {
		return c.exchange()
	}
	return nil
}

// Ended reports whether r was served by this server and its handler has
// returned: the exchange then serves other requests.
func Ended(r *http.Request) bool {
	c := requestContext(r)
	return c != nil && c.exchange() == nil
}

// RequestIDOf is the id of r, served by this server, even once its
// handler has returned; "" for another server's request.
func RequestIDOf(r *http.Request) string {
	if c := requestContext(r); c != nil {
		return c.requestID()
	}
	return ""
}

func requestContext(r *http.Request) *RequestContext {
	c, _ := r.Context().Value(requestContextKey{}).(*RequestContext)
	return c
}

// requestAlloc holds what a standard request points to, allocated together
// (a handler may keep any of it after it returns, as net/http allows, so
// none of it is ever reused): its context, its URL, the values of up to
// len(values) header fields, its body and its ResponseWriter.
type requestAlloc struct {
	ctx    RequestContext
	url    url.URL
	values [4]string
	body   requestBody
	w      hijackWriter
}

// newRequest builds the standard request in req, with its URL and header
// values in a. The head is copied into one string that every name and
// value then points into.
func (ex *Exchange) newRequest(req *http.Request, a *requestAlloc) error {
	h := &ex.Req
	head := ex.headString()
	str := func(s Span) string { return head[s.Start:s.End] }

	target := str(h.Target)
	u := &a.url
	switch h.Form {
	case AuthorityForm:
		u.Host = target
	case AsteriskForm:
		u.Path = "*"
	default:
		if !simpleURL(target, u) {
			parsed, err := url.ParseRequestURI(target)
			if err != nil {
				return fmt.Errorf("parse request target %q: %w", target, err)
			}
			u = parsed
		}
	}

	values := a.values[:]
	if len(h.Fields) > len(values) {
		values = make([]string, len(h.Fields))
	}
	hdr := make(http.Header, len(h.Fields))
	if !fillHeader(hdr, h.Fields, head, values, false) {
		// A name came more than once: again, gathering each name's values.
		clear(hdr)
		fillHeader(hdr, h.Fields, head, values, true)
	}

	*req = http.Request{
		Method:     str(h.Method),
		URL:        u,
		Proto:      h.Proto(),
		ProtoMajor: int(h.ProtoMajor),
		ProtoMinor: int(h.ProtoMinor),
		Header:     hdr,
		Host:       str(h.Host),
		RemoteAddr: ex.s.PeerAddr(),
		RequestURI: target,
		Close:      h.Close,
	}
	if h.HostCount == 0 && u.Host != "" || h.Form == AuthorityForm {
		// No Host (HTTP/1.0) with an absolute-form target, or CONNECT,
		// whose target is its host (as net/http has it, and as
		// :authority is over HTTP/2 and HTTP/3).
		req.Host = u.Host
	}
	if h.TrailerDeclared && (h.Chunked || h.ProtoMajor >= 2) {
		// As net/http's servers declare trailers: over HTTP/1.1 for a
		// chunked body only (no other body carries trailers; the header
		// stays in Header), over HTTP/2 and HTTP/3 always.
		req.Trailer = make(http.Header)
		for _, v := range hdr["Trailer"] {
			httpsyntax.ForEachToken([]byte(v), func(t []byte) {
				switch key := textproto.CanonicalMIMEHeaderKey(string(t)); key {
				case "Content-Length", "Transfer-Encoding", "Trailer":
					// Framing fields no trailer section carries: left
					// out, as net/http's HTTP/2 server leaves them
					// (httputil.ReverseProxy fails on them).
				default:
					req.Trailer[key] = nil
				}
			})
		}
		delete(hdr, "Trailer") // in Request.Trailer, as net/http does
		if len(req.Trailer) == 0 {
			req.Trailer = nil
		}
	}
	switch {
	case h.Chunked || h.UnknownLength:
		req.ContentLength = -1
		if h.Chunked {
			req.TransferEncoding = []string{"chunked"}
		}
		a.body.b = &ex.body
		req.Body = &a.body
	case h.ContentLength > 0 || h.StreamOpen:
		// An open HTTP/2 or HTTP/3 stream with content-length: 0 has a
		// body that reads EOF at the stream's end, with its trailers.
		req.ContentLength = h.ContentLength
		a.body.b = &ex.body
		req.Body = &a.body
	default:
		req.Body = http.NoBody
	}
	if ts, ok := ex.s.(connTLS); ok {
		req.TLS = ts.TLSState()
	} else if tc, ok := ex.s.NetConn().(tlsConn); ok {
		st := tc.ConnectionState()
		req.TLS = &st
	}
	return nil
}

// fillHeader puts the fields, whose names head holds in canonical form,
// into hdr, each value in values at the field's index. Without repeats,
// each field is one map assignment, and a repeated name is found after
// the fact (the map has fewer entries than fields stored): fillHeader then
// reports false and hdr is to be filled again with repeats set, which
// looks each name up to gather its values in order.
func fillHeader(hdr http.Header, fields []Field, head string, values []string, repeats bool) bool {
	n := 0
	for i, f := range fields {
		name := head[f.Name.Start:f.Name.End]
		if name == "Host" || name == "Transfer-Encoding" {
			continue // in Request.Host and Request.TransferEncoding, as net/http does
		}
		values[i] = head[f.Value.Start:f.Value.End]
		if repeats {
			if vs, ok := hdr[name]; ok {
				if name == "Content-Length" {
					// The protocols refused lengths that differ: the
					// copies are one field (RFC 9110, 8.6), as net/http's
					// HTTP/1.1 server and quic-go keep one.
					continue
				}
				hdr[name] = append(vs, values[i])
				continue
			}
		}
		hdr[name] = values[i : i+1 : i+1]
		if n++; len(hdr) != n {
			return false
		}
	}
	return true
}

// headString copies the request's head into the one string its names and
// values point into, with each field name in the canonical form
// net/http's Header keys have (textproto.CanonicalMIMEHeaderKey's). An
// HTTP/2 or HTTP/3 head, whose names are lower case, is canonicalized in
// the exchange's scratch buffer on the way, so that no name needs a string
// of its own.
func (ex *Exchange) headString() string {
	h := &ex.Req
	i := 0
	for i < len(h.Fields) && isCanonical(h.Fields[i].Name.Of(h.Buf)) {
		i++
	}
	if i == len(h.Fields) {
		return string(h.Buf)
	}
	b := append(ex.canon[:0], h.Buf...)
	for _, f := range h.Fields[i:] {
		canonicalize(f.Name.Of(b))
	}
	ex.canon = b
	return string(b)
}

// connTLS is a Stream that takes its connection's TLS state once and
// gives every request of the connection the same, as net/http does.
type connTLS interface {
	TLSState() *tls.ConnectionState // nil over cleartext
}

// plainPathChar reports the bytes that url.ParseRequestURI keeps as they
// are in a path, without setting RawPath.
var plainPathChar = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~$&+,;=:@/") {
		t[c] = true
	}
	return t
}()

// simpleURL parses an origin-form target whose path needs no unescaping
// and whose query has no control byte, the common case, into u, as
// url.ParseRequestURI would; it reports false, leaving u as it was, for
// any other target.
func simpleURL(target string, u *url.URL) bool {
	if len(target) == 0 || target[0] != '/' {
		return false
	}
	path, query, hasQuery := strings.Cut(target, "?")
	for i := range len(path) {
		if !plainPathChar[path[i]] {
			return false
		}
	}
	for i := range len(query) {
		// A fragment, or a control byte (which an HTTP/2 or HTTP/3 :path
		// can carry), that url.ParseRequestURI refuses.
		if c := query[i]; c == '#' || c < ' ' || c == 0x7f {
			return false
		}
	}
	*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return true
}

// isCanonical reports whether name is already in canonical MIME form (or
// is one textproto.CanonicalMIMEHeaderKey leaves as it is).
func isCanonical(name []byte) bool {
	upper := true
	for _, c := range name {
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return !validName(name)
		}
		upper = c == '-'
	}
	return true
}

// validName reports whether textproto.CanonicalMIMEHeaderKey would change
// the case of name: every byte is a token character.
func validName(name []byte) bool {
	for _, c := range name {
		if !httpsyntax.TChar[c] {
			return false
		}
	}
	return true
}

// canonicalize puts name into canonical MIME form in place, as
// textproto.CanonicalMIMEHeaderKey does: the first letter and any letter
// after a hyphen upper case, the rest lower case; a name with a byte that
// is not a token character is left as it is.
func canonicalize(name []byte) {
	if !validName(name) {
		return
	}
	upper := true
	for i, c := range name {
		if upper && 'a' <= c && c <= 'z' {
			name[i] = c - ('a' - 'A')
		} else if !upper && 'A' <= c && c <= 'Z' {
			name[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
}

// responseWriter is the http.ResponseWriter of the bridge. It also
// implements http.Flusher, io.StringWriter, the deprecated
// http.CloseNotifier, and the methods http.ResponseController looks for.
type responseWriter struct {
	// mu is held by each method the handler calls but the deadline
	// setters (which may wake another of its calls that waits), so that
	// end, as the handler returns, waits for a call still running in a
	// goroutine the handler left behind; done is set by end, and makes
	// every later call fail without reaching the exchange, which by then
	// may serve another request.
	mu   sync.Mutex
	done bool
	dmu  sync.Mutex // held by the deadline setters and end

	ex          *Exchange
	req         *http.Request
	header      http.Header
	wroteHeader bool
	copied      bool // the header map was copied into the exchange
	sniff       bool // Content-Type is to be sniffed from the body
	trailers    []string
	closeNotify chan bool
	// prefixKnown: the map was looked through for http.TrailerPrefix
	// names after the handler returned; prefixFound is what was found.
	prefixKnown, prefixFound bool
}

// hijackWriter is the ResponseWriter of protocols that can hand their
// connection over (HTTP/1.x): it adds http.Hijacker.
type hijackWriter struct{ responseWriter }

// errHandlerReturned is what a ResponseWriter's methods return once its
// handler has returned.
var errHandlerReturned = errors.New("kestrel: the ResponseWriter was used after its handler returned")

// end is called as the handler returns: later calls of the writer's
// methods do nothing, or fail with errHandlerReturned. A call still
// running in another goroutine is waited for.
func (w *responseWriter) end() {
	w.mu.Lock()
	w.dmu.Lock()
	w.done = true
	w.dmu.Unlock()
	w.mu.Unlock()
}

// Header returns the header map; once the handler has returned, a new
// empty map each time, so that a goroutine left behind touches nothing
// the server reads.
func (w *responseWriter) Header() http.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return make(http.Header)
	}
	return w.header
}

func (w *responseWriter) WriteHeader(code int) {
	checkWriteHeaderCode(code)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		w.ex.cfg.Logger.Warn("response.WriteHeader called after the handler returned", "caller", caller(), "code", code)
		return
	}
	w.writeHeader(code)
}

func (w *responseWriter) writeHeader(code int) {
	ex := w.ex
	if ex.hijacked {
		ex.cfg.Logger.Warn("response.WriteHeader on hijacked connection", "caller", caller())
		return
	}
	if w.wroteHeader {
		ex.cfg.Logger.Warn("superfluous response.WriteHeader call", "caller", caller(), "code", code)
		return
	}
	if code == http.StatusSwitchingProtocols && !ex.s.Hijackable() {
		// HTTP/2 and HTTP/3 have no 101 (RFC 9113, 8.6; RFC 9114, 4.5):
		// clients reject one as malformed. An upgrade there is an
		// extended CONNECT answered with 200 (kestrel.Upgrade).
		ex.cfg.Logger.Error("response.WriteHeader(101): 101 Switching Protocols cannot be sent over "+w.req.Proto+"; answering 500", "caller", caller())
		code = http.StatusInternalServerError
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		if err := ex.WriteInformational(code, w.visitHeader); err != nil {
			ex.cfg.Logger.Debug("informational response failed", "code", code, "error", err)
		}
		return
	}
	w.wroteHeader = true
	if !ex.committed {
		ex.status = code // a 101 too, which Hijack sends (SetStatus takes final statuses only)
	}
	w.copyHeaders()
}

// checkWriteHeaderCode panics for a code that is not a status, as net/http
// does.
func checkWriteHeaderCode(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
}

// caller names the function and line outside this package and net/http
// that called into the ResponseWriter, for warnings, as net/http's
// "superfluous response.WriteHeader call from ..." does.
func caller() string {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "github.com/kestrel-go/kestrel/internal/") && !strings.HasPrefix(f.Function, "net/http.") {
			return fmt.Sprintf("%s (%s:%d)", f.Function, f.File, f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

func (w *responseWriter) visitHeader(fn func(name, value string)) {
	for name, vs := range w.header {
		for _, v := range vs {
			fn(name, v)
		}
	}
}

// copyHeaders takes the header map's state at WriteHeader, as net/http does.
func (w *responseWriter) copyHeaders() {
	if w.copied {
		return
	}
	w.copied = true
	ex := w.ex
	// The body is sniffed for a Content-Type unless the handler set one
	// (or suppressed it with a nil value) or encoded the body: an encoded
	// body would be typed by its encoding (application/x-gzip), as
	// net/http's server avoids too (golang.org/issue/31753). Over
	// HTTP/1.x, a body the handler framed with a Transfer-Encoding of its
	// own (coded with gzip, say) is not sniffed either, as net/http's
	// HTTP/1 server does not.
	_, hasType := w.header["Content-Type"]
	hasTE := w.header.Get("Transfer-Encoding") != ""
	w.sniff = !hasType && w.header.Get("Content-Encoding") == "" && !(hasTE && ex.Req.ProtoMajor == 1)
	http11 := ex.Req.ProtoMajor != 1 || ex.Req.ProtoMinor >= 1
	for name, vs := range w.header {
		if strings.HasPrefix(name, http.TrailerPrefix) {
			continue
		}
		if len(vs) == 0 {
			// A nil value suppresses an automatic header, as in net/http.
			switch name {
			case "Date":
				ex.userDate = true
			case "Server":
				ex.userServer = true
			}
			continue
		}
		if name == "Trailer" {
			for _, v := range vs {
				for _, t := range strings.Split(v, ",") {
					// A name declared more than once is sent once, as
					// net/http's HTTP/2 server does: each mention would
					// send its values again.
					if t = strings.TrimSpace(t); t != "" {
						if t = http.CanonicalHeaderKey(t); !slices.Contains(w.trailers, t) {
							w.trailers = append(w.trailers, t)
						}
					}
				}
			}
			if http11 {
				ex.streaming = true
			}
		}
		if name == "Content-Length" && http11 {
			if _, te := w.header["Transfer-Encoding"]; te {
				continue // a handler's chunked wins over its length
			}
		}
		for _, v := range vs {
			ex.AddHeader(name, v)
		}
	}
}

// beforeCommit is called by the exchange as it writes the response head;
// final tells that the handler has returned.
func (w *responseWriter) beforeCommit(final bool) {
	w.wroteHeader = true
	w.copyHeaders()
	ex := w.ex
	if w.sniff && len(ex.pend) > 0 && BodyAllowed(ex.status) {
		w.sniff = false
		ex.AddHeader("Content-Type", http.DetectContentType(ex.pend))
	}
	if (ex.Req.ProtoMajor != 1 || ex.Req.ProtoMinor >= 1) && !ex.streaming {
		// Trailers set with http.TrailerPrefix need a body of unknown
		// length; net/http looks for them when it writes the head, too.
		found := w.hasPrefixTrailers()
		ex.streaming = found
		// Once the handler has returned, its header map no longer
		// changes: hasTrailers need not look again.
		w.prefixKnown, w.prefixFound = final, found
	}
}

// sniffLarge sets the sniffed Content-Type before a write that commits the
// response with p not buffered (it does not fit the exchange's buffer), so
// that beforeCommit, which sees only the buffered bytes, does not miss it.
// A write the exchange will refuse for running past the handler's
// Content-Length sends nothing, so it is not sniffed either.
func (w *responseWriter) sniffLarge(p []byte) {
	ex := w.ex
	if !w.sniff || ex.committed || len(ex.pend)+len(p) <= cap(ex.pend) || !BodyAllowed(ex.status) {
		return
	}
	if ex.declaredLen >= 0 && ex.written+int64(len(p)) > ex.declaredLen {
		return
	}
	w.sniff = false
	data := p
	if len(ex.pend) > 0 {
		data = append(append(make([]byte, 0, 512), ex.pend...), p[:min(len(p), 512)]...)
	}
	ex.AddHeader("Content-Type", http.DetectContentType(data))
}

// sniffFile sets the sniffed Content-Type from the first bytes of a file
// at off, before the head goes out ahead of the file sent with sendfile:
// none of its bytes are in the exchange's buffer, where beforeCommit
// looks.
func (w *responseWriter) sniffFile(f io.ReaderAt, off int64) {
	ex := w.ex
	if !w.sniff || ex.committed || len(ex.pend) > 0 || !BodyAllowed(ex.status) {
		return
	}
	var buf [512]byte // as many bytes as http.DetectContentType considers
	if n, _ := f.ReadAt(buf[:], off); n > 0 {
		w.sniff = false
		ex.AddHeader("Content-Type", http.DetectContentType(buf[:n]))
	}
}

// hasTrailers reports whether trailers were declared or set.
func (w *responseWriter) hasTrailers() bool {
	if len(w.trailers) > 0 {
		return true
	}
	if w.prefixKnown {
		return w.prefixFound
	}
	return w.hasPrefixTrailers()
}

// hasPrefixTrailers reports whether the header map holds trailers set with
// http.TrailerPrefix.
func (w *responseWriter) hasPrefixTrailers() bool {
	for name := range w.header {
		if strings.HasPrefix(name, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// visitTrailers calls fn for the declared trailers and those set with
// http.TrailerPrefix.
func (w *responseWriter) visitTrailers(fn func(name, value string)) {
	for _, name := range w.trailers {
		if skipTrailer(name) {
			continue
		}
		for _, v := range w.header[name] {
			fn(name, v)
		}
	}
	for name, vs := range w.header {
		if t, ok := strings.CutPrefix(name, http.TrailerPrefix); ok && !skipTrailer(t) {
			for _, v := range vs {
				fn(http.CanonicalHeaderKey(t), v)
			}
		}
	}
}

// skipTrailer reports whether a trailer is not to be sent: its name is
// that of a field a trailer section must not carry, which net/http does
// not send either (and quic-go's client would drop the response's
// trailers for).
func skipTrailer(name string) bool { return !httpsyntax.ValidTrailerName(name) }

func (w *responseWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, errHandlerReturned
	}
	return w.write(p)
}

func (w *responseWriter) write(p []byte) (int, error) {
	if w.ex.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	w.sniffLarge(p)
	return w.ex.Write(p)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, errHandlerReturned
	}
	if w.ex.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	if w.sniff && len(w.ex.pend)+len(s) > cap(w.ex.pend) {
		return w.write([]byte(s)) // to be sniffed; ex.WriteString would copy it too
	}
	return w.ex.WriteString(s)
}

// ReadFrom copies r into the response, as io.Copy calls it.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, errHandlerReturned
	}
	if w.ex.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	return w.ex.ReadFrom(r)
}

// Flush sends everything written so far.
func (w *responseWriter) Flush() { w.FlushError() }

// FlushError is Flush, reporting failure; http.ResponseController uses it.
func (w *responseWriter) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return errHandlerReturned
	}
	if w.ex.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	return w.ex.Flush()
}

// SetReadDeadline sets the deadline for reading the request body. It does
// not wait for the writer's other calls: it may be called to wake one.
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	w.dmu.Lock()
	defer w.dmu.Unlock()
	if w.done {
		return errHandlerReturned
	}
	return w.ex.s.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for writing the response; like
// SetReadDeadline, it may be called while a write waits.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	w.dmu.Lock()
	defer w.dmu.Unlock()
	if w.done {
		return errHandlerReturned
	}
	return w.ex.s.SetWriteDeadline(t)
}

// EnableFullDuplex lets the handler read the request body while it writes
// the response. The engine always allows that; on HTTP/1.x it also keeps
// the connection for the next request when the response starts before
// the body was read (the handler reads it), as net/http does.
func (w *responseWriter) EnableFullDuplex() error {
	w.dmu.Lock()
	defer w.dmu.Unlock()
	if !w.done {
		w.ex.fullDuplex.Store(true)
	}
	return nil
}

// CloseNotify returns a channel that receives true when the client goes
// away before the handler returns (http.CloseNotifier, deprecated but
// still type-asserted by frameworks).
func (w *responseWriter) CloseNotify() <-chan bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closeNotify == nil {
		ch := make(chan bool, 1)
		w.closeNotify = ch
		if ctx, ok := w.req.Context().(*RequestContext); ok {
			ctx.AfterFunc(func() {
				if ctx.Aborted() {
					ch <- true
				}
			})
		}
	}
	return w.closeNotify
}

// Hijack hands the connection to the handler. A response head that was set
// with WriteHeader (such as a 101) is sent first; bytes the server had
// already read past the request are returned through the reader.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, nil, errHandlerReturned
	}
	nc, err := w.ex.hijack(w.wroteHeader)
	if err != nil {
		return nil, nil, err
	}
	return nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), nil
}

// requestBody is the Body of a standard request: the exchange's until the
// handler closes it or returns, when the exchange goes on to serve another
// request (perhaps another client's); reads then fail with
// http.ErrBodyReadAfterClose, as net/http's do.
type requestBody struct {
	mu     sync.Mutex // held by Read; end takes it
	b      *Body      // nil once the handler returned
	closed atomic.Bool
}

func (rb *requestBody) Read(p []byte) (int, error) {
	if rb.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.b == nil {
		return 0, http.ErrBodyReadAfterClose
	}
	return rb.b.Read(p)
}

// Close makes later reads fail, as net/http's request bodies do; what is
// left of the body is drained or discarded by the protocol as the
// handler returns, as for a body the handler did not read.
func (rb *requestBody) Close() error {
	rb.closed.Store(true)
	return nil
}

// end detaches the body from the exchange as the handler returns. A read
// that a goroutine the handler left behind is still waiting in is woken by
// a read deadline in the past, and fails; end waits for it to return.
func (rb *requestBody) end(ex *Exchange) {
	if rb.b == nil {
		return // no body
	}
	if !rb.mu.TryLock() {
		_ = ex.s.SetReadDeadline(aLongTimeAgo)
		rb.mu.Lock()
		_ = ex.s.SetReadDeadline(time.Time{})
	}
	rb.b = nil
	rb.mu.Unlock()
}

// aLongTimeAgo is a deadline in the past, which fails a read waiting now.
var aLongTimeAgo = time.Unix(1, 0)
