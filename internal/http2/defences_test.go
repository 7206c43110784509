package http2

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
)

// Each defence is tried with a raw framer client doing what the attack
// does.

// TestRapidReset checks CVE-2023-44487: a client opening and resetting
// streams faster than they can be served is told to calm down, and the
// handlers running at once stay within MaxStreams.
func TestRapidReset(t *testing.T) {
	var running, peak atomic.Int64
	s := newTestServer(t, func(ex *app.Exchange) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond) // a handler slower than the resets
		running.Add(-1)
	}, func(cfg *Config) { cfg.MaxStreams = 10 })
	c := dialRaw(t, s.addr)
	block := c.headerBlock("GET", "/")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for id := uint32(1); id < 20000; id += 2 {
			if c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}) != nil ||
				c.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
		}
	}()
	defer func() { c.nc.Close(); <-done }()
	ga := c.goAway()
	if ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY %v, want ENHANCE_YOUR_CALM", ga.ErrCode)
	}
	if p := peak.Load(); p > 10 {
		t.Errorf("%d handlers ran at once, want at most MaxStreams (10)", p)
	}
}

// TestTooManyStreams checks that a stream beyond MaxStreams is refused
// with REFUSED_STREAM while the others are served.
func TestTooManyStreams(t *testing.T) {
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) { <-release }, func(cfg *Config) { cfg.MaxStreams = 2 })
	defer close(release)
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	c.request(3, "GET", "/", true)
	c.request(5, "GET", "/", true)
	f := c.waitFor("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if f.StreamID != 5 || f.ErrCode != http2.ErrCodeRefusedStream {
		t.Errorf("RST_STREAM %d %v, want 5 REFUSED_STREAM", f.StreamID, f.ErrCode)
	}
}

// TestContinuationFlood checks CVE-2023-45288: a header block that never
// ends, in CONTINUATION frames of junk or of nothing, closes the
// connection before the server holds it all.
func TestContinuationFlood(t *testing.T) {
	for _, size := range []int{0, 16 << 10} {
		s := newTestServer(t, func(ex *app.Exchange) {}, nil)
		c := dialRaw(t, s.addr)
		block := c.headerBlock("GET", "/")
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: false})
		junk := bytes.Repeat([]byte{0}, size) // indexed field 0: invalid, but only once decoded
		if size > 0 {
			// A literal field whose value never ends: the decoder must keep it.
			c.buf.Reset()
			junk = append([]byte{0x40, 0x7f, 0x81, 0xff, 0x7f}, bytes.Repeat([]byte{'x'}, size-5)...)
		}
		sent := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 100000; i++ {
				if c.fr.WriteContinuation(1, false, junk) != nil {
					return
				}
				sent += len(junk)
			}
		}()
		if !c.closed(10 * time.Second) {
			t.Fatalf("CONTINUATION frames of %d bytes: the connection stayed open", size)
		}
		<-done
		if sent > 32<<20 { // what the kernel buffers on loopback, far below the 1.6 GB sent unchecked
			t.Errorf("CONTINUATION frames of %d bytes: the server read %d bytes before closing", size, sent)
		}
	}
}

// TestLargeHeaderListManyFrames: a header list within a large
// MaxRequestHeadersTotalSize, sent in CONTINUATION frames of the 16 KiB
// the server allows, is served, not cut off as a flood: the frame limit
// grows with the byte limit.
func TestLargeHeaderListManyFrames(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString(string(ex.Header("x-f99"))[:3]) }, func(cfg *Config) {
		cfg.MaxRequestHeadersTotalSize = 5 << 20
		cfg.MaxRequestHeaderFieldSize = 5 << 20
		cfg.MaxRequestHeaderCount = 200
	})
	c := dialRaw(t, s.addr)
	var extra []string
	for i := range 150 {
		extra = append(extra, fmt.Sprintf("x-f%d", i), fmt.Sprintf("%03d", i)+strings.Repeat("0123456789", 2500))
	}
	block := c.headerBlock("GET", "/", extra...)
	frames := 0
	for first := true; len(block) > 0; first = false {
		n := min(len(block), DefaultMaxFrameSize)
		if first {
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:n], EndStream: true, EndHeaders: n == len(block)})
		} else {
			c.fr.WriteContinuation(1, n == len(block), block[:n])
		}
		block = block[n:]
		frames++
	}
	if frames <= 128 {
		t.Fatalf("%d frames: the test needs more than 128", frames)
	}
	if status := c.status(1); status != 200 {
		t.Fatalf("a header list in %d frames: %d", frames, status)
	}
}

