// Package accesslog is HTTP middleware that records one line per request:
// when it arrived, the client's address, the user of Basic authentication,
// the method, target and protocol, the response status and body size, the
// Referer and User-Agent, how long it took and the request id.
//
// Lines are written in the Combined Log Format that nginx and Apache use,
// followed by the duration in seconds and the request id (Kestrel's
// TraceIdentifier, kestrel.RequestID; "-" on another server), so that log
// tools read them:
//
//	127.0.0.1 - - [30/Nov/2026:15:04:05 +0000] "GET /hello?x=1 HTTP/1.1" 200 13 "-" "curl/8.5.0" 0.000183 0HNQEV7R6JMK1:00000001
//
// or, with Options.Logger, as one slog record per request with the same
// fields, for structured (JSON) output.
//
// The middleware keeps the ResponseWriter's optional interfaces:
// http.Flusher, http.Hijacker, io.ReaderFrom, http.CloseNotifier where the
// server has it, and http.ResponseController's methods through Unwrap.
package accesslog

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/logging"
)

// Category is the category of the records written to Options.Logger, in
// their logging.CategoryKey attribute.
const Category = "AccessLog"

// Options configure the middleware.
type Options struct {
	// Writer receives one line per request; os.Stdout when nil. Each line
	// is written with one Write call.
	Writer io.Writer

	// Logger, when set, receives each request as a record at Info level
	// instead, with the fields of a line as attributes: StartTime (when
	// the request arrived), RemoteAddr, RemoteUser, Method, Target,
	// Protocol, StatusCode, ResponseBytes, Referer, UserAgent, DurationMs
	// and RequestId ("" where a field has no value).
	Logger *slog.Logger
}

// Handler returns h wrapped to record each request it serves.
func Handler(h http.Handler, opts Options) http.Handler {
	out := &writer{w: opts.Writer}
	if out.w == nil {
		out.w = os.Stdout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &responseWriter{ResponseWriter: w}
		var ww http.ResponseWriter = rw
		//lint:ignore SA1019 kept for the handlers that still use it (gin's streaming)
		if _, ok := w.(http.CloseNotifier); ok {
			ww = closeNotifyWriter{rw}
		}
		returned := false
		defer func() {
			e := entry{start: start, took: time.Since(start), r: r, status: rw.status, bytes: rw.bytes}
			ex := app.FromRequest(r)
			switch {
			case !returned && ex != nil && !rw.hijacked && !ex.Committed():
				// The handler panicked before its response started: the
				// server drops what it buffered (a status, body bytes)
				// and answers 500.
				e.status, e.bytes = http.StatusInternalServerError, 0
			case !returned && e.status == 0:
				e.status = http.StatusInternalServerError // the handler panicked before answering
			case ex != nil && !rw.hijacked:
				// The server knows the status the client got, even one the
				// handler did not write: a 101 from kestrel.Upgrade, a 413
				// for a body over the limit.
				e.status = ex.ResponseStatus()
			}
			if r.Method == http.MethodHead {
				// A server accepts a HEAD handler's body writes and sends
				// none of them: the client got no body bytes.
				e.bytes = 0
			}
			if e.status == 0 {
				e.status = http.StatusOK
				if rw.hijacked {
					e.status = http.StatusSwitchingProtocols
				}
			}
			if opts.Logger != nil {
				e.log(opts.Logger)
			} else {
				out.write(&e)
			}
		}()
		h.ServeHTTP(ww, r)
		returned = true
	})
}

// entry is what is recorded of one request.
type entry struct {
	start  time.Time
	took   time.Duration
	r      *http.Request
	status int
	bytes  int64
}

func (e *entry) log(l *slog.Logger) {
	l.LogAttrs(e.r.Context(), slog.LevelInfo, e.r.Method+" "+e.r.RequestURI+" "+e.r.Proto+" "+strconv.Itoa(e.status),
		logging.Category(Category),
		slog.Time("StartTime", e.start),
		slog.String("RemoteAddr", e.r.RemoteAddr),
		slog.String("RemoteUser", remoteUser(e.r)),
		slog.String("Method", e.r.Method),
		slog.String("Target", e.r.RequestURI),
		slog.String("Protocol", e.r.Proto),
		slog.Int("StatusCode", e.status),
		slog.Int64("ResponseBytes", e.bytes),
		slog.String("Referer", e.r.Referer()),
		slog.String("UserAgent", e.r.UserAgent()),
		slog.Float64("DurationMs", float64(e.took.Microseconds())/1000),
		slog.String("RequestId", requestID(e.r)),
	)
}

