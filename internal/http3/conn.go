package http3

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// Options are a connection's ties to its server.
type Options struct {
	// Info is the connection's id and end reason, for logs and metrics.
	Info *app.ConnInfo

	// Context is the parent of the connection's request contexts; nil
	// means the Config's BaseContext.
	Context context.Context

	// Accepted is the net.Conn that stands for the connection (NetConn),
	// given to OnState and to the application layer; nil makes one.
	Accepted net.Conn

	// OnState, if set, is told of the connection's state changes: active
	// while it has requests, idle otherwise, then closed.
	OnState func(net.Conn, http.ConnState)

	// Done, if not nil, is called once when the connection has ended and
	// its handlers have returned.
	Done func()
}

// Conn is one HTTP/3 connection. Its goroutine accepts request streams;
// each request stream's handler runs on a goroutine of its own, which
// reads the request from the QUIC stream and writes the response to it.
type Conn struct {
	cfg    *Config
	qc     *quic.Conn
	nc     net.Conn
	opts   Options
	remote string
	ctrl   *quic.SendStream // the server's control stream, once SETTINGS went out; guarded by mu
	born   time.Time        // when the connection was made, for newConnGrace

	// The client's unidirectional streams: one of each kind.
	gotControl, gotEncoder, gotDecoder atomic.Bool

	mu         sync.Mutex
	streams    map[*stream]struct{}
	running    int           // request streams being served
	nextID     quic.StreamID // the lowest request stream ID not yet accepted
	goAwaySent int           // GOAWAY frames sent: 1 with the largest ID, 2 with nextID
	goAwayID   quic.StreamID // streams from here on are refused, once the second GOAWAY went out
	goAwayTick bool          // the heartbeat ticked since the first GOAWAY
	closing    bool          // the connection closes once its streams end
	closed     bool
	state      http.ConnState
	lastDone   time.Time   // when the last request stream ended
	goAwayAt   time.Time   // when the final GOAWAY was queued
	drainTimer *time.Timer // closes the connection once its last response had time to arrive

	idleSince atomic.Int64 // heartbeat time the last stream ended; 0: streams open
	handlers  sync.WaitGroup
}

// NewConn returns a connection ready to Serve; qc's handshake must be
// complete.
func NewConn(cfg *Config, qc *quic.Conn, opts Options) *Conn {
	cfg.init()
	if opts.Accepted == nil {
		opts.Accepted = NetConn(qc)
	}
	if opts.Info == nil {
		opts.Info = &app.ConnInfo{}
	}
	return &Conn{cfg: cfg, qc: qc, nc: opts.Accepted, opts: opts, remote: qc.RemoteAddr().String(), born: time.Now()}
}

func (c *Conn) now() int64 { return c.cfg.App.Heartbeat.Now() }

func (c *Conn) logger() *slog.Logger { return c.cfg.App.Logger }

// Serve serves the connection until it closes and its handlers have
// returned, then calls Done.
func (c *Conn) Serve() {
	err := c.serve()
	var ae *quic.ApplicationError
	var te *quic.TransportError
	var ie *quic.IdleTimeoutError
	switch {
	case errors.As(err, &ae):
		// Closed by the server (which recorded why), or by the client,
		// with whatever code: quic-go's client closes with 0, not
		// H3_NO_ERROR. Kestrel's QUIC transport too takes a peer's close
		// as the end of the connection, not an error of it.
	case errors.As(err, &te) && te.Remote && te.ErrorCode == quic.NoError:
	case errors.As(err, &ie):
		c.opts.Info.End(metrics.KeepAliveTimeout)
	default:
		c.opts.Info.End(metrics.IOError)
		logevents.RequestProcessingError(c.logger(), c.opts.Info.ID, err)
	}
	c.mu.Lock()
	c.closed = true
	if c.drainTimer != nil {
		c.drainTimer.Stop()
	}
	c.mu.Unlock()
	c.handlers.Wait()
	c.mu.Lock()
	c.setStateLocked(http.StateClosed)
	c.mu.Unlock()
	if c.opts.Done != nil {
		c.opts.Done()
	}
}

