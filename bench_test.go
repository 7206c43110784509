package kestrel

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// benchServer starts a server on loopback and returns a connected client.
func benchServer(b *testing.B, s *Server) net.Conn {
	b.Helper()
	s.Logger = discardLogger()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	c, err := net.Dial("tcp", strings.TrimPrefix(s.Addresses()[0], "http://"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// runPipelined sends the request b.N times in batches of depth and reads
// the responses, each ending in body.
func runPipelined(b *testing.B, c net.Conn, req, body string, depth int) {
	batch := []byte(strings.Repeat(req, depth))
	buf := make([]byte, 64<<10)
	end := []byte(body)
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += depth {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		// Count complete responses by their bodies.
		seen, n := 0, 0
		for seen < depth {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
			seen = bytes.Count(buf[:n], end)
			if n == len(buf) {
				b.Fatal("responses larger than the read buffer")
			}
		}
	}
}

const benchRequest = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: text/plain\r\n\r\n"

// BenchmarkNativePlaintext measures the native handler API; steady state
// allocates nothing.
func BenchmarkNativePlaintext(b *testing.B) {
	c := benchServer(b, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.SetContentType("text/plain")
		c.WriteString("Hello, World!")
	})})
	runPipelined(b, c, benchRequest, "Hello, World!", 16)
}

// BenchmarkHandlerPlaintext measures the http.Handler bridge.
func BenchmarkHandlerPlaintext(b *testing.B) {
	c := benchServer(b, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})})
	runPipelined(b, c, benchRequest, "Hello, World!", 16)
}

// handlerAllocsCeiling is what serving a request through an http.Handler
// over HTTP/1.1 allocates, counting the one of the handler's own
// Header().Set: the *http.Request (WithContext's copy), the head's string,
// the request's Header map and its group of slots, the response's header
// map and its group, and one block for the request's context, URL, header
// values, body and ResponseWriter. None of them is pooled: a handler may
// keep the request, its Header, URL and context after it returns, and a
// goroutine it leaves behind may still hold its body, writer or response
// header map when the exchange serves another client.
const handlerAllocsCeiling = 8

// TestHandlerAllocs guards the http.Handler path over HTTP/1.1, in
// cleartext and over TLS (whose requests share their connection's TLS
// state), against allocations creeping back.
func TestHandlerAllocs(t *testing.T) {
	for name, bench := range map[string]func(*testing.B){
		"plaintext":      BenchmarkHandlerPlaintext,
		"plaintext, TLS": BenchmarkHandlerPlaintextTLS,
	} {
		res := testing.Benchmark(bench)
		if a := res.AllocsPerOp(); a > handlerAllocsCeiling {
			t.Errorf("http.Handler %s: %d allocations per request, want at most %d (%s)", name, a, handlerAllocsCeiling, res.MemString())
		}
	}
}

// TestNativeZeroAllocs guards the native path: serving a pipelined batch
// allocates nothing once warm.
func TestNativeZeroAllocs(t *testing.T) {
	res := testing.Benchmark(BenchmarkNativePlaintext)
	if a := res.AllocsPerOp(); a != 0 {
		t.Errorf("native plaintext: %d allocations per request, want 0 (%s)", a, res.MemString())
	}
}

// BenchmarkHandlerPlaintextTLS measures the http.Handler bridge over
// HTTPS (HTTP/1.1): the request's TLS state is the connection's, as with
// net/http, not a copy per request.
func BenchmarkHandlerPlaintextTLS(b *testing.B) {
	cert, err := selfSignedCert()
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			panic("no TLS state")
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	c, err := tls.Dial("tcp", strings.TrimPrefix(s.Addresses()[0], "https://"), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	runPipelined(b, c, benchRequest, "Hello, World!", 16)
}
