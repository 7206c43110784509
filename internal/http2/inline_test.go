package http2

import (
	"net/http"
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