// TestHeaderListTooLarge checks an HPACK bomb: a small block that decodes
// to a huge header list (one large entry of the dynamic table, referenced
// many times) is answered 431 and the connection goes on.
func TestHeaderListTooLarge(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString("ok") }, nil)
	c := dialRaw(t, s.addr)
	c.buf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
	c.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
	c.enc.WriteField(hpack.HeaderField{Name: ":path", Value: "/"})
	c.enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 3000)}) // indexed now
	for range 2000 {
		c.enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 3000)}) // one byte each
	}
	if c.buf.Len() > 16<<10 {
		t.Fatalf("the bomb is %d bytes; the encoder did not index it", c.buf.Len())
	}
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.buf.Bytes(), EndStream: true, EndHeaders: true})
	if st := c.status(1); st != 431 {
		t.Fatalf("status %d, want 431", st)
	}
	c.request(3, "GET", "/", true)
	if st := c.status(3); st != 200 {
		t.Fatalf("the next request: %d, want 200", st)
	}
}

// TestHeaderFieldTooLarge checks MaxRequestHeaderFieldSize: a field larger
// than it is a connection error (COMPRESSION_ERROR), as in Kestrel.
func TestHeaderFieldTooLarge(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) {}, func(cfg *Config) { cfg.MaxRequestHeaderFieldSize = 1000 })
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true, "x-big", strings.Repeat("v", 1001))
	if ga := c.goAway(); ga.ErrCode != http2.ErrCodeCompression {
		t.Errorf("GOAWAY %v, want COMPRESSION_ERROR", ga.ErrCode)
	}
}

// TestControlFrameFlood checks PING, SETTINGS and WINDOW_UPDATE floods from
// a client that does not read the answers: the connection closes, and what
// the server queued stays bounded.
func TestControlFrameFlood(t *testing.T) {
	for _, kind := range []string{"PING", "SETTINGS", "WINDOW_UPDATE"} {
		s := newTestServer(t, func(ex *app.Exchange) {}, nil)
		c := dialRaw(t, s.addr)
		go func() {
			for i := 0; i < 50000; i++ {
				var err error
				switch kind {
				case "PING":
					err = c.fr.WritePing(false, [8]byte{byte(i)})
				case "SETTINGS":
					err = c.fr.WriteSettings()
				default:
					err = c.fr.WriteWindowUpdate(0, 1)
				}
				if err != nil {
					return
				}
			}
		}()
		if !c.closed(10 * time.Second) {
			t.Fatalf("%s flood: the connection stayed open", kind)
		}
	}
}

