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
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// preamble is what the clients of TestConnectionMiddleware send before
// TLS or HTTP, for a middleware to read and check.
const preamble = "KESTREL-PREAMBLE"

// countingConn counts the bytes that pass through it. It embeds the
// *net.TCPConn, so it exposes the socket (SyscallConn): the server must
// still read and write through its methods, or the counts fall short.
type countingConn struct {
	*net.TCPConn
	in, out *atomic.Int64
	closed  chan struct{}
	once    atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	if c.once.CompareAndSwap(false, true) {
		close(c.closed)
	}
	return c.TCPConn.Close()
}

// clientCounter is a client's dialer that sends the preamble and counts
// the bytes it writes and reads after it.
type clientCounter struct {
	in, out atomic.Int64
	from    string // local IP to dial from
}

type clientConn struct {
	net.Conn
	cc *clientCounter
}

func (c clientConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.cc.in.Add(int64(n))
	return n, err
}

func (c clientConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.cc.out.Add(int64(n))
	return n, err
}

func (cc *clientCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(cc.from)}}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, preamble); err != nil {
		c.Close()
		return nil, err
	}
	return clientConn{c, cc}, nil
}

// TestConnectionMiddleware runs three middleware on plain and TLS
// endpoints, with HTTP/1.1 and HTTP/2: one refuses clients by address,
// one reads and checks a preamble the client sends before anything else,
// and one wraps the connection to count its bytes. The counts must match
// the client's to the byte (nothing bypasses the wrapper), the wrapper
// sees the connection's end, and a refused connection is counted with
// the end reason connection_refused and logged at Debug.
func TestConnectionMiddleware(t *testing.T) {
	pki := newTestPKI(t)
	certPath, keyPath := pki.issue(t, "server", false, "127.0.0.1")
	for _, tc := range []struct {
		name  string
		tls   bool
		http2 bool
	}{
		{"plain/HTTP1", false, false},
		{"plain/h2c", false, true},
		{"TLS/HTTP1", true, false},
		{"TLS/HTTP2", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in, out atomic.Int64
			closed := make(chan struct{}, 16)
			refuse := func(_ context.Context, c net.Conn) (net.Conn, error) {
				if ip := c.RemoteAddr().(*net.TCPAddr).IP; ip.Equal(net.ParseIP("127.0.0.2")) {
					return nil, fmt.Errorf("%v is not allowed", ip)
				}
				return c, nil
			}
			readPreamble := func(_ context.Context, c net.Conn) (net.Conn, error) {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				defer c.SetReadDeadline(time.Time{})
				b := make([]byte, len(preamble))
				if _, err := io.ReadFull(c, b); err != nil {
					return nil, fmt.Errorf("reading the preamble: %w", err)
				}
				if string(b) != preamble {
					return nil, fmt.Errorf("preamble %q", b)
				}
				return c, nil
			}
			count := func(_ context.Context, c net.Conn) (net.Conn, error) {
				tc, ok := c.(*net.TCPConn)
				if !ok {
					return nil, fmt.Errorf("a %T, not the *net.TCPConn", c)
				}
				cc := &countingConn{TCPConn: tc, in: &in, out: &out, closed: make(chan struct{})}
				go func() { <-cc.closed; closed <- struct{}{} }()
				return cc, nil
			}
			reader, mp := metricstest.New()
			rec, log := newLogRecorder(slog.LevelDebug)
			body := strings.Repeat("x", 100<<10) // several TLS records and HTTP/2 frames
			s := &Server{MeterProvider: mp, Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s %d ", r.Proto, len(b))
				io.WriteString(w, body)
			})}
			ep := Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{refuse, readPreamble, count}}
			if tc.tls {
				ep.HTTPS = &HTTPS{CertificateFile: certPath, KeyFile: keyPath}
			}
			if err := s.ListenEndpoint(ep); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addr := s.Addresses()[0]
			hostport := addr[strings.Index(addr, "//")+2:]

			client := func(from string) (*http.Client, *clientCounter, *http.Transport) {
				cc := &clientCounter{from: from}
				tr := &http.Transport{DialContext: cc.dial, DisableCompression: true, TLSClientConfig: &tls.Config{RootCAs: pki.pool}}
				tr.Protocols = new(http.Protocols)
				switch {
				case tc.http2 && tc.tls:
					tr.Protocols.SetHTTP2(true)
				case tc.http2:
					tr.Protocols.SetUnencryptedHTTP2(true)
				default:
					tr.Protocols.SetHTTP1(true)
				}
				t.Cleanup(tr.CloseIdleConnections)
				return &http.Client{Transport: tr, Timeout: 10 * time.Second}, cc, tr
			}

			c, cc, tr := client("127.0.0.1")
			for i := range 3 {
				resp, err := c.Post(addr+"/", "text/plain", strings.NewReader(strings.Repeat("y", 1000*i)))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := fmt.Sprintf("HTTP/%d", map[bool]int{false: 1, true: 2}[tc.http2])
				if !strings.HasPrefix(string(b), fmt.Sprintf("%s %d ", map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[tc.http2], 1000*i)) || len(b) < len(body) || resp.ProtoMajor != map[bool]int{false: 1, true: 2}[tc.http2] {
					t.Fatalf("response %s %.40q, want %s", resp.Proto, b, want)
				}
			}
			tr.CloseIdleConnections()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the counting wrapper was not closed when the connection ended")
			}
			// The server reads all the client wrote after the preamble (the
			// client's counts start after it);
			// the client may leave the server's last bytes (a TLS alert,
			// a GOAWAY) unread.
			for deadline := time.Now().Add(10 * time.Second); in.Load() != cc.out.Load() || out.Load() < cc.in.Load(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the wrapper counted %d bytes in and %d out; the client wrote %d after the preamble and read %d", in.Load(), out.Load(), cc.out.Load(), cc.in.Load())
				}
			}
			if cc.in.Load() < int64(3*len(body)) {
				t.Fatalf("the client read %d bytes", cc.in.Load())
			}

			// A client from 127.0.0.2 is refused before TLS and HTTP.
			c2, _, _ := client("127.0.0.2")
			if resp, err := c2.Get(addr + "/"); err == nil {
				resp.Body.Close()
				t.Fatalf("a refused client got %s", resp.Status)
			}
			waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "connection_refused", "server.port": portOf(hostport)}, 1)
			e := rec.events("ConnectionMiddlewareRefused")
			if len(e) != 1 || e[0].level != slog.LevelDebug || !strings.Contains(e[0].msg, "127.0.0.2 is not allowed") || e[0].attrs["RemoteAddress"] == "" {
				t.Fatalf("ConnectionMiddlewareRefused events %+v", e)
			}
		})
	}
}

