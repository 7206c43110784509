package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// waitRefused waits until addr refuses connections, as it does once the
// server has closed its listener.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
	}
	t.Fatalf("%s still accepts connections", addr)
}

func TestShutdownClosesIdleConnections(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: echoHandler(nil)}
	addr := startServer(t, s)
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.Close {
		t.Fatal("the connection is not kept alive")
	}
	// Another idle connection that never sent a byte: it is given a second
	// to send its first request.
	c2 := dial(t, addr)

	start := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v with only idle connections", d)
	}
	for i, conn := range []io.Reader{br, c2} {
		if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("idle connection %d: read %d, %v; want EOF", i, n, err)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("a second Shutdown: %v", err)
	}
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})}
	addr := startServer(t, s)
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	waitRefused(t, addr)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the request finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "finished" || !resp.Close {
		t.Errorf("got %q close=%v, want the full response with Connection: close", b, resp.Close)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the response: %q, %v; want EOF", rest, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last request finished")
	}
}

func TestShutdownPipelinedRequestsAreNotServed(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, r.URL.Path)
	})}
	addr := startServer(t, s)
	c := dial(t, addr)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	waitRefused(t, addr)
	close(release)
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(all), "HTTP/1.1 200 OK"); n != 1 || !strings.HasSuffix(string(all), "/1") {
		t.Errorf("got %q, want only the first response", all)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// committedThenWait returns a handler that answers "ok", and at path
// sends its head (Content-Length: 2) first, then waits for release
// before its body, having sent on started.
func committedThenWait(path string) (h http.Handler, started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	}), started, release
}

// TestShutdownPipelinedAfterCommittedResponse: a response whose head went
// out before the drain began, with a request pipelined behind it, is sent
// to its end before the connection closes; the rest of its body, waiting
// in the buffer to share a write with the next response, was dropped.
func TestShutdownPipelinedAfterCommittedResponse(t *testing.T) {
	t.Parallel()
	h, started, release := committedThenWait("/1")
	s := &Server{Handler: h}
	addr := startServer(t, s)
	c := dial(t, addr)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		draining := s.listeners[0].draining.Load()
		s.mu.Unlock()
		if draining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not start draining")
		}
	}
	close(release)
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(all), "HTTP/1.1 200 OK"); n != 1 || !strings.HasSuffix(string(all), "\r\n\r\nok") {
		t.Errorf("got %q, want the first response whole, and only it", all)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownAbortsHangingHandler(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	ctxErr := make(chan error, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			ctxErr <- r.Context().Err()
		case <-release:
			ctxErr <- errors.New("the request context was not cancelled")
		}
	})}
	addr := startServer(t, s)
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown returned %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("Shutdown returned after %v, want about 300ms", d)
	}
	// The connection was aborted: no response, the read ends.
	b, _ := io.ReadAll(c)
	if len(b) != 0 {
		t.Errorf("the aborted connection got %q", b)
	}
	select {
	case err := <-ctxErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("the hanging handler's context was not cancelled after its connection was aborted")
	}
}

func TestCloseIsImmediate(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			close(started)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	})}
	addr := startServer(t, s)
	idle := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil {
		t.Fatal(err)
	}
	busy := dial(t, addr)
	io.WriteString(busy, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	for name, c := range map[string]net.Conn{"idle": idle, "busy": busy} {
		if b, _ := io.ReadAll(c); len(b) != 0 {
			t.Errorf("%s connection got %q after Close", name, b)
		}
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the server accepts connections after Close")
	}
	if err := s.Start(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Close: %v, want ErrServerClosed", err)
	}
}

func TestStartAfterShutdown(t *testing.T) {
	t.Parallel()
	s := &Server{}
	startServer(t, s)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Shutdown: %v, want ErrServerClosed", err)
	}
	if err := s.Listen("127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Listen after Shutdown: %v, want ErrServerClosed", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}

	// Shutdown of a server never started returns at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := (&Server{}).Shutdown(ctx); err != nil {
		t.Errorf("Shutdown of a server never started: %v", err)
	}
}

