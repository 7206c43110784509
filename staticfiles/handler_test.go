package staticfiles_test

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/staticfiles"
)

// serve starts a kestrel server on a free port serving dir and returns
// its base URL.
func serve(t *testing.T, dir string, opts staticfiles.Options) string {
	t.Helper()
	h, err := staticfiles.New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &kestrel.Server{Handler: h}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		h.Close()
	})
	return s.Addresses()[0]
}

// client neither decompresses nor follows redirects, so that tests see
// what the server sent.
var client = &http.Client{
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request with header pairs and returns the response and body.
func do(t *testing.T, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// write creates a file (and its folders) under dir.
func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// text is compressible content of n bytes.
func text(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox jumps over the lazy dog\n", i)
	}
	return b.String()[:n]
}

func wantHeader(t *testing.T, resp *http.Response, name, want string) {
	t.Helper()
	if got := resp.Header.Get(name); got != want {
		t.Errorf("%s %s: %s = %q, want %q", resp.Request.Method, resp.Request.URL.Path, name, got, want)
	}
}

func TestServeFile(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "hello.txt", "Hello, files!")
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(p, mod, mod)
	write(t, dir, "data.json", `{"a":1}`)
	write(t, dir, "noext", "x")
	base := serve(t, dir, staticfiles.Options{})

	resp, body := do(t, "GET", base+"/hello.txt")
	if resp.StatusCode != 200 || body != "Hello, files!" {
		t.Fatalf("GET /hello.txt = %d %q", resp.StatusCode, body)
	}
	wantHeader(t, resp, "Content-Type", "text/plain; charset=utf-8")
	wantHeader(t, resp, "Content-Length", "13")
	wantHeader(t, resp, "Last-Modified", "Fri, 02 Jan 2026 03:04:05 GMT")
	wantHeader(t, resp, "X-Content-Type-Options", "nosniff")
	wantHeader(t, resp, "Accept-Ranges", "bytes")
	wantHeader(t, resp, "Cache-Control", "no-cache")
	etag := resp.Header.Get("ETag")
	if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Errorf("ETag %q is not a strong entity tag", etag)
	}
	if resp.Header.Get("Vary") != "" {
		t.Errorf("Vary %q on a file too small to compress", resp.Header.Get("Vary"))
	}

	head, body := do(t, "HEAD", base+"/hello.txt")
	if head.StatusCode != 200 || body != "" || head.Header.Get("Content-Length") != "13" || head.Header.Get("ETag") != etag {
		t.Errorf("HEAD = %d %q, headers %v", head.StatusCode, body, head.Header)
	}
	resp, _ = do(t, "GET", base+"/data.json")
	wantHeader(t, resp, "Content-Type", "application/json")
	resp, _ = do(t, "GET", base+"/noext")
	wantHeader(t, resp, "Content-Type", "application/octet-stream")

	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
		resp, _ := do(t, m, base+"/hello.txt")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q; want 405 with GET, HEAD", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if resp, _ := do(t, "GET", base+"/missing.txt"); resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", base+"/hello.txt/"); resp.StatusCode != 404 {
		t.Errorf("file with a trailing slash: %d, want 404", resp.StatusCode)
	}
}

func TestConditionalRequests(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "a.txt", "some content")
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(p, mod, mod)
	base := serve(t, dir, staticfiles.Options{})
	resp, _ := do(t, "GET", base+"/a.txt")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	earlier := mod.Add(-time.Minute).Format(http.TimeFormat)

	for _, tc := range []struct {
		header []string
		want   int
	}{
		{[]string{"If-None-Match", etag}, 304},
		{[]string{"If-None-Match", "W/" + etag}, 304},
		{[]string{"If-None-Match", `"other", ` + etag}, 304},
		{[]string{"If-None-Match", `"other"`}, 200},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", earlier}, 200},
		{[]string{"If-None-Match", `"other"`, "If-Modified-Since", lm}, 200},
		{[]string{"If-Match", etag}, 200},
		{[]string{"If-Match", `"other"`}, 412},
		{[]string{"If-Match", "W/" + etag}, 412},
		{[]string{"If-Unmodified-Since", lm}, 200},
		{[]string{"If-Unmodified-Since", earlier}, 412},
	} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := do(t, method, base+"/a.txt", tc.header...)
			if resp.StatusCode != tc.want {
				t.Errorf("%s %q: %d, want %d", method, tc.header, resp.StatusCode, tc.want)
			}
			if resp.StatusCode == 304 {
				if body != "" || resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") == "" || resp.Header.Get("Content-Type") != "" {
					t.Errorf("304: body %q, headers %v", body, resp.Header)
				}
			}
		}
	}
}

