package http2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// ClientPreface is what an HTTP/2 client sends first (RFC 9113, 3.4).
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Options are a connection's ties to its server.
type Options struct {
	// Draining, when it becomes true, starts a graceful shutdown: GOAWAY,
	// the streams in flight finish, then the connection closes.
	Draining *atomic.Bool

	// Done, if not nil, is called once when the connection has ended.
	Done func()

	// Context is the parent of the connection's request contexts; nil
	// means the Config's BaseContext.
	Context context.Context

	// Accepted is the connection as accepted (before TLS), for OnState.
	Accepted net.Conn

	// OnState, if set, is told of the connection's state changes:
	// active while it has streams, idle otherwise, then closed.
	OnState func(net.Conn, http.ConnState)

	// Buffered are bytes already read from the connection (the preface,
	// when HTTP/1.1 recognised it).
	Buffered []byte

	// Info is the connection's id and end reason, for logs and metrics.
	Info *app.ConnInfo
}

// Conn is one HTTP/2 connection. Its reader goroutine reads and handles
// frames, and runs the handlers of complete requests itself until one
// takes long (inline.go); the handlers of requests with bodies run on
// goroutines of their own; every goroutine queues its frames in one output
// buffer, which whoever finds it idle writes out.
type Conn struct {
	cfg    *Config
	nc     net.Conn
	sock   syscall.RawConn // the TCP socket under any TLS, or nil
	opts   Options
	remote string

	// Owned by the reader goroutine.
	in          inbound
	fr          *http2.Framer
	hf          headersFrame // the HEADERS frame read last (headersframe.go)
	hfBuf       []byte       // its payload
	block       []byte       // a header block in several frames, gathered (headerFragment)
	dec         *hpack.Decoder
	hb          headerBlock // the header block being read
	maxStreamID uint32      // the highest stream a client opened (or tried to)
	gotSettings bool        // the client's first SETTINGS arrived
	gotAck      bool        // the client acknowledged the server's SETTINGS

	// Shared; mu guards them.
	mu           sync.Mutex
	streams      map[uint32]*stream
	running      int                      // handlers running, including those of reset streams
	sendWindow   int64                    // the connection's send window (the client's receive window)
	recvWindow   int64                    // the connection's receive window, as the client sees it
	recvUnacked  int64                    // received bytes consumed but not yet given back
	peerWindow   int32                    // the client's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame uint32                   // the client's SETTINGS_MAX_FRAME_SIZE
	goAway       uint32                   // 0, or the last stream accepted once GOAWAY went out
	resetSeen    [resetMemory / 64]uint64 // a bit per slot (stream id/2 mod resetMemory): the server reset the stream
	goAwaySent   int                      // GOAWAY frames sent: 1 with 2^31-1, 2 with the last stream
	settingsSent bool                     // the server's SETTINGS, its first frame, is queued
	goAwayAsked  bool                     // a graceful shutdown was asked before SETTINGS went out
	closing      bool                     // the connection will close once its streams end
	closed       bool
	out          output
	enc          *hpack.Encoder
	encBuf       []byte
	fieldCache   fieldCache    // encodings of the fields responses repeat (fieldcache.go)
	wfr          *http2.Framer // writes control frames into out
	ready        []*stream     // complete requests the reader runs (inline.go)
	pending      []*stream     // requests whose bodies may end in the bytes read (inline.go)
	inline       bool          // the reader is running handlers or writing
	inlineSt     *stream       // the stream whose handler the reader runs
	readerTok    uint64        // counts the goroutines that took over reading
	watch        *time.Timer   // hands reading over when the reader is stuck

	// For the heartbeat.
	lastRead     atomic.Int64 // heartbeat time of the last frame read
	idleSince    atomic.Int64 // heartbeat time the last stream ended; 0: streams open
	headerStart  atomic.Int64 // heartbeat time a header block (or the preface) began; 0: none
	pingSent     atomic.Int64 // heartbeat time a keep-alive ping went out; 0: none
	resets       atomic.Int64 // client resets, decaying each tick (rapid reset)
	pings        pingState    // the client's PINGs, for Config.PingPolicy
	controls     atomic.Int64 // control frames, decaying each tick (floods)
	updates      atomic.Int64 // WINDOW_UPDATE frames since the last tick (floods)
	dataSent     atomic.Int64 // DATA payload bytes queued since the last tick
	writeRate    app.RateTimer
	shutdownTick atomic.Int32
	parked       atomic.Bool // waiting in the parker, without a goroutine
	parkAsked    atomic.Bool // the heartbeat asks the idle reader to park
	trimAsked    atomic.Bool // the heartbeat woke the reader of a connection that cannot park in this idle period
	headersLate  atomic.Bool // the request headers timeout ended the connection

	stateMu sync.Mutex
	state   http.ConnState // the last state told to OnState; stateMu
}

// stream states (RFC 9113, 5.1), as the server sees them.
const (
	stateOpen             = iota // both sides may send
	stateHalfClosedRemote        // the request is complete
	stateHalfClosedLocal         // the response is complete
	stateClosed
)

