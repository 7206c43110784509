package http3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/logevents"
)

// stream is one request and its response on a QUIC request stream: the
// application layer's Exchange, with this protocol's side of it
// (app.Stream). The handler's goroutine reads the request and writes the
// response; the heartbeat only reads the rate timers and cancels.
type stream struct {
	app.Exchange
	c   *Conn
	qs  *quic.Stream
	run func() // serves the stream (c.serveStream), made once per stream struct

	rd      reader
	rbuf    *[]byte // the pooled buffer behind rd, given back at the end
	headBuf []byte  // the request head's bytes, which Req's spans index
	hb      headerBlock

	// The request body.
	inFrame   bool   // a frame's header was read, its payload not all
	frameType uint64 // that frame's type
	frameLeft uint64 // its payload bytes not yet read
	received  int64  // body bytes received, against content-length
	bodyEnded bool   // the request stream ended
	trailers  bool   // the trailer section came: only the stream's end may follow
	continued bool   // 100 Continue was sent, or is not needed

	// The response.
	out    []byte // frames not yet written to the QUIC stream
	block  []byte // a field section being encoded
	enc    *qpack.Encoder
	final  bool  // the handler returned before the head was written: EndResponse writes all
	noBody bool  // HEAD, 1xx, 204, 304: body bytes are dropped
	closed bool  // the response ended cleanly (FIN)
	werr   error // why the response cannot be written

	bodyRate      app.RateTimer // the request body, while the handler waits for it
	writeRate     app.RateTimer // the response, while a write waits for the client
	headStart     atomic.Int64  // heartbeat time the wait for the HEADERS frame began; 0: not waiting
	headTimedOut  atomic.Bool
	bodyTimedOut  atomic.Bool
	writeTimedOut atomic.Bool

	mu        sync.Mutex
	reqCtx    *app.RequestContext // the handler's request context, while it runs
	stopWatch func() bool         // stops tying it to the stream
}

// streamError is a stream error: the request stream is reset with the
// code (RFC 9114, 8).
type streamError struct {
	code   errCode
	reason string
}

func (e *streamError) Error() string {
	return "http3: stream error " + e.code.String() + ": " + e.reason
}

// name names the stream in logs.
func (st *stream) name() string { return "stream " + strconv.FormatInt(int64(st.qs.StreamID()), 10) }

// refusal is a request the server answers itself with an empty response
// of this status.
type refusal int

func (r refusal) Error() string { return fmt.Sprintf("http3: request refused with %d", int(r)) }

// newStream takes a stream from the pool for a new request stream.
func (c *Conn) newStream(qs *quic.Stream) *stream {
	st, _ := c.cfg.streamPool.Get().(*stream)
	if st == nil {
		st = &stream{}
		st.Init(c.cfg.App, st)
		st.enc = qpack.NewEncoder(blockWriter{st})
		st.run = func() { st.c.serveStream(st) }
	}
	st.c, st.qs = c, qs
	st.rbuf = c.cfg.readPool.Get()
	st.rd.reset(timedSource{st}, *st.rbuf)
	st.headBuf = st.headBuf[:0]
	st.Req = app.Head{Fields: st.Req.Fields[:0]}
	st.inFrame, st.frameLeft, st.received = false, 0, 0
	st.bodyEnded, st.trailers, st.continued = false, false, false
	st.out, st.final, st.noBody, st.closed, st.werr = st.out[:0], false, false, false, nil
	st.bodyRate.Reset(app.Rate{})
	st.writeRate.Reset(app.Rate{})
	st.headTimedOut.Store(false)
	st.bodyTimedOut.Store(false)
	st.writeTimedOut.Store(false)
	return st
}

// putStream returns a stream whose handler is done.
func (c *Conn) putStream(st *stream) {
	c.cfg.readPool.Put(st.rbuf)
	st.rd.reset(nil, nil)
	st.c, st.qs, st.rbuf = nil, nil, nil
	st.Release()
	if st.Outsized() || cap(st.headBuf) > 64<<10 || cap(st.out) > 64<<10 || cap(st.block) > 64<<10 {
		return
	}
	c.cfg.streamPool.Put(st)
}

// timedSource is what a stream's reader reads from: the QUIC stream, with
// the time spent waiting measured against the minimum request body rate.
type timedSource struct{ st *stream }

