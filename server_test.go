package kestrel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/proctest"
)

// quietLogger drops the server's logs: tests provoke errors (panics,
// rejected requests) on purpose.
var quietLogger = slog.New(slog.DiscardHandler)

// startServer starts s on a free loopback port, closes it when the test
// ends and returns its "127.0.0.1:port" address.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	if s.Logger == nil {
		s.Logger = quietLogger
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addrs := s.Addresses()
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0], "http://127.0.0.1:") {
		t.Fatalf("Addresses() = %q, want one http://127.0.0.1:port", addrs)
	}
	return strings.TrimPrefix(addrs[0], "http://")
}

// startEndpoint starts s with the endpoint ep (whose Address is a free
// loopback port), closes it when the test ends and returns its
// "127.0.0.1:port" address, without the scheme.
func startEndpoint(t testing.TB, s *Server, ep Endpoint) string {
	t.Helper()
	if err := s.ListenEndpoint(ep); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_, addr, _ := strings.Cut(s.Addresses()[0], "://")
	return addr
}

// startHandler starts a server for h and returns its address.
func startHandler(t testing.TB, h http.Handler) string {
	t.Helper()
	return startServer(t, &Server{Handler: h})
}

// newClient returns an HTTP client of its own, so that tests do not share
// keep-alive connections, closed when the test ends.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// keepAliveGetter returns a function that sends GET path on c, one
// request after another on the one connection, and returns the response's
// body; br reads c.
func keepAliveGetter(t testing.TB, c net.Conn, br *bufio.Reader) func(path string) string {
	return func(path string) string {
		t.Helper()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
}

// dial opens a raw connection with a deadline that stops a hung test.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends raw request bytes on a new connection and reads one
// response for a request with the given method.
func roundTrip(t testing.TB, addr, method, raw string) (*http.Response, []byte) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	return resp, body
}

func get(t testing.TB, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestServerKeepAlive(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	c := dial(t, addr)
	br := bufio.NewReader(c)
	local := c.LocalAddr().String()
	for i := range 5 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if want := fmt.Sprintf("GET /%d", i); string(b) != want || resp.Close {
			t.Fatalf("request %d: got %q close=%v, want %q on a kept connection", i, b, resp.Close, want)
		}
	}
	if c.LocalAddr().String() != local {
		t.Fatal("the connection changed")
	}
}

func TestServerHTTP10(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %d", r.Proto, r.ProtoMinor)
		if r.URL.Path == "/streamed" {
			w.(http.Flusher).Flush() // a length the head cannot tell
			io.WriteString(w, " more")
		}
	}))

	// HTTP/1.0 without keep-alive: the connection closes after the response.
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "HTTP/1.0 0" || resp.ContentLength != int64(len(b)) {
		t.Errorf("got %q (Content-Length %d), want %q with its length", b, resp.ContentLength, "HTTP/1.0 0")
	}

	// HTTP/1.0 with keep-alive: kept, and told so.
	c = dial(t, addr)
	br := bufio.NewReader(c)
	for i := range 2 {
		io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.Header.Get("Connection") != "keep-alive" {
			t.Errorf("request %d: Connection = %q, want keep-alive", i, resp.Header.Get("Connection"))
		}
	}

	// A streamed response of unknown length ends with the connection, but
	// the same response to HEAD has no body to delimit: kept, as net/http
	// keeps it.
	c = dial(t, addr)
	br = bufio.NewReader(c)
	for i, method := range []string{"HEAD", "HEAD", "GET"} {
		io.WriteString(c, method+" /streamed HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		kept, body := true, ""
		if method == "GET" {
			kept, body = false, "HTTP/1.0 0 more"
		}
		if got := resp.Header.Get("Connection") == "keep-alive" && !resp.Close; got != kept || string(b) != body {
			t.Errorf("request %d (%s): kept alive %v (Connection %q), body %q; want %v, %q", i, method, got, resp.Header.Get("Connection"), b, kept, body)
		}
	}
}

