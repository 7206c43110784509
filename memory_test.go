package kestrel

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMemoryReturnedAfterBurst checks that the memory a burst of
// connections with large unfinished heads held goes back to the operating
// system soon after they close, rather than minutes later.
func TestMemoryReturnedAfterBurst(t *testing.T) {
	const conns = 1000
	addr := startServer(t, &Server{})
	head := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 30<<10) // never ends
	var cs []net.Conn
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		go c.Write([]byte(head))
	}
	time.Sleep(time.Second)
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	for _, c := range cs {
		c.Close()
	}
	waitReturned(t, retainedOf(&during), 0, 8*time.Second)
}

// TestMemoryReturnedAfterIdleBurst: a burst of keep-alive connections that
// each served a request and went idle (their goroutines and buffers given
// up) gives its memory back soon after the clients close them.
func TestMemoryReturnedAfterIdleBurst(t *testing.T) {
	const conns = 4000
	addr := startServer(t, &Server{Logger: quietLogger})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	// Every request at once, so that each has a goroutine and buffers.
	for _, c := range cs {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 4096)
	for _, c := range cs {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if n, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 ") {
			t.Fatalf("response %q, %v", buf[:n], err)
		}
	}
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	time.Sleep(2 * time.Second) // idle for longer than a heartbeat tick
	for _, c := range cs {
		c.Close()
	}
	// The server returns memory at most every 10 s (releaseInterval); it
	// may have done so when the connections went idle.
	waitReturned(t, retainedOf(&during), retainedOf(&before), releaseInterval+4*time.Second)
}

// retainedOf is the heap memory the process holds from the system that no
// object uses (idle spans not yet released), plus what is in use.
func retainedOf(m *runtime.MemStats) uint64 {
	return m.HeapIdle - m.HeapReleased + m.HeapInuse + m.StackInuse
}

// waitReturned waits up to wait for the retained memory to fall to base
// plus a third of what held had above it.
func waitReturned(t *testing.T, held, base uint64, wait time.Duration) {
	t.Helper()
	if held <= base {
		t.Fatalf("retained %d MB during the burst, no more than the %d MB before it", held>>20, base>>20)
	}
	deadline := time.Now().Add(wait)
	for {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		r := retainedOf(&m)
		if r < base+(held-base)/3 {
			t.Logf("retained %d MB before the burst, %d MB during it, %d MB after", base>>20, held>>20, r>>20)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("retained %d MB before the burst, %d MB during it, still %d MB %v after it ended", base>>20, held>>20, r>>20, wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
