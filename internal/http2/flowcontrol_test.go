package http2

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
)

// gatedConn is a server-side connection whose writes can be held: while
// the gate is closed, a write of a batch of DATA waits, as when the client stops reading and
// the socket's buffers are full.
type gatedConn struct {
	net.Conn
	mu   sync.Mutex
	gate chan struct{} // nil: writes pass
	held chan struct{} // closed when a write waits at the gate
}

func (g *gatedConn) hold() (held <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.held = make(chan struct{}), make(chan struct{})
	return g.held
}

func (g *gatedConn) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	gate, held := g.gate, g.held
	if len(p) < 32<<10 {
		gate = nil // frames other than a batch of DATA pass
	}
	if gate != nil {
		select {
		case <-held:
		default:
			close(held)
		}
	}
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.Conn.Write(p)
}

// pattern is n bytes of a sequence that shows a lost or repeated byte.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// TestSettingsChangeWhileWriteWaits checks that a SETTINGS frame that
// lowers SETTINGS_MAX_FRAME_SIZE or SETTINGS_INITIAL_WINDOW_SIZE while a
// handler's write waits for the connection's output binds every DATA
// frame queued after the server acknowledged it (RFC 9113, 6.5.3, 6.9.2):
// none is larger than the new maximum, and the stream's window, made
// smaller (even negative), is not overrun.
func TestSettingsChangeWhileWriteWaits(t *testing.T) {
	const total = 4 << 20
	for _, tc := range []struct {
		name    string
		initial []http2.Setting
		change  http2.Setting
	}{
		{"max frame size", []http2.Setting{{ID: http2.SettingMaxFrameSize, Val: 1 << 20}, {ID: http2.SettingInitialWindowSize, Val: maxWindow}},
			http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384}},
		{"initial window", []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 256 << 10}},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gc *gatedConn
			var gcMu sync.Mutex
			body := pattern(total)
			s := newWrappedTestServer(t, func(ex *app.Exchange) { ex.Write(body) }, nil, func(nc net.Conn) net.Conn {
				gcMu.Lock()
				defer gcMu.Unlock()
				gc = &gatedConn{Conn: nc}
				return gc
			})
			c := dialRaw(t, s.addr, tc.initial...)
			c.fr.WriteWindowUpdate(0, maxWindow-initialWindow)
			c.waitFor("the SETTINGS ACK", func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
			gcMu.Lock()
			held := gc.hold()
			gcMu.Unlock()
			c.request(1, "GET", "/", true)
			<-held // the server's writer waits; the handler queued what room allows
			time.Sleep(20 * time.Millisecond)
			c.fr.WriteSettings(tc.change)
			sc := s.conn()
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				sc.mu.Lock()
				done := sc.peerMaxFrame == 16384 && tc.change.ID == http2.SettingMaxFrameSize ||
					sc.peerWindow == 0 && tc.change.ID == http2.SettingInitialWindowSize
				sc.mu.Unlock()
				if done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the server did not take the SETTINGS")
				}
			}
			gcMu.Lock()
			gc.release()
			gcMu.Unlock()

			maxFrame, window := int64(16384), int64(initialWindow)
			for _, s := range tc.initial {
				switch s.ID {
				case http2.SettingMaxFrameSize:
					maxFrame = int64(s.Val)
				case http2.SettingInitialWindowSize:
					window = int64(s.Val)
				}
			}
			var got []byte
			acked := false
			for !acked || len(got) < total {
				f := c.read()
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if f.IsAck() {
						acked = true
						if tc.change.ID == http2.SettingMaxFrameSize {
							maxFrame = int64(tc.change.Val)
						} else {
							window += int64(tc.change.Val) - int64(tc.initial[0].Val)
							// No DATA may come until the window opens.
							c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
							if f, err := c.fr.ReadFrame(); err == nil {
								t.Fatalf("%v while the stream's window is %d", f, window)
							}
							c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
							c.fr.WriteWindowUpdate(1, uint32(-window+1<<20))
							window += -window + 1<<20
						}
					}
				case *http2.DataFrame:
					n := int64(len(f.Data()))
					if acked && n > maxFrame {
						t.Fatalf("DATA frame of %d bytes after the SETTINGS ACK, want at most %d", n, maxFrame)
					}
					window -= n
					if window < 0 {
						t.Fatalf("the server overran the stream's window by %d bytes", -window)
					}
					got = append(got, f.Data()...)
					if acked && window <= 0 && len(got) < total {
						c.fr.WriteWindowUpdate(1, uint32(1<<20))
						window += 1 << 20
					}
					if f.StreamEnded() {
						if !bytes.Equal(got, body) {
							t.Fatalf("body of %d bytes differs from the %d written", len(got), total)
						}
						return
					}
				case *http2.RSTStreamFrame, *http2.GoAwayFrame:
					t.Fatalf("got %v", f)
				}
			}
		})
	}
}