// NewConn returns a connection ready to Serve.
func NewConn(cfg *Config, nc net.Conn, opts Options) *Conn {
	cfg.init()
	if opts.Draining == nil {
		opts.Draining = new(atomic.Bool)
	}
	if opts.Accepted == nil {
		opts.Accepted = nc
	}
	if opts.Info == nil {
		opts.Info = &app.ConnInfo{}
	}
	c := &Conn{
		cfg:          cfg,
		nc:           nc,
		opts:         opts,
		sendWindow:   initialWindow,
		recvWindow:   initialWindow,
		peerWindow:   initialWindow,
		peerMaxFrame: DefaultMaxFrameSize,
	}
	if a := nc.RemoteAddr(); a != nil {
		c.remote = a.String()
	}
	c.sock = transport.RawConnOf(nc)
	c.in.init(c, opts.Buffered)
	c.out.init(c)
	c.wfr = http2.NewFramer(&c.out, nil)
	c.enc = hpack.NewEncoder(encWriter{c})
	// The client's encoder starts with HPACK's 4,096-byte table whatever
	// the server advertises, and may use it until it acknowledges the
	// server's SETTINGS (RFC 9113, 6.5.3); a smaller HeaderTableSize
	// binds it from then on (onSettings), a larger one once the client
	// signals it.
	c.dec = hpack.NewDecoder(DefaultHeaderTableSize, c.emit)
	c.dec.SetAllowedMaxDynamicTableSize(max(cfg.HeaderTableSize, DefaultHeaderTableSize))
	c.dec.SetMaxStringLength(cfg.MaxRequestHeaderFieldSize)
	c.writeRate.Reset(cfg.MinResponseRate)
	return c
}

// bytesAcked is how many bytes the client has acknowledged on the
// connection, or -1 if unknown; see app.RateTimer.WriteOverdue.
func (c *Conn) bytesAcked() int64 { return transport.BytesAcked(c.sock) }

// initialWindow is HTTP/2's initial flow-control window (RFC 9113, 6.9.2).
const initialWindow = 65535

// maxWindow is the largest flow-control window (RFC 9113, 6.9.1).
const maxWindow = 1<<31 - 1

// NetConn is the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

func (c *Conn) now() int64 { return c.cfg.App.Heartbeat.Now() }

func (c *Conn) logger() *slog.Logger { return c.cfg.App.Logger }

// errors that end a connection.
var (
	errPreface   = errors.New("http2: the client did not send the connection preface")
	errHTTP1     = errors.New("http2: the client sent an HTTP/1.x request")
	errTimeout   = errors.New("http2: timed out")
	errConnReset = errors.New("http2: the connection was closed")
)

// connError is a connection error (RFC 9113, 5.4.1): GOAWAY with the code,
// then close.
type connError struct {
	code   http2.ErrCode
	reason string
	end    metrics.Reason // Kestrel's reason the connection ends; 0: by code
}

func (e connError) Error() string {
	return fmt.Sprintf("http2: connection error %v: %s", e.code, e.reason)
}

func connErr(code http2.ErrCode, format string, args ...any) error {
	return connError{code: code, reason: fmt.Sprintf(format, args...)}
}

// connErrFor is connErr with Kestrel's reason the connection ends, where
// the code alone does not say it.
func connErrFor(code http2.ErrCode, end metrics.Reason, format string, args ...any) error {
	return connError{code: code, reason: fmt.Sprintf(format, args...), end: end}
}

// framerError is the connection error for a frame the framer refused
// (x/net's http2.Framer checks each frame type's length and stream id),
// with Kestrel's reason and a description: the framer gives a detail for
// some of its errors only.
func framerError(fh http2.FrameHeader, code http2.ErrCode, detail string) connError {
	e := connError{code: code, reason: detail}
	describe := func(format string, args ...any) {
		if e.reason == "" {
			e.reason = fmt.Sprintf(format, args...)
		}
	}
	switch {
	case code == http2.ErrCodeFrameSize:
		e.end = metrics.InvalidFrameLength
		describe("%v frame with a payload of %d bytes", fh.Type, fh.Length)
	case fh.Type == http2.FramePushPromise:
		e.end = metrics.UnexpectedFrame
		describe("a client sent PUSH_PROMISE")
	case code == http2.ErrCodeFlowControl && fh.Type == http2.FrameSettings:
		e.end = metrics.InvalidSettings
		describe("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
	case code != http2.ErrCodeProtocol:
		describe("invalid %v frame", fh.Type)
	case fh.Type == http2.FrameWindowUpdate && fh.StreamID == 0:
		e.end = metrics.InvalidWindowUpdateSize
		describe("WINDOW_UPDATE with an increment of 0")
	case fh.StreamID == 0 && (fh.Type == http2.FrameData || fh.Type == http2.FrameHeaders || fh.Type == http2.FramePriority ||
		fh.Type == http2.FrameRSTStream || fh.Type == http2.FrameContinuation):
		e.end = metrics.InvalidStreamID
		describe("%v frame with stream ID 0", fh.Type)
	case fh.StreamID != 0 && (fh.Type == http2.FrameSettings || fh.Type == http2.FramePing || fh.Type == http2.FrameGoAway):
		e.end = metrics.InvalidStreamID
		describe("%v frame on stream %d, want 0", fh.Type, fh.StreamID)
	case fh.Type == http2.FrameData:
		e.end = metrics.InvalidDataPadding
		describe("DATA frame padding longer than its payload")
	default:
		describe("invalid %v frame", fh.Type)
	}
	return e
}

// endReason is Kestrel's connection end reason for a connection error.
func (e connError) endReason() metrics.Reason {
	if e.end != 0 {
		return e.end
	}
	switch e.code {
	case http2.ErrCodeFlowControl:
		return metrics.FlowControlWindowExceeded
	case http2.ErrCodeFrameSize:
		return metrics.InvalidFrameLength
	case http2.ErrCodeCompression:
		return metrics.ErrorReadingHeaders
	case http2.ErrCodeStreamClosed:
		return metrics.FrameAfterStreamClose
	case http2.ErrCodeProtocol:
		return metrics.UnexpectedFrame
	}
	return metrics.OtherError
}

// streamErr is a stream error (RFC 9113, 5.4.2): RST_STREAM with the code.
type streamErr struct {
	id     uint32
	code   http2.ErrCode
	reason string
}

func (e streamErr) Error() string {
	return fmt.Sprintf("http2: stream %d error %v: %s", e.id, e.code, e.reason)
}

// Serve serves the connection until it closes, then calls Done.
func (c *Conn) Serve() {
	err := c.serve()
	if err == errParked || err == errDetached {
		return // the parker resumes the connection when bytes arrive, or another goroutine reads it
	}
	c.shutdown(err)
}

// resume serves a parked connection again, on a fresh goroutine.
func (c *Conn) resume() {
	c.fr = c.newReadFramer() // without the buffer the last one grew
	err := c.readLoop()
	if err == errParked || err == errDetached {
		return
	}
	c.shutdown(err)
}

func (c *Conn) serve() error {
	c.headerStart.Store(c.now())
	if err := c.readPreface(); err != nil {
		return err
	}
	c.lastRead.Store(c.now())
	c.idleSince.Store(c.now())
	c.mu.Lock()
	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.cfg.MaxStreams},
		{ID: http2.SettingInitialWindowSize, Val: c.cfg.InitialStreamWindow},
		{ID: http2.SettingMaxFrameSize, Val: c.cfg.MaxFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: uint32(c.cfg.MaxRequestHeadersTotalSize)},
		{ID: http2.SettingEnablePush, Val: 0},
	}
	if c.cfg.HeaderTableSize != DefaultHeaderTableSize {
		settings = append(settings, http2.Setting{ID: http2.SettingHeaderTableSize, Val: c.cfg.HeaderTableSize})
	}
	if c.cfg.ConnectProtocol {
		settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	}
	c.wfr.WriteSettings(settings...)
	if inc := int64(c.cfg.InitialConnectionWindow) - initialWindow; inc > 0 {
		c.wfr.WriteWindowUpdate(0, uint32(inc))
		c.recvWindow += inc
	}
	c.settingsSent = true
	if c.goAwayAsked {
		c.goAwayLocked() // the shutdown asked while the preface was awaited
	}
	c.flushLocked(false)
	c.mu.Unlock()

	c.fr = c.newReadFramer()
	return c.readLoop()
}

