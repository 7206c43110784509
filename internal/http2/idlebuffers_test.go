package http2

import (
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
)

// collected reports whether the array w points into is collected within
// a second, each try ticking s's heartbeat first when tick is set.
func collected[T any](s *testServer, w weak.Pointer[T], tick bool) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if tick {
			s.tick(time.Second)
		}
		runtime.GC()
		runtime.GC()
		if w.Value() == nil {
			return true
		}
	}
	return false
}

// TestWaitingStreamKeepsNoGrownBodyBuffer: a stream whose handler read a
// burst of request body (200 KB, buffered while it was busy) and waits for
// more, as a WebSocket over HTTP/2 does between messages, does not keep
// the buffer the burst grew.
func TestWaitingStreamKeepsNoGrownBodyBuffer(t *testing.T) {
	t.Parallel()
	const size = 200 << 10
	start := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		<-start
		if _, err := io.ReadFull(ex.Body(), make([]byte, size)); err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, ex.Body()) // waits for more
	}, nil)
	c := dialRaw(t, s.addr)
	c.request(1, "POST", "/", false)
	chunk := make([]byte, 16<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		c.fr.WriteData(1, false, chunk[:min(len(chunk), size-sent)])
	}
	conn := s.conn()
	var body weak.Pointer[byte]
	for deadline := time.Now().Add(5 * time.Second); body == (weak.Pointer[byte]{}); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the body did not arrive")
		}
		conn.mu.Lock()
		if st := conn.streams[1]; st != nil && len(st.body) == size {
			body = weak.Make(&st.body[0])
		}
		conn.mu.Unlock()
	}
	close(start)
	if !collected(s, body, false) {
		t.Errorf("a stream waiting for body holds the %d KB buffer its last burst grew", size>>10)
	}
	c.fr.WriteData(1, true, []byte("end"))
	if st := c.status(1); st != 200 {
		t.Fatalf("status %d", st)
	}
}

// TestQuietStreamKeepsNoOutputBuffer: a connection whose stream stays open
// after a large write (a WebSocket, a gRPC stream between messages) gives
// the output queue's buffers back within a heartbeat of going quiet.
func TestQuietStreamKeepsNoOutputBuffer(t *testing.T) {
	t.Parallel()
	const size = 200 << 10
	s := newTestServer(t, func(ex *app.Exchange) {
		ex.Write(make([]byte, size))
		ex.Flush()
		io.Copy(io.Discard, ex.Body()) // the stream stays open
	}, nil)
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	c.fr.WriteWindowUpdate(0, 1<<30)
	c.request(1, "POST", "/", false)
	for got := 0; got < size; {
		if d, ok := c.read().(*http2.DataFrame); ok && d.StreamID == 1 {
			got += len(d.Data())
		}
	}
	conn := s.conn()
	var bufs []weak.Pointer[byte]
	conn.mu.Lock()
	for _, b := range [][]byte{conn.out.buf, conn.out.spare} {
		if cap(b) > 0 {
			bufs = append(bufs, weak.Make(&b[:1][0]))
		}
	}
	conn.mu.Unlock()
	for _, w := range bufs {
		if !collected(s, w, true) {
			t.Errorf("a quiet connection with an open stream holds its output buffer")
		}
	}
	c.fr.WriteData(1, true, nil)
	c.waitFor("the response's end", func(f http2.Frame) bool {
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})
}

// noSyscall hides a connection's file descriptor, as TLS and connection
// middleware do: the server cannot park it.
type noSyscall struct{ net.Conn }

// TestUnparkableIdleConnectionKeepsNoHeaderBuffer: an idle connection
// that cannot be parked (TLS, connection middleware) lets go of the buffer
// its last HEADERS frame was read into within a heartbeat or two, as a
// parked one does.
func TestUnparkableIdleConnectionKeepsNoHeaderBuffer(t *testing.T) {
	t.Parallel()
	s := newWrappedTestServer(t, func(ex *app.Exchange) { ex.WriteString("ok") }, nil, func(nc net.Conn) net.Conn { return noSyscall{nc} })
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	if st := c.status(1); st != 200 {
		t.Fatal(st)
	}
	conn := s.conn()
	conn.mu.Lock() // the reader took it after reading the HEADERS frame
	buf := weak.Make(&conn.hfBuf[0])
	conn.mu.Unlock()
	if !collected(s, buf, true) {
		t.Error("an idle connection that cannot be parked still holds its HEADERS frame buffer")
	}
	c.request(3, "GET", "/", true)
	if st := c.status(3); st != 200 {
		t.Fatalf("after the idle period: %d", st)
	}
}

// readSizes is a connection that cannot be parked, and records the size
// of the buffer of its last read.
type readSizes struct {
	net.Conn
	last *atomic.Int64
}

