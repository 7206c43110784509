package kestrel

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// startLimited starts a server with the given limits and handler on a free
// loopback port and returns its address.
func startLimited(t *testing.T, limits Limits, h http.Handler) string {
	t.Helper()
	s := &Server{Handler: h, Limits: limits, Logger: quietLogger}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "http://")
}

// trickle writes a byte to c at every interval until the test ends.
func trickle(t *testing.T, c net.Conn, interval time.Duration) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
				c.Write([]byte("x"))
			}
		}
	}()
}

func TestMinRequestBodyDataRate(t *testing.T) {
	t.Parallel()
	bodyErr := make(chan error, 1)
	addr := startLimited(t, Limits{MinRequestBodyDataRate: &DataRate{BytesPerSecond: 1000, GracePeriod: 2 * time.Second}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			bodyErr <- err
		}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
	trickle(t, c, time.Second) // far below 1000 bytes/s
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("got %d close=%v, want 408 with Connection: close", resp.StatusCode, resp.Close)
	}
	if d := time.Since(start); d < 2*time.Second || d > 6*time.Second {
		t.Errorf("timed out after %v, want between the grace period (2s) and 6s", d)
	}
	if err := <-bodyErr; err == nil {
		t.Error("the handler's read succeeded")
	}
}

func TestMinRequestBodyDataRateOffPerRequest(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{MinRequestBodyDataRate: &DataRate{BytesPerSecond: 1000, GracePeriod: 2 * time.Second}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := SetMinRequestBodyDataRate(r, DataRate{}); err != nil {
				t.Error(err)
			}
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
			}
			w.Write(b)
		}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\na")
	for _, b := range []string{"b", "c", "d"} {
		time.Sleep(1100 * time.Millisecond)
		io.WriteString(c, b)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "abcd" {
		t.Errorf("got %d %q, want 200 abcd", resp.StatusCode, b)
	}
}

func TestMinResponseDataRate(t *testing.T) {
	t.Parallel()
	writeErr := make(chan error, 1)
	addr := startLimited(t, Limits{MinResponseDataRate: &DataRate{BytesPerSecond: 100_000, GracePeriod: 2 * time.Second}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 64<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					writeErr <- err
					return
				}
			}
		}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// Never read: the server's writes stall once the socket buffers fill.
	select {
	case err := <-writeErr:
		if d := time.Since(start); d < 2*time.Second || d > 8*time.Second {
			t.Errorf("aborted after %v, want between the grace period (2s) and 8s", d)
		}
		if err == nil {
			t.Error("write error is nil")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the stalled response was not aborted")
	}
	// The connection is closed: reading everything ends.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("reading the aborted response: %v", err)
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{KeepAliveTimeout: 2 * time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	idle := time.Now()
	// The idle connection is closed without a response.
	n, err := br.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Fatalf("read = %d, %v; want EOF", n, err)
	}
	if d := time.Since(idle); d < 1900*time.Millisecond || d > 4*time.Second {
		t.Errorf("closed after %v idle, want 2s to 4s (timeout plus one heartbeat)", d)
	}
}

