package kestrel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// plainWrap is a connection middleware's wrapper that exposes nothing of
// the socket.
type plainWrap struct{ net.Conn }

// rawGet sends a GET on c and reads the response; an error means the
// server closed the connection without one.
func rawGet(c net.Conn, br *bufio.Reader) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConnectionMiddlewareAtConnectionLimit: with MaxConcurrentConnections
// of 2 and a middleware that refuses some clients and wraps the others,
// the 2nd connection is served and the 3rd refused; connections the
// middleware refuses give their slot back (after 10 of them, the 2nd
// connection is still served, the 3rd still refused); the status page
// counts each kind.
func TestConnectionMiddlewareAtConnectionLimit(t *testing.T) {
	_, mp := metricstest.New()
	refuse := func(_ context.Context, c net.Conn) (net.Conn, error) {
		if c.RemoteAddr().(*net.TCPAddr).IP.Equal(net.ParseIP("127.0.0.2")) {
			return nil, errors.New("not allowed")
		}
		return plainWrap{c}, nil
	}
	s := &Server{MeterProvider: mp, Logger: quietLogger, Limits: Limits{MaxConcurrentConnections: 2}, Handler: okHandler()}
	s.StatusHandler(nil) // before Start: the status page counts
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{refuse}})
	status := func() statusConns { return s.status("").Connections }
	poll := func(what string, cond func(statusConns) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(status()); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v", what, status())
			}
		}
	}
	served := func() (net.Conn, error) {
		c := dialFrom(t, "127.0.0.1", addr)
		return c, rawGet(c, bufio.NewReader(c))
	}

	held, err := served()
	if err != nil {
		t.Fatalf("the 1st connection: %v", err)
	}
	if _, err := served(); err != nil {
		t.Fatalf("the 2nd connection, at the limit: %v", err)
	}
	if _, err := served(); err == nil {
		t.Fatal("the 3rd connection, over the limit, was served")
	}
	poll("one rejected", func(c statusConns) bool { return c.Rejected == 1 && c.Active == 2 })

	// Free a slot, then let the middleware refuse 10 connections.
	held.Close()
	poll("one closed", func(c statusConns) bool { return c.Active == 1 })
	for i := range 10 {
		c := dialFrom(t, "127.0.0.2", addr)
		if err := rawGet(c, bufio.NewReader(c)); err == nil {
			t.Fatalf("refused connection %d was served", i)
		}
		c.Close()
	}
	poll("10 refused by the middleware", func(c statusConns) bool {
		return c.Errors["connection_refused"] == 10 && c.Active == 1 && c.Rejected == 1
	})
	if _, err := served(); err != nil {
		t.Fatalf("after the middleware's refusals, the 2nd connection: %v", err)
	}
	if _, err := served(); err == nil {
		t.Fatal("after the middleware's refusals, the 3rd connection was served")
	}
	poll("two rejected", func(c statusConns) bool { return c.Rejected == 2 && c.Active == 2 })
}

// TestTLSRefusedAtConnectionLimit: on an HTTPS endpoint with a wrapping
// connection middleware and MaxConcurrentConnections of 2, handshakes the
// TLSHandshakeCallback refuses give their slot back: after 10 of them,
// two HTTP/2 connections are served and a third is refused; the status
// page counts the refusals.
func TestTLSRefusedAtConnectionLimit(t *testing.T) {
	pki := newTestPKI(t)
	_, mp := metricstest.New()
	s := &Server{MeterProvider: mp, Limits: Limits{MaxConcurrentConnections: 2}}
	s.StatusHandler(nil)
	wrap := func(_ context.Context, c net.Conn) (net.Conn, error) { return plainWrap{c}, nil }
	cert, key := pki.issue(t, "localhost", false, "localhost")
	s.Handler, s.Logger = okHandler(), quietLogger
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{wrap}, HTTPS: &HTTPS{
		CertificateFile: cert, KeyFile: key,
		TLSHandshakeCallback: func(h *ClientHello) (*tls.Config, error) {
			if h.ServerName == "refused.test" {
				return nil, errors.New("refused")
			}
			return nil, nil
		}}})
	status := func() serverStatus { return s.status("") }
	poll := func(what string, cond func(serverStatus) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(status()); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v", what, status())
			}
		}
	}
	for i := range 10 {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "refused.test", InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Fatalf("handshake %d was not refused", i)
		}
	}
	poll("10 refused", func(st serverStatus) bool {
		return st.Connections.Errors["tls_refused"] == 10 && st.TLS.Failures["refused"] == 10 && st.Connections.Active == 0
	})
	h2 := func() (*http.Transport, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			return tr, err
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			return tr, fmt.Errorf("%s", resp.Proto)
		}
		return tr, nil
	}
	for i := range 2 {
		if _, err := h2(); err != nil {
			t.Fatalf("HTTP/2 connection %d of 2: %v", i+1, err)
		}
	}
	if _, err := h2(); err == nil {
		t.Fatal("a 3rd HTTP/2 connection was served")
	}
	poll("one rejected", func(st serverStatus) bool { return st.Connections.Rejected == 1 && st.Connections.Active == 2 })
}

