// Package http1 is the HTTP/1.1 engine (RFC 9112): the request-head parser,
// request bodies, response framing and the connection's state machine with
// keep-alive and pipelining.
package http1

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/bufpool"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// Config is what every HTTP/1.x connection of a server shares. It must not
// change once connections are served.
type Config struct {
	// App is the application layer's configuration: the handler, the
	// logger, the Date header, the body size limit.
	App *app.Config

	MaxRequestLineSize         int
	MaxRequestHeadersTotalSize int
	MaxRequestHeaderCount      int
	KeepAliveTimeout           time.Duration
	RequestHeadersTimeout      time.Duration // < 0: none

	// Minimum data rates; the zero Rate is off.
	MinRequestBodyRate app.Rate
	MinResponseRate    app.Rate

	// Upgrades counts upgraded (and hijacked) connections against
	// MaxConcurrentUpgradedConnections; nil means no limit.
	Upgrades *transport.Counter

	// Upgraded, if set, is told about every connection taken over by a
	// handler, so the server can wait for it at shutdown.
	Upgraded func(*UpgradedConn)

	// Parker, if set, holds long-idle connections without a goroutine.
	Parker *transport.Parker

	// Released estimates the bytes that became garbage since the server
	// last looked: the stacks of the goroutines that long-idle and closed
	// connections left, and large head buffers given back. The server
	// reads and resets it, to return memory after a burst.
	Released atomic.Int64

	// SentFile counts the response bytes sent with sendfile, without
	// passing through user space.
	SentFile atomic.Int64

	// NoKeepAlives, if set and true, closes every connection after its
	// response (http.Server.SetKeepAlivesEnabled(false)).
	NoKeepAlives *atomic.Bool

	// OnState, if set, is told of the connection's state changes, with
	// net/http's states (http.Server.ConnState).
	OnState func(net.Conn, http.ConnState)

	readPool     *bufpool.Pool // small read buffers
	headPool     *bufpool.Pool // large enough for the largest allowed head
	writePool    *bufpool.Pool
	exchangePool sync.Pool
	initOnce     sync.Once
}

const (
	readBufferSize  = 4096
	writeBufferSize = 4096
	// maxDrain is how much of an unread request body is read and dropped
	// to keep the connection; a larger rest closes it instead.
	maxDrain = 256 << 10
)

func (cfg *Config) init() {
	cfg.initOnce.Do(func() {
		cfg.readPool = bufpool.New(readBufferSize)
		// A head that does not fit a small buffer moves to one that can hold
		// the largest allowed head plus room for the start of its body.
		cfg.headPool = bufpool.New(cfg.MaxRequestLineSize + cfg.MaxRequestHeadersTotalSize + readBufferSize)
		cfg.writePool = bufpool.New(writeBufferSize)
		if cfg.App.BaseContext == nil {
			cfg.App.BaseContext = context.Background()
		}
	})
}

// The phases of a connection, as the heartbeat sees them.
const (
	phaseNone      int32 = iota // nothing to time (a handler runs)
	phaseKeepAlive              // idle between requests
	phaseHeaders                // a request head is arriving
	phaseTimedOut               // the heartbeat found the deadline passed
	phaseClosed                 // closed by Shutdown while idle
	phaseMigrating              // idle, asked by the heartbeat to move to a fresh goroutine
	phaseParked                 // idle without a goroutine, in the parker
)

// migrateAfter is how long a connection stays idle on the goroutine that
// served its last request before it moves to a fresh one: a goroutine's
// stack grows while it serves and never shrinks back to the minimum, so a
// long-idle connection is cheaper on a new goroutine.
const migrateAfter = int64(heartbeat.Interval)

