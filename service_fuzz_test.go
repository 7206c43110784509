package kestrel

import (
	"math"
	"math/big"
	"strconv"
	"testing"
	"time"
)

// FuzzWatchdogInterval checks WATCHDOG_USEC's parsing against its model:
// a positive decimal number of microseconds (strconv.ParseInt), the
// interval that many microseconds, or the longest Duration when it holds
// fewer (never a wrap to a negative or a tiny interval, which would stop
// the pings or send them in a busy loop); 0, no watchdog, otherwise.
func FuzzWatchdogInterval(f *testing.F) {
	for _, s := range []string{
		"30000000", "0", "-5", "x", "", "+30", "9223372036854775", "9223372036854776", "18446744073709552",
		"10000000000000000", "9223372036854775807", "9223372036854775808",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, usec string) {
		got := watchdogInterval([]string{"NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=" + usec})
		var want time.Duration
		if n, err := strconv.ParseInt(usec, 10, 64); err == nil && n > 0 {
			ns := new(big.Int).Mul(big.NewInt(n), big.NewInt(int64(time.Microsecond)))
			want = math.MaxInt64
			if ns.IsInt64() {
				want = time.Duration(ns.Int64())
			}
		}
		if got != want {
			t.Fatalf("WATCHDOG_USEC=%s: %v, want %v", usec, got, want)
		}
	})
}
