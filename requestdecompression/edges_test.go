package requestdecompression_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/requestdecompression"
)

// edgeLimit is the server's MaxRequestBodySize in TestLimitEdges.
const edgeLimit = 128 << 10

// startEdgeServer starts a kestrel.Server (HTTP/1.1 and h2c) with a
// MaxRequestBodySize of edgeLimit and the decompression handler before
// one that answers with the number of bytes it read, or the error.
func startEdgeServer(t *testing.T) string {
	t.Helper()
	app := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "handler: "+err.Error(), 500)
			return
		}
		io.WriteString(w, strconv.FormatInt(n, 10))
	}), requestdecompression.Options{})
	srv := &kestrel.Server{Handler: app, Limits: kestrel.Limits{MaxRequestBodySize: edgeLimit}, Logger: slog.New(slog.DiscardHandler)}
	return strings.TrimPrefix(serve(t, srv, kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP1AndHTTP2}), "http://")
}

// serve starts srv with the endpoint ep, closes it when the test ends and
// returns its address (with the scheme).
func serve(t *testing.T, srv *kestrel.Server, ep kestrel.Endpoint) string {
	t.Helper()
	if err := srv.ListenEndpoint(ep); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addresses()[0]
}

// TestLimitEdges: a body that decodes to exactly the server's
// MaxRequestBodySize is read whole and one more byte is refused with 413,
// whatever carries it: Content-Length, chunked with Expect:
// 100-continue, HTTP/2 with flow control (the compressed body larger than
// a stream's window), and through
// httputil.ReverseProxy.
func TestLimitEdges(t *testing.T) {
	addr := startEdgeServer(t)
	// Half random, so that the compressed body (about 70 KB) is more
	// than a stream's window, under the limit it decodes to.
	exact := sample(edgeLimit)
	rand.Read(exact[:edgeLimit/2])
	over := append(append([]byte(nil), exact...), 'x')
	type result struct {
		status int
		body   string
	}
	want := map[int]result{
		len(exact): {200, strconv.Itoa(edgeLimit)},
		len(over):  {413, fmt.Sprintf("The request body decompresses to more than %d bytes.\n", edgeLimit)},
	}
	check := func(t *testing.T, name string, n int, status int, body string) {
		t.Helper()
		if w := want[n]; status != w.status || body != w.body {
			t.Errorf("%s, %d bytes decoded: %d %q, want %d %q", name, n, status, body, w.status, w.body)
		}
	}
	do := func(t *testing.T, rt http.RoundTripper, base string, data []byte, coding string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/", bytes.NewReader(compress(t, coding, data)))
		req.Header.Set("Content-Encoding", coding)
		resp, err := (&http.Client{Transport: rt, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("Content-Length", func(t *testing.T) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		for _, coding := range []string{"gzip", "deflate", "zstd"} {
			for _, data := range [][]byte{exact, over} {
				status, body := do(t, tr, "http://"+addr, data, coding)
				check(t, coding, len(data), status, body)
			}
		}
	})

	t.Run("chunked with Expect 100-continue", func(t *testing.T) {
		for _, data := range [][]byte{exact, over} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
				t.Fatalf("before the body: %q, %v; want 100 Continue", line, err)
			}
			if l, err := br.ReadString('\n'); err != nil || l != "\r\n" {
				t.Fatalf("after 100 Continue: %q, %v", l, err)
			}
			z := compress(t, "gzip", data)
			go func() {
				for len(z) > 0 {
					n := min(len(z), 10000)
					if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", n, z[:n]); err != nil {
						return // the server answered 413 and closed
					}
					z = z[n:]
				}
				io.WriteString(c, "0\r\n\r\n")
			}()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check(t, "chunked", len(data), resp.StatusCode, string(b))
		}
	})

	t.Run("h2c", func(t *testing.T) {
		// net/http's HTTP/2 (x/net's, bundled) with prior knowledge.
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		defer tr.CloseIdleConnections()
		for _, coding := range []string{"gzip", "zstd"} {
			for _, data := range [][]byte{exact, over} {
				status, body := do(t, tr, "http://"+addr, data, coding)
				check(t, "h2c "+coding, len(data), status, body)
			}
		}
	})

	t.Run("ReverseProxy", func(t *testing.T) {
		target, _ := url.Parse("http://" + addr)
		proxy := &kestrel.Server{Handler: httputil.NewSingleHostReverseProxy(target), Logger: slog.New(slog.DiscardHandler)}
		proxyAddr := serve(t, proxy, kestrel.Endpoint{Address: "127.0.0.1:0"})
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		for _, data := range [][]byte{exact, over} {
			status, body := do(t, tr, proxyAddr, data, "gzip")
			check(t, "through ReverseProxy", len(data), status, body)
		}
	})

	t.Run("before ReverseProxy", func(t *testing.T) {
		// The decoded body goes on, chunked, to a backend without
		// decompression; the proxy's server has the limit.
		backend := &kestrel.Server{Logger: slog.New(slog.DiscardHandler), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil || r.Header.Get("Content-Encoding") != "" {
				http.Error(w, fmt.Sprintf("backend: %v, Content-Encoding %q", err, r.Header.Get("Content-Encoding")), 500)
				return
			}
			io.WriteString(w, strconv.FormatInt(n, 10))
		})}
		backendAddr := serve(t, backend, kestrel.Endpoint{Address: "127.0.0.1:0"})
		target, _ := url.Parse(backendAddr)
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.ErrorLog = log.New(io.Discard, "", 0)
		proxy := &kestrel.Server{Handler: requestdecompression.Handler(rp, requestdecompression.Options{}),
			Limits: kestrel.Limits{MaxRequestBodySize: edgeLimit}, Logger: slog.New(slog.DiscardHandler)}
		proxyAddr := serve(t, proxy, kestrel.Endpoint{Address: "127.0.0.1:0"})
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		for _, data := range [][]byte{exact, over} {
			status, body := do(t, tr, proxyAddr, data, "gzip")
			check(t, "decoded, then ReverseProxy", len(data), status, body)
		}
	})
}