func TestRequestHeadersTimeout(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{RequestHeadersTimeout: 2 * time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	go func() {
		// Keep trickling header lines: the timeout runs from the first byte.
		for range 5 {
			time.Sleep(500 * time.Millisecond)
			if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("got %d close=%v, want 408 with Connection: close", resp.StatusCode, resp.Close)
	}
	// As Kestrel's, the timeout never fires early, and up to two heartbeat
	// ticks late (more when a tick is late on a loaded machine).
	if d := time.Since(start); d < 2*time.Second || d > 5*time.Second {
		t.Errorf("answered after %v, want 2s to 4s", d)
	}
}

func TestMaxConcurrentConnections(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{MaxConcurrentConnections: 2}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	get := func(c net.Conn) error {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	var open []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := get(c); err != nil {
			t.Fatalf("connection within the limit: %v", err)
		}
		open = append(open, c)
	}
	// The third is closed at once, without a response.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(c); err == nil {
		t.Fatal("a connection over the limit was served")
	}
	c.Close()
	// When one closes, a new one is served.
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		err = get(c)
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLimitsValidation(t *testing.T) {
	for _, tc := range []struct {
		limits Limits
		want   string
	}{
		{Limits{MaxConcurrentConnections: -2}, "MaxConcurrentConnections"},
		{Limits{MaxRequestBodySize: -5}, "MaxRequestBodySize"},
		{Limits{MaxRequestLineSize: 3}, "MaxRequestLineSize"},
		{Limits{MaxRequestHeaderCount: -1}, "MaxRequestHeaderCount"},
		{Limits{KeepAliveTimeout: -time.Second}, "KeepAliveTimeout"},
		{Limits{MaxRequestBufferSize: 100}, "MaxRequestBufferSize"},
		{Limits{MinRequestBodyDataRate: &DataRate{BytesPerSecond: -1, GracePeriod: 5 * time.Second}}, "MinRequestBodyDataRate.BytesPerSecond"},
		{Limits{MinResponseDataRate: &DataRate{BytesPerSecond: 240, GracePeriod: time.Second}}, "MinResponseDataRate.GracePeriod"},
		{Limits{MaxConcurrentUpgradedConnections: -3}, "MaxConcurrentUpgradedConnections"},
		{Limits{MaxConnectionAge: -time.Second}, "Limits.MaxConnectionAge is -1s"},
		{Limits{MaxConnectionAge: time.Hour, MaxConnectionAgeGrace: -1}, "Limits.MaxConnectionAgeGrace is -1ns"},
		// A head is held in one buffer: past 1 GiB, or where the sum wraps
		// an int, the first large head panicked the process.
		{Limits{MaxRequestBufferSize: Unlimited, MaxRequestHeadersTotalSize: math.MaxInt}, "MaxRequestHeadersTotalSize"},
		{Limits{MaxRequestBufferSize: Unlimited, MaxRequestLineSize: math.MaxInt}, "MaxRequestLineSize"},
		{Limits{MaxRequestBufferSize: Unlimited, MaxRequestLineSize: 1 << 29, MaxRequestHeadersTotalSize: 1<<29 + 1}, "MaxRequestHeadersTotalSize"},
	} {
		s := &Server{Limits: tc.limits}
		s.Listen("127.0.0.1:0")
		err := s.Start()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Start = %v, want an error naming %s", tc.limits, err, tc.want)
		}
		s.Close()
	}
	// Unlimited and NoMinDataRate are valid, and so is a head of 1 GiB.
	for _, l := range []Limits{
		{MaxRequestBodySize: Unlimited, KeepAliveTimeout: Unlimited, MinRequestBodyDataRate: NoMinDataRate, MaxRequestBufferSize: Unlimited},
		{MaxRequestBufferSize: Unlimited, MaxRequestLineSize: 1 << 29, MaxRequestHeadersTotalSize: 1 << 29},
		{MaxConnectionAge: math.MaxInt64, MaxConnectionAgeGrace: math.MaxInt64}, // past the clock's end: never
	} {
		s := &Server{Limits: l}
		s.Listen("127.0.0.1:0")
		if err := s.Start(); err != nil {
			t.Error(err)
		}
		s.Close()
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestParkedConnection serves a request on a connection that sat idle
// long enough to leave its goroutine, and closes such connections at
// Shutdown.
func TestParkedConnection(t *testing.T) {
	t.Parallel()
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})}
	s.Listen("127.0.0.1:0")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.Addresses()[0], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := keepAliveGetter(t, c, br)
	for i, path := range []string{"/first", "/after-idle", "/again"} {
		if got := get(path); got != path {
			t.Fatalf("request %d: %q, want %q", i, got, path)
		}
		time.Sleep(2500 * time.Millisecond) // past two heartbeats: the connection leaves its goroutine
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a parked connection: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v with only an idle connection", d)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("the parked connection after Shutdown: %v, want EOF", err)
	}
}

// TestKestrelDefaults: the zero Limits take Kestrel's defaults, written
// here as Kestrel documents them rather than through the constants.
func TestKestrelDefaults(t *testing.T) {
	got, err := Limits{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	rate := &DataRate{BytesPerSecond: 240, GracePeriod: 5 * time.Second}
	want := Limits{
		MaxRequestBodySize:         30_000_000,
		MaxRequestLineSize:         8192,
		MaxRequestHeadersTotalSize: 32768,
		MaxRequestHeaderCount:      100,
		KeepAliveTimeout:           130 * time.Second,
		RequestHeadersTimeout:      30 * time.Second,
		MaxRequestBufferSize:       1 << 20,
		MaxResponseBufferSize:      64 << 10,
		MinRequestBodyDataRate:     rate,
		MinResponseDataRate:        rate,
		Http2: Http2Limits{
			MaxStreamsPerConnection:     100,
			HeaderTableSize:             4096,
			MaxFrameSize:                16384,
			MaxRequestHeaderFieldSize:   32768,
			InitialConnectionWindowSize: 1 << 20,
			InitialStreamWindowSize:     768 << 10,
			KeepAlivePingTimeout:        20 * time.Second,
		},
		Http3: Http3Limits{MaxRequestHeaderFieldSize: 32768},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

// TestMaxConcurrentConnectionsPerEndpoint: as in Kestrel, whose connection
// limit is a middleware of each endpoint's binding, MaxConcurrentConnections
// counts the connections of each endpoint apart: a flood on one port does
// not lock another (a health or admin endpoint) out.
func TestMaxConcurrentConnectionsPerEndpoint(t *testing.T) {
	t.Parallel()
	s := &Server{Logger: quietLogger, Limits: Limits{MaxConcurrentConnections: 1}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	for range 2 {
		if err := s.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, b := strings.TrimPrefix(s.Addresses()[0], "http://"), strings.TrimPrefix(s.Addresses()[1], "http://")
	get := func(addr string) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return rawGet(c, bufio.NewReader(c))
	}
	if err := get(a); err != nil {
		t.Fatalf("the first connection on %s: %v", a, err)
	}
	if err := get(b); err != nil {
		t.Errorf("the first connection on %s, while %s has one: %v", b, a, err)
	}
	if err := get(a); err == nil {
		t.Errorf("a second connection on %s was served over the limit of 1", a)
	}
}