// Conn is one HTTP/1.x connection. It holds no buffer while idle.
type Conn struct {
	cfg  *Config
	nc   net.Conn
	idle transport.IdleReader
	p    parser
	done func() // called once when the connection ends

	tickMu    sync.Mutex // orders the heartbeat's deadline changes with the reader's
	idleSince atomic.Int64
	fresh     atomic.Bool  // the serving goroutine has served nothing yet
	started   atomic.Int64 // Unix nanoseconds when Serve began

	phase    atomic.Int32
	deadline atomic.Int64 // Unix nanoseconds, on the heartbeat's clock
	draining *atomic.Bool // the server is shutting down
	retired  atomic.Bool  // past MaxConnectionAge: the next response is the last
	slot     *transport.Slot
	ctx      context.Context // the parent of request contexts; nil: the Config's
	accepted net.Conn        // for OnState
	info     *app.ConnInfo
	seq      atomic.Uint32 // the number of the request in flight, for logs
	http2    func(net.Conn, []byte)
	state    http.ConnState // the last state told to OnState

	remote   string
	tlsState *tls.ConnectionState // the TLS connection's, once a request asked; shared by its requests

	// Held only while a request is in flight.
	ex           *exchange
	rbuf         *[]byte
	rpos, rend   int
	wbuf         *[]byte
	wlen         int
	werr         error
	served       int // requests served on this connection
	hijacked     bool
	closeAfter   bool
	linger       bool                               // close gracefully: a rejected request may have unread bytes
	lingerUnread bool                               // close gracefully if input is left unread (closing after a response)
	earlier      int                                // while a handler runs: leading bytes of the output that are earlier requests' finished responses, unsent
	ended        bool                               // EndResponse ran for the request in flight
	drainingBody bool                               // reading the rest of a body the handler did not read
	reqCtx       atomic.Pointer[app.RequestContext] // of the http.Handler request in flight

	// Noticing that the client went away while a handler runs: the TCP
	// socket under any TLS, and, on Linux, a watch in the parker's epoll
	// set, armed once the handler asks for its context's Done channel and
	// the request body has been read.
	sock       syscall.RawConn
	interested atomic.Bool // the handler waits on its request context
	bodyDone   atomic.Bool // the request body has been read
	watching   atomic.Bool
	watchMu    sync.Mutex
	onInterest func()
	onGone     func()

	bodyRate  app.RateTimer // the request body, while the handler waits for it
	writeRate app.RateTimer // writes, while they wait for the client

	// The responses to pipelined requests wait in the output buffer to
	// share a write with those after them, but not for a slow handler:
	// held is how many leading bytes of the buffer are finished responses
	// while a handler runs (heldSending once the heartbeat's goroutine
	// sends them, holding heldMu), heldAt when that handler started.
	held    atomic.Int32
	heldAt  atomic.Int64
	heldMu  sync.Mutex
	heldN   int   // the bytes the heartbeat's goroutine sent
	heldErr error // its write's error
}

// heldSending marks held bytes that the heartbeat's goroutine sends.
const heldSending = -1

// ConnOptions are a connection's ties to its server.
type ConnOptions struct {
	// Draining, when it becomes true, tells the connection to finish the
	// request in flight and close.
	Draining *atomic.Bool

	// Slot, if not nil, is released when the connection is upgraded, so
	// that it no longer counts against the connection limit.
	Slot *transport.Slot

	// Done, if not nil, is called once when the connection has ended, on
	// whichever goroutine serves it last: a connection that stays idle
	// moves to a fresh goroutine (so that the large stack of the one that
	// served its last request is freed), and Serve may return before the
	// connection ends.
	Done func()

	// Context is the parent of the connection's request contexts; nil
	// means the Config's BaseContext.
	Context context.Context

	// Accepted is the connection as accepted (before TLS), which
	// Config.OnState is given.
	Accepted net.Conn

	// Info is the connection's id and end reason, for logs and metrics.
	Info *app.ConnInfo

	// HTTP2, if set, takes over a connection that opens with the HTTP/2
	// connection preface (h2c with prior knowledge), with the bytes read so
	// far: it serves the connection on the calling goroutine, or hands it
	// on, and the Conn is done with it (its Done is not called). Without
	// it such a connection is answered GOAWAY (HTTP_1_1_REQUIRED).
	HTTP2 func(nc net.Conn, buffered []byte)

	// Buffered are bytes already read from the connection (past a PROXY
	// header), served before any read from it.
	Buffered []byte
}

// NewConn returns a connection ready to Serve.
func NewConn(cfg *Config, nc net.Conn, o ConnOptions) *Conn {
	cfg.init()
	if o.Draining == nil {
		o.Draining = new(atomic.Bool)
	}
	if o.Accepted == nil {
		o.Accepted = nc
	}
	if o.Info == nil {
		o.Info = &app.ConnInfo{}
	}
	c := &Conn{cfg: cfg, nc: nc, draining: o.Draining, slot: o.Slot, done: o.Done, ctx: o.Context, accepted: o.Accepted, http2: o.HTTP2, info: o.Info}
	c.idle.Init(nc)
	c.sock = transport.RawConnOf(nc)
	if n := len(o.Buffered); n > 0 {
		pool := cfg.readPool
		if n > pool.Size() {
			pool = cfg.headPool
		}
		c.rbuf = pool.Get() // a PROXY header's read fits a read buffer
		c.rend = copy(*c.rbuf, o.Buffered)
	}
	c.p = parser{
		maxLine:    cfg.MaxRequestLineSize,
		maxHeaders: cfg.MaxRequestHeadersTotalSize + 2, // the empty line that ends the head is not counted, as in Kestrel
		maxCount:   cfg.MaxRequestHeaderCount,
	}
	return c
}

// NetConn is the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// RemoteAddr is the peer's address as a string, computed once.
func (c *Conn) RemoteAddr() string {
	if c.remote == "" {
		if a := c.nc.RemoteAddr(); a != nil {
			c.remote = a.String()
		}
	}
	return c.remote
}

// Serve serves requests until the connection closes, fails, times out or is
// hijacked, then closes it (unless it was hijacked) and calls done. It may
// return earlier, leaving the connection to a fresh goroutine.
func (c *Conn) Serve() {
	c.started.Store(time.Now().UnixNano())
	c.fresh.Store(true)
	c.run(false)
}

