package kestrel

import (
	"net/http"
	"testing"

	"golang.org/x/net/http2"
)

// TestHTTP2ControlBytesInTarget: an HTTP/2 :path with a control byte or
// white space (which HPACK carries and HTTP/1.1's request line cannot)
// never reaches a net/http handler, in its path or in its query: the
// stream is reset with PROTOCOL_ERROR, as net/http's own HTTP/2 server
// resets it, and a ReverseProxy never writes it into a backend's request
// line.
func TestHTTP2ControlBytesInTarget(t *testing.T) {
	t.Parallel()
	addr := startH2Only(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the handler ran for %q (query %q)", r.URL.Path, r.URL.RawQuery)
	}))
	c := dialRawH2(t, addr)
	for i, path := range []string{"/a\x01", "/a?\x01", "/a?b\x7f", "/a?b\tc", "/a?\x1b[31m", "/a b", "/a?x HTTP/1.0 y"} {
		id := uint32(2*i + 1)
		c.get(id, path)
		for {
			f := c.read()
			if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == id {
				if rst.ErrCode != http2.ErrCodeProtocol {
					t.Errorf("%q: RST_STREAM %v, want PROTOCOL_ERROR", path, rst.ErrCode)
				}
				break
			}
			if f.Header().StreamID == id {
				t.Errorf("%q: answered with %v, want RST_STREAM PROTOCOL_ERROR", path, f)
				break
			}
		}
	}
}
