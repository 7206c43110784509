package kestrel

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/kestrel-go/kestrel/staticfiles"
)

// TestStaticFilesEveryProtocol serves package staticfiles over HTTP/1.1
// (plain and TLS), h2c, h2 and HTTP/3: a whole file larger than the
// engine copies, a range of it, a conditional request, a precompressed
// sibling and a HEAD, each byte for byte.
func TestStaticFilesEveryProtocol(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := make([]byte, 300<<10+17)
	rand.Read(data)
	text := bytes.Repeat([]byte("static text, compressed once on disk\n"), 2000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text)
	zw.Close()
	for name, b := range map[string][]byte{"big.bin": data, "app.js": text, "app.js.gz": gz.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := staticfiles.New(dir, staticfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, secure := h3Server(t, &Server{Handler: h}, HTTP1AndHTTP2AndHTTP3)
	plain := startServer(t, &Server{Handler: h})
	for _, c := range everyProtocol(t, plain, secure) {
		do := func(method, path string, hdr ...string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(method, c.base+path, nil)
			for i := 0; i < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := c.client.Do(req)
			if err != nil {
				t.Fatalf("%s %s %s: %v", c.name, method, path, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s %s %s: reading the body: %v", c.name, method, path, err)
			}
			if resp.ProtoMajor != c.major {
				t.Fatalf("%s: answered over %s", c.name, resp.Proto)
			}
			return resp, b
		}
		resp, b := do("GET", "/big.bin")
		if resp.StatusCode != 200 || !bytes.Equal(b, data) || resp.ContentLength != int64(len(data)) {
			t.Errorf("%s: whole file: %d, %d bytes (Content-Length %d), want %d", c.name, resp.StatusCode, len(b), resp.ContentLength, len(data))
		}
		etag := resp.Header.Get("ETag")
		if resp, b := do("GET", "/big.bin", "Range", "bytes=1000-200000"); resp.StatusCode != 206 || !bytes.Equal(b, data[1000:200001]) {
			t.Errorf("%s: range: %d, %d bytes", c.name, resp.StatusCode, len(b))
		}
		if resp, b := do("GET", "/big.bin", "If-None-Match", etag); resp.StatusCode != 304 || len(b) != 0 {
			t.Errorf("%s: If-None-Match %s: %d, %d bytes", c.name, etag, resp.StatusCode, len(b))
		}
		if resp, b := do("HEAD", "/big.bin"); resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != int64(len(data)) {
			t.Errorf("%s: HEAD: %d, %d bytes, Content-Length %d", c.name, resp.StatusCode, len(b), resp.ContentLength)
		}
		// Go's clients ask for gzip and decompress it themselves.
		if resp, b := do("GET", "/app.js"); resp.StatusCode != 200 || !bytes.Equal(b, text) || !resp.Uncompressed {
			t.Errorf("%s: precompressed sibling: %d, %d bytes, uncompressed by the client %v", c.name, resp.StatusCode, len(b), resp.Uncompressed)
		}
	}
}

// protocolClient is a Go client speaking one protocol to a server.
type protocolClient struct {
	name   string
	client *http.Client
	base   string // the server's URL for this protocol
	major  int    // the protocol's major version, as responses report it
}

// everyProtocol returns Go clients for every protocol this server speaks:
// HTTP/1.1 and h2c to plain (a cleartext endpoint's host:port), HTTP/1.1
// over TLS, h2 and HTTP/3 to secure (an h3Server's).
func everyProtocol(t *testing.T, plain, secure string) []protocolClient {
	h1 := &http.Transport{}
	h1tls := &http.Transport{TLSClientConfig: testClientTLS(t)}
	h2tls := &http.Transport{TLSClientConfig: testClientTLS(t), ForceAttemptHTTP2: true}
	for _, tr := range []*http.Transport{h1, h1tls, h2tls} {
		t.Cleanup(tr.CloseIdleConnections)
	}
	return []protocolClient{
		{"HTTP/1.1", &http.Client{Transport: h1}, "http://" + plain, 1},
		{"HTTP/1.1 over TLS", &http.Client{Transport: h1tls}, "https://" + secure, 1},
		{"h2c", h2cClient(t), "http://" + plain, 2},
		{"h2", &http.Client{Transport: h2tls}, "https://" + secure, 2},
		{"HTTP/3", h3Client(t), "https://" + secure, 3},
	}
}
