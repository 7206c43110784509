package kestrel

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// armedConn is a connection middleware's wrapper that panics in one of
// its methods (op), once, the first time that method is called (or
// returns, for Read, which may be blocked when armed) after arm.
type armedConn struct {
	net.Conn
	op    string
	armed atomic.Bool
	fired atomic.Bool
}

func (c *armedConn) arm() { c.armed.Store(true) }

func (c *armedConn) maybe(op string) {
	if op == c.op && c.armed.Load() && c.fired.CompareAndSwap(false, true) {
		panic("wrapper bug in " + op)
	}
}

func (c *armedConn) Read(p []byte) (int, error) {
	c.maybe("Read")
	n, err := c.Conn.Read(p)
	c.maybe("Read")
	return n, err
}

func (c *armedConn) Write(p []byte) (int, error) { c.maybe("Write"); return c.Conn.Write(p) }
func (c *armedConn) Close() error                { c.maybe("Close"); return c.Conn.Close() }
func (c *armedConn) LocalAddr() net.Addr         { c.maybe("LocalAddr"); return c.Conn.LocalAddr() }
func (c *armedConn) RemoteAddr() net.Addr        { c.maybe("RemoteAddr"); return c.Conn.RemoteAddr() }
func (c *armedConn) SetDeadline(t time.Time) error {
	c.maybe("SetDeadline")
	return c.Conn.SetDeadline(t)
}
func (c *armedConn) SetReadDeadline(t time.Time) error {
	c.maybe("SetReadDeadline")
	return c.Conn.SetReadDeadline(t)
}
func (c *armedConn) SetWriteDeadline(t time.Time) error {
	c.maybe("SetWriteDeadline")
	return c.Conn.SetWriteDeadline(t)
}

