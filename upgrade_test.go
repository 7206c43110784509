package kestrel

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoUpgrade upgrades every request and echoes the upgraded stream; a
// refused upgrade is answered with 503.
func echoUpgrade(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsUpgradable(r) {
			http.Error(w, "not upgradable", http.StatusBadRequest)
			return
		}
		conn, err := Upgrade(w, r)
		if errors.Is(err, ErrUpgradeLimit) {
			http.Error(w, "too many upgrades", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		go func() {
			defer conn.Close()
			io.Copy(conn, conn)
		}()
	})
}

func dialUpgrade(t *testing.T, addr, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\n"+extra)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp
}

func TestUpgradeEchoesWithReadAheadBytes(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{}, echoUpgrade(t))
	c, br, resp := dialUpgrade(t, addr, "early")
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Fatalf("got %d %v, want 101 with Upgrade: echo and Connection: Upgrade", resp.StatusCode, resp.Header)
	}
	io.WriteString(c, " late")
	buf := make([]byte, len("early late"))
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "early late" {
		t.Fatalf("echo = %q, %v; want %q", buf, err, "early late")
	}
}

func TestUpgradeNotUpgradable(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{}, echoUpgrade(t))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET: status %d, want 400 from the handler", resp.StatusCode)
	}
}

func TestMaxConcurrentUpgradedConnections(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{MaxConcurrentUpgradedConnections: 1, MaxConcurrentConnections: 1}, echoUpgrade(t))
	first, _, resp := dialUpgrade(t, addr, "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("first upgrade: %d", resp.StatusCode)
	}
	// The upgraded connection left MaxConcurrentConnections: a second
	// connection is served, but its upgrade is refused and answered.
	second, _, resp := dialUpgrade(t, addr, "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second upgrade: status %d, want 503 from the handler", resp.StatusCode)
	}
	second.Close()
	// Closing the first frees its place.
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upgrade still refused after the upgraded connection closed: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNoUpgrades: MaxConcurrentUpgradedConnections NoUpgrades (Kestrel's
// 0) refuses every upgrade, answered by the handler; requests are served.
func TestNoUpgrades(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{MaxConcurrentUpgradedConnections: NoUpgrades}, echoUpgrade(t))
	if _, _, resp := dialUpgrade(t, addr, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade under NoUpgrades: %d, want 503 from the handler", resp.StatusCode)
	}
	if _, err := (Limits{MaxConcurrentUpgradedConnections: -3}).withDefaults(); err == nil {
		t.Error("MaxConcurrentUpgradedConnections -3 accepted")
	}
}

func TestShutdownWaitsForUpgradedConnections(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: echoUpgrade(t), Logger: quietLogger}
	s.Listen("127.0.0.1:0")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	c, br, _ := dialUpgrade(t, addr, "")
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	go func() { done <- s.Shutdown(ctx) }()
	// Still echoing during shutdown.
	time.Sleep(200 * time.Millisecond)
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo during shutdown = %q, %v", buf, err)
	}
	// At the deadline the upgraded connection is closed.
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want deadline exceeded", err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("upgraded connection still open after the shutdown deadline")
	}
}

// TestUpgradeOfferedProtocols: a client's Upgrade header lists
// alternatives; the 101 names the one switched to (RFC 9110, 7.8), the
// first, unless the handler named another.
func TestUpgradeOfferedProtocols(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{}, echoUpgrade(t))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo/2, echo\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "foo/2" {
		t.Errorf("%d, Upgrade %q; want 101 with Upgrade: foo/2", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

// TestConnectProxyHijack: a CONNECT proxy's handler answers 200, flushes,
// then takes the connection (net/http allows it): the 200 has no
// Content-Length nor Transfer-Encoding (RFC 9110, 9.3.6), and the tunnel's
// bytes follow it as they are; a 200 to CONNECT without taking the
// connection ends it after what the handler wrote, unframed.
func TestConnectProxyHijack(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		if r.Host == "plain:443" {
			io.WriteString(w, "unframed")
			return
		}
		w.(http.Flusher).Flush()
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack after a flushed 200: %v", err)
			return
		}
		defer conn.Close()
		line, _ := buf.ReadString('\n')
		conn.Write([]byte("tunnel:" + line))
	}))
	for _, host := range []string{"example.com:443", "plain:443"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "CONNECT "+host+" HTTP/1.1\r\nHost: "+host+"\r\n\r\nhello\n")
		all, _ := io.ReadAll(c)
		head, body, _ := strings.Cut(string(all), "\r\n\r\n")
		want := "tunnel:hello\n"
		if host == "plain:443" {
			want = "unframed"
		}
		if !strings.HasPrefix(head, "HTTP/1.1 200 OK") || strings.Contains(head, "Transfer-Encoding") || strings.Contains(head, "Content-Length") || body != want {
			t.Errorf("CONNECT %s: head %q, then %q; want a 200 without framing, then %q", host, head, body, want)
		}
	}
}

