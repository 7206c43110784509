package http1

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
)

var fuzzHeads = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=\"v\"\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
	"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\nUpgrade: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
}

func newFuzzParser() *parser {
	return &parser{maxLine: 256, maxHeaders: 1024, maxCount: 16}
}

// FuzzParser feeds arbitrary bytes to the head parser: it never panics,
// a parsed head's spans lie within the input, and feeding the bytes one
// at a time gives the same answer as feeding them at once.
func FuzzParser(f *testing.F) {
	for _, h := range fuzzHeads {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h1, h2 app.Head
		var x1, x2 headFlags
		p1 := newFuzzParser()
		p1.reset(&h1, &x1, true)
		done1, err1 := p1.parse(data)
		if done1 && err1 == nil {
			for _, s := range append([]app.Span{h1.Method, h1.Target, h1.Host}, fieldSpans(h1.Fields)...) {
				if s.Start < 0 || s.End < s.Start || int(s.End) > len(data) || int(s.End) > x1.size {
					t.Fatalf("span %v outside the head of %d bytes", s, x1.size)
				}
			}
		}
		p2 := newFuzzParser()
		p2.reset(&h2, &x2, true)
		var done2 bool
		var err2 error
		for i := 1; i <= len(data) && !done2 && err2 == nil; i++ {
			done2, err2 = p2.parse(data[:i])
		}
		if done1 != done2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("at once: %v %v; byte by byte: %v %v", done1, err1, done2, err2)
		}
		if done1 && err1 == nil && x1.size != x2.size {
			t.Fatalf("head size %d at once, %d byte by byte", x1.size, x2.size)
		}
	})
}

func fieldSpans(fs []app.Field) []app.Span {
	var out []app.Span
	for _, f := range fs {
		out = append(out, f.Name, f.Value)
	}
	return out
}

// FuzzChunkSize checks chunk-size lines: no panic, and a valid line's size
// is what its hex digits say.
func FuzzChunkSize(f *testing.F) {
	for _, s := range []string{"0", "a", "1f;name", "5; a=b ; c=\"q\\\"x\"", "3 ", "2;", "ffffffffffffffff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		n, ok := parseChunkSize(line)
		if ok && (n < 0 || len(line) == 0 || !isHex(line[0])) {
			t.Fatalf("%q: size %d accepted", line, n)
		}
	})
}

// FuzzConn runs arbitrary bytes through a whole connection, with a
// handler that reads the body and answers: the engine never panics and
// always finishes.
func FuzzConn(f *testing.F) {
	for _, h := range fuzzHeads {
		f.Add([]byte(h + h))
	}
	cfg := &Config{
		App: &app.Config{
			MaxRequestBodySize: 1 << 16,
			ServerHeader:       true,
			Heartbeat:          heartbeat.New(nil),
			Logger:             slog.New(slog.DiscardHandler),
		},
		MaxRequestLineSize:         256,
		MaxRequestHeadersTotalSize: 1024,
		MaxRequestHeaderCount:      16,
		KeepAliveTimeout:           time.Second,
		RequestHeadersTimeout:      time.Second,
	}
	var served atomic.Int64
	cfg.App.Handler = func(ex *app.Exchange) {
		io.Copy(io.Discard, ex.Body())
		ex.SetHeader("Content-Type", "text/plain")
		ex.Write(ex.Target())
		served.Add(1)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		c := NewConn(cfg, server, ConnOptions{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Serve()
		}()
		go func() {
			client.Write(data)
			client.Close()
		}()
		go io.Copy(io.Discard, client)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not finish")
		}
		client.Close()
	})
}
