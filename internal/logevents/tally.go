package logevents

import (
	"sync/atomic"
	"time"
)

// Tally counts occurrences of an event logged at Debug, so that a summary
// can be written at a visible level at most once per interval: a client
// then cannot grow the log at its own pace. Add may be called from any
// goroutine; Due from one at a time (the heartbeat).
type Tally struct {
	n    atomic.Int64
	last time.Time // of the last summary, or of the first Due call
}

// Add counts one occurrence.
func (t *Tally) Add() { t.n.Add(1) }

// Due reports the occurrences to summarize at now, and the time they were
// counted over, when there are some and the last summary is at least
// interval old; it then starts a new count.
func (t *Tally) Due(now time.Time, interval time.Duration) (count int64, over time.Duration, ok bool) {
	if t.last.IsZero() {
		t.last = now.Add(-interval)
	}
	if now.Sub(t.last) < interval {
		return 0, 0, false
	}
	n := t.n.Swap(0)
	if n == 0 {
		return 0, 0, false
	}
	over = now.Sub(t.last).Round(time.Second)
	t.last = now
	return n, over, true
}
