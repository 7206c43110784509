package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// TestDemoEchoDecompresses: the command's POST /echo decodes compressed
// request bodies (package requestdecompression), holds the decoded bytes
// to the request's limit (?maxBodySize), and refuses codings it does not
// know.
func TestDemoEchoDecompresses(t *testing.T) {
	base := start(t, []string{"--urls", "http://127.0.0.1:0"}, nil)
	text := strings.Repeat("compressed on the way in, plain on the way out. ", 2000)
	var gz, br bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, text)
	zw.Close()
	bw := brotli.NewWriter(&br)
	bw.Write(make([]byte, 10<<20)) // 10 MiB of zeros in a few hundred bytes
	bw.Close()
	post := func(target, coding string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+target, bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Content-Encoding", coding)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/echo", "gzip", gz.Bytes()); code != 200 || body != text {
		t.Errorf("POST /echo with %d gzip bytes: %d, %d bytes back; want 200 and the %d bytes decoded", gz.Len(), code, len(body), len(text))
	}
	if code, body := post("/echo?maxBodySize=1000000", "br", br.Bytes()); code != 413 || !strings.Contains(body, "more than 1000000 bytes") {
		t.Errorf("POST /echo?maxBodySize=1000000 with a brotli bomb of %d bytes: %d %q; want 413", br.Len(), code, body)
	}
	if code, _ := post("/echo", "xz", []byte("data")); code != 415 {
		t.Errorf("POST /echo with Content-Encoding xz: %d, want 415", code)
	}
}