// TestEmptyConditionalLists: an If-Match or If-None-Match with no entity
// tag (empty, or only commas and spaces, as a proxy joining fields may
// send) is no condition, as net/http and ASP.NET Core read it: it neither
// fails with 412 nor hides If-Unmodified-Since or If-Modified-Since.
func TestEmptyConditionalLists(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "a.txt", "some content")
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(p, mod, mod)
	base := serve(t, dir, staticfiles.Options{})
	lm := mod.Format(http.TimeFormat)
	earlier := mod.Add(-time.Minute).Format(http.TimeFormat)
	for _, tc := range []struct {
		header []string
		want   int
	}{
		{[]string{"If-Match", ""}, 200},
		{[]string{"If-Match", " , ,"}, 200},
		{[]string{"If-Match", "", "If-Unmodified-Since", earlier}, 412},
		{[]string{"If-Match", "", "If-Unmodified-Since", lm}, 200},
		{[]string{"If-None-Match", ""}, 200},
		{[]string{"If-None-Match", ","}, 200},
		{[]string{"If-None-Match", "", "If-Modified-Since", lm}, 304},
		{[]string{"If-None-Match", "", "If-Modified-Since", earlier}, 200},
		{[]string{"If-None-Match", "", "If-None-Match", `"other"`, "If-Modified-Since", lm}, 200},
	} {
		for _, method := range []string{"GET", "HEAD"} {
			if resp, _ := do(t, method, base+"/a.txt", tc.header...); resp.StatusCode != tc.want {
				t.Errorf("%s %q: %d, want %d", method, tc.header, resp.StatusCode, tc.want)
			}
		}
	}
}

func TestRanges(t *testing.T) {
	dir := t.TempDir()
	content := "0123456789abcdefghij"
	write(t, dir, "r.txt", content)
	base := serve(t, dir, staticfiles.Options{})
	resp, _ := do(t, "GET", base+"/r.txt")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")

	for _, tc := range []struct {
		header       []string
		status       int
		body, crange string
	}{
		{[]string{"Range", "bytes=2-4"}, 206, "234", "bytes 2-4/20"},
		{[]string{"Range", "bytes=15-"}, 206, "fghij", "bytes 15-19/20"},
		{[]string{"Range", "bytes=-3"}, 206, "hij", "bytes 17-19/20"},
		{[]string{"Range", "bytes=0-999"}, 206, content, "bytes 0-19/20"},
		{[]string{"Range", "bytes=20-"}, 416, "", "bytes */20"},
		{[]string{"Range", "bytes=5-2"}, 416, "", "bytes */20"},
		{[]string{"Range", "lines=1-2"}, 200, content, ""},
		{[]string{"Range", ""}, 200, content, ""}, // an empty Range is no range, as net/http has it
		{[]string{"Range", "bytes=2-4", "If-Range", etag}, 206, "234", "bytes 2-4/20"},
		{[]string{"Range", "bytes=2-4", "If-Range", lm}, 206, "234", "bytes 2-4/20"},
		{[]string{"Range", "bytes=2-4", "If-Range", `"stale"`}, 200, content, ""},
		{[]string{"Range", "bytes=2-4", "If-Range", "Thu, 01 Jan 2015 00:00:00 GMT"}, 200, content, ""},
		{[]string{"Range", "bytes=2-4", "If-None-Match", etag}, 304, "", ""},
		{[]string{"Range", "bytes=2-4", "If-Match", `"x"`}, 412, "", ""},
	} {
		resp, body := do(t, "GET", base+"/r.txt", tc.header...)
		if resp.StatusCode != tc.status || tc.status != 416 && body != tc.body || resp.Header.Get("Content-Range") != tc.crange {
			t.Errorf("%q: %d %q Content-Range %q; want %d %q %q", tc.header, resp.StatusCode, body, resp.Header.Get("Content-Range"), tc.status, tc.body, tc.crange)
		}
	}
	// HEAD ignores Range (RFC 9110 section 14.2).
	if resp, _ := do(t, "HEAD", base+"/r.txt", "Range", "bytes=2-4"); resp.StatusCode != 200 {
		t.Errorf("HEAD with Range: %d", resp.StatusCode)
	}

	// Several ranges: multipart/byteranges whose Content-Length is exact.
	resp, body := do(t, "GET", base+"/r.txt", "Range", "bytes=0-1, 10-12, -2")
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("multiple ranges: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Range")+"="+string(b)+" "+p.Header.Get("Content-Type"))
	}
	want := []string{"bytes 0-1/20=01 text/plain; charset=utf-8", "bytes 10-12/20=abc text/plain; charset=utf-8", "bytes 18-19/20=ij text/plain; charset=utf-8"}
	if strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Errorf("parts %q, want %q", parts, want)
	}
	// Overlapping ranges that add up to more than the file: the whole file.
	if resp, body := do(t, "GET", base+"/r.txt", "Range", "bytes=0-15,5-19"); resp.StatusCode != 200 || body != content {
		t.Errorf("overlapping ranges: %d %q", resp.StatusCode, body)
	}
}