// TestDrainDelayPipelined: pipelined requests on a keep-alive connection
// are each answered during the drain delay, the last with Connection:
// close, none lost: written in one piece as the drain starts (the first
// one's handler still running) or while it runs; on a plain connection and
// on one a connection middleware wraps.
func TestDrainDelayPipelined(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		for _, when := range []string{"as it starts", "during it"} {
			t.Run(fmt.Sprintf("wrapped=%v/%s", wrapped, when), func(t *testing.T) {
				t.Parallel()
				started := make(chan struct{}, 1)
				release := make(chan struct{})
				s := &Server{DrainDelay: 5 * time.Second, Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/slow" {
						started <- struct{}{}
						<-release
					}
					io.WriteString(w, r.URL.Path)
				})}
				ep := Endpoint{Address: "127.0.0.1:0"}
				if wrapped {
					ep.ConnectionMiddleware = []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) { return plainWrap{c}, nil }}
				}
				if err := s.ListenEndpoint(ep); err != nil {
					t.Fatal(err)
				}
				if err := s.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				c := dial(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				if err := rawGet(c, br); err != nil { // the connection is kept alive
					t.Fatal(err)
				}
				paths := []string{"/a", "/b", "/c"}
				var batch string
				for _, p := range paths {
					batch += "GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n"
				}
				shutdown := func() {
					go s.Shutdown(context.Background())
					pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
				}
				if when == "as it starts" {
					paths = append([]string{"/slow"}, paths...)
					io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"+batch)
					<-started
					shutdown()
					close(release)
				} else {
					shutdown()
					io.WriteString(c, batch)
				}
				for i, p := range paths {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("response %d of %d (%s): %v", i+1, len(paths), p, err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					last := i == len(paths)-1
					if string(b) != p || resp.Close != last {
						t.Fatalf("response %d of %d: %q, Connection: close %v; want %q, close only on the last", i+1, len(paths), b, resp.Close, p)
					}
				}
				if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
					t.Errorf("after the last response: %q, %v; want the connection closed", rest, err)
				}
			})
		}
	}
}

// TestDrainDelayHTTP2AtStreamLimit: an h2c connection (through a wrapping
// connection middleware) with exactly MaxStreamsPerConnection streams in
// flight when the drain delay starts: one more is refused, the GOAWAY
// names the last of them, and each is answered.
func TestDrainDelayHTTP2AtStreamLimit(t *testing.T) {
	t.Parallel()
	const limit = 4
	started := make(chan struct{}, limit+1)
	release := make(chan struct{})
	s := &Server{DrainDelay: 5 * time.Second, Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, r.URL.Path)
	})}
	s.Limits.Http2.MaxStreamsPerConnection = limit
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2, ConnectionMiddleware: []ConnectionMiddleware{
		func(_ context.Context, c net.Conn) (net.Conn, error) { return plainWrap{c}, nil }}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h2 := dialRawH2(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
	for i := range limit {
		h2.get(uint32(2*i+1), fmt.Sprintf("/%d", 2*i+1))
	}
	for range limit {
		<-started
	}
	go s.Shutdown(context.Background())
	pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
	h2.get(2*limit+1, "/over") // one more than the limit
	const over = 2*limit + 1
	var goAway *http2.GoAwayFrame
	refused := false
	answered := map[uint32]bool{}
	onFrame := func(f http2.Frame) {
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			goAway = f
		case *http2.RSTStreamFrame:
			if f.StreamID != over || f.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("RST_STREAM %d %v, want only stream %d refused", f.StreamID, f.ErrCode, over)
			}
			refused = true
		case *http2.HeadersFrame:
			if f.StreamID == over {
				t.Fatalf("stream %d, over the limit, was answered", over)
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				answered[f.StreamID] = true
			}
		}
	}
	// The 5th stream is refused before any of the 4 ends (after, it
	// would be within the limit).
	for goAway == nil || !refused {
		onFrame(h2.read())
	}
	if goAway.ErrCode != http2.ErrCodeNo || goAway.LastStreamID < 2*limit-1 {
		t.Fatalf("GOAWAY %v, last stream %d; want NO_ERROR, at least %d", goAway.ErrCode, goAway.LastStreamID, 2*limit-1)
	}
	close(release)
	for len(answered) < limit {
		onFrame(h2.read())
	}
}

