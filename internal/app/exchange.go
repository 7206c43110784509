// Package app is the application layer that every protocol shares, as
// Kestrel's HttpProtocol is shared by its HTTP/1.1, HTTP/2 and HTTP/3
// streams: the exchange of one request and its response (response
// buffering, framing decisions, headers, 1xx, trailers), the request body
// with its size limit, the http.Handler adapter (the *http.Request, the
// ResponseWriter with its optional interfaces, the request context), and
// the native handler's view of a request. A protocol parses requests into
// a Head, implements Stream to move bytes, and never knows which kind of
// handler serves them.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/workers"
)

// Config is what the application layer needs from the server, shared by
// every protocol. It must not change once requests are served.
type Config struct {
	Logger       *slog.Logger
	Heartbeat    *heartbeat.Heartbeat // the cached Date header
	ServerHeader bool                 // send "Server: Kestrel"

	// BaseContext is the parent of each request's context.
	BaseContext context.Context

	// Handler serves each exchange, on the goroutine the protocol runs it
	// on; the Exchange is valid until it returns.
	Handler func(*Exchange)

	// MaxRequestBodySize is each request's body limit; < 0: unlimited.
	MaxRequestBodySize int64

	// Workers runs the handlers of the protocols that serve several
	// exchanges of a connection at once (HTTP/2, HTTP/3); nil: a new
	// goroutine each.
	Workers *workers.Pool
}

// Stream is a protocol's side of one exchange: it moves the request body
// and the response's bytes, and knows its connection.
type Stream interface {
	// ReadBody reads request body bytes, decoded from the protocol's
	// framing, and returns io.EOF at the end. A body the server must
	// answer for (malformed, timed out) fails with a *RequestError.
	ReadBody(p []byte) (int, error)

	// WriteHead sends the response head: ex's status and header lines,
	// and length, the body's length (-1 when unknown; the protocol picks
	// its framing). final tells that the handler has returned.
	WriteHead(ex *Exchange, length int64, final bool)

	// WriteBody sends body bytes: a, then b.
	WriteBody(a, b []byte) error

	// FlushBody sends body bytes p, as WriteBody, and makes them and
	// what was written before go out now.
	FlushBody(p []byte) error

	// EndResponse ends the response after the handler returned and the
	// head and body were written; it writes the trailers (VisitTrailers).
	// It reports whether the protocol may go on (HTTP/1.1: serve another
	// request on the connection).
	EndResponse(ex *Exchange) bool

	// WriteInformational sends a 1xx response with the given headers.
	WriteInformational(code int, headers func(fn func(name, value string))) error

	// Hijackable reports whether the connection can be taken over
	// (HTTP/1.x); Hijack takes it, sending a pending head first when
	// sendHead is set.
	Hijackable() bool
	Hijack(ex *Exchange, sendHead bool) (net.Conn, error)

	// CanUpgrade reports whether the request asks for a protocol upgrade
	// the server can perform.
	CanUpgrade() bool

	// NetConn is the connection the stream belongs to; PeerAddr is its
	// peer's address as a string, computed once.
	NetConn() net.Conn
	PeerAddr() string

	// WriteErr is why the response can no longer be written (the
	// connection failed, the stream was reset), or nil.
	WriteErr() error

	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetMinRequestBodyRate(r Rate)
	SetMinResponseRate(r Rate)

	// SetRequestContext tells the stream the context of the http.Handler
	// request in flight (nil when it ends), so that the stream cancels it
	// when the client goes away.
	SetRequestContext(ctx *RequestContext)
}

// Refuser is a Stream that can refuse its request unprocessed: HTTP/2's
// RST_STREAM REFUSED_STREAM and HTTP/3's H3_REQUEST_REJECTED, after the
// first GOAWAY of the connection's graceful shutdown, so that the client
// retries the request, and sends the next ones, on another connection
// (RFC 9113, 8.7; RFC 9114, 4.1.1).
type Refuser interface {
	// Refuse refuses the request, and reports false when it cannot:
	// the response has started, or the stream is already reset.
	Refuse() bool
}

// Exchange is one request and its response. Protocols pool exchanges: one
// is valid only until the handler it was given to returns, and so are the
// byte slices it returns.
type Exchange struct {
	// Req is the request's head, set by the protocol before Run.
	Req Head

	// Native is the root package's state for the native handler API,
	// kept across the exchange's reuse.
	Native any

	// Parent, if set by the protocol, is the parent of the request's
	// context (the connection's); nil means Config.BaseContext.
	Parent context.Context

	// Conn is the connection's id and end reason, and Seq the request's
	// number on it (HTTP/1.x: its place from 1; HTTP/2: its stream id),
	// set by the protocol: together the request id of the logs.
	Conn *ConnInfo
	Seq  uint32

	cfg  *Config
	s    Stream
	body Body
	// headMu is held as the response head or a 1xx is written, and as the
	// body's first read sends 100 Continue (the protocol's, when the
	// client asked for it and the head is not out): a full-duplex handler
	// reads in one goroutine while it writes in another, and the 100 must
	// neither mix with those writes nor follow the head.
	headMu sync.Mutex

	status      int
	hdr         []byte // response header lines, each ending in CRLF
	pend        []byte // body bytes not yet handed to the stream
	declaredLen int64  // Content-Length the handler set; -1 none
	written     int64  // body bytes the handler wrote
	refused     int64  // body bytes refused for going past declaredLen
	committed   bool
	streaming   bool   // the handler asked for chunked framing or declared trailers
	codings     string // the transfer codings the handler's Transfer-Encoding named besides chunked
	userDate    bool
	userServer  bool
	connClose   bool // the handler set Connection: close
	connUpgrade bool // the handler's Connection named "upgrade" (beside an Upgrade header: RFC 9110, 7.8)
	isHead      bool
	hijacked    bool
	refusedReq  bool          // Refuse refused the request: no response follows
	fullDuplex  atomic.Bool   // the handler reads the request body while it writes the response (EnableFullDuplex)
	upgrading   bool          // the protocol is taking the connection over (a 101 it sends is followed by the new protocol)
	rejected    *RequestError // why the request failed, answered if nothing was sent
	answered    bool          // the response is the rejection's answer

	reqTrailer *http.Header    // receives the request's trailers, when set
	std        *responseWriter // the http.Handler bridge serving this exchange, if any
	tunnel     *tunnelConn     // the extended CONNECT's stream Upgrade returned, if any
	lower      [64]byte        // VisitFields' lower-case names, here so as not to be allocated
	canon      []byte          // the head with canonical field names, for the http.Handler bridge (std.go)
	aborted    atomic.Bool     // the request's context was aborted (Kestrel's RequestAborted)
	native     nativeState     // the native path's request context and trailers
}