func (c *Conn) serve() error {
	if err := c.openControl(); err != nil {
		c.qc.CloseWithError(quic.ApplicationErrorCode(errInternal), "")
		return err
	}
	go c.acceptUni()
	c.idleSince.Store(c.now())
	for {
		qs, err := c.qc.AcceptStream(context.Background())
		if err != nil {
			return err
		}
		if st := c.admit(qs); st != nil {
			c.opts.Info.RequestQueued(metrics.HTTP3)
			c.cfg.App.Workers.Go(st.run)
		}
	}
}

// openControl opens the server's control stream and sends SETTINGS
// (RFC 9114, 6.2.1): the field section size the server accepts. The
// QPACK dynamic table stays at its default size, 0, as in Kestrel.
func (c *Conn) openControl() error {
	ctrl, err := c.qc.OpenUniStream()
	if err != nil {
		return err
	}
	var payload []byte
	payload = quicvarint.Append(payload, settingMaxFieldSectionSize)
	payload = quicvarint.Append(payload, uint64(c.cfg.MaxRequestHeadersTotalSize))
	if c.cfg.ConnectProtocol {
		payload = quicvarint.Append(payload, settingEnableConnectProtocol)
		payload = quicvarint.Append(payload, 1)
	}
	b := quicvarint.Append(nil, streamControl)
	b = appendFrameHeader(b, frameSettings, len(payload))
	if _, err = ctrl.Write(append(b, payload...)); err != nil {
		return err
	}
	c.mu.Lock()
	c.ctrl = ctrl // GOAWAY frames go out on it from now on
	// A graceful shutdown that reached the connection before its control
	// stream was open: its GOAWAY frames follow SETTINGS.
	if c.goAwaySent >= 1 {
		c.writeGoAwayLocked(largestStreamID)
	}
	if c.goAwaySent == 2 {
		c.writeGoAwayLocked(c.goAwayID)
	}
	c.mu.Unlock()
	return nil
}

// admit takes a new request stream, or refuses it (H3_REQUEST_REJECTED:
// the client may retry it elsewhere) when the connection is going away.
func (c *Conn) admit(qs *quic.Stream) *stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := qs.StreamID()
	if c.closed || c.goAwaySent == 2 && id >= c.goAwayID {
		qs.ReleaseStreamCredit()
		qs.CancelRead(quic.StreamErrorCode(errRequestRejected))
		qs.CancelWrite(quic.StreamErrorCode(errRequestRejected))
		return nil
	}
	if id >= c.nextID {
		c.nextID = id + 4
	}
	st := c.newStream(qs)
	if c.streams == nil {
		c.streams = make(map[*stream]struct{})
	}
	c.streams[st] = struct{}{}
	c.running++
	c.handlers.Add(1)
	if c.running == 1 {
		c.idleSince.Store(0)
		c.setStateLocked(http.StateActive)
	}
	return st
}

