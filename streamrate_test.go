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
)

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
	event := strings.Repeat("x", 99) + "\n"
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
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
			})
			_, addr := h3Server(t, &Server{Handler: h, Limits: limits}, HTTP1AndHTTP2AndHTTP3)
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
			start := time.Now()
			buf := make([]byte, c.readRate/20+1)
			err = nil
			for time.Since(start) < 4500*time.Millisecond && err == nil {
				select {
				case err = <-failed:
				default:
					if c.readRate > 0 {
						io.ReadFull(resp.Body, buf)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			if cut := err != nil; cut != c.cut {
				t.Errorf("reading at %d bytes/s (minimum %d): cut off %v (%v), want %v", c.readRate, minRate, cut, err, c.cut)
			}
		})
	}
}