// readLoop reads and handles frames until the connection ends, or parks.
func (c *Conn) readLoop() error {
	for {
		if c.opts.Draining.Load() {
			c.startShutdown()
		}
		if c.finished() {
			return nil
		}
		if c.out.flood.Load() {
			return connErrFor(http2.ErrCodeEnhanceYourCalm, metrics.OutputQueueSizeExceeded, "too many control frames queued for a client that does not read them")
		}
		if err := c.runInline(); err != nil {
			return err
		}
		f, err := c.readFrame()
		if err == nil {
			c.lastRead.Store(c.now())
			if f == nil {
				err = c.onHeaders(&c.hf)
			} else {
				err = c.handle(f)
			}
		}
		if err == errPark {
			if c.park() {
				return errParked
			}
			if c.idleNow() {
				// Idle, but it cannot be parked: at least no buffer
				// grown for large frames, nor the last header block's,
				// waits with it.
				c.fr = c.newReadFramer()
				c.dropHeaderBuffer()
				// And it waits on a fresh goroutine, whose stack has
				// not grown with the TLS handshake and the requests.
				c.cfg.Released.Add(parkedStackEstimate)
				go c.resume()
				return errDetached
			}
			continue
		}
		if err != nil {
			var se streamErr
			if errors.As(err, &se) {
				c.resetStream(se.id, se.code)
				continue
			}
			return err
		}
	}
}

// errPark asks the reader to park the idle connection; errParked says it
// did, and the reader goroutine ends.
var (
	errPark   = errors.New("http2: park")
	errParked = errors.New("http2: parked")
)

// park hands an idle connection to the parker: no goroutine waits for it
// until its socket is readable. It reports false when the connection is
// not idle any more, or cannot be parked.
func (c *Conn) park() bool {
	pk, rc := c.cfg.Parker, c.in.idler.RawConn()
	if pk == nil || rc == nil || !c.idleNow() || c.finished() {
		return false
	}
	c.in.release()
	c.fr = nil
	c.dropHeaderBuffer()
	c.mu.Lock()
	if len(c.streams) == 0 {
		c.streams = nil // made again for the next stream
	}
	c.mu.Unlock()
	c.parked.Store(true)
	if err := pk.Park(rc, c.unparked); err != nil {
		c.parked.Store(false)
		c.fr = c.newReadFramer()
		return false
	}
	c.cfg.Released.Add(parkedStackEstimate)
	return true
}

// dropHeaderBuffer lets go of the buffer the last HEADERS frame was read
// into, for an idle connection; the reader calls it.
func (c *Conn) dropHeaderBuffer() {
	c.hfBuf = nil
	c.hf = headersFrame{} // its fragment is in hfBuf
	c.unpinDecoder()
	c.dec.Close()
}

// parkedStackEstimate is the stack a parked connection's reader goroutine
// leaves behind.
const parkedStackEstimate = 8 << 10

// unparked is the parker's: the parked connection's socket is readable.
// It must not block.
func (c *Conn) unparked() {
	if c.parked.CompareAndSwap(true, false) {
		go c.resume()
	}
}

// kick makes the reader look at the connection's state: it wakes a
// blocked read, or resumes a parked connection.
func (c *Conn) kick() {
	if c.parked.CompareAndSwap(true, false) {
		c.cfg.Parker.Unpark(c.in.idler.RawConn())
		go c.resume()
		return
	}
	c.in.wake()
}

// newReadFramer makes the framer the reader goroutine parses frames with.
// It is made anew after a long idle period, so that the buffer it grew
// for large frames is not held by an idle connection.
func (c *Conn) newReadFramer() *http2.Framer {
	fr := http2.NewFramer(nil, &c.in)
	fr.SetMaxReadFrameSize(c.cfg.MaxFrameSize)
	fr.SetReuseFrames()
	return fr
}