// serveStream serves one request stream, on its own goroutine.
func (c *Conn) serveStream(st *stream) {
	c.opts.Info.RequestStarted(metrics.HTTP3)
	defer c.streamDone(st)
	if err := st.readHead(); err != nil {
		var ce *connError
		var se *streamError
		var re refusal
		switch {
		case errors.As(err, &ce):
			c.fail(ce)
		case errors.As(err, &se):
			logevents.ConnectionBadRequest(c.logger(), c.opts.Info.ID, st.name()+": "+se.reason, 0)
			st.abort(se.code)
		case errors.As(err, &re):
			reason := ": request headers too large"
			if re == http.StatusRequestURITooLong {
				reason = ": request line too long"
			}
			logevents.ConnectionBadRequest(c.logger(), c.opts.Info.ID, st.name()+reason, int(re))
			st.refuse(int(re))
		default: // the client reset the stream, or the connection ended
			st.abort(errRequestCancelled)
		}
		return
	}
	st.Start()
	st.Parent = c.opts.Context
	st.Conn, st.Seq = c.opts.Info, uint32(st.qs.StreamID())
	st.continued = len(st.Header("expect")) == 0 || !st.Req.HasBody()
	if st.Req.Tunnel {
		// An extended CONNECT (a WebSocket) counts among the upgraded
		// connections while its handler runs, and has no minimum data
		// rates (nor a body size limit: Start).
		var slot *transport.Slot
		if up := c.cfg.Upgrades; up != nil {
			if slot = up.Acquire(); slot == nil {
				logevents.ExtendedConnectRefused(c.logger(), c.opts.Info.ID, up.Max())
				st.refuseWith(http.StatusServiceUnavailable, "too many upgraded connections (Limits.MaxConcurrentUpgradedConnections)")
				return
			}
		}
		defer slot.Release()
		c.opts.Info.Metrics.UpgradedStart()
		defer c.opts.Info.Metrics.UpgradedStop()
		if log := c.logger(); logevents.ExtendedConnectEvent.Enabled(log) {
			logevents.ExtendedConnect(log, c.opts.Info.ID, st.RequestID(), string(st.Header(":protocol")), string(st.Path()), "HTTP/3")
		}
	} else {
		st.bodyRate.Reset(c.cfg.MinRequestBodyRate)
		st.writeRate.Reset(c.cfg.MinResponseRate)
	}
	if !st.Run() && !st.closed {
		st.abort(errInternal) // a panic or http.ErrAbortHandler after the response started
	}
	if !st.bodyEnded {
		if log := c.logger(); logevents.RequestBodyNotEntirelyReadEvent.Enabled(log) && !st.finReceived() {
			logevents.RequestBodyNotEntirelyRead(log, c.opts.Info.ID, st.RequestID())
		}
		// The response is complete; the rest of the request is not needed
		// (RFC 9114, 4.1).
		st.qs.CancelRead(quic.StreamErrorCode(errNoError))
	}
}

// streamDone ends a request stream's service, and lets the client open
// another stream in its place once it is complete in QUIC: a stream
// counts against MaxStreams while its handler runs, even when it was reset
// before. The last one of a connection that is going away closes it.
func (c *Conn) streamDone(st *stream) {
	st.qs.ReleaseStreamCredit()
	c.mu.Lock()
	delete(c.streams, st)
	c.running--
	c.lastDone = time.Now()
	if c.running == 0 {
		c.idleSince.Store(c.now())
		c.setStateLocked(http.StateIdle)
		if c.closing {
			c.drainLocked()
		}
	}
	c.mu.Unlock()
	c.putStream(st)
	c.handlers.Done()
}

// fail closes the connection with a connection error.
func (c *Conn) fail(ce *connError) {
	c.opts.Info.End(ce.endReason())
	logevents.ConnectionError(c.logger(), 3, c.opts.Info.ID, ce.code.String(), ce.reason)
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.qc.CloseWithError(quic.ApplicationErrorCode(ce.code), ce.reason)
}

// largestStreamID is the largest client-initiated bidirectional stream
// ID, which the first GOAWAY of a graceful shutdown carries.
const largestStreamID = 1<<62 - 4

// startShutdownLocked begins a graceful shutdown (RFC 9114, 5.2): a
// GOAWAY that lets the requests already on their way in, then, a
// heartbeat later, one that names the first stream refused; requests in
// flight finish, then the connection closes.
func (c *Conn) startShutdownLocked() {
	c.closing = true
	if c.goAwaySent == 0 {
		c.goAwaySent = 1
		c.writeGoAwayLocked(largestStreamID)
	}
}

// GoAway sends the first GOAWAY of a graceful shutdown (RFC 9114, 5.2)
// and nothing else: the client opens no new request stream, those already
// on their way in are served as they come, and the final GOAWAY follows a
// heartbeat later (Tick), after which the connection closes once its
// requests are done. A connection that is idle now is not closed at once,
// unlike CloseIfIdle: a request its client sent before it saw the GOAWAY
// may arrive late (a restart's new process shares the UDP socket and
// reads some of the connection's packets, which QUIC sends again).
func (c *Conn) GoAway() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goAwaySent == 0 && !c.closed {
		c.goAwaySent = 1
		c.writeGoAwayLocked(largestStreamID)
	}
}

