package http2

import (
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
)

// TestInvalidMethod: a :method that is not a token (RFC 9110, 9.1) is a
// malformed request (RFC 9113, 8.1.1), reset with PROTOCOL_ERROR before a
// handler sees it, as HTTP/1.1 answers 400 and HTTP/3 resets; a token
// method, known or not, is served.
func TestInvalidMethod(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	s := newTestServer(t, func(ex *app.Exchange) {
		served.Add(1)
		ex.Write(ex.Method())
	}, nil)
	for _, tc := range []struct {
		method string
		ok     bool
	}{
		{"GET", true},
		{"X-CUSTOM_1!", true},
		{"", false},
		{"G ET", false},
		{"GET\x01", false},
		{"(GET)", false},
		{"G:ET", false},
		{"GÉT", false},
	} {
		c := dialRaw(t, s.addr)
		before := served.Load()
		c.request(1, tc.method, "/", true)
		f := c.waitFor("the answer", func(f http2.Frame) bool {
			switch f.(type) {
			case *http2.MetaHeadersFrame, *http2.RSTStreamFrame, *http2.GoAwayFrame:
				return f.Header().StreamID == 1 || f.Header().Type == http2.FrameGoAway
			}
			return false
		})
		rst, reset := f.(*http2.RSTStreamFrame)
		switch {
		case tc.ok && reset:
			t.Errorf("%q: reset with %v", tc.method, rst.ErrCode)
		case !tc.ok && (!reset || rst.ErrCode != http2.ErrCodeProtocol):
			t.Errorf("%q: %v, want RST_STREAM PROTOCOL_ERROR", tc.method, f)
		case !tc.ok && served.Load() != before:
			t.Errorf("%q: served", tc.method)
		}
		c.nc.Close()
	}
}