// compressWith compresses s with a coding, as a precompressing build step
// would.
func compressWith(t *testing.T, coding, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&b)
	case "br":
		w = brotli.NewWriterLevel(&b, 11)
	case "zstd":
		w, _ = zstd.NewWriter(&b)
	}
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// decode undoes a Content-Encoding.
func decode(t *testing.T, coding, body string) string {
	t.Helper()
	var r io.Reader
	var err error
	switch coding {
	case "gzip":
		r, err = gzip.NewReader(strings.NewReader(body))
	case "br":
		r = brotli.NewReader(strings.NewReader(body))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(strings.NewReader(body), zstd.WithDecoderMaxWindow(8<<20))
		if err == nil {
			defer d.Close()
		}
		r = d
	case "":
		return body
	default:
		t.Fatalf("unexpected Content-Encoding %q", coding)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	return string(b)
}

func TestPrecompressedSiblings(t *testing.T) {
	dir := t.TempDir()
	js := text(5000)
	write(t, dir, "app.js", js)
	siblings := map[string][]byte{}
	for coding, ext := range map[string]string{"br": ".br", "gzip": ".gz", "zstd": ".zst"} {
		siblings[coding] = compressWith(t, coding, js)
		os.WriteFile(filepath.Join(dir, "app.js"+ext), siblings[coding], 0o644)
	}
	// A stale sibling (older than its file) is never served.
	p := write(t, dir, "old.css", text(3000))
	os.WriteFile(p+".gz", []byte("stale bytes"), 0o644)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(p+".gz", past, past)
	base := serve(t, dir, staticfiles.Options{DisableCompression: true})

	etags := map[string]bool{}
	for _, tc := range []struct{ ae, want string }{
		{"gzip, deflate, br, zstd", "br"},
		{"gzip, zstd", "zstd"},
		{"gzip", "gzip"},
		{"gzip;q=0.5, zstd;q=0.9, br;q=0.1", "zstd"},
		{"br;q=0, *", "zstd"},
		{"identity", ""},
		{"", ""},
		{"deflate", ""},
	} {
		resp, body := do(t, "GET", base+"/app.js", "Accept-Encoding", tc.ae)
		wantHeader(t, resp, "Content-Encoding", tc.want)
		wantHeader(t, resp, "Vary", "Accept-Encoding")
		wantHeader(t, resp, "Content-Type", "text/javascript; charset=utf-8")
		if tc.want != "" && body != string(siblings[tc.want]) {
			t.Errorf("Accept-Encoding %q: the body is not the %s sibling", tc.ae, tc.want)
		}
		if decode(t, tc.want, body) != js {
			t.Errorf("Accept-Encoding %q: wrong content", tc.ae)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("Accept-Encoding %q: Content-Length %d for %d bytes", tc.ae, resp.ContentLength, len(body))
		}
		etags[tc.want+resp.Header.Get("ETag")] = true
		// Each representation revalidates with its own ETag.
		if r, _ := do(t, "GET", base+"/app.js", "Accept-Encoding", tc.ae, "If-None-Match", resp.Header.Get("ETag")); r.StatusCode != 304 || r.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: revalidation %d Vary %q", tc.ae, r.StatusCode, r.Header.Get("Vary"))
		}
	}
	if len(etags) != 4 {
		t.Errorf("want 4 distinct ETags (identity, br, zstd, gzip), got %v", etags)
	}
	// Ranges come from the file itself.
	resp, body := do(t, "GET", base+"/app.js", "Accept-Encoding", "br", "Range", "bytes=0-9")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Encoding") != "" || body != js[:10] {
		t.Errorf("range with Accept-Encoding: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
	resp, body = do(t, "GET", base+"/old.css", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "" || strings.Contains(body, "stale") {
		t.Errorf("a stale sibling was served: %q", resp.Header.Get("Content-Encoding"))
	}
	// The sibling by its own name is a gzip file.
	resp, _ = do(t, "GET", base+"/app.js.gz")
	wantHeader(t, resp, "Content-Type", "application/gzip")
	wantHeader(t, resp, "Content-Encoding", "")
}

func TestCompressionOnTheFly(t *testing.T) {
	dir := t.TempDir()
	css := text(20000)
	write(t, dir, "site.css", css)
	write(t, dir, "tiny.css", "body{}")
	png := string(compressWith(t, "gzip", css)) // incompressible bytes
	write(t, dir, "logo.png", png)
	base := serve(t, dir, staticfiles.Options{})

	for _, coding := range []string{"br", "zstd", "gzip"} {
		for i := range 2 { // made, then from memory
			resp, body := do(t, "GET", base+"/site.css", "Accept-Encoding", coding)
			wantHeader(t, resp, "Content-Encoding", coding)
			wantHeader(t, resp, "Vary", "Accept-Encoding")
			if decode(t, coding, body) != css {
				t.Errorf("%s (request %d): wrong content", coding, i)
			}
			if resp.ContentLength != int64(len(body)) || len(body) >= len(css)/2 {
				t.Errorf("%s: Content-Length %d, %d bytes for %d", coding, resp.ContentLength, len(body), len(css))
			}
			// Weak: the bytes depend on the level (kept copy or stream)
			// and the compressor, as nginx's ETag on the fly is.
			if et := resp.Header.Get("ETag"); !strings.HasPrefix(et, `W/"`) || !strings.HasSuffix(et, "-"+coding+`"`) {
				t.Errorf("%s: ETag %q, want a weak one ending in -%s", coding, et, coding)
			}
			// A weak ETag still validates the representation.
			if resp, _ := do(t, "GET", base+"/site.css", "Accept-Encoding", coding, "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
				t.Errorf("%s: If-None-Match with its ETag: %d, want 304", coding, resp.StatusCode)
			}
		}
	}
	for _, name := range []string{"/tiny.css", "/logo.png"} {
		resp, _ := do(t, "GET", base+name, "Accept-Encoding", "gzip, br, zstd")
		if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Vary") != "" {
			t.Errorf("%s: Content-Encoding %q Vary %q; want neither", name, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
	}
	resp, body := do(t, "GET", base+"/site.css", "Accept-Encoding", "gzip", "Range", "bytes=100-199")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Encoding") != "" || body != css[100:200] {
		t.Errorf("range: %d %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	resp, body = do(t, "HEAD", base+"/site.css", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || body != "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %q %d %q", resp.Header.Get("Content-Encoding"), resp.ContentLength, body)
	}
}

// TestEmptyAndFutureFiles: a range of an empty file is answered with the
// whole (empty) file, as net/http answers it, not 416 (its suffix ranges
// are satisfiable, but no 206 can describe them); a file dated in the
// future is sent with a Last-Modified no later than Date (RFC 9110,
// 8.8.2.1).
func TestEmptyAndFutureFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "empty.txt", "")
	future := write(t, dir, "future.txt", "tomorrow")
	later := time.Now().Add(48 * time.Hour)
	if err := os.Chtimes(future, later, later); err != nil {
		t.Fatal(err)
	}
	base := serve(t, dir, staticfiles.Options{})
	for _, rg := range []string{"bytes=-1", "bytes=-500", "bytes=0-0", "bytes=0-"} {
		resp, body := do(t, "GET", base+"/empty.txt", "Range", rg)
		if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Range") != "" {
			t.Errorf("empty file, Range %s: %d %q %q; want 200 and no body", rg, resp.StatusCode, body, resp.Header.Get("Content-Range"))
		}
	}
	resp, body := do(t, "GET", base+"/future.txt")
	lm, err1 := http.ParseTime(resp.Header.Get("Last-Modified"))
	date, err2 := http.ParseTime(resp.Header.Get("Date"))
	if body != "tomorrow" || err1 != nil || err2 != nil || lm.After(date) {
		t.Errorf("future file: Last-Modified %q, Date %q (%v %v)", resp.Header.Get("Last-Modified"), resp.Header.Get("Date"), err1, err2)
	}
}