// TestConnectionMiddlewarePanics: a middleware's panic closes the
// connection, is logged as an error with its stack, and the server goes
// on serving.
func TestConnectionMiddlewarePanics(t *testing.T) {
	var calls atomic.Int32
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{
		func(_ context.Context, c net.Conn) (net.Conn, error) {
			if calls.Add(1) == 1 {
				panic("middleware bug")
			}
			return c, nil
		},
	}})
	c := dial(t, addr)
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("the first connection read %d bytes, %v; want it closed", n, err)
	}
	c.Close()
	e := rec.events("ConnectionMiddlewareFailed")
	if len(e) != 1 || e[0].level != slog.LevelError || !strings.Contains(e[0].msg, "middleware bug") || !strings.Contains(e[0].msg, "goroutine") {
		t.Fatalf("ConnectionMiddlewareFailed events %+v", e)
	}
	resp, err := newClient(t).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestConnectionLoggingMiddleware: the connection logging, from
// LogConnections or as a middleware in code, logs a request's bytes at
// Debug level, and only on its endpoint.
func TestConnectionLoggingMiddleware(t *testing.T) {
	rec, log := newLogRecorder(slog.LevelDebug)
	own, ownLog := newLogRecorder(slog.LevelDebug)
	s := &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "answer-body") })}
	for _, ep := range []Endpoint{
		{Address: "127.0.0.1:0", LogConnections: true},
		{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{ConnectionLogging(ownLog)}},
		{Address: "127.0.0.1:0"},
	} {
		if err := s.ListenEndpoint(ep); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client := newClient(t)
	for i, a := range s.Addresses() {
		resp, err := client.Get(fmt.Sprintf("%s/logged-path-%d", a, i))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	find := func(r *logRecorder, msg, data string) bool {
		for _, e := range r.events("") {
			if e.msg == msg && e.level == slog.LevelDebug && strings.Contains(e.attrs["data"], data) {
				return true
			}
		}
		return false
	}
	// A write is logged once it returned, which may be after the client
	// read the response.
	for deadline := time.Now().Add(10 * time.Second); !find(rec, "write", "HTTP/1.1 200 OK") || !find(own, "write", "HTTP/1.1 200 OK"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	if !find(rec, "read", "GET /logged-path-0 HTTP/1.1") || !find(rec, "write", "HTTP/1.1 200 OK") {
		t.Errorf("LogConnections: the request's bytes are not in the log: %+v", rec.events(""))
	}
	if !find(own, "read", "GET /logged-path-1 HTTP/1.1") || !find(own, "write", "HTTP/1.1 200 OK") {
		t.Errorf("ConnectionLogging: the request's bytes are not in its log: %+v", own.events(""))
	}
	if find(rec, "read", "/logged-path-1") || find(rec, "read", "/logged-path-2") || find(own, "read", "/logged-path-2") {
		t.Error("a connection of another endpoint was logged")
	}
}

// TestHideSocket: a middleware's wrapper is served through its methods,
// its socket (when it embeds one) hidden; the socket itself is served as
// it is, and a *tls.Conn a middleware made is guarded with its
// connection state kept.
func TestHideSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &Server{}
	guard := func(nc net.Conn) net.Conn { return s.guard(&connState{}, &listener{}, 0, c, nc) }
	tc := c.(*net.TCPConn)
	if guard(tc) != net.Conn(tc) {
		t.Error("the socket itself was wrapped")
	}
	tlc := tls.Server(tc, &tls.Config{})
	if w, ok := guard(tlc).(*wrappedTLSConn); !ok || w.NetConn() != net.Conn(tlc) || w.tls != tlc {
		t.Errorf("guard(*tls.Conn) = %T, want it guarded as *wrappedTLSConn", guard(tlc))
	}
	cc := &countingConn{TCPConn: tc}
	h := guard(cc)
	if _, ok := h.(syscall.Conn); ok {
		t.Error("the wrapper's socket is exposed")
	}
	if w, ok := h.(*wrappedConn); !ok || w.NetConn() != net.Conn(cc) {
		t.Errorf("guard(countingConn) = %T", h)
	}
	plain := clientConn{Conn: c}
	if w, ok := guard(plain).(*wrappedConn); !ok || w.NetConn() != net.Conn(plain) {
		t.Errorf("guard(clientConn) = %T", guard(plain))
	}
}

// panickyConn is a middleware's wrapper whose method op panics.
type panickyConn struct {
	net.Conn
	op string
}

func (c *panickyConn) Read(p []byte) (int, error) {
	if c.op == "Read" {
		panic("wrapper bug in Read")
	}
	return c.Conn.Read(p)
}

func (c *panickyConn) Write(p []byte) (int, error) {
	if c.op == "Write" {
		panic("wrapper bug in Write")
	}
	return c.Conn.Write(p)
}

func (c *panickyConn) Close() error {
	if c.op == "Close" {
		c.op = "" // once, then the connection closes
		panic("wrapper bug in Close")
	}
	return c.Conn.Close()
}

// TestConnectionMiddlewareWrapperPanics: a panic in a method of the
// connection a middleware returned (Read, Write, Close), over cleartext HTTP/1.1 and h2c and over TLS, ends that
// connection alone: it is closed, the panic is logged as the error
// ConnectionMiddlewareFailed with its stack, and the server goes on
// serving, as net/http's connection goroutine recovers it. It ended the
// process.
func TestConnectionMiddlewareWrapperPanics(t *testing.T) {
	pki := newTestPKI(t)
	certPath, keyPath := pki.issue(t, "server", false, "127.0.0.1")
	for _, op := range []string{"Read", "Write", "Close"} {
		for _, tlsOn := range []bool{false, true} {
			for _, h2 := range []bool{false, true} {
				name := fmt.Sprintf("%s/tls=%v/h2=%v", op, tlsOn, h2)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					var calls atomic.Int32
					rec, log := newLogRecorder(slog.LevelDebug)
					s := &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
					ep := Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{
						func(_ context.Context, c net.Conn) (net.Conn, error) {
							if calls.Add(1) == 1 {
								return &panickyConn{Conn: c, op: op}, nil
							}
							return &panickyConn{Conn: c}, nil
						},
					}}
					if tlsOn {
						ep.HTTPS = &HTTPS{CertificateFile: certPath, KeyFile: keyPath}
					}
					addr := startEndpoint(t, s, ep)
					tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}, Protocols: new(http.Protocols)}
					switch {
					case h2 && tlsOn:
						tr.Protocols.SetHTTP2(true)
					case h2:
						tr.Protocols.SetUnencryptedHTTP2(true)
					default:
						tr.Protocols.SetHTTP1(true)
					}
					t.Cleanup(tr.CloseIdleConnections)
					client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
					get := func() (string, error) {
						resp, err := client.Get(map[bool]string{false: "http://", true: "https://"}[tlsOn] + addr + "/")
						if err != nil {
							return "", err
						}
						defer resp.Body.Close()
						b, err := io.ReadAll(resp.Body)
						return string(b), err
					}
					got, err := get()
					if op != "Close" && err == nil {
						t.Errorf("the first request got %q through a wrapper whose %s panics", got, op)
					}
					client.CloseIdleConnections()
					want := "wrapper bug in " + op
					for deadline := time.Now().Add(10 * time.Second); len(rec.events("ConnectionMiddlewareFailed")) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					}
					e := rec.events("ConnectionMiddlewareFailed")
					if len(e) != 1 || e[0].level != slog.LevelError || !strings.Contains(e[0].msg, want) || !strings.Contains(e[0].msg, "goroutine") {
						t.Fatalf("ConnectionMiddlewareFailed events %+v", e)
					}
					if got, err := get(); err != nil || got != "ok" {
						t.Fatalf("the next connection: %q, %v", got, err)
					}
				})
			}
		}
	}
}

