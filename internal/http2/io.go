package http2

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/transport"
)

// inbound is what the framer reads from: the connection through a pooled
// buffer that is given back whenever the connection has nothing in
// flight, so an idle connection holds none.
type inbound struct {
	c        *Conn
	idler    transport.IdleReader
	buf      *[]byte
	r, w     int
	pre      []byte // bytes read before the connection was handed over
	idle     bool   // nothing in flight: an empty buffer may be given back
	boundary bool   // no byte of the next frame was read yet
	woken    atomic.Bool
}

func (in *inbound) init(c *Conn, pre []byte) {
	in.c = c
	in.idler.Init(c.nc)
	if len(pre) > 0 {
		in.pre = append([]byte(nil), pre...)
	}
}

var errWoken = errors.New("http2: reader woken")

// Read reads buffered bytes, filling the buffer when it is empty.
func (in *inbound) Read(p []byte) (int, error) {
	if len(in.pre) > 0 {
		n := copy(p, in.pre)
		in.pre = in.pre[n:]
		in.boundary = false
		if len(in.pre) == 0 {
			in.pre = nil
		}
		return n, nil
	}
	if in.r == in.w {
		if err := in.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*in.buf)[in.r:in.w])
	in.r += n
	in.boundary = false
	return n, nil
}

func (in *inbound) fill() error {
	c := in.c
	pool := c.cfg.readPool
	if in.buf != nil && (in.idle || len(*in.buf) != pool.Size()) {
		// Nothing in flight; or the small buffer of an idle wait, and
		// frames follow: they are read with a full one.
		in.release()
	}
	if in.idle && c.trimAsked.Load() && in.idler.RawConn() == nil {
		// Idle for a heartbeat, and the read holds its buffer while it
		// waits (TLS, connection middleware): a small one.
		pool = c.cfg.smallReadPool
	}
	for {
		var err error
		if in.buf == nil {
			var n int
			in.buf, n, err = in.idler.Read(pool)
			in.r, in.w = 0, n
		} else {
			var n int
			n, err = c.nc.Read(*in.buf)
			in.r, in.w = 0, n
			if n > 0 {
				err = nil
			}
		}
		if err == nil || !in.woken.Swap(false) {
			return err
		}
		// Woken by the server (a shutdown, a timeout, parking): the
		// connection ends if it has nothing in flight, or parks between
		// frames; otherwise the read goes on, so a frame being read is
		// never cut in two.
		c.nc.SetReadDeadline(time.Time{})
		if c.finished() {
			return errWoken
		}
		if c.parkAsked.Swap(false) && in.boundary && c.idleNow() {
			in.idle = true
			return errPark
		}
	}
}

// release gives the buffer back.
func (in *inbound) release() {
	if in.buf != nil {
		pool := in.c.cfg.readPool
		if len(*in.buf) != pool.Size() {
			pool = in.c.cfg.smallReadPool
		}
		pool.Put(in.buf)
		in.buf, in.r, in.w = nil, 0, 0
	}
}

// wake makes a blocked read return errWoken, so the reader looks at the
// connection's state again; once the connection has ended (its reader
// with it), it leaves alone the reads of its lingering close.
func (in *inbound) wake() {
	if in.c.out.done.Load() {
		return
	}
	in.woken.Store(true)
	in.c.nc.SetReadDeadline(aLongTimeAgo)
}

// abort makes the reader fail at once.
func (in *inbound) abort() { in.c.nc.SetReadDeadline(aLongTimeAgo) }

var aLongTimeAgo = time.Unix(1, 0)

// output queues the connection's frames. Whichever goroutine finds it
// idle writes what is queued, and goes on writing what others queue
// meanwhile, so frames of many streams leave in few system calls. Its
// methods are called with the connection's mu held.
type output struct {
	c       *Conn
	buf     []byte
	spare   []byte
	holders []*[]byte // the pool's slice headers, to give buffers back in without allocating
	writing bool
	done    atomic.Bool // the connection's last frame went out: nothing more is written, and the reader has ended
	err     error
	failed  atomic.Bool // err is set: read without mu
	cond    sync.Cond   // writing ended, or room was made

	// controls counts the control frames in buf (RST_STREAM, WINDOW_UPDATE,
	// PING and SETTINGS acknowledgements), which the reader queues without
	// waiting for room; flood is set once they pass maxQueuedControls.
	controls int
	flood    atomic.Bool
}

// maxQueuedControls bounds the control frames queued behind a write the
// client does not read (a flood of frames each answered with one), as
// net/http's server does (maxQueuedControlFrames): the reader then ends
// the connection (ENHANCE_YOUR_CALM).
const maxQueuedControls = 10000

