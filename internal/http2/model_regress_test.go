package http2

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
)

// TestHeadersAfterServerReset checks that a trailers HEADERS frame the
// client sent before it saw the server's RST_STREAM is ignored (RFC 9113,
// 5.1: frames on a stream the endpoint reset), as DATA is: not answered
// with a second RST_STREAM while the stream's handler still runs, nor
// with GOAWAY (STREAM_CLOSED) once the server forgot the stream, whether
// it reset it for a stream error or refused it beyond
// MaxStreamsPerConnection.
func TestHeadersAfterServerReset(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // after the parallel subtests
	handler := func(ex *app.Exchange) {
		switch string(ex.Path()) {
		case "/hold":
			select {
			case <-ex.Context().Done():
			case <-release:
			}
		case "/quick":
			io.WriteString(ex, "ok")
		}
	}
	tests := []struct {
		name string
		// provoke makes the server reset stream 3 and returns the code
		// it resets it with.
		provoke func(c *rawClient) http2.ErrCode
	}{
		{"stream error while the handler runs", func(c *rawClient) http2.ErrCode {
			c.request(3, "POST", "/hold", false)
			c.fr.WriteData(3, false, make([]byte, 1001)) // past the stream's 1,000-byte window
			return http2.ErrCodeFlowControl
		}},
		{"stream error after the handler returned", func(c *rawClient) http2.ErrCode {
			c.request(3, "POST", "/quick", false)
			c.waitFor("the response", func(f http2.Frame) bool {
				return f.Header().StreamID == 3 && f.Header().Flags.Has(http2.FlagDataEndStream)
			})
			c.fr.WriteData(3, false, make([]byte, 1001))
			return http2.ErrCodeFlowControl
		}},
		{"refused stream", func(c *rawClient) http2.ErrCode {
			c.request(1, "GET", "/hold", true)
			c.request(3, "POST", "/hold", false) // beyond MaxStreamsPerConnection 1
			return http2.ErrCodeRefusedStream
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, handler, func(cfg *Config) {
				cfg.MaxStreams = 1
				cfg.InitialStreamWindow = 1000
			})
			c := dialRaw(t, srv.addr)
			want := tt.provoke(c)
			// The trailers cross the server's RST_STREAM.
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: c.headerBlock0("x-trailer", "t"), EndStream: true, EndHeaders: true})
			c.fr.WritePing(false, [8]byte{'a', 'f', 't', 'e', 'r'})
			resets := 0
			c.waitFor("the PING's answer", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					if f.StreamID == 3 {
						resets++
						if f.ErrCode != want || resets > 1 {
							t.Errorf("RST_STREAM %v on stream 3 (reset %d), want one %v", f.ErrCode, resets, want)
						}
					}
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
				case *http2.PingFrame:
					return f.IsAck()
				}
				return false
			})
			if resets != 1 {
				t.Errorf("%d RST_STREAM on stream 3, want 1", resets)
			}
			if c.closed(50 * time.Millisecond) {
				t.Error("the connection closed")
			}
		})
	}
}

// headerBlock0 encodes a header block of the given fields alone, as a
// trailers block.
func (c *rawClient) headerBlock0(kv ...string) []byte {
	c.buf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		c.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), c.buf.Bytes()...)
}

