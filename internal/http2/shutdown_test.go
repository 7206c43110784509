package http2

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// TestGracefulShutdown checks RFC 9113, 6.8: GOAWAY with 2^31-1 and a
// PING; once the PING comes back, GOAWAY with the last stream; the stream
// in flight finishes, a new one is not served, then the connection closes.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	served := make(chan string, 4)
	s := newTestServer(t, func(ex *app.Exchange) {
		served <- string(ex.Path())
		if string(ex.Path()) == "/slow" {
			<-release
		}
		ex.WriteString("done")
	}, nil)
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/slow", true)
	if p := <-served; p != "/slow" {
		t.Fatal(p)
	}
	s.conn().CloseIfIdle() // what Server.Shutdown does

	ga := c.goAway()
	if ga.LastStreamID != 1<<31-1 || ga.ErrCode != http2.ErrCodeNo {
		t.Errorf("first GOAWAY %d %v, want 2^31-1 NO_ERROR", ga.LastStreamID, ga.ErrCode)
	}
	ping := c.waitFor("PING", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && !p.IsAck() }).(*http2.PingFrame)
	c.request(3, "GET", "/fast", true) // sent before the client saw the GOAWAY: still accepted
	c.fr.WritePing(true, ping.Data)
	// The final GOAWAY and stream 3's response, in either order.
	var final *http2.GoAwayFrame
	status3 := ""
	for final == nil || status3 == "" {
		switch f := c.read().(type) {
		case *http2.GoAwayFrame:
			final = f
		case *http2.MetaHeadersFrame:
			if f.StreamID == 3 {
				status3 = f.PseudoValue("status")
			}
		}
	}
	if final.LastStreamID != 3 || final.ErrCode != http2.ErrCodeNo {
		t.Errorf("second GOAWAY %d %v, want the last stream (3) NO_ERROR", final.LastStreamID, final.ErrCode)
	}
	if status3 != "200" {
		t.Errorf("stream 3: %s", status3)
	}
	c.request(5, "GET", "/late", true) // after the final GOAWAY: not served
	close(release)
	if st := c.status(1); st != 200 {
		t.Errorf("stream 1: %d", st)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("the connection stayed open after its streams ended")
	}
	close(served)
	for p := range served {
		if p == "/late" {
			t.Error("a stream opened after the final GOAWAY was served")
		}
	}
}

// TestKeepAlivePing checks Limits.Http2.KeepAlivePingDelay and Timeout: a
// quiet connection gets a PING, and one that does not answer is closed.
func TestKeepAlivePing(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) {}, func(cfg *Config) {
		cfg.KeepAlivePingDelay = 10 * time.Second
		cfg.KeepAlivePingTimeout = 20 * time.Second
	})
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	c.status(1)
	s.tick(11 * time.Second)
	ping := c.waitFor("a keep-alive PING", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && !p.IsAck() }).(*http2.PingFrame)
	c.fr.WritePing(true, ping.Data)
	time.Sleep(50 * time.Millisecond)
	s.tick(5 * time.Second) // answered: nothing happens
	s.tick(21 * time.Second)
	ping = c.waitFor("another keep-alive PING", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && !p.IsAck() }).(*http2.PingFrame)
	_ = ping // not answered this time
	s.tick(45 * time.Second)
	if !c.closed(5 * time.Second) {
		t.Fatal("a connection that did not answer the PING stayed open")
	}
}

// TestKeepAliveTimeout checks that a connection without streams for the
// keep-alive timeout is closed with GOAWAY.
func TestKeepAliveTimeout(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) {}, nil)
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	c.status(1)
	time.Sleep(20 * time.Millisecond)
	s.tick(132 * time.Second) // past 130 s and the heartbeat's tick of grace
	if ga := c.goAway(); ga.ErrCode != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v", ga.ErrCode)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("an idle connection stayed open past the keep-alive timeout")
	}
}

// testParker returns a parker closed when the test ends; the test is
// skipped where the system has none (it fails on Linux, which has one).
func testParker(t *testing.T) *transport.Parker {
	t.Helper()
	pk, err := transport.NewParker()
	if err != nil {
		if runtime.GOOS == "linux" {
			t.Fatal(err)
		}
		t.Skip("no parker on this system: idle connections keep a goroutine")
	}
	t.Cleanup(func() { pk.Close() })
	return pk
}

