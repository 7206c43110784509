package kestrel

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
)

// eventStream is a handler that streams events of 100 bytes, each
// flushed, until a write fails, and then sends failed the error.
func eventStream(failed chan<- error) http.HandlerFunc {
	event := strings.Repeat("x", 99) + "\n"
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for {
			_, err := io.WriteString(w, event)
			if err == nil {
				err = rc.Flush()
			}
			if err != nil {
				failed <- err
				return
			}
		}
	}
}

// readAtRate reads about rate bytes a second with read (nothing at 0)
// for d, or until failed says the handler's write failed, and returns
// that error (nil when the stream lasted).
func readAtRate(rate int, d time.Duration, failed <-chan error, read func([]byte)) error {
	buf := make([]byte, rate/20+1)
	for start := time.Now(); time.Since(start) < d; {
		select {
		case err := <-failed:
			return err
		default:
			if rate > 0 {
				read(buf)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// TestHTTP3MinResponseDataRateStreamReader: over HTTP/3, a stream of small
// events to a client that reads it at four times MinResponseDataRate is
// not cut off, and one that reads nothing is, once past the grace period
// and the time of the bytes its window took. A QUIC client opens its
// flow-control window only once it has read a good part of it (quic-go: a
// quarter or more of 512 KiB), so a write waiting for the window waits
// for bytes written before it; each write was given only its own time at
// the rate (at least the grace period), and the client reading four times
// faster than the rate was cut off. Kestrel times the response's bytes
// written in all.
func TestHTTP3MinResponseDataRateStreamReader(t *testing.T) {
	t.Parallel()
	const minRate = 8000 // bytes/s
	limits := Limits{MinResponseDataRate: &DataRate{BytesPerSecond: minRate, GracePeriod: 1100 * time.Millisecond}}
	for _, c := range []struct {
		readRate int    // bytes/s
		window   uint64 // the client's stream receive window; 0: quic-go's
		cut      bool
	}{
		{4 * minRate, 0, false},
		{0, 4096, true},
	} {
		t.Run(fmt.Sprint(c.readRate), func(t *testing.T) {
			t.Parallel()
			failed := make(chan error, 1)
			_, addr := h3Server(t, &Server{Handler: eventStream(failed), Limits: limits}, HTTP1AndHTTP2AndHTTP3)
			tr := &http3.Transport{TLSClientConfig: testClientTLS(t), QUICConfig: &quic.Config{
				InitialStreamReceiveWindow: c.window, MaxStreamReceiveWindow: c.window,
			}}
			t.Cleanup(func() { tr.Close() })
			req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// Read at readRate for 4.5 s: past the grace period, the time
			// of the window's bytes at the rate and the heartbeat's slack.
			err = readAtRate(c.readRate, 4500*time.Millisecond, failed, func(b []byte) { io.ReadFull(resp.Body, b) })
			if cut := err != nil; cut != c.cut {
				t.Errorf("reading at %d bytes/s (minimum %d): cut off %v (%v), want %v", c.readRate, minRate, cut, err, c.cut)
			}
		})
	}
}

// TestHTTP2MinResponseDataRateStreamReader is the HTTP/2 case of the
// test above: a client that opens a stream's window only once it has read
// half of it (as nghttp2 does, curl's library) and reads at four times
// MinResponseDataRate kept a small write waiting for the window longer
// than the grace period, and its stream was reset.
func TestHTTP2MinResponseDataRateStreamReader(t *testing.T) {
	t.Parallel()
	const minRate = 2000 // bytes/s
	const readRate = 4 * minRate
	const window = 65535
	failed := make(chan error, 1)
	addr := startH2Only(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetMinResponseDataRate(r, DataRate{BytesPerSecond: minRate, GracePeriod: 1100 * time.Millisecond})
		eventStream(failed).ServeHTTP(w, r)
	}))
	c := dialRawH2(t, addr)
	c.fr.WriteWindowUpdate(0, 1<<30) // the connection's window stays open
	c.get(1, "/")
	start := time.Now()
	unacked := 0 // bytes read that the stream's window has not been given back
	for time.Since(start) < 4500*time.Millisecond {
		select {
		case err := <-failed:
			t.Fatalf("reading at %d bytes/s (minimum %d): cut off (%v)", readRate, minRate, err)
		default:
		}
		switch f := c.read().(type) {
		case *http2.DataFrame:
			n := len(f.Data())
			time.Sleep(time.Duration(n) * time.Second / readRate)
			c.fr.WriteWindowUpdate(0, uint32(n))
			if unacked += n; unacked >= window/2 {
				c.fr.WriteWindowUpdate(1, uint32(unacked))
				unacked = 0
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("reading at %d bytes/s (minimum %d): the stream was reset (%v)", readRate, minRate, f.ErrCode)
		}
	}
}
