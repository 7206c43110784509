package app

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kestrel-go/kestrel/internal/logevents"
)

// RequestContext is a request's context. It is cancelled when the handler
// returns or the client goes away, carries the exchange (for the functions
// that reach it from an *http.Request) and the local address under
// http.LocalAddrContextKey, and costs one allocation: its Done channel is
// made only if someone asks for it, and contexts derived from it are
// cancelled through AfterFunc rather than a goroutine each.
type RequestContext struct {
	parent context.Context // never cancelled (the server's base context)
	ex     *Exchange       // nil once detached, when the handler returned

	// What stays of the exchange once detached: the local address and
	// the request id's parts.
	local net.Addr
	conn  *ConnInfo
	seq   uint32

	mu       sync.Mutex
	done     chan struct{}
	ended    bool // cancelled: Err is context.Canceled
	aborted  bool
	after    []*afterFunc
	interest func() // told once when someone first waits on the context
}

// OnInterest sets f to be called once, the first time someone asks for
// the Done channel or the error or registers an AfterFunc, unless the
// context has ended: the protocol then starts watching for the client's
// close. Set it before the handler runs.
func (c *RequestContext) OnInterest(f func()) { c.interest = f }

// interested calls the interest function once; c.mu is held, and is
// released around the call.
func (c *RequestContext) interested() {
	if f := c.interest; f != nil && !c.ended {
		c.interest = nil
		c.mu.Unlock()
		f()
		c.mu.Lock()
	}
}

type afterFunc struct {
	f       func()
	stopped bool
}

// closedChan is the Done channel of a context cancelled before anyone
// asked for it.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// requestContextKey finds the RequestContext of a request from its
// context, or one derived from it.
type requestContextKey struct{}

func (c *RequestContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }

func (c *RequestContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interested()
	if c.done == nil {
		if c.ended {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

// Err is context.Canceled once the context has ended. Asking is interest
// too: a handler that polls Err instead of waiting on Done learns of the
// client's going away as one that waits does.
func (c *RequestContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interested()
	if c.ended {
		return context.Canceled
	}
	return nil
}

func (c *RequestContext) Value(key any) any {
	switch key {
	case requestContextKey{}:
		return c
	case http.LocalAddrContextKey:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.ex == nil {
			return c.local
		}
		return c.ex.s.NetConn().LocalAddr()
	}
	return c.parent.Value(key)
}

// exchange is the exchange serving the request, or nil once the handler
// has returned.
func (c *RequestContext) exchange() *Exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ex
}

// requestID is the request's id, while its exchange serves it and after.
func (c *RequestContext) requestID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ex != nil {
		return c.ex.RequestID()
	}
	if c.conn == nil || c.conn.ID == "" {
		return ""
	}
	return logevents.RequestID(c.conn.ID, c.seq)
}

// detach parts the context from its exchange as the handler returns: the
// context may be kept, but the exchange goes on to serve other requests,
// perhaps another client's. The local address and the request id stay.
func (c *RequestContext) detach() {
	ex := c.ex
	local := ex.s.NetConn().LocalAddr()
	c.mu.Lock()
	c.ex, c.local, c.conn, c.seq = nil, local, ex.Conn, ex.Seq
	c.mu.Unlock()
}

// AfterFunc arranges for f to run on its own goroutine once the context is
// cancelled; the context package uses it to cancel derived contexts.
func (c *RequestContext) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	c.interested()
	if c.ended {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.after = append(c.after, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.stopped || c.ended {
			return false
		}
		a.stopped = true
		return true
	}
}

// Cancel ends the context (the handler returned); later calls do
// nothing.
func (c *RequestContext) Cancel() { c.cancel(false) }

// Abort ends the context because the client went away or the request was
// aborted (Kestrel's RequestAborted); later calls do nothing.
func (c *RequestContext) Abort() { c.cancel(true) }

// Aborted reports whether the context ended by Abort.
func (c *RequestContext) Aborted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aborted
}

func (c *RequestContext) cancel(aborted bool) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.aborted = aborted
	c.ended = true
	if aborted && c.ex != nil {
		c.ex.aborted.Store(true)
	}
	if c.done != nil && c.done != closedChan {
		close(c.done)
	}
	after := c.after
	c.after = nil
	c.mu.Unlock()
	for _, a := range after {
		if !a.stopped {
			go a.f()
		}
	}
}

// String describes the context, as the context package's do.
func (c *RequestContext) String() string { return "kestrel request context" }
