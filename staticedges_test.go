package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/staticfiles"
)

// TestStaticFilesThroughMiddleware: the staticfiles handler serves a
// file (whole and a range, on one keep-alive connection) through a
// connection middleware that wraps the socket, after a PROXY header with
// one that returns the connection as is, and with LogConnections: the
// bytes are the file's; sendfile(2) is used only where the server has the
// socket to itself, and a wrapper sees every byte.
func TestStaticFilesThroughMiddleware(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 1<<20+77)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := staticfiles.New(dir, staticfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var in, out atomic.Int64
	wrap := func(_ context.Context, c net.Conn) (net.Conn, error) {
		return &countingConn{TCPConn: c.(*net.TCPConn), in: &in, out: &out, closed: make(chan struct{})}, nil
	}
	same := func(_ context.Context, c net.Conn) (net.Conn, error) { return c, nil }
	for _, tc := range []struct {
		name     string
		ep       Endpoint
		sendfile bool
	}{
		{"wrapped", Endpoint{ConnectionMiddleware: []ConnectionMiddleware{wrap}}, false},
		{"PROXY header, then the same connection", Endpoint{ProxyProtocol: &ProxyProtocol{Required: true}, ConnectionMiddleware: []ConnectionMiddleware{same}}, true},
		{"LogConnections", Endpoint{LogConnections: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.Store(0)
			out.Store(0)
			s := &Server{Handler: files, Logger: quietLogger}
			tc.ep.Address = "127.0.0.1:0"
			if err := s.ListenEndpoint(tc.ep); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := dial(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if tc.ep.ProxyProtocol != nil {
				c.Write(proxyV2(t, "192.0.2.1:1234", "192.0.2.2:80"))
			}
			br := bufio.NewReader(c)
			for _, r := range []struct {
				rng  string
				want []byte
			}{{"", data}, {"bytes=1000-700000", data[1000:700001]}, {"", data}} {
				head := "GET /f.bin HTTP/1.1\r\nHost: x\r\n"
				if r.rng != "" {
					head += "Range: " + r.rng + "\r\n"
				}
				io.WriteString(c, head+"\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(b, r.want) {
					t.Fatalf("Range %q: %d %d bytes (%v), want %d", r.rng, resp.StatusCode, len(b), err, len(r.want))
				}
			}
			total := int64(2*len(data) + 699001)
			if sent := s.listeners[0].cfg.SentFile.Load(); runtime.GOOS == "linux" && (sent == total) != tc.sendfile {
				t.Errorf("sendfile sent %d bytes; want %d: %v", sent, total, tc.sendfile)
			}
			// The server's last Write may return after the client read it.
			for deadline := time.Now().Add(10 * time.Second); tc.name == "wrapped" && out.Load() < total; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the wrapper saw %d bytes written, fewer than the %d of the bodies", out.Load(), total)
				}
			}
		})
	}
}