// finalGoAwayLocked sends the GOAWAY that names the first request stream
// the server will not serve.
func (c *Conn) finalGoAwayLocked() {
	if c.goAwaySent < 2 {
		c.goAwaySent = 2
		c.goAwayID = c.nextID
		c.goAwayAt = time.Now()
		c.writeGoAwayLocked(c.nextID)
	}
}

// writeGoAwayLocked queues a GOAWAY frame on the control stream. It does
// not wait: a client that holds back the control stream's flow-control
// window does not get it.
func (c *Conn) writeGoAwayLocked(id quic.StreamID) {
	if c.ctrl == nil {
		return
	}
	payload := quicvarint.Append(nil, uint64(id))
	b := appendFrameHeader(make([]byte, 0, 16), frameGoAway, len(payload))
	if err := c.ctrl.TryWriteAll(append(b, payload...)); err != nil {
		c.logger().Debug("HTTP/3 GOAWAY not sent", "remote", c.remote, "error", err)
	}
}

// drainLocked ends a connection that has no requests left: the final
// GOAWAY, then, unless the client closes the connection first (as clients
// do once they have their responses and a GOAWAY), CONNECTION_CLOSE with
// H3_NO_ERROR once the last response and the GOAWAY frames had time to
// arrive: closing a QUIC connection discards the stream data still in
// flight, or still queued.
func (c *Conn) drainLocked() {
	if c.closed || c.drainTimer != nil {
		return
	}
	c.startShutdownLocked()
	c.finalGoAwayLocked()
	last := c.lastDone
	if c.goAwayAt.After(last) {
		last = c.goAwayAt
	}
	wait := c.drainTime() - time.Since(last)
	if wait <= 0 {
		c.closeLocked()
		return
	}
	c.drainTimer = time.AfterFunc(wait, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.running == 0 {
			c.closeLocked()
		}
	})
}

// drainTime is how long the data of a response may take to arrive: three
// probe timeouts (RFC 9002, 6.2.1), with a floor.
func (c *Conn) drainTime() time.Duration {
	st := c.qc.ConnectionStats()
	pto := st.SmoothedRTT + max(4*st.MeanDeviation, time.Millisecond) + 25*time.Millisecond
	return min(max(3*pto, 100*time.Millisecond), 5*time.Second)
}

// closeLocked closes the connection with H3_NO_ERROR.
func (c *Conn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	go c.qc.CloseWithError(quic.ApplicationErrorCode(errNoError), "")
}

// newConnGrace is how long a new connection may take to bring its first
// request once Shutdown (or a drain delay's pass) wants it closed: its
// client may have sent the request as the handshake completed, before it
// could see the GOAWAY, and would lose it to the close. HTTP/1.1 leaves a
// new connection the same.
const newConnGrace = time.Second

// CloseIfIdle starts a graceful shutdown (GOAWAY, the requests in flight
// finish, then the connection closes) and reports whether the connection
// was idle, in which case it closes as soon as its last response has
// arrived. A new connection that has not brought a request yet is only
// told to go away, for newConnGrace. Shutdown and
// SetKeepAlivesEnabled(false) call it.
func (c *Conn) CloseIfIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startShutdownLocked()
	if c.running == 0 && c.nextID == 0 && !c.closed && time.Since(c.born) < newConnGrace {
		return false
	}
	if c.running == 0 {
		c.drainLocked()
		return true
	}
	return false
}

// Retire ends the connection gracefully once it has reached the
// server's MaxConnectionAge, as GoAway does: the first GOAWAY now, the
// final one a heartbeat later (Tick), then the connection closes once its
// requests are done. An idle connection is not closed at once, as
// CloseIfIdle would: at an age, unlike at a shutdown, its client may be
// sending a request, which the final GOAWAY would refuse (RFC 9114, 5.2:
// the final GOAWAY waits for the requests in flight to arrive).
func (c *Conn) Retire() { c.GoAway() }

// Abort closes the connection at once: its requests' handlers see their
// contexts cancelled and their reads and writes fail.
func (c *Conn) Abort() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.qc.CloseWithError(quic.ApplicationErrorCode(errNoError), "server stopped")
}

