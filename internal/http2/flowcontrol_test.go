package http2

import (
	"bytes"
	"cmp"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/transport"
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

// readBody reads stream id's DATA until n bytes came or END_STREAM,
// failing on a reset or GOAWAY.
func (c *rawClient) readBody(id uint32, n int) (got []byte, ended bool) {
	c.t.Helper()
	for len(got) < n {
		switch f := c.read().(type) {
		case *http2.DataFrame:
			if f.StreamID == id {
				got = append(got, f.Data()...)
				if f.StreamEnded() {
					return got, true
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				c.t.Fatalf("RST_STREAM %v", f.ErrCode)
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v %s", f.ErrCode, f.DebugData())
		}
	}
	return got, false
}

// quiet reports whether no DATA of stream id arrives within d.
func (c *rawClient) quiet(id uint32, d time.Duration) bool {
	c.t.Helper()
	defer c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return true
		}
		if df, ok := f.(*http2.DataFrame); ok && df.StreamID == id && len(df.Data()) > 0 {
			c.t.Logf("unexpected DATA: %v", f)
			return false
		}
	}
}

// TestInitialWindowChangeMidResponse checks RFC 9113, 6.9.2: a
// SETTINGS_INITIAL_WINDOW_SIZE lowered to 0 mid-response makes the
// stream's window negative; WINDOW_UPDATEs that leave it negative send
// nothing; raising the setting again resumes the response exactly.
func TestInitialWindowChangeMidResponse(t *testing.T) {
	t.Parallel()
	const total = 300 << 10
	body := pattern(total)
	s := newTestServer(t, func(ex *app.Exchange) { ex.Write(body) }, nil)
	c := dialRaw(t, s.addr)
	c.fr.WriteWindowUpdate(0, 10<<20)
	c.request(1, "GET", "/", true)
	got, _ := c.readBody(1, initialWindow)
	if len(got) != initialWindow {
		t.Fatalf("got %d bytes, want the stream's window, %d", len(got), initialWindow)
	}
	step := func(what string, send func(), want int) {
		t.Helper()
		send()
		if want > 0 {
			more, ended := c.readBody(1, want)
			if len(more) != want || ended {
				t.Fatalf("%s: got %d bytes (ended %v), want %d", what, len(more), ended, want)
			}
			got = append(got, more...)
		}
		if !c.quiet(1, 50*time.Millisecond) {
			t.Fatalf("%s: DATA beyond the window", what)
		}
	}
	setWindow := func(v uint32) func() {
		return func() { c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: v}) }
	}
	update := func(n uint32) func() { return func() { c.fr.WriteWindowUpdate(1, n) } }
	step("window setting 0", setWindow(0), 0)                   // -65535
	step("WINDOW_UPDATE 1000", update(1000), 0)                 // -64535
	step("window setting 70000", setWindow(70000), 70000-64535) // 5465
	step("window setting 70001", setWindow(70001), 1)
	step("window setting 0 again", setWindow(0), 0) // -70001
	step("WINDOW_UPDATE 70001", update(70001), 0)   // 0
	rest := total - len(got)
	c.fr.WriteWindowUpdate(1, uint32(rest))
	more, ended := c.readBody(1, rest+1)
	got = append(got, more...)
	if !ended || !bytes.Equal(got, body) {
		t.Fatalf("body of %d bytes (ended %v) differs from the %d written", len(got), ended, total)
	}
}

