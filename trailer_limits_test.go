package kestrel

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestRequestTrailerLimits sends request trailers exactly at, and one over,
// MaxRequestHeadersTotalSize and MaxRequestHeaderCount over HTTP/1.1
// (chunked), h2 and HTTP/3: at the limit the handler gets every trailer;
// over it, the handler's read of the body's end fails and the client gets
// 431, never a request with part of its trailers. Over HTTP/1.1 the size
// counts each line with its CRLF but not the empty line that ends the
// section, as Kestrel counts, and the head's fields are held to the same
// rule; over HTTP/2 and HTTP/3 a field counts its name, value and 32.
func TestRequestTrailerLimits(t *testing.T) {
	t.Parallel()
	const limit, count = 1000, 10
	s := &Server{
		Limits: Limits{MaxRequestHeadersTotalSize: limit, MaxRequestHeaderCount: count},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return // the server answers the read's error
			}
			fmt.Fprintf(w, "%s %d trailers", body, len(r.Trailer))
		}),
	}
	addr := startServer(t, s) // HTTP/1.1 and h2c
	s3 := &Server{Limits: s.Limits, Handler: s.Handler}
	_, addr3 := h3Server(t, s3, HTTP1AndHTTP2AndHTTP3)

	// pad returns a trailer section of n fields (the last one padded)
	// whose size is size by the protocol's count.
	pad := func(n, size int, http1 bool) [][2]string {
		var fields [][2]string
		used := 0
		for i := range n - 1 {
			name, value := fmt.Sprintf("X-T%d", i), "v"
			fields = append(fields, [2]string{name, value})
			if http1 {
				used += len(name) + 2 + len(value) + 2 // "Name: value\r\n"
			} else {
				used += len(name) + len(value) + 32
			}
		}
		name := "X-Pad"
		if http1 {
			return append(fields, [2]string{name, strings.Repeat("a", size-used-len(name)-4)})
		}
		return append(fields, [2]string{name, strings.Repeat("a", size-used-len(name)-32)})
	}

	h3 := h3Client(t)
	send := func(t *testing.T, proto string, trailers [][2]string) (int, string) {
		switch proto {
		case "HTTP/1.1":
			return sendChunkedWithTrailers(t, addr, trailers)
		case "HTTP/2":
			// A raw client: Go's refuses to send trailers over the limit
			// the server advertises.
			return dialRawH2(t, addr).postWithTrailers(1, "hello", trailers)
		}
		req, _ := http.NewRequest("POST", "https://"+addr3+"/", io.MultiReader(strings.NewReader("hello")))
		req.Trailer = http.Header{}
		for _, f := range trailers {
			req.Trailer[f[0]] = []string{f[1]}
		}
		resp, err := h3.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	for _, proto := range []string{"HTTP/1.1", "HTTP/2", "HTTP/3"} {
		http1 := proto == "HTTP/1.1"
		for _, tc := range []struct {
			name     string
			trailers [][2]string
			status   int
		}{
			{"size at the limit", pad(4, limit, http1), 200},
			{"size one over", pad(4, limit+1, http1), 431},
			{"count at the limit", pad(count, 600, http1), 200},
			{"count one over", pad(count+1, 600, http1), 431},
		} {
			t.Run(proto+", "+tc.name, func(t *testing.T) {
				status, body := send(t, proto, tc.trailers)
				want := fmt.Sprintf("hello %d trailers", len(tc.trailers))
				if status != tc.status || status == 200 && body != want {
					t.Fatalf("%d %q, want %d (%q)", status, body, tc.status, want)
				}
			})
		}
	}

	// The head's fields over HTTP/1.1: lines of exactly the limit, CRLFs
	// included, are served; one byte more is 431.
	for _, tc := range []struct {
		size, status int
	}{{limit, 200}, {limit + 1, 431}} {
		fields := "Host: x\r\nConnection: close\r\nX-Pad: \r\n"
		head := "GET / HTTP/1.1\r\n" + strings.Replace(fields, "X-Pad: ", "X-Pad: "+strings.Repeat("a", tc.size-len(fields)), 1) + "\r\n"
		if status := rawStatus(t, addr, head); status != tc.status {
			t.Errorf("HTTP/1.1 head fields of %d bytes: %d, want %d", tc.size, status, tc.status)
		}
	}
}

