// Package workers runs the handlers of HTTP/2 and HTTP/3 streams on
// goroutines that outlive a stream.
//
// A goroutine starts with a small stack, and a handler's calls grow it
// (each time by copying it whole) to the depth the handler needs: for a
// grpc-go service behind ServeHTTP, a fifth of the server's CPU time went
// to that growth when each stream had a goroutine of its own. A worker
// that has run one stream waits a while for the next, with the stack it
// grew, so a busy server stops paying for it. HTTP/1.1 does not need this:
// a connection keeps its goroutine from one request to the next.
package workers

import (
	"sync"
	"time"
)

const (
	// MaxIdle bounds the workers waiting for a function: beyond, a
	// worker that finishes ends.
	MaxIdle = 256

	// IdleTimeout is how long a worker waits for a function before it
	// ends (Trim counts it), so a burst's goroutines and their stacks go.
	IdleTimeout = 5 * time.Second
)

// Pool runs functions on reused goroutines. The nil *Pool starts a
// goroutine for each function.
type Pool struct {
	mu     sync.Mutex
	idle   []*worker // the most recently idle last
	now    int64     // the time of the last Trim
	closed bool
}

type worker struct {
	work  chan func()
	since int64 // Pool.now when it went idle
}

// Go runs f on an idle worker, or on a new goroutine.
func (p *Pool) Go(f func()) {
	if p != nil {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			w := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			w.work <- f
			return
		}
		p.mu.Unlock()
	}
	go p.run(f)
}

// run runs f, then the functions Go hands it, until it has waited too long
// or there are enough idle workers.
func (p *Pool) run(f func()) {
	var w *worker
	for {
		f()
		if p == nil {
			return
		}
		if w == nil {
			w = &worker{work: make(chan func(), 1)}
		}
		p.mu.Lock()
		if p.closed || len(p.idle) >= MaxIdle {
			p.mu.Unlock()
			return
		}
		w.since = p.now
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		if f = <-w.work; f == nil {
			return
		}
	}
}

// Trim ends the workers that have been idle for IdleTimeout at now (Unix
// nanoseconds); the heartbeat calls it every second.
func (p *Pool) Trim(now int64) {
	p.mu.Lock()
	p.now = now
	for _, w := range p.idle {
		if w.since == 0 { // idle since before the first Trim
			w.since = now
		}
	}
	n := 0
	for n < len(p.idle) && now-p.idle[n].since >= int64(IdleTimeout) {
		n++
	}
	stale := make([]*worker, n)
	copy(stale, p.idle)
	p.idle = append(p.idle[:0], p.idle[n:]...)
	clear(p.idle[len(p.idle) : len(p.idle)+n])
	p.mu.Unlock()
	for _, w := range stale {
		w.work <- nil
	}
}

// Idle reports how many workers wait for a function.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Close ends the idle workers; the busy ones end when their function
// returns.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, w := range idle {
		w.work <- nil
	}
}
