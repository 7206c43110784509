package http1

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
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
		if done1 && err1 == nil {
			h1.Buf = data
			// The request's host, from Host or an absolute-form target's
			// authority, is a host with an optional port.
			if h1.HostCount == 1 && !httpsyntax.ValidHost(h1.Host.Of(data)) {
				t.Fatalf("%q: host %q accepted", data, h1.Host.Of(data))
			}
			if h1.Form == app.AbsoluteForm {
				if a := app.AuthorityOf(h1.Target.Of(data)); len(a) == 0 || !httpsyntax.ValidHost(a) {
					t.Fatalf("%q: target authority %q accepted", data, a)
				}
			}
			compareWithNetHTTP(t, data[:x1.size], &h1, &x1)
		}
	})
}

// compareWithNetHTTP checks a head the parser accepted against what
// net/http's ReadRequest makes of the same bytes, when it accepts them
// too (it is laxer in some places, stricter in others): the same method,
// target, version, fields, body framing and persistence.
func compareWithNetHTTP(t *testing.T, head []byte, h *app.Head, x *headFlags) {
	t.Helper()
	// net/http does not skip the empty lines a request may start with.
	trimmed := bytes.TrimLeft(head, "\r\n")
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(trimmed)))
	if err != nil {
		return
	}
	if got, want := string(h.Method.Of(h.Buf)), req.Method; got != want {
		t.Fatalf("%q: method %q, net/http %q", head, got, want)
	}
	if got, want := string(h.Target.Of(h.Buf)), req.RequestURI; got != want {
		t.Fatalf("%q: target %q, net/http %q", head, got, want)
	}
	if int(h.ProtoMajor) != req.ProtoMajor || int(h.ProtoMinor) != req.ProtoMinor {
		t.Fatalf("%q: version %d.%d, net/http %d.%d", head, h.ProtoMajor, h.ProtoMinor, req.ProtoMajor, req.ProtoMinor)
	}
	if h.Form == app.OriginForm && h.HostCount == 1 {
		if got := string(h.Host.Of(h.Buf)); got != req.Host {
			t.Fatalf("%q: host %q, net/http %q", head, got, req.Host)
		}
	}
	// Every field, in order, as net/http keeps it (Host apart, and the
	// framing fields it consumes).
	want := map[string][]string{}
	for _, f := range h.Fields {
		name := textproto.CanonicalMIMEHeaderKey(string(f.Name.Of(h.Buf)))
		switch name {
		case "Host", "Transfer-Encoding":
			continue
		}
		want[name] = append(want[name], string(f.Value.Of(h.Buf)))
	}
	for name, vs := range want {
		if name == "Content-Length" {
			continue // net/http may fold repeated equal values into one
		}
		if !slices.Equal(vs, req.Header[name]) {
			t.Fatalf("%q: field %s %q, net/http %q", head, name, vs, req.Header[name])
		}
	}
	for name := range req.Header {
		if _, ok := want[name]; !ok {
			t.Fatalf("%q: net/http has a field %s the parser has not", head, name)
		}
	}
	switch {
	case h.Chunked:
		if !slices.Equal(req.TransferEncoding, []string{"chunked"}) {
			t.Fatalf("%q: chunked, net/http's transfer encoding %q", head, req.TransferEncoding)
		}
	case h.ContentLength >= 0:
		if req.ContentLength != h.ContentLength {
			t.Fatalf("%q: content length %d, net/http %d", head, h.ContentLength, req.ContentLength)
		}
	default:
		if req.ContentLength != 0 {
			t.Fatalf("%q: no body, net/http's content length %d", head, req.ContentLength)
		}
	}
	close := x.connClose || h.ProtoMinor == 0 && !x.connKeepAlive
	if close != req.Close {
		t.Fatalf("%q: close %v, net/http %v", head, close, req.Close)
	}
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
		// The model: RFC 9112's grammar, read by a regular expression,
		// and the size as strconv reads the digits, up to 2^60.
		m := chunkLine.FindSubmatch(line)
		if ok && (m == nil || !bytes.Equal(m[0], line)) {
			t.Fatalf("%q: accepted against the grammar", line)
		}
		if m == nil {
			return
		}
		want, err := strconv.ParseUint(string(m[1]), 16, 64)
		switch {
		case ok && (err != nil || int64(want) != n):
			t.Fatalf("%q: size %d, want %d", line, n, want)
		case !ok && err == nil && want < 1<<60 && !bytes.ContainsFunc(line, func(r rune) bool { return r >= 0x80 }):
			t.Fatalf("%q: refused, the grammar takes it", line)
		}
	})
}

// chunkLine is "chunk-size [ chunk-ext ]" (RFC 9112, 7.1.1). A byte of
// obs-text that is not UTF-8 is read as U+FFFD, which the classes take.
var chunkLine = func() *regexp.Regexp {
	const tok = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
	const quoted = `"(?:[\t !#-\[\]-~\x{80}-\x{10FFFF}]|\\[\t -~\x{80}-\x{10FFFF}])*"` // obs-text: any byte from 0x80
	return regexp.MustCompile(`^([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*` + tok + `(?:[ \t]*=[ \t]*(?:` + tok + `|` + quoted + `))?)*$`)
}()

// FuzzConn runs arbitrary bytes through a whole connection, with a
// handler that reads the body and answers: the engine never panics and
// always finishes, and what it sends back is a run of responses net/http
// reads whole (when no request has a response without a body that
// ReadResponse cannot foresee: HEAD's, CONNECT's, or the HTTP/2 answer to
// its preface).
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
	// A loopback TCP connection rather than a net.Pipe: the client closes
	// its sending side only, and reads every response to the end.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := NewConn(cfg, server, ConnOptions{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Serve()
		}()
		go func() {
			client.Write(data)
			client.(*net.TCPConn).CloseWrite()
		}()
		var out bytes.Buffer
		read := make(chan struct{})
		go func() {
			defer close(read)
			io.Copy(&out, client)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not finish")
		}
		select {
		case <-read:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection was not closed")
		}
		if bytes.Contains(data, []byte("HEAD")) || bytes.Contains(data, []byte("CONNECT")) || bytes.Contains(data, []byte("PRI")) {
			return
		}
		br := bufio.NewReader(&out)
		for n := 0; ; n++ {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v\nsent %q\ngot %q", n, err, data, out.Bytes())
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("response %d body: %v\nsent %q\ngot %q", n, err, data, out.Bytes())
			}
		}
	})
}
