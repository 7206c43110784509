package http2

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
)

// TestStreamLimitReplaceOnEnd keeps exactly MaxStreams streams open and
// opens a new one the moment the client sees one end (END_STREAM), as
// h2load and proxies do: no stream may be refused, since a stream whose
// END_STREAM was sent no longer counts (RFC 9113, 5.1.2). The response is
// buffered (its length is known when the handler returns), so its
// END_STREAM rides on its DATA frame and may be written by another
// stream's flush before its own handler has finished.
func TestStreamLimitReplaceOnEnd(t *testing.T) {
	const total = 30000
	// A small output queue makes each response's write flush, and the
	// writer goes on writing what other streams queue meanwhile: the
	// window in which a sent END_STREAM's stream still counted opens wide.
	s := newTestServer(t, func(ex *app.Exchange) { ex.WriteString("Hello, World!") }, func(cfg *Config) { cfg.MaxOutput = 64 })
	c := dialRaw(t, s.addr)
	c.nc.SetDeadline(time.Now().Add(2 * time.Minute))
	limit := uint32(DefaultMaxStreamsPerConnection)
	next := uint32(1)
	open := func() {
		block := c.headerBlock("GET", "/plaintext")
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: next, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		next += 2
	}
	for range limit {
		open()
	}
	ended, refused, unacked := 0, 0, 0
	for ended+refused < total {
		f := c.read()
		end := false
		switch f := f.(type) {
		case *http2.DataFrame:
			if unacked += int(f.Length); unacked > 32<<10 {
				c.fr.WriteWindowUpdate(0, uint32(unacked))
				unacked = 0
			}
			end = f.StreamEnded()
		case *http2.MetaHeadersFrame:
			end = f.StreamEnded()
		case *http2.RSTStreamFrame:
			if f.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("stream %d reset with %v", f.StreamID, f.ErrCode)
			}
			refused++
			end = true
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v after %d streams", f.ErrCode, ended)
		}
		if end {
			ended++
			if ended+refused+int(limit) <= total {
				open()
			}
		}
	}
	if refused > 0 {
		t.Errorf("%d of %d streams refused with REFUSED_STREAM at exactly %d open streams", refused, total, limit)
	}
}

// TestEndStreamLeavesCount checks the rule behind the test above where it
// lives: a stream leaves the count of MaxStreams the moment its END_STREAM
// is queued (by whichever write queues it), before the handler's
// goroutine ends the response, since any flush may send the frame.
func TestEndStreamLeavesCount(t *testing.T) {
	cases := []struct {
		name  string
		write func(st *stream) // what queues END_STREAM
	}{
		{"buffered body: END_STREAM on its DATA", func(st *stream) {
			st.WriteHead(&st.Exchange, 13, true)
			st.WriteBody([]byte("Hello, World!"), nil)
		}},
		{"empty body: END_STREAM on HEADERS", func(st *stream) {
			st.WriteHead(&st.Exchange, 0, true)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer srv.Close()
			defer cli.Close()
			cfg := &Config{App: &app.Config{Heartbeat: heartbeat.New(nil)}}
			c := NewConn(cfg, srv, Options{})
			st := c.newStream(1)
			st.Start()
			c.mu.Lock()
			c.streams = map[uint32]*stream{1: st}
			c.running, st.counted = 1, true
			st.sendWindow = initialWindow
			st.bodyEnded, st.state = true, stateHalfClosedRemote
			c.mu.Unlock()

			tc.write(st)

			c.mu.Lock()
			defer c.mu.Unlock()
			if !st.endSent {
				t.Fatal("END_STREAM was not queued")
			}
			if c.running != 0 || st.counted {
				t.Errorf("after END_STREAM was queued the stream still counts: running %d, counted %v", c.running, st.counted)
			}
		})
	}
}