// TestWindowLimits checks the edges of RFC 9113, 6.9.1 and 6.9.2: a
// window may reach 2^31-1 exactly; one more is a stream error
// (RST_STREAM FLOW_CONTROL_ERROR) for a stream's window and a connection
// error (GOAWAY FLOW_CONTROL_ERROR) for the connection's or when a
// SETTINGS_INITIAL_WINDOW_SIZE change overflows an open stream's; an
// increment of 0 is a PROTOCOL_ERROR of the stream or the connection.
func TestWindowLimits(t *testing.T) {
	type frame func(c *rawClient)
	wu := func(id, inc uint32) frame { return func(c *rawClient) { c.fr.WriteWindowUpdate(id, inc) } }
	set := func(v uint32) frame {
		return func(c *rawClient) { c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: v}) }
	}
	const toMax = maxWindow - initialWindow
	const none = http2.ErrCode(1 << 31)
	for _, tc := range []struct {
		name   string
		frames []frame
		reset  http2.ErrCode // RST_STREAM on stream 1 with this code, or
		goAway http2.ErrCode // GOAWAY with this code, or neither (none)
	}{
		{"stream window at 2^31-1", []frame{wu(1, toMax)}, none, none},
		{"stream window over 2^31-1", []frame{wu(1, toMax), wu(1, 1)}, http2.ErrCodeFlowControl, none},
		{"stream window over in one", []frame{wu(1, toMax+1)}, http2.ErrCodeFlowControl, none},
		{"connection window at 2^31-1", []frame{wu(0, toMax)}, none, none},
		{"connection window over 2^31-1", []frame{wu(0, toMax), wu(0, 1)}, none, http2.ErrCodeFlowControl},
		{"setting to 2^31-1", []frame{set(maxWindow)}, none, none},
		{"setting overflows a stream", []frame{wu(1, toMax), set(initialWindow + 1)}, none, http2.ErrCodeFlowControl},
		{"setting overflows after a negative window", []frame{set(0), wu(1, maxWindow), set(1)}, none, http2.ErrCodeFlowControl},
		{"stream increment 0", []frame{wu(1, 0)}, http2.ErrCodeProtocol, none},
		{"connection increment 0", []frame{wu(0, 0)}, none, http2.ErrCodeProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			s := newTestServer(t, func(ex *app.Exchange) { <-release; ex.WriteString("ok") }, nil)
			t.Cleanup(func() { close(release) })
			c := dialRaw(t, s.addr)
			c.fr.AllowIllegalWrites = true
			c.request(1, "GET", "/", true)
			for _, f := range tc.frames {
				f(c)
			}
			c.fr.WritePing(false, [8]byte{1})
			for {
				switch f := c.read().(type) {
				case *http2.PingFrame:
					if f.IsAck() {
						if tc.reset != none || tc.goAway != none {
							t.Fatal("the server answered the PING without the error")
						}
						return
					}
				case *http2.RSTStreamFrame:
					if f.StreamID != 1 || f.ErrCode != tc.reset {
						t.Fatalf("RST_STREAM %d %v, want stream 1 %v", f.StreamID, f.ErrCode, tc.reset)
					}
					return
				case *http2.GoAwayFrame:
					if f.ErrCode != tc.goAway {
						t.Fatalf("GOAWAY %v (%s), want %v", f.ErrCode, f.DebugData(), tc.goAway)
					}
					return
				}
			}
		})
	}
}

// sendBody sends n body bytes on stream id within the windows the server
// opens (RFC 9113, 6.9), reading its frames meanwhile; it fails if the
// server stops opening them before everything went.
func (c *rawClient) sendBody(id uint32, body []byte, connWindow, streamWindow *int64) {
	c.t.Helper()
	for len(body) > 0 {
		n := min(int64(len(body)), *connWindow, *streamWindow, 16384)
		if n > 0 {
			if err := c.fr.WriteData(id, int(n) == len(body), body[:n]); err != nil {
				c.t.Fatal(err)
			}
			body = body[n:]
			*connWindow -= n
			*streamWindow -= n
			continue
		}
		switch f := c.read().(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				*connWindow += int64(f.Increment)
			} else if f.StreamID == id {
				*streamWindow += int64(f.Increment)
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			c.t.Fatalf("got %v with %d bytes left to send", f, len(body))
		}
	}
}

