package kestrel

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoHandler answers with the method, the target and the body it read.
func echoHandler(served *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served != nil {
			served.Add(1)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.RequestURI, b)
	})
}

// headerLines returns n header lines "X-Hn: v\r\n" (Host not counted).
func headerLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-H%d: v\r\n", i)
	}
	return b.String()
}

// paddedHeaders returns a Host line and padding lines whose total size,
// with each line's CRLF, is exactly size bytes, and the empty line that
// ends them (not counted against MaxRequestHeadersTotalSize, as Kestrel
// counts).
func paddedHeaders(size int) string {
	var b strings.Builder
	b.WriteString("Host: x\r\n")
	left := size - b.Len()
	for i := 0; left > 0; i++ {
		name := fmt.Sprintf("X-Pad-%d: ", i)
		n := min(left, 4000)
		if left-n > 0 && left-n < len(name)+3 {
			n -= len(name) + 3 // leave room for a last line
		}
		b.WriteString(name)
		b.WriteString(strings.Repeat("p", n-len(name)-2))
		b.WriteString("\r\n")
		left -= n
	}
	b.WriteString("\r\n")
	return b.String()
}

// requestLine returns a GET request line of exactly n bytes, CRLF included.
func requestLine(n int) string {
	const fixed = len("GET /") + len(" HTTP/1.1\r\n")
	return "GET /" + strings.Repeat("a", n-fixed) + " HTTP/1.1\r\n"
}

