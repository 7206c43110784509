package http1

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// ServeHTTP serves the exchange with a standard http.Handler: it builds the
// *http.Request from the parsed head and gives the handler a
// ResponseWriter that writes through the exchange.
func (ex *Exchange) ServeHTTP(handler http.Handler) {
	c := ex.c
	// The request is built on the stack; WithContext makes the one copy
	// the handler gets.
	var r http.Request
	if err := ex.newRequest(&r); err != nil {
		ex.rejected = errInvalidTarget
		return
	}
	ctx := &requestContext{parent: c.cfg.BaseContext, ex: ex}
	req := r.WithContext(ctx)
	if ex.h.chunked {
		// Trailers, declared or not, land in the handler's Request.Trailer
		// as the body ends, as net/http delivers them.
		ex.body.trailer = &req.Trailer
	}
	c.reqCtx.Store(ctx)
	defer func() {
		c.reqCtx.Store(nil)
		ctx.cancel()
	}()
	// The writer and its header map are reused by the exchange's next
	// request: a handler must not use them after it returns, as with
	// net/http.
	w := &ex.rw
	header := w.header
	if header == nil || len(header) > 64 {
		header = make(http.Header)
	} else {
		clear(header)
	}
	trailers := w.trailers[:0]
	*w = responseWriter{ex: ex, req: req, header: header, trailers: trailers}
	ex.std = w
	handler.ServeHTTP(w, req)
}

// FromRequest returns the exchange serving r, or nil when r was not
// served by this engine.
func FromRequest(r *http.Request) *Exchange {
	ex, _ := r.Context().Value(exchangeKey{}).(*Exchange)
	return ex
}

// newRequest builds the standard request. The head is copied into one
// string that every name and value then points into.
func (ex *Exchange) newRequest(req *http.Request) error {
	c := ex.c
	h := &ex.h
	head := string(ex.headBytes())
	str := func(s span) string { return head[s.start:s.end] }

	target := str(h.target)
	var u *url.URL
	var err error
	switch h.form {
	case authorityForm:
		u = &url.URL{Host: target}
	case asteriskForm:
		u = &url.URL{Path: "*"}
	default:
		if u = simpleURL(target); u == nil {
			u, err = url.ParseRequestURI(target)
			if err != nil {
				return fmt.Errorf("parse request target %q: %w", target, err)
			}
		}
	}

	hdr := make(http.Header, len(h.fields))
	values := make([]string, len(h.fields))
	for i, f := range h.fields {
		name := str(f.name)
		if !isCanonical(name) {
			name = textproto.CanonicalMIMEHeaderKey(name)
		}
		if name == "Host" || name == "Transfer-Encoding" {
			continue // in Request.Host and Request.TransferEncoding, as net/http does
		}
		v := str(f.value)
		if vs, ok := hdr[name]; ok {
			hdr[name] = append(vs, v)
		} else {
			values[i] = v
			hdr[name] = values[i : i+1 : i+1]
		}
	}

	*req = http.Request{
		Method:     str(h.method),
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: int(h.minor),
		Header:     hdr,
		Host:       str(h.host),
		RemoteAddr: c.RemoteAddr(),
		RequestURI: target,
		Close:      c.closeAfter,
	}
	if h.minor == 0 {
		req.Proto = "HTTP/1.0"
	}
	if h.hostCount == 0 && u.Host != "" {
		req.Host = u.Host
	}
	switch {
	case h.chunked:
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		req.Body = &ex.body
		if h.trailerDeclared {
			req.Trailer = make(http.Header)
			for _, v := range hdr["Trailer"] {
				forEachToken([]byte(v), func(t []byte) {
					req.Trailer[textproto.CanonicalMIMEHeaderKey(string(t))] = nil
				})
			}
			delete(hdr, "Trailer") // in Request.Trailer, as net/http does
		}
	case h.contentLength > 0:
		req.ContentLength = h.contentLength
		req.Body = &ex.body
	default:
		req.Body = http.NoBody
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		req.TLS = &st
	}
	return nil
}

// plainPathChar reports the bytes that url.ParseRequestURI keeps as they
// are in a path, without setting RawPath.
var plainPathChar = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~$&+,;=:@/") {
		t[c] = true
	}
	return t
}()

// simpleURL parses an origin-form target whose path needs no unescaping,
// the common case, as url.ParseRequestURI would; it returns nil for any
// other target.
func simpleURL(target string) *url.URL {
	if len(target) == 0 || target[0] != '/' {
		return nil
	}
	path, query, hasQuery := strings.Cut(target, "?")
	for i := range len(path) {
		if !plainPathChar[path[i]] {
			return nil
		}
	}
	if strings.IndexByte(query, '#') >= 0 {
		return nil
	}
	return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
}