func TestAddressesWithPortZero(t *testing.T) {
	t.Parallel()
	s := &Server{Logger: quietLogger}
	if a := s.Addresses(); len(a) != 0 {
		t.Errorf("Addresses before Start: %q", a)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenURL("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ipv6 := true
	if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		ipv6 = false
	} else {
		l.Close()
		if err := s.ListenURL("http://[::1]:0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addrs := s.Addresses()
	want := 2
	if ipv6 {
		want = 3
	}
	if len(addrs) != want {
		t.Fatalf("Addresses %q, want %d", addrs, want)
	}
	seen := map[string]bool{}
	client := newClient(t)
	for i, a := range addrs {
		prefix := "http://127.0.0.1:"
		if i == 2 {
			prefix = "http://[::1]:"
		}
		if !strings.HasPrefix(a, prefix) || strings.HasSuffix(a, ":0") {
			t.Errorf("address %q, want %sport with the bound port", a, prefix)
		}
		if seen[a] {
			t.Errorf("address %q twice", a)
		}
		seen[a] = true
		if resp, _ := get(t, client, a+"/"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want the nil handler's 404", a, resp.StatusCode)
		}
	}
}

func TestListenErrors(t *testing.T) {
	t.Parallel()
	s := &Server{}
	for _, addr := range []string{"localhost:0", "LOCALHOST:0"} {
		err := s.Listen(addr)
		if err == nil || !strings.Contains(err.Error(), "localhost") || !strings.Contains(err.Error(), "port 0") {
			t.Errorf("Listen(%q): %v, want an error about port 0 with localhost", addr, err)
		}
	}
	if err := s.ListenURL("http://localhost:0"); err == nil || !strings.Contains(err.Error(), "http://localhost:0") ||
		!strings.Contains(err.Error(), "127.0.0.1:0") {
		t.Errorf("ListenURL(http://localhost:0): %v, want an error naming the URL and suggesting 127.0.0.1:0", err)
	}
	for _, addr := range []string{"5000", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:-1", ""} {
		if err := s.Listen(addr); err == nil {
			t.Errorf("Listen(%q) succeeded", addr)
		} else if addr != "" && !strings.Contains(err.Error(), addr) {
			t.Errorf("Listen(%q): %v does not name the address", addr, err)
		}
	}
	for _, u := range []string{
		"localhost:5000",
		"ftp://localhost:21",
		"http://",
		"http://localhost:5000/app",
		"http://[::1",
		"http://[zz]:80",
		"http://localhost:99999",
		"http://localhost:port",
		"http://:80",
		"http://a b:80",
		"http://user@host:80",
		"http://host:80?x",
		"http://host:80#frag",
		"unix:relative.sock",
		"http://unix:relative.sock",
	} {
		err := s.ListenURL(u)
		if err == nil {
			t.Errorf("ListenURL(%q) succeeded", u)
			continue
		}
		if !strings.Contains(err.Error(), u) {
			t.Errorf("ListenURL(%q): %q does not name the URL", u, err)
		}
	}
	if a := s.Addresses(); len(a) != 0 {
		t.Errorf("failed Listen calls left addresses %q", a)
	}
}

func TestStartAddressInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().String()
	url := "http://" + busy

	s := &Server{Logger: quietLogger}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenURL(url); err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	if err == nil {
		s.Close()
		t.Fatal("Start succeeded on an address in use")
	}
	if !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Start: %q, want an error naming %s and saying it is in use", err, url)
	}
	if a := s.Addresses(); len(a) != 0 {
		t.Errorf("after a failed Start, Addresses = %q; no endpoint should stay bound", a)
	}
	s.Close()

	// With Listen, too.
	s = &Server{Logger: quietLogger}
	s.Listen(busy)
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), busy) {
		t.Errorf("Start: %v, want an error naming %s", err, busy)
	}
	s.Close()
}

func TestStartLimitsValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limits Limits
		field  string
	}{
		{Limits{MaxRequestBodySize: -5}, "MaxRequestBodySize"},
		{Limits{MaxRequestLineSize: 10}, "MaxRequestLineSize"},
		{Limits{MaxRequestHeaderCount: -1}, "MaxRequestHeaderCount"},
		{Limits{MaxRequestHeadersTotalSize: 1}, "MaxRequestHeadersTotalSize"},
		{Limits{KeepAliveTimeout: -time.Second}, "KeepAliveTimeout"},
		{Limits{RequestHeadersTimeout: -time.Second}, "RequestHeadersTimeout"},
		{Limits{MaxConcurrentConnections: -3}, "MaxConcurrentConnections"},
		{Limits{MaxRequestBufferSize: 100}, "MaxRequestBufferSize"},
		{Limits{MinRequestBodyDataRate: &DataRate{BytesPerSecond: -1, GracePeriod: 5 * time.Second}}, "MinRequestBodyDataRate"},
		{Limits{MinResponseDataRate: &DataRate{BytesPerSecond: 100, GracePeriod: time.Second}}, "MinResponseDataRate"},
	} {
		s := &Server{Limits: tc.limits, Logger: quietLogger}
		if err := s.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		err := s.Start()
		if err == nil {
			t.Errorf("%+v: Start succeeded", tc.limits)
		} else if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: %q does not name %s", tc.limits, err, tc.field)
		}
		if a := s.Addresses(); len(a) != 0 {
			t.Errorf("%s: bound %q despite invalid limits", tc.field, a)
		}
		s.Close()
	}
	// Unlimited where allowed, and NoMinDataRate.
	s := &Server{Limits: Limits{
		MaxRequestBodySize: Unlimited, KeepAliveTimeout: Unlimited, RequestHeadersTimeout: Unlimited,
		MaxConcurrentConnections: Unlimited, MinRequestBodyDataRate: NoMinDataRate, MinResponseDataRate: NoMinDataRate,
	}}
	addr := startServer(t, s)
	if resp, _ := get(t, newClient(t), "http://"+addr+"/"); resp.StatusCode != 404 {
		t.Errorf("with Unlimited limits: %d", resp.StatusCode)
	}
}