// TestWindowUpdateAfterServerReset checks that WINDOW_UPDATE frames on a
// stream the server reset, which the client may send until it sees the
// RST_STREAM, are ignored (RFC 9113, 5.1 and 6.9): one that overflows the
// stream's window does not draw a second RST_STREAM, whether the stream's
// handler still runs or has returned.
func TestWindowUpdateAfterServerReset(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // after the parallel subtests
	handler := func(ex *app.Exchange) {
		if string(ex.Path()) == "/hold" {
			select {
			case <-ex.Context().Done():
			case <-release:
			}
		}
	}
	tests := []struct {
		name, path string
		provoke    func(c *rawClient) http2.ErrCode
	}{
		{"DATA past the window, handler running", "/hold", func(c *rawClient) http2.ErrCode {
			c.fr.WriteData(1, false, make([]byte, 1001))
			return http2.ErrCodeFlowControl
		}},
		{"window overflow, handler running", "/hold", func(c *rawClient) http2.ErrCode {
			c.fr.WriteWindowUpdate(1, maxWindow)
			return http2.ErrCodeFlowControl
		}},
		{"more body than content-length", "/hold", func(c *rawClient) http2.ErrCode {
			c.fr.WriteData(1, false, make([]byte, 11))
			return http2.ErrCodeProtocol
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, handler, func(cfg *Config) { cfg.InitialStreamWindow = 1000 })
			c := dialRaw(t, srv.addr)
			c.request(1, "POST", tt.path, false, "content-length", "10")
			want := tt.provoke(c)
			// Sent before the client saw the RST_STREAM.
			c.fr.WriteWindowUpdate(1, maxWindow)
			c.fr.WriteWindowUpdate(1, maxWindow)
			c.fr.WritePing(false, [8]byte{'a', 'f', 't', 'e', 'r'})
			resets := 0
			c.waitFor("the PING's answer", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					resets++
					if f.ErrCode != want {
						t.Errorf("RST_STREAM %v, want %v", f.ErrCode, want)
					}
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
				case *http2.PingFrame:
					return f.IsAck()
				}
				return false
			})
			if resets != 1 {
				t.Errorf("%d RST_STREAM on stream 1, want 1", resets)
			}
		})
	}
}

// TestSettingsWindowOverEndedStream checks that a
// SETTINGS_INITIAL_WINDOW_SIZE change binds only the windows of the
// streams the server may still send DATA on (RFC 9113, 6.9.2): the window
// of a stream it reset, or whose response it ended, may have been pushed
// to 2^31-1 or past it by the client's WINDOW_UPDATE, and a change that
// would overflow it is no connection error (FLOW_CONTROL_ERROR).
func TestSettingsWindowOverEndedStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // after the parallel subtests
	handler := func(ex *app.Exchange) {
		if string(ex.Path()) == "/hold" {
			<-release // the reset stream stays in the server's table
			return
		}
		io.WriteString(ex, "ok")
	}
	const toMax = maxWindow - initialWindow
	tests := []struct {
		name string
		// provoke ends stream 1 for the server, its window pushed to
		// 2^31-1 or past it.
		provoke func(c *rawClient)
	}{
		{"reset for its window's overflow, handler running", func(c *rawClient) {
			c.request(1, "GET", "/hold", true)
			c.fr.WriteWindowUpdate(1, toMax+1)
			c.waitFor("the RST_STREAM", func(f http2.Frame) bool {
				rst, ok := f.(*http2.RSTStreamFrame)
				return ok && rst.StreamID == 1 && rst.ErrCode == http2.ErrCodeFlowControl
			})
		}},
		{"response ended, request body open", func(c *rawClient) {
			c.request(1, "POST", "/quick", false)
			sent := uint32(0)
			c.waitFor("the response's end", func(f http2.Frame) bool {
				if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
					sent += d.Length
				}
				return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
			})
			c.fr.WriteWindowUpdate(1, toMax+sent) // the window at 2^31-1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, handler, nil)
			c := dialRaw(t, srv.addr)
			tt.provoke(c)
			c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: initialWindow + 1})
			c.fr.WritePing(false, [8]byte{'a', 'f', 't', 'e', 'r'})
			c.waitFor("the PING's answer", func(f http2.Frame) bool {
				if g, ok := f.(*http2.GoAwayFrame); ok {
					t.Fatalf("GOAWAY %v %q", g.ErrCode, g.DebugData())
				}
				p, ok := f.(*http2.PingFrame)
				return ok && p.IsAck()
			})
		})
	}
}