// TestRequestBodyWindows checks that a handler that reads a request body
// larger than both windows gets all of it: the server opens the windows
// as it reads, and the client never needs to send beyond them; with
// Kestrel's defaults and at the smallest windows Limits.Http2 allows.
func TestRequestBodyWindows(t *testing.T) {
	for _, tc := range []struct {
		name         string
		conn, stream uint32
	}{
		{"defaults", 0, 0},
		{"smallest", initialWindow, initialWindow},
		{"stream over connection", initialWindow, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const total = 3 << 20
			body := pattern(total)
			s := newTestServer(t, func(ex *app.Exchange) {
				got, err := io.ReadAll(ex.Body())
				if err != nil || !bytes.Equal(got, body) {
					ex.SetStatus(500)
				}
			}, func(cfg *Config) { cfg.InitialConnectionWindow, cfg.InitialStreamWindow = tc.conn, tc.stream })
			c := startRaw(t, s.addr)
			streamWindow := int64(initialWindow)
			sf := c.read().(*http2.SettingsFrame)
			if v, ok := sf.Value(http2.SettingInitialWindowSize); ok {
				streamWindow = int64(v)
			}
			c.fr.WriteSettingsAck()
			connWindow := int64(initialWindow)
			want := int64(cmp.Or(tc.conn, DefaultInitialConnectionWindowSize))
			if want > initialWindow {
				wu := c.read().(*http2.WindowUpdateFrame)
				connWindow += int64(wu.Increment)
			}
			if connWindow != want || streamWindow != int64(cmp.Or(tc.stream, DefaultInitialStreamWindowSize)) {
				t.Fatalf("windows %d and %d, want the limits", connWindow, streamWindow)
			}
			c.request(1, "POST", "/", false)
			c.sendBody(1, body, &connWindow, &streamWindow)
			if st := c.status(1); st != 200 {
				t.Fatalf("status %d", st)
			}
		})
	}
}

// TestRequestBodyWindowExact checks the receive windows at their exact
// size: a client may send exactly InitialStreamWindowSize on a stream and
// InitialConnectionWindowSize on the connection (padding included) while
// the handler reads nothing; one byte more is a FLOW_CONTROL_ERROR, of
// the stream or of the connection.
func TestRequestBodyWindowExact(t *testing.T) {
	const none = http2.ErrCode(1 << 31)
	const connW, streamW = 100_000, 70_000
	for _, tc := range []struct {
		name   string
		sends  [][2]int // stream, bytes (negative: padded frame of that total length)
		reset  http2.ErrCode
		goAway http2.ErrCode
	}{
		{"stream window", [][2]int{{1, streamW}}, none, none},
		{"stream window padded", [][2]int{{1, streamW - 256}, {1, -256}}, none, none},
		{"stream window + 1", [][2]int{{1, streamW}, {1, 1}}, http2.ErrCodeFlowControl, none},
		{"stream window + 1 padded", [][2]int{{1, streamW - 255}, {1, -256}}, http2.ErrCodeFlowControl, none},
		{"connection window", [][2]int{{1, streamW}, {3, connW - streamW}}, none, none},
		{"connection window + 1", [][2]int{{1, streamW}, {3, connW - streamW}, {3, 1}}, none, http2.ErrCodeFlowControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			s := newTestServer(t, func(ex *app.Exchange) { <-release }, func(cfg *Config) {
				cfg.InitialConnectionWindow, cfg.InitialStreamWindow = connW, streamW
			})
			t.Cleanup(func() { close(release) })
			c := dialRaw(t, s.addr)
			c.request(1, "POST", "/", false)
			c.request(3, "POST", "/", false)
			for _, send := range tc.sends {
				id, n := uint32(send[0]), send[1]
				for n > 0 {
					k := min(n, 16384)
					c.fr.WriteData(id, false, make([]byte, k))
					n -= k
				}
				if n < 0 { // one frame of -n bytes: a byte of pad length, 200 of padding, the rest data
					c.fr.WriteDataPadded(id, false, make([]byte, -n-201), make([]byte, 200))
				}
			}
			c.fr.WritePing(false, [8]byte{1})
			for {
				switch f := c.read().(type) {
				case *http2.PingFrame:
					if f.IsAck() {
						if tc.reset != none || tc.goAway != none {
							t.Fatal("the server answered the PING without the error")
						}
						return
					}
				case *http2.RSTStreamFrame:
					if f.ErrCode != tc.reset {
						t.Fatalf("RST_STREAM %d %v, want %v", f.StreamID, f.ErrCode, tc.reset)
					}
					return
				case *http2.GoAwayFrame:
					if f.ErrCode != tc.goAway {
						t.Fatalf("GOAWAY %v (%s), want %v", f.ErrCode, f.DebugData(), tc.goAway)
					}
					return
				case *http2.WindowUpdateFrame:
					if f.StreamID == 0 && f.Increment == connW-initialWindow {
						continue // the connection's window from 65,535 to its limit
					}
					if tc.reset == none && tc.goAway == none {
						t.Fatalf("%v while the handler reads nothing", f)
					}
				}
			}
		})
	}
}