func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			w.Header().Set("X-Lost", "yes")
			io.WriteString(w, "partial, not sent")
			panic("boom")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/flushed":
			io.WriteString(w, "streaming;")
			w.(http.Flusher).Flush()
			panic("boom after flush")
		}
		io.WriteString(w, "ok")
	}))
	client := newClient(t)
	for range 3 {
		resp, body := get(t, client, "http://"+addr+"/panic")
		if resp.StatusCode != http.StatusInternalServerError || body != "" || resp.Header.Get("X-Lost") != "" {
			t.Errorf("/panic: %d %q %v, want an empty 500", resp.StatusCode, body, resp.Header)
		}
		if resp, body := get(t, client, "http://"+addr+"/ok"); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("after a panic: %d %q", resp.StatusCode, body)
		}
	}

	// http.ErrAbortHandler: the connection is closed without an answer.
	c := dial(t, addr)
	io.WriteString(c, "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("/abort: got %q, want nothing", b)
	}

	// After a flushed response, a panic aborts the connection: the client
	// sees the body cut short.
	resp, err := client.Get("http://" + addr + "/flushed")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "streaming;" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("/flushed: read %q, %v; want the flushed part then io.ErrUnexpectedEOF", b, err)
	}
	if resp, body := get(t, client, "http://"+addr+"/ok"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("after an aborted response: %d %q", resp.StatusCode, body)
	}
}

func TestNativeHandlerPanic(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/panic" {
			c.SetHeader("X-Lost", "yes")
			panic("native boom")
		}
		c.WriteString("ok")
	})})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 500 || resp.Header.Get("X-Lost") != "" {
		t.Errorf("got %d %v, want a bare 500", resp.StatusCode, resp.Header)
	}
	// The connection survives a 500 for a panic.
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the next request on the connection: %v %v", resp, err)
	}
}