func (s timedSource) Read(p []byte) (int, error) {
	st := s.st
	st.bodyRate.Wait(true)
	n, err := st.qs.Read(p)
	st.bodyRate.Wait(false)
	st.bodyRate.Count(n)
	return n, err
}

// readHead reads the request stream up to its HEADERS frame and decodes
// it into the exchange's head. The heartbeat bounds the wait with the
// request headers timeout.
func (st *stream) readHead() error {
	cfg := st.c.cfg
	st.headStart.Store(st.c.now())
	defer st.headStart.Store(0)
	for {
		typ, length, err := st.rd.frameHeader()
		if err != nil {
			return st.headError(err)
		}
		switch {
		case typ == frameHeaders:
			if length > cfg.maxHeadersFrame() {
				return refusal(http.StatusRequestHeaderFieldsTooLarge)
			}
			block, err := st.rd.payload(int(length))
			if err != nil {
				return st.headError(err)
			}
			if err := st.decodeRequest(block, &st.hb); err != nil {
				return err
			}
			if st.hb.tooLarge {
				return refusal(http.StatusRequestHeaderFieldsTooLarge)
			}
			if st.hb.requestLineLen() > cfg.MaxRequestLineSize {
				// What stands for the request line, measured as Kestrel
				// does and answered as over HTTP/1.1 and HTTP/2.
				return refusal(http.StatusRequestURITooLong)
			}
			if msg := st.buildHead(&st.hb, st.rd.ended()); msg != "" {
				return &streamError{errMessage, msg}
			}
			return nil
		case typ == frameData:
			return connErr(errFrameUnexpected, "DATA frame before HEADERS on a request stream")
		case notOnRequestStream(typ):
			return connErr(errFrameUnexpected, "frame type %#x on a request stream", typ)
		default:
			if _, err := st.rd.skip(length); err != nil { // unknown frames are ignored (RFC 9114, 9)
				return st.headError(err)
			}
		}
	}
}

// notOnRequestStream reports the known frame types a client may not send
// on a request stream (RFC 9114, 7.2).
func notOnRequestStream(typ uint64) bool {
	switch typ {
	case frameCancelPush, frameSettings, framePushPromise, frameGoAway, frameMaxPushID:
		return true
	}
	return reservedHTTP2Frame(typ)
}

// headError says what a failed read of the request's head means.
func (st *stream) headError(err error) error {
	switch {
	case st.headTimedOut.Load():
		return &streamError{errRequestRejected, "request headers timeout"}
	case err == io.EOF:
		return &streamError{errRequestIncomplete, "the request stream ended before its HEADERS frame"}
	}
	return err
}

// refuse answers a request the server will not serve with an empty
// response of the given status.
func (st *stream) refuse(status int) { st.refuseWith(status, "") }

// refuseWith answers a request with status and the body msg (with
// Retry-After for a 503).
func (st *stream) refuseWith(status int, msg string) {
	st.appendHeaders(status, nil, -1, func(fn func(name, value string)) {
		if msg != "" {
			fn("content-type", "text/plain; charset=utf-8")
		}
		if status == http.StatusServiceUnavailable {
			fn("retry-after", "5")
		}
		fn("content-length", strconv.Itoa(len(msg)))
		fn("date", st.c.cfg.App.Heartbeat.Date())
	})
	if msg != "" {
		st.out = appendFrameHeader(st.out, frameData, len(msg))
		st.out = append(st.out, msg...)
	}
	if st.flush() == nil {
		st.qs.Close()
	}
	st.qs.CancelRead(quic.StreamErrorCode(errNoError))
}

// abort resets the stream in both directions with code.
func (st *stream) abort(code errCode) {
	st.qs.CancelRead(quic.StreamErrorCode(code))
	if !st.closed {
		st.qs.CancelWrite(quic.StreamErrorCode(code))
		if st.werr == nil {
			st.werr = errStreamReset
		}
	}
}

// errors of a stream's reads and writes.
var (
	errStreamReset  = errors.New("http3: stream reset")
	errWriteTimeout = errors.New("http3: the client reads the response too slowly (below the minimum response data rate)")
)

// clientError describes an error of the QUIC stream or connection to the
// handler.
func clientError(err error, reading bool) error {
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		if reading {
			return fmt.Errorf("http3: the client reset the request stream (%v)", errCode(se.ErrorCode))
		}
		return fmt.Errorf("http3: the client stopped reading the response (%v)", errCode(se.ErrorCode))
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return fmt.Errorf("http3: the connection was closed (%v)", errCode(ae.ErrorCode))
	}
	return err
}

