package kestrel

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// nghttp runs nghttp (nghttp2's client, which checks response fields as
// RFC 9113 asks) on url and returns what it printed, frames included.
func nghttp(t *testing.T, url string) string {
	t.Helper()
	path, err := exec.LookPath("nghttp")
	if err != nil {
		t.Fatal("nghttp is not installed; this test needs it. Run scripts/install-test-deps.sh (or `apt-get install -y nghttp2-client`).")
	}
	var out bytes.Buffer
	cmd := exec.Command(path, "-v", "-n", "--no-verify-peer", "-t", "5", url)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("nghttp %s: %v\n%s", url, err, out.String())
	}
	return out.String()
}

// TestResponseFieldValueWhitespace: a response field value that starts or
// ends with white space (a handler's " a ", or "b\r\n" whose CR and LF
// become spaces) is sent over HTTP/2 and HTTP/3 without it, in headers,
// trailers and 1xx responses, from both handler APIs: such a field makes
// the response malformed there (RFC 9113, 8.2.1; RFC 9114, 4.2) and
// nghttp2's client (nghttp; any nghttp2 user that keeps its default
// checks) failed the stream with PROTOCOL_ERROR. HTTP/1.1 readers drop
// that white space themselves (RFC 9112, 5), so every protocol now gives
// the client the same value.
func TestResponseFieldValueWhitespace(t *testing.T) {
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", " </a.css>; rel=preload\t")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-Ws", " \ta \t")
		w.Header().Set("X-Crlf", "b\r\n")
		w.Header().Set("X-Inner", "c \t d")
		w.Write([]byte("body"))
		w.Header().Set(http.TrailerPrefix+"X-T", " t ")
	})
	s := &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/std" {
			c.ServeHTTP(std)
			return
		}
		c.SetHeader("X-Ws", " \ta \t")
		c.SetHeader("X-Crlf", "b\r\n")
		c.SetHeader("X-Inner", "c \t d")
		c.WriteString("body")
		c.AddTrailer("X-T", " t ")
	})}
	clients := nativeEdgeClients(t, s)
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/native", "/std"} {
				resp, body := c.get(t, path)
				h, tr := resp.Header, resp.Trailer
				if body != "body" || h.Get("X-Ws") != "a" || h.Get("X-Crlf") != "b" || h.Get("X-Inner") != "c \t d" || tr.Get("X-T") != "t" {
					t.Errorf("GET %s: body %q, X-Ws %q, X-Crlf %q, X-Inner %q, trailer X-T %q; want %q, %q, %q, %q, %q",
						path, body, h.Get("X-Ws"), h.Get("X-Crlf"), h.Get("X-Inner"), tr.Get("X-T"), "body", "a", "b", "c \t d", "t")
				}
			}
		})
	}
	for _, path := range []string{"/native", "/std"} {
		out := nghttp(t, clients[0].base+path)
		if strings.Contains(out, "[ERROR]") || strings.Contains(out, "PROTOCOL_ERROR") || !strings.Contains(out, "x-t: t\n") {
			t.Errorf("nghttp GET %s: the response was refused or incomplete:\n%s", path, out)
		}
		if path == "/std" && !strings.Contains(out, "link: </a.css>; rel=preload\n") {
			t.Errorf("nghttp GET %s: no 103 with its Link:\n%s", path, out)
		}
	}
}

// TestNativeContentLengthAfterWrite: a Content-Length the native handler
// sets after writing more body bytes than it says (they were still in the
// exchange's buffer, so the head had not gone out) is ignored, as net/http
// ignores a header set after the first write: the response had that
// length on the wire with the longer body after it, so an HTTP/1.1 client
// read the rest as the next response on the connection (a response
// splitting), and HTTP/2 and HTTP/3 clients got more DATA than the
// content-length. A length the bytes written so far fit in is still
// honoured.
func TestNativeContentLengthAfterWrite(t *testing.T) {
	s := &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		switch string(c.Path()) {
		case "/shorter":
			c.WriteString("HTTP/1.1 200 OK\r\n")
			c.SetHeader("Content-Length", "3")
		case "/fits":
			c.WriteString("abc")
			c.SetHeader("Content-Length", "6")
			c.WriteString("def")
		default:
			c.WriteString("next")
		}
	})}
	for _, c := range nativeEdgeClients(t, s) {
		t.Run(c.name, func(t *testing.T) {
			if resp, body := c.get(t, "/shorter"); body != "HTTP/1.1 200 OK\r\n" || resp.ContentLength != int64(len(body)) {
				t.Errorf("GET /shorter: %q, Content-Length %d; want the whole body and its length", body, resp.ContentLength)
			}
			if resp, body := c.get(t, "/fits"); body != "abcdef" || resp.ContentLength != 6 {
				t.Errorf("GET /fits: %q, Content-Length %d; want %q, 6", body, resp.ContentLength, "abcdef")
			}
		})
	}

	// Over cleartext HTTP/1.1, two requests on one connection: the second
	// response must be the second request's.
	addr := startServer(t, &Server{NativeHandler: s.NativeHandler})
	conn := dial(t, addr)
	br := bufio.NewReader(conn)
	get := keepAliveGetter(t, conn, br)
	if body := get("/shorter"); body != "HTTP/1.1 200 OK\r\n" {
		t.Errorf("GET /shorter on HTTP/1.1: %q", body)
	}
	if body := get("/next"); body != "next" {
		t.Errorf("GET /next after /shorter on the same connection: %q, want %q", body, "next")
	}
}

// TestNativeTrailersNotOnServerAnswer: the response the server answers in
// the handler's place when nothing was sent yet (500 after a panic, 413
// for a body over the limit) carries none of the handler's response
// headers, and none of the trailers it added either, as Kestrel resets
// both: HTTP/2 and HTTP/3 sent them after the server's 500, a
// "Grpc-Status: 0" among them.
func TestNativeTrailersNotOnServerAnswer(t *testing.T) {
	s := &Server{Logger: discardLogger(), NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.SetHeader("X-H", "h")
		c.AddTrailer("Grpc-Status", "0")
		if string(c.Path()) == "/panic" {
			panic("the handler failed")
		}
		c.SetMaxRequestBodySize(1)
		io.Copy(io.Discard, c.Body())
	})}
	for _, c := range nativeEdgeClients(t, s) {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range []struct {
				path, body string
				status     int
			}{
				{"/panic", "", http.StatusInternalServerError},
				{"/large", "too large", http.StatusRequestEntityTooLarge},
			} {
				resp, err := c.c.Post(c.base+tc.path, "text/plain", strings.NewReader(tc.body))
				if err != nil {
					t.Fatalf("POST %s: %v", tc.path, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || resp.Header.Get("X-H") != "" || len(resp.Trailer) != 0 {
					t.Errorf("POST %s: %d, X-H %q, trailers %v; want %d without the handler's header and trailers",
						tc.path, resp.StatusCode, resp.Header.Get("X-H"), resp.Trailer, tc.status)
				}
			}
		})
	}
}