const pendSize = 4096

// NewExchange returns an exchange whose protocol side is s.
func NewExchange(cfg *Config, s Stream) *Exchange {
	ex := &Exchange{cfg: cfg, s: s}
	ex.Init(cfg, s)
	return ex
}

// Init prepares an exchange embedded in a protocol's own type.
func (ex *Exchange) Init(cfg *Config, s Stream) {
	ex.cfg, ex.s = cfg, s
	if ex.pend == nil {
		ex.pend = make([]byte, 0, pendSize)
		ex.hdr = make([]byte, 0, 256)
	}
}

// Outsized reports whether the exchange grew too large to be pooled.
func (ex *Exchange) Outsized() bool {
	return cap(ex.hdr) > 8192 || cap(ex.Req.Fields) > 256 || cap(ex.canon) > 64<<10
}

// Start prepares the exchange for the request in Req.
func (ex *Exchange) Start() {
	ex.status = http.StatusOK
	ex.hdr = ex.hdr[:0]
	ex.pend = ex.pend[:0]
	ex.declaredLen = -1
	ex.written = 0
	ex.refused = 0
	ex.committed = false
	ex.streaming, ex.codings = false, ""
	ex.userDate = false
	ex.userServer = false
	ex.connClose = false
	ex.connUpgrade = false
	ex.isHead = string(ex.Req.Method.Of(ex.Req.Buf)) == "HEAD"
	ex.hijacked = false
	ex.refusedReq = false
	ex.fullDuplex.Store(false)
	ex.upgrading = false
	ex.rejected = nil
	ex.answered = false
	ex.reqTrailer = nil
	ex.std = nil
	clear(ex.native.trailer)
	ex.native.trailer = ex.native.trailer[:0]
	ex.tunnel = nil
	ex.aborted.Store(false)
	limit := ex.cfg.MaxRequestBodySize
	if ex.Req.Tunnel {
		limit = -1 // an extended CONNECT has no body size limit, as an upgraded connection has none
	}
	ex.body = Body{ex: ex, limit: limit, eof: !ex.Req.HasBody()}
}

// Release drops what the exchange holds of its last request, for pooling.
func (ex *Exchange) Release() {
	ex.std = nil
	ex.reqTrailer = nil
	ex.Req.Buf = nil
}

// Config is the exchange's configuration.
func (ex *Exchange) Config() *Config { return ex.cfg }

// Stream is the exchange's protocol side.
func (ex *Exchange) Stream() Stream { return ex.s }

// Run serves the exchange with the configured handler and completes the
// response. It reports whether the protocol may go on; false after a
// panic or http.ErrAbortHandler once the response has started, which
// the protocol answers by aborting (HTTP/1.1 closes the connection,
// HTTP/2 resets the stream).
func (ex *Exchange) Run() (ok bool) {
	returned := false
	defer func() {
		if !returned {
			ok = ex.recovered(recover())
		}
		ex.endContext()
		if ex.tunnel != nil {
			ex.tunnel.end()
		}
	}()
	ex.cfg.Handler(ex)
	returned = true
	return ex.complete()
}

// recovered handles a handler's panic: the client gets a 500 if nothing
// was sent yet; otherwise the response is aborted.
func (ex *Exchange) recovered(v any) bool {
	if ex.hijacked {
		// The connection is the handler's, left as it is, as net/http
		// leaves a hijacked one; the panic is logged, as net/http's
		// connection goroutine logs it and Kestrel an upgraded
		// request's exception.
		if v != http.ErrAbortHandler {
			logevents.ApplicationError(ex.cfg.Logger, ex.Conn.ConnID(), ex.RequestID(),
				fmt.Sprintf("panic: %v [%s %s from %s, after the connection was taken]\n%s", v, ex.Method(), ex.Target(), ex.s.PeerAddr(), debug.Stack()))
		}
		return false
	}
	if v == http.ErrAbortHandler {
		if ex.multiplexed() {
			ex.streamAborted("The connection was aborted by the application.")
		} else {
			ex.Conn.End(metrics.AbortedByApp)
			logevents.ApplicationAbortedConnection(ex.cfg.Logger, ex.Conn.ConnID(), ex.RequestID())
		}
		return false
	}
	if ex.abortedError(v) {
		// Not the application's fault: Kestrel's RequestAborted.
		logevents.RequestAborted(ex.cfg.Logger, ex.Conn.ConnID(), ex.RequestID())
	} else {
		logevents.ApplicationError(ex.cfg.Logger, ex.Conn.ConnID(), ex.RequestID(),
			fmt.Sprintf("panic: %v [%s %s from %s]\n%s", v, ex.Method(), ex.Target(), ex.s.PeerAddr(), debug.Stack()))
	}
	if ex.committed {
		if ex.multiplexed() {
			ex.streamAborted("The response was started before the application failed.")
		} else {
			ex.Conn.End(metrics.ErrorAfterStartingResponse)
		}
		return false
	}
	ex.resetResponse(http.StatusInternalServerError)
	return ex.complete()
}

