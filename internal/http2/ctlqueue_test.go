package http2

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
)

// TestControlFramesToNonReader checks a client that never reads while it
// sends frames each answered with a control frame (RST_STREAM for a
// PRIORITY on itself or a zero WINDOW_UPDATE on a closed stream, PING
// acknowledgements): the answers queued behind the blocked write stay
// bounded (net/http's server closes after 10,000 queued control frames),
// and the connection is closed, not left waiting for the client to read
// (a PING flood while a large response fills the socket buffers).
func TestControlFramesToNonReader(t *testing.T) {
	for _, kind := range []string{"PRIORITY", "WINDOW_UPDATE", "PING"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := newWrappedTestServer(t, func(ex *app.Exchange) {
				if string(ex.Path()) == "/large" {
					ex.Write(make([]byte, 4<<20)) // fills the socket buffers: the server's writes block
				}
			}, nil, func(nc net.Conn) net.Conn {
				nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
				return nc
			})
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { setReceiveBuffer(fd, 4<<10) })
			}}
			nc, err := d.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := &rawClient{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
			nc.Write([]byte(ClientPreface))
			c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
			c.fr.WriteSettingsAck()
			c.fr.WriteWindowUpdate(0, 1<<31-1-65535)
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82, 0x86, 0x84}, EndStream: true, EndHeaders: true})
			if kind == "PING" {
				// GET /large (the path literal, not indexed).
				c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: []byte{0x82, 0x86, 0x04, 0x06, '/', 'l', 'a', 'r', 'g', 'e'}, EndStream: true, EndHeaders: true})
				time.Sleep(50 * time.Millisecond)
			}
			conn := s.conn()
			// The flood ends the connection within milliseconds; the
			// bound is for a loaded machine, where the client and the
			// server's reader share two CPUs with other tests.
			deadline := time.Now().Add(10 * time.Second)
			nc.SetWriteDeadline(deadline)
			maxQueued, frames := 0, 0
			var wu [13]byte // WINDOW_UPDATE with an increment of 0 on stream 1
			wu[2], wu[3], wu[8] = 4, byte(http2.FrameWindowUpdate), 1
			for i := 0; time.Now().Before(deadline); i++ {
				switch kind {
				case "PRIORITY":
					err = c.fr.WritePriority(1, http2.PriorityParam{StreamDep: 1})
				case "WINDOW_UPDATE":
					_, err = nc.Write(wu[:])
				case "PING":
					err = c.fr.WritePing(false, [8]byte{byte(i)})
				}
				if i%256 == 0 || err != nil {
					conn.mu.Lock()
					maxQueued = max(maxQueued, conn.out.queued())
					closed := conn.closed
					conn.mu.Unlock()
					if closed {
						break
					}
				}
				frames = i
				if err != nil {
					break
				}
			}
			conn.mu.Lock()
			closed, writing, controls := conn.closed, conn.out.writing, conn.out.controls
			conn.mu.Unlock()
			if !closed {
				t.Errorf("the connection is still open after 10 s of %s frames from a client that does not read (%d bytes queued at most, %d frames written, the last write's error %v; writing %v, %d control frames queued)", kind, maxQueued, frames, err, writing, controls)
			}
			if maxQueued > 512<<10 {
				t.Errorf("%d bytes queued for a client that does not read", maxQueued)
			}
		})
	}
}
