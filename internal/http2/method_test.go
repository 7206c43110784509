package http2

import (
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

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

// TestInvalidAuthority: an :authority, or a Host without one, that is not
// a host with an optional port (RFC 3986, 3.2.2) is a malformed request,
// as HTTP/1.1 answers such a Host 400; so is a request with more than one
// Host (RFC 9112, 3.2), which Kestrel resets too: the second was dropped,
// and a handler or a proxy's backend saw only the first.
func TestInvalidAuthority(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(ex *app.Exchange) { ex.Write(ex.Host()) }, nil)
	for _, tc := range []struct {
		name string
		ok   bool
		// fields after :method GET, :scheme and :path, unless they start
		// with :method
		fields []string
	}{
		{"CONNECT", true, []string{":method", "CONNECT", ":authority", "a.test:443"}},
		{"CONNECT with user information", false, []string{":method", "CONNECT", ":authority", "u@a.test:443"}},
		{"CONNECT with control bytes", false, []string{":method", "CONNECT", ":authority", "a\x01.test:443"}},
		{"CONNECT without a port", false, []string{":method", "CONNECT", ":authority", "a.test"}},
		{"CONNECT with an empty port", false, []string{":method", "CONNECT", ":authority", "[::1]:"}},
		{"authority", true, []string{":authority", "a.test:8080"}},
		{"host", true, []string{"host", "[::1]:443"}},
		{"authority with control bytes", false, []string{":authority", "a\x1b[31m.test"}},
		{"authority with <", false, []string{":authority", "a<b>.test"}},
		{"authority with a bad port", false, []string{":authority", "a.test:8o"}},
		{"host with a tab", false, []string{"host", "a\tb.test"}},
		{"host with a quote", false, []string{"host", `a"b.test`}},
		{"two hosts", false, []string{"host", "a.test", "host", "b.test"}},
		{"two equal hosts", false, []string{"host", "a.test", "host", "a.test"}},
		{"a second host after the one :authority has", false, []string{":authority", "a.test", "host", "a.test", "host", "b.test"}},
	} {
		c := dialRaw(t, s.addr)
		c.buf.Reset()
		fields := tc.fields
		if fields[0] != ":method" {
			fields = append([]string{":method", "GET", ":scheme", "http", ":path", "/"}, fields...)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.buf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		f := c.waitFor("the answer", func(f http2.Frame) bool {
			switch f.(type) {
			case *http2.MetaHeadersFrame, *http2.RSTStreamFrame:
				return f.Header().StreamID == 1
			}
			return false
		})
		rst, reset := f.(*http2.RSTStreamFrame)
		switch {
		case tc.ok && reset:
			t.Errorf("%s: reset with %v", tc.name, rst.ErrCode)
		case !tc.ok && (!reset || rst.ErrCode != http2.ErrCodeProtocol):
			t.Errorf("%s: %v, want RST_STREAM PROTOCOL_ERROR", tc.name, f)
		}
		c.nc.Close()
	}
}

// TestInvalidPath: a :path with white space is a malformed request, reset
// with PROTOCOL_ERROR before a handler sees it, as HTTP/1.1 answers 400 to
// such a target: a proxy would otherwise write the space into the request
// line of the HTTP/1.1 request it makes ("GET /a?x HTTP/1.0 y HTTP/1.1").
// Bytes above 0x7f (obs-text) are served, as net/http's HTTP/2 server and
// nghttp2 serve them.
func TestInvalidPath(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(ex *app.Exchange) { ex.Write(ex.Target()) }, nil)
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/a?x=1&y=%20", true},
		{"/\x80\xff?\xe9", true},
		{"/a b", false},
		{"/a?x HTTP/1.0 y", false},
		{"/a\tb", false},
		{"/a?\x0bb", false},
		{"/a\x7f", false},
	} {
		c := dialRaw(t, s.addr)
		c.request(1, "GET", tc.path, true)
		f := c.waitFor("the answer", func(f http2.Frame) bool {
			switch f.(type) {
			case *http2.MetaHeadersFrame, *http2.RSTStreamFrame:
				return f.Header().StreamID == 1
			}
			return false
		})
		rst, reset := f.(*http2.RSTStreamFrame)
		switch {
		case tc.ok && reset:
			t.Errorf("%q: reset with %v", tc.path, rst.ErrCode)
		case !tc.ok && (!reset || rst.ErrCode != http2.ErrCodeProtocol):
			t.Errorf("%q: %v, want RST_STREAM PROTOCOL_ERROR", tc.path, f)
		}
		c.nc.Close()
	}
}

// TestInvalidFieldValue: a field value with a control byte other than
// horizontal tab, or DEL, is a malformed request, reset with
// PROTOCOL_ERROR before a handler sees it, as net/http's HTTP/2 server
// resets it and HTTP/1.1 answers 400; a tab inside, and bytes above 0x7f
// (obs-text), are served.
func TestInvalidFieldValue(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	s := newTestServer(t, func(ex *app.Exchange) {
		served.Add(1)
		ex.Write(ex.Header("x"))
	}, nil)
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"a\tb", true},
		{"caf\xc3\xa9 \x80\xff", true},
		{"a\x01b", false},
		{"a\x7fb", false},
		{"\x1b[31mred", false},
		{"a\x0bb", false},
	} {
		c := dialRaw(t, s.addr)
		before := served.Load()
		c.request(1, "GET", "/", true, "x", tc.value)
		f := c.waitFor("the answer", func(f http2.Frame) bool {
			switch f.(type) {
			case *http2.MetaHeadersFrame, *http2.RSTStreamFrame:
				return f.Header().StreamID == 1
			}
			return false
		})
		rst, reset := f.(*http2.RSTStreamFrame)
		switch {
		case tc.ok && reset:
			t.Errorf("%q: reset with %v", tc.value, rst.ErrCode)
		case !tc.ok && (!reset || rst.ErrCode != http2.ErrCodeProtocol):
			t.Errorf("%q: %v, want RST_STREAM PROTOCOL_ERROR", tc.value, f)
		case !tc.ok && served.Load() != before:
			t.Errorf("%q: served", tc.value)
		}
		c.nc.Close()
	}
}
