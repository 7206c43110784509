package kestrel

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type ctxKey string

// TestServerHooks checks the http.Server hooks migrating code uses:
// BaseContext and ConnContext values reach the request context,
// cancelling the base context cancels requests, ConnState reports
// net/http's sequence, and ErrorLog receives the logs.
func TestServerHooks(t *testing.T) {
	t.Parallel()
	base, cancelBase := context.WithCancel(context.WithValue(context.Background(), ctxKey("base"), "b"))
	defer cancelBase()
	var mu sync.Mutex
	var states []http.ConnState
	var logs lockedBuffer
	cancelled := make(chan error, 1)
	s := &Server{
		ErrorLog:    log.New(&logs, "kestrel-test: ", 0),
		BaseContext: func(l net.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey("conn"), c.RemoteAddr().String())
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			states = append(states, st)
			mu.Unlock()
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/values":
				io.WriteString(w, r.Context().Value(ctxKey("base")).(string)+" "+r.Context().Value(ctxKey("conn")).(string))
			case "/wait":
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					cancelled <- r.Context().Err()
				case <-time.After(5 * time.Second):
					cancelled <- nil
				}
			case "/panic":
				panic("boom")
			}
		}),
	}
	if err := s.Listen("127.0.0.1:0"); err != nil { // not startServer: it sets Logger
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	c := dial(t, addr)
	io.WriteString(c, "GET /values HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := readResponse(t, c)
	if want := "b " + c.LocalAddr().String(); resp.StatusCode != 200 || body != want {
		t.Errorf("values: %d %q, want %q", resp.StatusCode, body, want)
	}
	c.Close()
	waitFor(t, "the connection to close", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) > 0 && states[len(states)-1] == http.StateClosed
	})
	mu.Lock()
	got := states
	mu.Unlock()
	want := []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("ConnState sequence %v, want %v", got, want)
	}

	// Cancelling the base context cancels the requests in flight.
	go newClient(t).Get("http://" + addr + "/wait")
	time.Sleep(100 * time.Millisecond)
	cancelBase()
	select {
	case err := <-cancelled:
		if err == nil {
			t.Error("cancelling BaseContext did not cancel the request")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never returned")
	}

	// ErrorLog gets the server's logs.
	newClient(t).Get("http://" + addr + "/panic")
	out := logs.String()
	if !strings.Contains(out, "kestrel-test: ") || !strings.Contains(out, "An unhandled exception was thrown by the application") {
		t.Errorf("ErrorLog got %q", out)
	}
}

// TestRegisterOnShutdown checks that the registered functions run when
// Shutdown starts, so a long-lived handler can end.
func TestRegisterOnShutdown(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	entered := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-stop // a long poll that ends when the server stops
		io.WriteString(w, "bye")
	})}
	s.RegisterOnShutdown(func() { close(stop) })
	addr := startServer(t, s)
	got := make(chan string, 1)
	go func() {
		resp, err := newClient(t).Get("http://" + addr + "/poll")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (the registered function did not end the handler)", err)
	}
	if b := <-got; b != "bye" {
		t.Errorf("the long poll got %q", b)
	}
}

// TestRegisterOnShutdownAfterDrainDelay: with a DrainDelay, the
// registered functions run when the delay ends, not when Shutdown is
// called, as RegisterOnShutdown says.
func TestRegisterOnShutdownAfterDrainDelay(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	s := &Server{Handler: http.NotFoundHandler(), DrainDelay: delay}
	ran := make(chan time.Time, 1)
	s.RegisterOnShutdown(func() { ran <- time.Now() })
	startServer(t, s)
	begin := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-ran:
		if d := at.Sub(begin); d < delay {
			t.Errorf("the function ran %v into Shutdown, during the %v drain delay", d, delay)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the function did not run")
	}
}

// TestSetKeepAlivesEnabled checks that with keep-alives off every response
// closes its connection, and that turning them off closes idle ones.
func TestSetKeepAlivesEnabled(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	addr := startServer(t, s)
	idle := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := readResponse(t, idle); resp.Close {
		t.Fatal("keep-alive is off by default")
	}
	s.SetKeepAlivesEnabled(false)
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("an idle connection stayed open after SetKeepAlivesEnabled(false): %d %v", n, err)
	}
	resp, _ := roundTrip(t, addr, "GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !resp.Close {
		t.Error("a response kept its connection with keep-alives off")
	}
	s.SetKeepAlivesEnabled(true)
	resp, _ = roundTrip(t, addr, "GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.Close {
		t.Error("keep-alives stayed off after SetKeepAlivesEnabled(true)")
	}
}

// readResponse reads one response from c (a connection of the test's own)
// with its body.
func readResponse(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