// TestConnectionWrapperPanicsEverywhere: a panic in any method of the
// connection a connection middleware returned, at any point of the
// connection's life (before the first request, while the handler reads
// the body and writes the response, serving a file, after the response
// while idle, after a hijack, in a WebSocket), over HTTP/1.1, h2c (prior knowledge and
// Upgrade), h2 over TLS and a TLS connection the middleware made over
// its wrapper (HTTP/1.1 and h2), ends
// that connection alone, as net/http's connection goroutine and Kestrel's
// ConnectionDispatcher do: it is logged once as an error with its stack,
// its MaxConcurrentConnections slot is free for the next connection, it
// ends in kestrel.connection.duration with an error.type, ConnState sees
// it closed, and Shutdown returns at once.
func TestConnectionWrapperPanicsEverywhere(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	certPath, keyPath := pki.issue(t, "server", false, "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl (for h2c Upgrade) is missing: scripts/install-test-deps.sh installs it")
	}
	static := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(static, bytes.Repeat([]byte("s"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ops := []string{"Read", "Write", "Close", "SetDeadline", "SetReadDeadline", "SetWriteDeadline", "LocalAddr", "RemoteAddr"}
	protos := []string{"h1", "h2c", "h2c-upgrade", "h2", "mw-tls-h1", "mw-tls-h2"}
	points := []string{"start", "request", "static", "idle", "hijack", "websocket"}
	for _, proto := range protos {
		for _, point := range points {
			if (point == "hijack" || point == "websocket") && proto != "h1" {
				continue
			}
			for _, op := range ops {
				t.Run(proto+"/"+point+"/"+op, func(t *testing.T) {
					t.Parallel()
					testWrapperPanic(t, pki, certPath, keyPath, cert, static, proto, point, op)
				})
			}
		}
	}
}

func testWrapperPanic(t *testing.T, pki *testPKI, certPath, keyPath string, cert tls.Certificate, static, proto, point, op string) {
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelInfo)
	var first atomic.Pointer[armedConn]
	var calls atomic.Int32
	var mu sync.Mutex
	var firstNC net.Conn
	var closed bool
	var endedFirst bool                // the first connection ended before the wrapper's panic was logged
	handlerDone := make(chan struct{}) // the hijacking handler's, which closes its connection
	s := &Server{Logger: log, MeterProvider: mp, Limits: Limits{MaxConcurrentConnections: 1},
		ConnState: func(c net.Conn, state http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if state == http.StateNew && firstNC == nil {
				firstNC = c
			}
			if (state == http.StateClosed || state == http.StateHijacked) && c == firstNC {
				closed = true
				// The panic's log comes after its end reason is recorded.
				endedFirst = len(rec.eventsAt(slog.LevelError)) == 0
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := first.Load()
			switch r.URL.Path {
			case "/request":
				c.arm()
				io.Copy(io.Discard, r.Body)
				w.Write(bytes.Repeat([]byte("r"), 256<<10))
			case "/static":
				c.arm()
				http.ServeFile(w, r, static)
			case "/idle":
				io.WriteString(w, "idle")
				w.(http.Flusher).Flush()
				c.arm()
			case "/hijack":
				defer close(handlerDone)
				nc, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				c.arm()
				brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
				brw.Flush()
				nc.SetDeadline(time.Now().Add(time.Second))
				nc.Read(make([]byte, 1))
				nc.LocalAddr()
				nc.RemoteAddr()
				nc.Close()
			case "/websocket":
				defer close(handlerDone)
				ws, err := cws.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer ws.CloseNow()
				c.arm()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for {
					typ, msg, err := ws.Read(ctx)
					if err != nil {
						return
					}
					if err := ws.Write(ctx, typ, msg); err != nil {
						return
					}
				}
			default:
				io.WriteString(w, "ok")
			}
		})}
	mwTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch proto {
	case "mw-tls-h2":
		mwTLS.NextProtos = []string{"h2", "http/1.1"}
	case "mw-tls-h1":
		mwTLS.NextProtos = []string{"http/1.1"}
	}
	ep := Endpoint{Address: "127.0.0.1:0",
		ConnectionMiddleware: []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) {
			if calls.Add(1) == 1 {
				ac := &armedConn{Conn: c, op: op}
				if point == "start" {
					ac.arm()
				}
				first.Store(ac)
				c = ac
			}
			if strings.HasPrefix(proto, "mw-tls") {
				tc := tls.Server(c, mwTLS)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := tc.HandshakeContext(ctx); err != nil {
					return nil, err
				}
				return tc, nil
			}
			return c, nil
		}},
	}
	switch proto {
	case "h2":
		ep.HTTPS = &HTTPS{CertificateFile: certPath, KeyFile: keyPath}
	case "h2c":
		ep.Protocols = HTTP2
	case "h2c-upgrade":
		ep.Protocols = HTTP1AndHTTP2
	}
	addr := startEndpoint(t, s, ep)
	scheme := "http://"
	if proto == "h2" || strings.HasPrefix(proto, "mw-tls") {
		scheme = "https://"
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}, Protocols: new(http.Protocols)}
	switch proto {
	case "h1", "mw-tls-h1":
		tr.Protocols.SetHTTP1(true)
	case "h2c":
		tr.Protocols.SetUnencryptedHTTP2(true)
	default:
		tr.Protocols.SetHTTP2(true)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(path string) error {
		req, _ := http.NewRequest("POST", scheme+addr+path, bytes.NewReader(bytes.Repeat([]byte("b"), 64<<10)))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}

	// The first connection: the point, then another request on it.
	path := "/" + point
	if point == "start" {
		path = "/"
	}
	if proto == "h2c-upgrade" {
		cmd := exec.Command("curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "--max-time", "5", "--http2", "http://"+addr+path, "http://"+addr+"/")
		cmd.Run() // the connection may fail: the wrapper panicked
	} else if point == "websocket" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ws, _, err := cws.Dial(ctx, "ws://"+addr+path, nil); err == nil {
			ws.Write(ctx, cws.MessageText, []byte("hi"))
			ws.Read(ctx)
			ws.Close(cws.StatusNormalClosure, "")
		}
	} else {
		get(path)
		get("/")
	}
	tr.CloseIdleConnections()
	// Whatever the panic, the first connection ends (the client closed
	// it): ConnState sees it closed, or hijacked. Only then is it known
	// whether the wrapper's op panicked (Close may come last).
	if point == "hijack" || point == "websocket" {
		select {
		case <-handlerDone:
		case <-time.After(5 * time.Second):
			t.Fatal("the hijacking handler did not return")
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		c := closed
		mu.Unlock()
		if c {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ConnState did not see the first connection closed (or hijacked)")
		}
	}

	ac := first.Load()
	if ac == nil {
		t.Fatal("the middleware did not run")
	}
	fired := ac.fired.Load()
	if fired {
		want := "wrapper bug in " + op
		var e []event
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if e = rec.eventsAt(slog.LevelError); len(e) > 0 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // a second log would come now
		e = rec.eventsAt(slog.LevelError)
		if len(e) != 1 || !strings.Contains(e[0].msg, want) || !strings.Contains(e[0].msg, "goroutine ") {
			t.Fatalf("errors logged: %d, want one with %q and its stack: %+v", len(e), want, e)
		}
	} else if t.Logf("the wrapper's %s was not called at %s", op, point); len(rec.eventsAt(slog.LevelError)) > 0 {
		e := rec.eventsAt(slog.LevelError)
		t.Errorf("errors logged without a panic: %+v", e)
	}

	// The slot is free: a new connection is served.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = get("/"); err == nil {
			break
		}
		tr.CloseIdleConnections()
	}
	if err != nil {
		t.Fatalf("the next connection: %v", err)
	}
	tr.CloseIdleConnections()
	mu.Lock()
	late := endedFirst
	mu.Unlock()
	if fired && !late {
		// other_error, or the error the connection had met before a late
		// panic (the first error wins, as in Kestrel). A panic after the
		// connection ended (a stream's worker waking the reader with
		// SetReadDeadline as it finishes) changes nothing there.
		waitFor(t, "the first connection ended with an error.type", func() bool {
			var n uint64
			for _, p := range metricstest.Points(t, reader, "kestrel.connection.duration") {
				if p.Attrs["error.type"] != "" {
					n += p.Count
				}
			}
			return n >= 1
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

// eventsAt returns the records at level.
func (r *logRecorder) eventsAt(level slog.Level) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, rec := range r.records {
		if rec.Level == level {
			var b strings.Builder
			b.WriteString(rec.Message)
			rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
			out = append(out, event{level: rec.Level, msg: b.String()})
		}
	}
	return out
}

// TestConnectionWrapperPanicGoroutines: after a wrapper's panic on the
// HTTP/2 reader (Read) or writer (Write) goroutine, or HTTP/1.1's, in the
// middle of a request, no goroutine of the connection is left blocked:
// once the server is shut down, the count is back to what it was. Not
// parallel, so that other tests' goroutines do not come and go meanwhile.
func TestConnectionWrapperPanicGoroutines(t *testing.T) {
	for _, tc := range []struct{ proto, op string }{
		{"h2c", "Read"}, {"h2c", "Write"}, {"h2c", "Close"}, {"h1", "Read"}, {"h1", "Write"},
	} {
		t.Run(tc.proto+"/"+tc.op, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var first atomic.Pointer[armedConn]
			s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c := first.Load(); c != nil {
					c.arm()
				}
				io.Copy(io.Discard, r.Body)
				w.Write(bytes.Repeat([]byte("r"), 256<<10))
			})}
			ep := Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) {
				ac := &armedConn{Conn: c, op: tc.op}
				first.CompareAndSwap(nil, ac)
				return ac, nil
			}}}
			if tc.proto == "h2c" {
				ep.Protocols = HTTP2
			}
			addr := startEndpoint(t, s, ep)
			tr := &http.Transport{Protocols: new(http.Protocols)}
			if tc.proto == "h2c" {
				tr.Protocols.SetUnencryptedHTTP2(true)
			} else {
				tr.Protocols.SetHTTP1(true)
			}
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for range 3 { // the first is cut by the panic
				resp, err := client.Post("http://"+addr+"/", "text/plain", bytes.NewReader(bytes.Repeat([]byte("b"), 64<<10)))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if !first.Load().fired.Load() {
				t.Fatal("the wrapper did not panic")
			}
			var now int
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if now = runtime.NumGoroutine(); now <= before {
					return
				}
			}
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after the shutdown:\n%s", before, now, buf[:runtime.Stack(buf, true)])
		})
	}
}