// TestOverflowingWindowUpdateNotUsed checks that a WINDOW_UPDATE that
// overflows the connection's window (RFC 9113, 6.9.1) opens nothing: the
// handler that the frame before it woke up sends no DATA beyond the
// window the client gave, while the server answers with GOAWAY
// (FLOW_CONTROL_ERROR).
func TestOverflowingWindowUpdateNotUsed(t *testing.T) {
	t.Parallel()
	chunk := make([]byte, 100)
	handler := func(ex *app.Exchange) {
		for i := 0; i < 2000; i++ { // 200,000 bytes
			if _, err := ex.Write(chunk); err != nil {
				return
			}
			if ex.Flush() != nil {
				return
			}
		}
	}
	srv := newTestServer(t, handler, nil)
	const streamWindow = initialWindow - 300
	overflowed := 0
	for range 40 {
		c := dialRaw(t, srv.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow})
		c.request(1, "GET", "/", true)
		var got int64
		c.waitFor("the stream's window of DATA", func(f http2.Frame) bool {
			if d, ok := f.(*http2.DataFrame); ok {
				got += int64(d.Length)
			}
			return got == streamWindow
		})
		// 300 bytes of the connection's window are left when the stream's
		// opens: the handler may use them before the server reads the
		// next frame, which overflows the window if it does not.
		c.fr.WriteWindowUpdate(1, 1<<21) // room for the whole response
		c.fr.WriteWindowUpdate(0, maxWindow)
		// The response's end if the handler was first and the update
		// did not overflow the window; else GOAWAY, and nothing past
		// the window before or after it.
		goAway := false
		for done := false; !done; {
			f, err := c.fr.ReadFrame()
			switch f := f.(type) {
			case nil:
				if !goAway {
					t.Fatalf("no GOAWAY nor the response's end: %v", err)
				}
				done = true
			case *http2.DataFrame:
				got += int64(f.Length)
				done = f.StreamEnded()
			case *http2.GoAwayFrame:
				if f.ErrCode != http2.ErrCodeFlowControl {
					t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
				}
				goAway = true
				overflowed++
			}
		}
		if goAway && got > initialWindow {
			t.Fatalf("%d DATA bytes; the client's windows allowed %d", got, initialWindow)
		}
		c.nc.Close()
	}
	if overflowed == 0 {
		t.Log("the handler took the window's last bytes first in every round")
	}
}

// TestTrailersRacingResponseEnd sends each request's trailers while its
// handler ends the response, which the race detector checks: the reader
// looks at the stream's state under the lock the handler's end takes.
// The trailers end the request; the connection goes on.
func TestTrailersRacingResponseEnd(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(ex *app.Exchange) { io.WriteString(ex, "ok") }, nil)
	c := dialRaw(t, srv.addr)
	for i := range uint32(3000) {
		id := 2*i + 1
		c.request(id, "POST", "/", false)
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock0("x-t", "v"), EndStream: true, EndHeaders: true})
		c.waitFor("the response's end", func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
			case *http2.RSTStreamFrame:
				if f.ErrCode != http2.ErrCodeNo {
					t.Fatalf("RST_STREAM %v on stream %d", f.ErrCode, f.StreamID)
				}
			}
			return f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream)
		})
	}
}

// TestTrailersBlockCrossingServerReset checks that trailers whose header
// block the server began to read before its handler's goroutine reset
// the stream, and finished after, are ignored (RFC 9113, 5.1), as frames
// crossing the server's RST_STREAM are: the request's short body does not
// draw a second RST_STREAM (PROTOCOL_ERROR).
func TestTrailersBlockCrossingServerReset(t *testing.T) {
	t.Parallel()
	fail := make(chan struct{})
	srv := newTestServer(t, func(ex *app.Exchange) {
		<-fail
		ex.SetHeader("content-length", "10")
		io.WriteString(ex, "short") // the stream is reset (INTERNAL_ERROR)
	}, nil)
	c := dialRaw(t, srv.addr)
	c.request(1, "POST", "/", false, "content-length", "10")
	c.fr.WriteData(1, false, []byte("12345"))
	block := c.headerBlock0("x-t", "v")
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:1], EndStream: true})
	close(fail)
	c.waitFor("the server's RST_STREAM", func(f http2.Frame) bool {
		rst, ok := f.(*http2.RSTStreamFrame)
		return ok && rst.StreamID == 1
	})
	c.fr.WriteContinuation(1, true, block[1:])
	c.fr.WritePing(false, [8]byte{'a', 'f', 't', 'e', 'r'})
	c.waitFor("the PING's answer", func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			t.Errorf("a second RST_STREAM: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
		case *http2.PingFrame:
			return f.IsAck()
		}
		return false
	})
}