// readPreface reads and checks the client's connection preface, failing
// as soon as a byte differs (an HTTP/1.1 request on an HTTP/2-only
// endpoint is not left waiting for more).
func (c *Conn) readPreface() error {
	var buf [len(ClientPreface)]byte
	for got := 0; got < len(buf); {
		n, err := c.in.Read(buf[got:])
		if string(buf[got:got+n]) != ClientPreface[got:got+n] {
			if err == nil && c.http1RequestLine(buf[:got+n]) {
				return errHTTP1
			}
			return errPreface
		}
		got += n
		if err != nil && got < len(buf) {
			if errors.Is(err, errTimeout) {
				return errTimeout
			}
			if errors.Is(err, errWoken) {
				return errWoken // shut down before the client said anything
			}
			return errPreface
		}
	}
	c.headerStart.Store(0)
	return nil
}

// http1RequestLine reports whether a cleartext connection that did not
// start with the preface starts with an HTTP/1.0 or HTTP/1.1 request line
// (read is what came so far; it reads on to the line's end): a client
// that speaks HTTP/1.x to an HTTP/2-only endpoint, which Kestrel answers
// with a readable 400 rather than frames it cannot read. As in Kestrel,
// the line with its CRLF must fit in MaxRequestLineSize. Over TLS, ALPN
// has settled the protocol.
func (c *Conn) http1RequestLine(read []byte) bool {
	if _, ok := c.nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return false
	}
	maxLine := c.cfg.MaxRequestLineSize
	line := append(make([]byte, 0, 256), read...)
	for bytes.IndexByte(line, '\n') < 0 {
		if len(line) >= maxLine || !isRequestLineStart(line) {
			return false
		}
		line = slices.Grow(line, min(256, maxLine-len(line)))
		n, err := c.in.Read(line[len(line):cap(line)])
		line = line[:len(line)+n]
		if err != nil && bytes.IndexByte(line, '\n') < 0 {
			return false
		}
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	if len(line)+1 > maxLine {
		return false
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	return isRequestLineStart(line) && (bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0")))
}

// isRequestLineStart reports whether b can begin an HTTP/1.x request line:
// a method token, then a space.
func isRequestLineStart(b []byte) bool {
	for i, ch := range b {
		if ch == ' ' {
			return i > 0
		}
		if !httpsyntax.TChar[ch] {
			return false
		}
	}
	return true
}

// http1BadRequest answers an HTTP/1.x request on an HTTP/2-only endpoint,
// as Kestrel does.
const http1BadRequest = "HTTP/1.1 400 Bad Request\r\n" +
	"Connection: close\r\n" +
	"Content-Type: text/plain\r\n" +
	"Content-Length: 56\r\n" +
	"\r\n" +
	"An HTTP/1.x request was sent to an HTTP/2 only endpoint."

// readFrame reads the next frame, waiting without a buffer while the
// connection has nothing in flight. A HEADERS frame is read into c.hf,
// and the frame returned is nil.
func (c *Conn) readFrame() (http2.Frame, error) {
	c.in.idle = c.idleNow()
	c.in.boundary = true
	fh, err := c.fr.ReadFrameHeader()
	if err == nil && fh.Type == http2.FrameHeaders {
		if err = c.readHeaders(fh); err == nil {
			return nil, nil
		}
	} else if err == nil {
		var f http2.Frame
		if f, err = c.fr.ReadFrameForHeader(fh); err == nil {
			return f, nil
		}
	}
	switch e := err.(type) {
	case http2.ConnectionError:
		detail := ""
		if d := c.fr.ErrorDetail(); d != nil {
			detail = d.Error()
		}
		return nil, framerError(fh, http2.ErrCode(e), detail)
	case http2.StreamError:
		switch {
		case fh.Type == http2.FrameHeaders || fh.Type == http2.FrameData || fh.Type == http2.FrameContinuation:
			// A malformed frame that carries a header block or flow-
			// controlled bytes leaves the connection's state unknown.
			return nil, connErr(e.Code, "malformed %v frame", fh.Type)
		case e.StreamID > c.maxStreamID && e.StreamID%2 == 1 && fh.Type != http2.FramePriority:
			return nil, connErrFor(http2.ErrCodeProtocol, metrics.InvalidStreamID, "%v frame for idle stream %d", fh.Type, e.StreamID)
		}
		return nil, streamErr{e.StreamID, e.Code, "malformed " + fh.Type.String() + " frame"}
	}
	if errors.Is(err, http2.ErrFrameTooLarge) {
		return nil, connErrFor(http2.ErrCodeFrameSize, metrics.MaxFrameLengthExceeded, "frame larger than SETTINGS_MAX_FRAME_SIZE")
	}
	return nil, err
}

// idleNow reports whether the connection has nothing in flight, so its
// reader may wait without holding a buffer.
func (c *Conn) idleNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams) == 0 && c.running == 0 && c.hb.stream == 0
}

// finished reports whether a connection that is shutting down has no
// streams left (and, in a graceful shutdown, has sent its final GOAWAY).
func (c *Conn) finished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing && c.goAwaySent != 1 && len(c.streams) == 0 && c.running == 0 ||
		!c.settingsSent && c.shutdownTick.Load() == shutdownNoPreface
}

// handle dispatches one frame.
func (c *Conn) handle(f http2.Frame) error {
	if !c.gotSettings {
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			return connErr(http2.ErrCodeProtocol, "the first frame is not SETTINGS")
		}
	}
	switch f := f.(type) {
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.ContinuationFrame:
		return c.onContinuation(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return streamErr{f.StreamID, http2.ErrCodeProtocol, "stream depends on itself"}
		}
		if f.StreamID > c.maxStreamID && f.StreamID%2 == 1 {
			// PRIORITY may open no stream, but it is legal on an idle one.
			return nil
		}
		return nil
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		return c.onPing(f)
	case *http2.GoAwayFrame:
		c.opts.Info.End(metrics.ClientGoAway)
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		return nil
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PushPromiseFrame:
		return connErr(http2.ErrCodeProtocol, "a client sent PUSH_PROMISE")
	}
	return nil // unknown frame types are ignored (RFC 9113, 4.1)
}