// TestConnectionMiddlewareStuckAtShutdown: a connection whose middleware
// waits for bytes the client never sends is closed by Close, and by
// Shutdown when its context ends, which then returns the context's error
// (it returned nil, and the connection stayed open until the client
// spoke); the connection ends with app_shutdown_timeout.
func TestConnectionMiddlewareStuckAtShutdown(t *testing.T) {
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			reader, mp := metricstest.New()
			in := make(chan struct{}, 1)
			s := &Server{MeterProvider: mp, Logger: quietLogger, Handler: okHandler()}
			err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) {
				in <- struct{}{}
				c.SetReadDeadline(time.Now().Add(30 * time.Second)) // only to end a failed test
				_, err := c.Read(make([]byte, 1))
				return c, err
			}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			c := dial(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
			<-in
			if how == "Close" {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown with a connection stuck in its middleware: %v, want %v", err, context.DeadlineExceeded)
				}
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after %s, the client read %d bytes, %v; want the connection closed", how, n, err)
			}
			waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "app_shutdown_timeout"}, 1)
		})
	}
}

// TestConnectionMiddlewareAcrossReload: an endpoint from code keeps its
// connection middleware through reloads that add, change and remove
// endpoints of the configuration (which have none), and new connections
// still pass through it; the limits a reload sets apply to them.
func TestConnectionMiddlewareAcrossReload(t *testing.T) {
	var through atomic.Int64
	count := func(_ context.Context, c net.Conn) (net.Conn, error) {
		through.Add(1)
		return plainWrap{c}, nil
	}
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{count}}); err != nil {
		t.Fatal(err)
	}
	mustNil(t, parseTestConfig(t, `{"Kestrel": {}}`).Apply(s))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code := strings.TrimPrefix(s.Addresses()[0], "http://")
	get := func(addr, path string) *http.Response {
		t.Helper()
		c := dial(t, addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i, cfg := range []string{
		`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`,
		`{"Kestrel": {"Limits": {"MaxRequestLineSize": 100}, "Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`,
		`{"Kestrel": {"Limits": {"MaxRequestLineSize": 100}}}`,
	} {
		reloadJSON(t, s, cfg)
		before := through.Load()
		if resp := get(code, "/"); resp.StatusCode != 200 {
			t.Fatalf("reload %d: the code endpoint answered %d", i+1, resp.StatusCode)
		}
		if through.Load() != before+1 {
			t.Fatalf("reload %d: a new connection to the code endpoint did not pass its middleware", i+1)
		}
		for _, a := range s.Addresses() {
			if a = strings.TrimPrefix(a, "http://"); a != code {
				before := through.Load()
				get(a, "/")
				if through.Load() != before {
					t.Errorf("reload %d: a connection to the configuration's endpoint %s passed the code endpoint's middleware", i+1, a)
				}
			}
		}
		if i >= 1 {
			if resp := get(code, "/"+strings.Repeat("x", 200)); resp.StatusCode != http.StatusRequestURITooLong {
				t.Errorf("reload %d: a request line over the reloaded limit: %d, want 414", i+1, resp.StatusCode)
			}
		}
	}
}

// TestConnectionMiddlewareOwnTLS: a middleware on a cleartext endpoint
// that terminates TLS itself (returning the *tls.Conn after its
// handshake) is served: HTTP/1.1, and HTTP/2 when its ALPN chose h2.
func TestConnectionMiddlewareOwnTLS(t *testing.T) {
	pki := newTestPKI(t)
	certFile, keyFile := pki.issue(t, "own", false, "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	terminate := func(ctx context.Context, c net.Conn) (net.Conn, error) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			return nil, err
		}
		return tc, nil
	}
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %v", r.Proto, r.TLS != nil)
	})}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2, ConnectionMiddleware: []ConnectionMiddleware{terminate}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := "https://" + strings.TrimPrefix(s.Addresses()[0], "http://")
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}, ForceAttemptHTTP2: h2}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(addr + "/")
		if err != nil {
			t.Fatalf("h2 %v: %v", h2, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if !strings.HasPrefix(string(b), want) {
			t.Errorf("h2 %v: %q, want %s", h2, b, want)
		}
	}
}

// TestConnectionMiddlewareTypedNilError: a middleware that returns a nil
// pointer as its error (a non-nil error) refuses the connection, logged
// with a message that says so, and the server goes on.
func TestConnectionMiddlewareTypedNilError(t *testing.T) {
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{Logger: log, Handler: okHandler()}
	err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) {
		if c.RemoteAddr().(*net.TCPAddr).IP.Equal(net.ParseIP("127.0.0.2")) {
			var err *os.PathError
			return nil, err
		}
		return c, nil
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	c := dialFrom(t, "127.0.0.2", addr)
	if err := rawGet(c, bufio.NewReader(c)); err == nil {
		t.Fatal("a connection refused with a typed nil error was served")
	}
	c = dialFrom(t, "127.0.0.1", addr)
	if err := rawGet(c, bufio.NewReader(c)); err != nil {
		t.Fatalf("the server after a typed nil error: %v", err)
	}
	e := rec.events("ConnectionMiddlewareRefused")
	if len(e) != 1 || !strings.Contains(e[0].msg, "a nil *fs.PathError") {
		t.Errorf("ConnectionMiddlewareRefused events %+v, want one naming the typed nil", e)
	}
}