// TestLargeHeaderBlocks checks response header and trailer blocks larger
// than the client's SETTINGS_MAX_FRAME_SIZE: HEADERS then CONTINUATION
// frames, none over the limit, nothing between them, decoding to the
// fields set (RFC 9113, 4.3, 6.10).
func TestLargeHeaderBlocks(t *testing.T) {
	for _, maxFrame := range []uint32{16384, 20000, 1 << 20} {
		t.Run(strconv.Itoa(int(maxFrame)), func(t *testing.T) {
			t.Parallel()
			big := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_", 600) // 38,400 bytes
			s := newTestServer(t, func(ex *app.Exchange) {
				ex.SetHeader("x-big", big)
				ex.SetHeader("x-big2", big[1:])
				ex.AddTrailer("x-trail", big[2:])
				ex.AddTrailer("x-trail2", big[3:])
				ex.WriteString("body")
			}, nil)
			c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingMaxFrameSize, Val: maxFrame})
			c.fr.SetMaxReadFrameSize(maxFrame)
			c.fr.WriteWindowUpdate(0, 1<<20)
			c.request(1, "GET", "/", true)
			mh := c.waitFor("the response", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
			hdr := func(mh *http2.MetaHeadersFrame, name string) string {
				for _, f := range mh.Fields {
					if f.Name == name {
						return f.Value
					}
				}
				return ""
			}
			if hdr(mh, "x-big") != big || hdr(mh, "x-big2") != big[1:] || mh.StreamEnded() {
				t.Fatal("the response's header fields differ")
			}
			body, _ := c.readBody(1, 4)
			if string(body) != "body" {
				t.Fatalf("body %q", body)
			}
			tr := c.waitFor("the trailers", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
			if hdr(tr, "x-trail") != big[2:] || hdr(tr, "x-trail2") != big[3:] || !tr.StreamEnded() {
				t.Fatal("the trailers differ")
			}
		})
	}
}

