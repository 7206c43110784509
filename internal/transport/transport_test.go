package transport

import (
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/bufpool"
)

func TestCounterAndSlot(t *testing.T) {
	c := NewCounter(2)
	a, b := c.Acquire(), c.Acquire()
	if a == nil || b == nil || c.Acquire() != nil || c.Current() != 2 {
		t.Fatalf("limit 2: %v %v current %d", a, b, c.Current())
	}
	a.Release()
	a.Release() // once only
	if c.Current() != 1 || c.Acquire() == nil {
		t.Fatalf("after release: current %d", c.Current())
	}
	var nilSlot *Slot
	nilSlot.Release()
	if NewCounter(0).Acquire() == nil {
		t.Error("an unlimited counter refused")
	}
}

func TestAcceptRefusesOverLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &testHandler{hold: make(chan struct{})}
	hold := h.hold
	go Accept(ln, NewCounter(1), slog.New(slog.DiscardHandler), h)
	defer ln.Close()
	defer close(hold)
	c1, _ := net.Dial("tcp", ln.Addr().String())
	defer c1.Close()
	time.Sleep(50 * time.Millisecond)
	c2, _ := net.Dial("tcp", ln.Addr().String())
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the connection over the limit: read %v, want EOF", err)
	}
	if h.served.Load() != 1 || h.queued.Load() != 1 || h.rejected.Load() != 1 {
		t.Errorf("queued %d, served %d, rejected %d connections; want 1 each", h.queued.Load(), h.served.Load(), h.rejected.Load())
	}
}

// testHandler serves connections until hold is closed.
type testHandler struct {
	hold                     chan struct{}
	queued, served, rejected atomic.Int64
}

func (h *testHandler) Queue(net.Conn) { h.queued.Add(1) }

func (h *testHandler) Serve(c net.Conn, s *Slot) {
	h.served.Add(1)
	<-h.hold
	c.Close()
	s.Release()
}

func (h *testHandler) Reject(c net.Conn) {
	h.rejected.Add(1)
	c.Close()
}

func TestIdleReaderTakesBufferOnlyWhenReadable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	pool := bufpool.New(64)
	var r IdleReader
	r.Init(server)
	go func() {
		time.Sleep(50 * time.Millisecond)
		client.Write([]byte("hello"))
	}()
	buf, n, err := r.Read(pool)
	if err != nil || string((*buf)[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", (*buf)[:n], err)
	}
	client.Close()
	if buf, _, err := r.Read(pool); err != io.EOF || buf != nil {
		t.Fatalf("after close: %v %v, want nil buffer and EOF", buf, err)
	}
}

func TestParker(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parker is Linux-only; elsewhere idle connections keep a goroutine")
	}
	p, err := NewParker()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	client, _ := net.Dial("tcp", ln.Addr().String())
	defer client.Close()
	server, _ := ln.Accept()
	defer server.Close()
	rc, _ := server.(syscall.Conn).SyscallConn()
	woken := make(chan struct{}, 2)
	if err := p.Park(rc, func() { woken <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
		t.Fatal("woken before the socket was readable")
	case <-time.After(100 * time.Millisecond):
	}
	client.Write([]byte("x"))
	select {
	case <-woken:
	case <-time.After(2 * time.Second):
		t.Fatal("not woken when readable")
	}
	// Unparked sockets are not reported.
	client2, _ := net.Dial("tcp", ln.Addr().String())
	defer client2.Close()
	server2, _ := ln.Accept()
	defer server2.Close()
	rc2, _ := server2.(syscall.Conn).SyscallConn()
	p.Park(rc2, func() { woken <- struct{}{} })
	p.Unpark(rc2)
	client2.Write([]byte("y"))
	select {
	case <-woken:
		t.Fatal("an unparked socket woke its owner")
	case <-time.After(200 * time.Millisecond):
	}
}
