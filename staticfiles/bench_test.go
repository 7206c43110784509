package staticfiles_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kestrel-go/kestrel/staticfiles"
)

// discardWriter is a ResponseWriter that takes bodies with io.ReaderFrom,
// as a server with sendfile does, and throws them away, so that the
// benchmarks measure the handler.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(io.Discard, r)
}

func benchServe(b *testing.B, name, content string, header ...string) {
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	h, err := staticfiles.New(dir, staticfiles.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	r, _ := http.NewRequest("GET", "/"+name, nil)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	etag := w.h.Get("ETag")
	for i := 0; i < len(header); i += 2 {
		r.Header.Set(header[i], strings.ReplaceAll(header[i+1], "ETAG", etag))
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if w.code/100 != 2 && w.code != 304 {
		b.Fatalf("status %d", w.code)
	}
}

func BenchmarkServe10KB(b *testing.B) {
	benchServe(b, "10k.bin", strings.Repeat("x", 10<<10))
}

func BenchmarkServe10KBGzip(b *testing.B) {
	benchServe(b, "10k.html", text(10<<10), "Accept-Encoding", "gzip, deflate, br, zstd")
}

func BenchmarkServeNotModified(b *testing.B) {
	benchServe(b, "10k.bin", strings.Repeat("x", 10<<10), "If-None-Match", "ETAG")
}

func BenchmarkServeRange(b *testing.B) {
	benchServe(b, "10k.bin", strings.Repeat("x", 10<<10), "Range", "bytes=100-199")
}