// TestBlockedStreamReset checks that a stream whose response waits for
// its window neither delays the connection's other streams nor, once the
// client resets it, keeps its handler waiting or any of the connection's
// window: the others use all of it.
func TestBlockedStreamReset(t *testing.T) {
	t.Parallel()
	const each = initialWindow/2 - 1000 // streams 3 and 5 with stream 1's 1,000 use all but 1,001 bytes of the connection's window
	werr := make(chan error, 1)
	s := newTestServer(t, func(ex *app.Exchange) {
		if string(ex.Path()) == "/blocked" {
			_, err := ex.Write(make([]byte, 1<<20))
			if err == nil {
				err = ex.Flush()
			}
			werr <- err
			return
		}
		ex.Write(pattern(each))
	}, nil)
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.request(1, "GET", "/blocked", true)
	c.fr.WriteWindowUpdate(1, 1000) // 1,000 bytes of the connection's window go to stream 1
	if got, _ := c.readBody(1, 1000); len(got) != 1000 {
		t.Fatalf("stream 1 got %d bytes", len(got))
	}
	for _, id := range []uint32{3, 5} {
		c.request(id, "GET", "/", true)
		c.fr.WriteWindowUpdate(id, initialWindow)
		if got, ended := c.readBody(id, initialWindow); len(got) != each || !ended {
			t.Fatalf("stream %d got %d bytes (ended %v) while stream 1 waits", id, len(got), ended)
		}
		if id == 3 {
			c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			select {
			case err := <-werr:
				if err == nil {
					t.Fatal("the reset stream's write succeeded")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the reset stream's handler still waits")
			}
		}
	}
	// Stream 5 leaves the connection's streams just after its END_STREAM
	// goes out: wait for it.
	sc := s.conn()
	var left int64
	var n int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		sc.mu.Lock()
		left, n = int64(sc.sendWindow), len(sc.streams)
		sc.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	if left != initialWindow-1000-2*each || n != 0 {
		t.Errorf("connection window %d with %d streams left, want %d and none", left, n, initialWindow-1000-2*each)
	}
}

// TestUnreadBodyAnsweredEarly checks RFC 9113, 8.1: a handler that
// answers without reading the request body sends its whole response
// before the request ends, then RST_STREAM NO_ERROR stops the upload;
// what the client sent meanwhile does not keep the connection's window,
// and the next request on the connection is served.
func TestUnreadBodyAnsweredEarly(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString("early") }, nil)
	c := dialRaw(t, s.addr)
	connWindow, streamWindow := int64(DefaultInitialConnectionWindowSize), int64(DefaultInitialStreamWindowSize) // readBody skips the WINDOW_UPDATE that opens the connection's
	c.request(1, "POST", "/", false)
	if got, ended := c.readBody(1, 100); string(got) != "early" || !ended {
		t.Fatalf("response %q (ended %v) before the body", got, ended)
	}
	var reset *http2.RSTStreamFrame
	chunk := make([]byte, 16384)
	for sent := 0; reset == nil && sent < 4<<20; {
		n := min(int64(len(chunk)), connWindow, streamWindow)
		if n > 0 {
			c.fr.WriteData(1, false, chunk[:n])
			connWindow -= n
			streamWindow -= n
			sent += int(n)
			continue
		}
		switch f := c.read().(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connWindow += int64(f.Increment)
			} else {
				streamWindow += int64(f.Increment)
			}
		case *http2.RSTStreamFrame:
			reset = f
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
	if reset == nil {
		reset = c.waitFor("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	}
	if reset.StreamID != 1 || reset.ErrCode != http2.ErrCodeNo {
		t.Fatalf("RST_STREAM %d %v, want 1 NO_ERROR", reset.StreamID, reset.ErrCode)
	}
	c.fr.WriteData(1, true, chunk) // in flight when the server reset the stream: ignored
	connWindow -= int64(len(chunk))
	c.request(3, "GET", "/", true)
	for {
		switch f := c.read().(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connWindow += int64(f.Increment)
			}
			continue
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			t.Fatalf("got %v", f)
		case *http2.DataFrame:
			if f.StreamID != 3 || !f.StreamEnded() {
				continue
			}
		default:
			continue
		}
		break
	}
	sc := s.conn()
	sc.mu.Lock()
	window, unacked := sc.recvWindow, sc.recvUnacked
	sc.mu.Unlock()
	if window != connWindow || window+unacked != DefaultInitialConnectionWindowSize {
		t.Errorf("the connection's window is %d (the client's %d) with %d bytes to give back, want all of the %d given back",
			window, connWindow, unacked, DefaultInitialConnectionWindowSize)
	}
}

// TestWindowWaitDeadlineKept checks that a response waiting for its
// stream's window is timed once per write against MinResponseDataRate,
// as Kestrel times each write: a client that keeps the stream's window
// shut while it sends WINDOW_UPDATEs for the connection (each waking the
// stream) does not push the deadline back, and the stream is reset.
func TestWindowWaitDeadlineKept(t *testing.T) {
	t.Parallel()
	werr := make(chan error, 1)
	s := newTestServer(t, func(ex *app.Exchange) {
		_, err := ex.Write(make([]byte, 100<<10))
		if err == nil {
			err = ex.Flush()
		}
		werr <- err
	}, func(cfg *Config) { cfg.MinResponseRate = app.Rate{BytesPerSecond: 1 << 30, Grace: time.Second} })
	hb := s.cfg.App.Heartbeat
	hb.Start()
	t.Cleanup(hb.Stop)
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	sync := func() {
		c.fr.WritePing(false, [8]byte{2})
		c.waitFor("the PING's answer", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.IsAck() })
		time.Sleep(20 * time.Millisecond) // the handler's goroutine waits again
	}
	c.request(1, "GET", "/", true)
	c.waitFor("the response head", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
	sync()
	// The write waits from the heartbeat's T0, until T0 + 1 s grace + 1 s
	// slack. A heartbeat later, a connection WINDOW_UPDATE wakes it.
	start := hb.Now()
	for hb.Now() == start {
		time.Sleep(5 * time.Millisecond)
	}
	c.fr.WriteWindowUpdate(0, 1)
	sync()
	s.tick(time.Duration(start+int64(2500*time.Millisecond)-hb.Now()) + 1) // T0 + 2.5 s
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	f := c.waitFor("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if f.StreamID != 1 || f.ErrCode != http2.ErrCodeCancel {
		t.Fatalf("RST_STREAM %d %v, want 1 CANCEL", f.StreamID, f.ErrCode)
	}
	if err := <-werr; err == nil {
		t.Fatal("the handler's write succeeded")
	}
}

// TestZeroWindowStreamInBatch checks that requests read in one batch with
// one whose response waits for a zero window are answered at once.
func TestZeroWindowStreamInBatch(t *testing.T) {
	t.Parallel()
	for _, blocked := range []uint32{1, 3} {
		s := newTestServer(t, func(ex *app.Exchange) {
			if string(ex.Path()) == "/blocked" {
				ex.Write(make([]byte, 100<<10))
				return
			}
			ex.WriteString("fine")
		}, nil)
		c := dialRaw(t, s.addr)
		c.fr.WriteWindowUpdate(0, 1<<20)
		var buf bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		ids := []uint32{1, 3, 5, 7}
		for _, id := range ids {
			path := "/"
			if id == blocked {
				path = "/blocked"
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock("GET", path), EndStream: true, EndHeaders: true})
		}
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		c.nc.Write(buf.Bytes())
		// The blocked stream may send up to 65,535 bytes before the
		// SETTINGS; the others are given enough window.
		for _, id := range ids {
			c.fr.WriteWindowUpdate(id, 100)
		}
		c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		done := 0
		for done < 3 {
			if df, ok := c.read().(*http2.DataFrame); ok && df.StreamEnded() && string(df.Data()) == "fine" {
				done++
			}
		}
	}
}

