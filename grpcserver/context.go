package grpcserver

import (
	"context"
	"sync"
	"time"
)

// callContext is the cancellable layer of a call's context: the
// grpc-timeout deadline, cancellation when the request's context ends
// (the client reset the stream or went away), by Stop, and when the call
// ends. It lives in the call, and makes its Done channel and its link to
// the parent only when someone asks for Done (a handler waiting on the
// context, or a context derived from it); Err looks at the parent itself
// until then. Most unary handlers never ask, and so pay for neither. A
// call with a deadline has a timer, which at the deadline ends the
// context and calls expire, as grpc-go's server ends the stream.
type callContext struct {
	parent      context.Context
	deadline    time.Time
	hasDeadline bool
	expire      expirer // told at the deadline, unless the context ended first

	mu         sync.Mutex
	done       chan struct{}
	err        error
	timer      *time.Timer
	stopParent func() bool
}

// expirer is told that a call's deadline passed.
type expirer interface{ expire() }

// init starts the context; expire, when the call has a deadline, is told
// when it passes.
func (c *callContext) init(parent context.Context, timeout time.Duration, hasTimeout bool, expire expirer) {
	c.parent = parent
	c.hasDeadline = hasTimeout
	if hasTimeout {
		c.deadline = time.Now().Add(timeout)
		if d, ok := parent.Deadline(); ok && d.Before(c.deadline) {
			c.deadline = d
		}
		c.expire = expire
		if d := time.Until(c.deadline); d > 0 {
			c.mu.Lock() // the timer may fire before AfterFunc returns
			c.timer = time.AfterFunc(d, c.expired)
			c.mu.Unlock()
		} else {
			c.err = context.DeadlineExceeded
		}
	}
}

// expired is the deadline timer's. It tells expire with mu held, so that
// once the call has ended its context (cancel), expire is not told
// after.
func (c *callContext) expired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.cancelLocked(context.DeadlineExceeded)
	if c.expire != nil {
		c.expire.expire()
	}
}

func (c *callContext) Deadline() (time.Time, bool) {
	if c.hasDeadline {
		return c.deadline, true
	}
	return c.parent.Deadline()
}

func (c *callContext) Value(key any) any { return c.parent.Value(key) }

func (c *callContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if err := c.parent.Err(); err != nil {
			c.cancelLocked(err)
		}
	}
	return c.err
}

func (c *callContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	c.stopParent = context.AfterFunc(c.parent, func() { c.cancel(context.Canceled) })
	return c.done
}

// cancel ends the context with err, unless it has ended.
func (c *callContext) cancel(err error) {
	c.mu.Lock()
	c.cancelLocked(err)
	c.mu.Unlock()
}

func (c *callContext) cancelLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopParent != nil {
		c.stopParent()
	}
}

// String describes the context, as the context package's do.
func (c *callContext) String() string { return "grpcserver call context" }