// remoteUser is the user name of the request's Basic authentication, as
// nginx's $remote_user: the client's claim, not checked.
func remoteUser(r *http.Request) string {
	u, _, _ := r.BasicAuth()
	return u
}

// requestID is the request's id on this server, "" on another.
func requestID(r *http.Request) string {
	if ex := app.FromRequest(r); ex != nil {
		return ex.RequestID()
	}
	return ""
}

// writer writes lines, one Write each, from a pool of buffers.
type writer struct {
	mu sync.Mutex
	w  io.Writer
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (w *writer) write(e *entry) {
	bp := bufPool.Get().(*[]byte)
	b := appendLine((*bp)[:0], e)
	w.mu.Lock()
	w.w.Write(b)
	w.mu.Unlock()
	*bp = b
	bufPool.Put(bp)
}

// appendLine appends the Combined Log Format line of e and the duration.
func appendLine(b []byte, e *entry) []byte {
	host := e.r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || host == "@" {
		host = "-" // a Unix socket peer has no address
	}
	// Escaped, and a space too: the address may come from a forwarded
	// header (a zone or a value a handler set), and must stay one field.
	b = appendField(b, host)
	b = append(b, " - "...)
	if u := remoteUser(e.r); u != "" {
		b = appendField(b, u)
	} else {
		b = append(b, '-')
	}
	b = append(b, " ["...)
	b = e.start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendSafe(b, e.r.Method)
	b = append(b, ' ')
	b = appendSafe(b, e.r.RequestURI)
	b = append(b, ' ')
	b = appendSafe(b, e.r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	if e.bytes == 0 {
		b = append(b, '-')
	} else {
		b = strconv.AppendInt(b, e.bytes, 10)
	}
	b = append(b, " \""...)
	b = appendQuoted(b, e.r.Referer())
	b = append(b, "\" \""...)
	b = appendQuoted(b, e.r.UserAgent())
	b = append(b, "\" "...)
	b = strconv.AppendFloat(b, e.took.Seconds(), 'f', 6, 64)
	b = append(b, ' ')
	if ex := app.FromRequest(e.r); ex != nil {
		b = ex.AppendRequestID(b)
	} else {
		b = append(b, '-')
	}
	return append(b, '\n')
}

// appendQuoted appends a header value for a quoted field, "-" when empty.
func appendQuoted(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendSafe(b, s)
}

const hexDigits = "0123456789abcdef"

// appendSafe appends s with quotes, backslashes and bytes outside
// printable ASCII escaped as \xHH, as nginx does, so that a client cannot
// forge a line or break the format.
// appendField appends s escaped as appendSafe does, and its spaces too,
// which would split an unquoted field.
func appendField(b []byte, s string) []byte {
	for i, part := range strings.Split(s, " ") {
		if i > 0 {
			b = append(b, `\x20`...)
		}
		b = appendSafe(b, part)
	}
	return b
}

func appendSafe(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

// responseWriter records the status and the body bytes.
type responseWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

// WriteHeader records the first final status: a 1xx other than 101 is an
// interim response, after which the handler still writes the final one
// (or 200 by its body or its return), as net/http sends them.
func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// WriteString writes s, without a copy when the server can.
func (w *responseWriter) WriteString(s string) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.WriteString(w.ResponseWriter, s)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom copies from src, with the server's ReadFrom when it has one
// (sendfile).
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

// writerOnly hides ReadFrom, so that io.Copy does not call it back.
type writerOnly struct{ io.Writer }

// Flush sends what is buffered to the client, if the server can.
func (w *responseWriter) Flush() { w.FlushError() }

// FlushError is Flush, returning the server's error (a client gone, a
// write deadline passed): http.ResponseController's Flush calls it, and
// would otherwise take Flush and report success.
func (w *responseWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes the connection over, if the server allows it.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, brw, err
}

// Unwrap gives http.ResponseController the server's ResponseWriter.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// closeNotifyWriter adds http.CloseNotifier for a server that has it.
type closeNotifyWriter struct{ *responseWriter }

// CloseNotify is the server's.
func (w closeNotifyWriter) CloseNotify() <-chan bool {
	//lint:ignore SA1019 kept for the handlers that still use it
	return w.ResponseWriter.(http.CloseNotifier).CloseNotify()
}
