package http2

import (
	"errors"
	"time"
)

// Handlers that finish quickly run on the connection's reader goroutine.
//
// Handing each stream to another goroutine costs more than a small
// handler: the hand-off, the switch, and a write per stream where one per
// batch would do. So a request that arrives complete (END_STREAM on its
// headers: no body to wait for) is queued, and the reader runs the queue
// between frames, where its own state is consistent; the responses are
// queued too, and go out in one write once the reader has used up the
// bytes it read, before it waits for more.
//
// Go cannot preempt a handler, and one that blocks or runs long must not
// stall its connection's other streams, nor the flow-control frames its
// own writes may wait for. A watchdog timer is armed while the reader
// runs handlers or writes; when it fires (after inlineBudget), or when an
// inline handler is about to wait for the client (window, room in the
// output queue), a new goroutine takes over reading the connection, and
// the old one finishes the handler it runs, then ends. Queued streams
// not yet started are run by the new reader.

// inlineBudget is how long the reader may run handlers or write before
// another goroutine takes over reading.
const inlineBudget = time.Millisecond

// errDetached ends a reader goroutine whose connection another goroutine
// reads now.
var errDetached = errors.New("http2: another goroutine reads the connection")

// queueInline queues a stream whose request is complete, for the reader to
// run; mu is held.
func (c *Conn) queueInline(st *stream) {
	c.ready = append(c.ready, st)
}

// A request with a body is served the same way when the body ends in the
// bytes the reader holds (a gRPC unary call, a small form): admit keeps
// such a stream pending until the reader has parsed those bytes, and it
// goes to the queue if its END_STREAM came, or to a worker goroutine
// before the reader waits for the client.

// runPendingInline moves a pending stream whose request has now ended to
// the reader's queue; mu is held.
func (c *Conn) runPendingInline(st *stream) {
	st.pending = false
	for i, p := range c.pending {
		if p == st {
			n := copy(c.pending[i:], c.pending[i+1:]) + i
			c.pending[n] = nil
			c.pending = c.pending[:n]
			break
		}
	}
	c.queueInline(st)
}

// startPendingLocked hands the pending streams to worker goroutines; mu
// is held.
func (c *Conn) startPendingLocked() {
	for i, st := range c.pending {
		st.pending = false
		c.pending[i] = nil
		c.cfg.App.Workers.Go(st.run)
	}
	c.pending = c.pending[:0]
}

// runInline runs the queued handlers on the reader goroutine, then, when
// the reader has no unparsed bytes left, starts the pending streams'
// handlers on workers and writes what is queued. It returns errDetached
// when another goroutine took over reading meanwhile.
func (c *Conn) runInline() error {
	c.mu.Lock()
	if len(c.pending) > 0 && c.in.drained() {
		c.startPendingLocked()
	}
	if len(c.ready) == 0 && (c.out.queued() == 0 || c.out.writing || !c.in.drained()) {
		c.mu.Unlock()
		return nil
	}
	c.inline = true
	tok := c.readerTok
	c.mu.Unlock()
	c.armWatch()
	c.mu.Lock()
	for c.readerTok == tok && len(c.ready) > 0 {
		st := c.ready[0]
		n := copy(c.ready, c.ready[1:]) // a few pointers: the queue holds one read's requests
		c.ready[n] = nil
		c.ready = c.ready[:n]
		st.inline = true
		c.inlineSt = st
		c.mu.Unlock()
		c.runStream(st)
		c.mu.Lock()
	}
	if c.readerTok == tok && c.in.drained() && !c.out.writing && c.out.queued() > 0 && c.out.err == nil && !c.closed {
		c.out.writing = true
		c.writeLoop() // the watchdog takes over reading if the client does not read
	}
	lost := c.readerTok != tok
	if !lost {
		c.inline = false
	}
	c.mu.Unlock()
	if lost {
		return errDetached // the watchdog is the new reader's now
	}
	c.watch.Stop()
	return nil
}

// armWatch arms the watchdog for inlineBudget.
func (c *Conn) armWatch() {
	if c.watch == nil {
		c.watch = time.AfterFunc(time.Hour, c.inlineOverdue)
		c.watch.Stop()
	}
	c.watch.Reset(inlineBudget)
}

// inlineOverdue is the watchdog's: the reader has run handlers or written
// for too long.
func (c *Conn) inlineOverdue() {
	c.mu.Lock()
	c.detachLocked()
	c.mu.Unlock()
}

// detachLocked hands reading to a new goroutine if the reader is running
// handlers or writing; mu is held.
func (c *Conn) detachLocked() {
	if !c.inline {
		return
	}
	c.inline = false
	c.readerTok++
	if c.inlineSt != nil {
		c.inlineSt.inline = false // it flushes its own writes from now on
		c.inlineSt = nil
	}
	go c.takeOver()
}

// takeOver reads the connection in place of a reader that is stuck in a
// handler or a write.
func (c *Conn) takeOver() {
	err := c.readLoop()
	if err == errParked || err == errDetached {
		return
	}
	c.shutdown(err)
}

// blockingLocked is called by a stream's handler before it waits for the
// client: a handler the reader runs hands reading to a new goroutine
// first, since the reader is what would end the wait; mu is held.
func (st *stream) blockingLocked() {
	if st.inline {
		st.c.detachLocked()
	}
}

// drained reports whether the reader holds no whole frame it has not
// parsed: reading the next frame may wait for the client.
func (in *inbound) drained() bool {
	if len(in.pre) > 0 {
		return false
	}
	n := in.w - in.r
	if n < 9 {
		return true
	}
	b := (*in.buf)[in.r:]
	return n < 9+(int(b[0])<<16|int(b[1])<<8|int(b[2]))
}
