//go:build unix

package kestrel

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// raiseOpenFiles raises the soft limit on open files to at least n (up to
// the hard limit) for the test, and returns the limit in force.
func raiseOpenFiles(t *testing.T, n uint64) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if uint64(lim.Cur) >= n {
		return uint64(lim.Cur)
	}
	old := lim
	setRlimit(&lim.Cur, min(n, uint64(lim.Max)))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit to %d open files: %v", lim.Cur, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	return uint64(lim.Cur)
}

// setRlimit sets one of syscall.Rlimit's fields, which are int64 on
// FreeBSD and DragonFly and uint64 elsewhere.
func setRlimit[T int64 | uint64](field *T, v uint64) { *field = T(v) }

// TestProxyProtocolHalfHeaders opens 10,000 connections that each send
// half a header (v1 and v2, a few bytes or most of one) and wait: each is
// closed by the header timeout and counted as proxy_protocol_timeout,
// nothing is logged at Info, and the goroutines and heap come back to
// where they were before. The endpoint requires the header: without
// Required, a connection the server reads nothing from within the
// timeout (a busy machine) is served as HTTP.
func TestProxyProtocolHalfHeaders(t *testing.T) {
	const (
		n       = 10000
		timeout = 200 * time.Millisecond
	)
	// Connections are open in batches of at most batch at once: two
	// descriptors each, the client's and the server's.
	batch := 400
	if lim := raiseOpenFiles(t, uint64(2*batch+256)); lim < uint64(2*batch+256) {
		batch = int(lim-256) / 2
	}
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelInfo)
	s := &Server{MeterProvider: mp, Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the handler was called")
	})}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{HeaderTimeout: timeout, Required: true}})
	v2 := proxyV2(t, "198.51.100.9:1", "192.0.2.1:2")
	halves := [][]byte{
		[]byte("PROXY TCP4 198.51.100.9 192.0.2.1 "),
		[]byte("PROXY TCP6 2001:db8::7 2001:db8::1 40002 443\r"),
		[]byte("PRO"),
		v2[:len(v2)/2],
		v2[:len(v2)-1],
		proxyproto.SIGV2[:7],
		v2[:16], // the fixed part: the addresses never come
	}
	logged := len(rec.events(""))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	baseG := runtime.NumGoroutine()

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, batch)
	for range batch {
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				c.Write(halves[i%int64(len(halves))])
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				m, err := c.Read(buf)
				c.Close()
				// A reset when the timeout came before the server read
				// the half header (a busy machine): closed all the same.
				if m != 0 || err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					errs <- fmt.Errorf("connection %d: read %q, %v; want the server to close it", i, buf[:m], err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d connections with half a header, %d at once, closed in %v", n, batch, time.Since(start).Round(time.Millisecond))

	port := portOf(addr)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		timedOut := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "proxy_protocol_timeout", "server.port": port})
		all := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"server.port": port})
		if timedOut == n && all == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v connections ended as proxy_protocol_timeout, %v in all; want %d", timedOut, all, n)
		}
	}
	if e := rec.events(""); len(e) != logged {
		t.Fatalf("%d records logged at Info or above during the flood, want none: %+v", len(e)-logged, e[logged:min(len(e), logged+5)])
	}
	var after runtime.MemStats
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		runtime.GC()
		runtime.ReadMemStats(&after)
		g := runtime.NumGoroutine()
		// Generous: the runtime's and the server's own goroutines and
		// caches may grow a little, a leak per connection is 10,000.
		if g <= baseG+20 && after.HeapAlloc <= before.HeapAlloc+8<<20 && after.StackInuse <= before.StackInuse+4<<20 {
			t.Logf("goroutines %d -> %d, heap %d KB -> %d KB, stacks %d KB -> %d KB", baseG, g, before.HeapAlloc>>10, after.HeapAlloc>>10, before.StackInuse>>10, after.StackInuse>>10)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the flood: goroutines %d (%d before), heap %d KB (%d KB before), stacks %d KB (%d KB before)", g, baseG, after.HeapAlloc>>10, before.HeapAlloc>>10, after.StackInuse>>10, before.StackInuse>>10)
		}
	}
}
