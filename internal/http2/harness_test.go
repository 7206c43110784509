package http2

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
)

// testServer serves HTTP/2 connections with a handler, for tests that talk
// to it frame by frame.
type testServer struct {
	t     *testing.T
	cfg   *Config
	addr  string
	mu    sync.Mutex
	conns []*Conn
}

// newTestServer starts a server; tweak, when set, adjusts its Config.
func newTestServer(t *testing.T, handler func(*app.Exchange), tweak func(*Config)) *testServer {
	t.Helper()
	return newWrappedTestServer(t, handler, tweak, nil)
}

// newWrappedTestServer is newTestServer with wrap, when set, wrapping each
// accepted connection before the server serves it.
func newWrappedTestServer(t *testing.T, handler func(*app.Exchange), tweak func(*Config), wrap func(net.Conn) net.Conn) *testServer {
	t.Helper()
	hb := heartbeat.New(nil)
	cfg := &Config{
		App: &app.Config{
			Logger:             slog.New(slog.DiscardHandler),
			Heartbeat:          hb,
			ServerHeader:       true,
			BaseContext:        context.Background(),
			Handler:            handler,
			MaxRequestBodySize: 30_000_000,
		},
		HeaderTableSize:       4096,
		RequestHeadersTimeout: 30 * time.Second,
		KeepAliveTimeout:      130 * time.Second,
	}
	if tweak != nil {
		tweak(cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, cfg: cfg, addr: ln.Addr().String()}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if wrap != nil {
				nc = wrap(nc)
			}
			c := NewConn(cfg, nc, Options{})
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go c.Serve()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Abort()
		}
		s.mu.Unlock()
	})
	return s
}

// tick runs the connections' heartbeat as if d had passed since the last
// tick.
func (s *testServer) tick(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Tick(c.now() + int64(d))
	}
}

// conn is the only connection, once the server has it.
func (s *testServer) conn() *Conn {
	s.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.conns)
		var c *Conn
		if n > 0 {
			c = s.conns[n-1]
		}
		s.mu.Unlock()
		if c != nil {
			return c
		}
	}
	s.t.Fatal("no connection")
	return nil
}

// rawClient speaks HTTP/2 frame by frame.
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
	dec *hpack.Decoder
}

// dialRaw connects, sends the preface and settings, and reads the
// server's settings.
func dialRaw(t *testing.T, addr string, settings ...http2.Setting) *rawClient {
	t.Helper()
	c := startRaw(t, addr, settings...)
	f := c.read()
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	c.fr.WriteSettingsAck()
	return c
}

// startRaw connects and sends the preface and settings, reading nothing:
// what the client sends next goes before the server's SETTINGS is read.
func startRaw(t *testing.T, addr string, settings ...http2.Setting) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	c.enc = hpack.NewEncoder(&c.buf)
	c.dec = hpack.NewDecoder(4096, nil)
	c.fr.ReadMetaHeaders = c.dec
	io.WriteString(nc, ClientPreface)
	c.fr.WriteSettings(settings...)
	return c
}

// read reads the next frame, failing the test on error.
func (c *rawClient) read() http2.Frame {
	c.t.Helper()
	f, err := c.fr.ReadFrame()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// headerBlock encodes a request's header block.
func (c *rawClient) headerBlock(method, path string, extra ...string) []byte {
	c.buf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":method", Value: method})
	c.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
	c.enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
	c.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: "test"})
	for i := 0; i+1 < len(extra); i += 2 {
		c.enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return append([]byte(nil), c.buf.Bytes()...)
}

// request sends a request's HEADERS.
func (c *rawClient) request(id uint32, method, path string, end bool, extra ...string) {
	c.t.Helper()
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock(method, path, extra...), EndStream: end, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor reads frames until match accepts one, and returns it; it fails
// when the connection closes first.
func (c *rawClient) waitFor(what string, match func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// goAway reads until a GOAWAY and returns it.
func (c *rawClient) goAway() *http2.GoAwayFrame {
	c.t.Helper()
	return c.waitFor("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
}

// status reads until the response HEADERS of stream id and returns its
// :status.
func (c *rawClient) status(id uint32) int {
	c.t.Helper()
	f := c.waitFor("the response of stream "+strconv.Itoa(int(id)), func(f http2.Frame) bool {
		mh, ok := f.(*http2.MetaHeadersFrame)
		return ok && mh.StreamID == id && mh.PseudoValue("status")[0] != '1'
	})
	n, _ := strconv.Atoi(f.(*http2.MetaHeadersFrame).PseudoValue("status"))
	return n
}

// closed reports whether the server closed the connection within d,
// reading and dropping frames meanwhile.
func (c *rawClient) closed(d time.Duration) bool {
	c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := c.fr.ReadFrame(); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}
