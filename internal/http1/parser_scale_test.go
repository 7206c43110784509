package http1

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
)

// TestParserTrickleScansOnce: a long header line that arrives a few bytes
// at a time costs about the same per byte at 512 KiB as at 8 KiB. Each
// read scanned the line again from its start for its end, so that the
// cost grew with the square of the line's length.
func TestParserTrickleScansOnce(t *testing.T) {
	// Not in parallel: timings beside other tests would be noise.
	const chunk = 16
	fastest := func(n int) time.Duration {
		head := []byte("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("v", n) + "\r\n\r\n")
		best := time.Duration(1<<63 - 1)
		for range 5 { // the least of a few runs, as the machine may be busy
			p := &parser{maxLine: 1 << 10, maxHeaders: 1 << 20, maxCount: 100}
			var h app.Head
			var x headFlags
			p.reset(&h, &x, true)
			runtime.GC() // no collection of what came before inside the timing
			start := time.Now()
			done := false
			for end := chunk; !done; end += chunk {
				var err error
				if done, err = p.parse(head[:min(end, len(head))]); err != nil {
					t.Fatal(err)
				}
			}
			best = min(best, time.Since(start))
			if len(h.Fields) != 2 || x.size != len(head) {
				t.Fatalf("%d fields, a head of %d bytes; want 2 fields and %d bytes", len(h.Fields), x.size, len(head))
			}
		}
		return best
	}
	const small, large = 8 << 10, 512 << 10
	tSmall, tLarge := fastest(small), fastest(large)
	ratio := float64(tLarge) / float64(tSmall) / (large / small) // per byte
	t.Logf("a %d-byte line in %d-byte reads: %v; %d bytes: %v (%.1fx a byte)", small, chunk, tSmall, large, tLarge, ratio)
	if ratio > 8 { // scanning the line again at each read is 64x
		t.Errorf("a 64x longer line cost %.1fx as much per byte (%v against %v), want about the same", ratio, tLarge, tSmall)
	}
}