// TestResetStreamGivesBackWindow checks that the request body a stream
// holds unread when the client resets it goes back to the connection's
// window at once (as Kestrel's stream input flow control does on abort),
// not when its handler returns: handlers that do not return soon must not
// leave the connection without window for the next requests' bodies.
func TestResetStreamGivesBackWindow(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		if string(ex.Path()) == "/stuck" {
			<-release // neither reads nor returns
			return
		}
		n, _ := io.Copy(io.Discard, ex.Body())
		ex.WriteString(strconv.FormatInt(n, 10))
	}, nil)
	t.Cleanup(func() { close(release) })
	c := dialRaw(t, s.addr)
	connWindow := int64(initialWindow)
	if wu, ok := c.read().(*http2.WindowUpdateFrame); ok && wu.StreamID == 0 {
		connWindow += int64(wu.Increment)
	}
	streamWindow := int64(DefaultInitialStreamWindowSize)
	c.request(1, "POST", "/stuck", false)
	c.request(3, "POST", "/stuck", false)
	for _, id := range []uint32{1, 3} {
		w := streamWindow
		c.sendBody(id, pattern(int(min(w, connWindow))), &connWindow, &w)
		c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	if connWindow != 0 {
		t.Fatalf("the client has %d bytes of connection window left, want 0", connWindow)
	}
	c.request(5, "POST", "/", false)
	w := streamWindow
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.sendBody(5, pattern(100_000), &connWindow, &w)
	if st := c.status(5); st != 200 {
		t.Fatalf("status %d", st)
	}
}

