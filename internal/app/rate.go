package app

import (
	"math"
	"sync/atomic"
	"time"
)

// Rate is a minimum data rate: after Grace, fewer than BytesPerSecond bytes
// per second on average times out. The zero Rate is off.
type Rate struct {
	BytesPerSecond float64
	Grace          time.Duration
}

// RateTimer measures a data rate for the heartbeat: the time spent
// waiting on the client and the bytes moved meanwhile. Its methods may be
// called from the heartbeat and the connection's goroutines at once.
type RateTimer struct {
	bps     atomic.Uint64 // math.Float64bits of the rate; 0 is off
	grace   atomic.Int64
	waiting atomic.Bool  // a read or write waits on the client now
	elapsed atomic.Int64 // nanoseconds spent waiting, in heartbeat ticks
	bytes   atomic.Int64
	timeout atomic.Bool // the heartbeat found the rate too slow
	end     atomic.Int64

	// What the client had acknowledged (markBytes) when the heartbeat
	// first saw the timed write wait (markAt, 0 before).
	markAt    atomic.Int64
	markBytes atomic.Int64
}

// Set changes the rate, keeping what was measured.
func (t *RateTimer) Set(r Rate) {
	t.bps.Store(math.Float64bits(r.BytesPerSecond))
	t.grace.Store(int64(r.Grace))
}

// Reset changes the rate and starts measuring anew.
func (t *RateTimer) Reset(r Rate) {
	t.Set(r)
	t.elapsed.Store(0)
	t.bytes.Store(0)
	t.timeout.Store(false)
	t.end.Store(0)
}

// BytesPerSecond is the rate's minimum.
func (t *RateTimer) BytesPerSecond() float64 { return math.Float64frombits(t.bps.Load()) }

// On reports whether a rate is set.
func (t *RateTimer) On() bool { return math.Float64frombits(t.bps.Load()) > 0 }

// Wait marks the start (true) or end (false) of a wait on the client.
func (t *RateTimer) Wait(on bool) { t.waiting.Store(on) }

// Count adds n bytes moved.
func (t *RateTimer) Count(n int) { t.bytes.Add(int64(n)) }

// TimedOut reports whether the heartbeat found the rate too slow.
func (t *RateTimer) TimedOut() bool { return t.timeout.Load() }

// Tick adds one heartbeat interval to the waiting time and reports, once,
// that the rate has fallen below the minimum after the grace period.
func (t *RateTimer) Tick(interval time.Duration) bool {
	if !t.waiting.Load() {
		return false
	}
	bps := math.Float64frombits(t.bps.Load())
	if bps <= 0 {
		return false
	}
	elapsed := t.elapsed.Add(int64(interval))
	if elapsed <= t.grace.Load() {
		return false
	}
	rate := float64(t.bytes.Load()) / (float64(elapsed) / float64(time.Second))
	return rate < bps && t.timeout.CompareAndSwap(false, true)
}

// StartWrite times a write of n bytes, starting at now (Unix nanoseconds on
// the heartbeat's clock), against the rate: it must end within the grace
// period or the time n bytes take at the rate, whichever is longer, plus
// slack.
func (t *RateTimer) StartWrite(now int64, n int, slack time.Duration) {
	bps := math.Float64frombits(t.bps.Load())
	if bps <= 0 {
		return
	}
	d := max(writeTime(n, bps), t.grace.Load())
	t.end.Store(satAdd(satAdd(now, d), int64(slack)))
	t.markAt.Store(0)
	t.waiting.Store(true)
}

// StartWriteAfter times a write of n bytes as StartWrite does, but not
// earlier than the end of the writes timed before (since Reset) plus the
// time n bytes take at the rate, as Kestrel times a response: a write
// that waits on a client's flow-control window waits for the client to
// take bytes written before it (a QUIC client opens its window in steps
// of a quarter of it or more), whose time at the rate it is given.
func (t *RateTimer) StartWriteAfter(now int64, n int, slack time.Duration) {
	if t.Wrote(now, n, slack) {
		t.markAt.Store(0)
		t.waiting.Store(true)
	}
}

// Wrote counts n bytes written without a wait toward the time a later
// write that waits is given (StartWriteAfter), and reports whether a rate
// is set.
func (t *RateTimer) Wrote(now int64, n int, slack time.Duration) bool {
	bps := math.Float64frombits(t.bps.Load())
	if bps <= 0 {
		return false
	}
	d := writeTime(n, bps)
	end := satAdd(satAdd(now, max(d, t.grace.Load())), int64(slack))
	if prev := t.end.Load(); prev != 0 && satAdd(prev, d) > end {
		end = satAdd(prev, d)
	}
	t.end.Store(end)
	return true
}

// WriteOverdue reports, once, that a timed write has not ended by now
// while the client falls behind the rate. acked, if not nil, is how many
// bytes the client has acknowledged on the connection in all (-1 if
// unknown): a write to a TCP socket whose buffer is full waits until the
// kernel wakes the writer, once a good part of the buffer has drained,
// which for a small write (an event of a stream) can take far longer than
// its own time at the rate although the client reads faster than the
// rate. Such a write is late only if the client acknowledged fewer bytes
// than the rate asks for since the heartbeat first saw the write wait.
// Where acked is nil or unknown, the write's own time decides.
func (t *RateTimer) WriteOverdue(now int64, acked func() int64) bool {
	if !t.waiting.Load() || !t.On() {
		return false
	}
	if acked != nil && t.markAt.Load() == 0 {
		if n := acked(); n >= 0 {
			t.markBytes.Store(n)
			t.markAt.Store(now)
		}
	}
	if now <= t.end.Load() {
		return false
	}
	if at := t.markAt.Load(); acked != nil && at != 0 {
		if n := acked(); n >= 0 {
			want := t.BytesPerSecond() * float64(now-at) / float64(time.Second)
			if float64(n-t.markBytes.Load()) >= want {
				return false // the client keeps up: the kernel holds the write
			}
		}
	}
	return t.timeout.CompareAndSwap(false, true)
}

// writeTime is the time, in nanoseconds, n bytes take at bps bytes per
// second: the longest time an int64 holds when it holds less (a rate near
// zero), never a conversion that wraps.
func writeTime(n int, bps float64) int64 {
	if d := float64(n) / bps * float64(time.Second); d < math.MaxInt64 {
		return int64(d)
	}
	return math.MaxInt64
}

// satAdd is a+b, or math.MaxInt64 when a positive b makes it overflow.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