// countControl counts a frame that costs work but carries no request
// (SETTINGS, PING, an empty DATA or CONTINUATION; window changes have
// countWindowUpdate), and reports a flood: more than the allowance in one
// heartbeat interval. PRIORITY and unknown frames cost only their parse
// and are not counted, as in net/http's server and Kestrel; an answer one
// of them draws (a stream error) counts among the queued control frames.
func (c *Conn) countControl() error {
	if c.controls.Add(1) > controlAllowance {
		return connErr(http2.ErrCodeEnhanceYourCalm, "too many control frames")
	}
	return nil
}

// controlAllowance is how many control frames a client may send per
// heartbeat interval (net/http's server closes after 10,000 queued).
const controlAllowance = 10000

// countWindowUpdate counts a WINDOW_UPDATE, apart from the other control
// frames, against an allowance that grows with the DATA the server sent in
// the interval: a client gives window back as it reads, and one with a
// small window (or that gives back both the stream's and the connection's
// after every frame) sends many WINDOW_UPDATEs while it downloads a large
// response at full speed. Updates that no data goes with (1-byte
// increments, or windows left unused) are still a flood.
func (c *Conn) countWindowUpdate() error {
	if c.updates.Add(1) > controlAllowance+c.dataSent.Load()/windowUpdateCredit {
		return connErr(http2.ErrCodeEnhanceYourCalm, "too many control frames")
	}
	return nil
}

// windowUpdateCredit is how many DATA bytes sent earn a client one more
// WINDOW_UPDATE: two (its stream's and its connection's) per 1 KiB frame.
const windowUpdateCredit = 512

func (c *Conn) onSettings(f *http2.SettingsFrame) error {
	if err := c.countControl(); err != nil {
		return err
	}
	if f.IsAck() {
		if !c.gotAck {
			c.gotAck = true
			c.dec.SetAllowedMaxDynamicTableSize(c.cfg.HeaderTableSize)
		}
		return nil
	}
	c.gotSettings = true
	c.mu.Lock()
	defer c.mu.Unlock()
	// SETTINGS_INITIAL_WINDOW_SIZE changes every stream's window: the
	// streams are updated once for the frame, with its last value, not
	// once per entry (a frame may hold thousands), and a window that any
	// of its values would have pushed beyond 2^31-1 is an error, as when
	// the entries are applied in turn (RFC 9113, 6.9.2).
	oldWindow, maxWindowSetting, windowSet := c.peerWindow, c.peerWindow, false
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			if ce, ok := err.(http2.ConnectionError); ok {
				return connErrFor(http2.ErrCode(ce), metrics.InvalidSettings, "invalid setting %v", s)
			}
			return err
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(s.Val)
			c.tableChanged()
		case http2.SettingInitialWindowSize:
			c.peerWindow = int32(s.Val)
			maxWindowSetting = max(maxWindowSetting, c.peerWindow)
			windowSet = true
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		}
		return nil
	})
	if err != nil {
		return err
	}
	if windowSet {
		delta, peak := int64(c.peerWindow)-int64(oldWindow), int64(maxWindowSetting)-int64(oldWindow)
		for _, st := range c.streams {
			// A stream reset, or whose END_STREAM is queued, sends no
			// more DATA: its window, which the client may have pushed to
			// 2^31-1 or past it (a stream error), is no longer one the
			// setting can overflow (RFC 9113, 6.9.2); it still follows
			// the setting, as the client counts it.
			if st.sendWindow+peak > maxWindow && !st.endSent {
				return connErrFor(http2.ErrCodeFlowControl, metrics.InvalidSettings, "SETTINGS_INITIAL_WINDOW_SIZE overflows stream %d's window", st.id)
			}
			st.sendWindow += delta
			st.wake()
		}
	}
	c.wfr.WriteSettingsAck()
	c.out.controlQueued()
	c.flushLocked(true)
	return nil
}

func (c *Conn) onPing(f *http2.PingFrame) error {
	if err := c.countControl(); err != nil {
		return err
	}
	if f.IsAck() {
		c.pingSent.Store(0)
		if c.shutdownTick.Load() == 1 && f.Data == shutdownPing {
			c.mu.Lock()
			c.finalGoAwayLocked()
			c.mu.Unlock()
		}
		return nil
	}
	c.mu.Lock()
	c.wfr.WritePing(true, f.Data)
	c.out.controlQueued()
	c.flushLocked(true)
	err := c.checkPingLocked()
	c.mu.Unlock()
	return err
}

func (c *Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	if err := c.countWindowUpdate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// An increment that overflows a window is checked before it is
	// added: the window it would make is not one the client gave, and a
	// handler writing meanwhile (the error takes effect once mu is let
	// go) must not send DATA in it (RFC 9113, 6.9.1).
	if f.StreamID == 0 {
		if c.sendWindow+int64(f.Increment) > maxWindow {
			return connErrFor(http2.ErrCodeFlowControl, metrics.InvalidWindowUpdateSize, "the connection's window exceeds 2^31-1")
		}
		c.sendWindow += int64(f.Increment)
		for _, st := range c.streams {
			st.wake()
		}
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxStreamID {
			return connErrFor(http2.ErrCodeProtocol, metrics.InvalidStreamID, "WINDOW_UPDATE for idle stream %d", f.StreamID)
		}
		return nil // a stream that ended: frames in flight may still arrive
	}
	if st.reset != nil {
		// Reset (its handler still runs): no more DATA goes out, and
		// the client may send WINDOW_UPDATE until it sees the
		// RST_STREAM: ignored, not answered with another (RFC 9113, 5.1).
		return nil
	}
	if st.sendWindow+int64(f.Increment) > maxWindow {
		return streamErr{f.StreamID, http2.ErrCodeFlowControl, "the stream's window exceeds 2^31-1"}
	}
	st.sendWindow += int64(f.Increment)
	st.wake()
	return nil
}

