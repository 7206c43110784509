package kestrel

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestProxyProtocolParkAndSendfile: connections that began with a PROXY
// header are served as the others are. Idle keep-alive connections leave
// their goroutines for the parker, whether the first request came in the
// header's packet or after it, and a static file goes out with sendfile,
// its bytes intact.
func TestProxyProtocolParkAndSendfile(t *testing.T) {
	data := make([]byte, 3<<20+123)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/file" {
			http.ServeFile(w, r, path)
			return
		}
		io.WriteString(w, r.RemoteAddr)
	})}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{Required: true}})
	sent := func() int64 { return s.listeners[0].cfg.SentFile.Load() }

	type conn struct {
		net.Conn
		br     *bufio.Reader
		client string
	}
	readBody := func(t *testing.T, c *conn) []byte {
		t.Helper()
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, body read %d bytes: %v", resp.StatusCode, len(b), err)
		}
		return b
	}
	get := func(c *conn, path string) []byte {
		t.Helper()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		return readBody(t, c)
	}
	runtime.GC()
	base := runtime.NumGoroutine()
	const n = 200
	conns := make([]*conn, n)
	for i := range conns {
		nc := dial(t, addr)
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		c := &conn{Conn: nc, br: bufio.NewReader(nc), client: fmt.Sprintf("198.51.100.%d:%d", i%250+1, 1000+i)}
		header := proxyV2(t, c.client, "192.0.2.1:80")
		req := "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
		if i%2 == 0 {
			// The header and the first request in one packet: the bytes
			// after the header are read with it.
			c.Write(append(header, req...))
		} else {
			c.Write(header)
			time.Sleep(time.Millisecond)
			io.WriteString(c, req)
		}
		if got := string(readBody(t, c)); got != c.client {
			t.Fatalf("connection %d: RemoteAddr %q, want %q", i, got, c.client)
		}
		conns[i] = c
	}
	// Idle past two heartbeats, every connection is parked: no goroutine
	// each.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle PROXY protocol connections hold %d goroutines (%d before): not parked", n, runtime.NumGoroutine()-base, base)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := sent()
	for _, c := range conns[:4] { // two of each kind, woken from the parker
		if b := get(c, "/file"); !bytes.Equal(b, data) {
			t.Fatalf("the file: %d bytes, want %d, equal %v", len(b), len(data), bytes.Equal(b[:min(len(b), len(data))], data[:min(len(b), len(data))]))
		}
		if got := string(get(c, "/again")); got != c.client {
			t.Fatalf("after the file: RemoteAddr %q, want %q", got, c.client)
		}
	}
	// And the file as a new connection's first request, in the header's
	// packet.
	c := &conn{Conn: dial(t, addr)}
	c.br = bufio.NewReader(c)
	c.Write(append(proxyV2(t, "203.0.113.5:7000", "192.0.2.1:80"), "GET /file HTTP/1.1\r\nHost: x\r\n\r\n"...))
	if b := readBody(t, c); !bytes.Equal(b, data) {
		t.Fatalf("the file on a new connection: %d bytes, want %d", len(b), len(data))
	}
	if got, want := sent()-before, int64(5*len(data)); got != want {
		t.Fatalf("sendfile sent %d bytes, want %d (every file)", got, want)
	}
}