// TestOverlongBodyGivesBackWindow checks that the DATA frame that takes a
// request's body past its content-length, answered with RST_STREAM
// (PROTOCOL_ERROR), gives its bytes back to the connection's window (RFC
// 9113, 6.9: a receiver that drops DATA still counts it, and must not
// keep the window it took): once the streams are reset, the client can
// send as much on the connection as before.
func TestOverlongBodyGivesBackWindow(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(ex *app.Exchange) { io.Copy(io.Discard, ex.Body()) }, func(cfg *Config) {
		cfg.InitialConnectionWindow = initialWindow
	})
	c := dialRaw(t, srv.addr)
	window := int64(initialWindow) // the connection's, as the client may use it
	count := func(f http2.Frame) {
		if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 0 {
			window += int64(wu.Increment)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			t.Fatalf("GOAWAY %v %q", g.ErrCode, g.DebugData())
		}
	}
	for i := range uint32(3) {
		id := 2*i + 1
		c.request(id, "POST", "/", false, "content-length", "10")
		c.fr.WriteData(id, false, make([]byte, 16000))
		window -= 16000
		c.waitFor("the RST_STREAM", func(f http2.Frame) bool {
			count(f)
			rst, ok := f.(*http2.RSTStreamFrame)
			return ok && rst.StreamID == id && rst.ErrCode == http2.ErrCodeProtocol
		})
	}
	c.fr.WritePing(false, [8]byte{'a', 'f', 't', 'e', 'r'})
	c.waitFor("the PING's answer", func(f http2.Frame) bool {
		count(f)
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck()
	})
	// The server may keep back what it gives back in batches of a
	// quarter of the window.
	if window < initialWindow-initialWindow/4 {
		t.Errorf("the connection's window is %d of %d once the streams were reset", window, initialWindow)
	}
}

// halfCloseConn counts the writes after CloseWrite, and the read
// deadlines that stop the lingering reads, and tells when the server
// closes.
type halfCloseConn struct {
	net.Conn
	halfClosed atomic.Bool
	late       atomic.Int32
	closed     chan struct{}
}

func (c *halfCloseConn) Write(p []byte) (int, error) {
	if c.halfClosed.Load() {
		c.late.Add(1)
	}
	return c.Conn.Write(p)
}

// SetReadDeadline counts a deadline in the past after the half-close,
// which cuts the lingering reads short.
func (c *halfCloseConn) SetReadDeadline(t time.Time) error {
	if c.halfClosed.Load() && !t.IsZero() && t.Before(time.Now()) {
		c.late.Add(1)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *halfCloseConn) CloseWrite() error {
	c.halfClosed.Store(true)
	return c.Conn.(*net.TCPConn).CloseWrite()
}

func (c *halfCloseConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return c.Conn.Close()
}

// TestNothingWrittenAfterFinalGoAway checks that once a connection error's
// GOAWAY went out and the server half-closed the connection to linger,
// nothing more is written nor wakes the (ended) reader: the
// WINDOW_UPDATE for the body a handler left unread, as it returns after
// the connection ended, would fail and cut the lingering close short, as
// would the wake-up of a reader no longer there, and the reset that
// follows can destroy the GOAWAY before the client reads it.
func TestNothingWrittenAfterFinalGoAway(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var hc *halfCloseConn
	srv := newWrappedTestServer(t, func(ex *app.Exchange) { <-release }, func(cfg *Config) {
		cfg.InitialConnectionWindow = initialWindow
	}, func(nc net.Conn) net.Conn {
		hc = &halfCloseConn{Conn: nc, closed: make(chan struct{})}
		return hc
	})
	c := dialRaw(t, srv.addr)
	c.request(1, "POST", "/", false)
	for range 2 {
		c.fr.WriteData(1, false, make([]byte, 10000)) // left unread
	}
	c.fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)) // PING on a stream: PROTOCOL_ERROR
	c.waitFor("the GOAWAY", func(f http2.Frame) bool {
		g, ok := f.(*http2.GoAwayFrame)
		return ok && g.ErrCode == http2.ErrCodeProtocol
	})
	if _, err := c.fr.ReadFrame(); err != io.EOF {
		t.Fatalf("after the GOAWAY: %v, want the half-close (EOF)", err)
	}
	close(release) // the handler returns with the body unread
	<-hc.closed    // the lingering close ends
	if n := hc.late.Load(); n > 0 {
		t.Errorf("%d writes or read deadlines past after the half-close", n)
	}
}