func (c *Conn) onReset(f *http2.RSTStreamFrame) error {
	if f.StreamID > c.maxStreamID {
		return connErrFor(http2.ErrCodeProtocol, metrics.InvalidStreamID, "RST_STREAM for idle stream %d", f.StreamID)
	}
	// Rapid reset (CVE-2023-44487): a client that opens and resets
	// streams faster than the allowance is told to calm down.
	if c.resets.Add(1) > resetAllowance(c.cfg.MaxStreams) {
		return connError{code: http2.ErrCodeEnhanceYourCalm, reason: "too many streams reset by the client", end: metrics.StreamResetLimitExceeded}
	}
	c.mu.Lock()
	st := c.streams[f.StreamID]
	if st != nil {
		st.resetLocked(errResetByClient(f.ErrCode), false)
	}
	c.mu.Unlock()
	return nil
}

// resetAllowance is how many streams a client may reset per heartbeat
// interval, beyond which the connection is closed (rapid reset).
// It is an int64, as twice a uint32 limit of 2^31 or more wraps a uint32.
func resetAllowance(maxStreams uint32) int64 { return 2 * int64(maxStreams) }

// resetStream answers a stream error: RST_STREAM, and the stream ends.
func (c *Conn) resetStream(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.streams[id]; st != nil && st.reset == nil {
		st.resetLocked(errStreamReset(code), true)
		return
	}
	c.writeResetLocked(id, code)
}

// writeResetLocked sends RST_STREAM and remembers that this server reset
// the stream: frames the client sent before it saw the reset are ignored
// (RFC 9113, 5.1), not answered with STREAM_CLOSED, which clients such as
// curl take for an error even after the response arrived.
func (c *Conn) writeResetLocked(id uint32, code http2.ErrCode) {
	c.wfr.WriteRSTStream(id, code)
	c.out.controlQueued()
	c.flushLocked(true)
	c.markReset(id)
}

// resetMemory is how many of the client's latest stream ids the server
// remembers resetting, so that the frames the client sent before it saw
// a RST_STREAM are ignored (RFC 9113, 5.1, which lets an endpoint limit
// that period): a burst of streams refused beyond the stream limit, each
// followed by its body and trailers, is remembered whole. A bit each.
const resetMemory = 2048

// markReset records that the server reset stream id (or ignored it after
// its final GOAWAY). c.mu is held.
func (c *Conn) markReset(id uint32) {
	i := id / 2 % resetMemory
	c.resetSeen[i/64] |= 1 << (i % 64)
}

// openSlotsLocked gives the slots of the stream ids after maxStreamID up
// to id, the stream the client opens, to those ids: a stream id's slot
// holds whether the server reset it until the client opens the id
// resetMemory streams later. The reader calls it with c.mu held.
func (c *Conn) openSlotsLocked(id uint32) {
	from, to := c.maxStreamID/2+1, id/2
	if c.maxStreamID == 0 {
		from = 0
	}
	if to-from >= resetMemory {
		clear(c.resetSeen[:])
		return
	}
	for i := from; i <= to; i++ {
		j := i % resetMemory
		c.resetSeen[j/64] &^= 1 << (j % 64)
	}
}

// resetByServer reports whether the server reset stream id, one of the
// latest resetMemory streams the client opened. The reader calls it with
// c.mu held.
func (c *Conn) resetByServer(id uint32) bool {
	if id == 0 || id > c.maxStreamID || (c.maxStreamID-id)/2 >= resetMemory {
		return false
	}
	i := id / 2 % resetMemory
	return c.resetSeen[i/64]&(1<<(i%64)) != 0
}

// startShutdown begins a graceful shutdown (RFC 9113, 6.8): a GOAWAY that
// accepts the streams already on their way and a PING; when the PING
// comes back (or a heartbeat later) a GOAWAY naming the last stream;
// streams in flight finish, then the connection closes.
//
// Before the client's preface has come, the server has not sent its
// SETTINGS, which must be its first frame (RFC 9113, 3.4; nghttp2 fails
// a connection whose first frame is a GOAWAY, and every request the
// client sent with its preface): the GOAWAY then follows the SETTINGS,
// and a client that sends no preface within two heartbeats is closed
// without a frame (Tick).
func (c *Conn) startShutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goAwaySent > 0 || c.goAwayAsked {
		return
	}
	if !c.settingsSent {
		c.goAwayAsked = true
		c.shutdownTick.Store(shutdownBeforePreface)
		return
	}
	c.goAwayLocked()
}

// The states of shutdownTick beyond 0 (none), 1 (the shutdown PING is
// out), 2 (the final GOAWAY is out) and 3 (no PING came back within a
// heartbeat): a shutdown asked before the client's preface came, a
// heartbeat later, and two heartbeats later, when the connection ends.
const (
	shutdownBeforePreface = 4 + iota
	shutdownPrefaceLate
	shutdownNoPreface
)

// goAwayLocked sends the first GOAWAY of a graceful shutdown, and the PING
// whose answer tells that the client has seen it.
func (c *Conn) goAwayLocked() {
	c.goAwaySent = 1
	c.closing = true
	c.wfr.WriteGoAway(maxWindow, http2.ErrCodeNo, nil)
	c.wfr.WritePing(false, shutdownPing)
	c.shutdownTick.Store(1)
	// The request bodies drained after their handlers answered were kept
	// for the connection's next requests, which will not come: they are
	// stopped (RST_STREAM NO_ERROR), not waited for, as HTTP/1.1 closes
	// rather than drains while shutting down.
	for _, st := range c.streams {
		if st.handlerDone && st.reset == nil && !st.bodyEnded {
			st.resetLocked(errStreamReset(http2.ErrCodeNo), true)
		}
	}
	c.flushLocked(true)
}

