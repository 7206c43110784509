package kestrel

import (
	"fmt"
	"io"
	"math"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestMinResponseDataRateStreamReader: a stream of small events to a
// client that reads it at four times MinResponseDataRate is not cut off,
// and one that reads at a quarter of it is, over HTTP/1.1 and h2c. Once
// the socket's buffer is full, the kernel wakes the writer only after a
// good part of it has drained, so one small write may wait far longer
// than its time at the rate while the client reads faster than the rate;
// the server aborted such a stream after the grace period, although
// Kestrel, which times the bytes written in all, keeps it.
func TestMinResponseDataRateStreamReader(t *testing.T) {
	t.Parallel()
	const minRate = 1000 // bytes/s
	limits := Limits{MinResponseDataRate: &DataRate{BytesPerSecond: minRate, GracePeriod: 1100 * time.Millisecond}}
	// Each protocol opens the stream on nc.
	protocols := []struct {
		name string
		// HTTP/2 gathers the frames queued while a write waits into the
		// next write, timed for all their bytes: a client below the rate
		// is cut off later than this test runs.
		slowCut bool
		open    func(nc net.Conn)
	}{
		{"HTTP/1.1", true, func(nc net.Conn) { io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") }},
		{"h2c", false, func(nc net.Conn) {
			fr := http2.NewFramer(nc, nc)
			io.WriteString(nc, http2.ClientPreface)
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: math.MaxInt32})
			fr.WriteWindowUpdate(0, math.MaxInt32-65535)
			(&rawH2{fr: fr}).get(1, "/")
		}},
	}
	for _, p := range protocols {
		for _, c := range []struct {
			readRate int // bytes/s
			cut      bool
		}{
			{4 * minRate, false},
			{minRate / 4, true},
		} {
			if c.cut && !p.slowCut {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", p.name, c.readRate), func(t *testing.T) {
				t.Parallel()
				failed := make(chan error, 1)
				addr := startServer(t, &Server{Handler: eventStream(failed), Limits: limits})
				// A small receive buffer, set before the handshake: the
				// client's acknowledgements follow its reads closely, as
				// over a slow link.
				d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
					return rc.Control(func(fd uintptr) { setReceiveBuffer(fd, 4096) })
				}}
				nc, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				p.open(nc)
				// Read at readRate for 4 s: long past the grace period and
				// the heartbeat's slack, while the server's writes wait.
				err = readAtRate(c.readRate, 4*time.Second, failed, func(b []byte) {
					nc.SetReadDeadline(time.Now().Add(time.Second))
					io.ReadFull(nc, b)
				})
				if cut := err != nil; cut != c.cut {
					t.Errorf("reading at %d bytes/s (minimum %d): cut off %v (%v), want %v", c.readRate, minRate, cut, err, c.cut)
				}
			})
		}
	}
}