// Outcomes of readHead.
const (
	headRead     = iota // a request head is ready
	headClose           // the connection is to be closed
	headMigrated        // a fresh goroutine took the connection over
	headHTTP2           // the HTTP/2 preface: the connection goes to HTTP2
)

// run serves the connection; resume continues an idle wait that another
// goroutine began.
func (c *Conn) run(resume bool) {
	for {
		switch c.readHead(resume) {
		case headMigrated:
			return
		case headClose:
			c.end()
			return
		case headHTTP2:
			c.toHTTP2()
			return
		}
		resume = false
		if !c.serveRequest() {
			c.end()
			return
		}
	}
}

// toHTTP2 hands the connection, with the bytes read so far, to the HTTP/2
// engine (h2c with prior knowledge), which then owns it and ends it.
func (c *Conn) toHTTP2() {
	buffered := append([]byte(nil), (*c.rbuf)[c.rpos:c.rend]...)
	c.releaseRead()
	c.releaseWrite()
	c.setPhase(phaseNone, 0)
	c.phase.Store(phaseClosed)
	c.http2(c.nc, buffered)
}

// abortOutput ends the output of a connection whose handler panicked
// once its response had started, or aborted it (http.ErrAbortHandler):
// the finished responses to earlier pipelined requests that wait in the
// buffer to share a write go out (the aborted response's bytes behind
// them do not), and the close is graceful if the client's next bytes are
// left unread, so that its reset cannot destroy those responses in the
// client's receive buffer.
func (c *Conn) abortOutput() {
	if c.earlier > 0 && c.werr == nil {
		c.wlen = c.earlier
		c.flush()
	}
	c.earlier = 0
	c.lingerUnread = true
}

// end releases what the connection holds and closes it.
func (c *Conn) end() {
	// Closing after a response while the client's next bytes (pipelined
	// requests, a body not read) are left unread would reset the
	// connection, and the reset can destroy the responses not yet read
	// from the client's receive buffer: the close is graceful then (RFC
	// 9112, 9.6), as nginx's when pipelined bytes are pending.
	linger := c.linger || c.lingerUnread && !c.hijacked && (c.rpos < c.rend || inputPending(c.sock))
	c.releaseRead()
	c.releaseWrite()
	if !c.hijacked {
		// Kestrel's, as its HTTP/1.x output ends (a connection taken
		// over by its handler is the handler's to close).
		logevents.ConnectionDisconnect(c.cfg.App.Logger, c.info.ID)
		if linger {
			c.lingeringClose()
		}
		c.nc.Close()
		c.setState(http.StateClosed)
	}
	c.phase.Store(phaseClosed)
	c.cfg.Released.Add(stackEstimate)
	if c.done != nil {
		c.done()
	}
}

// stackEstimate is what a goroutine that served requests leaves behind:
// its stack grew while serving (8 KiB is typical) and is garbage once it
// ends.
const stackEstimate = 8 << 10

// setPhase enters a timed phase (or phaseNone) and reports false when the
// phase being left had timed out.
func (c *Conn) setPhase(ph int32, timeout time.Duration) bool {
	if timeout > 0 {
		c.deadline.Store(heartbeat.Deadline(c.cfg.App.Heartbeat.Now(), timeout))
	} else {
		c.deadline.Store(math.MaxInt64)
	}
	old := c.phase.Swap(ph)
	if old == phaseTimedOut || old == phaseMigrating {
		// The heartbeat fired as the phase ended; its read deadline must
		// not cut the next phase short. Its lock orders this after the
		// heartbeat's SetReadDeadline.
		c.tickMu.Lock()
		c.nc.SetReadDeadline(time.Time{})
		c.tickMu.Unlock()
		return old != phaseTimedOut
	}
	return true
}

