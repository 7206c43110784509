package http2

import (
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
)

// TestSettingsManyWindowSizes checks SETTINGS frames that repeat
// SETTINGS_INITIAL_WINDOW_SIZE thousands of times while many streams are
// open: each frame costs the server about as much with 99 streams open
// as with one (the change applies to the streams once per frame, not once
// per entry), and the last value counts.
func TestSettingsManyWindowSizes(t *testing.T) {
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		if string(ex.Path()) == "/wait" {
			<-release
		}
		ex.WriteString("done")
	}, nil)
	defer close(release)
	var params []http2.Setting
	for i := range DefaultMaxFrameSize / 6 {
		params = append(params, http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(1 << 20 * (1 + i%2))})
	}
	params[len(params)-1].Val = 3 // what counts: 3 bytes a stream
	cost := func(streams int) time.Duration {
		c := dialRaw(t, s.addr)
		for i := range streams {
			c.request(uint32(2*i+1), "GET", "/wait", true)
		}
		c.fr.WritePing(false, [8]byte{1})
		c.waitFor("PING ack", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.IsAck() })
		best := time.Hour
		for range 3 {
			start := time.Now()
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				for range 100 {
					c.fr.WriteSettings(params...)
				}
				c.fr.WritePing(false, [8]byte{2})
			}()
			c.waitFor("PING ack", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.IsAck() && p.Data[0] == 2 })
			best = min(best, time.Since(start))
			<-wrote
		}
		id := uint32(2*streams + 1)
		c.request(id, "GET", "/", true)
		if st := c.status(id); st != 200 {
			t.Fatalf("status %d", st)
		}
		f := c.waitFor("DATA", func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamID == id })
		if got := string(f.(*http2.DataFrame).Data()); got != "don" {
			t.Errorf("the stream's window after the SETTINGS: the first DATA is %q, want the 3 bytes the last value allows", got)
		}
		return best
	}
	one, many := cost(1), cost(99)
	t.Logf("100 SETTINGS frames of %d entries: %v with 1 stream open, %v with 99", len(params), one, many)
	if many > 4*one+20*time.Millisecond {
		t.Errorf("100 SETTINGS frames of %d entries took %v with 99 streams open, %v with one", len(params), many, one)
	}
}
