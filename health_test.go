package kestrel

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// checkHealth runs h on a request and returns the status and body,
// checking Cache-Control: no-store.
func checkHealth(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	return rec.Code, rec.Body.String()
}

// TestHealthStates: a server is starting until Start succeeds, ready
// while it serves, stopped after Shutdown or Close; readiness is 200 only
// when ready, liveness always 200.
func TestHealthStates(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.NotFoundHandler(), Logger: quietLogger}
	want := func(st ServerState, code int, body string) {
		t.Helper()
		if got := s.State(); got != st {
			t.Fatalf("State() = %v, want %v", got, st)
		}
		if c, b := checkHealth(t, s.ReadinessHandler()); c != code || b != body {
			t.Errorf("readiness in %v: %d %q, want %d %q", st, c, b, code, body)
		}
		if c, b := checkHealth(t, s.LivenessHandler()); c != 200 || b != body {
			t.Errorf("liveness in %v: %d %q, want 200 %q", st, c, b, body)
		}
	}
	want(StateStarting, 503, "starting\n")
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	want(StateReady, 200, "ready\n")
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want(StateStopped, 503, "stopped\n")

	s2 := &Server{Handler: http.NotFoundHandler(), Logger: quietLogger}
	startServer(t, s2)
	s2.Close()
	if got := s2.State(); got != StateStopped {
		t.Errorf("after Close: %v, want stopped", got)
	}
	if got := ServerState(9).String(); got != "ServerState(9)" {
		t.Errorf("ServerState(9).String() = %q", got)
	}
}

// TestHealthChecksRoutes: HealthChecks serves readiness at the path,
// liveness at path/live, and everything else with the next handler.
func TestHealthChecksRoutes(t *testing.T) {
	t.Parallel()
	s := &Server{}
	h := s.HealthChecks("/healthz/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app "+r.URL.Path)
	}))
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 503, "starting\n"},
		{"/healthz/live", 200, "starting\n"},
		{"/healthz/other", 200, "app /healthz/other"},
		{"/", 200, "app /"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
		if rec.Code != c.code || rec.Body.String() != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.path, rec.Code, rec.Body.String(), c.code, c.body)
		}
	}
	// Paths that are not one, or that would take the application's root,
	// panic, naming the path.
	for _, path := range []string{"healthz", "/", "//"} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, strconv.Quote(path)) {
					t.Errorf("HealthChecks(%q) panicked with %q, want a message naming the path", path, msg)
				}
			}()
			s.HealthChecks(path, http.NotFoundHandler())
		}()
	}
}

// pollUntil polls cond every few milliseconds for up to 10 seconds.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s", what)
		}
	}
}

// TestDrainDelay: Shutdown with a DrainDelay reports draining at once
// while the server goes on serving, new connections included; a
// keep-alive HTTP/1.1 connection's next response says Connection: close;
// an HTTP/2 connection gets a GOAWAY and its stream in flight completes,
// and an idle one gets a GOAWAY too;
// the server stops accepting only after the delay.
func TestDrainDelay(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second // generous: every check below runs during it
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	s := &Server{DrainDelay: delay}
	s.Handler = s.HealthChecks("/healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	}))
	addr := startServer(t, s)

	get := func(c io.Writer, br *bufio.Reader, path string) *http.Response {
		t.Helper()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		return resp
	}
	keep := dial(t, addr)
	keepBr := bufio.NewReader(keep)
	if resp := get(keep, keepBr, "/healthz"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("readiness before Shutdown: %d (close %v), want 200 kept alive", resp.StatusCode, resp.Close)
	}

	h2 := dialRawH2(t, addr)
	h2.get(1, "/slow")
	<-started
	idle := dialRawH2(t, addr) // no stream: parked, it too is told to go away

	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })

	// Readiness says 503 at once, on a new connection, while a normal
	// request on another new connection is served.
	c := dial(t, addr)
	if resp := get(c, bufio.NewReader(c), "/healthz"); resp.StatusCode != 503 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("readiness while draining: %d, Cache-Control %q; want 503, no-store", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	c = dial(t, addr)
	if resp := get(c, bufio.NewReader(c), "/"); resp.StatusCode != 200 {
		t.Errorf("a request on a new connection while draining: %d, want 200", resp.StatusCode)
	}
	// The keep-alive connection's next response ends it.
	if resp := get(keep, keepBr, "/"); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("keep-alive response while draining: %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}

	// The HTTP/2 connection is told to go away; its stream goes on.
	for goAway := false; !goAway; {
		if f, ok := h2.read().(*http2.GoAwayFrame); ok {
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID < 1 {
				t.Fatalf("GOAWAY %v last stream %d, want NO_ERROR naming stream 1 or more", f.ErrCode, f.LastStreamID)
			}
			goAway = true
		}
	}
	for goAway := false; !goAway; {
		_, goAway = idle.read().(*http2.GoAwayFrame)
	}
	// Both GOAWAYs came during the delay, not from the shutdown after it.
	if d := time.Since(begin); d >= delay {
		t.Errorf("GOAWAY %v after Shutdown began, not during the %v delay", d, delay)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned during the delay (%v after it began): %v", time.Since(begin), err)
	default:
	}
	close(release)
	for ended := false; !ended; {
		switch f := h2.read().(type) {
		case *http2.DataFrame:
			ended = f.StreamID == 1 && f.StreamEnded()
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
		}
	}

	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10*time.Second + delay):
		t.Fatal("Shutdown did not return")
	}
	if d := time.Since(begin); d < delay {
		t.Errorf("Shutdown returned after %v, before the %v delay", d, delay)
	}
	if got := s.State(); got != StateStopped {
		t.Errorf("after Shutdown: %v, want stopped", got)
	}
	waitRefused(t, addr)
}

