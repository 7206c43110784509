package kestrel

import (
	"net/http"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2ControlBytesInTarget: an HTTP/2 :path with a control byte
// (which HPACK carries and HTTP/1.1's request line cannot) never reaches
// a net/http handler, in its path or in its query, as net/http's own
// HTTP/2 server refuses it (url.ParseRequestURI fails).
func TestHTTP2ControlBytesInTarget(t *testing.T) {
	t.Parallel()
	addr := startH2Only(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the handler ran for %q (query %q)", r.URL.Path, r.URL.RawQuery)
	}))
	c := dialRawH2(t, addr)
	dec := hpack.NewDecoder(4096, nil)
	for i, path := range []string{"/a\x01", "/a?\x01", "/a?b\x7f", "/a?b\tc", "/a?\x1b[31m"} {
		id := uint32(2*i + 1)
		c.get(id, path)
		for {
			f := c.read()
			if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == id {
				t.Errorf("%q: RST_STREAM %v, want 400", path, rst.ErrCode)
				break
			}
			if h, ok := f.(*http2.HeadersFrame); ok && h.StreamID == id {
				fields, err := dec.DecodeFull(h.HeaderBlockFragment())
				if err != nil {
					t.Fatal(err)
				}
				if len(fields) == 0 || fields[0].Name != ":status" || fields[0].Value != "400" {
					t.Errorf("%q: answered %v, want 400", path, fields)
				}
			}
			if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
				break
			}
		}
	}
}