// TestReadingStreamNotStalledByHeldBodies checks that a handler reading
// its whole request body gets it when other streams hold most of the
// connection's window unread: what it reads goes back to the client as
// soon as the client's window is smaller than it, not only once a quarter
// of the connection's window was read.
func TestReadingStreamNotStalledByHeldBodies(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		if string(ex.Path()) == "/hold" {
			<-release // reads nothing yet
			return
		}
		n, _ := io.Copy(io.Discard, ex.Body())
		ex.WriteString(strconv.FormatInt(n, 10))
	}, nil)
	t.Cleanup(func() { close(release) })
	c := dialRaw(t, s.addr)
	connWindow := int64(initialWindow)
	if wu, ok := c.read().(*http2.WindowUpdateFrame); ok && wu.StreamID == 0 {
		connWindow += int64(wu.Increment)
	}
	for _, held := range []struct {
		id uint32
		n  int
	}{{1, 600 << 10}, {3, 200 << 10}} {
		c.request(held.id, "POST", "/hold", false)
		w := int64(DefaultInitialStreamWindowSize)
		c.sendBody(held.id, pattern(held.n), &connWindow, &w)
	}
	c.request(5, "POST", "/", false)
	w := int64(DefaultInitialStreamWindowSize)
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.sendBody(5, pattern(1<<20), &connWindow, &w)
	if st := c.status(5); st != 200 {
		t.Fatalf("status %d", st)
	}
}

// TestBodyRateNotBlamedForHeldWindow checks that MinRequestBodyDataRate
// does not time a request body the client cannot send because other
// streams hold the connection's window unread (Kestrel does not enforce
// the rate while the connection's window is low): the handler gets the
// body once they read theirs.
func TestBodyRateNotBlamedForHeldWindow(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		if string(ex.Path()) == "/hold" {
			<-release
			io.Copy(io.Discard, ex.Body())
			return
		}
		n, err := io.Copy(io.Discard, ex.Body())
		if err != nil {
			ex.SetStatus(500)
		}
		ex.WriteString(strconv.FormatInt(n, 10))
	}, func(cfg *Config) { cfg.MinRequestBodyRate = app.Rate{BytesPerSecond: 240, Grace: 2 * time.Second} })
	c := dialRaw(t, s.addr)
	connWindow := int64(initialWindow)
	if wu, ok := c.read().(*http2.WindowUpdateFrame); ok && wu.StreamID == 0 {
		connWindow += int64(wu.Increment)
	}
	for _, held := range []struct {
		id uint32
		n  int
	}{{1, 768 << 10}, {3, 256 << 10}} {
		c.request(held.id, "POST", "/hold", false)
		w := int64(DefaultInitialStreamWindowSize)
		c.sendBody(held.id, pattern(held.n), &connWindow, &w)
	}
	c.request(5, "POST", "/", false) // its handler waits for a body the client may not send
	time.Sleep(20 * time.Millisecond)
	for range 5 {
		s.tick(time.Second)
	}
	c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			break
		}
		if f.Header().StreamID == 5 {
			t.Fatalf("stream 5 was answered while the client could not send its body: %v", f)
		}
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	close(release)
	w := int64(DefaultInitialStreamWindowSize)
	c.sendBody(5, pattern(100_000), &connWindow, &w)
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	f := c.waitFor("the response", func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamID == 5 })
	if got := string(f.(*http2.DataFrame).Data()); got != "100000" {
		t.Fatalf("stream 5 answered %q, want its body's length", got)
	}
}