// Tick is called by the heartbeat with its clock: it enforces the
// keep-alive timeout and the requests' data rates, and sends the final
// GOAWAY of a graceful shutdown.
func (c *Conn) Tick(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goAwaySent == 1 {
		if c.goAwayTick {
			c.closing = true // when GoAway, not a shutdown, sent the first
			c.finalGoAwayLocked()
			if c.running == 0 {
				c.drainLocked() // no request came: nothing is left to serve
			}
		}
		c.goAwayTick = true
	}
	if heartbeat.Passed(now, c.idleSince.Load(), c.cfg.KeepAliveTimeout) && !c.closed {
		c.opts.Info.End(metrics.KeepAliveTimeout)
		c.drainLocked()
	}
	for st := range c.streams {
		st.tick(now)
	}
}

// setStateLocked tells OnState of a change of the connection's state.
func (c *Conn) setStateLocked(s http.ConnState) {
	if c.opts.OnState != nil && c.state != s {
		c.state = s
		c.opts.OnState(c.opts.Accepted, s)
	}
}

// acceptUni serves the client's unidirectional streams.
func (c *Conn) acceptUni() {
	for {
		rs, err := c.qc.AcceptUniStream(context.Background())
		if err != nil {
			return
		}
		go c.serveUni(rs)
	}
}

// serveUni reads a unidirectional stream's type and serves it
// (RFC 9114, 6.2; RFC 9204, 4.2).
func (c *Conn) serveUni(rs *quic.ReceiveStream) {
	rs.ReleaseStreamCredit() // replaceable once complete, as QUIC has it
	var rd reader
	rd.reset(rs, make([]byte, 512))
	typ, err := rd.varint()
	if err != nil {
		return
	}
	var once *atomic.Bool
	var read func(*reader) error
	switch typ {
	case streamControl:
		once, read = &c.gotControl, c.readControl
	case streamQPACKEncoder:
		once, read = &c.gotEncoder, readEncoderStream
	case streamQPACKDecoder:
		once, read = &c.gotDecoder, readDecoderStream
	case streamPush:
		c.fail(&connError{errStreamCreation, "a client opened a push stream"})
		return
	default:
		rs.CancelRead(quic.StreamErrorCode(errStreamCreation)) // unknown types are ignored
		return
	}
	if once.Swap(true) {
		c.fail(connErr(errStreamCreation, "a second stream of type %#x", typ))
		return
	}
	err = read(&rd)
	if c.qc.Context().Err() != nil || connectionEnded(err) {
		// The connection ended (the client closed it, say): a stream's
		// read can learn it before the connection's context does.
		return
	}
	var ce *connError
	if !errors.As(err, &ce) {
		ce = connErr(errClosedCriticalStream, "the client closed its stream of type %#x: %v", typ, err)
	}
	c.fail(ce)
}

// connectionEnded reports whether err, a stream read's, is the end of the
// whole connection (closed by either side, timed out, reset), not of the
// stream (its end, or a reset of it).
func connectionEnded(err error) bool {
	var app *quic.ApplicationError
	var transport *quic.TransportError
	var idle *quic.IdleTimeoutError
	var reset *quic.StatelessResetError
	return errors.As(err, &app) || errors.As(err, &transport) || errors.As(err, &idle) || errors.As(err, &reset)
}