// isCanonical reports whether name is already in canonical MIME form.
func isCanonical(name string) bool {
	upper := true
	for i := range len(name) {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// responseWriter is the http.ResponseWriter of the bridge. It also
// implements http.Flusher, http.Hijacker and the methods
// http.ResponseController looks for.
type responseWriter struct {
	ex          *Exchange
	req         *http.Request
	header      http.Header
	wroteHeader bool
	copied      bool // the header map was copied into the exchange
	sniff       bool // Content-Type is to be sniffed from the body
	trailers    []string
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	ex := w.ex
	if w.wroteHeader || ex.c.hijacked {
		ex.c.cfg.Logger.Debug("superfluous WriteHeader call", "code", code)
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		if err := ex.WriteInformational(code, w.visitHeader); err != nil {
			ex.c.cfg.Logger.Debug("informational response failed", "code", code, "error", err)
		}
		return
	}
	w.wroteHeader = true
	ex.SetStatus(code)
	w.copyHeaders()
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
	_, hasType := w.header["Content-Type"]
	w.sniff = !hasType
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
					if t = strings.TrimSpace(t); t != "" {
						w.trailers = append(w.trailers, http.CanonicalHeaderKey(t))
					}
				}
			}
			if ex.h.minor >= 1 {
				ex.forceChunk = true
			}
		}
		if name == "Content-Length" && len(vs) > 0 && ex.h.minor >= 1 {
			if _, te := w.header["Transfer-Encoding"]; te {
				continue // a handler's chunked wins over its length
			}
		}
		for _, v := range vs {
			ex.AddHeader(name, v)
		}
	}
}

// beforeCommit is called by the exchange as it writes the response head.
func (w *responseWriter) beforeCommit() {
	w.wroteHeader = true
	w.copyHeaders()
	ex := w.ex
	if w.sniff && len(ex.pend) > 0 && bodyAllowed(ex.status) {
		w.sniff = false
		ex.AddHeader("Content-Type", http.DetectContentType(ex.pend))
	}
	if ex.h.minor >= 1 && !ex.forceChunk {
		// Trailers set with http.TrailerPrefix need chunked framing; net/http
		// looks for them when it writes the head, too.
		for name := range w.header {
			if strings.HasPrefix(name, http.TrailerPrefix) {
				ex.forceChunk = true
				break
			}
		}
	}
}

// sniffLarge sets the sniffed Content-Type before a write that commits the
// response with p not buffered (it does not fit the exchange's buffer), so
// that beforeCommit, which sees only the buffered bytes, does not miss it.
func (w *responseWriter) sniffLarge(p []byte) {
	ex := w.ex
	if !w.sniff || ex.committed || len(ex.pend)+len(p) <= cap(ex.pend) || !bodyAllowed(ex.status) {
		return
	}
	w.sniff = false
	data := p
	if len(ex.pend) > 0 {
		data = append(append(make([]byte, 0, 512), ex.pend...), p[:min(len(p), 512)]...)
	}
	ex.AddHeader("Content-Type", http.DetectContentType(data))
}

// writeTrailers writes the declared trailers and those set with
// http.TrailerPrefix, after the last chunk.
func (w *responseWriter) writeTrailers() {
	c := w.ex.c
	for _, name := range w.trailers {
		if skipTrailer(name) {
			continue
		}
		for _, v := range w.header[name] {
			c.writeHeaderLine(name, v)
		}
	}
	for name, vs := range w.header {
		if t, ok := strings.CutPrefix(name, http.TrailerPrefix); ok && !skipTrailer(t) {
			for _, v := range vs {
				c.writeHeaderLine(t, v)
			}
		}
	}
}

func skipTrailer(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Host":
		return true
	}
	return false
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.sniffLarge(p)
	return w.ex.Write(p)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.sniff && len(w.ex.pend)+len(s) > cap(w.ex.pend) {
		return w.Write([]byte(s)) // to be sniffed; ex.WriteString would copy it too
	}
	return w.ex.WriteString(s)
}

// Flush sends everything written so far.
func (w *responseWriter) Flush() { w.FlushError() }

// FlushError is Flush, reporting failure; http.ResponseController uses it.
func (w *responseWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ex.Flush()
}

// SetReadDeadline sets the connection's read deadline.
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	return w.ex.c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the connection's write deadline.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	return w.ex.c.nc.SetWriteDeadline(t)
}

// EnableFullDuplex lets the handler read the request body while it writes
// the response; the engine always allows that, so it only reports success.
func (w *responseWriter) EnableFullDuplex() error { return nil }

// Hijack hands the connection to the handler. A response head that was set
// with WriteHeader (such as a 101) is sent first; bytes the server had
// already read past the request are returned through the reader.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	ex := w.ex
	nc, err := ex.c.hijack(ex, w.wroteHeader)
	if err != nil {
		return nil, nil, err
	}
	return nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), nil
}