func TestServerRun(t *testing.T) {
	t.Parallel()
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ran")
	})}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if a := s.Addresses(); len(a) > 0 {
			addr = a[0]
		}
	}
	if addr == "" {
		t.Fatal("Run did not start the server")
	}
	if _, body := get(t, newClient(t), addr+"/"); body != "ran" {
		t.Errorf("got %q", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after its context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestServerServe(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served")
	})}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	if _, body := get(t, newClient(t), "http://"+l.Addr().String()+"/"); body != "served" {
		t.Errorf("got %q", body)
	}
	s.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v after Close, want ErrServerClosed", err)
	}
}

// closeCounting is a listener that counts its Close calls, and whose
// Accept fails with acceptErr once it is set.
type closeCounting struct {
	net.Listener
	closes    atomic.Int32
	acceptErr atomic.Pointer[error]
}

func (l *closeCounting) Accept() (net.Conn, error) {
	if err := l.acceptErr.Load(); err != nil {
		return nil, *err
	}
	c, err := l.Listener.Accept()
	if p := l.acceptErr.Load(); p != nil && err == nil {
		c.Close()
		return nil, *p
	}
	return c, err
}

func (l *closeCounting) Close() error {
	l.closes.Add(1)
	return l.Listener.Close()
}

// TestServeClosesListener: Serve closes l whenever it returns, as
// http.Server.Serve does, and a listener whose Accept failed is no longer
// among the Addresses of the server, which goes on.
func TestServeClosesListener(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("broken listener")
	for _, tc := range []struct {
		name  string
		setup func(*Server)
		stop  func(*Server, *closeCounting) // once Serve runs; nil: Serve returns at once
		want  error
	}{
		{"after Shutdown", func(s *Server) { s.Shutdown(context.Background()) }, nil, ErrServerClosed},
		{"after Close", func(s *Server) { s.Close() }, nil, ErrServerClosed},
		{"invalid limits", func(s *Server) { s.Limits.MaxRequestBodySize = -5 }, nil, nil},
		{"Shutdown", nil, func(s *Server, _ *closeCounting) { s.Shutdown(context.Background()) }, ErrServerClosed},
		{"Close", nil, func(s *Server, _ *closeCounting) { s.Close() }, ErrServerClosed},
		{"Accept fails", nil, func(s *Server, l *closeCounting) {
			l.acceptErr.Store(&errBroken)
			if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
				c.Close()
			}
		}, errBroken},
		{"closed by the caller", nil, func(s *Server, l *closeCounting) { l.Listener.Close() }, net.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := &closeCounting{Listener: tl}
			s := &Server{Logger: quietLogger}
			defer s.Close()
			if tc.setup != nil {
				tc.setup(s)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			if tc.stop != nil {
				for len(s.Addresses()) == 0 {
					time.Sleep(time.Millisecond)
				}
				tc.stop(s, l)
			}
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Serve returned %v, want %v", err, tc.want)
			}
			if n := l.closes.Load(); n == 0 {
				t.Error("Serve returned without closing its listener")
			}
			if a := s.Addresses(); len(a) != 0 && !errors.Is(err, ErrServerClosed) {
				t.Errorf("Addresses after Serve returned %v: %q", err, a)
			}
		})
	}
}

func TestServerNilHandler(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &Server{})
	resp, _ := get(t, newClient(t), "http://"+addr+"/anything")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
	if got := resp.Header.Get("Server"); got != "Kestrel" {
		t.Errorf("Server = %q, want Kestrel", got)
	}
}

func TestServerConcurrentClients(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	client := newClient(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for j := range 10 {
				want := fmt.Sprintf("client %d request %d %s", i, j, strings.Repeat("x", i*j*50))
				resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader(want))
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					t.Errorf("client %d request %d: got %d bytes, %v", i, j, len(b), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// lockedBuffer collects a server's log (or a child's output) while the
// test reads it.
type lockedBuffer = proctest.Log
