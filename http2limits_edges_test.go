package kestrel

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHttp2WindowLimitsRange checks Limits.Http2's window sizes and frame
// size at the edges Kestrel validates: 65,535 to 2^31-1 for the windows,
// 2^14 to 2^24-1 for MaxFrameSize, one under and one over refused with
// the field named.
func TestHttp2WindowLimitsRange(t *testing.T) {
	for _, tc := range []struct {
		limits Http2Limits
		bad    string // the field the error names, or "" when valid
	}{
		{Http2Limits{InitialConnectionWindowSize: 65535}, ""},
		{Http2Limits{InitialConnectionWindowSize: 65534}, "InitialConnectionWindowSize"},
		{Http2Limits{InitialConnectionWindowSize: 1<<31 - 1}, ""},
		{Http2Limits{InitialConnectionWindowSize: 1 << 31}, "InitialConnectionWindowSize"},
		{Http2Limits{InitialStreamWindowSize: 65535}, ""},
		{Http2Limits{InitialStreamWindowSize: 65534}, "InitialStreamWindowSize"},
		{Http2Limits{InitialStreamWindowSize: 1<<31 - 1}, ""},
		{Http2Limits{InitialStreamWindowSize: 1 << 31}, "InitialStreamWindowSize"},
		{Http2Limits{MaxFrameSize: 1 << 14}, ""},
		{Http2Limits{MaxFrameSize: 1<<14 - 1}, "MaxFrameSize"},
		{Http2Limits{MaxFrameSize: 1<<24 - 1}, ""},
		{Http2Limits{MaxFrameSize: 1 << 24}, "MaxFrameSize"},
	} {
		got, err := tc.limits.withDefaults()
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%+v: %v", tc.limits, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%+v: error %v, want one naming %s", tc.limits, err, tc.bad)
		case tc.bad == "" && (got.InitialConnectionWindowSize == 0 || got.InitialStreamWindowSize == 0):
			t.Errorf("%+v: defaults not applied: %+v", tc.limits, got)
		}
	}
}

// TestHTTP2OnlyHTTP1RequestLineLimit: an HTTP/1.1 request on a cleartext
// HTTP/2-only endpoint is answered with Kestrel's readable 400 when its
// request line, CRLF included, fits in MaxRequestLineSize (the configured
// one, not the default), and with the HTTP/2 connection error otherwise,
// as Kestrel's Http2Connection.ParseHttp1x decides.
func TestHTTP2OnlyHTTP1RequestLineLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{100, 16384} {
		s := &Server{Logger: quietLogger, Limits: Limits{MaxRequestLineSize: limit}, Handler: http.NotFoundHandler()}
		if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2}); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		addr := strings.TrimPrefix(s.Addresses()[0], "http://")
		for _, n := range []int{limit - 1, limit, limit + 1} {
			c := dial(t, addr)
			// "GET " + target + " HTTP/1.1\r\n" is n bytes.
			fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", strings.Repeat("p", n-16))
			got, _ := io.ReadAll(c)
			readable := strings.HasPrefix(string(got), "HTTP/1.1 400 Bad Request\r\n")
			if want := n <= limit; readable != want {
				t.Errorf("MaxRequestLineSize %d, a request line of %d bytes: answered with the readable 400: %v, want %v (got %.40q)", limit, n, readable, want, got)
			}
		}
	}
}

// TestHTTP2OneByteResponseBuffer: MaxResponseBufferSize 1 (what the
// configuration file's Kestrel 0 becomes: every write waits until what it
// queued is written) serves large responses on concurrent streams whole.
func TestHTTP2OneByteResponseBuffer(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB
	s := startH2(t, &Server{Limits: Limits{MaxResponseBufferSize: 1}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(body); i += 10000 {
			io.WriteString(w, body[i:min(i+10000, len(body))])
		}
	})})
	c := s.clients(t)[0]
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			req, _ := http.NewRequest("GET", c.base+"/", nil)
			_, got, err := tryH2(c, req)
			if err == nil && got != body {
				err = fmt.Errorf("got %d bytes, want %d", len(got), len(body))
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
