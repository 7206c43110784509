package kestrel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/forwardedheaders"
	"github.com/kestrel-go/kestrel/requestdecompression"
)

// TestUndeclaredTrailers: trailers the client did not announce in a
// Trailer header reach Request.Trailer too, as with net/http; framing
// fields never do.
func TestUndeclaredTrailers(t *testing.T) {
	got := make(chan http.Header, 1)
	addr := startLimited(t, Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Declared\r\n\r\n"+
		"3\r\nabc\r\n0\r\nX-Declared: 1\r\nX-Undeclared: 2\r\nContent-Length: 9\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response: %v %v", resp, err)
	}
	tr := <-got
	if tr.Get("X-Declared") != "1" || tr.Get("X-Undeclared") != "2" || tr.Get("Content-Length") != "" {
		t.Errorf("Request.Trailer = %v", tr)
	}
}

// TestResponseTrailerDeclaredTwice: a trailer named more than once in the
// Trailer header (repeated in one value, across values, or in another
// case) is sent once with its values, as net/http's HTTP/2 server and
// quic-go send it, over HTTP/1.1 as over HTTP/2 and HTTP/3; it was sent
// once per mention, so a checksum trailer reached the client as
// "abc, abc, abc".
func TestResponseTrailerDeclaredTwice(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum, X-Sum")
		w.Header().Add("Trailer", "x-sum, X-Other")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "abc")
		w.Header()["X-Other"] = []string{"1", "2"}
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	h1 := &http.Transport{TLSClientConfig: testClientTLS(t)}
	h2 := &http.Transport{TLSClientConfig: testClientTLS(t), Protocols: new(http.Protocols)}
	h2.Protocols.SetHTTP2(true)
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	for _, c := range []struct {
		name  string
		proto int
		c     *http.Client
	}{
		{"HTTP/1.1", 1, &http.Client{Transport: h1, Timeout: 10 * time.Second}},
		{"HTTP/2", 2, &http.Client{Transport: h2, Timeout: 10 * time.Second}},
		{"HTTP/3", 3, h3Client(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.c.Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.ProtoMajor != c.proto {
				t.Fatalf("answered over %s", resp.Proto)
			}
			if got := resp.Trailer["X-Sum"]; len(got) != 1 || got[0] != "abc" {
				t.Errorf("trailer X-Sum %q, want [abc]", got)
			}
			if got := resp.Trailer["X-Other"]; len(got) != 2 || got[0] != "1" || got[1] != "2" {
				t.Errorf("trailer X-Other %q, want [1 2]", got)
			}
		})
	}
}

// TestRequestTrailersThroughMiddleware: request trailers reach a handler
// behind the forwardedheaders and requestdecompression middleware once it
// has read the body, over HTTP/1.1 (chunked) and h2c, as they reach one
// without them. forwardedheaders handed the handler a deep copy of the
// request (Request.Clone), whose Trailer map the server never filled.
func TestRequestTrailersThroughMiddleware(t *testing.T) {
	t.Parallel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %v %q %s", b, err, r.Trailer.Get("X-Sum"), r.RemoteAddr)
	})
	for _, c := range []struct {
		name string
		h    http.Handler
		gzip bool
		want string
	}{
		{"none", handler, false, `hello <nil> "abc" 127.0.0.1:`},
		{"forwardedheaders", forwardedheaders.Handler(handler, forwardedheaders.Options{}), false, `hello <nil> "abc" 192.0.2.1:0`},
		{"requestdecompression", requestdecompression.Handler(handler, requestdecompression.Options{}), true, `hello <nil> "abc" 127.0.0.1:`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr := startServer(t, &Server{Handler: c.h})
			h2c := &http.Transport{Protocols: new(http.Protocols)}
			h2c.Protocols.SetUnencryptedHTTP2(true)
			t.Cleanup(h2c.CloseIdleConnections)
			h1 := &http.Transport{}
			t.Cleanup(h1.CloseIdleConnections)
			for _, rt := range []http.RoundTripper{h1, h2c} {
				body := []byte("hello")
				if c.gzip {
					var buf bytes.Buffer
					zw := gzip.NewWriter(&buf)
					zw.Write(body)
					zw.Close()
					body = buf.Bytes()
				}
				req, _ := http.NewRequest("POST", "http://"+addr+"/", io.MultiReader(bytes.NewReader(body)))
				req.Header.Set("X-Forwarded-For", "192.0.2.1")
				if c.gzip {
					req.Header.Set("Content-Encoding", "gzip")
				}
				req.Trailer = http.Header{"X-Sum": {"abc"}}
				resp, err := (&http.Client{Transport: rt, Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.HasPrefix(string(got), c.want) {
					t.Errorf("%s: the handler saw %q, want %q...", resp.Proto, got, c.want)
				}
			}
		})
	}
}