// TestWriteHeader101WithoutUpgrade: a handler that answers 101 without
// taking the connection over gets what net/http's HTTP/1.1 server and
// Kestrel give it: over HTTP/1.1 the 101 goes out as the final response
// and the connection ends with it (the client switched protocols; no
// further request may be read as HTTP); over HTTP/2 and HTTP/3, which have
// no 101 (RFC 9113, 8.6; RFC 9114, 4.5), the response becomes a 500 and
// the server logs why, rather than a 101 the clients reject.
func TestWriteHeader101WithoutUpgrade(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		w.Write([]byte("not http"))
	})

	t.Run("HTTP/1.1", func(t *testing.T) {
		t.Parallel()
		addr := startLimited(t, Limits{}, h)
		c, br, resp := dialUpgrade(t, addr, "")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rest, err := io.ReadAll(br)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("after the 101: %v (%q), want the connection closed", err, rest)
		}
		if len(rest) > 0 {
			t.Fatalf("after the 101 the server sent %q, want the connection closed", rest)
		}
	})

	var log lockedBuffer
	s := &Server{Handler: h, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	h2 := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: testClientTLS(t)}
	h2.Protocols.SetHTTP2(true)
	t.Cleanup(h2.CloseIdleConnections)
	for _, c := range []struct {
		proto string
		c     *http.Client
	}{
		{"HTTP/2.0", &http.Client{Transport: h2, Timeout: 20 * time.Second}},
		{"HTTP/3.0", h3Client(t)},
	} {
		resp, err := c.c.Get("https://" + addr + "/")
		if err != nil {
			t.Errorf("%s: %v, want a 500", c.proto, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != c.proto || resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: %s %d %q, want a 500", c.proto, resp.Proto, resp.StatusCode, body)
		}
	}
	if got := log.String(); strings.Count(got, "101 Switching Protocols") != 2 {
		t.Errorf("log %q, want the two refused 101s explained", got)
	}
}

// TestBodyLimitReadOnlyAfterUpgrade: once an HTTP/1.1 request is upgraded
// (or its connection hijacked), its body size limit is read-only, as
// Kestrel's IHttpMaxRequestBodySizeFeature is after an upgrade:
// SetMaxRequestBodySize fails with ErrBodyLimitReadOnly instead of
// reporting a change that governs nothing. Before the upgrade it works.
func TestBodyLimitReadOnlyAfterUpgrade(t *testing.T) {
	t.Parallel()
	results := make(chan [2]error, 1)
	addr := startLimited(t, Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before := SetMaxRequestBodySize(r, 10)
		var conn net.Conn
		var err error
		if r.URL.Path == "/hijack" {
			conn, _, err = http.NewResponseController(w).Hijack()
		} else {
			conn, err = Upgrade(w, r)
		}
		if err != nil {
			t.Errorf("%s: %v", r.URL.Path, err)
			return
		}
		defer conn.Close()
		results <- [2]error{before, SetMaxRequestBodySize(r, 5)}
	}))
	for _, path := range []string{"/ws", "/hijack"} {
		c := dial(t, addr)
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		got := <-results
		if got[0] != nil {
			t.Errorf("%s: SetMaxRequestBodySize before the upgrade: %v", path, got[0])
		}
		if !errors.Is(got[1], ErrBodyLimitReadOnly) {
			t.Errorf("%s: SetMaxRequestBodySize after the upgrade: %v, want ErrBodyLimitReadOnly", path, got[1])
		}
	}
}