// TestDrainDelayKeepsItsWord: a response that promised keep-alive (its
// head went out before Shutdown began) is kept to its word through the
// drain delay: the connection waits for the client's next request, which
// gets its answer with Connection: close, instead of closing as the client
// sends it (which loses that request: seen as wrk's read errors behind
// haproxy during rolling restarts).
func TestDrainDelayKeepsItsWord(t *testing.T) {
	t.Parallel()
	committed := make(chan struct{})
	release := make(chan struct{})
	s := &Server{DrainDelay: time.Hour}
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/committed" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			close(committed)
			<-release
		}
		io.WriteString(w, "ok")
	})
	addr := startServer(t, s)
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /committed HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-committed
	if resp.Close {
		t.Fatal("the first response says Connection: close before Shutdown")
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
	close(release)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("the first response's body: %v", err)
	}
	// The client takes the promise at its word and sends the next request.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request sent after a keep-alive answer, during the drain delay: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok" || !resp.Close {
		t.Errorf("during the drain delay: %d %q (close %v), want 200 \"ok\" with Connection: close", resp.StatusCode, body, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close: %v, want the connection closed (EOF)", err)
	}
	s.Close()
	<-done
}

// TestDrainDelayContextCutsShort: a Shutdown context that ends during the
// delay ends it; a second Shutdown waits for the same delay.
func TestDrainDelayContextCutsShort(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.NotFoundHandler(), DrainDelay: time.Hour}
	startServer(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- s.Shutdown(ctx) }()
	pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
	go func() { done <- s.Shutdown(ctx) }()
	cancel()
	for range 2 {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown still waits the delay after its context ended")
		}
	}
	if got := s.State(); got != StateStopped {
		t.Errorf("after Shutdown: %v, want stopped", got)
	}
}

// TestDrainDelayClose: Close during the delay ends it and the Shutdown
// waiting in it.
func TestDrainDelayClose(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.NotFoundHandler(), DrainDelay: time.Hour}
	startServer(t, s)
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
	s.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown still waits the delay after Close")
	}
}

// TestDrainDelayNotAfterHandoff: once the sockets went to another process
// (a binary upgrade), Shutdown does not wait the delay: the new process
// accepts on the same sockets, so no client needs to move.
func TestDrainDelayNotAfterHandoff(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.NotFoundHandler(), DrainDelay: time.Hour}
	startServer(t, s)
	s.mu.Lock()
	s.handedOff = true // as Handoff sets it
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown after Handoff waits the drain delay")
	}
}