// sendChunkedWithTrailers posts "hello" over HTTP/1.1 in one chunk,
// then the trailers, and returns the response's status and body.
func sendChunkedWithTrailers(t *testing.T, addr string, trailers [][2]string) (int, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n")
	for _, f := range trailers {
		b.WriteString(f[0] + ": " + f[1] + "\r\n")
	}
	b.WriteString("\r\n")
	resp := rawExchange(t, addr, b.String())
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// rawStatus sends a request head over HTTP/1.1 and returns the
// response's status.
func rawStatus(t *testing.T, addr, head string) int {
	t.Helper()
	resp := rawExchange(t, addr, head)
	resp.Body.Close()
	return resp.StatusCode
}

func rawExchange(t *testing.T, addr, request string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// postWithTrailers posts body on stream id with a trailer section, and
// returns the response's status and body.
func (c *rawH2) postWithTrailers(id uint32, body string, trailers [][2]string) (int, string) {
	c.t.Helper()
	block := func(fields [][2]string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for _, f := range fields {
			enc.WriteField(hpack.HeaderField{Name: strings.ToLower(f[0]), Value: f[1]})
		}
		return b.Bytes()
	}
	head := [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "localhost"}, {":path", "/"}}
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(head), EndHeaders: true})
	c.fr.WriteData(id, false, []byte(body))
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(trailers), EndStream: true, EndHeaders: true})
	dec := hpack.NewDecoder(4096, nil)
	status, got := 0, ""
	for {
		switch f := c.read().(type) {
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				c.t.Fatal(err)
			}
			for _, hf := range fields {
				if hf.Name == ":status" && status == 0 {
					status, _ = strconv.Atoi(hf.Value)
				}
			}
			if f.StreamEnded() {
				return status, got
			}
		case *http2.DataFrame:
			got += string(f.Data())
			if f.StreamEnded() {
				return status, got
			}
		case *http2.RSTStreamFrame:
			c.t.Fatalf("RST_STREAM %v", f.ErrCode)
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
}

// TestLongLinesAfterLargestHead: a chunked request whose head is as large
// as MaxRequestLineSize and MaxRequestHeadersTotalSize allow still gets
// its longest allowed lines after it, a trailer field of the whole
// trailer limit and a chunk-size line of the 4,096 bytes allowed,
// rather than a 400 because the read buffer that holds the head had no
// room left for them.
func TestLongLinesAfterLargestHead(t *testing.T) {
	t.Parallel()
	const lineLimit, limit = 100, 10000
	s := &Server{
		Limits: Limits{MaxRequestLineSize: lineLimit, MaxRequestHeadersTotalSize: limit},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return // the server answers the read's error
			}
			fmt.Fprintf(w, "%s %d", body, len(r.Trailer.Get("X-T")))
		}),
	}
	addr := startServer(t, s)
	// The request line, CRLF included, is lineLimit bytes; the fields,
	// CRLFs included, limit bytes.
	line := "POST /" + strings.Repeat("p", lineLimit-len("POST / HTTP/1.1\r\n")) + " HTTP/1.1\r\n"
	fields := "Host: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nX-Pad: \r\n"
	fields = strings.Replace(fields, "X-Pad: ", "X-Pad: "+strings.Repeat("a", limit-len(fields)), 1)
	head := line + fields + "\r\n"
	trailer := "X-T: " + strings.Repeat("t", limit-len("X-T: \r\n")) + "\r\n"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"a trailer field at the trailer limit", "5\r\nhello\r\n0\r\n" + trailer + "\r\n", fmt.Sprintf("hello %d", limit-len("X-T: \r\n"))},
		{"a chunk-size line of 4,096 bytes, the most allowed", "5;e=" + strings.Repeat("x", 4092) + "\r\nhello\r\n0\r\n\r\n", "hello 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := rawExchange(t, addr, head+tc.body)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != tc.want {
				t.Errorf("%d %q, want 200 %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}
