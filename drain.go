package kestrel

import (
	"context"
	"slices"
	"time"

	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/http3"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
)

const (
	// handoffIdleGrace is how long, after Handoff, idle keep-alive
	// connections stay open at shutdown: a client busy on a connection
	// sends its next request within it, and gets Connection: close with
	// the answer; only connections idle for that long are closed, as a
	// client may be sending a request on one as it closes.
	handoffIdleGrace = time.Second

	drainPoll = 10 * time.Millisecond

	// abortWait is how long the connections aborted at the end of a
	// drain get to end, as in Kestrel's AbortAllConnectionsAsync.
	abortWait = time.Second
)

// waitAborted waits up to abortWait for the connections of ls (with all,
// and every upgraded connection) that a drain aborted to end, and logs
// Kestrel's NotAllConnectionsAborted when some did not: their handlers
// went on after their connection closed and their request's context
// ended.
func (s *Server) waitAborted(ls []*listener, all bool) {
	deadline := time.Now().Add(abortWait)
	for s.connsOf(ls, all) > 0 {
		if time.Now().After(deadline) {
			logevents.NotAllConnectionsAborted(s.logger())
			return
		}
		time.Sleep(drainPoll)
	}
}

// drain stops the listeners ls gracefully, once they accept no more
// connections. It waits for the connections they accepted to be
// registered, makes every response say Connection: close, then, after
// idleGrace, lets connections end after their request in flight and
// closes the idle ones until none is left (a new connection gets a few
// seconds to send its first request). It waits for the upgraded
// connections of ls too, and with all for every upgraded connection.
// When ctx ends first, it aborts the connections left and returns how
// many, with ctx's error if there were any. Once Close is called, it
// returns at once.
func (s *Server) drain(ctx context.Context, ls []*listener, idleGrace time.Duration, all bool) (aborted int, err error) {
	for _, l := range ls {
		// Its accept loops may still hand out a connection.
		if l.sock != nil && l.sock.stopped.Load() && l.sock.done != nil {
			waitCtx(ctx, l.sock.done)
		}
		if l.quic != nil && l.quic.stopped.Load() && l.quic.done != nil {
			waitCtx(ctx, l.quic.done)
		}
		done := make(chan struct{})
		go func() {
			l.pending.Wait()
			close(done)
		}()
		waitCtx(ctx, done)
		l.closing.Store(true)
	}
	if ctx.Err() != nil {
		return s.abortEnded(ctx, ls, all) // connections still on their way too
	}
	start := time.Now()
	draining := false
	poll := time.NewTicker(drainPoll)
	defer poll.Stop()
	for {
		if s.connsOf(ls, all) == 0 || s.abortedAll() {
			return 0, nil
		}
		if !draining && time.Since(start) >= idleGrace {
			draining = true
			for _, l := range ls {
				l.draining.Store(true)
			}
		}
		if draining {
			s.closeIdle(ls)
		}
		select {
		case <-ctx.Done():
			return s.abortEnded(ctx, ls, all)
		case <-poll.C:
		}
	}
}

// abortEnded aborts what is left of ls once ctx ended, and returns how
// many connections that was, with ctx's error if there were any: a drain
// that had nothing left to cut short succeeded, as http.Server.Shutdown
// returns nil then and Kestrel counts the stop as graceful.
func (s *Server) abortEnded(ctx context.Context, ls []*listener, all bool) (int, error) {
	if n := s.abort(ls, all); n > 0 {
		return n, ctx.Err()
	}
	return 0, nil
}

// abortedAll reports whether Close aborted every connection (or a
// Shutdown has finished): a drain has nothing more to wait for, as Close
// does not wait for the handlers that ignore their request's context.
func (s *Server) abortedAll() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// waitCtx waits until done is closed or ctx ends.
func waitCtx(ctx context.Context, done <-chan struct{}) {
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// connsOf reports how many connections the listeners ls have, the
// upgraded ones whose handler returned included (with all, every
// upgraded connection).
func (s *Server) connsOf(ls []*listener, all bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.conns {
		if slices.Contains(ls, st.l) {
			n++
		}
	}
	for _, st := range s.upgraded {
		if all || upgradedOf(st, ls) {
			n++
		}
	}
	return n
}

// upgradedOf reports whether an upgraded connection came from one of the
// listeners ls and is no longer among the connections its engine serves
// (its handler returned and holds it). s.mu is held.
func upgradedOf(st *connState, ls []*listener) bool {
	return st != nil && st.engineDone && slices.Contains(ls, st.l)
}

// goAwayHTTP3 sends the HTTP/3 connections of ls the first GOAWAY of a
// graceful shutdown, closing none: after Handoff, their clients then
// take their next requests to the new process, while the requests they
// sent before they saw it, some of whose packets the new process may
// read (QUIC sends them again), still reach this one and are served.
// s.mu is held.
func (s *Server) goAwayHTTP3(ls []*listener) {
	for _, st := range s.conns {
		if c, ok := st.conn.(*http3.Conn); ok && slices.Contains(ls, st.l) {
			c.GoAway()
		}
	}
}

// closeIdle closes the connections of ls (nil: of every listener) that
// wait for a request.
func (s *Server) closeIdle(ls []*listener) {
	s.mu.Lock()
	var conns []engineConn
	for _, st := range s.conns {
		if ls == nil || slices.Contains(ls, st.l) {
			conns = append(conns, st.conn)
		}
	}
	s.mu.Unlock()
	closeIfIdle(conns)
}

// closeIfIdle closes the connections conns that are idle, and starts the
// graceful shutdown of the others, without s.mu, as abort does: closing a
// TLS connection sends its close_notify, which waits up to 5 s for a
// client that does not read, and every accept, tick and status of the
// server would wait with it.
func closeIfIdle(conns []engineConn) {
	for _, c := range conns {
		c.CloseIfIdle()
	}
}

// abort aborts the connections of ls (nil: of every listener), closes
// those still on their way to an engine (a PROXY header, connection
// middleware or TLS handshake waiting on the client) and the upgraded
// connections of ls (with all, every upgraded connection), recording
// app_shutdown_timeout as the reason they ended, and returns how many
// there were.
func (s *Server) abort(ls []*listener, all bool) int {
	s.mu.Lock()
	way := ls
	if way == nil {
		way = s.allListeners()
	}
	var conns []engineConn
	for _, st := range s.conns {
		if ls == nil || slices.Contains(ls, st.l) {
			st.reason.Force(metrics.AppShutdownTimeout)
			conns = append(conns, st.conn)
		}
	}
	n := len(conns)
	var ups []*http1.UpgradedConn
	for uc, st := range s.upgraded {
		if all || upgradedOf(st, ls) {
			if st != nil {
				st.reason.Force(metrics.AppShutdownTimeout)
			}
			if st == nil || st.engineDone { // else counted among conns
				n++
			}
			ups = append(ups, uc)
		}
	}
	s.mu.Unlock()
	for _, l := range way {
		n += l.closeOnWay()
	}
	for _, c := range conns {
		c.Abort()
	}
	for _, uc := range ups {
		uc.Close() // its OnClose takes s.mu
	}
	return n
}