func (r readSizes) Read(p []byte) (int, error) {
	r.last.Store(int64(len(p)))
	return r.Conn.Read(p)
}

// TestUnparkableIdleConnectionWaitsWithSmallBuffer: an idle connection
// that cannot be parked waits for its next frame with a small buffer, not
// the 16 KB one that frames are read with, and reads a large request
// after it.
func TestUnparkableIdleConnectionWaitsWithSmallBuffer(t *testing.T) {
	t.Parallel()
	var last atomic.Int64
	s := newWrappedTestServer(t, func(ex *app.Exchange) {
		n, _ := io.Copy(io.Discard, ex.Body())
		ex.WriteString(strconv.FormatInt(n, 10))
	}, nil, func(nc net.Conn) net.Conn { return readSizes{nc, &last} })
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	if st := c.status(1); st != 200 {
		t.Fatal(st)
	}
	for deadline := time.Now().Add(time.Second); last.Load() > smallReadBufferSize; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("an idle connection that cannot be parked waits with a %d-byte buffer, want at most %d", last.Load(), smallReadBufferSize)
		}
		s.tick(time.Second)
	}
	c.request(3, "POST", "/", false)
	body := make([]byte, 16<<10)
	for range 4 {
		c.fr.WriteData(3, false, body)
	}
	c.fr.WriteData(3, true, nil)
	if st := c.status(3); st != 200 {
		t.Fatalf("after the idle period: %d", st)
	}
	if d := c.waitFor("the body", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame); string(d.Data()) != "65536" {
		t.Errorf("the handler read %q bytes", d.Data())
	}
}

// deepReads is a connection that cannot be parked, whose first read
// runs on a stack grown to 64 KB, as after a TLS handshake.
type deepReads struct {
	net.Conn
	once *sync.Once
}

func (r deepReads) Read(p []byte) (int, error) {
	r.once.Do(func() { deepStack(64) })
	return r.Conn.Read(p)
}

// deepStack uses about n KB of stack.
//
//go:noinline
func deepStack(n int) byte {
	var pad [1 << 10]byte
	if n <= 1 {
		return pad[0]
	}
	pad[n%len(pad)] = byte(n)
	return deepStack(n-1) + pad[(n+1)%len(pad)]
}

// TestUnparkableIdleConnectionWaitsOnSmallStack: an idle connection that
// cannot be parked waits, after a heartbeat, on a goroutine whose stack has
// not grown with what the connection did before (a TLS handshake, a
// handler run by the reader).
func TestUnparkableIdleConnectionWaitsOnSmallStack(t *testing.T) {
	const conns = 32
	s := newWrappedTestServer(t, func(ex *app.Exchange) { ex.WriteString("ok") }, nil, func(nc net.Conn) net.Conn { return deepReads{nc, new(sync.Once)} })
	stacks := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.StackInuse
	}
	before := stacks()
	for range conns {
		c := dialRaw(t, s.addr)
		c.request(1, "GET", "/", true)
		if st := c.status(1); st != 200 {
			t.Fatal(st)
		}
	}
	for range 3 {
		s.tick(time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	const per = 16 << 10 // half of what the grown stack shrinks to
	after := stacks()
	t.Logf("%d B of stack per idle connection", (int64(after)-int64(before))/conns)
	if after > before+conns*per {
		t.Errorf("an idle connection that cannot be parked holds %d KB of stack, want < %d KB", (after-before)/conns>>10, per>>10)
	}
}

// TestIdleConnectionKeepsNoPooledOutputBuffer: the output queue's pooled
// buffers, given back as the connection goes idle, are not kept reachable
// by the connection once the pool drops them.
func TestIdleConnectionKeepsNoPooledOutputBuffer(t *testing.T) {
	t.Parallel()
	var s *testServer
	var bufs []weak.Pointer[byte]
	s = newTestServer(t, func(ex *app.Exchange) {
		ex.WriteString("ok")
		ex.Flush()
		conn := s.conn()
		conn.mu.Lock()
		for _, b := range [][]byte{conn.out.buf, conn.out.spare} {
			if cap(b) > 0 {
				bufs = append(bufs, weak.Make(&b[:1][0]))
			}
		}
		conn.mu.Unlock()
	}, nil)
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	if st := c.status(1); st != 200 {
		t.Fatal(st)
	}
	c.waitFor("the response's end", func(f http2.Frame) bool {
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})
	if len(bufs) == 0 {
		t.Fatal("the handler saw no output buffer")
	}
	for _, w := range bufs {
		if !collected(s, w, true) {
			t.Error("an idle connection keeps a pooled output buffer reachable")
		}
	}
}