// TestSmallWindowLargeDownload checks that a client with a small window,
// which gives back the stream's and the connection's window after every
// DATA frame (as nghttp -w 10 does), downloads a large response whole:
// its WINDOW_UPDATE frames, more than the control-frame allowance, open
// windows the server fills, and are no flood, nor do they make a PING one.
func TestSmallWindowLargeDownload(t *testing.T) {
	t.Parallel()
	const size = 6 << 20
	s := newTestServer(t, func(ex *app.Exchange) {
		ex.Write(make([]byte, size))
	}, nil)
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1024})
	c.request(1, "GET", "/", true)
	got, pinged := 0, false
	for {
		switch f := c.read().(type) {
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v %q after %d of %d bytes", f.ErrCode, f.DebugData(), got, size)
		case *http2.RSTStreamFrame:
			t.Fatalf("RST_STREAM %v after %d of %d bytes", f.ErrCode, got, size)
		case *http2.DataFrame:
			n := len(f.Data())
			got += n
			if f.StreamEnded() {
				if got != size {
					t.Fatalf("%d bytes, want %d", got, size)
				}
				return
			}
			if n > 0 {
				c.fr.WriteWindowUpdate(1, uint32(n))
				c.fr.WriteWindowUpdate(0, uint32(n))
			}
			if got >= size-64<<10 && !pinged {
				// A keep-alive PING near the end, after many updates.
				c.fr.WritePing(false, [8]byte{1})
				pinged = true
			}
		}
	}
}

// TestWindowNeverOpened checks a client that announces a zero window and
// never opens it: the stream is reset once the response data rate's grace
// has passed, and the handler's write fails.
func TestWindowNeverOpened(t *testing.T) {
	werr := make(chan error, 1)
	s := newTestServer(t, func(ex *app.Exchange) {
		_, err := ex.Write(make([]byte, 100<<10))
		if err == nil {
			err = ex.Flush()
		}
		werr <- err
	}, func(cfg *Config) { cfg.MinResponseRate = app.Rate{BytesPerSecond: 240, Grace: 2 * time.Second} })
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.request(1, "GET", "/", true)
	c.waitFor("the response head", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
	time.Sleep(50 * time.Millisecond)
	s.tick(time.Second)
	s.tick(1000 * time.Second) // past the time 100 KB take at 240 B/s
	f := c.waitFor("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if f.StreamID != 1 {
		t.Errorf("RST_STREAM for stream %d", f.StreamID)
	}
	select {
	case err := <-werr:
		if err == nil {
			t.Error("the handler's write succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's write still waits")
	}
}

// TestClientNeverReads checks a client that opens its windows wide and
// never reads: what the server queues is bounded by MaxOutput, and the
// connection is aborted by the response data rate.
func TestClientNeverReads(t *testing.T) {
	wrote := make(chan int64, 1)
	s := newTestServer(t, func(ex *app.Exchange) {
		var n int64
		chunk := make([]byte, 64<<10)
		for n < 256<<20 {
			if _, err := ex.Write(chunk); err != nil {
				break
			}
			n += int64(len(chunk))
		}
		wrote <- n
	}, func(cfg *Config) {
		cfg.MinResponseRate = app.Rate{BytesPerSecond: 240, Grace: 2 * time.Second}
		cfg.MaxOutput = 64 << 10
	})
	c := dialRaw(t, s.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	c.fr.WriteWindowUpdate(0, 1<<31-1-65535)
	c.request(1, "GET", "/", true)
	time.Sleep(500 * time.Millisecond) // the socket buffers fill; the handler waits
	conn := s.conn()
	conn.mu.Lock()
	queued := conn.out.queued() + len(conn.out.spare)
	conn.mu.Unlock()
	if queued > 4*(64<<10)+(1<<20) {
		t.Errorf("%d bytes queued for a client that does not read", queued)
	}
	s.tick(time.Second)
	s.tick(1000 * time.Second) // past the time the queued bytes take at 240 B/s
	select {
	case n := <-wrote:
		if n >= 256<<20 {
			t.Error("the handler wrote everything to a client that does not read")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still writes after the response data rate check")
	}
	io.Copy(io.Discard, c.nc) // the connection was aborted: this ends
}

// TestHighestStreamID checks the end of the stream ID space: a request on
// stream 2^31-1 is served.
func TestHighestStreamID(t *testing.T) {
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString("last") }, nil)
	c := dialRaw(t, s.addr)
	c.request(1<<31-1, "GET", "/", true)
	if st := c.status(1<<31 - 1); st != 200 {
		t.Fatalf("status %d", st)
	}
}
