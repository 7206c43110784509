package kestrel

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/logevents"
)

// A ServerState is where a Server is in its life, as its health checks
// report it to a load balancer or an orchestrator.
type ServerState int32

const (
	// StateStarting: neither Start nor Serve has succeeded yet: the
	// server is not listening, or Start is still getting the ACME
	// certificates of its HTTPS endpoints.
	StateStarting ServerState = iota
	// StateReady: the server listens and serves.
	StateReady
	// StateDraining: Shutdown was called; the server finishes what it
	// serves (and, during DrainDelay, goes on serving) and must not be
	// sent new work.
	StateDraining
	// StateStopped: Shutdown has returned, or Close was called.
	StateStopped
)

// String returns the state's name in lower case: "starting", "ready",
// "draining" or "stopped".
func (st ServerState) String() string {
	switch st {
	case StateStarting:
		return "starting"
	case StateReady:
		return "ready"
	case StateDraining:
		return "draining"
	case StateStopped:
		return "stopped"
	}
	return "ServerState(" + strconv.Itoa(int(st)) + ")"
}

// State reports the server's state: starting until Start succeeds (or
// Serve begins), ready while it serves, draining from the moment Shutdown
// is called (through its DrainDelay and its graceful shutdown), stopped
// once Shutdown has returned or Close was called.
func (s *Server) State() ServerState {
	return ServerState(s.state.Load())
}

// ReadinessHandler returns a handler that tells a load balancer whether
// to send the server requests: 200 and "ready" while the server is
// ready, 503 and the state's name ("starting", "draining", "stopped")
// otherwise, as text/plain with Cache-Control: no-store. Point a
// balancer's health check (haproxy's option httpchk, a Kubernetes
// readinessProbe) at it.
func (s *Server) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.State()
		code := http.StatusServiceUnavailable
		if st == StateReady {
			code = http.StatusOK
		}
		writeHealth(w, code, st)
	})
}

// LivenessHandler returns a handler that tells an orchestrator the
// process is alive: 200 and the state's name whenever it answers, even
// while the server drains (restarting a draining process would cut its
// drain short). Point a Kubernetes livenessProbe at it.
func (s *Server) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, http.StatusOK, s.State())
	})
}

// HealthChecks returns a handler that serves readiness
// (ReadinessHandler) at path, liveness (LivenessHandler) at path+"/live",
// and passes every other request to next, as ASP.NET's
// MapHealthChecks("/healthz") does in front of an application:
//
//	srv.Handler = srv.HealthChecks("/healthz", mux)
//
// path must begin with "/" and name more than the root; trailing "/"s
// are dropped.
func (s *Server) HealthChecks(path string, next http.Handler) http.Handler {
	if !strings.HasPrefix(path, "/") {
		panic("kestrel: HealthChecks path " + strconv.Quote(path) + " does not begin with /")
	}
	if p := strings.TrimRight(path, "/"); p != "" {
		path = p
	} else {
		panic("kestrel: HealthChecks path " + strconv.Quote(path) + ": give the health checks a path of their own, such as /healthz, not the application's root")
	}
	ready, live := s.ReadinessHandler(), s.LivenessHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case path:
			ready.ServeHTTP(w, r)
		case path + "/live":
			live.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// writeHealth writes a health check's answer.
func writeHealth(w http.ResponseWriter, code int, st ServerState) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(st.String() + "\n"))
}

// drainPass is how often, during the drain delay, the server tells the
// HTTP/2 and HTTP/3 connections accepted since the last pass to go away.
const drainPass = 100 * time.Millisecond

// delayDrain begins Shutdown: readiness turns to draining at once (and
// the functions given to RegisterOnDraining start) and,
// the first time and when the server is started and has not handed its
// sockets off, the server goes on serving for its DrainDelay or until ctx
// ends, with every response saying Connection: close and the HTTP/2 and
// HTTP/3 connections told to go away (GOAWAY) so that clients move on.
// A second Shutdown waits for the same delay; Close ends it.
func (s *Server) delayDrain(ctx context.Context) {
	s.mu.Lock()
	wasReady := s.state.CompareAndSwap(int32(StateReady), int32(StateDraining))
	if wasReady || s.state.CompareAndSwap(int32(StateStarting), int32(StateDraining)) {
		for _, f := range s.onDraining {
			go f()
		}
	}
	delay := s.active.drainDelay
	done := s.delayDone
	if done == nil {
		done = make(chan struct{})
		s.delayDone = done
		if !wasReady || s.closed || s.handedOff || delay <= 0 {
			close(done)
			s.mu.Unlock()
			return
		}
	} else {
		s.mu.Unlock()
		waitCtx(ctx, done)
		return
	}
	ls := s.allListeners()
	s.drainEnd = time.Now().Add(delay)
	if d, ok := ctx.Deadline(); ok && d.Before(s.drainEnd) {
		s.drainEnd = d // the delay ends with ctx
	}
	s.mu.Unlock()
	defer close(done)

	logevents.Draining(s.logger(), delay)
	// Every response says Connection: close, so HTTP/1.1 connections end
	// after their next answer; the passes below tell HTTP/2 and HTTP/3 to
	// go away. The listeners' draining flag, which closes HTTP/1.1
	// connections as they wait for a request, is left to the shutdown
	// after the delay: a response that went out before this moment
	// promised keep-alive, and its client sends the next request on the
	// connection, which must still be there to answer it.
	for _, l := range ls {
		l.delaying.Store(true)
		l.closing.Store(true)
	}
	defer func() {
		for _, l := range ls {
			l.delaying.Store(false)
		}
	}()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	pass := time.NewTicker(drainPass)
	defer pass.Stop()
	for {
		if !s.goAway() {
			return // Close was called
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-pass.C:
		}
	}
}

// goAway starts the graceful shutdown (GOAWAY) of the HTTP/2 and HTTP/3
// connections, and closes those that have no stream in flight. HTTP/1.1
// connections are left to say Connection: close with their next
// response. It reports false, doing nothing, once Close was called.
func (s *Server) goAway() bool {
	s.mu.Lock()
	if s.aborted {
		s.mu.Unlock()
		return false
	}
	var conns []engineConn
	for _, st := range s.conns {
		if st.conn == nil {
			continue
		}
		if _, h1 := st.conn.(*http1.Conn); h1 {
			continue
		}
		conns = append(conns, st.conn)
	}
	s.mu.Unlock()
	closeIfIdle(conns)
	return true
}

// shutdownDeadline is how long Run and Service.Run give Shutdown: the
// drain delay, then the shutdown timeout.
func (s *Server) shutdownDeadline() time.Duration {
	s.mu.Lock()
	delay := s.active.drainDelay
	s.mu.Unlock()
	return delay + s.shutdownTimeout()
}