// Tick is called by the heartbeat with its clock. It times out the
// connection when the deadline of its phase has passed, waking the reader
// with a read deadline in the past.
func (c *Conn) Tick(now int64) {
	ph := c.phase.Load()
	if (ph == phaseKeepAlive || ph == phaseHeaders) && now > c.deadline.Load() {
		c.tickMu.Lock()
		if c.phase.CompareAndSwap(ph, phaseTimedOut) {
			c.nc.SetReadDeadline(aLongTimeAgo)
		}
		c.tickMu.Unlock()
	} else if ph == phaseParked && now > c.deadline.Load() {
		if c.unpark(phaseTimedOut) {
			c.nc.SetReadDeadline(aLongTimeAgo)
			go c.run(true)
		}
	} else if ph == phaseKeepAlive && !c.fresh.Load() && now-c.idleSince.Load() >= migrateAfter {
		c.tickMu.Lock()
		if c.phase.CompareAndSwap(ph, phaseMigrating) {
			c.nc.SetReadDeadline(aLongTimeAgo)
		}
		c.tickMu.Unlock()
	}
	if ph == phaseNone {
		c.sendHeld(now)
	}
	if c.bodyRate.Tick(heartbeat.Interval) {
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
	if c.writeRate.WriteOverdue(now, c.bytesAcked) {
		c.info.End(metrics.MinResponseDataRate)
		logevents.ResponseMinimumDataRateNotSatisfied(c.cfg.App.Logger, c.info.ID, c.requestID())
		c.Abort()
	}
	if ph == phaseNone && !c.watching.Load() && c.reqCtx.Load() != nil && peerClosed(c.sock) {
		if ctx := c.reqCtx.Load(); ctx != nil {
			ctx.Abort()
		}
	}
}

// hold marks the output buffered so far, finished responses to earlier
// pipelined requests, as held while the handler of the next one runs.
func (c *Conn) hold() {
	if c.wlen > 0 {
		c.heldAt.Store(c.cfg.App.Heartbeat.Now())
		c.held.Store(int32(c.wlen))
	}
}

// sendHeld is the heartbeat's: a handler that has run since an earlier
// tick keeps finished responses waiting in the output buffer, which are
// sent on a goroutine of their own (the write may wait for the client).
func (c *Conn) sendHeld(now int64) {
	h := c.held.Load()
	if h <= 0 || c.heldAt.Load() >= now || !c.heldMu.TryLock() {
		return
	}
	if !c.held.CompareAndSwap(h, heldSending) {
		c.heldMu.Unlock()
		return
	}
	// The handler's goroutine appends after the held bytes and waits in
	// unhold for heldMu before it writes or moves them.
	buf := (*c.wbuf)[:h]
	go func() {
		defer c.heldMu.Unlock()
		c.writeRate.StartWrite(c.cfg.App.Heartbeat.Now(), len(buf), heartbeat.Interval)
		_, err := c.nc.Write(buf)
		c.writeRate.Wait(false)
		if err != nil && c.writeRate.TimedOut() {
			err = errResponseTooSlow
		}
		c.heldN, c.heldErr = len(buf), err
	}()
}

// unhold takes the held bytes back before the output is written or the
// handler ends: still held, they go with the rest; sent by the heartbeat,
// they leave the buffer.
func (c *Conn) unhold() {
	h := c.held.Load()
	if h == 0 || h > 0 && c.held.CompareAndSwap(h, 0) {
		return
	}
	c.heldMu.Lock()
	c.wlen = copy(*c.wbuf, (*c.wbuf)[c.heldN:c.wlen])
	c.earlier = 0 // the held bytes were those
	if c.heldErr != nil && c.werr == nil {
		c.werr = c.heldErr
		if errors.Is(c.werr, syscall.ECONNRESET) || errors.Is(c.werr, syscall.EPIPE) {
			c.info.End(metrics.ConnectionReset) // as endWrite counts it
		}
	}
	c.heldErr = nil
	c.held.Store(0)
	c.heldMu.Unlock()
}

// newConnGrace is how long a new connection may take to send its first
// request once Shutdown (or a reload or restart draining its endpoint)
// wants it closed: its client may have sent the request as the connection
// was accepted, and would lose it to the close. net/http's Shutdown waits
// 5 s for such connections; Kestrel closes them at once.
const newConnGrace = int64(time.Second)

// CloseIfIdle closes the connection if it waits for a next request, and
// reports whether it did. Shutdown calls it. A new connection still waiting
// for its first request is left newConnGrace to send it.
func (c *Conn) CloseIfIdle() bool {
	if c.seq.Load() == 0 && time.Now().UnixNano()-c.started.Load() < newConnGrace {
		return false
	}
	if c.phase.CompareAndSwap(phaseKeepAlive, phaseClosed) {
		c.nc.Close()
		return true
	}
	if c.unpark(phaseClosed) {
		c.nc.Close()
		go c.run(true) // to end the connection
		return true
	}
	return c.phase.Load() == phaseClosed
}

// Retire makes the connection's next response its last (Connection:
// close): it has reached the server's MaxConnectionAge. A request in
// flight completes; an upgraded connection is not cut. A connection that
// has waited for a request since before the heartbeat's last tick (a
// second at least) is closed now; one idle for less is left for its next
// request, which its client may be sending (the heartbeat calls Retire
// again at its next tick). idleSince is on the heartbeat's clock: the
// tick before the wait began, so a second tick has passed since.
func (c *Conn) Retire() {
	c.retired.Store(true)
	// The phase first: idleSince is stored before the phase turns idle,
	// so it is then this wait's. Read alone, it may be an earlier wait's
	// while the connection turns idle after a response that promised
	// keep-alive, which would be closed at once. A response that starts
	// from here on says Connection: close.
	if ph := c.phase.Load(); ph != phaseKeepAlive && ph != phaseParked {
		return
	}
	if c.cfg.App.Heartbeat.Now()-c.idleSince.Load() > int64(heartbeat.Interval)*3/2 {
		c.CloseIfIdle()
	}
}

// closing reports whether the connection is to end after the request in
// flight: the server is shutting down, or the connection is retired.
func (c *Conn) closing() bool { return c.draining.Load() || c.retired.Load() }

// unpark takes a parked connection out of the parker, entering phase ph,
// and reports whether it did; the caller then resumes it on a goroutine.
func (c *Conn) unpark(ph int32) bool {
	if !c.phase.CompareAndSwap(phaseParked, ph) {
		return false
	}
	c.cfg.Parker.Unpark(c.idle.RawConn())
	return true
}

// wake is the parker's: the parked connection became readable.
func (c *Conn) wake() {
	if c.phase.CompareAndSwap(phaseParked, phaseKeepAlive) {
		go c.run(true)
	}
}

// Abort closes the connection at once, with a reset rather than an
// orderly close, so that unsent response bytes are dropped rather than
// kept in the kernel for a client that does not read them.
func (c *Conn) Abort() {
	transport.SetLingerZero(c.nc)
	parked := c.unpark(phaseClosed)
	c.nc.Close()
	if parked {
		go c.run(true) // to end the connection
	}
	// The handler's request context ends with its connection (Kestrel's
	// RequestAborted), so a handler waiting on it returns.
	if ctx := c.reqCtx.Load(); ctx != nil {
		ctx.Abort()
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// bytesAcked is how many bytes the client has acknowledged on the
// connection, or -1 if unknown; see app.RateTimer.WriteOverdue.
func (c *Conn) bytesAcked() int64 { return transport.BytesAcked(c.sock) }

// requestID is the id of the request in flight, for the logs.
func (c *Conn) requestID() string {
	if c.info.ID == "" {
		return ""
	}
	return logevents.RequestID(c.info.ID, c.seq.Load())
}

// setState tells Config.OnState of a change of the connection's state.
func (c *Conn) setState(st http.ConnState) {
	if c.cfg.OnState != nil && c.state != st {
		c.state = st
		c.cfg.OnState(c.accepted, st)
	}
}

// setRequestContext records the context of the http.Handler request in
// flight (nil when it ends). The heartbeat aborts it when it finds the
// client gone; on Linux the parker notices at once, once the handler
// waits on the context and the body has been read (until then, the body's
// own reads see the close).
func (c *Conn) setRequestContext(ctx *app.RequestContext) {
	c.reqCtx.Store(ctx)
	if c.cfg.Parker == nil || c.sock == nil {
		return
	}
	if ctx == nil {
		c.interested.Store(false)
		c.watchMu.Lock()
		if c.watching.Swap(false) {
			c.cfg.Parker.Unpark(c.sock)
		}
		c.watchMu.Unlock()
		return
	}
	if c.onInterest == nil {
		c.onInterest = func() {
			c.interested.Store(true)
			if c.bodyDone.Load() {
				c.watchGone()
			}
		}
		c.onGone = func() {
			if ctx := c.reqCtx.Load(); ctx != nil {
				ctx.Abort()
			}
		}
	}
	ctx.OnInterest(c.onInterest)
}

// watchGone starts watching for the client's close, once per request.
func (c *Conn) watchGone() {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if c.reqCtx.Load() == nil || c.watching.Load() {
		return
	}
	if c.cfg.Parker.Watch(c.sock, c.onGone) == nil {
		c.watching.Store(true)
	}
}

// bodyEnded is told by the body when it has been read to its end.
func (c *Conn) bodyEnded() {
	c.bodyDone.Store(true)
	if c.interested.Load() {
		c.watchGone()
	}
}

// readHead reads until a request head is complete, answering the request
// when it is rejected. resume continues an idle wait that another goroutine
// began.
func (c *Conn) readHead(resume bool) int {
	p := &c.p
	if resume || c.rpos == c.rend {
		if r := c.awaitRequest(resume); r != headRead {
			return r
		}
	} else {
		if c.draining.Load() && c.served > 0 {
			// Shutting down: a pipelined request that was read with
			// the one before it is not started (its client must be
			// ready to send it again, RFC 9112, 9.3.2). A retired
			// connection serves it, with Connection: close, as nginx's
			// keepalive_time: it has arrived, and nothing hurries.
			// The response before it, waiting in the buffer to share
			// a write with the next, goes out first.
			c.flush()
			c.lingerUnread = true
			return headClose
		}
		c.setPhase(phaseHeaders, c.cfg.RequestHeadersTimeout)
	}
	c.setState(http.StateActive)
	if c.served == 0 {
		// The first bytes may arrive one by one: what can still become a
		// TLS record header is read on until it is one or is not.
		for c.rend-c.rpos < 3 && tlsRecordPrefix((*c.rbuf)[c.rpos:c.rend]) {
			if err := c.fill(); err != nil {
				if c.phase.Load() == phaseTimedOut {
					c.reject(errHeadersTimeout)
				} else {
					c.logReadError(err)
				}
				return headClose
			}
		}
		if b := (*c.rbuf)[c.rpos:c.rend]; len(b) >= 3 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4 {
			// A TLS ClientHello: no HTTP answer would mean anything to it.
			c.info.End(metrics.TLSNotSupported)
			logevents.PossibleInvalidHTTPVersionDetected(c.cfg.App.Logger, c.info.ID, "HTTP/1.x", "a TLS handshake (use https:// for this client, or configure HTTPS on this endpoint)")
			return headClose
		}
	}
	h, x := c.takeHead()
	p.reset(h, x, c.served == 0)
	for {
		done, err := p.parse((*c.rbuf)[c.rpos:c.rend])
		if err == errHTTP2Preface && c.http2 != nil {
			return headHTTP2
		}
		if err != nil {
			c.reject(err)
			return headClose
		}
		if done {
			c.setPhase(phaseNone, 0)
			return headRead
		}
		if err := c.fill(); err != nil {
			if c.phase.Load() == phaseTimedOut {
				c.reject(errHeadersTimeout)
			} else if c.rend > c.rpos {
				c.logReadError(err)
			}
			return headClose
		}
	}
}

// tlsRecordPrefix reports whether b, fewer than 3 bytes, can begin a TLS
// handshake record (0x16, then major version 3).
func tlsRecordPrefix(b []byte) bool {
	return len(b) > 0 && b[0] == 0x16 && (len(b) < 2 || b[1] == 3)
}

// awaitRequest waits, holding no buffer, for the first bytes of the next
// request. resume skips the preparation, done by the goroutine that began
// the wait.
func (c *Conn) awaitRequest(resume bool) int {
	if !resume {
		// Idle: give the buffers back and wait for the next request.
		if !c.flush() {
			return headClose
		}
		c.releaseRead()
		c.releaseWrite()
		// Draining: a connection that served a request closes; a new one
		// still reads its first (Shutdown closes it if it stays idle). A
		// retired one is not closed here: its last response, which went
		// out before it was retired, let its client keep it, and the
		// client may be sending its next request, answered with
		// Connection: close (Retire closes it once idle a second).
		if c.draining.Load() && c.served > 0 {
			return headClose
		}
		if c.served > 0 {
			c.fresh.Store(false)
			c.setState(http.StateIdle)
		}
		c.idleSince.Store(c.cfg.App.Heartbeat.Now())
		c.setPhase(phaseKeepAlive, c.cfg.KeepAliveTimeout)
		if c.draining.Load() && c.served > 0 { // Shutdown may have missed this connection
			return headClose
		}
	}
	buf, n, err := c.idle.Read(c.cfg.readPool)
	if err != nil && c.phase.CompareAndSwap(phaseMigrating, phaseKeepAlive) {
		// Long idle: wait on a fresh goroutine with a small stack.
		c.tickMu.Lock()
		c.nc.SetReadDeadline(time.Time{})
		c.tickMu.Unlock()
		c.fresh.Store(true)
		c.cfg.Released.Add(stackEstimate)
		if pk, rc := c.cfg.Parker, c.idle.RawConn(); pk != nil && rc != nil {
			// No goroutine at all until the socket is readable.
			c.phase.Store(phaseParked)
			if pk.Park(rc, c.wake) == nil || !c.phase.CompareAndSwap(phaseParked, phaseKeepAlive) {
				return headMigrated // parked, or taken out again by the heartbeat or Shutdown
			}
		}
		go c.run(true)
		return headMigrated
	}
	if !c.setPhase(phaseHeaders, c.cfg.RequestHeadersTimeout) && err != nil {
		c.info.End(metrics.KeepAliveTimeout)
		return headClose
	}
	if err != nil {
		c.logReadError(err)
		return headClose
	}
	c.rbuf, c.rpos, c.rend = buf, 0, n
	return headRead
}

// takeHead returns the parsed-head storage of the pooled exchange that will
// serve the request.
func (c *Conn) takeHead() (*app.Head, *headFlags) {
	if c.ex == nil {
		c.ex = c.cfg.getExchange()
	}
	return &c.ex.Req, &c.ex.flags
}

// fill reads more bytes into the read buffer, making room first: unread
// bytes move to the front, and a full buffer is swapped for a large one.
// Pending responses are flushed before blocking.
func (c *Conn) fill() error {
	if !c.flush() {
		return c.werr
	}
	buf := *c.rbuf
	if c.rend == len(buf) {
		if c.rpos > 0 {
			copy(buf, buf[c.rpos:c.rend])
			c.rend -= c.rpos
			c.rpos = 0
		} else if len(buf) < c.cfg.headPool.Size() {
			big := c.cfg.headPool.Get()
			c.rend = copy(*big, buf[c.rpos:c.rend])
			c.rpos = 0
			c.cfg.putRead(c.rbuf)
			c.rbuf = big
		} else {
			return errHeadersTooLarge // unreachable: the parser's limits fit the buffer
		}
		buf = *c.rbuf
	}
	n, err := c.nc.Read(buf[c.rend:])
	c.rend += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (cfg *Config) putRead(b *[]byte) {
	if b == nil {
		return
	}
	if n := len(*b); n == cfg.readPool.Size() {
		cfg.readPool.Put(b)
	} else {
		cfg.Released.Add(int64(n)) // before Put: another connection may take b at once
		cfg.headPool.Put(b)
	}
}

func (c *Conn) releaseRead() {
	if c.rbuf != nil {
		c.cfg.putRead(c.rbuf)
		c.rbuf, c.rpos, c.rend = nil, 0, 0
	}
	if c.ex != nil {
		c.cfg.putExchange(c.ex)
		c.ex = nil
		// The parser points into the exchange: it would keep it, and
		// the buffers it grew, for the connection's idle life.
		c.p.h, c.p.x = nil, nil
	}
}

func (c *Conn) releaseWrite() {
	if c.wbuf != nil {
		c.cfg.writePool.Put(c.wbuf)
		c.wbuf, c.wlen = nil, 0
	}
}

// logReadError logs why a connection ended while reading, unless it simply
// closed.
func (c *Conn) logReadError(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	if errors.Is(err, syscall.ECONNRESET) {
		c.info.End(metrics.ConnectionReset)
	} else {
		c.info.End(metrics.IOError)
	}
	logevents.RequestProcessingError(c.cfg.App.Logger, c.info.ID, err)
}

// reject answers a request the parser refused and leaves the connection to
// be closed.
func (c *Conn) reject(err error) {
	var re *RequestError
	if !errors.As(err, &re) {
		c.logReadError(err)
		return
	}
	if re == errHTTP2Preface {
		c.info.End(metrics.InvalidHTTPVersion)
		logevents.PossibleInvalidHTTPVersionDetected(c.cfg.App.Logger, c.info.ID, "HTTP/1.x", "HTTP/2 (this endpoint's Protocols are Http1)")
		// The server's preface, an empty SETTINGS (its first frame must be
		// SETTINGS, RFC 9113, 3.4: clients refuse a GOAWAY before it), then
		// GOAWAY, last stream 0, error HTTP_1_1_REQUIRED (RFC 9113, 7).
		c.write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd})
		c.flush()
		// The client's frames after its preface may still arrive: a close
		// with them unread resets the connection, and the client may
		// lose the GOAWAY (Go's reported "client conn could not be
		// established" instead).
		c.linger = true
		return
	}
	c.info.End(re.End)
	logevents.ConnectionBadRequest(c.cfg.App.Logger, c.info.ID, re.Reason, re.Status)
	c.linger = re != errHeadersTimeout
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.writeStatusLine(re.Status)
	if re.Allow != "" {
		c.writeString("Allow: " + re.Allow + "\r\n")
	}
	c.writeString("Content-Length: 0\r\nConnection: close\r\n")
	c.writeCommonHeaders()
	c.writeString("\r\n")
	c.flush()
}

// lingeringClose closes gracefully: a rejected request (or one whose
// body was not read) may have unread bytes behind it, and the client must
// read the response before any reset (transport.LingeringClose).
func (c *Conn) lingeringClose() {
	if c.werr != nil {
		return
	}
	buf := c.cfg.headPool.Get()
	defer c.cfg.headPool.Put(buf)
	transport.LingeringClose(c.nc, transport.DefaultLinger, *buf)
}

// write appends p to the output, flushing when the buffer is full; large
// writes go straight to the connection.
func (c *Conn) write(p []byte) bool {
	if c.werr != nil {
		return false
	}
	if c.wbuf == nil {
		c.wbuf = c.cfg.writePool.Get()
	}
	buf := *c.wbuf
	if c.wlen+len(p) <= len(buf) {
		c.wlen += copy(buf[c.wlen:], p)
		return true
	}
	c.unhold()
	if c.werr != nil {
		return false
	}
	if len(p) < len(buf)/2 {
		n := copy(buf[c.wlen:], p)
		c.wlen += n
		if !c.flush() {
			return false
		}
		c.wlen = copy(buf, p[n:])
		return true
	}
	if c.wlen > 0 {
		n := c.wlen
		c.wlen, c.earlier = 0, 0
		c.startWrite(n + len(p))
		bufs := net.Buffers{buf[:n], p}
		_, c.werr = bufs.WriteTo(c.nc)
	} else {
		c.startWrite(len(p))
		_, c.werr = c.nc.Write(p)
	}
	c.endWrite()
	return c.werr == nil
}

// writeBoth is write(a) then write(b), in one system call when they do not
// fit the buffer (a handler's buffered bytes and its large write, such as
// the first bytes of a file and the rest).
func (c *Conn) writeBoth(a, b []byte) bool {
	if c.werr != nil {
		return false
	}
	if c.wbuf == nil {
		c.wbuf = c.cfg.writePool.Get()
	}
	buf := *c.wbuf
	if len(a) == 0 || len(b) == 0 || c.wlen+len(a)+len(b) <= len(buf) {
		return c.write(a) && c.write(b)
	}
	c.unhold()
	if c.werr != nil {
		return false
	}
	bufs := make(net.Buffers, 0, 3)
	if c.wlen > 0 {
		bufs = append(bufs, buf[:c.wlen])
	}
	bufs = append(bufs, a, b)
	n := c.wlen + len(a) + len(b)
	c.wlen, c.earlier = 0, 0
	c.startWrite(n)
	_, c.werr = bufs.WriteTo(c.nc)
	c.endWrite()
	return c.werr == nil
}

func (c *Conn) writeString(s string) bool {
	if c.werr != nil {
		return false
	}
	if c.wbuf == nil {
		c.wbuf = c.cfg.writePool.Get()
	}
	buf := *c.wbuf
	if c.wlen+len(s) <= len(buf) {
		c.wlen += copy(buf[c.wlen:], s)
		return true
	}
	for len(s) > 0 {
		if c.wlen == len(buf) && !c.flush() {
			return false
		}
		n := copy(buf[c.wlen:], s)
		c.wlen += n
		s = s[n:]
	}
	return true
}

// flush writes the buffered output and reports whether the connection can
// still be written to.
func (c *Conn) flush() bool {
	c.unhold()
	if c.werr != nil {
		return false
	}
	if c.wlen == 0 {
		return true
	}
	n := c.wlen
	c.wlen, c.earlier = 0, 0
	c.startWrite(n)
	_, c.werr = c.nc.Write((*c.wbuf)[:n])
	c.endWrite()
	if c.werr != nil {
		c.cfg.App.Logger.Debug("connection write failed", "remote", c.RemoteAddr(), "error", c.werr)
	}
	return c.werr == nil
}

// startWrite times a write of n bytes against the minimum response data
// rate.
func (c *Conn) startWrite(n int) {
	c.writeRate.StartWrite(c.cfg.App.Heartbeat.Now(), n, heartbeat.Interval)
}

func (c *Conn) endWrite() {
	c.writeRate.Wait(false)
	if c.werr != nil && c.writeRate.TimedOut() {
		c.werr = errResponseTooSlow
	} else if errors.Is(c.werr, syscall.ECONNRESET) || errors.Is(c.werr, syscall.EPIPE) {
		// The client reset the connection while the server wrote (the
		// server reads nothing meanwhile, so no read learns of it): as
		// Kestrel counts a send's reset, EPIPE included.
		c.info.End(metrics.ConnectionReset)
	}
	if c.werr != nil && c.werr != errFileShrank {
		// The connection cannot be written to any more: the handler's
		// context ends now, as net/http's does when a write fails, so a
		// handler that checks r.Context().Err() after a failed Write or
		// Flush learns that its client is gone (Kestrel's RequestAborted
		// fires as the failed write aborts the connection).
		if ctx := c.reqCtx.Load(); ctx != nil {
			ctx.Abort()
		}
	}
}

var errResponseTooSlow = errors.New("response data rate below the minimum")

// bodyRead reads request body bytes from the connection, timing the wait
// against the minimum request body data rate.
func (c *Conn) bodyRead(p []byte) (int, error) {
	if c.drainingBody {
		// The handler returned, and the server waits for the rest of
		// the body to keep the connection.
		c.ex.body.logUnread()
	}
	c.bodyRate.Wait(true)
	n, err := c.nc.Read(p)
	c.bodyRate.Wait(false)
	c.bodyRate.Count(n)
	if err != nil && c.bodyRate.TimedOut() {
		logevents.RequestBodyMinimumDataRateNotSatisfied(c.cfg.App.Logger, c.info.ID, c.requestID(), c.bodyRate.BytesPerSecond())
		return n, errBodyTimeout
	}
	return n, err
}

// statusLines holds "HTTP/1.1 code reason\r\n" for the codes with a reason
// phrase, built once, so a response's status line costs a copy.
var statusLines = func() (t [600]string) {
	for code := 100; code < len(t); code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return t
}()

// writeStatusLine writes "HTTP/1.1 code reason\r\n". The version is the
// server's, whatever the request's (RFC 9110, section 6.2).
func (c *Conn) writeStatusLine(code int) {
	if code >= 0 && code < len(statusLines) && statusLines[code] != "" {
		c.writeString(statusLines[code])
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	c.writeString("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n")
}

// writeInt writes n in the given base straight into the output buffer.
func (c *Conn) writeInt(n int64, base int) {
	if c.wbuf == nil {
		c.wbuf = c.cfg.writePool.Get()
	}
	if len(*c.wbuf)-c.wlen < 24 && !c.flush() {
		return
	}
	b := strconv.AppendInt((*c.wbuf)[c.wlen:c.wlen], n, base)
	c.wlen += len(b)
}

// writeCommonHeaders writes the Date and Server headers.
func (c *Conn) writeCommonHeaders() {
	c.write(c.cfg.App.Heartbeat.DateLine())
	if c.cfg.App.ServerHeader {
		c.writeString("Server: Kestrel\r\n")
	}
}

// writeHeaderLine writes "name: value\r\n", with control bytes in the
// value (httpsyntax.SanitizeValue) replaced by spaces; a name that is not
// a token is dropped.
func (c *Conn) writeHeaderLine(name, value string) {
	if !httpsyntax.ValidToken(name) {
		return
	}
	c.writeString(name)
	c.writeString(": ")
	c.writeString(httpsyntax.SanitizeValue(value))
	c.writeString("\r\n")
}