// waitParked ticks the heartbeat until the idle connection is parked.
func waitParked(t *testing.T, s *testServer, conn *Conn) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !conn.parked.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection was not parked")
		}
		s.tick(2 * time.Second)
	}
}

// TestParkedConnection checks that an idle connection leaves its goroutine
// for the parker after a heartbeat, holding no read buffer, and serves its
// next request when it comes.
func TestParkedConnection(t *testing.T) {
	pk := testParker(t)
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString("ok") }, func(cfg *Config) { cfg.Parker = pk })
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	if st := c.status(1); st != 200 {
		t.Fatal(st)
	}
	conn := s.conn()
	waitParked(t, s, conn)
	if conn.in.buf != nil {
		t.Error("a parked connection holds its read buffer")
	}
	c.request(3, "GET", "/", true)
	if st := c.status(3); st != 200 {
		t.Fatalf("after parking: %d", st)
	}
}

// TestShutdownBeforePreface: a graceful shutdown asked of a connection
// whose client preface has not arrived yet (a server draining, as
// Shutdown's DrainDelay asks every connection every 100 ms, just after a
// new one was accepted) must not send GOAWAY before the server's SETTINGS,
// which RFC 9113, 3.4 requires to be its first frame (a client such as
// nghttp2 fails the connection otherwise, and every request it sent with
// it). The requests the client sends with its preface are served, and
// then the connection goes away.
func TestShutdownBeforePreface(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString("ok") }, nil)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	s.conn().CloseIfIdle() // what the drain delay's pass does

	c := &rawClient{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	c.enc = hpack.NewEncoder(&c.buf)
	c.dec = hpack.NewDecoder(4096, nil)
	c.fr.ReadMetaHeaders = c.dec
	io.WriteString(nc, ClientPreface)
	c.fr.WriteSettings()
	c.request(1, "GET", "/", true)
	if f := c.read(); f.Header().Type != http2.FrameSettings {
		t.Fatalf("the server's first frame is %v, want SETTINGS", f)
	}
	ga := c.goAway()
	if ga.LastStreamID != 1<<31-1 || ga.ErrCode != http2.ErrCodeNo {
		t.Errorf("first GOAWAY %d %v, want 2^31-1 NO_ERROR", ga.LastStreamID, ga.ErrCode)
	}
	ping := c.waitFor("PING", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && !p.IsAck() }).(*http2.PingFrame)
	c.fr.WriteSettingsAck()
	c.fr.WritePing(true, ping.Data)
	if st := c.status(1); st != 200 {
		t.Errorf("stream 1: %d, want 200", st)
	}
	if final := c.goAway(); final.LastStreamID != 1 {
		t.Errorf("final GOAWAY names stream %d, want 1", final.LastStreamID)
	}
	if !c.closed(5 * time.Second) {
		t.Fatal("the connection stayed open after its stream ended")
	}
}

// TestShutdownPrefaceNeverComes: a connection asked to shut down before
// its client preface arrived, and whose client never sends one, is closed
// within a few heartbeats, without a frame, rather than holding Shutdown
// until the request headers timeout.
func TestShutdownPrefaceNeverComes(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) {}, nil)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s.conn().CloseIfIdle()
	for range 3 {
		s.tick(time.Second)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := nc.Read(make([]byte, 64))
	if err == nil || n > 0 {
		t.Fatalf("read %d bytes, %v; want the connection closed without a frame", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection stayed open")
	}
}

// TestKeepAlivePingBeforePreface: the keep-alive PING is not sent before
// the server's SETTINGS either, when the heartbeat finds a connection
// whose client preface has not come yet.
func TestKeepAlivePingBeforePreface(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) {}, func(cfg *Config) {
		cfg.KeepAlivePingDelay = 10 * time.Second
		cfg.KeepAlivePingTimeout = 20 * time.Second
	})
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	s.conn()
	s.tick(11 * time.Second)
	fr := http2.NewFramer(nc, nc)
	io.WriteString(nc, ClientPreface)
	fr.WriteSettings()
	if f, err := fr.ReadFrame(); err != nil || f.Header().Type != http2.FrameSettings {
		t.Fatalf("the server's first frame is %v (%v), want SETTINGS", f, err)
	}
}

// wakeCountingConn counts the server's wakes of its reader (a read
// deadline in the past).
type wakeCountingConn struct {
	net.Conn
	wakes atomic.Int32
}

