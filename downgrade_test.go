package kestrel

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestRequestTrailerFramingKeys: a request whose Trailer header declares
// Content-Length, Transfer-Encoding or Trailer, which no trailer section
// may carry, gets a Request.Trailer without them, as from net/http's
// HTTP/2 server, over HTTP/1.1 and HTTP/2; they made
// httputil.ReverseProxy answer 502 ("invalid Trailer key") instead of
// forwarding the request.
func TestRequestTrailerFramingKeys(t *testing.T) {
	t.Parallel()
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "backend got "+string(b))
	})
	backAddr := startServer(t, &Server{Handler: back})
	target, _ := url.Parse("http://" + backAddr)
	proxy := httputilReverseProxy(target)
	addr := startServer(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys := make([]string, 0, len(r.Trailer))
		for k := range r.Trailer {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.Header().Set("X-Trailer-Keys", strings.Join(keys, ","))
		proxy.ServeHTTP(w, r)
	})})
	const declared = "content-length, X-T, transfer-encoding, trailer"

	t.Run("HTTP/1.1", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(nc, "POST / HTTP/1.1\r\nHost: x\r\nTrailer: "+declared+"\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "backend got abc" || resp.Header.Get("X-Trailer-Keys") != "X-T" {
			t.Errorf("%d %q, trailer keys %q; want 200 \"backend got abc\", X-T", resp.StatusCode, body, resp.Header.Get("X-Trailer-Keys"))
		}
	})
	t.Run("HTTP/2", func(t *testing.T) {
		c := dialRawH2(t, addr)
		var block bytes.Buffer
		enc := hpack.NewEncoder(&block)
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}, {"trailer", declared}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true})
		c.fr.WriteData(1, false, []byte("abc"))
		block.Reset()
		enc.WriteField(hpack.HeaderField{Name: "x-t", Value: "1"})
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
		dec := hpack.NewDecoder(4096, nil)
		var status, keys, body string
		for done := false; !done; {
			switch f := c.read().(type) {
			case *http2.HeadersFrame:
				fields, err := dec.DecodeFull(f.HeaderBlockFragment())
				if err != nil {
					t.Fatal(err)
				}
				for _, hf := range fields {
					switch hf.Name {
					case ":status":
						status = hf.Value
					case "x-trailer-keys":
						keys = hf.Value
					}
				}
				done = f.StreamEnded()
			case *http2.DataFrame:
				body += string(f.Data())
				done = f.StreamEnded()
			case *http2.RSTStreamFrame:
				t.Fatalf("stream reset: %v", f.ErrCode)
			}
		}
		if status != "200" || body != "backend got abc" || keys != "X-T" {
			t.Errorf("%s %q, trailer keys %q; want 200 \"backend got abc\", X-T", status, body, keys)
		}
	})
}
