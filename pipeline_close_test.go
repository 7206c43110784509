package kestrel

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPipelinedRequestsBehindCloseGetNoReset checks that a connection the
// server closes after a response, while the client's pipelined requests
// (or an unread body) are still arriving, ends in an orderly close: the
// server half-closes and reads on (RFC 9112, 9.6), as nginx does when
// pipelined bytes are pending, rather than closing with unread input,
// whose reset can destroy the responses in the client's receive buffer.
func TestPipelinedRequestsBehindCloseGetNoReset(t *testing.T) {
	t.Parallel()
	more := strings.Repeat("GET /more HTTP/1.1\r\nHost: x\r\n\r\n", 300_000/30)
	body := strings.Repeat("b", 300_000)
	cases := []struct {
		name  string
		mid   string // the request after GET /1 whose response closes
		drain bool   // Shutdown while it runs
	}{
		{"Connection: close", "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
		{"HTTP/1.0", "GET /2 HTTP/1.0\r\nHost: x\r\n\r\n", false},
		{"Expect 100-continue, body not read", "POST /2 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 300000\r\n\r\n" + body, false},
		{"Shutdown", "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", true},
	}
	for _, tc := range cases {
		for _, mode := range []string{"handler", "native", "tls"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				started, release := make(chan struct{}, 1), make(chan struct{})
				serve := func(path string) string {
					if path == "/2" && tc.drain {
						started <- struct{}{}
						<-release
					}
					return "ok" + path
				}
				s := &Server{}
				if mode == "native" {
					s.NativeHandler = NativeHandlerFunc(func(c *Context) { c.WriteString(serve(string(c.Path()))) })
				} else {
					s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, serve(r.URL.Path)) })
				}
				var c net.Conn
				var addr string
				if mode == "tls" {
					cert, err := testCert()
					if err != nil {
						t.Fatal(err)
					}
					s.Logger = quietLogger
					addr = startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1, HTTPS: &HTTPS{Certificate: cert}})
					tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
					if err != nil {
						t.Fatal(err)
					}
					tc.SetDeadline(time.Now().Add(10 * time.Second))
					t.Cleanup(func() { tc.Close() })
					c = tc
				} else {
					addr = startServer(t, s)
					c = dial(t, addr)
				}
				go io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"+tc.mid+more)
				if tc.drain {
					<-started
					go s.Shutdown(t.Context())
					waitRefused(t, addr)
					close(release)
				}
				br := bufio.NewReader(c)
				for i, want := range []string{"ok/1", "ok/2"} {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("response %d: %v", i+1, err)
					}
					b, err := io.ReadAll(resp.Body)
					if err != nil || string(b) != want {
						t.Fatalf("response %d: %q, %v; want %q", i+1, b, err, want)
					}
					if i == 1 && !resp.Close {
						t.Errorf("response 2 does not say Connection: close")
					}
				}
				if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
					t.Errorf("after the last response: %.40q, %v; want an orderly end of stream", rest, err)
				}
			})
		}
	}
}