// readControl reads the client's control stream: SETTINGS first, then
// GOAWAY, MAX_PUSH_ID and unknown frames (RFC 9114, 6.2.1 and 7.2). It
// returns when the stream fails.
func (c *Conn) readControl(rd *reader) error {
	typ, length, err := rd.frameHeader()
	if err != nil {
		return err
	}
	if typ != frameSettings {
		return connErr(errMissingSettings, "the client's control stream does not start with SETTINGS")
	}
	if length > maxSettingsPayload {
		return connErr(errExcessiveLoad, "SETTINGS frame of %d bytes", length)
	}
	payload, err := rd.payload(int(length))
	if err != nil {
		return err
	}
	if _, err := parseSettings(payload); err != nil {
		return err
	}
	// The client's GOAWAY and MAX_PUSH_ID carry push IDs; the server does
	// not push, but a GOAWAY may not raise the ID of an earlier one
	// (RFC 9114, 5.2), nor MAX_PUSH_ID lower it (7.2.7).
	var sawGoAway, sawMaxPushID bool
	var lastGoAway, lastMaxPushID uint64
	for {
		typ, length, err := rd.frameHeader()
		if err != nil {
			return err
		}
		switch {
		case typ == frameGoAway:
			id, err := readVarintFrame(rd, length)
			if err != nil {
				return err
			}
			if sawGoAway && id > lastGoAway {
				return connErr(errID, "GOAWAY raised the push ID from %d to %d", lastGoAway, id)
			}
			sawGoAway, lastGoAway = true, id
		case typ == frameMaxPushID:
			id, err := readVarintFrame(rd, length)
			if err != nil {
				return err
			}
			if sawMaxPushID && id < lastMaxPushID {
				return connErr(errID, "MAX_PUSH_ID lowered from %d to %d", lastMaxPushID, id)
			}
			sawMaxPushID, lastMaxPushID = true, id
		case typ == frameCancelPush:
			return connErr(errID, "CANCEL_PUSH for a push the server never promised")
		case typ == frameSettings:
			return connErr(errFrameUnexpected, "a second SETTINGS frame")
		case typ == frameData || typ == frameHeaders || typ == framePushPromise || reservedHTTP2Frame(typ):
			return connErr(errFrameUnexpected, "frame type %#x on the control stream", typ)
		default:
			if _, err := rd.skip(length); err != nil {
				return err
			}
		}
	}
}

// readVarintFrame reads a frame whose payload is one variable-length
// integer, and returns it.
func readVarintFrame(rd *reader, length uint64) (uint64, error) {
	if length == 0 || length > 8 {
		return 0, connErr(errFrame, "malformed control frame")
	}
	p, err := rd.payload(int(length))
	if err != nil {
		return 0, err
	}
	v, n, err := quicvarint.Parse(p)
	if err != nil || n != len(p) {
		return 0, connErr(errFrame, "malformed control frame")
	}
	return v, nil
}

// readEncoderStream reads the client's QPACK encoder stream. The server's
// dynamic table holds nothing (SETTINGS_QPACK_MAX_TABLE_CAPACITY is 0),
// so the only valid instruction sets its capacity to 0 (RFC 9204, 4.3).
func readEncoderStream(rd *reader) error {
	var buf [64]byte
	for {
		n, err := rd.read(buf[:])
		for _, b := range buf[:n] {
			if b != 0x20 {
				return connErr(errQPACKEncoderStream, "a dynamic table instruction, with a table capacity of 0")
			}
		}
		if err != nil {
			return instructionStreamEnd(err)
		}
	}
}

// instructionStreamEnd is why a QPACK stream's read failed: its end is the
// close of a critical stream (RFC 9204, 4.2), not a truncated frame, as it
// has no frames.
func instructionStreamEnd(err error) error {
	if err == errTruncated {
		return io.EOF
	}
	return err
}

// readDecoderStream reads the client's QPACK decoder stream (RFC 9204,
// 4.4). The server's field sections never refer to a dynamic table, so
// Stream Cancellations need no action, and a Section Acknowledgment or an
// Insert Count Increment acknowledges what was never sent: an error
// (4.4.1, 4.4.3).
func readDecoderStream(rd *reader) error {
	var buf [256]byte
	inInt := false // inside a Stream Cancellation's continued stream ID
	for {
		n, err := rd.read(buf[:])
		for _, b := range buf[:n] {
			switch {
			case inInt:
				inInt = b&0x80 != 0
			case b&0x80 != 0:
				return connErr(errQPACKDecoderStream, "a Section Acknowledgment, with no dynamic table in use")
			case b&0x40 == 0:
				return connErr(errQPACKDecoderStream, "an Insert Count Increment, with no dynamic table in use")
			default: // Stream Cancellation: a 6-bit prefixed stream ID
				inInt = b&0x3f == 0x3f
			}
		}
		if err != nil {
			return instructionStreamEnd(err)
		}
	}
}