// TestShutdownServesFirstRequest: a connection accepted just before
// Shutdown whose first request arrives a moment later (its client sent it
// as the connection was accepted) is served, with Connection: close, not
// closed as idle: the client would lose the request.
func TestShutdownServesFirstRequest(t *testing.T) {
	t.Parallel()
	accepted := make(chan struct{}, 1)
	s := &Server{Handler: echoHandler(nil), Logger: quietLogger, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepted <- struct{}{}
		}
	}}
	addr := startServer(t, s)
	c := dial(t, addr)
	select { // accepted and waiting for its first request
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not accepted in 10 s")
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	for s.State() != StateDraining {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // Shutdown has closed the listeners and idle connections
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the first request, sent 100 ms into Shutdown: %v", err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("%d, close=%v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// serverGoroutines counts the goroutines of the servers' heartbeats and
// connection parkers.
func serverGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return bytes.Count(buf, []byte("heartbeat.(*Heartbeat).run")) + bytes.Count(buf, []byte("transport.(*Parker).run"))
}

// settledServerGoroutines is serverGoroutines once it is want, or after
// two seconds: a stopped heartbeat or parker has signalled its end, but
// its goroutine may still be on its way out.
func settledServerGoroutines(want int) int {
	n := serverGoroutines()
	for deadline := time.Now().Add(2 * time.Second); n != want && time.Now().Before(deadline); n = serverGoroutines() {
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// TestFailedStartLeavesNothingRunning: a Start that cannot bind keeps no
// endpoint, and no goroutine or descriptor either, as a failed
// http.Server.ListenAndServe: a program that drops the server after the
// error (without Close) leaks nothing, and Start can be tried again. Not
// parallel: it counts the process's goroutines.
func TestFailedStartLeavesNothingRunning(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	before := serverGoroutines()
	s := &Server{Logger: quietLogger}
	if err := s.Listen(busy.Addr().String()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Start(); err == nil {
			s.Close()
			t.Fatal("Start succeeded on an address in use")
		}
	}
	if n := settledServerGoroutines(before); n != before {
		t.Errorf("after a failed Start, %d heartbeat and parker goroutines run, want %d", n, before)
	}
	if err := s.Reload(&Config{}); err == nil || errors.Is(err, ErrServerClosed) {
		t.Errorf("Reload after a failed Start: %v, want the error of a server not started", err)
	}
	busy.Close()
	if err := s.Start(); err != nil {
		t.Fatalf("Start once the address is free: %v", err)
	}
	if resp, _ := get(t, newClient(t), s.Addresses()[0]+"/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("got %d, want the nil handler's 404", resp.StatusCode)
	}
	s.Close()
	if n := settledServerGoroutines(before); n != before {
		t.Errorf("after Close, %d heartbeat and parker goroutines run, want %d", n, before)
	}
}

// TestShutdownEndedContextNothingToWaitFor: a Shutdown whose context has
// already ended returns nil when it had no connection to cut short, as
// http.Server.Shutdown does (and Kestrel counts the stop as graceful), and
// the context's error when it aborted a request.
func TestShutdownEndedContextNothingToWaitFor(t *testing.T) {
	t.Parallel()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("never started", func(t *testing.T) {
		t.Parallel()
		if err := (&Server{Logger: quietLogger}).Shutdown(ended); err != nil {
			t.Errorf("Shutdown: %v, want nil", err)
		}
	})
	t.Run("no connection", func(t *testing.T) {
		t.Parallel()
		s := &Server{}
		addr := startServer(t, s)
		if err := s.Shutdown(ended); err != nil {
			t.Errorf("Shutdown: %v, want nil", err)
		}
		waitRefused(t, addr)
	})
	t.Run("a request in flight", func(t *testing.T) {
		t.Parallel()
		entered := make(chan struct{})
		s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done()
		})}
		addr := startServer(t, s)
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		<-entered
		if err := s.Shutdown(ended); !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown: %v, want context.Canceled", err)
		}
	})
}

// TestCloseEndsDrains: Close stops the drains waiting for handlers that
// ignore their request's context, as it does not wait for them itself: a
// Shutdown waiting with a context that never ends returns (as
// http.Server.Shutdown does once Close is called: the second Ctrl-C of a
// program), and so does Close while Reload drains an endpoint it stopped,
// and a Shutdown whose context ended then, once it aborted what was left.
func TestCloseEndsDrains(t *testing.T) {
	t.Parallel()
	t.Run("Shutdown", func(t *testing.T) {
		t.Parallel()
		g := newGated()
		t.Cleanup(func() { close(g.release) })
		s := &Server{Handler: g}
		addr := startServer(t, s)
		busy := dialRaw(t, "tcp", addr)
		busy.start(t, "GET", "/wait", "")
		<-g.started
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		pollUntil(t, "stopped accepting", func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		s.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Shutdown still waits for a handler after Close")
		}
	})
	// drainingAfterReload starts a server whose reload stopped an
	// endpoint with a request in flight, which its handler holds.
	drainingAfterReload := func(t *testing.T) *Server {
		t.Helper()
		g := newGated()
		t.Cleanup(func() { close(g.release) })
		sock := filepath.Join(t.TempDir(), "b.sock")
		s, _ := startConfigured(t, g, `{"Kestrel": {"ShutdownTimeout": "00:01:00", "Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "unix:`+sock+`"}}}}`)
		busy := dialRaw(t, "unix", sock)
		busy.start(t, "GET", "/wait", "")
		<-g.started
		reloadJSON(t, s, `{"Kestrel": {"ShutdownTimeout": "00:01:00", "Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
		return s
	}
	t.Run("Reload", func(t *testing.T) {
		t.Parallel()
		s := drainingAfterReload(t)
		start := time.Now()
		s.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close took %v while Reload drained a stopped endpoint", d)
		}
	})
	t.Run("Shutdown after Reload", func(t *testing.T) {
		t.Parallel()
		s := drainingAfterReload(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want its context's deadline", err)
		}
		// Its deadline, then a second for the aborted handler.
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Shutdown took %v while Reload drained a stopped endpoint", d)
		}
	})
}