var shutdownPing = [8]byte{'k', 'e', 's', 't', 'r', 'e', 'l', '!'}

// finalGoAwayLocked sends the GOAWAY that names the last stream accepted.
func (c *Conn) finalGoAwayLocked() {
	if c.goAwaySent != 1 {
		return
	}
	c.goAwaySent = 2
	c.shutdownTick.Store(2)
	c.goAway = c.maxStreamID
	c.wfr.WriteGoAway(c.maxStreamID, http2.ErrCodeNo, nil)
	c.flushLocked(true)
	if len(c.streams) == 0 && c.running == 0 {
		go c.kick() // nothing left: the reader ends the connection
	}
}

// goAwayFrameLocked queues a GOAWAY that ends the connection; before the
// server's SETTINGS went out (the preface never came, or was not
// HTTP/2's), an empty SETTINGS goes first: it must be the server's first
// frame (RFC 9113, 3.4), and clients such as Go's and nghttp2 treat any
// other as a protocol error. mu is held.
func (c *Conn) goAwayFrameLocked(lastID uint32, code http2.ErrCode, debug []byte) {
	if !c.settingsSent {
		c.wfr.WriteSettings()
		c.settingsSent = true
	}
	c.wfr.WriteGoAway(lastID, code, debug)
}

// shutdown ends the connection after the read loop stopped: a connection
// error is answered with GOAWAY; the streams still running are aborted.
func (c *Conn) shutdown(err error) {
	c.mu.Lock()
	var ce connError
	switch {
	case c.headersLate.Load():
		// As Kestrel: a bad request, and GOAWAY with INTERNAL_ERROR.
		logevents.ConnectionBadRequest(c.logger(), c.opts.Info.ID, "Reading the request headers timed out.", http.StatusRequestTimeout)
		if !c.closed {
			c.goAwayFrameLocked(c.maxStreamID, http2.ErrCodeInternal, []byte("request headers timeout"))
		}
	case errors.As(err, &ce):
		c.opts.Info.End(ce.endReason())
		logevents.ConnectionError(c.logger(), 2, c.opts.Info.ID, ce.code.String(), ce.reason)
		if !c.closed {
			c.goAwayFrameLocked(c.maxStreamID, ce.code, []byte(ce.reason))
		}
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, errWoken):
		if !c.closed && c.goAwaySent < 2 && c.settingsSent {
			c.wfr.WriteGoAway(c.maxStreamID, http2.ErrCodeNo, nil)
		}
	case errors.Is(err, errTimeout):
		if !c.closed {
			c.goAwayFrameLocked(c.maxStreamID, http2.ErrCodeNo, nil)
		}
	case errors.Is(err, errHTTP1):
		c.opts.Info.End(metrics.InvalidHTTPVersion)
		logevents.PossibleInvalidHTTPVersionDetected(c.logger(), c.opts.Info.ID, "HTTP/2", "HTTP/1.x")
		if !c.closed {
			c.out.Write([]byte(http1BadRequest)) // and no GOAWAY
		}
	case errors.Is(err, errPreface):
		c.opts.Info.End(metrics.InvalidHandshake)
		logevents.PossibleInvalidHTTPVersionDetected(c.logger(), c.opts.Info.ID, "HTTP/2", "something else (an invalid connection preface)")
		if !c.closed {
			c.goAwayFrameLocked(0, http2.ErrCodeProtocol, []byte("invalid connection preface"))
		}
	default:
		if errors.Is(err, syscall.ECONNRESET) {
			c.opts.Info.End(metrics.ConnectionReset)
		} else {
			c.opts.Info.End(metrics.IOError)
		}
		logevents.RequestProcessingError(c.logger(), c.opts.Info.ID, err)
	}
	c.closing = true
	if c.watch != nil {
		c.watch.Stop()
	}
	for _, st := range c.ready { // never started: reset below with the others
		st.uncount()
		st.endTunnel()
		st.handlerDone = true
		c.opts.Info.RequestStarted(metrics.HTTP2) // out of kestrel.queued_requests: it never will start
	}
	c.ready = nil
	for _, st := range c.pending { // never started either
		st.pending = false
		st.uncount()
		st.endTunnel()
		st.handlerDone = true
		c.opts.Info.RequestStarted(metrics.HTTP2)
	}
	c.pending = nil
	c.flushLocked(false) // the GOAWAY goes out before the close
	for _, st := range c.streams {
		st.resetLocked(errConnReset, false)
	}
	// An abusive client (a flood: ENHANCE_YOUR_CALM) is not given the
	// lingering close's time and reads.
	linger := !c.closed && !(errors.As(err, &ce) && ce.code == http2.ErrCodeEnhanceYourCalm)
	c.mu.Unlock()
	if errors.As(err, &ce) {
		// The GOAWAY of a connection error is the last word: it is not
		// waited for longer than this, behind what a client that does
		// not read (a flood) has left in the socket buffers.
		c.nc.SetWriteDeadline(time.Now().Add(goAwayWriteTimeout))
	}
	c.out.finish()
	if linger && c.out.err == nil {
		// Half-close and drop what the client still sends for a moment:
		// closing with unread bytes would reset the connection, and the
		// reset can destroy the GOAWAY before the client reads it.
		c.in.release()
		buf := c.cfg.readPool.Get()
		transport.LingeringClose(c.nc, transport.DefaultLinger, *buf)
		c.cfg.readPool.Put(buf)
	}
	c.closeConn()
	c.in.release()
	c.setState(http.StateClosed)
	if c.opts.Done != nil {
		c.opts.Done()
	}
}

// goAwayWriteTimeout bounds the writing of a connection error's GOAWAY.
const goAwayWriteTimeout = time.Second

// closeConn closes the network connection, once.
func (c *Conn) closeConn() {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if !already {
		c.nc.Close()
	}
}

