package http2

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
)

// TestSlowHandlerDoesNotStallStreams checks the fairness of streams on
// one connection now that the reader runs quick handlers itself: a
// handler that blocks (stream 1) or spins (stream 3) is left to finish on
// its goroutine while another reads the connection, and the fast
// requests behind them, in the same read, are answered at once.
func TestSlowHandlerDoesNotStallStreams(t *testing.T) {
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		switch string(ex.Path()) {
		case "/block":
			<-release
		case "/spin":
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
			}
		}
		ex.WriteString("done")
	}, nil)
	defer close(release)
	c := dialRaw(t, s.addr)
	// One write, so that the server reads all four requests at once.
	var batch []byte
	for i, path := range []string{"/block", "/spin", "/fast", "/fast"} {
		batch = append(batch, encodeGet(c, uint32(2*i+1), path)...)
	}
	start := time.Now()
	if _, err := c.nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	fast := map[uint32]bool{}
	for len(fast) < 2 {
		f := c.read()
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			if mh.StreamID <= 3 {
				t.Fatalf("stream %d (slow) answered first", mh.StreamID)
			}
			if st := mh.PseudoValue("status"); st != "200" {
				t.Fatalf("stream %d: status %s", mh.StreamID, st)
			}
			fast[mh.StreamID] = true
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the fast streams were answered after %v, behind the slow ones", d)
	}
}

// encodeGet encodes a GET request's HEADERS frame for stream id.
func encodeGet(c *rawClient, id uint32, path string) []byte {
	var out writeBuf
	fr := http2.NewFramer(&out, nil)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock(http.MethodGet, path), EndStream: true, EndHeaders: true})
	return out
}

type writeBuf []byte

func (w *writeBuf) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

// TestBodiesInOneRead checks requests whose bodies come with their
// headers, in the bytes the reader holds, which the reader serves itself
// as it serves requests without a body: each gets its own body back, in
// full; one that blocks does not hold up the others; and a request whose
// body is still to come (headers alone, or part of the body) is served
// when the rest arrives, on a goroutine of its own.
func TestBodiesInOneRead(t *testing.T) {
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		body, err := io.ReadAll(ex.Body())
		if err != nil {
			return
		}
		if string(ex.Path()) == "/block" {
			<-release
		}
		ex.Write(body)
	}, nil)
	defer close(release)
	c := dialRaw(t, s.addr)

	// One write: a blocking request first, then three with bodies (one of
	// them in two DATA frames), then a GET.
	var batch writeBuf
	fr := http2.NewFramer(&batch, nil)
	post := func(id uint32, path string, chunks ...string) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock(http.MethodPost, path), EndHeaders: true})
		for i, ch := range chunks {
			fr.WriteData(id, i == len(chunks)-1, []byte(ch))
		}
	}
	post(1, "/block", "held")
	post(3, "/echo", "three")
	post(5, "/echo", "fi", "ve")
	post(7, "/echo", strings.Repeat("7", 10000), strings.Repeat("7", 10000))
	batch = append(batch, encodeGet(c, 9, "/get")...)
	// Stream 11: part of the body now, the rest later; stream 13: its
	// headers now, its body later.
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 11, BlockFragment: c.headerBlock(http.MethodPost, "/echo"), EndHeaders: true})
	fr.WriteData(11, false, []byte("ele"))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 13, BlockFragment: c.headerBlock(http.MethodPost, "/echo"), EndHeaders: true})
	if _, err := c.nc.Write(batch); err != nil {
		t.Fatal(err)
	}

	want := map[uint32]string{3: "three", 5: "five", 7: strings.Repeat("7", 20000), 9: ""}
	got := map[uint32]string{}
	ended := map[uint32]bool{}
	readUntil := func(done func() bool) {
		t.Helper()
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for !done() {
			switch f := c.read().(type) {
			case *http2.DataFrame:
				got[f.StreamID] += string(f.Data())
				if f.StreamEnded() {
					ended[f.StreamID] = true
				}
			case *http2.MetaHeadersFrame:
				if f.StreamEnded() {
					ended[f.StreamID] = true
				}
			case *http2.RSTStreamFrame:
				t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
			}
		}
	}
	readUntil(func() bool { return ended[3] && ended[5] && ended[7] && ended[9] })
	for id, w := range want {
		if got[id] != w {
			t.Errorf("stream %d: %d bytes back, want %d", id, len(got[id]), len(w))
		}
	}
	if ended[1] || ended[11] || ended[13] {
		t.Fatalf("streams answered before their time: %v", ended)
	}

	// The rest of the bodies.
	c.fr.WriteData(11, true, []byte("ven"))
	c.fr.WriteData(13, true, []byte("thirteen"))
	readUntil(func() bool { return ended[11] && ended[13] })
	if got[11] != "eleven" || got[13] != "thirteen" {
		t.Errorf("streams 11 and 13: %q and %q", got[11], got[13])
	}
	release <- struct{}{}
	readUntil(func() bool { return ended[1] })
	if got[1] != "held" {
		t.Errorf("stream 1: %q", got[1])
	}
}