// tick checks the stream's request headers timeout and data rates.
func (st *stream) tick(now int64) {
	if heartbeat.Passed(now, st.headStart.Load(), st.c.cfg.RequestHeadersTimeout) {
		st.headTimedOut.Store(true)
		st.qs.CancelRead(quic.StreamErrorCode(errRequestRejected))
	}
	if st.bodyRate.Tick(heartbeat.Interval) {
		logevents.RequestBodyMinimumDataRateNotSatisfied(st.c.logger(), st.c.opts.Info.ID, st.RequestID(), st.bodyRate.BytesPerSecond())
		st.bodyTimedOut.Store(true)
		st.qs.SetReadDeadline(time.Now())
	}
	if st.writeRate.WriteOverdue(now, nil) {
		logevents.ResponseMinimumDataRateNotSatisfied(st.c.logger(), st.c.opts.Info.ID, st.RequestID())
		st.writeTimedOut.Store(true)
		st.qs.CancelWrite(quic.StreamErrorCode(errRequestCancelled))
	}
}

// The app.Stream side.

// ReadBody reads request body bytes from the stream's DATA frames, as QUIC
// delivers them; the request's trailer section ends the body. The first
// read sends 100 Continue when the client asked for it. A deadline's error
// is not kept here, but the application layer's Body keeps it, as it does
// every error: a handler's read past its deadline ends the body, as on
// HTTP/1.1 and HTTP/2 and in net/http.
func (st *stream) ReadBody(p []byte) (int, error) {
	if !st.continued {
		st.continued = true
		if !st.Committed() && st.werr == nil {
			st.appendHeaders(http.StatusContinue, nil, -1, nil)
			st.flush()
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if !st.inFrame {
			if st.bodyEnded {
				return 0, io.EOF
			}
			typ, length, err := st.rd.frameHeader()
			switch {
			case err == io.EOF:
				return 0, st.endBody()
			case err != nil:
				return 0, st.readFailed(err)
			case notOnRequestStream(typ):
				return 0, st.readFailed(connErr(errFrameUnexpected, "frame type %#x on a request stream", typ))
			case st.trailers && (typ == frameData || typ == frameHeaders):
				// Frames of unknown types may still follow the trailers
				// (RFC 9114, 4.1), and are ignored below.
				return 0, st.readFailed(connErr(errFrameUnexpected, "a DATA or HEADERS frame after the request's trailers"))
			case typ == frameHeaders && length > st.c.cfg.maxHeadersFrame():
				return 0, st.readFailed(errTrailersTooLarge)
			case typ == frameData && st.Req.ContentLength >= 0 && length > uint64(st.Req.ContentLength-st.received):
				// Malformed as soon as the frame's header tells (RFC 9114,
				// 4.1.2), before the handler reads any of its bytes: a
				// proxy reading content-length of them would forward a
				// complete request the client framed differently.
				return 0, st.readFailed(&streamError{errMessage, "more body than content-length"})
			}
			st.inFrame, st.frameType, st.frameLeft = true, typ, length
		}
		switch st.frameType {
		case frameData:
			if st.frameLeft == 0 {
				st.inFrame = false
				continue
			}
			n, err := st.rd.read(p[:min(uint64(len(p)), st.frameLeft)])
			st.frameLeft -= uint64(n)
			st.inFrame = st.frameLeft > 0
			st.received += int64(n)
			if cl := st.Req.ContentLength; cl >= 0 && st.received > cl {
				return 0, st.readFailed(&streamError{errMessage, "more body than content-length"})
			}
			if err != nil {
				return n, st.readFailed(err)
			}
			if !st.inFrame && st.rd.ended() {
				return n, st.endBody()
			}
			return n, nil
		case frameHeaders: // the trailer section
			block, err := st.rd.payload(int(st.frameLeft))
			if err != nil {
				return 0, st.readFailed(err)
			}
			st.inFrame, st.trailers = false, true
			if err := st.decodeTrailers(block); err != nil {
				return 0, st.readFailed(err)
			}
		default: // unknown frames are ignored (RFC 9114, 9)
			left, err := st.rd.skip(st.frameLeft)
			st.frameLeft = left
			if err != nil {
				return 0, st.readFailed(err)
			}
			st.inFrame = false
		}
	}
}

// finReceived reports whether the client has sent its request stream's
// end (Kestrel's EndStreamReceived), even if the handler did not read to
// it, without waiting: it drops what the stream received and the reader
// did not, which is for a stream about to stop reading.
func (st *stream) finReceived() bool {
	if st.rd.err != nil {
		return st.rd.err == io.EOF
	}
	st.qs.SetReadDeadline(aLongTimeAgo)
	var scratch [512]byte
	for {
		if _, err := st.qs.Read(scratch[:]); err != nil {
			return err == io.EOF
		}
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// endBody ends the request body at the stream's end.
func (st *stream) endBody() error {
	if cl := st.Req.ContentLength; cl >= 0 && st.received != cl {
		return st.readFailed(&streamError{errMessage, "body shorter than content-length"})
	}
	st.bodyEnded = true
	return io.EOF
}

// readFailed handles a failed read of the request body: it resets the
// stream or closes the connection as the error requires, and returns what
// the handler's read fails with.
func (st *stream) readFailed(err error) error {
	var ce *connError
	var se *streamError
	switch {
	case errors.As(err, &ce):
		st.c.fail(ce)
	case errors.As(err, &se):
		logevents.ConnectionBadRequest(st.c.logger(), st.c.opts.Info.ID, st.name()+": "+se.reason, 0)
		st.abort(se.code)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if st.bodyTimedOut.Load() {
			return app.ErrBodyTimeout
		}
		return os.ErrDeadlineExceeded
	default:
		var qe *quic.StreamError
		if errors.As(err, &qe) && qe.Remote {
			// The client reset its request (RESET_STREAM): its context ends
			// now, as over HTTP/2, whether or not the handler asked for it
			// (quic-go ends the stream's own context only on the write
			// side's end).
			st.abortContext()
		}
		return clientError(err, true)
	}
	return err
}

// abortContext ends the request's context: the client went away.
func (st *stream) abortContext() {
	st.mu.Lock()
	ctx := st.reqCtx
	st.mu.Unlock()
	if ctx != nil {
		ctx.Abort()
	}
}

// WriteHead adds the response's HEADERS frame to the output, which goes
// out with the first body bytes, at a flush, or when the response ends.
func (st *stream) WriteHead(ex *app.Exchange, length int64, final bool) {
	if st.werr != nil {
		return
	}
	status := ex.Status()
	st.noBody = ex.IsHead() || !app.BodyAllowed(status)
	st.final = final
	st.appendHeaders(status, ex, length, nil)
}

// coalesce is how much output is gathered into one QUIC stream write;
// larger bodies are written from the caller's slices.
const coalesce = 16 << 10

// WriteBody writes body bytes as one DATA frame.
func (st *stream) WriteBody(a, b []byte) error {
	if err := st.WriteErr(); err != nil {
		return err
	}
	n := len(a) + len(b)
	if st.noBody || n == 0 {
		return nil
	}
	st.out = appendFrameHeader(st.out, frameData, n)
	if len(st.out)+n <= coalesce {
		st.out = append(st.out, a...)
		st.out = append(st.out, b...)
		if st.final {
			return nil // EndResponse writes it with the stream's end
		}
		return st.flush()
	}
	if err := st.flush(); err != nil {
		return err
	}
	if err := st.write(a); err != nil {
		return err
	}
	return st.write(b)
}

// flush writes the output gathered so far.
func (st *stream) flush() error {
	if len(st.out) == 0 {
		return st.werr
	}
	err := st.write(st.out)
	st.out = st.out[:0]
	return err
}

// write writes p to the QUIC stream, timed against the minimum response
// data rate.
func (st *stream) write(p []byte) error {
	if st.werr != nil {
		return st.werr
	}
	if len(p) == 0 {
		return nil
	}
	st.writeRate.StartWriteAfter(st.c.now(), len(p), heartbeat.Interval)
	_, err := st.qs.Write(p)
	st.writeRate.Wait(false)
	if err != nil {
		st.writeFailed(err)
	}
	return st.werr
}

// writeFailed records why the response can no longer be written and ends
// the request's context, whether or not the handler asked for it: a
// handler that checks r.Context().Err() after a failed Write or Flush
// learns at once that its client is gone, as from net/http's server (and
// as an HTTP/2 stream's reset ends it).
func (st *stream) writeFailed(err error) {
	st.werr = st.writeError(err)
	st.abortContext()
}

// writeError is what a failed write of the response fails with.
func (st *stream) writeError(err error) error {
	switch {
	case st.writeTimedOut.Load():
		return errWriteTimeout
	case errors.Is(err, os.ErrDeadlineExceeded):
		return os.ErrDeadlineExceeded
	}
	return clientError(err, false)
}

// FlushBody writes p and what was written before.
func (st *stream) FlushBody(p []byte) error {
	if len(p) > 0 {
		if err := st.WriteBody(p, nil); err != nil {
			return err
		}
	} else if err := st.WriteErr(); err != nil {
		return err
	}
	return st.flush()
}

// EndResponse ends the response: its trailer section, if any, and the
// stream's end. A response that cannot be completed resets the stream.
func (st *stream) EndResponse(ex *app.Exchange) bool {
	if d := ex.DeclaredLength(); d >= 0 && ex.Written() < d && !st.noBody && st.werr == nil {
		st.c.logger().Warn(ex.LengthMismatch()+"; resetting the stream",
			"remote", st.c.remote, "stream", int64(st.qs.StreamID()), "contentLength", d, "written", ex.Written(), "refused", ex.Refused())
		st.abort(errInternal)
		return false
	}
	if ex.HasTrailers() && st.werr == nil {
		st.appendHeaders(0, nil, -1, ex.VisitTrailers)
	}
	if st.flush() != nil {
		st.abort(errRequestCancelled)
		return false
	}
	st.qs.Close()
	st.closed = true
	return true
}

// WriteInformational sends a 1xx response.
func (st *stream) WriteInformational(code int, headers func(fn func(name, value string))) error {
	if err := st.WriteErr(); err != nil {
		return err
	}
	if code == http.StatusContinue {
		if st.continued {
			return nil
		}
		st.continued = true
	}
	st.appendHeaders(code, nil, -1, headers)
	return st.flush()
}

// Refuse refuses the request unprocessed (app.Refuser): the connection
// sends the first GOAWAY of a graceful shutdown, then the stream is reset
// with H3_REQUEST_REJECTED, so that the client retries the request on a
// new connection.
func (st *stream) Refuse() bool {
	if st.werr != nil || st.closed {
		return false
	}
	st.c.GoAway()
	st.abort(errRequestRejected)
	return true
}

// Hijackable is false: an HTTP/3 request stream cannot be taken over.
func (st *stream) Hijackable() bool { return false }

func (st *stream) Hijack(*app.Exchange, bool) (net.Conn, error) { return nil, http.ErrNotSupported }

// CanUpgrade is false: HTTP/3 has no Upgrade (RFC 9114, 4.2).
func (st *stream) CanUpgrade() bool { return false }

func (st *stream) NetConn() net.Conn { return st.c.nc }

func (st *stream) PeerAddr() string { return st.c.remote }

// WriteErr is why the response can no longer be written: a write failed,
// the client stopped reading (STOP_SENDING), or the connection closed.
func (st *stream) WriteErr() error {
	if st.werr != nil || st.closed {
		return st.werr
	}
	ctx := st.qs.Context()
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); !errors.Is(cause, quic.ErrStreamClosed) {
			st.writeFailed(cause)
			return st.werr
		}
	}
	return nil
}

// SetReadDeadline sets when reading the request body fails with
// os.ErrDeadlineExceeded; the zero time removes it.
func (st *stream) SetReadDeadline(t time.Time) error { return st.qs.SetReadDeadline(t) }

// SetWriteDeadline sets when writing the response fails with
// os.ErrDeadlineExceeded; a response cut short by it resets the stream.
func (st *stream) SetWriteDeadline(t time.Time) error { return st.qs.SetWriteDeadline(t) }

func (st *stream) SetMinRequestBodyRate(r app.Rate) { st.bodyRate.Set(r) }

func (st *stream) SetMinResponseRate(r app.Rate) { st.writeRate.Set(r) }

// SetRequestContext ties the request's context to the stream once someone
// waits on it: the client's STOP_SENDING or reset, a reset by the server,
// and the connection's end abort it.
func (st *stream) SetRequestContext(ctx *app.RequestContext) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopWatch != nil {
		st.stopWatch()
		st.stopWatch = nil
	}
	st.reqCtx = ctx
	if ctx != nil {
		ctx.OnInterest(func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			if st.reqCtx == ctx {
				st.stopWatch = context.AfterFunc(st.qs.Context(), ctx.Abort)
			}
		})
	}
}
