package grpcserver

import (
	"context"
	"sync"
	"time"
)

// callContext is the cancellable layer of a call's context: the
// grpc-timeout deadline, cancellation when the request's context ends
// (the client reset the stream or went away), by Stop, and when the call
// ends. It lives in the call, and makes its Done channel, its deadline
// timer and its link to the parent only when someone asks for Done (a
// handler waiting on the context, or a context derived from it); Err
// looks at the clock and the parent itself until then. Most unary
// handlers never ask, and so pay for no timer.
type callContext struct {
	parent      context.Context
	deadline    time.Time
	hasDeadline bool

	mu         sync.Mutex
	done       chan struct{}
	err        error
	timer      *time.Timer
	stopParent func() bool
}

func (c *callContext) init(parent context.Context, timeout time.Duration, hasTimeout bool) {
	c.parent = parent
	c.hasDeadline = hasTimeout
	if hasTimeout {
		c.deadline = time.Now().Add(timeout)
		if d, ok := parent.Deadline(); ok && d.Before(c.deadline) {
			c.deadline = d
		}
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
		} else if c.hasDeadline && !time.Now().Before(c.deadline) {
			c.cancelLocked(context.DeadlineExceeded)
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
	if c.hasDeadline {
		d := time.Until(c.deadline)
		if d <= 0 {
			c.cancelLocked(context.DeadlineExceeded)
			return c.done
		}
		c.timer = time.AfterFunc(d, func() { c.cancel(context.DeadlineExceeded) })
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
