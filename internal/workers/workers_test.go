package workers

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitIdle waits until p has n idle workers.
func waitIdle(t *testing.T, p *Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); p.Idle() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle workers, want %d", p.Idle(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReuse(t *testing.T) {
	var p Pool
	defer p.Close()
	ran := make(chan int, 3)
	p.Go(func() { ran <- 1 })
	<-ran
	waitIdle(t, &p, 1)
	before := runtime.NumGoroutine()
	for i := 2; i <= 3; i++ {
		p.Go(func() { ran <- i })
		if got := <-ran; got != i {
			t.Fatalf("ran %d, want %d", got, i)
		}
		waitIdle(t, &p, 1)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines after reusing the worker, %d before", after, before)
	}
}

func TestTrimAndClose(t *testing.T) {
	var p Pool
	now := time.Now().UnixNano()
	p.Trim(now)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range MaxIdle + 10 {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			<-release
		})
	}
	close(release)
	wg.Wait()
	waitIdle(t, &p, MaxIdle) // the ten beyond end
	p.Trim(now + int64(IdleTimeout) - 1)
	if n := p.Idle(); n != MaxIdle {
		t.Fatalf("%d idle after a Trim within the timeout, want %d", n, MaxIdle)
	}
	p.Go(func() {}) // one worker is used again: it is idle since later
	waitIdle(t, &p, MaxIdle)
	p.Trim(now + int64(IdleTimeout))
	if n := p.Idle(); n != 1 {
		t.Fatalf("%d idle after the timeout, want the one used since", n)
	}
	p.Close()
	if n := p.Idle(); n != 0 {
		t.Fatalf("%d idle after Close", n)
	}
	done := make(chan struct{})
	p.Go(func() { close(done) }) // a closed pool still runs functions
	<-done
}

func TestNilPool(t *testing.T) {
	var p *Pool
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
}

// deep uses about n KiB of stack.
//
//go:noinline
func deep(n int) byte {
	var buf [1024]byte
	if n == 0 {
		return buf[0]
	}
	buf[n%1024] = byte(n)
	return deep(n-1) + buf[0]
}

// BenchmarkStack16K compares a goroutine per function with the pool for a
// function that needs a 16 KiB stack, as a gRPC handler does.
func BenchmarkStack16K(b *testing.B) {
	run := func(b *testing.B, gofn func(func())) {
		b.ReportAllocs()
		done := make(chan struct{}, 1)
		f := func() {
			deep(16)
			done <- struct{}{}
		}
		for b.Loop() {
			gofn(f)
			<-done
		}
	}
	b.Run("goroutine", func(b *testing.B) { run(b, func(f func()) { go f() }) })
	b.Run("pool", func(b *testing.B) {
		var p Pool
		defer p.Close()
		run(b, p.Go)
	})
}
