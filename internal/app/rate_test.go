package app

import (
	"math"
	"testing"
	"time"
)

// TestRateWriteTimeSaturates: a write's time at a very low rate (a
// configured BytesPerSecond near zero, "practically no minimum") is
// longer than a Duration holds; it saturates, never wrapping to a
// negative time that would leave the write only the grace period, nor
// making the deadlines of later writes wrap.
func TestRateWriteTimeSaturates(t *testing.T) {
	t.Parallel()
	const now = int64(1_800_000_000) * int64(time.Second)
	for _, bps := range []float64{1e-12, 1e-300, math.SmallestNonzeroFloat64} {
		var rt RateTimer
		rt.Reset(Rate{BytesPerSecond: bps, Grace: 5 * time.Second})
		rt.StartWrite(now, 64<<10, time.Second)
		if rt.WriteOverdue(now+int64(time.Hour), nil) {
			t.Errorf("rate %g: a 64 KiB write overdue after an hour", bps)
		}
		var after RateTimer
		after.Reset(Rate{BytesPerSecond: bps, Grace: 5 * time.Second})
		for range 3 {
			after.StartWriteAfter(now, 64<<10, time.Second)
		}
		if after.WriteOverdue(now+int64(time.Hour), nil) {
			t.Errorf("rate %g: the third 64 KiB write overdue after an hour", bps)
		}
	}
}
