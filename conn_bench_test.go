package kestrel

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkConnection opens a connection, serves one request on it and
// closes it, to show what the connection path costs: without connection
// middleware, with one that returns the connection as it is, and with
// one that wraps it. Allocations are the client's and the server's.
func BenchmarkConnection(b *testing.B) {
	type wrapped struct{ net.Conn }
	for _, bc := range []struct {
		name string
		mw   []ConnectionMiddleware
	}{
		{"none", nil},
		{"identity", []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) { return c, nil }}},
		{"wrap", []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) { return wrapped{c}, nil }}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
			ep := Endpoint{Address: "127.0.0.1:0"}
			if bc.mw != nil {
				ep.ConnectionMiddleware = bc.mw
			}
			if err := s.ListenEndpoint(ep); err != nil {
				b.Fatal(err)
			}
			if err := s.Start(); err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			addr := strings.TrimPrefix(s.Addresses()[0], "http://")
			const req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				io.WriteString(c, req)
				br := bufio.NewReader(c)
				for {
					if _, err := br.Read(buf); err != nil {
						break
					}
				}
				c.Close()
			}
		})
	}
}