// controlQueued counts a control frame just queued; mu is held.
func (o *output) controlQueued() {
	if o.controls++; o.controls > maxQueuedControls {
		o.flood.Store(true)
	}
}

func (o *output) init(c *Conn) {
	o.c = c
	o.cond.L = &c.mu
}

// Write queues p; the framer writes through it.
func (o *output) Write(p []byte) (int, error) {
	o.grow()
	o.buf = append(o.buf, p...)
	return len(p), nil
}

// grow takes a pooled buffer for a queue that has none.
func (o *output) grow() {
	if o.buf == nil {
		p := o.c.cfg.outPool.Get()
		o.buf = (*p)[:0]
		if len(o.holders) < 2 {
			o.holders = append(o.holders, p)
		}
	}
}

// release gives the buffers back to the pool, when the connection has no
// stream and nothing queued.
func (o *output) release() {
	pool := o.c.cfg.outPool
	for _, b := range [2][]byte{o.buf, o.spare} {
		if n := len(o.holders); cap(b) == pool.Size() && n > 0 {
			p := o.holders[n-1]
			// The slot beyond the length would keep p, and so the
			// buffer, reachable after the pool drops it.
			o.holders[n-1] = nil
			o.holders = o.holders[:n-1]
			*p = b[:cap(b)]
			pool.Put(p)
		}
	}
	for _, p := range o.holders {
		*p = nil // an idle connection holds no buffer
	}
	o.buf, o.spare = nil, nil
}

// queued is how many bytes wait to be written.
func (o *output) queued() int { return len(o.buf) }

// flushLocked writes the queued bytes unless another goroutine is already
// writing (it will write them). async hands the writing to a new goroutine,
// for the reader, which must never block on the client reading.
func (c *Conn) flushLocked(async bool) {
	o := &c.out
	if o.writing || len(o.buf) == 0 {
		return
	}
	if o.err != nil || c.closed || o.done.Load() {
		o.buf = o.buf[:0]
		o.controls = 0
		return
	}
	o.writing = true
	if async {
		go func() {
			c.mu.Lock()
			c.writeLoop()
			c.mu.Unlock()
		}()
		return
	}
	if c.running > 1 && len(o.buf) < c.cfg.MaxOutput {
		// Other handlers of the connection are running: give them a
		// moment to queue their frames, which then leave in the same
		// system call (many small responses of a busy connection).
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
	}
	c.writeLoop()
}

// writeLoop writes until the queue is empty; mu is held, and released
// around each write.
func (c *Conn) writeLoop() {
	o := &c.out
	for len(o.buf) > 0 && o.err == nil && !c.closed {
		b := o.buf
		o.controls = 0
		o.buf = o.spare[:0]
		if o.spare == nil {
			o.buf = nil
		}
		c.mu.Unlock()
		c.writeRate.StartWrite(c.now(), len(b), writeSlack)
		_, err := c.nc.Write(b)
		c.writeRate.Wait(false)
		c.mu.Lock()
		if cap(b) <= 2*c.cfg.MaxOutput {
			o.spare = b[:0]
		}
		if err != nil {
			o.err = err
			o.failed.Store(true)
		}
		o.cond.Broadcast()
	}
	o.writing = false
	if len(c.streams) == 0 {
		o.release() // an idle connection holds no output buffer
	}
	o.cond.Broadcast()
	if o.err != nil {
		// The client is gone or too slow: end the connection.
		for _, st := range c.streams {
			st.resetLocked(errConnReset, false)
		}
		c.in.abort()
	}
}

// waitRoom waits until the queue has room for more of a stream's data, or
// the write failed.
func (c *Conn) waitRoom() {
	o := &c.out
	for o.writing && len(o.buf) >= c.cfg.MaxOutput && o.err == nil && !c.closed {
		o.cond.Wait()
	}
	if len(o.buf) >= c.cfg.MaxOutput {
		c.flushLocked(false)
	}
}

// finish waits until queued bytes were written (or failed), and drops
// what is queued after: the connection's last frame went out. A frame a
// handler's goroutine queues as it returns (the WINDOW_UPDATE for a body
// it left unread) would be written after the half-close of a lingering
// close and fail, which aborts the lingering reads, and the reset of the
// close that follows can destroy the GOAWAY before the client reads it.
func (o *output) finish() {
	o.c.mu.Lock()
	for o.writing {
		o.cond.Wait()
	}
	o.done.Store(true)
	o.c.mu.Unlock()
}

// encWriter lets the HPACK encoder append to the connection's encoding
// buffer.
type encWriter struct{ c *Conn }

func (w encWriter) Write(p []byte) (int, error) {
	w.c.encBuf = append(w.c.encBuf, p...)
	return len(p), nil
}