func TestHostileRequests(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	addr := startHandler(t, echoHandler(&served))

	const post = "POST / HTTP/1.1\r\nHost: x\r\n"
	for _, tc := range []struct {
		name   string
		req    string
		status int
		allow  string
	}{
		// Request smuggling: every ambiguity in framing is refused.
		{"CL.TE", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400, ""},
		{"TE.CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG", 400, ""},
		{"TE.TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE.TE two fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE.TE chunked twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE chunkedx", post + "Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE identity", post + "Transfer-Encoding: identity\r\nContent-Length: 1\r\n\r\nx", 400, ""},
		{"TE empty", post + "Transfer-Encoding: \r\n\r\n", 400, ""},
		{"TE leading space in name", post + " Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE space before colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE vertical tab", post + "Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE folded", post + "Transfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE tab-indented value with CL", post + "Transfer-Encoding:\tchunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, ""},
		{"TE chunked with junk parameter", post + "Transfer-Encoding: chunked;@@@\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE chunked with a parameter", post + "Transfer-Encoding: chunked;a=b\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE chunked with empty parameter", post + "Transfer-Encoding: chunked;\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE coding with parameter, chunked", post + "Transfer-Encoding: gzip;q=1, chunked\r\n\r\n0\r\n\r\n", 501, ""},
		{"TE coding with bad parameter, chunked", post + "Transfer-Encoding: gzip;=1, chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"CL conflicting duplicates", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, ""},
		{"CL list", post + "Content-Length: 5, 6\r\n\r\nhello!", 400, ""},
		{"CL plus sign", post + "Content-Length: +5\r\n\r\nhello", 400, ""},
		{"CL negative", post + "Content-Length: -1\r\n\r\n", 400, ""},
		{"CL hex", post + "Content-Length: 0x5\r\n\r\nhello", 400, ""},
		{"CL empty", post + "Content-Length: \r\n\r\n", 400, ""},
		{"CL overflow", post + "Content-Length: 99999999999999999999\r\n\r\n", 400, ""},
		{"CL with space inside", post + "Content-Length: 1 0\r\n\r\n0123456789", 400, ""},

		// Header syntax.
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400, ""},
		{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\n\r\n", 400, ""},
		{"bare LF in request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400, ""},
		{"bare LF in header", "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400, ""},
		{"bare LF ending the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400, ""},
		{"bare CR in header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n", 400, ""},
		{"bare CR in request line", "GET /\r HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"NUL in header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n", 400, ""},
		{"NUL in header name", "GET / HTTP/1.1\r\nHost: x\r\nX-\x00A: b\r\n\r\n", 400, ""},
		{"DEL in header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x7fc\r\n\r\n", 400, ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400, ""},
		{"empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n", 400, ""},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n", 400, ""},
		{"non-token header name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", 400, ""},

		// Host.
		{"missing Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400, ""},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ""},
		{"two identical Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, ""},
		{"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, ""},
		{"Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, ""},
		{"Host with a bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, ""},
		{"absolute-form Host mismatch", "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", 400, ""},
		{"absolute-form port mismatch", "GET http://a.example:8080/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400, ""},
		{"absolute-form https port mismatch", "GET https://a.example/ HTTP/1.1\r\nHost: a.example:80\r\n\r\n", 400, ""},
		{"absolute-form with user info", "GET http://user@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400, ""},
		{"absolute-form with user and password", "GET http://u:p@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400, ""},
		{"absolute-form with an empty authority", "GET http:///p HTTP/1.1\r\nHost: \r\n\r\n", 400, ""},
		{"absolute-form authority not a host, no Host", "GET http://a<b>/ HTTP/1.0\r\n\r\n", 400, ""},

		// Request line.
		{"request line 8193 bytes", requestLine(8193) + "Host: x\r\n\r\n", 414, ""},
		{"request line far too long", requestLine(20000), 414, ""},
		{"invalid method", "G(ET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"control byte in target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"HTTP/0.9", "GET /\r\n\r\n", 400, ""},
		{"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, ""},
		{"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, ""},
		{"HTTP/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, ""},
		{"GET with asterisk", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 405, "OPTIONS"},
		{"GET with authority form", "GET example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "CONNECT"},
		{"CONNECT with origin form", "CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},

		// Sizes.
		{"101 header fields", "GET / HTTP/1.1\r\nHost: x\r\n" + headerLines(100) + "\r\n", 431, ""},
		{"headers 32 KiB + 1", "GET / HTTP/1.1\r\n" + paddedHeaders(32*1024+1), 431, ""},
		{"one header of 40 KB", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 40_000) + "\r\n\r\n", 431, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			all, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading to EOF: %v (read %q)", err, all)
			}
			head, _, _ := bytes.Cut(all, []byte("\r\n"))
			want := fmt.Sprintf("HTTP/1.1 %d %s", tc.status, http.StatusText(tc.status))
			if string(head) != want {
				t.Fatalf("status line %q, want %q", head, want)
			}
			br := bufio.NewReader(bytes.NewReader(all))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v := resp.Header["Content-Length"]; len(v) != 1 || v[0] != "0" {
				t.Errorf("Content-Length %q, want 0", v)
			}
			if !resp.Close || !bytes.Contains(all, []byte("\r\nConnection: close\r\n")) {
				t.Errorf("no Connection: close in %q", all)
			}
			if v := resp.Header.Get("Allow"); v != tc.allow {
				t.Errorf("Allow %q, want %q", v, tc.allow)
			}
			if resp.Header.Get("Date") == "" || resp.Header.Get("Server") != "Kestrel" {
				t.Errorf("Date and Server missing: %v", resp.Header)
			}
			if rest, _ := io.ReadAll(br); len(rest) != 0 {
				t.Errorf("bytes after the response: %q", rest)
			}
		})
	}
	if n := served.Load(); n != 0 {
		t.Errorf("the handler served %d of the hostile requests", n)
	}

	// After all that, the server still serves.
	resp, body := get(t, newClient(t), "http://"+addr+"/still-here")
	if resp.StatusCode != 200 || body != "GET /still-here " {
		t.Errorf("after the rejected requests: %d %q", resp.StatusCode, body)
	}
}

func TestHostileRequestsAtTheLimits(t *testing.T) {
	t.Parallel()
	// OPTIONS * reaches the handler, which echoes it, only with the
	// server's own answer turned off.
	addr := startServer(t, &Server{Handler: echoHandler(nil), DisableGeneralOptionsHandler: true})
	for _, tc := range []struct {
		name, req, want string
	}{
		{"request line 8192 bytes", requestLine(8192) + "Host: x\r\n\r\n", "GET /" + strings.Repeat("a", 8192-16) + " "},
		{"100 header fields", "GET /h HTTP/1.1\r\nHost: x\r\n" + headerLines(99) + "\r\n", "GET /h "},
		{"headers of 32 KiB", "GET /s HTTP/1.1\r\n" + paddedHeaders(32*1024), "GET /s "},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS * "},
		{"absolute form", "GET http://x/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET http://x/abs?q=1 "},
		{"absolute form, Host case differs", "GET http://EXAMPLE.com/ HTTP/1.1\r\nHost: example.COM\r\n\r\n", "GET http://EXAMPLE.com/ "},
		{"absolute form, default port in target", "GET http://localhost:80/ HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET http://localhost:80/ "},
		{"absolute form, default port in Host", "GET http://localhost/ HTTP/1.1\r\nHost: localhost:80\r\n\r\n", "GET http://localhost/ "},
		{"absolute form, https default port", "GET https://localhost:443/x HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET https://localhost:443/x "},
		{"absolute form, IPv6 default port", "GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]\r\n\r\n", "GET http://[::1]:80/ "},
		{"absolute form, @ in the path", "GET http://x/a@b HTTP/1.1\r\nHost: x\r\n\r\n", "GET http://x/a@b "},
		{"chunk size with many leading zeros", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("0", 40) + "3\r\nabc\r\n00000000000000000000\r\n\r\n", "POST / abc"},
		{"quoted chunk extension with escapes", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\\\"c\"\r\nabc\r\n0\r\n\r\n", "POST / abc"},
		{"duplicate equal Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "POST / hello"},
		{"empty Host in HTTP/1.1", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / "},
		{"no Host in HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", "GET / "},
		{"Transfer-Encoding case-insensitive", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST / abc"},
		{"chunk extensions", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b;c\r\nabc\r\n0;x\r\n\r\n", "POST / abc"},
		{"header value with tab and trailing spaces", "GET /t HTTP/1.1\r\nHost: x\r\nX-A: a\tb  \r\n\r\n", "GET /t "},
		{"IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "GET / "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := roundTrip(t, addr, "GET", tc.req)
			if resp.StatusCode != 200 || string(body) != tc.want {
				t.Errorf("got %d %.80q, want 200 %.80q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

func TestHostileBodies(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, echoHandler(nil))
	const chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"bad chunk size", chunked + "zz\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk size overflow", chunked + "ffffffffffffffffff\r\n", 400},
		{"chunk size 16 significant digits", chunked + "0001000000000000000\r\n", 400},
		{"bare CR in a quoted chunk extension", chunked + "3;a=\"b\rc\"\r\nabc\r\n0\r\n\r\n", 400},
		{"escaped bare CR in a quoted chunk extension", chunked + "3;a=\"b\\\rc\"\r\nabc\r\n0\r\n\r\n", 400},
		{"unbalanced quote in chunk extension", chunked + "3;a=\"bc\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk without CRLF", chunked + "3\r\nabcX\r\n0\r\n\r\n", 400},
		{"chunk size with bare LF", chunked + "3\nabc\r\n0\r\n\r\n", 400},
		{"negative chunk size", chunked + "-3\r\nabc\r\n0\r\n\r\n", 400},
		{"obs-fold in trailer", chunked + "0\r\nX-T: a\r\n b\r\n\r\n", 400},
		{"bad trailer name", chunked + "0\r\nX T: a\r\n\r\n", 400},
		{"trailers over 32 KiB", chunked + "0\r\n" + strings.Repeat("X-T: "+strings.Repeat("t", 1000)+"\r\n", 40) + "\r\n", 431},
		{"body shorter than Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 400},
		{"chunked body cut short", chunked + "10\r\nabc", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			io.WriteString(c, tc.req)
			if strings.Contains(tc.name, "short") {
				c.(interface{ CloseWrite() error }).CloseWrite()
			}
			all, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading to EOF: %v (read %q)", err, all)
			}
			want := fmt.Sprintf("HTTP/1.1 %d %s\r\n", tc.status, http.StatusText(tc.status))
			if !strings.HasPrefix(string(all), want) || !strings.Contains(string(all), "\r\nConnection: close\r\n") {
				t.Errorf("got %q, want %q with Connection: close", all, want)
			}
		})
	}
}

// TestHTTP2Preface checks an HTTP/1-only endpoint's answer to the HTTP/2
// preface: GOAWAY (HTTP_1_1_REQUIRED).
func TestHTTP2Preface(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: echoHandler(nil), Logger: quietLogger}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1})
	c := dial(t, addr)
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	// An empty SETTINGS frame (length 0, type 4, stream 0), the server's
	// preface, then a GOAWAY frame: length 8, type 7, no flags, stream 0;
	// last stream 0, error HTTP_1_1_REQUIRED (0xd).
	want := []byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd}
	if !bytes.Equal(all, want) {
		t.Errorf("got % x, want SETTINGS and GOAWAY frames % x", all, want)
	}

	// The preface is recognised only as a connection's first bytes.
	c = dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	all, _ = io.ReadAll(c)
	if !strings.HasPrefix(string(all), "HTTP/1.1 200 OK\r\n") || !strings.Contains(string(all), "HTTP/1.1 505 HTTP Version Not Supported\r\n") {
		t.Errorf("preface after a request: %q, want a 200 then a 505", all)
	}
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, echoHandler(nil))
	const n = 20
	var reqs strings.Builder
	for i := range n {
		fmt.Fprintf(&reqs, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	c := dial(t, addr)
	io.WriteString(c, reqs.String())
	br := bufio.NewReader(c)
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if want := fmt.Sprintf("GET /%d ", i); string(b) != want {
			t.Fatalf("response %d: %q, want %q", i, b, want)
		}
	}

	// GETs and POSTs with bodies, Content-Length and chunked, in one write.
	c = dial(t, addr)
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+
		"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"+
		"POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"+
		"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\n"+strings.Repeat("e", 8000)+
		"POST /f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n1\r\nf\r\n0\r\nX-T: t\r\n\r\n"+
		"GET /g HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br = bufio.NewReader(c)
	for _, want := range []string{"POST /a hello", "GET /b ", "POST /c abcde", "POST /d ", "PUT /e " + strings.Repeat("e", 8000), "POST /f f", "GET /g "} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("want %.20q: %v", want, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("got %.40q, want %.40q", b, want)
		}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after Connection: close: %q, %v; want EOF", rest, err)
	}
}

func TestPipeliningByteByByte(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, echoHandler(nil))
	c := dial(t, addr)
	req := "POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	go func() {
		for i := range len(req) {
			if _, err := c.Write([]byte{req[i]}); err != nil {
				return
			}
		}
	}()
	br := bufio.NewReader(c)
	for _, want := range []string{"POST /slow body", "GET /next "} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
	}
}

func TestRejectedRequestWithMoreBytesBehind(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, echoHandler(nil))
	// The server answers the bad request, then reads and drops what
	// follows, so that the client gets the answer and an orderly end of
	// stream rather than a connection reset.
	for _, tc := range []struct {
		name, head string
		status     int
	}{
		{"bad head", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505},
		{"body over the limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 413},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			written := make(chan error, 1)
			go func() {
				_, err := io.WriteString(c, tc.head+strings.Repeat("x", 200_000))
				written <- err
			}()
			all, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading the answer: %v (read %q)", err, all)
			}
			if want := fmt.Sprintf("HTTP/1.1 %d ", tc.status); !strings.HasPrefix(string(all), want) {
				t.Errorf("got %q, want %s", all, want)
			}
			if err := <-written; err != nil {
				t.Errorf("writing the rest: %v", err)
			}
		})
	}
}

// TestTLSHandshakeToCleartextSplit checks a TLS ClientHello sent to a
// cleartext endpoint whose first bytes arrive one per segment (TCP_NODELAY
// writes): the connection is closed without an HTTP answer, which would
// mean nothing to a TLS client, as when the record header arrives whole.
func TestTLSHandshakeToCleartextSplit(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	go tls.Client(a, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}).Handshake()
	hello := make([]byte, 64<<10)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(hello) // the first record: the ClientHello, with its key shares
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	hello = hello[:n]
	addr := startHandler(t, echoHandler(nil))
	for _, split := range []int{0, 1, 2, 3} {
		c := dial(t, addr)
		for i := range split { // the first bytes one by one, each its own segment
			c.Write(hello[i : i+1])
			time.Sleep(10 * time.Millisecond)
		}
		c.Write(hello[split:])
		all, _ := io.ReadAll(c)
		if len(all) != 0 {
			t.Errorf("the first %d bytes one by one: got %q, want the connection closed without an answer", split, all)
		}
	}
}
