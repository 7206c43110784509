package http2

import (
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

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// stream is one request and its response on a connection: the application
// layer's Exchange, with this protocol's side of it (app.Stream). Its
// fields after the Exchange are guarded by the connection's mu, but for
// those the handler's goroutine alone uses.
type stream struct {
	app.Exchange
	c     *Conn
	run   func() // runs the handler (c.runStream), made once per stream struct
	id    uint32
	state int
	cond  sync.Cond // the handler waits here for body bytes, window, or the end

	headBuf []byte // the request head's bytes, which Req's spans index

	// The request body.
	body       []byte // received, not yet read
	bodyOff    int
	bodyEnded  bool  // END_STREAM arrived
	openAtEnd  bool  // the request had not ended, nor the stream been reset, as the response ended (RequestBodyNotEntirelyRead)
	bodyErr    error // reading fails with it (a reset, a timeout)
	endErr     error // reading the body's end fails with it, not io.EOF (trailers over the limits)
	received   int64 // body bytes received, against content-length
	recvWindow int64 // the stream's receive window, as the client sees it
	unacked    int64 // body bytes read but not yet given back to the window
	windowBack bool  // reset: the unread body went back to the connection's window
	continued  bool  // 100 Continue was sent, or is not needed

	// The response.
	sendWindow  int64
	headSent    bool
	endSent     bool        // END_STREAM went out
	endWithData bool        // END_STREAM goes on the DATA frame that completes the body
	remaining   int64       // bytes to that frame
	noBody      bool        // HEAD, 1xx, 204, 304: body bytes are dropped
	reset       error       // the stream was reset: writes fail with it
	wasReset    atomic.Bool // reset is set: WriteErr's check without mu

	handlerDone bool
	tunnel      *transport.Slot // an extended CONNECT's place among the upgraded connections
	tunnelOpen  bool            // it counts among them (endTunnel)
	inline      bool            // the reader runs the handler, and writes its frames (inline.go)
	pending     bool            // in the connection's pending: not started yet (inline.go)
	counted     bool            // in the connection's running handlers
	trailers    []string        // request trailers, name and value, until the body's end is read
	reqCtx      *app.RequestContext
	bodyRate    app.RateTimer // the request body, while the handler waits for it
	windowWait  app.RateTimer // the response, while it waits for flow-control window
	readTimer   *time.Timer
	writeTimer  *time.Timer
	readExpired bool
	// writeExpired: the write deadline reset the stream (its writes fail
	// with os.ErrDeadlineExceeded).
	writeExpired bool

	// Once the handler has returned before the request ended: how much
	// more of the body is read and dropped, and until when.
	drainLeft  int64
	drainUntil int64
}

// Bounds of draining a request body the handler did not wait for, as for
// HTTP/1.1 (maxDrain) and Kestrel's request body drain timeout.
const (
	maxDrain     = 256 << 10
	drainTimeout = 5 * time.Second
)

// maxKeptBody is the largest request body buffer a stream keeps while
// its handler waits for more, and the pool keeps for the next stream.
const maxKeptBody = 64 << 10

// newStream takes a stream from the pool for a new request.
func (c *Conn) newStream(id uint32) *stream {
	st, _ := c.cfg.streamPool.Get().(*stream)
	if st == nil {
		st = &stream{}
		st.Init(c.cfg.App, st)
		st.run = func() { st.c.runStream(st) }
	}
	st.c, st.id, st.state = c, id, stateOpen
	st.cond.L = &c.mu
	st.headBuf = st.headBuf[:0]
	st.Req = app.Head{Fields: st.Req.Fields[:0]}
	st.body, st.bodyOff, st.bodyEnded, st.bodyErr, st.endErr = st.body[:0], 0, false, nil, nil
	st.received, st.unacked, st.windowBack = 0, 0, false
	st.recvWindow = int64(c.cfg.InitialStreamWindow)
	st.headSent, st.endSent, st.endWithData, st.noBody, st.reset = false, false, false, false, nil
	st.openAtEnd = false
	st.wasReset.Store(false)
	st.remaining = -1
	st.handlerDone, st.reqCtx, st.readExpired, st.counted, st.inline, st.pending = false, nil, false, false, false, false
	st.writeExpired = false
	st.tunnel, st.tunnelOpen = nil, false
	st.trailers = st.trailers[:0]
	st.readTimer, st.writeTimer = nil, nil
	return st
}

// putStream returns a stream whose handler and frames are done.
func (c *Conn) putStream(st *stream) {
	st.c = nil
	st.Release()
	if st.Outsized() || cap(st.headBuf) > 64<<10 {
		return
	}
	if cap(st.body) > maxKeptBody {
		st.body = nil
	}
	c.cfg.streamPool.Put(st)
}

// store appends s to the stream's head buffer and returns its span.
func (st *stream) store(s string) (span app.Span) {
	st.headBuf, span = app.AppendSpan(st.headBuf, s)
	return span
}

// admit starts the handler of a new request, or refuses the stream when
// the connection is at its limit or going away.
func (c *Conn) admit(st *stream, endStream bool) error {
	c.mu.Lock()
	if late := c.goAwaySent == 2 || c.closing && c.goAwaySent == 0; late || int64(c.running) >= int64(c.cfg.MaxStreams) { // int64: a 32-bit int cannot hold every uint32 limit
		// After the final GOAWAY a new stream is ignored (6.8); beyond
		// the limit of concurrent streams, counting the handlers of
		// streams already reset (rapid reset), it is refused and the
		// client may retry it (8.7).
		if late {
			// Its body and trailers, on their way, are ignored as a
			// reset stream's are.
			c.markReset(st.id)
		}
		c.mu.Unlock()
		id := st.id
		c.putStream(st) // st may be reused from here on
		if late {
			return nil
		}
		return streamErr{id, http2.ErrCodeRefusedStream, "too many concurrent streams"}
	}
	if st.Req.Tunnel {
		// An extended CONNECT (a WebSocket) counts among the upgraded
		// connections while its handler runs.
		var slot *transport.Slot
		if up := c.cfg.Upgrades; up != nil {
			if slot = up.Acquire(); slot == nil {
				c.mu.Unlock()
				logevents.ExtendedConnectRefused(c.logger(), c.opts.Info.ID, up.Max())
				c.refuseWith(st, http.StatusServiceUnavailable, "too many upgraded connections (Limits.MaxConcurrentUpgradedConnections)")
				return nil
			}
		}
		st.tunnel = slot
	}
	if c.streams == nil {
		c.streams = make(map[uint32]*stream)
	}
	c.streams[st.id] = st
	c.running++
	st.counted = true
	st.sendWindow = int64(c.peerWindow)
	if endStream {
		st.bodyEnded = true
		st.state = stateHalfClosedRemote
	}
	first := c.idleSince.Swap(0) != 0
	c.mu.Unlock()
	if first {
		c.trimAsked.Store(false) // for the next idle period
		c.setState(http.StateActive)
	}

	st.Start()
	st.Parent = c.opts.Context
	st.Conn, st.Seq = c.opts.Info, st.id
	st.continued = len(st.Header("expect")) == 0 || endStream
	if st.Req.Tunnel {
		// A tunnel has no minimum data rates, as an upgraded HTTP/1.1
		// connection (nor a body size limit: Start).
		st.bodyRate.Reset(app.Rate{})
		st.windowWait.Reset(app.Rate{})
		c.opts.Info.Metrics.UpgradedStart()
		st.tunnelOpen = true
		if log := c.logger(); logevents.ExtendedConnectEvent.Enabled(log) {
			logevents.ExtendedConnect(log, c.opts.Info.ID, st.RequestID(), string(st.Header(":protocol")), string(st.Path()), "HTTP/2")
		}
	} else {
		st.bodyRate.Reset(c.cfg.MinRequestBodyRate)
		st.windowWait.Reset(c.cfg.MinResponseRate)
	}
	c.opts.Info.RequestQueued(metrics.HTTP2)
	if endStream {
		// Nothing to wait for: the reader runs the handler.
		c.mu.Lock()
		c.queueInline(st)
		c.mu.Unlock()
		return nil
	}
	if !c.in.drained() {
		// The body may end in the bytes already read (a gRPC unary call,
		// a small POST): the reader runs the handler if it does.
		c.mu.Lock()
		st.pending = true
		c.pending = append(c.pending, st)
		c.mu.Unlock()
		return nil
	}
	c.cfg.App.Workers.Go(st.run)
	return nil
}

// runStream runs the handler of a stream, on its own goroutine or the
// reader's.
func (c *Conn) runStream(st *stream) {
	c.opts.Info.RequestStarted(metrics.HTTP2)
	ok := st.Run()
	st.endTunnel()
	c.mu.Lock()
	if st.readTimer != nil {
		st.readTimer.Stop()
	}
	if st.writeTimer != nil {
		st.writeTimer.Stop()
	}
	if !ok && st.reset == nil {
		st.resetLocked(errStreamReset(http2.ErrCodeInternal), true)
	}
	// The rest of the body, read or not, is dropped; the stream's window
	// gets it back, so a client still sending can finish.
	unread := int64(len(st.body) - st.bodyOff)
	c.giveBackFrom(unread, unread, st, false)
	st.body, st.bodyOff = st.body[:0], 0
	open := !st.bodyEnded && st.reset == nil
	if open || st.openAtEnd {
		// Decided as the response ended too: a client may reset the
		// stream as soon as it has the response, before this.
		if log := c.logger(); logevents.RequestBodyNotEntirelyReadEvent.Enabled(log) {
			logevents.RequestBodyNotEntirelyRead(log, c.opts.Info.ID, st.RequestID())
		}
	}
	switch {
	case open && c.goAwaySent > 0:
		// Shutting down: the connection is not kept for other requests,
		// so the rest of the body is not worth waiting for.
		st.resetLocked(errStreamReset(http2.ErrCodeNo), true)
	case open:
		// The handler answered before the request ended. The stream drains
		// what the client still sends, checking it as before, up to
		// maxDrain bytes and drainTimeout; beyond, RST_STREAM (NO_ERROR)
		// stops the upload (RFC 9113, 8.1).
		st.drainLeft = maxDrain
		st.drainUntil = c.now() + int64(drainTimeout)
	}
	inline := st.inline
	if inline {
		st.inline, c.inlineSt = false, nil
	}
	st.handlerDone = true
	st.uncount()
	c.closeStreamLocked(st) // the stream may be reused from here on
	if !inline {
		c.flushLocked(false) // else the reader writes its batch at once
	}
	wake := c.closing && len(c.streams) == 0 && c.running == 0
	c.mu.Unlock()
	if wake {
		c.in.wake()
	}
}

// endTunnel gives back an extended CONNECT's place among the upgraded
// connections, once its handler has returned or it will never start.
func (st *stream) endTunnel() {
	if st.tunnelOpen {
		st.tunnelOpen = false
		st.tunnel.Release()
		st.c.opts.Info.Metrics.UpgradedStop()
	}
}

// closeStreamLocked removes a stream whose handler has returned and whose
// frames are done, gives it back to the pool, and marks the connection
// idle when it was the last.
func (c *Conn) closeStreamLocked(st *stream) {
	if !st.handlerDone || st.state != stateClosed && st.reset == nil || c.streams[st.id] != st {
		return
	}
	delete(c.streams, st.id)
	if len(c.streams) == 0 && !c.out.writing && len(c.out.buf) == 0 {
		// The last write went out while this stream was still open, so
		// writeLoop kept the buffers (grown up to twice MaxOutput for a
		// large response): an idle connection holds none.
		c.out.release()
	}
	if len(c.streams) == 0 && c.running == 0 {
		c.idleSince.Store(c.now())
		if c.opts.OnState != nil {
			go c.setState(http.StateIdle)
		}
	}
	c.putStream(st)
}

// refuse answers a request the server will not serve with an empty
// response of the given status, and ends the stream.
func (c *Conn) refuse(st *stream, status int) {
	logevents.ConnectionBadRequest(c.logger(), c.opts.Info.ID, "stream "+strconv.FormatUint(uint64(st.id), 10)+": request headers too large", status)
	c.refuseWith(st, status, "")
}

// refuseWith answers a request with status and the body msg (with
// Retry-After for a 503), and ends the stream. The body is flow-controlled
// like any: it is left out when the client's windows have no room for it.
func (c *Conn) refuseWith(st *stream, status int, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := int64(len(msg)); n > int64(c.peerWindow) || n > c.sendWindow {
		msg = ""
	}
	block := c.encodeHeaders(status, nil, -1, func(fn func(name, value string)) {
		if msg != "" {
			fn("content-type", "text/plain; charset=utf-8")
		}
		if status == http.StatusServiceUnavailable {
			fn("retry-after", "5")
		}
		fn("content-length", strconv.Itoa(len(msg)))
		fn("date", c.cfg.App.Heartbeat.Date())
	})
	c.writeHeadersLocked(st.id, block, msg == "")
	if msg != "" {
		c.appendData(st.id, []byte(msg), true)
		c.sendWindow -= int64(len(msg))
	}
	if !c.hb.endStream {
		c.writeResetLocked(st.id, http2.ErrCodeNo)
	}
	c.flushLocked(true)
	c.putStream(st)
}

// onData takes request body bytes.
func (c *Conn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	size := int64(f.Length) // padding counts against the windows too
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.recvWindow {
		return connErr(http2.ErrCodeFlowControl, "DATA beyond the connection's window")
	}
	c.recvWindow -= size
	st := c.streams[id]
	if st == nil || st.reset != nil || st.state == stateHalfClosedRemote || st.state == stateClosed {
		c.giveBack(size, 0, nil) // nobody will read it
		if id > c.maxStreamID {
			return connErrFor(http2.ErrCodeProtocol, metrics.InvalidStreamID, "DATA on idle stream %d", id)
		}
		if st != nil && st.reset != nil && !resetByClient(st.reset) && st.state != stateHalfClosedRemote || st == nil && c.resetByServer(id) {
			return nil // in flight when the server reset the stream
		}
		return streamErr{id, http2.ErrCodeStreamClosed, "DATA on a closed stream"}
	}
	if size > st.recvWindow {
		c.giveBack(size, 0, nil)
		return streamErr{id, http2.ErrCodeFlowControl, "DATA beyond the stream's window"}
	}
	st.recvWindow -= size
	data := f.Data()
	if pad := size - int64(len(data)); pad > 0 {
		c.giveBack(pad, pad, st)
	}
	if len(data) == 0 && !f.StreamEnded() {
		if err := c.countControl(); err != nil {
			return err
		}
	}
	st.received += int64(len(data))
	if cl := st.Req.ContentLength; cl >= 0 && st.received > cl {
		// The frame is dropped: its bytes go back to the connection's
		// window (the stream's reset gives back only what it buffered).
		c.giveBack(int64(len(data)), 0, nil)
		return streamErr{id, http2.ErrCodeProtocol, "more body than content-length"}
	}
	if st.handlerDone {
		c.giveBack(int64(len(data)), int64(len(data)), st)
		if st.drainLeft -= int64(len(data)); st.drainLeft < 0 && !f.StreamEnded() {
			st.resetLocked(errStreamReset(http2.ErrCodeNo), true)
			return nil
		}
	} else if len(data) > 0 {
		if st.bodyOff > 0 && st.bodyOff == len(st.body) {
			st.body, st.bodyOff = st.body[:0], 0
		}
		st.body = append(st.body, data...)
		st.cond.Broadcast()
	}
	if f.StreamEnded() {
		return st.endBodyLocked()
	}
	return nil
}

// endBodyLocked ends the request body (END_STREAM).
func (st *stream) endBodyLocked() error {
	if cl := st.Req.ContentLength; cl >= 0 && st.received != cl {
		return streamErr{st.id, http2.ErrCodeProtocol, "body shorter than content-length"}
	}
	st.bodyEnded = true
	if st.pending {
		st.c.runPendingInline(st)
	}
	if st.state == stateHalfClosedLocal {
		st.state = stateClosed
		st.c.closeStreamLocked(st)
	} else {
		st.state = stateHalfClosedRemote
	}
	st.cond.Broadcast()
	return nil
}

// giveBack returns read (or dropped) body bytes to the connection's window,
// and stream's bytes to the stream's, with WINDOW_UPDATE once enough built
// up: a quarter of the window, or, for the connection's, as much as the
// client has left (other streams may hold the rest unread, and a stream
// whose handler reads all it gets must not wait for them); mu is held. The reader's goroutine must not block on the client
// reading: its WINDOW_UPDATE frames go out from another goroutine.
func (c *Conn) giveBack(conn, stream int64, st *stream) {
	c.giveBackFrom(conn, stream, st, true)
}

func (c *Conn) giveBackFrom(conn, stream int64, st *stream, reader bool) {
	if st != nil && st.windowBack {
		conn = 0 // went back when the stream was reset
	}
	if conn > 0 {
		c.recvUnacked += conn
		if c.recvUnacked >= int64(c.cfg.InitialConnectionWindow)/4 || c.recvUnacked >= c.recvWindow {
			c.wfr.WriteWindowUpdate(0, uint32(c.recvUnacked))
			c.out.controlQueued()
			c.recvWindow += c.recvUnacked
			c.recvUnacked = 0
			c.flushLocked(reader)
		}
	}
	if st != nil && stream > 0 && !st.bodyEnded && st.reset == nil {
		st.unacked += stream
		if st.unacked >= int64(c.cfg.InitialStreamWindow)/4 {
			c.wfr.WriteWindowUpdate(st.id, uint32(st.unacked))
			c.out.controlQueued()
			st.recvWindow += st.unacked
			st.unacked = 0
			c.flushLocked(reader)
		}
	}
}

// errors of a stream's reads and writes.
var (
	errStreamGone = errors.New("http2: stream closed")
)

type resetError struct {
	code     http2.ErrCode
	byClient bool
}

func (e resetError) Error() string {
	if e.byClient {
		return fmt.Sprintf("http2: stream reset by the client (%v)", e.code)
	}
	return fmt.Sprintf("http2: stream reset (%v)", e.code)
}

func errResetByClient(code http2.ErrCode) error { return resetError{code, true} }

// resetByClient reports whether err is the client's RST_STREAM.
func resetByClient(err error) bool {
	var re resetError
	return errors.As(err, &re) && re.byClient
}
func errStreamReset(code http2.ErrCode) error { return resetError{code, false} }

// resetLocked ends the stream with err: its reads and writes fail, its
// request context is cancelled, and, when send is set, the client is told
// with RST_STREAM carrying err's code.
func (st *stream) resetLocked(err error, send bool) {
	if st.reset != nil {
		return
	}
	st.reset = err
	st.wasReset.Store(true)
	if st.bodyErr == nil {
		st.bodyErr = err
	}
	c := st.c
	if err != errConnReset && !st.windowBack {
		// The body the handler has not read goes back to the
		// connection's window now, not when the handler returns (it may
		// not soon): the connection's other streams can use it, as
		// Kestrel's stream flow control gives it back on abort. The
		// handler may still read the bytes.
		c.giveBackFrom(int64(len(st.body)-st.bodyOff), 0, nil, true)
		st.windowBack = true
	}
	if send {
		code := http2.ErrCodeCancel
		var re resetError
		if errors.As(err, &re) {
			code = re.code
		}
		c.writeResetLocked(st.id, code)
	}
	st.endSent = true
	st.state = stateClosed
	if st.reqCtx != nil && err != nil {
		var re resetError
		if !errors.As(err, &re) || re.code != http2.ErrCodeNo {
			st.reqCtx.Abort()
		}
	}
	st.cond.Broadcast()
	c.closeStreamLocked(st)
}

// wake wakes the stream's handler if it waits; mu is held.
func (st *stream) wake() { st.cond.Broadcast() }

// tick checks the stream's data rates and drain time; mu is held.
func (st *stream) tick(now int64) {
	if st.handlerDone {
		if now > st.drainUntil && st.reset == nil {
			logevents.RequestBodyDrainTimedOut(st.c.logger(), st.c.opts.Info.ID, st.RequestID(), drainTimeout)
			st.resetLocked(errStreamReset(http2.ErrCodeNo), true)
		}
		return
	}
	// As in Kestrel, the request body's rate is not timed while the
	// connection's window is low: the bodies of other streams, held
	// unread by their handlers, rather than the client, may be what
	// keeps this one from coming.
	if c := st.c; c.recvWindow >= int64(c.cfg.InitialConnectionWindow)/4 && st.bodyRate.Tick(heartbeat.Interval) {
		logevents.RequestBodyMinimumDataRateNotSatisfied(st.c.logger(), st.c.opts.Info.ID, st.RequestID(), st.bodyRate.BytesPerSecond())
		if st.bodyErr == nil {
			st.bodyErr = app.ErrBodyTimeout
		}
		st.cond.Broadcast()
	}
	if st.windowWait.WriteOverdue(now, nil) {
		logevents.ResponseMinimumDataRateNotSatisfied(st.c.logger(), st.c.opts.Info.ID, st.RequestID())
		st.resetLocked(errStreamReset(http2.ErrCodeCancel), true)
	}
}

// The app.Stream side.

// ReadBody reads request body bytes as they arrive, giving them back to
// the flow-control windows as the handler consumes them. The first read
// sends 100 Continue when the client asked for it.
func (st *stream) ReadBody(p []byte) (int, error) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !st.continued {
		st.continued = true
		if !st.Committed() && st.reset == nil {
			block := c.encodeHeaders(http.StatusContinue, nil, -1, nil)
			c.writeHeadersLocked(st.id, block, false)
			c.flushLocked(false)
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	for st.bodyOff == len(st.body) {
		switch {
		case st.bodyEnded:
			return 0, st.handTrailers()
		case st.readExpired:
			return 0, os.ErrDeadlineExceeded
		case st.bodyErr != nil:
			return 0, st.bodyErr
		}
		if cap(st.body) > maxKeptBody {
			// All read: a buffer grown for a burst (up to the stream's
			// window, with a slow reader) is not kept while the stream
			// waits, maybe for long (a WebSocket, a long poll).
			st.body, st.bodyOff = nil, 0
		}
		st.bodyRate.Wait(true)
		st.blockingLocked()
		st.cond.Wait()
		st.bodyRate.Wait(false)
	}
	n := copy(p, st.body[st.bodyOff:])
	st.bodyOff += n
	st.bodyRate.Count(n)
	c.giveBackFrom(int64(n), int64(n), st, false)
	if st.bodyOff == len(st.body) && st.bodyEnded {
		return n, st.handTrailers()
	}
	return n, nil
}

// handTrailers gives the request's trailers to the handler's request, on
// the handler's goroutine, as the body's end is read, and returns what
// that read ends with: io.EOF, or why the trailers were refused; mu is
// held.
func (st *stream) handTrailers() error {
	if st.endErr != nil {
		return st.endErr
	}
	for i := 0; i+1 < len(st.trailers); i += 2 {
		st.AddRequestTrailer(st.trailers[i], st.trailers[i+1])
	}
	st.trailers = st.trailers[:0]
	return io.EOF
}

// WriteHead queues the response's HEADERS frame, which goes out with the
// first body bytes or when the response ends.
func (st *stream) WriteHead(ex *app.Exchange, length int64, final bool) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.reset != nil {
		return
	}
	status := ex.Status()
	st.noBody = ex.IsHead() || !app.BodyAllowed(status)
	end := final && (st.noBody || length == 0) && !ex.HasTrailers()
	block := c.encodeHeaders(status, ex, length, nil)
	c.writeHeadersLocked(st.id, block, end)
	st.headSent = true
	if end {
		st.endStreamLocked()
	}
	st.remaining = length
	st.endWithData = final && length > 0 && !ex.HasTrailers()
	if !final {
		c.flushLocked(false)
	}
}

// writeHeadersLocked queues a header block as HEADERS and CONTINUATION
// frames no larger than the client allows. They are written by hand, as
// DATA frames are: the Framer would copy each into a buffer of its own,
// kept at the size of the largest frame it ever wrote.
func (c *Conn) writeHeadersLocked(id uint32, block []byte, endStream bool) {
	c.pings.sentFrames = true
	max := int(c.peerMaxFrame)
	typ, flags := http2.FrameHeaders, http2.Flags(0)
	if endStream {
		flags = http2.FlagHeadersEndStream
	}
	for {
		frag := block
		if len(frag) > max {
			frag = frag[:max]
		}
		block = block[len(frag):]
		if len(block) == 0 {
			flags |= http2.FlagHeadersEndHeaders // CONTINUATION's END_HEADERS is the same bit
		}
		c.appendFrame(typ, flags, id, frag)
		if len(block) == 0 {
			break
		}
		typ, flags = http2.FrameContinuation, 0
	}
	if cap(c.encBuf) > maxEncBuf {
		c.encBuf = nil // a large block's buffer is not kept for the next
	}
}

// maxEncBuf is the largest encoding buffer a connection keeps between
// header blocks; a common response's block takes a few hundred bytes.
const maxEncBuf = 4 << 10

// uncount takes the stream's handler out of the connection's running
// handlers; mu is held.
func (st *stream) uncount() {
	if st.counted {
		st.counted = false
		st.c.running--
	}
}

// endStreamLocked records that END_STREAM is queued. The stream leaves
// the count of MaxStreamsPerConnection here, under the same lock that
// queues the frame (RFC 9113, 5.1.2: a stream whose END_STREAM was sent
// is closed, or half-closed in the client's count): any goroutine's flush
// may write the frame from now on, and a client that opens its next
// stream as soon as it sees END_STREAM must not be refused. END_STREAM
// goes out only once the handler has returned, so the count of running
// handlers (the rapid reset defence) is not undercut.
func (st *stream) endStreamLocked() {
	st.endSent = true
	st.uncount()
	if st.state == stateHalfClosedRemote {
		st.state = stateClosed
	} else {
		st.state = stateHalfClosedLocal
	}
}

// WriteBody queues body bytes as DATA frames, as the flow-control windows
// allow, waiting for the client to open them.
func (st *stream) WriteBody(a, b []byte) error {
	st.c.mu.Lock()
	defer st.c.mu.Unlock()
	return st.writeBodyLocked(a, b)
}

// writeBodyLocked is WriteBody with mu held.
func (st *stream) writeBodyLocked(a, b []byte) error {
	c := st.c
	if err := st.writeErrLocked(); err != nil {
		return err
	}
	if st.noBody {
		return nil
	}
	timed := false
	if err := st.writeDataLocked(a, len(b), &timed); err != nil {
		return err
	}
	if err := st.writeDataLocked(b, 0, &timed); err != nil {
		return err
	}
	if c.out.queued() >= c.cfg.MaxOutput/2 {
		c.flushLocked(false)
	}
	return st.writeErrLocked()
}

// writeDataLocked sends p in DATA frames; more bytes of the same write
// follow. The first wait for flow-control window times the write's bytes
// still to go against MinResponseDataRate (timed is set); later waits of
// the same write keep that deadline, as Kestrel times a write once: a
// client waking the stream without opening its window (WINDOW_UPDATEs for
// the connection, a trickle of window) does not push it back.
func (st *stream) writeDataLocked(p []byte, more int, timed *bool) error {
	c := st.c
	for len(p) > 0 {
		var n int64
		for {
			if err := st.writeErrLocked(); err != nil {
				return err
			}
			// Room in the output queue first: waiting for it releases
			// mu, and a SETTINGS frame may lower the stream's window or
			// the frame size meanwhile. The frame is sized after, and
			// queued under the same hold of mu as the limits it obeys.
			if c.out.writing && c.out.queued() >= c.cfg.MaxOutput {
				st.blockingLocked()
			}
			c.waitRoom()
			if err := st.writeErrLocked(); err != nil {
				return err
			}
			n = min(int64(len(p)), st.sendWindow, c.sendWindow, int64(c.peerMaxFrame))
			if n > 0 {
				break
			}
			// No window: make what is queued go out first. Writing
			// releases mu, and a WINDOW_UPDATE may come meanwhile: look
			// at the windows again before waiting for one.
			if c.out.queued() > 0 && !c.out.writing {
				c.flushLocked(false)
				continue
			}
			if *timed {
				st.windowWait.Wait(true)
			} else {
				st.windowWait.StartWriteAfter(c.now(), len(p)+more, heartbeat.Interval)
				*timed = true
			}
			st.blockingLocked()
			st.cond.Wait()
			st.windowWait.Wait(false)
		}
		end := false
		if st.remaining >= 0 {
			st.remaining -= n
			end = st.endWithData && st.remaining == 0
		}
		c.appendData(st.id, p[:n], end)
		if !*timed {
			// Sent at once: its time at the rate counts toward a later
			// wait's, as Kestrel times a response's bytes in all.
			st.windowWait.Wrote(c.now(), int(n), heartbeat.Interval)
		}
		st.sendWindow -= n
		c.sendWindow -= n
		c.dataSent.Add(n)
		p = p[n:]
		if end {
			st.endStreamLocked()
		}
	}
	return nil
}

// appendData queues one DATA frame. It is written by hand rather than by
// the Framer, whose WriteData would copy the payload once more.
func (c *Conn) appendData(id uint32, data []byte, end bool) {
	var flags http2.Flags
	if end {
		flags = http2.FlagDataEndStream
	}
	c.appendFrame(http2.FrameData, flags, id, data)
}

// appendFrame queues a frame of the given type, flags and stream with
// payload as its payload.
func (c *Conn) appendFrame(typ http2.FrameType, flags http2.Flags, id uint32, payload []byte) {
	c.pings.sentFrames = true
	n := len(payload)
	c.out.grow()
	c.out.buf = append(c.out.buf, byte(n>>16), byte(n>>8), byte(n), byte(typ), byte(flags),
		byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	c.out.buf = append(c.out.buf, payload...)
}

func (st *stream) writeErrLocked() error {
	switch {
	case st.c.out.err != nil:
		return st.c.out.err
	case st.reset != nil:
		if st.writeExpired {
			return os.ErrDeadlineExceeded
		}
		return st.reset
	case st.endSent:
		return errStreamGone
	}
	return nil
}

// FlushBody queues p, as WriteBody, and hands what the stream queued to a
// writer goroutine, unless one is writing already (it writes it next),
// under one hold of the connection's lock; it returns without waiting for
// the write: a handler that flushes after each of many small writes (a
// gRPC server stream, server-sent events) goes on while the writer is in
// its system call, and what it flushes meanwhile leaves together in the
// next one instead of costing a system call each. A write error is
// reported by a later write or flush, as with a buffered writer; a client
// that does not read makes the handler wait for room in the queue.
func (st *stream) FlushBody(p []byte) error {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	err := st.writeBodyLocked(p, nil)
	c.flushLocked(true) // what is queued goes out even if p could not be written
	if err != nil {
		return err
	}
	return st.writeErrLocked()
}

// EndResponse ends the response: trailers, or an empty DATA frame with
// END_STREAM when the last DATA frame did not carry it.
func (st *stream) EndResponse(ex *app.Exchange) bool {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st.openAtEnd = !st.bodyEnded && st.reset == nil
	if st.reset != nil || st.endSent {
		if !st.inline {
			c.flushLocked(false)
		}
		return st.reset == nil
	}
	if d := ex.DeclaredLength(); d >= 0 && ex.Written() < d && !st.noBody {
		c.logger().Warn(ex.LengthMismatch()+"; resetting the stream",
			"remote", c.remote, "stream", st.id, "contentLength", d, "written", ex.Written(), "refused", ex.Refused())
		st.resetLocked(errStreamReset(http2.ErrCodeInternal), true)
		return false
	}
	if ex.HasTrailers() {
		block := c.encodeHeaders(0, nil, -1, ex.VisitTrailers)
		c.writeHeadersLocked(st.id, block, true)
	} else {
		c.appendData(st.id, nil, true)
	}
	st.endStreamLocked()
	if !st.inline {
		c.flushLocked(false) // else the reader writes its batch at once
	}
	return true
}

// WriteInformational sends a 1xx response.
func (st *stream) WriteInformational(code int, headers func(fn func(name, value string))) error {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := st.writeErrLocked(); err != nil {
		return err
	}
	if code == http.StatusContinue {
		if st.continued {
			return nil
		}
		st.continued = true
	}
	block := c.encodeHeaders(code, nil, -1, headers)
	c.writeHeadersLocked(st.id, block, false)
	c.flushLocked(false)
	return nil
}

// Refuse refuses the request unprocessed (app.Refuser): the connection's
// graceful shutdown begins (GOAWAY), then RST_STREAM REFUSED_STREAM ends
// the stream, so that the client, which reads the GOAWAY first, retries
// the request on a new connection.
func (st *stream) Refuse() bool {
	c := st.c
	c.mu.Lock()
	can := !st.headSent && st.reset == nil
	c.mu.Unlock()
	if !can {
		return false
	}
	c.startShutdown()
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.headSent || st.reset != nil {
		return false
	}
	st.resetLocked(errStreamReset(http2.ErrCodeRefusedStream), true)
	if !st.inline {
		c.flushLocked(false) // else the reader writes its batch at once
	}
	return true
}

func (st *stream) Hijackable() bool { return false }

func (st *stream) Hijack(*app.Exchange, bool) (net.Conn, error) { return nil, http.ErrNotSupported }

// CanUpgrade is false: HTTP/2 has no Upgrade (RFC 9113, 8.6).
func (st *stream) CanUpgrade() bool { return false }

func (st *stream) NetConn() net.Conn { return st.c.nc }

func (st *stream) PeerAddr() string { return st.c.remote }

func (st *stream) WriteErr() error {
	c := st.c
	if !st.wasReset.Load() && !c.out.failed.Load() {
		// Neither the stream nor the connection failed: no need for mu,
		// which every write of the handler's (each Write of a handler
		// that writes many small pieces) would otherwise take.
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.endSent && st.reset == nil {
		return nil
	}
	return st.writeErrLocked()
}

// SetReadDeadline sets when reading the request body fails with
// os.ErrDeadlineExceeded; the zero time removes it.
func (st *stream) SetReadDeadline(t time.Time) error {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.readTimer != nil {
		st.readTimer.Stop()
		st.readTimer = nil
	}
	st.readExpired = false
	if t.IsZero() {
		return nil
	}
	if d := time.Until(t); d > 0 {
		var timer *time.Timer
		timer = time.AfterFunc(d, func() {
			c.mu.Lock()
			if st.c == c && st.readTimer == timer { // not a later deadline's, nor another stream's
				st.readExpired = true
				st.cond.Broadcast()
			}
			c.mu.Unlock()
		})
		st.readTimer = timer
	} else {
		st.readExpired = true
		st.cond.Broadcast() // a read waiting now fails now
	}
	return nil
}

var errWriteDeadline = errStreamReset(http2.ErrCodeCancel)

// SetWriteDeadline sets when the response is abandoned: the stream is
// reset and writes fail with os.ErrDeadlineExceeded, as with net/http's
// HTTP/2 server. A deadline already past resets the stream before it
// returns, so that the next write fails.
func (st *stream) SetWriteDeadline(t time.Time) error {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.writeTimer != nil {
		st.writeTimer.Stop()
		st.writeTimer = nil
	}
	if t.IsZero() {
		return nil
	}
	d := time.Until(t)
	if d <= 0 {
		st.expireWriteLocked()
		return nil
	}
	var timer *time.Timer
	timer = time.AfterFunc(d, func() {
		c.mu.Lock()
		if st.c == c && st.writeTimer == timer { // not a later deadline's, nor another stream's
			st.expireWriteLocked()
		}
		c.mu.Unlock()
	})
	st.writeTimer = timer
	return nil
}

// expireWriteLocked resets the stream for its write deadline, unless the
// response has ended; mu is held.
func (st *stream) expireWriteLocked() {
	if st.endSent || st.reset != nil {
		return
	}
	st.writeExpired = true
	st.resetLocked(errWriteDeadline, true)
}

func (st *stream) SetMinRequestBodyRate(r app.Rate) { st.bodyRate.Set(r) }

func (st *stream) SetMinResponseRate(r app.Rate) { st.windowWait.Set(r) }

func (st *stream) SetRequestContext(ctx *app.RequestContext) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st.reqCtx = ctx
	if ctx != nil && st.reset != nil {
		ctx.Abort()
	}
}