// TestBodiesInOneReadAtTheStreamLimit sends, in one write, exactly
// MaxStreamsPerConnection requests whose bodies come with them and whose
// handlers wait, and one more: the first limit are admitted (read by the
// reader, each handed to another goroutine as it waits), the one beyond is
// refused with REFUSED_STREAM, and once the handlers go on each answers
// with its own body.
func TestBodiesInOneReadAtTheStreamLimit(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	goOn := func() { once.Do(func() { close(release) }) }
	defer goOn()
	s := newTestServer(t, func(ex *app.Exchange) {
		body, _ := io.ReadAll(ex.Body())
		<-release
		ex.Write(body)
	}, nil)
	c := dialRaw(t, s.addr)
	limit := DefaultMaxStreamsPerConnection
	var batch writeBuf
	fr := http2.NewFramer(&batch, nil)
	for i := range limit + 1 {
		id := uint32(2*i + 1)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock(http.MethodPost, "/echo"), EndHeaders: true})
		fr.WriteData(id, true, []byte(strconv.Itoa(int(id))))
	}
	if _, err := c.nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := map[uint32]string{}
	answered, refused := 0, uint32(0)
	for answered < limit {
		switch f := c.read().(type) {
		case *http2.DataFrame:
			got[f.StreamID] += string(f.Data())
			if f.StreamEnded() {
				answered++
			}
		case *http2.RSTStreamFrame:
			if f.ErrCode != http2.ErrCodeRefusedStream || refused != 0 {
				t.Fatalf("stream %d reset with %v", f.StreamID, f.ErrCode)
			}
			if refused = f.StreamID; answered > 0 {
				t.Fatalf("stream %d refused after %d answers", refused, answered)
			}
			goOn() // every handler admitted waits: let them go on
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
	if last := uint32(2*limit + 1); refused != last {
		t.Errorf("stream %d refused, want %d, the one beyond the limit", refused, last)
	}
	for i := range limit {
		if id := uint32(2*i + 1); got[id] != strconv.Itoa(int(id)) {
			t.Errorf("stream %d: body %q", id, got[id])
		}
	}
}

// slowWriteConn counts its writes, each of which takes a while, as writes
// to a busy or distant client do.
type slowWriteConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *slowWriteConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	time.Sleep(5 * time.Millisecond)
	return c.Conn.Write(p)
}

// TestFlushesShareWrites checks a handler that flushes after each of many
// small writes (a gRPC server stream), whether the reader runs it or, once
// the inline budget is spent, its own goroutine: what it flushes while a
// write is under way leaves together in the next, rather than one system
// call per flush, and what it flushed reaches the client while it waits.
func TestFlushesShareWrites(t *testing.T) {
	const messages = 200
	release := make(chan struct{})
	var conn *slowWriteConn
	s := newWrappedTestServer(t, func(ex *app.Exchange) {
		for i := range messages {
			ex.WriteString("message " + strconv.Itoa(i) + "\n")
			ex.Flush()
		}
		if string(ex.Path()) == "/wait" {
			<-release // the client must have had every message by now
		}
	}, nil, func(nc net.Conn) net.Conn {
		conn = &slowWriteConn{Conn: nc}
		return conn
	})
	c := dialRaw(t, s.addr)
	before := conn.writes.Load()
	for i, path := range []string{"/", "/wait"} {
		id := uint32(2*i + 1)
		c.request(id, "GET", path, true)
		var body []byte
		for !bytes.HasSuffix(body, []byte("message "+strconv.Itoa(messages-1)+"\n")) {
			if df, ok := c.read().(*http2.DataFrame); ok && df.StreamID == id {
				body = append(body, df.Data()...)
			}
		}
		if n := strings.Count(string(body), "\n"); n != messages {
			t.Fatalf("stream %d: %d messages, want %d", id, n, messages)
		}
	}
	close(release)
	// Settings and their ACK, two responses: a handful of writes where
	// flushing each message would have taken 400.
	if n := conn.writes.Load() - before; n > 20 {
		t.Errorf("%d writes for 2 x %d flushed messages, want at most 20", n, messages)
	}
}

// TestWriteAfterResetFails: once the client resets a stream, the
// handler's next write fails at once, though it would only have been
// buffered: WriteErr, which every write asks, sees the reset.
func TestWriteAfterResetFails(t *testing.T) {
	sent := make(chan struct{})
	result := make(chan string, 1)
	s := newTestServer(t, func(ex *app.Exchange) {
		ex.WriteString("first")
		ex.Flush()
		close(sent)
		// A byte at a time, for at most 1,000 bytes: far from filling
		// the exchange's buffer, so only the stream's state can fail it.
		for range 1000 {
			if _, err := ex.WriteString("x"); err != nil {
				result <- "failed: " + err.Error()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		result <- "1,000 writes went on after the reset"
	}, nil)
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	<-sent
	if err := c.fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	if r := <-result; !strings.HasPrefix(r, "failed") {
		t.Fatal(r)
	}
}

// TestFlushSendsDeclaredBody: a handler that writes all of the body its
// Content-Length declares and flushes has the body reach the client while
// it still runs; END_STREAM follows once it returns (it is what lets the
// client open a stream in its place).
func TestFlushSendsDeclaredBody(t *testing.T) {
	release := make(chan struct{})
	s := newTestServer(t, func(ex *app.Exchange) {
		ex.SetHeader("Content-Length", "5")
		ex.WriteString("hello")
		ex.Flush()
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}, nil)
	c := dialRaw(t, s.addr)
	c.request(1, "GET", "/", true)
	start := time.Now()
	c.waitFor("the body", func(f http2.Frame) bool {
		df, ok := f.(*http2.DataFrame)
		return ok && df.StreamID == 1 && string(df.Data()) == "hello"
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the body came %v after the request, once the handler returned", d)
	}
	close(release)
	c.waitFor("END_STREAM", func(f http2.Frame) bool {
		df, ok := f.(*http2.DataFrame)
		return ok && df.StreamID == 1 && df.StreamEnded()
	})
}