// TestConfigDrainDelay: Kestrel:DrainDelay in the file or the environment
// sets Server.DrainDelay, and Run's deadline is the delay plus the
// shutdown timeout; a negative delay is refused by name.
func TestConfigDrainDelay(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"DrainDelay": "00:00:05", "ShutdownTimeout": "10s"}}`), "f", nil,
		[]string{"Kestrel__DrainDelay=7s"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, DrainDelay: time.Second}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if s.DrainDelay != 7*time.Second {
		t.Errorf("DrainDelay %v, want 7s", s.DrainDelay)
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if d := s.shutdownDeadline(); d != 17*time.Second {
		t.Errorf("shutdown deadline %v, want 17s", d)
	}
	cfg, err = ParseConfig([]byte(`{"Kestrel": {"DrainDelay": "-5s"}}`), "f", nil, nil)
	if err == nil {
		err = cfg.Apply(&Server{Logger: quietLogger})
	}
	if err == nil || !strings.Contains(err.Error(), "Kestrel:DrainDelay") || !strings.Contains(err.Error(), "zero or more") {
		t.Errorf("negative DrainDelay: %v, want an error naming Kestrel:DrainDelay", err)
	}
}

// TestHealthStatesServe: a server run net/http's way, with Serve on a
// listener of its own, is ready while it serves (it stayed "starting", so
// its readiness said 503 and its Shutdown skipped the DrainDelay); a
// Serve or Start during the drain delay is refused, as after Shutdown.
func TestHealthStatesServe(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	s := &Server{Logger: quietLogger, DrainDelay: delay}
	s.Handler = s.HealthChecks("/healthz", http.NotFoundHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	client := newClient(t)
	var code int
	pollUntil(t, "an answer", func() bool {
		resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		code = resp.StatusCode
		return true
	})
	if st := s.State(); st != StateReady || code != 200 {
		t.Errorf("serving with Serve: state %v, readiness %d; want ready, 200", st, code)
	}

	begin := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if err := s.Serve(ln2); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve during the drain delay: %v, want ErrServerClosed", err)
	}
	if err := s.Start(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start during the drain delay: %v, want ErrServerClosed", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(begin); d < delay {
		t.Errorf("Shutdown returned after %v, before the %v drain delay", d, delay)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
}

// TestRegisterOnDraining: the functions given to RegisterOnDraining run
// once, as Shutdown begins its DrainDelay and while the server still
// serves; those given to RegisterOnShutdown run only after the delay; a
// second Shutdown does not call them again; Close alone never calls them.
func TestRegisterOnDraining(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.NotFoundHandler(), DrainDelay: time.Hour}
	addr := startServer(t, s)
	var drained, shut atomic.Int32
	drainedIn := make(chan ServerState, 2)
	s.RegisterOnDraining(func() { drained.Add(1); drainedIn <- s.State() })
	s.RegisterOnDraining(func() { drained.Add(1); drainedIn <- s.State() })
	s.RegisterOnShutdown(func() { shut.Add(1) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- s.Shutdown(ctx) }()
	for range 2 {
		select {
		case st := <-drainedIn:
			if st != StateDraining {
				t.Errorf("RegisterOnDraining's function saw %v, want draining", st)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("RegisterOnDraining's functions not called as the drain delay began")
		}
	}
	// Still serving, and the shutdown functions wait for the delay's end.
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 404 {
		t.Fatalf("request during the delay: %v %v, want 404", resp, err)
	}
	go func() { done <- s.Shutdown(ctx) }()
	if n := shut.Load(); n != 0 {
		t.Errorf("RegisterOnShutdown's function ran %d times during the delay, want 0", n)
	}
	cancel()
	for range 2 {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return once its context ended")
		}
	}
	pollUntil(t, "RegisterOnShutdown's function", func() bool { return shut.Load() == 1 })
	if n := drained.Load(); n != 2 {
		t.Errorf("RegisterOnDraining's functions ran %d times in all, want 2 (once each)", n)
	}

	// Close, which does not drain, calls none.
	s2 := &Server{Handler: http.NotFoundHandler()}
	startServer(t, s2)
	s2.RegisterOnDraining(func() { t.Error("RegisterOnDraining's function called by Close") })
	s2.Close()
	s2.Shutdown(context.Background()) // after Close: stopped, not draining
}

// TestCloseIdleWithoutLock: Shutdown's passes over the connections (the
// drain delay's GOAWAY, the drain's closing of idle connections) and
// SetKeepAlivesEnabled(false) close connections without holding the
// server's lock, as abort does: closing a TLS connection sends its
// close_notify, which waits up to 5 s for a client that does not read,
// and every accept, tick and status of the server waited with it.
func TestCloseIdleWithoutLock(t *testing.T) {
	t.Parallel()
	for name, pass := range map[string]func(s *Server){
		"goAway":               func(s *Server) { s.goAway() },
		"closeIdle":            func(s *Server) { s.closeIdle(nil) },
		"SetKeepAlivesEnabled": func(s *Server) { s.SetKeepAlivesEnabled(false) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := &Server{Handler: http.NotFoundHandler()}
			startServer(t, s)
			checkUnlockedWhileBlocked(t, s, &connState{}, "CloseIfIdle", func() { pass(s) })
		})
	}
}