// TestRefusalWithinWindows checks the 503 that refuses an extended
// CONNECT beyond MaxConcurrentUpgradedConnections: its body goes only
// within the client's windows (a client with a zero window gets the
// status without it), and it counts against the connection's window: the
// next response does not overrun the client's.
func TestRefusalWithinWindows(t *testing.T) {
	for _, window := range []uint32{0, 10, initialWindow} {
		t.Run(strconv.Itoa(int(window)), func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, func(ex *app.Exchange) { ex.Write(pattern(initialWindow)) }, func(cfg *Config) {
				cfg.ConnectProtocol = true
				cfg.Upgrades = transport.NewCounter(transport.NoneAdmitted)
			})
			c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: window})
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: func() []byte {
				c.buf.Reset()
				for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"}, {":path", "/ws"}, {":authority", "test"}} {
					c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
				}
				return append([]byte(nil), c.buf.Bytes()...)
			}()})
			connWindow := int64(initialWindow)
			streamWindow := map[uint32]int64{1: int64(window), 3: int64(window)}
			c.request(3, "GET", "/", true)
			c.fr.WriteWindowUpdate(3, initialWindow)
			streamWindow[3] += initialWindow
			var got503 bool
			for {
				switch f := c.read().(type) {
				case *http2.MetaHeadersFrame:
					if f.StreamID == 1 {
						got503 = f.PseudoValue("status") == "503"
					}
				case *http2.DataFrame:
					n := int64(len(f.Data()))
					connWindow -= n
					streamWindow[f.StreamID] -= n
					if connWindow < 0 || streamWindow[f.StreamID] < 0 {
						t.Fatalf("DATA of stream %d beyond the windows (connection %d, stream %d)", f.StreamID, connWindow, streamWindow[f.StreamID])
					}
					if f.StreamID == 3 && connWindow == 0 {
						if !got503 {
							t.Fatal("no 503 for the extended CONNECT")
						}
						return
					}
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v", f.ErrCode)
				}
			}
		})
	}
}

// TestConnectionWindowNeverOpened checks a client that opens its streams'
// windows but never the connection's: once the first response used it
// up, the next waits, and is reset when MinResponseDataRate's time has
// passed, its handler's write failing (Kestrel aborts the connection;
// this server resets the late streams, as for a stream window).
func TestConnectionWindowNeverOpened(t *testing.T) {
	t.Parallel()
	werr := make(chan error, 2)
	s := newTestServer(t, func(ex *app.Exchange) {
		_, err := ex.Write(make([]byte, initialWindow))
		if err == nil {
			err = ex.Flush()
		}
		werr <- err
	}, func(cfg *Config) { cfg.MinResponseRate = app.Rate{BytesPerSecond: 240, Grace: 2 * time.Second} })
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	c.request(1, "GET", "/", true)
	if got, _ := c.readBody(1, initialWindow); len(got) != initialWindow {
		t.Fatalf("got %d bytes", len(got))
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	c.request(3, "GET", "/", true)
	c.waitFor("the response head", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
	time.Sleep(20 * time.Millisecond)
	s.tick(time.Second)
	s.tick(1000 * time.Second)
	f := c.waitFor("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if f.StreamID != 3 || f.ErrCode != http2.ErrCodeCancel {
		t.Fatalf("RST_STREAM %d %v, want 3 CANCEL", f.StreamID, f.ErrCode)
	}
	select {
	case err := <-werr:
		if err == nil {
			t.Fatal("the handler's write succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's write still waits")
	}
}

// TestReadDeadlineReplacedAsItFires: a read deadline replaced (here
// removed) just as it passes is the new one's: the first deadline's timer,
// which fired and waited for the connection's lock while the handler set
// the new deadline, does not then fail the stream's reads, as a write
// deadline's does not.
func TestReadDeadlineReplacedAsItFires(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		close(started)
		<-release
	}, nil)
	defer close(release)
	c := dialRaw(t, s.addr)
	c.request(1, "POST", "/", false) // its body is still to come
	<-started
	conn := s.conn()
	conn.mu.Lock()
	st := conn.streams[1]
	conn.mu.Unlock()
	if err := st.SetReadDeadline(time.Now().Add(5 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// The handler removes the deadline as it passes: its call waits for
	// the lock, and the deadline's timer fires and waits behind it.
	conn.mu.Lock()
	removed := make(chan struct{})
	go func() {
		st.SetReadDeadline(time.Time{})
		close(removed)
	}()
	time.Sleep(30 * time.Millisecond)
	conn.mu.Unlock()
	<-removed
	time.Sleep(20 * time.Millisecond) // the timer's function has run by now
	conn.mu.Lock()
	expired := st.readExpired
	conn.mu.Unlock()
	if expired {
		t.Error("a read deadline removed as it passed still failed the stream's reads")
	}
}