// TestRequestTrailersReachHandler checks that a request's trailers reach
// its handler's Request.Trailer whether their header block comes in one
// HEADERS frame or is split over CONTINUATION frames, with a body or
// without one.
func TestRequestTrailersReachHandler(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(ex *app.Exchange) {
		ex.ServeHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%q %v %q", body, err, r.Trailer.Get("x-t"))
		}))
	}, nil)
	for _, tt := range []struct {
		name   string
		body   string
		splits int // frames the trailers' block is split over
	}{
		{"one frame", "abc", 1},
		{"HEADERS and CONTINUATION", "abc", 2},
		{"three frames", "abc", 3},
		{"no body, split", "", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, srv.addr)
			c.request(1, "POST", "/", false)
			if tt.body != "" {
				c.fr.WriteData(1, false, []byte(tt.body))
			}
			block := c.headerBlock0("x-t", "trailer value")
			step := (len(block) + tt.splits - 1) / tt.splits
			for i := 0; i < len(block); i += step {
				frag, end := block[i:min(i+step, len(block))], i+step >= len(block)
				if i == 0 {
					c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: frag, EndStream: true, EndHeaders: end})
				} else {
					c.fr.WriteContinuation(1, end, frag)
				}
			}
			var got []byte
			c.waitFor("the response's end", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					t.Fatalf("RST_STREAM %v", f.ErrCode)
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
				case *http2.DataFrame:
					got = append(got, f.Data()...)
					return f.StreamEnded()
				}
				return false
			})
			if want := fmt.Sprintf("%q <nil> \"trailer value\"", tt.body); string(got) != want {
				t.Errorf("the handler saw %s, want %s", got, want)
			}
		})
	}
}

// TestFramesOnManyRefusedStreams checks that the server remembers every
// stream of a burst it refused beyond MaxStreamsPerConnection, not only
// the last few: the bodies and trailers the client sent on them before it
// saw the RST_STREAM frames are ignored (RFC 9113, 5.1), with no second
// RST_STREAM and no GOAWAY (STREAM_CLOSED) for the connection.
func TestFramesOnManyRefusedStreams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newTestServer(t, func(ex *app.Exchange) { <-release }, func(cfg *Config) { cfg.MaxStreams = 1 })
	defer close(release)
	c := dialRaw(t, srv.addr)
	c.request(1, "POST", "/", false) // holds the one stream
	const burst = 300
	for i := range uint32(burst) {
		c.request(3+2*i, "POST", "/", false)
	}
	for i := range uint32(burst) {
		id := 3 + 2*i
		c.fr.WriteData(id, false, []byte("body"))
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock0("x-t", "v"), EndStream: true, EndHeaders: true})
	}
	c.fr.WritePing(false, [8]byte{'a', 'f', 't', 'e', 'r'})
	refused := map[uint32]int{}
	c.waitFor("the PING's answer", func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			refused[f.StreamID]++
			if f.ErrCode != http2.ErrCodeRefusedStream || refused[f.StreamID] > 1 {
				t.Errorf("RST_STREAM %v on stream %d (%d)", f.ErrCode, f.StreamID, refused[f.StreamID])
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
		case *http2.PingFrame:
			return f.IsAck()
		}
		return false
	})
	if len(refused) != burst {
		t.Errorf("%d streams refused, want %d", len(refused), burst)
	}
}