func TestConnectionMiddlewareIdleAndShutdown(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrap=%v", wrap), func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{})
			mw := func(_ context.Context, c net.Conn) (net.Conn, error) {
				if !wrap {
					return c, nil
				}
				var in, out atomic.Int64
				return &countingConn{TCPConn: c.(*net.TCPConn), in: &in, out: &out, closed: closed}, nil
			}
			s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.URL.Path)
			})}
			if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{mw}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := dial(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
			defer c.Close()
			br := bufio.NewReader(c)
			get := keepAliveGetter(t, c, br)
			if got := get("/first"); got != "/first" {
				t.Fatalf("%q", got)
			}
			time.Sleep(2500 * time.Millisecond) // past two heartbeats: an unwrapped connection is parked
			if got := get("/after-idle"); got != "/after-idle" {
				t.Fatalf("%q", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Shutdown took %v with only an idle connection", d)
			}
			if wrap {
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Fatal("Shutdown did not close the wrapper")
				}
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after Shutdown: %v, want EOF", err)
			}
		})
	}
}

// TestConnectionMiddlewareAfterProxyHeader: the middleware see the
// client's address from the PROXY header, and the bytes sent after the
// header reach the engine through them.
func TestConnectionMiddlewareAfterProxyHeader(t *testing.T) {
	reader, mp := metricstest.New()
	var seen atomic.Value
	s := &Server{MeterProvider: mp, Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	})}
	addr := startEndpoint(t, s, Endpoint{
		Address:       "127.0.0.1:0",
		ProxyProtocol: &ProxyProtocol{TrustedProxies: []string{"127.0.0.1"}, Required: true},
		ConnectionMiddleware: []ConnectionMiddleware{func(ctx context.Context, c net.Conn) (net.Conn, error) {
			seen.Store(c.RemoteAddr().String())
			if ProxyHeaderFromContext(ctx) == nil {
				return nil, errors.New("no PROXY header in the context")
			}
			if strings.HasPrefix(c.RemoteAddr().String(), "203.0.113.9:") {
				return nil, errors.New("blocked client")
			}
			return c, nil
		}},
	})
	send := func(client string) string {
		c := dial(t, addr)
		defer c.Close()
		io.WriteString(c, "PROXY TCP4 "+client+" 192.0.2.1 40001 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if got := send("203.0.113.7"); !strings.HasSuffix(got, "203.0.113.7:40001") {
		t.Fatalf("answer %q", got)
	}
	if seen.Load() != "203.0.113.7:40001" {
		t.Fatalf("the middleware saw %v", seen.Load())
	}
	if got := send("203.0.113.9"); got != "" {
		t.Fatalf("a blocked client got %q", got)
	}
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "connection_refused"}, 1)
}

