package kestrel

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2BenchClient drives an HTTP/2 connection with batches of requests
// without allocating: the batch is encoded once (its fields never indexed,
// so every batch's bytes are the same but for the stream ids), and the
// responses are counted by their END_STREAM flags, frame header by frame
// header, so that what a benchmark counts is the server's.
type h2BenchClient struct {
	nc    net.Conn
	batch []byte   // depth HEADERS frames
	ids   []int    // offsets of their stream ids in batch
	next  uint32   // the next stream id
	buf   []byte   // bytes read, not yet parsed
	data  int      // DATA bytes not yet given back to the connection's window
	win   [13]byte // WINDOW_UPDATE for the connection
}

func newH2BenchClient(b *testing.B, addr string, depth int) *h2BenchClient {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	// The first request's fields enter the HPACK table, as a browser's or
	// h2load's do; every later request is the same few indexed bytes.
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	encode := func() []byte {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/plaintext"}, {":authority", "localhost"}, {"user-agent", "bench"}, {"accept", "text/plain"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	first, block := encode(), encode()
	c := &h2BenchClient{nc: nc, next: 1, buf: make([]byte, 0, 256<<10)}
	var out bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	for i := range depth {
		c.ids = append(c.ids, out.Len()+5)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndStream: true, EndHeaders: true})
	}
	c.batch = out.Bytes()
	out = bytes.Buffer{}
	io.WriteString(&out, http2.ClientPreface)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	fr.WriteWindowUpdate(0, 1<<30)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true, EndHeaders: true})
	if _, err := nc.Write(out.Bytes()); err != nil {
		b.Fatal(err)
	}
	c.win = [13]byte{0, 0, 4, byte(http2.FrameWindowUpdate), 0, 0, 0, 0, 0}
	c.next = 3
	c.wait(b, 1)
	return c
}

// round sends a batch and waits for its responses.
func (c *h2BenchClient) round(b *testing.B) {
	for _, off := range c.ids {
		binary.BigEndian.PutUint32(c.batch[off:], c.next)
		c.next += 2
	}
	if _, err := c.nc.Write(c.batch); err != nil {
		b.Fatal(err)
	}
	c.wait(b, len(c.ids))
}

// wait reads until n streams have ended.
func (c *h2BenchClient) wait(b *testing.B, n int) {
	ended := 0
	for ended < n {
		for len(c.buf) >= 9 {
			n := int(c.buf[0])<<16 | int(c.buf[1])<<8 | int(c.buf[2])
			if len(c.buf) < 9+n {
				break
			}
			typ, flags := http2.FrameType(c.buf[3]), http2.Flags(c.buf[4])
			switch typ {
			case http2.FrameData:
				c.data += n
				if flags.Has(http2.FlagDataEndStream) {
					ended++
				}
			case http2.FrameHeaders:
				if flags.Has(http2.FlagHeadersEndStream) {
					ended++
				}
			case http2.FrameRSTStream, http2.FrameGoAway:
				b.Fatalf("the server sent %v", typ)
			}
			c.buf = c.buf[:copy(c.buf, c.buf[9+n:])]
		}
		if ended == n {
			break
		}
		m, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
		if err != nil {
			b.Fatal(err)
		}
		c.buf = c.buf[:len(c.buf)+m]
	}
	if c.data >= 1<<29 { // rarely: WINDOW_UPDATE is a control frame, and floods are refused
		binary.BigEndian.PutUint32(c.win[9:], uint32(c.data))
		c.data = 0
		if _, err := c.nc.Write(c.win[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// runH2 serves b.N requests over one HTTP/2 connection, depth streams at
// a time.
func runH2(b *testing.B, s *Server, depth int) {
	s.Logger = discardLogger()
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2}); err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	addr := s.Addresses()[0]
	addr = addr[len("http://"):]
	c := newH2BenchClient(b, addr, depth)
	for range 64 { // warm: pools, the HPACK tables, the interned strings
		c.round(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += depth {
		c.round(b)
	}
}

// BenchmarkHTTP2NativePlaintext measures the native handler API over h2c,
// 16 streams at a time; steady state allocates nothing.
func BenchmarkHTTP2NativePlaintext(b *testing.B) {
	runH2(b, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.SetContentType("text/plain")
		c.WriteString("Hello, World!")
	})}, 16)
}

// BenchmarkHTTP2NativePlaintextM1 is BenchmarkHTTP2NativePlaintext with
// one stream at a time.
func BenchmarkHTTP2NativePlaintextM1(b *testing.B) {
	runH2(b, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.SetContentType("text/plain")
		c.WriteString("Hello, World!")
	})}, 1)
}

// BenchmarkHTTP2HandlerPlaintext measures the http.Handler bridge over
// h2c, 16 streams at a time.
func BenchmarkHTTP2HandlerPlaintext(b *testing.B) {
	runH2(b, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})}, 16)
}

// TestHTTP2Allocs guards the HTTP/2 request path's allocations per
// request: none on the native path; through the http.Handler bridge, no
// more than
// what net/http promises a handler needs (its *http.Request, Header, URL
// and context are the handler's to keep): handlerAllocsCeiling, as over
// HTTP/1.1. make unit runs it without the
// race detector, under which sync.Pool drops items at random.
func TestHTTP2Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector; make unit runs this test without it")
	}
	for _, tc := range []struct {
		name  string
		bench func(*testing.B)
		max   int64
	}{
		{"native, 16 streams", BenchmarkHTTP2NativePlaintext, 0},
		{"native, 1 stream", BenchmarkHTTP2NativePlaintextM1, 0},
		{"http.Handler, 16 streams", BenchmarkHTTP2HandlerPlaintext, handlerAllocsCeiling},
	} {
		res := testing.Benchmark(tc.bench)
		if a := res.AllocsPerOp(); a > tc.max {
			t.Errorf("%s: %d allocations per request, want at most %d (%s)", tc.name, a, tc.max, res.MemString())
		}
	}
}