// abortedError reports whether a handler's panic value v is the error its
// aborted request made it fail with, as Kestrel logs an
// OperationCanceledException or IOException that the application throws
// once its request was aborted: the request's context was aborted (the
// client went away, reset the stream, or the server aborted it) or the
// response can no longer be written, and v is a cancellation or I/O
// error, such as a failed write's.
func (ex *Exchange) abortedError(v any) bool {
	err, ok := v.(error)
	if !ok {
		return false
	}
	werr := ex.s.WriteErr()
	if !ex.aborted.Load() && werr == nil {
		return false
	}
	var re runtime.Error
	if errors.As(err, &re) {
		return false // a bug, whatever the client did
	}
	if werr != nil && errors.Is(err, werr) {
		return true
	}
	var ne net.Error
	return errors.Is(err, context.Canceled) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// multiplexed reports whether the exchange is a stream of an HTTP/2 or
// HTTP/3 connection, where an aborted response resets its stream only.
func (ex *Exchange) multiplexed() bool { return ex.Req.ProtoMajor >= 2 }

// streamAborted logs the reset of a multiplexed exchange's stream that
// the protocol sends when Run reports false, as Kestrel does
// (Http2StreamResetAbort, Http3StreamAbort). The connection goes on: its
// end reason is not the stream's.
func (ex *Exchange) streamAborted(reason string) {
	code := "INTERNAL_ERROR"
	if ex.Req.ProtoMajor == 3 {
		code = "H3_INTERNAL_ERROR"
	}
	logevents.StreamResetAbort(ex.cfg.Logger, int(ex.Req.ProtoMajor), ex.RequestID(), code, reason)
}

// complete ends the response after the handler returned.
func (ex *Exchange) complete() bool {
	if ex.hijacked {
		return false
	}
	if ex.refusedReq {
		return true // the stream is reset already
	}
	if ex.rejected != nil && !ex.committed {
		logevents.ConnectionBadRequest(ex.cfg.Logger, ex.Conn.ConnID(), ex.rejected.Reason, ex.rejected.Status)
		ex.resetResponse(ex.rejected.Status)
		ex.answered = true
	}
	if !ex.committed {
		ex.commit(true)
	}
	if len(ex.pend) > 0 {
		ex.s.WriteBody(ex.pend, nil)
		ex.pend = ex.pend[:0]
	}
	ok := ex.s.EndResponse(ex)
	ex.logCompleted(ok)
	return ok
}

// logCompleted writes Kestrel's events of a completed response, as its
// HttpProtocol does once the response's end is written: the connection
// stays open (ConnectionKeepAlive; for HTTP/2 and HTTP/3, Kestrel's
// streams always keep their connection), and a HEAD response the handler
// wrote body bytes to, which were dropped (ConnectionHeadResponseBodyWrite).
func (ex *Exchange) logCompleted(kept bool) {
	log := ex.cfg.Logger
	if kept && logevents.ConnectionKeepAliveEvent.Enabled(log) {
		logevents.ConnectionKeepAlive(log, ex.Conn.ConnID())
	}
	if ex.isHead && ex.written > 0 && logevents.ConnectionHeadResponseBodyWriteEvent.Enabled(log) {
		logevents.ConnectionHeadResponseBodyWrite(log, ex.Conn.ConnID(), ex.written)
	}
}

// Refuse refuses the request unprocessed when its protocol can (see
// Refuser) and nothing of the response has gone out, and reports whether
// it did; the handler then writes nothing more.
func (ex *Exchange) Refuse() bool {
	r, ok := ex.s.(Refuser)
	if !ok || ex.committed || ex.hijacked || ex.refusedReq || !r.Refuse() {
		return false
	}
	ex.refusedReq = true
	return true
}

// Reject marks the request as failed with re: if nothing was sent when the
// handler returns, re is the answer.
func (ex *Exchange) Reject(re *RequestError) { ex.rejected = re }

// RequestID is the request's id, as Kestrel's TraceIdentifier: the
// connection id, a colon and the request's number on the connection in 8
// hexadecimal digits ("0HN1DEKO6S5QK:00000001"); "" without a connection
// id.
func (ex *Exchange) RequestID() string {
	if ex.Conn == nil || ex.Conn.ID == "" {
		return ""
	}
	return logevents.RequestID(ex.Conn.ID, ex.Seq)
}

// AppendRequestID appends the request's id to b, without allocating.
func (ex *Exchange) AppendRequestID(b []byte) []byte {
	if ex.Conn == nil || ex.Conn.ID == "" {
		return b
	}
	return logevents.AppendRequestID(b, ex.Conn.ID, ex.Seq)
}

// Rejected is why the request failed, or nil.
func (ex *Exchange) Rejected() *RequestError { return ex.rejected }

// RejectionAnswered reports whether the response is the rejection's
// answer, rather than one the handler had started.
func (ex *Exchange) RejectionAnswered() bool { return ex.answered }

// Method is the request method.
func (ex *Exchange) Method() []byte { return ex.Req.Method.Of(ex.Req.Buf) }

// Target is the request-target as sent (HTTP/2: :path).
func (ex *Exchange) Target() []byte { return ex.Req.TargetBytes() }

// Path is the target's path (without the query), "*" for OPTIONS *, and
// the authority for CONNECT.
func (ex *Exchange) Path() []byte { return ex.Req.PathBytes() }

// Query is the target's query, without the '?'.
func (ex *Exchange) Query() []byte { return ex.Req.QueryBytes() }

// Host is the Host header's value (HTTP/2: :authority); empty when absent
// in HTTP/1.0. A CONNECT's is its target, which its Host, if any, names.
func (ex *Exchange) Host() []byte {
	if ex.Req.Form == AuthorityForm {
		return ex.Target()
	}
	if ex.Req.HostCount == 0 {
		if ex.Req.Form == AbsoluteForm {
			return AuthorityOf(ex.Target())
		}
		return nil
	}
	return ex.Req.Host.Of(ex.Req.Buf)
}

// Header returns the value of the first request header called name,
// ignoring case, or nil.
func (ex *Exchange) Header(name string) []byte {
	b := ex.Req.Buf
	for _, f := range ex.Req.Fields {
		if httpsyntax.EqualFold(f.Name.Of(b), name) {
			return f.Value.Of(b)
		}
	}
	return nil
}

// VisitHeaders calls fn for every request header in order.
func (ex *Exchange) VisitHeaders(fn func(name, value []byte)) {
	b := ex.Req.Buf
	for _, f := range ex.Req.Fields {
		fn(f.Name.Of(b), f.Value.Of(b))
	}
}

// ContentLength is the request's declared body length: -1 when unknown
// (chunked), 0 when there is no body.
func (ex *Exchange) ContentLength() int64 {
	switch {
	case ex.Req.Chunked || ex.Req.UnknownLength:
		return -1
	case ex.Req.ContentLength < 0:
		return 0
	}
	return ex.Req.ContentLength
}

// Body reads the request body. It is the same reader for every call.
func (ex *Exchange) Body() io.ReadCloser { return &ex.body }

// BodyDone reports whether the whole request body was read (or there is
// none).
func (ex *Exchange) BodyDone() bool { return ex.body.eof }

// RemoteAddr is the client's address.
func (ex *Exchange) RemoteAddr() net.Addr { return ex.s.NetConn().RemoteAddr() }

// LocalAddr is the address the request arrived on.
func (ex *Exchange) LocalAddr() net.Addr { return ex.s.NetConn().LocalAddr() }

var errBodyLimitTooLate = errors.New("kestrel: the request body size limit cannot be changed after the body has started being read")

// SetMaxRequestBodySize sets the limit for this request's body; n < 0
// means unlimited. It fails once the body has started being read, and
// for a tunnel or an upgraded (or hijacked) connection, which has no body
// limit (Kestrel's feature is read-only there).
func (ex *Exchange) SetMaxRequestBodySize(n int64) error {
	if ex.Req.Tunnel || ex.hijacked {
		return ErrBodyLimitReadOnly
	}
	if ex.body.started {
		return errBodyLimitTooLate
	}
	ex.body.limit = n
	return nil
}

// ErrBodyLimitReadOnly is what setting the body limit of an extended
// CONNECT (a WebSocket over HTTP/2 or HTTP/3) or of an upgraded HTTP/1.1
// request fails with: a tunnel or an upgraded connection has no body
// limit (Kestrel's feature is read-only there).
var ErrBodyLimitReadOnly = errors.New("kestrel: an upgraded request has no body size limit to set")

// MaxRequestBodySize is this request's body limit; < 0 means unlimited.
func (ex *Exchange) MaxRequestBodySize() int64 { return ex.body.limit }

// BodyRead is how many body bytes the handler has read.
func (ex *Exchange) BodyRead() int64 { return ex.body.read }

// SetMinRequestBodyDataRate sets this request's minimum body data rate;
// the zero Rate turns the check off.
func (ex *Exchange) SetMinRequestBodyDataRate(r Rate) {
	if !ex.Req.Tunnel { // a tunnel has no data rates, as an upgraded connection has none
		ex.s.SetMinRequestBodyRate(r)
	}
}

// SetMinResponseDataRate sets this request's minimum response data rate;
// the zero Rate turns the check off.
func (ex *Exchange) SetMinResponseDataRate(r Rate) {
	if !ex.Req.Tunnel {
		ex.s.SetMinResponseRate(r)
	}
}

// AddRequestTrailer records a trailer field of the request, for the
// handler's Request.Trailer.
func (ex *Exchange) AddRequestTrailer(name, value string) {
	if ex.reqTrailer == nil {
		return
	}
	switch name {
	case "Content-Length", "Transfer-Encoding", "Host", "Trailer":
		return // framing and routing fields do not belong in trailers
	}
	if *ex.reqTrailer == nil {
		*ex.reqTrailer = make(http.Header)
	}
	(*ex.reqTrailer)[name] = append((*ex.reqTrailer)[name], value)
}

// WantsRequestTrailers reports whether the request's trailers have
// somewhere to go.
func (ex *Exchange) WantsRequestTrailers() bool { return ex.reqTrailer != nil }

// Response state, for the protocol as it writes the head.

// Status is the response status code.
func (ex *Exchange) Status() int { return ex.status }

// HeaderLines are the response header lines ("Name: value\r\n" each).
func (ex *Exchange) HeaderLines() []byte { return ex.hdr }

// UserDate and UserServer report whether the handler set (or suppressed)
// the Date and Server headers, which the server otherwise adds.
func (ex *Exchange) UserDate() bool   { return ex.userDate }
func (ex *Exchange) UserServer() bool { return ex.userServer }

// ConnectionClose reports whether the handler set "Connection: close".
func (ex *Exchange) ConnectionClose() bool { return ex.connClose }

// ConnectionUpgrade reports whether the handler's Connection header named
// "upgrade", as a response with an Upgrade header (a 426) must send it:
// HTTP/1.1 writes it in its own Connection header.
func (ex *Exchange) ConnectionUpgrade() bool { return ex.connUpgrade }

// Streaming reports whether the handler asked for a body of unknown
// length (Transfer-Encoding, or trailers), even if it fits the buffer.
func (ex *Exchange) Streaming() bool { return ex.streaming }

// TransferCodings is the list of transfer codings the handler's
// Transfer-Encoding named besides chunked and identity ("gzip"), which
// its body is already coded with: HTTP/1.1 sends them before the chunked
// it frames the body with, as net/http does, so that the client can
// decode what the handler wrote. "" when there are none.
func (ex *Exchange) TransferCodings() string { return ex.codings }

// appendCodings appends to list, comma-separated, the transfer codings of
// a Transfer-Encoding value besides chunked and identity; an element that
// is not a token (a coding with parameters, a malformed one) is left out.
func appendCodings(list, value string) string {
	for c := range strings.SplitSeq(value, ",") {
		c = strings.Trim(c, " \t")
		if !httpsyntax.ValidToken(c) || httpsyntax.EqualFold(c, "chunked") || httpsyntax.EqualFold(c, "identity") {
			continue
		}
		if list != "" {
			list += ", "
		}
		list += c
	}
	return list
}

// IsHead reports whether the request is a HEAD request.
func (ex *Exchange) IsHead() bool { return ex.isHead }

// Committed reports whether the response head was written.
func (ex *Exchange) Committed() bool { return ex.committed }

// DeclaredLength is the Content-Length the handler set, -1 if none;
// Written is how many body bytes it wrote.
func (ex *Exchange) DeclaredLength() int64 { return ex.declaredLen }
func (ex *Exchange) Written() int64        { return ex.written }

// Refused is how many body bytes the handler's writes past the declared
// Content-Length tried to add (they failed with http.ErrContentLength).
func (ex *Exchange) Refused() int64 { return ex.refused }

// LengthMismatch is the warning a protocol logs for a response that ends
// short of its declared Content-Length: the handler wrote too little, or
// wrote past the length, its writes refused, and ignored their error.
func (ex *Exchange) LengthMismatch() string {
	if ex.refused > 0 {
		return "response longer than its Content-Length (the writes past it were refused)"
	}
	return "response shorter than its Content-Length"
}

// RequestAborted reports whether the request's context was aborted
// (Kestrel's RequestAborted): the client went away, or the server aborted
// the request.
func (ex *Exchange) RequestAborted() bool { return ex.aborted.Load() }

// FullDuplex reports whether the handler said it reads the request body
// while it writes the response (http.ResponseController.EnableFullDuplex):
// a response that starts before the body was read does not end the
// connection for it, the handler reads it.
func (ex *Exchange) FullDuplex() bool { return ex.fullDuplex.Load() }

// Hijacked reports whether a handler took the connection over.
func (ex *Exchange) Hijacked() bool { return ex.hijacked }

// SetStatus sets the final response status code. It has no effect once
// the response has started, nor with a code outside 200 to 999: a 1xx is
// never a final status (HTTP/1.1 clients would take the response for an
// interim one and pair the next with the request; HTTP/2 and HTTP/3
// clients reject it); WriteInformational sends them, Upgrade the 101.
func (ex *Exchange) SetStatus(code int) {
	if !ex.committed && code >= 200 && code <= 999 {
		ex.status = code
	}
}

// SetHeader sets a response header, replacing any with the same name.
func (ex *Exchange) SetHeader(name, value string) {
	ex.DelHeader(name)
	ex.AddHeader(name, value)
}

// AddHeader adds a response header line. Names that are not tokens are
// ignored; control bytes in values (CR, LF, NUL, and the others but
// horizontal tab) become spaces. Content-Length,
// Transfer-Encoding and Connection are interpreted: the protocol writes
// the framing headers itself.
func (ex *Exchange) AddHeader(name, value string) {
	if ex.committed || !httpsyntax.ValidToken(name) {
		return
	}
	if ex.special(name, value) {
		return
	}
	ex.hdr = appendLine(ex.hdr, name, value)
}

// appendLine appends the field line "name: value\r\n" to b, with the
// control bytes of the value (CR, LF, NUL, and the others but horizontal
// tab: httpsyntax.ControlByte) replaced by spaces.
func appendLine(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	n := len(b)
	b = append(b, value...)
	for i := n; i < len(b); i++ {
		if httpsyntax.ControlByte(b[i]) {
			b[i] = ' '
		}
	}
	return append(b, "\r\n"...)
}

// special handles the response headers that decide framing and the
// connection's fate, and reports whether the header is not to be copied.
func (ex *Exchange) special(name, value string) bool {
	switch len(name) {
	case 4:
		if httpsyntax.EqualFold(name, "date") {
			ex.userDate = true
		}
	case 6:
		if httpsyntax.EqualFold(name, "server") {
			ex.userServer = true
		}
	case 10:
		if httpsyntax.EqualFold(name, "connection") {
			if httpsyntax.HasToken([]byte(value), "close") {
				ex.connClose = true
			}
			if httpsyntax.HasToken([]byte(value), "upgrade") {
				ex.connUpgrade = true
			}
			return true
		}
	case 14:
		if httpsyntax.EqualFold(name, "content-length") {
			// A length shorter than the body bytes already written (still
			// buffered: the head has not gone out) cannot frame them: it
			// is ignored, as net/http ignores a header set after the
			// first write. Sent, the body would run past it, into what
			// an HTTP/1.1 client reads as the next response.
			if n, ok := httpsyntax.ParseContentLength(value); ok && n >= ex.written {
				ex.declaredLen = n
			}
			return true
		}
	case 17:
		if httpsyntax.EqualFold(name, "transfer-encoding") {
			ex.streaming = true
			ex.codings = appendCodings(ex.codings, value)
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
	case httpsyntax.EqualFold(name, "content-length"):
		ex.declaredLen = -1
	case httpsyntax.EqualFold(name, "date"):
		ex.userDate = false
	case httpsyntax.EqualFold(name, "server"):
		ex.userServer = false
	case httpsyntax.EqualFold(name, "connection"):
		ex.connClose, ex.connUpgrade = false, false
	case httpsyntax.EqualFold(name, "transfer-encoding"):
		ex.codings = ""
	}
	b := ex.hdr
	out := b[:0]
	VisitLines(b, func(line, lineName, _ []byte) {
		if !httpsyntax.EqualFold(lineName, name) {
			out = append(out, line...)
		}
	})
	ex.hdr = out
}

// hasHeader reports whether a response header called name was set.
func (ex *Exchange) hasHeader(name string) bool {
	found := false
	VisitLines(ex.hdr, func(_, lineName, _ []byte) {
		if httpsyntax.EqualFold(lineName, name) {
			found = true
		}
	})
	return found
}

// VisitLines calls fn for each "Name: value\r\n" line of b, with the whole
// line, its name and its value.
func VisitLines(b []byte, fn func(line, name, value []byte)) {
	for len(b) > 0 {
		end := 0
		for end < len(b) && b[end] != '\n' {
			end++
		}
		if end < len(b) {
			end++
		}
		line := b[:end]
		b = b[end:]
		colon := 0
		for colon < len(line) && line[colon] != ':' {
			colon++
		}
		if colon == len(line) {
			continue
		}
		v := line[colon+1:]
		if len(v) > 0 && v[0] == ' ' {
			v = v[1:]
		}
		if n := len(v); n >= 2 && v[n-2] == '\r' && v[n-1] == '\n' {
			v = v[:n-2]
		}
		fn(line, line[:colon], v)
	}
}

// VisitFields calls fn with each of the handler's response headers as
// HTTP/2 and HTTP/3 send them: names in lower case, without the
// connection-specific fields those protocols forbid, values without white
// space at either end, which they forbid too (an HTTP/1.1 reader drops
// it).
func (ex *Exchange) VisitFields(fn func(name, value []byte)) {
	VisitLines(ex.HeaderLines(), func(_, name, value []byte) {
		if n := httpsyntax.AppendLower(ex.lower[:0], name); !httpsyntax.ConnectionSpecific(n) {
			fn(n, httpsyntax.TrimOWS(value))
		}
	})
}

// VisitExtraFields calls fn with each field extra gives (trailers, the
// headers of a 1xx response) as HTTP/2 and HTTP/3 send them: names in
// lower case, invalid names and connection-specific fields left out,
// control bytes in values replaced, and the white space at either end of
// a value removed.
func VisitExtraFields(extra func(fn func(name, value string)), fn func(name []byte, value string)) {
	var lower [64]byte
	extra(func(name, value string) {
		n := httpsyntax.AppendLower(lower[:0], []byte(name))
		if httpsyntax.ValidToken(name) && !httpsyntax.ConnectionSpecific(n) {
			fn(n, httpsyntax.TrimOWS(httpsyntax.SanitizeValue(value)))
		}
	})
}

// Write writes response body bytes. A response whose body fits in the
// exchange's buffer when the handler returns gets a Content-Length; a
// longer one is streamed.
func (ex *Exchange) Write(p []byte) (int, error) {
	if err := ex.checkWrite(len(p)); err != nil {
		return 0, err
	}
	if len(ex.pend)+len(p) <= cap(ex.pend) {
		ex.pend = append(ex.pend, p...)
		return len(p), nil
	}
	if !ex.committed {
		ex.commit(false)
	}
	err := ex.s.WriteBody(ex.pend, p)
	ex.pend = ex.pend[:0]
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString is Write for a string.
func (ex *Exchange) WriteString(s string) (int, error) {
	if len(ex.pend)+len(s) <= cap(ex.pend) {
		if err := ex.checkWrite(len(s)); err != nil {
			return 0, err
		}
		ex.pend = append(ex.pend, s...)
		return len(s), nil
	}
	return ex.Write([]byte(s))
}

// writeErr is the stream's write error. Until the head is out, a body
// read on another goroutine (a full-duplex handler) may be sending 100
// Continue, which writes the protocol's output state under headMu: the
// error is read under it then.
func (ex *Exchange) writeErr() error {
	if ex.committed {
		return ex.s.WriteErr()
	}
	ex.headMu.Lock()
	defer ex.headMu.Unlock()
	return ex.s.WriteErr()
}

// checkWrite counts n body bytes about to be written, refusing them when
// the response cannot carry them.
func (ex *Exchange) checkWrite(n int) error {
	if ex.hijacked {
		return http.ErrHijacked
	}
	if err := ex.writeErr(); err != nil {
		return err
	}
	if ex.contentRefused() {
		if n == 0 {
			return nil
		}
		return http.ErrBodyNotAllowed
	}
	if ex.declaredLen >= 0 && ex.written+int64(n) > ex.declaredLen {
		ex.refused += int64(n)
		return http.ErrContentLength
	}
	ex.written += int64(n)
	return nil
}

// contentRefused reports whether the response's status refuses body
// bytes: those without a body (BodyAllowed), and 205 Reset Content, which
// is framed like any response (with its length, 0) but for which a server
// must not generate content (RFC 9110, 15.3.6), as Kestrel refuses it.
func (ex *Exchange) contentRefused() bool {
	return !BodyAllowed(ex.status) || ex.status == http.StatusResetContent
}

// BodyAllowed reports whether a response with status may have a body.
func BodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// Flush sends the response head, if not yet sent, and everything written
// so far.
func (ex *Exchange) Flush() error {
	if ex.hijacked {
		return http.ErrHijacked
	}
	if !ex.committed {
		ex.commit(false)
	}
	err := ex.s.FlushBody(ex.pend)
	ex.pend = ex.pend[:0]
	return err
}

// Pending are the body bytes written but not yet handed to the stream.
func (ex *Exchange) Pending() []byte { return ex.pend }

// WriteInformational sends a 1xx response with the headers set so far
// (headers, when not nil, visits them), which stay set for the final
// response. 100 Continue is sent by the protocol when the body is first
// read; WriteInformational(100) asks for it now.
func (ex *Exchange) WriteInformational(code int, headers func(w func(name, value string))) error {
	if ex.committed || code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		return fmt.Errorf("kestrel: invalid informational status %d", code)
	}
	if ex.Req.ProtoMajor == 1 && ex.Req.ProtoMinor == 0 {
		return nil // HTTP/1.0 clients do not expect 1xx responses
	}
	if headers == nil {
		headers = func(w func(name, value string)) {
			VisitLines(ex.hdr, func(_, name, value []byte) { w(string(name), string(value)) })
		}
	}
	ex.headMu.Lock()
	defer ex.headMu.Unlock()
	return ex.s.WriteInformational(code, func(w func(name, value string)) {
		headers(func(name, value string) {
			// Content-Length and Transfer-Encoding frame the final
			// response's body: a 1xx must not carry them (RFC 9110,
			// 8.6; RFC 9112, 6.1), and net/http leaves them out too.
			if !httpsyntax.EqualFold(name, "content-length") && !httpsyntax.EqualFold(name, "transfer-encoding") {
				w(name, value)
			}
		})
	})
}

// commit writes the response head. final means the handler has returned,
// so a buffered body's length is known.
func (ex *Exchange) commit(final bool) {
	ex.headMu.Lock()
	defer ex.headMu.Unlock()
	if ex.std != nil {
		ex.std.beforeCommit(final)
	}
	ex.committed = true
	length := int64(-1)
	switch {
	case ex.status == http.StatusSwitchingProtocols:
		if !ex.upgrading {
			// A 101 the handler did not follow with Hijack or Upgrade:
			// sent as the final response, as net/http does; the client
			// has switched protocols, so the connection ends with it.
			ex.connClose = true
		}
	case !BodyAllowed(ex.status):
		if ex.status == http.StatusNotModified {
			length = ex.declaredLen
		}
	case ex.status == http.StatusResetContent:
		// Its content is refused (contentRefused), so its length is 0
		// whatever Content-Length the handler set (RFC 9110, 15.3.6):
		// sent, that length would have the client wait for bytes that
		// never come.
		ex.declaredLen = 0
		length = 0
	case ex.declaredLen >= 0:
		length = ex.declaredLen
	case final && !ex.streaming:
		length = int64(len(ex.pend))
		if ex.isHead && length == 0 {
			length = -1 // the length of the body a GET would get is unknown
		}
	}
	ex.s.WriteHead(ex, length, final)
}

// resetResponse discards what the handler set (headers, trailers, body)
// and answers with an empty response of the given status.
func (ex *Exchange) resetResponse(status int) {
	ex.status = status
	ex.hdr = ex.hdr[:0]
	ex.pend = ex.pend[:0]
	ex.declaredLen = 0
	ex.written = 0
	ex.streaming, ex.codings = false, ""
	ex.userDate = false
	ex.userServer = false
	ex.connClose, ex.connUpgrade = false, false // they went with the handler's Connection header
	ex.std = nil
	// The native path's trailers go with its headers (Kestrel resets
	// both); the http.Handler's went with ex.std.
	clear(ex.native.trailer)
	ex.native.trailer = ex.native.trailer[:0]
	if ex.rejected != nil && ex.rejected.Allow != "" {
		ex.AddHeader("Allow", ex.rejected.Allow)
	}
}

// VisitTrailers calls fn for each response trailer field the handler set
// (declared with the Trailer header, or with http.TrailerPrefix).
func (ex *Exchange) VisitTrailers(fn func(name, value string)) {
	if ex.std != nil {
		ex.std.visitTrailers(fn)
	}
	t := ex.native.trailer
	for i := 0; i+1 < len(t); i += 2 {
		fn(t[i], t[i+1])
	}
}

// HasTrailers reports whether the handler declared or set trailers.
func (ex *Exchange) HasTrailers() bool {
	return ex.std != nil && ex.std.hasTrailers() || len(ex.native.trailer) > 0
}

// Upgradable reports whether the request asks for a protocol upgrade the
// server can perform: an HTTP/1.1 Upgrade, or an extended CONNECT over
// HTTP/2 or HTTP/3.
func (ex *Exchange) Upgradable() bool { return ex.Req.Tunnel || ex.s.CanUpgrade() }

// ErrNotUpgradable is returned by Upgrade for a request that did not ask
// for an upgrade the server can perform.
var ErrNotUpgradable = errors.New("kestrel: the request cannot be upgraded: it needs HTTP/1.1, Connection: upgrade, an Upgrade header and no body, or an extended CONNECT (:protocol) over HTTP/2 or HTTP/3")

// Upgrade answers 101 Switching Protocols with the headers set so far
// (the request's Upgrade value when the handler set none) and returns the
// connection, which then belongs to the caller. For an extended CONNECT
// it answers 200 and returns the stream as a connection (see tunnelConn).
func (ex *Exchange) Upgrade() (net.Conn, error) {
	if ex.Req.Tunnel {
		return ex.acceptTunnel()
	}
	if !ex.s.CanUpgrade() {
		return nil, ErrNotUpgradable
	}
	if ex.committed {
		return nil, errors.New("kestrel: cannot upgrade: the response has started")
	}
	if !ex.hasHeader("Upgrade") {
		// The protocol switched to: the client's first choice, when the
		// handler named none (its Upgrade header lists alternatives, RFC
		// 9110, 7.8).
		proto, _, _ := strings.Cut(string(ex.Header("Upgrade")), ",")
		proto = strings.TrimSpace(proto)
		if ex.std != nil {
			if _, ok := ex.std.header["Upgrade"]; !ok {
				ex.std.header.Set("Upgrade", proto)
			}
		} else {
			ex.AddHeader("Upgrade", proto)
		}
	}
	prev := ex.status
	ex.status = http.StatusSwitchingProtocols
	nc, err := ex.hijack(true)
	if err != nil {
		ex.status = prev
	}
	return nc, err
}

var errHijackAfterWrite = errors.New("kestrel: cannot take over a connection after the response body has started (a head alone, flushed or not, may go before)")

// hijack takes the connection from the protocol; sendHead asks for a
// pending head (a 101) to be sent first.
func (ex *Exchange) hijack(sendHead bool) (net.Conn, error) {
	if ex.hijacked {
		return nil, http.ErrHijacked
	}
	if !ex.s.Hijackable() {
		return nil, http.ErrNotSupported
	}
	if ex.written > 0 && ex.status != http.StatusSwitchingProtocols {
		// After a head, even flushed (a CONNECT proxy's 200), the
		// connection may be taken, as net/http allows; after body bytes,
		// the client could not tell the response from the raw stream.
		return nil, errHijackAfterWrite
	}
	ex.upgrading = true
	nc, err := ex.s.Hijack(ex, sendHead)
	ex.upgrading = false
	if err != nil {
		return nil, err
	}
	ex.hijacked = true
	return nc, nil
}

// Commit writes the response head now, for a protocol that sends it before
// handing the connection over.
func (ex *Exchange) Commit() {
	if !ex.committed {
		ex.commit(false)
	}
}

// UndoHead forgets a response head that was set but not sent (a 101 whose
// upgrade was refused), so that the handler can answer normally.
func (ex *Exchange) UndoHead() {
	if ex.committed {
		return
	}
	ex.status = http.StatusOK
	ex.hdr = ex.hdr[:0]
	ex.declaredLen = -1
	ex.streaming, ex.codings, ex.userDate, ex.userServer = false, "", false, false
	ex.connClose, ex.connUpgrade = false, false
	if w := ex.std; w != nil {
		w.wroteHeader, w.copied, w.sniff = false, false, false
		w.trailers = w.trailers[:0]
		clear(w.header)
	}
}

// acceptTunnel answers an extended CONNECT, at once, with the 2xx status
// the handler set (200 by default), and returns its stream as a
// connection. Another status set fails it, as Kestrel's AcceptAsync does,
// and the handler answers the request normally.
func (ex *Exchange) acceptTunnel() (net.Conn, error) {
	if ex.committed || ex.written > 0 {
		return nil, errors.New("kestrel: cannot accept the extended CONNECT: the response has started")
	}
	if ex.status < 200 || ex.status > 299 {
		return nil, fmt.Errorf("kestrel: cannot accept the extended CONNECT: the response status is %d, and a tunnel is accepted with a 2xx", ex.status)
	}
	var err error
	if w := ex.std; w != nil {
		w.mu.Lock()
		if !w.wroteHeader {
			w.writeHeader(ex.status)
		}
		w.mu.Unlock()
		err = w.FlushError()
	} else {
		err = ex.Flush()
	}
	if err != nil {
		return nil, err
	}
	ex.tunnel = &tunnelConn{ex: ex, w: ex.std, local: ex.LocalAddr(), remote: ex.RemoteAddr()}
	return ex.tunnel, nil
}

// tunnelConn is an extended CONNECT's stream (HTTP/2 or HTTP/3) as a
// net.Conn: reads take the request body, writes go out as response body
// at once. Unlike an upgraded HTTP/1.1 connection it is the request's
// stream, and ends when the handler returns; Close stops its reads and
// writes.
//
// Once the handler has returned, the exchange serves other requests: every
// method then fails (end waits for a read or write still running), and
// none reaches the exchange.
type tunnelConn struct {
	ex            *Exchange
	w             *responseWriter // the http.Handler's writer, or nil on the native path
	local, remote net.Addr
	mu            sync.Mutex // serializes writes; end takes it
	rmu           sync.Mutex // held by Read; end takes it
	dmu           sync.Mutex // held by the deadline setters; end takes it
	closed        atomic.Bool
	ended         bool // the handler returned; set under mu, rmu and dmu
}

// end is called as the handler returns. A read still waiting is woken by
// a read deadline in the past, and a write still waiting (for a client
// that does not read) by a write deadline in the past.
func (c *tunnelConn) end() {
	c.closed.Store(true) // what wakes up fails with net.ErrClosed
	if !c.rmu.TryLock() {
		_ = c.ex.s.SetReadDeadline(aLongTimeAgo)
		c.rmu.Lock()
	}
	if !c.mu.TryLock() {
		_ = c.ex.s.SetWriteDeadline(aLongTimeAgo)
		c.mu.Lock()
	}
	c.dmu.Lock()
	c.ended = true
	c.dmu.Unlock()
	c.mu.Unlock()
	c.rmu.Unlock()
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.ended || c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.ex.body.Read(p)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.closed.Load() {
		return 0, net.ErrClosed
	}
	var n int
	var err error
	if w := c.w; w != nil {
		if n, err = w.Write(p); err == nil {
			err = w.FlushError()
		}
	} else if n, err = c.ex.Write(p); err == nil {
		err = c.ex.Flush()
	}
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// Close stops the tunnel's reads and writes, waking one that waits, as
// closing a TCP connection does: a write waiting for a client that reads
// nothing is ended by a write deadline in the past, which resets the
// stream. Without one waiting, the stream ends when the handler returns.
func (c *tunnelConn) Close() error {
	if !c.closed.Swap(true) {
		c.dmu.Lock()
		if !c.ended {
			_ = c.ex.s.SetReadDeadline(time.Now())
			if c.mu.TryLock() {
				c.mu.Unlock()
			} else {
				_ = c.ex.s.SetWriteDeadline(time.Now())
			}
		}
		c.dmu.Unlock()
	}
	return nil
}

func (c *tunnelConn) LocalAddr() net.Addr  { return c.local }
func (c *tunnelConn) RemoteAddr() net.Addr { return c.remote }

func (c *tunnelConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *tunnelConn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.ended {
		return net.ErrClosed
	}
	return c.ex.s.SetReadDeadline(t)
}

func (c *tunnelConn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.ended {
		return net.ErrClosed
	}
	return c.ex.s.SetWriteDeadline(t)
}
