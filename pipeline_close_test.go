package kestrel

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
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

// TestPipelinedResponsesBeforeAbortedOne checks that the responses to
// pipelined requests that came before a handler's panic or
// http.ErrAbortHandler reach the client whole: finished responses waiting
// in the output buffer to share a write with later ones are sent before
// the connection closes (the aborted response's own bytes are not), and
// the close is graceful while the client's next bytes are unread, so
// that its reset does not destroy them in the client's receive buffer.
// Nothing after the aborted response is served.
func TestPipelinedResponsesBeforeAbortedOne(t *testing.T) {
	t.Parallel()
	behind := strings.Repeat("GET /after HTTP/1.1\r\nHost: x\r\n\r\n", 2000)
	body := strings.Repeat("b", 1999)
	cases := []struct {
		name   string
		first  string // the request before the aborted one
		second string // the aborted one, and what follows it
		want   string // the first response's body
	}{
		{"abort", "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n", "ok"},
		{"abort, requests behind", "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n" + behind, "ok"},
		{"flush then panic, streamed response before", "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
			"POST /flushpanic HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1999\r\n\r\n" + body + behind, strings.Repeat("s", 10383)},
		{"flush then panic, streamed responses before", strings.Repeat("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", 4),
			"POST /flushpanic HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1999\r\n\r\n" + body + behind, strings.Repeat("s", 10383)},
		{"flush then abort, requests behind", "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "GET /flushabort HTTP/1.1\r\nHost: x\r\n\r\n" + behind, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var after atomic.Int32
			addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/ok":
					io.WriteString(w, "ok")
				case "/stream":
					chunk := strings.Repeat("s", 700)
					for n := 0; n < 10383; n += len(chunk) {
						io.WriteString(w, chunk[:min(len(chunk), 10383-n)])
						w.(http.Flusher).Flush()
					}
				case "/abort":
					panic(http.ErrAbortHandler)
				case "/flushpanic", "/flushabort":
					io.WriteString(w, "before")
					w.(http.Flusher).Flush()
					if r.URL.Path == "/flushabort" {
						panic(http.ErrAbortHandler)
					}
					panic("model: handler panics")
				default:
					after.Add(1)
				}
			}))
			for range 10 {
				c := dial(t, addr)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				go io.WriteString(c, tc.first+tc.second)
				br := bufio.NewReader(c)
				for range strings.Count(tc.first, "HTTP/1.1\r\n") {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("a response before the aborted one: %v", err)
					}
					b, err := io.ReadAll(resp.Body)
					if string(b) != tc.want || err != nil {
						t.Fatalf("a response before the aborted one: %d bytes, %v; want %d", len(b), err, len(tc.want))
					}
				}
				// The aborted response, if it started, is cut: no final
				// chunk comes, and then the connection closes.
				rest, _ := io.ReadAll(br)
				if bytes.Contains(rest, []byte("0\r\n\r\n")) || bytes.Contains(rest, []byte("/after")) {
					t.Fatalf("after the aborted response: %q", rest)
				}
				c.Close()
			}
			if n := after.Load(); n > 0 {
				t.Errorf("%d requests after the aborted one were served", n)
			}
		})
	}
}
