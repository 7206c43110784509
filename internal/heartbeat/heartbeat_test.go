package heartbeat

import (
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