// Abort closes the connection at once: its streams' handlers see their
// requests cancelled and their writes fail.
func (c *Conn) Abort() {
	transport.SetLingerZero(c.nc)
	c.closeConn()
	c.mu.Lock()
	for _, st := range c.streams {
		st.resetLocked(errConnReset, false)
	}
	c.mu.Unlock()
	c.in.abort()
	if c.parked.CompareAndSwap(true, false) {
		c.cfg.Parker.Unpark(c.in.idler.RawConn())
		go c.resume() // to end the connection
	}
}

// CloseIfIdle starts a graceful shutdown (GOAWAY, the streams in flight
// finish, then the connection closes) and reports whether the connection
// was idle. Shutdown and SetKeepAlivesEnabled(false) call it.
func (c *Conn) CloseIfIdle() bool {
	c.startShutdown()
	c.mu.Lock()
	idle := len(c.streams) == 0 && c.running == 0
	c.mu.Unlock()
	if idle {
		c.kick()
	}
	return idle
}

// Retire ends the connection gracefully, as a shutdown does (GOAWAY, the
// streams in flight finish, then the connection closes): it has reached
// the server's MaxConnectionAge.
func (c *Conn) Retire() { c.CloseIfIdle() }

// Tick is called by the heartbeat with its clock: it enforces the
// connection's timeouts and data rates and decays the flood counters.
func (c *Conn) Tick(now int64) {
	c.resets.Store(max(0, c.resets.Load()-resetAllowance(c.cfg.MaxStreams)/2))
	c.controls.Store(0)
	c.updates.Store(0)
	c.dataSent.Store(0)
	if heartbeat.Passed(now, c.headerStart.Load(), c.cfg.RequestHeadersTimeout) {
		// The reader, waiting for the rest of the preface or of a header
		// block, fails at once and answers with GOAWAY.
		c.opts.Info.End(metrics.RequestHeadersTimeout)
		c.headersLate.Store(true)
		c.in.abort()
		return
	}
	if heartbeat.Passed(now, c.idleSince.Load(), c.cfg.KeepAliveTimeout) {
		// Idle that long: GOAWAY naming the last stream, and close.
		c.mu.Lock()
		if len(c.streams) == 0 && c.running == 0 && c.goAwaySent == 0 {
			c.opts.Info.End(metrics.KeepAliveTimeout)
			c.closing = true
			c.goAwaySent = 1
			c.finalGoAwayLocked()
		}
		c.mu.Unlock()
	}
	if d := c.cfg.KeepAlivePingDelay; d > 0 {
		sent := c.pingSent.Load()
		switch {
		case heartbeat.Passed(now, sent, c.cfg.KeepAlivePingTimeout):
			c.opts.Info.End(metrics.KeepAliveTimeout)
			c.Abort()
			return
		case sent == 0 && now-c.lastRead.Load() > int64(d):
			c.mu.Lock()
			if c.settingsSent { // no frame before the server's SETTINGS
				c.pingSent.Store(now)
				c.wfr.WritePing(false, keepAlivePing)
				c.flushLocked(true)
			}
			c.mu.Unlock()
		}
	}
	switch c.shutdownTick.Load() {
	case 1:
		// No PING came back within a heartbeat: name the last stream now.
		c.shutdownTick.Store(3)
	case 3:
		c.mu.Lock()
		c.finalGoAwayLocked()
		c.mu.Unlock()
	case shutdownBeforePreface:
		c.shutdownTick.CompareAndSwap(shutdownBeforePreface, shutdownPrefaceLate)
	case shutdownPrefaceLate:
		// Still no preface: the reader ends the connection (finished).
		if c.shutdownTick.CompareAndSwap(shutdownPrefaceLate, shutdownNoPreface) {
			c.in.wake()
		}
	}
	if idle := c.idleSince.Load(); idle != 0 && !c.parked.Load() && now-idle >= int64(heartbeat.Interval) {
		// Idle for a heartbeat: the reader parks the connection. One
		// that cannot be parked (TLS, connection middleware, no parker)
		// is woken once for the idle period, for its reader to drop the
		// buffer the framer grew, not at every tick.
		canPark := c.cfg.Parker != nil && c.in.idler.RawConn() != nil
		if (canPark || !c.trimAsked.Swap(true)) && c.parkAsked.CompareAndSwap(false, true) {
			c.in.wake()
		}
	}
	if c.writeRate.WriteOverdue(now, c.bytesAcked) {
		c.opts.Info.End(metrics.MinResponseDataRate)
		logevents.ResponseMinimumDataRateNotSatisfied(c.logger(), c.opts.Info.ID, "")
		c.Abort()
		return
	}
	c.mu.Lock()
	for _, st := range c.streams {
		st.tick(now)
	}
	if o := &c.out; !o.writing && len(o.buf) == 0 && (o.buf != nil || o.spare != nil) {
		// Nothing queued: a connection whose streams stay open (a
		// WebSocket, a gRPC stream) does not keep the queue's buffers,
		// grown up to twice MaxOutput, while it is quiet; the next
		// write takes one from the pool again, at most once a tick.
		o.release()
	}
	c.mu.Unlock()
}

var keepAlivePing = [8]byte{'k', 'e', 'e', 'p', 'a', 'l', 'v', 'e'}

// setState tells OnState of a change of the connection's state. The
// reader and, for StateIdle, the goroutine of the last stream to end call
// it: stateMu orders them, and an idle state that a new stream overtook
// is not told.
func (c *Conn) setState(st http.ConnState) {
	if c.opts.OnState == nil {
		return
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if st == http.StateIdle && c.idleSince.Load() == 0 {
		return // streams opened meanwhile
	}
	if c.state != st {
		c.state = st
		c.opts.OnState(c.opts.Accepted, st)
	}
}

// writeSlack is a write's slack over the minimum response data rate.
const writeSlack = heartbeat.Interval