// TestMiddlewareTLSWithoutHandshake serves a *tls.Conn a connection
// middleware returns without having run its handshake, as tls.Server
// returns it (and as a tls.Listener hands its connections to net/http's
// server): the server runs the handshake before it picks the protocol, so
// that ALPN's h2 is served as HTTP/2, and a failed handshake is logged as
// the endpoint's own would be, ending the connection.
func TestMiddlewareTLSWithoutHandshake(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	certPath, keyPath := pki.issue(t, "server", false, "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})}
	mwTLS := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0",
		ConnectionMiddleware: []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) {
			return tls.Server(c, mwTLS), nil // no handshake yet
		}},
	})
	for _, tc := range []struct {
		name  string
		proto func(*http.Protocols)
		want  string
	}{
		{"h2", func(p *http.Protocols) { p.SetHTTP2(true) }, "HTTP/2.0"},
		{"http/1.1", func(p *http.Protocols) { p.SetHTTP1(true) }, "HTTP/1.1"},
	} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}, Protocols: new(http.Protocols)}
		tc.proto(tr.Protocols)
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(body) != tc.want || resp.Proto != tc.want {
			t.Errorf("%s: served as %q, client saw %s; want %s", tc.name, body, resp.Proto, tc.want)
		}
	}

	// A client that is no TLS client: the handshake fails, the connection
	// ends, and the failure is logged as the endpoint's own TLS logs it.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("reading after a failed handshake: %v, want the connection closed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.events("AuthenticationFailed")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no AuthenticationFailed event for the failed handshake")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
