package heartbeat

import (
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDateLineAndTicks(t *testing.T) {
	var ticks atomic.Int64
	h := New(func(time.Time) { ticks.Add(1) })
	line := string(h.DateLine())
	if !strings.HasPrefix(line, "Date: ") || !strings.HasSuffix(line, " GMT\r\n") {
		t.Fatalf("DateLine = %q", line)
	}
	if _, err := http.ParseTime(strings.TrimSuffix(strings.TrimPrefix(line, "Date: "), "\r\n")); err != nil {
		t.Errorf("Date is not an HTTP date: %v", err)
	}
	h.Start()
	h.Start() // once
	time.Sleep(Interval + 500*time.Millisecond)
	h.Stop()
	h.Stop()
	if n := ticks.Load(); n < 1 || n > 2 {
		t.Errorf("%d ticks in 1.5 s", n)
	}
	if d := time.Since(time.Unix(0, h.Now())); d > 2*Interval {
		t.Errorf("Now is %v old", d)
	}
	New(nil).Stop() // stopping an unstarted heartbeat returns
}

// TestDeadline: a timeout passes an Interval after its end, never early;
// one longer than the clock can count (as long as .NET's TimeSpan.MaxValue,
// which Kestrel's settings use for "never") never passes, rather than
// wrapping into the past.
func TestDeadline(t *testing.T) {
	start := int64(5 * time.Hour)
	for _, tc := range []struct {
		d      time.Duration
		now    int64
		passed bool
	}{
		{time.Second, start + int64(time.Second), false},
		{time.Second, start + int64(time.Second+Interval) + 1, true},
		{math.MaxInt64, start + int64(time.Second), false},
		{math.MaxInt64, math.MaxInt64 - 1, false},
		{math.MaxInt64 - Interval, start + int64(1000*time.Hour), false},
	} {
		if got := Passed(tc.now, start, tc.d); got != tc.passed {
			t.Errorf("Passed(%d, %d, %v) = %v, want %v", tc.now, start, tc.d, got, tc.passed)
		}
	}
}
