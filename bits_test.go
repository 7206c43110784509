package kestrel

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestContentLengthDigits: a request's Content-Length is read as net/http
// and Kestrel read it, over HTTP/1.1 and HTTP/2: leading zeros past 18
// digits name the same length, math.MaxInt64 is a length (over the body
// size limit: 413), one more is not (400).
func TestContentLengthDigits(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		io.WriteString(w, strconv.FormatInt(r.ContentLength, 10)+" "+string(b))
	})
	h1 := startHandler(t, h)
	h2 := startH2Only(t, h)
	for _, tc := range []struct {
		cl     string
		status int
		body   string
	}{
		{"5", 200, "5 hello"},
		{"0000000000000000005", 200, "5 hello"},
		{"0000000000000000000000000000000005", 200, "5 hello"},
		{"999999999999999999", 413, ""},
		{"9223372036854775807", 413, ""},
		{"9223372036854775808", 400, ""},
	} {
		status, body := postHTTP1(t, h1, tc.cl, "hello")
		if status != tc.status || tc.status == 200 && body != tc.body {
			t.Errorf("HTTP/1.1 Content-Length %s: %d %q, want %d %q", tc.cl, status, body, tc.status, tc.body)
		}
		if tc.status == 400 {
			continue // a malformed HTTP/2 request is a stream error, not a 400
		}
		// Over HTTP/2, a body shorter than its content-length is malformed:
		// the stream stays open for the 413.
		status, body = postHTTP2(t, h2, tc.cl, "hello", tc.status == 200)
		if status != tc.status || tc.status == 200 && body != tc.body {
			t.Errorf("HTTP/2 Content-Length %s: %d %q, want %d %q", tc.cl, status, body, tc.status, tc.body)
		}
	}
}

// postHTTP1 sends a POST with the Content-Length cl and body on a
// connection of its own, and returns the response's status and body.
func postHTTP1(t *testing.T, addr, cl, body string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "+cl+"\r\n\r\n"+body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("Content-Length %s: %v", cl, err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postHTTP2 sends a POST with the content-length cl and body on stream 1
// of a connection of its own, ending the stream if end, and returns the
// response's status and body.
func postHTTP2(t *testing.T, addr, cl, body string, end bool) (int, string) {
	t.Helper()
	c := dialRawH2(t, addr)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "localhost"}, {":path", "/"}, {"content-length", cl}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true})
	c.fr.WriteData(1, end, []byte(body))
	status, out := 0, ""
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status, _ = strconv.Atoi(f.Value)
		}
	})
	for {
		switch f := c.read().(type) {
		case *http2.HeadersFrame:
			dec.Write(f.HeaderBlockFragment())
			if f.StreamEnded() {
				return status, out
			}
		case *http2.DataFrame:
			out += string(f.Data())
			if f.StreamEnded() {
				return status, out
			}
		case *http2.RSTStreamFrame:
			return status, out
		case *http2.GoAwayFrame:
			t.Fatalf("Content-Length %s: GOAWAY %v", cl, f.ErrCode)
		}
	}
}

// TestHTTP2MaxStreamsPastInt32: MaxStreamsPerConnection takes any uint32.
// At 2^31 and above, a 32-bit int made the limit negative (every stream
// refused) and the reset allowance, twice the limit, wrapped to 0 (the
// first stream a client reset closed the connection as a rapid reset).
func TestHTTP2MaxStreamsPastInt32(t *testing.T) {
	t.Parallel()
	for _, max := range []uint32{1 << 31, math.MaxUint32} {
		release := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/wait" {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
			io.WriteString(w, "ok")
		})
		s := &Server{Handler: h, Logger: quietLogger, Limits: Limits{Http2: Http2Limits{MaxStreamsPerConnection: max}}}
		addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2})
		c := dialRawH2(t, addr)
		if got := c.settings[http2.SettingMaxConcurrentStreams]; got != max {
			t.Errorf("MaxStreamsPerConnection %d: SETTINGS_MAX_CONCURRENT_STREAMS %d", max, got)
		}
		c.get(1, "/wait")
		c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		c.get(3, "/")
		for done := false; !done; {
			switch f := c.read().(type) {
			case *http2.DataFrame:
				done = f.StreamID == 3 && f.StreamEnded()
			case *http2.RSTStreamFrame:
				if f.StreamID == 3 {
					t.Fatalf("MaxStreamsPerConnection %d: stream 3 reset with %v", max, f.ErrCode)
				}
			case *http2.GoAwayFrame:
				t.Fatalf("MaxStreamsPerConnection %d: GOAWAY %v after one reset stream", max, f.ErrCode)
			}
		}
		close(release)
	}
}