func (c *wakeCountingConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		c.wakes.Add(1)
	}
	return c.Conn.SetReadDeadline(t)
}

// TestUnparkableIdleConnectionWokenOnce: an idle connection that cannot be
// parked (over TLS, or through connection middleware: the wrapper hides
// the socket) has its reader woken once for an idle period, to drop the
// buffer its framer grew, not at every heartbeat tick for as long as it
// stays idle; and it serves its next request.
func TestUnparkableIdleConnectionWokenOnce(t *testing.T) {
	pk := testParker(t)
	var wc *wakeCountingConn
	accepted := make(chan struct{})
	s := newWrappedTestServer(t, func(ex *app.Exchange) { ex.WriteString("ok") }, func(cfg *Config) { cfg.Parker = pk }, func(nc net.Conn) net.Conn {
		wc = &wakeCountingConn{Conn: nc}
		close(accepted)
		return wc
	})
	c := dialRaw(t, s.addr)
	<-accepted
	for id := uint32(1); id <= 3; id += 2 {
		c.request(id, "GET", "/", true)
		if st := c.status(id); st != 200 {
			t.Fatalf("stream %d: %d", id, st)
		}
		conn := s.conn()
		before := wc.wakes.Load()
		for range 5 {
			s.tick(2 * time.Second)
			time.Sleep(10 * time.Millisecond)
		}
		if conn.parked.Load() {
			t.Fatal("a connection without its socket was parked")
		}
		if n := wc.wakes.Load() - before; n != 1 {
			t.Errorf("idle period %d: the reader was woken %d times in 5 heartbeat ticks, want 1", id/2+1, n)
		}
	}
}

// TestParkedConnectionKeepsNoHeaderBuffer: a parked connection lets go of
// the buffer its last HEADERS frame was read into (4 KB), which the last
// frame parsed and the HPACK decoder still pointed into.
func TestParkedConnectionKeepsNoHeaderBuffer(t *testing.T) {
	pk := testParker(t)
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString("ok") }, func(cfg *Config) { cfg.Parker = pk })
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	if st := c.status(1); st != 200 {
		t.Fatal(st)
	}
	conn := s.conn()
	conn.mu.Lock() // the reader took it after reading the HEADERS frame
	buf := weak.Make(&conn.hfBuf[0])
	conn.mu.Unlock()
	waitParked(t, s, conn)
	runtime.GC()
	runtime.GC()
	if buf.Value() != nil {
		t.Error("a parked connection still holds its HEADERS frame buffer")
	}
	c.request(3, "GET", "/", true)
	if st := c.status(3); st != 200 {
		t.Fatalf("after parking: %d", st)
	}
}

// TestShutdownEndsBodyDrains: a graceful shutdown does not wait for the
// request bodies the server drains after their handlers answered (for
// up to 5 s, to keep the connection usable, which it no longer needs):
// they are stopped with RST_STREAM (NO_ERROR), as HTTP/1.1 closes rather
// than drains while shutting down, both the drains under way when the
// shutdown begins and those of handlers that answer after it. The
// connection stayed open until each drain timed out.
func TestShutdownEndsBodyDrains(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		if string(ex.Path()) == "/later" {
			<-release
		}
		ex.WriteString("early") // the body is never read
	}, nil)
	c := dialRaw(t, s.addr)
	c.request(1, "POST", "/", false)
	c.fr.WriteData(1, false, []byte("part of the body"))
	c.request(3, "POST", "/later", false)
	if st := c.status(1); st != 200 {
		t.Fatalf("stream 1: %d", st)
	}
	s.conn().CloseIfIdle() // what Server.Shutdown does
	ping := c.waitFor("PING", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && !p.IsAck() }).(*http2.PingFrame)
	c.fr.WritePing(true, ping.Data)
	close(release)
	resets := map[uint32]http2.ErrCode{}
	c.nc.SetReadDeadline(time.Now().Add(3 * time.Second)) // a drain lasts 5 s
	for len(resets) < 2 {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v; streams reset: %v", err, resets)
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			resets[rst.StreamID] = rst.ErrCode
		}
	}
	if resets[1] != http2.ErrCodeNo || resets[3] != http2.ErrCodeNo {
		t.Errorf("streams reset with %v, want NO_ERROR", resets)
	}
	if !c.closed(3 * time.Second) {
		t.Fatal("the connection stayed open after its responses ended")
	}
}