// staleDate adds a Date a second behind the clock to responses whose
// handler set none, as a server that updates its Date once a second does
// (this one's heartbeat, ASP.NET Core's DateHeaderValueManager).
type staleDate struct{ http.ResponseWriter }

func (w staleDate) WriteHeader(code int) {
	if _, ok := w.Header()["Date"]; !ok {
		w.Header().Set("Date", time.Now().Add(-time.Second).UTC().Format(http.TimeFormat))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w staleDate) Write(p []byte) (int, error) { return w.ResponseWriter.Write(p) }

// TestLastModifiedNotAfterDate: a file written a moment ago, or dated in
// the future, gets a Last-Modified no later than the response's Date (RFC
// 9110, 8.8.2.1), whatever the answer (200, 206, 304, 412), even from a
// server whose Date lags the clock by up to a second.
func TestLastModifiedNotAfterDate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "fresh.txt", "just written")
	future := write(t, dir, "future.txt", "tomorrow")
	later := time.Now().Add(48 * time.Hour)
	if err := os.Chtimes(future, later, later); err != nil {
		t.Fatal(err)
	}
	h, err := staticfiles.New(dir, staticfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, name := range []string{"fresh.txt", "future.txt"} {
		for _, hdr := range [][]string{nil, {"Range", "bytes=0-1"}, {"If-None-Match", "*"}, {"If-Match", `"other"`}} {
			req := httptest.NewRequest("GET", "/"+name, nil)
			if hdr != nil {
				req.Header.Set(hdr[0], hdr[1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(staleDate{rec}, req)
			lm, err1 := http.ParseTime(rec.Header().Get("Last-Modified"))
			date, err2 := http.ParseTime(rec.Header().Get("Date"))
			if err1 != nil || err2 != nil || lm.After(date) {
				t.Errorf("%s %v: %d, Last-Modified %q, Date %q", name, hdr, rec.Code, rec.Header().Get("Last-Modified"), rec.Header().Get("Date"))
			}
		}
	}
}

func TestCompressionStreamed(t *testing.T) {
	// With no memory for copies, each response is compressed as it is sent.
	dir := t.TempDir()
	css := text(300000)
	write(t, dir, "big.css", css)
	base := serve(t, dir, staticfiles.Options{MaxCompressedBytes: 1})
	for _, coding := range []string{"br", "zstd", "gzip", "gzip", "br", "zstd"} {
		resp, body := do(t, "GET", base+"/big.css", "Accept-Encoding", coding)
		wantHeader(t, resp, "Content-Encoding", coding)
		wantHeader(t, resp, "Content-Length", "")
		if decode(t, coding, body) != css {
			t.Errorf("%s: wrong content", coding)
		}
	}
	// Files too large to keep a copy of are compressed as they are sent,
	// with the fastest encoder the client accepts.
	huge := text(8<<20 + 1)
	write(t, dir, "huge.txt", huge)
	base = serve(t, dir, staticfiles.Options{})
	resp, body := do(t, "GET", base+"/huge.txt", "Accept-Encoding", "gzip, deflate, br, zstd")
	wantHeader(t, resp, "Content-Encoding", "zstd")
	if decode(t, "zstd", body) != huge {
		t.Error("huge.txt: wrong content")
	}
}

func TestDefaultFilesAndRedirects(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "index.html", "root index")
	write(t, dir, "docs/index.html", "docs index")
	write(t, dir, "legacy/default.htm", "legacy default")
	write(t, dir, "empty/file.txt", "x")
	write(t, dir, "my docs/index.html", "spaced")
	base := serve(t, dir, staticfiles.Options{})
	for _, tc := range []struct {
		path     string
		status   int
		body     string
		location string
	}{
		{"/", 200, "root index", ""},
		{"/index.html", 200, "root index", ""},
		{"/docs/", 200, "docs index", ""},
		{"/docs", 301, "", "docs/"},
		{"/docs?x=1", 301, "", "docs/?x=1"},
		{"/docs/.", 301, "", "./"},
		{"/my%20docs", 301, "", "my%20docs/"},
		{"/my%20docs/", 200, "spaced", ""},
		{"/legacy/", 200, "legacy default", ""},
		{"/empty/", 404, "404 not found\n", ""},
		{"/empty", 404, "404 not found\n", ""},
	} {
		resp, body := do(t, "GET", base+tc.path)
		if resp.StatusCode != tc.status || tc.status != 301 && body != tc.body || resp.Header.Get("Location") != tc.location {
			t.Errorf("GET %s: %d %q Location %q; want %d %q %q", tc.path, resp.StatusCode, body, resp.Header.Get("Location"), tc.status, tc.body, tc.location)
		}
	}
	// A custom list, and none at all.
	base = serve(t, dir, staticfiles.Options{DefaultFiles: []string{"file.txt"}})
	if _, body := do(t, "GET", base+"/empty/"); body != "x" {
		t.Errorf("DefaultFiles [file.txt]: %q", body)
	}
	base = serve(t, dir, staticfiles.Options{DefaultFiles: []string{}})
	if resp, _ := do(t, "GET", base+"/"); resp.StatusCode != 404 {
		t.Errorf("no default files: / answers %d", resp.StatusCode)
	}
}

func TestFallback(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "index.html", "<div id=app></div>")
	write(t, dir, "assets/app.3f2a9c1b.js", "js")
	write(t, dir, "assets/lib/x.js", "x")
	write(t, dir, ".env", "SECRET")
	base := serve(t, dir, staticfiles.Options{Fallback: "index.html"})
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", 200, "<div id=app></div>"},
		{"/users/42", 200, "<div id=app></div>"},
		{"/settings/profile/", 200, "<div id=app></div>"},
		{"/assets/lib", 200, "<div id=app></div>"}, // a folder without a default file
		{"/assets/lib/", 200, "<div id=app></div>"},
		{"/assets/app.3f2a9c1b.js", 200, "js"},
		{"/assets/missing.js", 404, "404 not found\n"},
		{"/favicon.ico", 404, "404 not found\n"},
		{"/.env", 404, "404 not found\n"},
		{"/.git/config", 404, "404 not found\n"},
	} {
		resp, body := do(t, "GET", base+tc.path)
		if resp.StatusCode != tc.status || tc.status != 301 && body != tc.body {
			t.Errorf("GET %s: %d %q; want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	resp, _ := do(t, "GET", base+"/users/42")
	wantHeader(t, resp, "Content-Type", "text/html; charset=utf-8")
	wantHeader(t, resp, "Cache-Control", "no-cache")

	for _, bad := range []string{"missing.html", "../index.html", ".env", "assets"} {
		if _, err := staticfiles.New(dir, staticfiles.Options{Fallback: bad}); err == nil || !strings.Contains(err.Error(), "fallback") {
			t.Errorf("Fallback %q: err = %v", bad, err)
		}
	}
}

func TestCacheControl(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"index.html", "assets/app.3f2a9c1b.js", "assets/index-BwMF3m-x.css", "fonts/a.woff2", "img/logo.png"} {
		write(t, dir, n, "x")
	}
	check := func(base string, want map[string]string) {
		t.Helper()
		for p, cc := range want {
			resp, _ := do(t, "GET", base+p)
			wantHeader(t, resp, "Cache-Control", cc)
		}
	}
	const immutable = "public, max-age=31536000, immutable"
	check(serve(t, dir, staticfiles.Options{}), map[string]string{
		"/": "no-cache", "/assets/app.3f2a9c1b.js": immutable, "/assets/index-BwMF3m-x.css": immutable, "/img/logo.png": "no-cache",
	})
	check(serve(t, dir, staticfiles.Options{
		CacheControl: "public, max-age=600",
		CacheRules: []staticfiles.CacheRule{
			{Pattern: "*.woff2", Value: "public, max-age=86400"},
			{Pattern: "/img/*", Value: "public, max-age=3600"},
			{Pattern: "/index.html", Value: "no-store"},
		},
	}), map[string]string{
		"/": "no-store", "/fonts/a.woff2": "public, max-age=86400", "/img/logo.png": "public, max-age=3600",
		"/assets/app.3f2a9c1b.js": immutable,
	})
	if _, err := staticfiles.New(dir, staticfiles.Options{CacheRules: []staticfiles.CacheRule{{Pattern: "[", Value: "x"}}}); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

func TestDotfilesAndSymlinks(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	write(t, dir, "ok.txt", "ok")
	write(t, dir, ".env", "SECRET=1")
	write(t, dir, ".git/config", "SECRET")
	write(t, dir, ".well-known/security.txt", "Contact: mailto:security@example.com")
	write(t, dir, "sub/.htpasswd", "SECRET")
	outside := write(t, parent, "secret.txt", "SECRET")
	write(t, parent, "outdir/x.txt", "SECRET")
	os.Symlink(outside, filepath.Join(dir, "escape.txt"))
	os.Symlink(filepath.Join(parent, "outdir"), filepath.Join(dir, "escdir"))
	os.Symlink("../secret.txt", filepath.Join(dir, "relative.txt"))
	os.Symlink("ok.txt", filepath.Join(dir, "inside.txt"))
	os.Symlink("loop", filepath.Join(dir, "loop"))
	base := serve(t, dir, staticfiles.Options{})
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/ok.txt", 200},
		{"/inside.txt", 200},
		{"/.well-known/security.txt", 200},
		{"/.env", 404},
		{"/.git/config", 404},
		{"/sub/.htpasswd", 404},
		{"/escape.txt", 404},
		{"/relative.txt", 404},
		{"/escdir/x.txt", 404},
		{"/escdir/", 404},
		{"/loop", 404},
	} {
		resp, body := do(t, "GET", base+tc.path)
		if resp.StatusCode != tc.status || strings.Contains(body, "SECRET") {
			t.Errorf("GET %s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}
}

// rawGet sends a request line as written and returns the status and body.
func rawGet(t *testing.T, base, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func TestHostilePaths(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	write(t, dir, "a/ok.txt", "ok")
	write(t, parent, "secret.txt", "SECRET")
	base := serve(t, dir, staticfiles.Options{Fallback: "a/ok.txt"})
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/a/ok.txt", 200},
		{"/../secret.txt", 400},
		{"/a/../../secret.txt", 400},
		{"/%2e%2e/secret.txt", 400},
		{"/%2E%2E/secret.txt", 400},
		{"/a/%2e%2e/%2e%2e/secret.txt", 400},
		{"/..%2fsecret.txt", 400},
		{"/a%2fok.txt", 400},
		{"/a%5cok.txt", 400},
		{"/..%5csecret.txt", 400},
		{"/a\\..\\..\\secret.txt", 400},
		{"/a/ok.txt%00.png", 400},
		{"/%00", 400},
		{"/a/./ok.txt", 200},
		{"//a//ok.txt", 200},
	} {
		status, body := rawGet(t, base, tc.target)
		if status != tc.status || strings.Contains(body, "SECRET") {
			t.Errorf("GET %s: %d %q, want %d", tc.target, status, body, tc.status)
		}
	}
}

func TestDirectoryListing(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	write(t, dir, "files/b.txt", "bb")
	write(t, dir, "files/<img src=x onerror=alert(1)>.txt", "x")
	write(t, dir, "files/a&b \"q\".txt", "x")
	write(t, dir, "files/javascript:alert(1)", "x")
	write(t, dir, "files/sub/c.txt", "c")
	write(t, dir, "files/.hidden", "x")
	write(t, parent, "secret.txt", "SECRET")
	os.Symlink(filepath.Join(parent, "secret.txt"), filepath.Join(dir, "files", "outside.txt"))

	// Off by default.
	base := serve(t, dir, staticfiles.Options{})
	if resp, body := do(t, "GET", base+"/files/"); resp.StatusCode != 404 || strings.Contains(body, "b.txt") {
		t.Errorf("listing without Browse: %d %q", resp.StatusCode, body)
	}

	base = serve(t, dir, staticfiles.Options{Browse: true})
	resp, body := do(t, "GET", base+"/files/")
	if resp.StatusCode != 200 {
		t.Fatalf("listing: %d", resp.StatusCode)
	}
	wantHeader(t, resp, "Content-Type", "text/html; charset=utf-8")
	for _, want := range []string{
		`<a href="sub/">sub/</a>`, `<a href="b.txt">b.txt</a>`, "2 B",
		`&lt;img src=x onerror=alert(1)&gt;.txt`, `href="%3Cimg%20src=x%20onerror=alert%281%29%3E.txt"`,
		`a&amp;b &#34;q&#34;.txt`, `href="./javascript:alert%281%29"`, `<a href="../">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("listing lacks %s:\n%s", want, body)
		}
	}
	for _, bad := range []string{"<img", ".hidden", "outside.txt"} {
		if strings.Contains(body, bad) {
			t.Errorf("listing contains %q", bad)
		}
	}
	if strings.Index(body, "sub/") > strings.Index(body, "b.txt") {
		t.Error("folders are not listed first")
	}
	if resp, _ := do(t, "GET", base+"/files"); resp.StatusCode != 301 {
		t.Errorf("/files: %d, want 301", resp.StatusCode)
	}
	if resp, body := do(t, "HEAD", base+"/files/"); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD listing: %d %q", resp.StatusCode, body)
	}
}

// TestListingLinksServe: every link of a listing leads to what it names,
// whatever the name: one the handler refuses in a URL (a backslash, which
// Linux allows in a file name) is not listed.
func TestListingLinksServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names := []string{"plain.txt", "sp ace.txt", "q?x#y.txt", "%2e%2e.txt", "a:b.txt", "bad\xff.txt", "semi;colon.txt", "dots..txt"}
	if runtime.GOOS != "windows" {
		names = append(names, `back\slash.txt`, `dir\name/f.txt`)
	}
	for _, n := range names {
		write(t, dir, n, "x")
	}
	base := serve(t, dir, staticfiles.Options{Browse: true})
	_, body := do(t, "GET", base+"/")
	hrefs := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(body, -1)
	if len(hrefs) == 0 {
		t.Fatalf("no links in the listing:\n%s", body)
	}
	for _, m := range hrefs {
		href := html.UnescapeString(m[1])
		if resp, _ := do(t, "GET", base+"/"+strings.TrimPrefix(href, "./")); resp.StatusCode != 200 && resp.StatusCode != 301 {
			t.Errorf("the listing links %q, which answers %d", href, resp.StatusCode)
		}
	}
	if strings.Contains(body, "slash") || strings.Contains(body, "name/") {
		t.Errorf("the listing names files with a backslash, which answer 400:\n%s", body)
	}
}

// TestHeadMatchesGet: a HEAD gets the header fields a GET of the same
// URL gets (RFC 9110, 9.3.2), Content-Length included, for every kind of
// answer: a file, a compressed one, 304, 412, a folder's redirect, a
// listing, 404 and 405.
func TestHeadMatchesGet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "a.txt", "hello")
	write(t, dir, "app.js", text(5000))
	write(t, dir, "docs/index.html", "<p>docs</p>")
	write(t, dir, "files/b.txt", "b")
	base := serve(t, dir, staticfiles.Options{Browse: true})
	resp, _ := do(t, "GET", base+"/a.txt")
	etag := resp.Header.Get("ETag")
	for _, tc := range []struct {
		path   string
		header []string
	}{
		{"/a.txt", nil},
		{"/app.js", []string{"Accept-Encoding", "gzip"}},
		{"/a.txt", []string{"If-None-Match", etag}},
		{"/a.txt", []string{"If-Match", `"other"`}},
		{"/a.txt", []string{"If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:01 GMT"}},
		{"/docs", nil},
		{"/docs?q=1", nil},
		{"/files/", nil},
		{"/missing.txt", nil},
	} {
		get, _ := do(t, "GET", base+tc.path, tc.header...)
		head, _ := do(t, "HEAD", base+tc.path, tc.header...)
		get.Header.Del("Date")
		head.Header.Del("Date")
		if !reflect.DeepEqual(get.Header, head.Header) || get.StatusCode != head.StatusCode {
			t.Errorf("%s %v:\nGET  %d %v\nHEAD %d %v", tc.path, tc.header, get.StatusCode, get.Header, head.StatusCode, head.Header)
		}
	}
}

func TestChangesOnDisk(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "page.html", text(4000))
	base := serve(t, dir, staticfiles.Options{CheckInterval: 50 * time.Millisecond})
	get := func(name string, header ...string) (*http.Response, string) {
		t.Helper()
		return do(t, "GET", base+name, header...)
	}
	resp, _ := get("/page.html", "Accept-Encoding", "gzip")
	gz1 := resp.Header.Get("ETag")
	resp, _ = get("/page.html")
	etag1 := resp.Header.Get("ETag")

	// Rewritten in place with the same size and modification time: the
	// change time gives it away.
	fi, _ := os.Stat(p)
	same := strings.ToUpper(text(4000))
	os.WriteFile(p, []byte(same), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	resp, body := get("/page.html")
	if body != same || resp.Header.Get("ETag") == etag1 {
		t.Errorf("rewritten in place: old content or ETag (%s)", resp.Header.Get("ETag"))
	}
	resp, body = get("/page.html", "Accept-Encoding", "gzip")
	if decode(t, "gzip", body) != same || resp.Header.Get("ETag") == gz1 {
		t.Error("rewritten in place: the compressed copy is stale")
	}

	// Replaced by a rename, as editors and deploy tools do.
	tmp := write(t, dir, "page.html.tmp", "renamed into place")
	os.Rename(tmp, p)
	if _, body := get("/page.html"); body != "renamed into place" {
		t.Errorf("replaced by rename: %q", body)
	}
	// Grown, then deleted, then created again.
	os.WriteFile(p, []byte(text(9000)), 0o644)
	if resp, body := get("/page.html"); body != text(9000) || resp.ContentLength != 9000 {
		t.Errorf("grown: %d bytes", len(body))
	}
	os.Remove(p)
	if resp, _ := get("/page.html"); resp.StatusCode != 404 {
		t.Errorf("deleted: %d", resp.StatusCode)
	}
	write(t, dir, "page.html", "back")
	if _, body := get("/page.html"); body != "back" {
		t.Errorf("created again: %q", body)
	}
	// A new file is served at once.
	write(t, dir, "new.txt", "new")
	if _, body := get("/new.txt"); body != "new" {
		t.Errorf("new file: %q", body)
	}
	// A new precompressed sibling and a new default file: within CheckInterval.
	js := text(3000)
	write(t, dir, "app.js", js)
	if resp, _ := get("/app.js", "Accept-Encoding", "zstd;q=0.1, gzip"); resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("before the sibling: %q", resp.Header.Get("Content-Encoding"))
	}
	os.WriteFile(filepath.Join(dir, "app.js.zst"), compressWith(t, "zstd", js), 0o644)
	write(t, dir, "docs/readme.txt", "x")
	if resp, _ := get("/docs/"); resp.StatusCode != 404 {
		t.Fatalf("folder without index: %d", resp.StatusCode)
	}
	write(t, dir, "docs/index.html", "docs")
	time.Sleep(120 * time.Millisecond)
	if resp, _ := get("/app.js", "Accept-Encoding", "zstd;q=0.1, gzip;q=0.05"); resp.Header.Get("Content-Encoding") != "zstd" {
		t.Errorf("new sibling not seen: %q", resp.Header.Get("Content-Encoding"))
	}
	if _, body := get("/docs/"); body != "docs" {
		t.Errorf("new default file not seen: %q", body)
	}
	// A sibling deleted is noticed at once.
	os.Remove(filepath.Join(dir, "app.js.zst"))
	if resp, body := get("/app.js", "Accept-Encoding", "zstd;q=0.1, gzip;q=0.05"); decode(t, resp.Header.Get("Content-Encoding"), body) != js {
		t.Errorf("deleted sibling: %q", resp.Header.Get("Content-Encoding"))
	}
}

func TestRootSwitch(t *testing.T) {
	// Deployments that switch a "current" link to a new release.
	parent := t.TempDir()
	write(t, parent, "v1/index.html", "one")
	write(t, parent, "v2/index.html", "two")
	current := filepath.Join(parent, "current")
	os.Symlink("v1", current)
	base := serve(t, current, staticfiles.Options{CheckInterval: 50 * time.Millisecond})
	if _, body := do(t, "GET", base+"/"); body != "one" {
		t.Fatalf("before the switch: %q", body)
	}
	os.Symlink("v2", current+".new")
	os.Rename(current+".new", current)
	time.Sleep(120 * time.Millisecond)
	do(t, "GET", base+"/") // notices
	if _, body := do(t, "GET", base+"/"); body != "two" {
		t.Errorf("after the switch: %q", body)
	}
}

func TestManyFilesConcurrently(t *testing.T) {
	// More files than MaxOpenFiles, read by many clients while some are
	// rewritten: every response is one whole version of its file.
	dir := t.TempDir()
	const n = 20
	for i := range n {
		write(t, dir, fmt.Sprintf("f%d.txt", i), strings.Repeat(fmt.Sprint(i%10), 2000))
	}
	base := serve(t, dir, staticfiles.Options{MaxOpenFiles: 4})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			i := k % n
			tmp := filepath.Join(dir, fmt.Sprintf("f%d.tmp", i))
			os.WriteFile(tmp, []byte(strings.Repeat(fmt.Sprint((i+k)%10), 2000+k%7)), 0o644)
			os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("f%d.txt", i)))
			time.Sleep(time.Millisecond)
		}
	}()
	errs := make(chan error, 8)
	var readers sync.WaitGroup
	for w := range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for k := range 60 {
				resp, err := client.Get(fmt.Sprintf("%s/f%d.txt", base, (w*7+k)%n))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || len(b) < 2000 || strings.Trim(string(b), string(b[:1])) != "" {
					errs <- fmt.Errorf("torn response: %d bytes, err %v", len(b), err)
					return
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "f.txt", "x")
	for _, tc := range []struct {
		dir  string
		opts staticfiles.Options
		want string
	}{
		{filepath.Join(dir, "missing"), staticfiles.Options{}, "no such file"},
		{file, staticfiles.Options{}, "not a directory"},
		{dir, staticfiles.Options{DefaultFiles: []string{"a/b.html"}}, "default file"},
		{dir, staticfiles.Options{ContentTypes: map[string]string{".x": "not a type"}}, ".x"},
		{dir, staticfiles.Options{CacheRules: []staticfiles.CacheRule{{Pattern: "*.js"}}}, "no Cache-Control value"},
	} {
		if _, err := staticfiles.New(tc.dir, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s, %+v) = %v, want an error about %q", tc.dir, tc.opts, err, tc.want)
		}
	}
	base := serve(t, dir, staticfiles.Options{ContentTypes: map[string]string{"TXT": "text/x-custom", ".unknown": "application/x-mine"}, DefaultContentType: "text/plain"})
	write(t, dir, "a.unknown", "x")
	write(t, dir, "b.zzz", "x")
	for p, want := range map[string]string{"/f.txt": "text/x-custom", "/a.unknown": "application/x-mine", "/b.zzz": "text/plain"} {
		resp, _ := do(t, "GET", base+p)
		wantHeader(t, resp, "Content-Type", want)
	}
}

// readerFrom is a ResponseWriter that implements io.ReaderFrom, as a
// server that sends files with sendfile does, and records what it gets.
type readerFrom struct {
	*httptest.ResponseRecorder
	got []string
}

func (w *readerFrom) ReadFrom(r io.Reader) (int64, error) {
	desc := fmt.Sprintf("%T", r)
	if sr, ok := r.(*io.SectionReader); ok {
		outer, off, n := sr.Outer()
		desc = fmt.Sprintf("%T of %T %d+%d", r, outer, off, n)
	}
	w.got = append(w.got, desc)
	return io.Copy(w.ResponseRecorder, r)
}

func TestBodiesReachReaderFrom(t *testing.T) {
	// File bodies reach io.ReaderFrom as a section of the *os.File, which
	// is what a sendfile path looks for.
	dir := t.TempDir()
	write(t, dir, "a.bin", strings.Repeat("x", 5000))
	write(t, dir, "app.js", text(5000))
	os.WriteFile(filepath.Join(dir, "app.js.gz"), compressWith(t, "gzip", text(5000)), 0o644)
	h, err := staticfiles.New(dir, staticfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	gzSize := fmt.Sprint(len(compressWith(t, "gzip", text(5000))))
	for _, tc := range []struct {
		path   string
		header []string
		want   []string
	}{
		{"/a.bin", nil, []string{"*io.SectionReader of *os.File 0+5000"}},
		{"/a.bin", []string{"Range", "bytes=10-19"}, []string{"*io.SectionReader of *os.File 10+10"}},
		{"/a.bin", []string{"Range", "bytes=0-0,-1"}, []string{"*io.SectionReader of *os.File 0+1", "*io.SectionReader of *os.File 4999+1"}},
		{"/app.js", []string{"Accept-Encoding", "gzip"}, []string{"*io.SectionReader of *os.File 0+" + gzSize}},
		{"/app.js", []string{"Accept-Encoding", "br"}, nil}, // compressed on the fly: written from memory
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		for i := 0; i < len(tc.header); i += 2 {
			r.Header.Set(tc.header[i], tc.header[i+1])
		}
		w := &readerFrom{ResponseRecorder: httptest.NewRecorder()}
		h.ServeHTTP(w, r)
		if w.Code/100 != 2 || strings.Join(w.got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("GET %s %q: %d, ReadFrom got %q; want %q", tc.path, tc.header, w.Code, w.got, tc.want)
		}
	}
}
