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
	// Retained: heap memory the process holds from the system that no
	// object uses (idle spans not yet released), plus what is in use.
	retained := func() uint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapIdle - m.HeapReleased + m.HeapInuse + m.StackInuse
	}
	held := during.HeapIdle - during.HeapReleased + during.HeapInuse + during.StackInuse
	deadline := time.Now().Add(8 * time.Second)
	for {
		r := retained()
		if r < held/3 {
			t.Logf("retained %d MB during the burst, %d MB after", held>>20, r>>20)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("retained %d MB during the burst, still %d MB 8 s after it ended", held>>20, r>>20)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
