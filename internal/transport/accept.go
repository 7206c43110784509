// Package transport accepts connections from listeners and counts them; it
// also waits for a connection to become readable without holding a buffer.
package transport

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// Counter counts connections against an optional maximum, which the
// counters made by its Sibling method share. Its zero value counts without
// a limit.
type Counter struct {
	max     *atomic.Int64 // <= 0: unlimited; NoneAdmitted: none; nil: unlimited
	current atomic.Int64
}

// NoneAdmitted, as a Counter's maximum, admits no connection.
const NoneAdmitted = -2

// NewCounter returns a counter that admits at most max connections at once;
// max <= 0 means unlimited, except NoneAdmitted.
func NewCounter(max int64) *Counter {
	c := &Counter{max: new(atomic.Int64)}
	c.max.Store(max)
	return c
}

// Sibling returns a counter with a count of its own under c's maximum: a
// SetMax on either applies to both (the limit is the server's, each
// endpoint counts its own connections).
func (c *Counter) Sibling() *Counter { return &Counter{max: c.max} }

// SetMax changes the maximum, for c and its siblings; <= 0 means
// unlimited. The connections counted in stay counted: a lower maximum
// admits no new connection until enough of them have ended. c must not
// be the zero Counter.
func (c *Counter) SetMax(max int64) { c.max.Store(max) }

// TryAcquire counts one connection in, or reports false when the maximum is
// reached.
func (c *Counter) TryAcquire() bool {
	n := c.current.Add(1)
	if max := c.Max(); max > 0 && n > max || max == NoneAdmitted {
		c.current.Add(-1)
		return false
	}
	return true
}

// Release counts one connection out.
func (c *Counter) Release() { c.current.Add(-1) }

// Current is the number of connections counted in.
func (c *Counter) Current() int64 { return c.current.Load() }

// Slot is one connection counted in. Release counts it out; it may be
// called more than once (an upgraded connection leaves the count early).
type Slot struct {
	counter  *Counter
	released atomic.Bool
}

// Release counts the connection out, once.
func (s *Slot) Release() {
	if s != nil && s.released.CompareAndSwap(false, true) {
		s.counter.Release()
	}
}

// Acquire counts one connection in and returns its slot, or nil when the
// maximum is reached.
func (c *Counter) Acquire() *Slot {
	if !c.TryAcquire() {
		return nil
	}
	return &Slot{counter: c}
}

// Handler receives the connections Accept accepts.
type Handler interface {
	// Queue is called on the accept loop for each connection the counter
	// admits, before Serve runs on a goroutine of its own.
	Queue(c net.Conn)
	// Serve serves the connection; it must release the slot when the
	// connection ends.
	Serve(c net.Conn, slot *Slot)
	// Reject is called on the accept loop for a connection over the limit;
	// it must close it.
	Reject(c net.Conn)
}

// Accept accepts connections from l until it fails for good, handing each
// connection the counter admits to h.Serve on a new goroutine, and each
// one over the limit to h.Reject. Temporary errors (out of file
// descriptors) back off, as net/http does. Accept returns the error that
// stopped it; the caller decides whether it was expected (a closed
// listener).
func Accept(l net.Listener, counter *Counter, log *slog.Logger, h Handler) error {
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				log.Warn("accept failed; retrying", "listener", l.Addr().String(), "error", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		slot := counter.Acquire()
		if slot == nil {
			h.Reject(c)
			continue
		}
		h.Queue(c)
		go h.Serve(c, slot)
	}
}

// Max is the counter's maximum; <= 0 means unlimited.
func (c *Counter) Max() int64 {
	if c.max == nil {
		return 0
	}
	return c.max.Load()
}
