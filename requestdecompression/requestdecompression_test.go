package requestdecompression_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/kestrel-go/kestrel/requestdecompression"
)

// encoders compress with each coding's usual library, not the one the
// middleware decodes with where there is a choice.
var encoders = map[string]func(io.Writer) io.WriteCloser{
	"gzip": func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
	"deflate": func(w io.Writer) io.WriteCloser { // zlib, as RFC 9110 has it
		return zlib.NewWriter(w)
	},
	"deflate-raw": func(w io.Writer) io.WriteCloser { z, _ := flate.NewWriter(w, flate.BestSpeed); return z },
	"br":          func(w io.Writer) io.WriteCloser { return brotli.NewWriterLevel(w, brotli.BestSpeed) },
	"zstd": func(w io.Writer) io.WriteCloser {
		z, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		return z
	},
}

// header is the Content-Encoding a coding's body is sent with.
func header(coding string) string {
	if coding == "deflate-raw" {
		return "deflate"
	}
	return coding
}

func compress(t testing.TB, coding string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := encoders[coding](&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sample is text with some repetition, as request bodies are.
func sample(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d","tags":["a","b%d"]}`+"\n", i, i*7919%1000, i%13)
	}
	return b.Bytes()[:n]
}

// seen is what the next handler saw of a request.
type seen struct {
	called        bool
	body          []byte
	err           error
	encoding      string
	contentLength string
	length        int64
}

// capture is a next handler that reads the whole body and answers 200
// "ok", or 500 with the error: the middleware must replace that 500 with
// its own answer when the body failed.
func capture(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called = true
		s.encoding, s.contentLength, s.length = r.Header.Get("Content-Encoding"), r.Header.Get("Content-Length"), r.ContentLength
		s.body, s.err = io.ReadAll(r.Body)
		if s.err != nil {
			http.Error(w, "handler: "+s.err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
}

func post(h http.Handler, encoding string, body io.Reader) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/", body)
	if encoding != "" {
		r.Header.Set("Content-Encoding", encoding)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestEachCoding: gzip, x-gzip, deflate (zlib and raw), br and zstd
// bodies, names in any case, reach the handler decoded, without
// Content-Encoding and Content-Length.
func TestEachCoding(t *testing.T) {
	data := sample(100_000)
	for _, tc := range []struct{ coding, header string }{
		{"gzip", "gzip"}, {"gzip", "x-gzip"}, {"gzip", " GZip "},
		{"gzip", "gzip,"}, {"gzip", ", gzip"}, // empty list elements do not count (RFC 9110, 5.6.1)
		{"deflate", "deflate"}, {"deflate-raw", "deflate"},
		{"br", "br"}, {"br", "BR"}, {"zstd", "zstd"},
	} {
		compressed := compress(t, tc.coding, data)
		var s seen
		h := requestdecompression.Handler(capture(&s), requestdecompression.Options{})
		r := httptest.NewRequest("POST", "/", bytes.NewReader(compressed))
		r.Header.Set("Content-Encoding", tc.header)
		r.Header.Set("Content-Length", fmt.Sprint(len(compressed)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || s.err != nil || !bytes.Equal(s.body, data) {
			t.Errorf("%s as %q: %d %q, handler read %d bytes (%v), want the %d sent", tc.coding, tc.header, w.Code, w.Body, len(s.body), s.err, len(data))
		}
		if s.encoding != "" || s.contentLength != "" || s.length != -1 {
			t.Errorf("%s: the handler saw Content-Encoding %q, Content-Length %q, ContentLength %d", tc.coding, s.encoding, s.contentLength, s.length)
		}
		if r.Header.Get("Content-Encoding") != tc.header {
			t.Errorf("%s: the caller's request was changed", tc.coding)
		}
	}
	// An empty body decodes to nothing.
	var s seen
	w := post(requestdecompression.Handler(capture(&s), requestdecompression.Options{}), "gzip", http.NoBody)
	if w.Code != 200 || len(s.body) != 0 || s.err != nil {
		t.Errorf("empty gzip body: %d, %q %v", w.Code, s.body, s.err)
	}
}

// TestNoCoding: requests without a Content-Encoding, or with identity,
// pass unchanged.
func TestNoCoding(t *testing.T) {
	for _, enc := range []string{"", "identity", "Identity"} {
		var s seen
		w := post(requestdecompression.Handler(capture(&s), requestdecompression.Options{}), enc, strings.NewReader("plain"))
		if w.Code != 200 || string(s.body) != "plain" || s.encoding != strings.TrimSpace(enc) || s.length != 5 {
			t.Errorf("Content-Encoding %q: %d, handler saw %q, %q, %d", enc, w.Code, s.body, s.encoding, s.length)
		}
	}
}

// TestUnknownCoding: a coding the middleware does not decode, or several
// codings, are answered 415 with Accept-Encoding (RFC 7694), without
// calling the handler; with PassUnknown they pass unchanged, as ASP.NET
// does (it decodes a single coding only).
func TestUnknownCoding(t *testing.T) {
	gz := compress(t, "gzip", []byte("data"))
	for _, values := range [][]string{{"xz"}, {"compress"}, {"gzip, br"}, {"gzip", "gzip"}} {
		for _, pass := range []bool{false, true} {
			var s seen
			h := requestdecompression.Handler(capture(&s), requestdecompression.Options{PassUnknown: pass})
			r := httptest.NewRequest("POST", "/", bytes.NewReader(gz))
			r.Header["Content-Encoding"] = values
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !pass {
				if w.Code != 415 || s.called || w.Header().Get("Accept-Encoding") != "br, deflate, gzip, zstd" {
					t.Errorf("%q: %d, Accept-Encoding %q, handler called %v; want 415 without the handler", values, w.Code, w.Header().Get("Accept-Encoding"), s.called)
				}
				continue
			}
			if w.Code != 200 || !bytes.Equal(s.body, gz) || s.encoding != values[0] {
				t.Errorf("%q with PassUnknown: %d, the handler saw %d bytes with Content-Encoding %q; want them unchanged", values, w.Code, len(s.body), s.encoding)
			}
		}
	}
}

// TestRejectStartsAfresh: the 400 for a corrupt body carries none of the
// handler's headers (a Set-Cookie, a Location), as the server's own 413
// starts its response afresh.
func TestRejectStartsAfresh(t *testing.T) {
	h := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=1")
		w.Header().Set("Location", "/next")
		io.ReadAll(r.Body)
	}), requestdecompression.Options{})
	w := post(h, "gzip", strings.NewReader("not gzip"))
	if w.Code != 400 || w.Header().Get("Set-Cookie") != "" || w.Header().Get("Location") != "" {
		t.Errorf("%d with Set-Cookie %q, Location %q; want 400 without the handler's headers", w.Code, w.Header().Get("Set-Cookie"), w.Header().Get("Location"))
	}
}

// TestCorruptBody: a body that is not valid for its coding, a stream cut
// short, or changed bytes (but in raw deflate, which has no checksum) are answered 400 (instead of the
// handler's 500), and the handler's error wraps ErrCorrupt.
func TestCorruptBody(t *testing.T) {
	data := sample(100_000)
	for coding := range encoders {
		good := compress(t, coding, data)
		flipped := bytes.Clone(good)
		for i := len(flipped) / 3; i < len(flipped)/3+16; i++ {
			flipped[i] ^= 0x55
		}
		for name, body := range map[string][]byte{
			"garbage":   []byte("this is not compressed at all, but it says it is"),
			"cut short": good[:len(good)/2],
			"flipped":   flipped,
		} {
			if coding == "deflate-raw" && name == "flipped" {
				continue // raw deflate has no checksum: changed bytes may decode
			}
			var s seen
			w := post(requestdecompression.Handler(capture(&s), requestdecompression.Options{}), header(coding), bytes.NewReader(body))
			if w.Code != 400 || !errors.Is(s.err, requestdecompression.ErrCorrupt) {
				t.Errorf("%s, %s: %d %q, handler error %v; want 400 and ErrCorrupt", coding, name, w.Code, w.Body, s.err)
			}
		}
	}
	// An error of the request's own body is the handler's to see, not a
	// corrupt stream.
	boom := errors.New("connection reset by peer")
	var s seen
	gz := compress(t, "gzip", data)
	w := post(requestdecompression.Handler(capture(&s), requestdecompression.Options{}), "gzip",
		io.MultiReader(bytes.NewReader(gz[:100]), errReader{boom}))
	if w.Code != 500 || !errors.Is(s.err, boom) || errors.Is(s.err, requestdecompression.ErrCorrupt) {
		t.Errorf("a body read error: %d, handler error %v; want the handler's own 500 and the error", w.Code, s.err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// bomb streams size zero bytes through the coding's compressor into the
// returned reader, compressing only as fast as the reader is read (the
// bomb is never stored); fed reports how many zeros the compressor took
// once stop has been called.
func bomb(coding string, size int64) (body io.Reader, stop func() (fed int64)) {
	pr, pw := io.Pipe()
	var in int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := encoders[coding](pw)
		n, err := io.CopyBuffer(w, io.LimitReader(zeros{}, size), make([]byte, 64<<10))
		in = n
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, func() int64 {
		pr.Close()
		<-done
		return in
	}
}

// TestDecompressionBomb: 1 GiB of zeros, compressed with each coding,
// under a 1 MiB limit: the handler gets exactly the limit's bytes and an
// *http.MaxBytesError, the answer is 413 instead of the handler's 500, and
// the compressor was asked for a tiny part of the bomb (the middleware
// stopped reading).
func TestDecompressionBomb(t *testing.T) {
	const limit = 1 << 20
	const size = 1 << 30
	for coding := range encoders {
		body, stop := bomb(coding, size)
		raw := &countingReader{r: body}
		var s seen
		w := post(requestdecompression.Handler(capture(&s), requestdecompression.Options{MaxBodySize: limit}), header(coding), raw)
		fed := stop()
		var tooLarge *http.MaxBytesError
		if w.Code != 413 || !errors.As(s.err, &tooLarge) || tooLarge.Limit != limit {
			t.Errorf("%s: %d %q, handler error %v; want 413 and an *http.MaxBytesError", coding, w.Code, w.Body, s.err)
		}
		if len(s.body) != limit {
			t.Errorf("%s: the handler read %d decoded bytes, want exactly the limit, %d", coding, len(s.body), limit)
		}
		// The compressors buffer some input before they write (brotli a
		// 16 MiB window at most): far less than the bomb.
		if fed > 64<<20 {
			t.Errorf("%s: the compressor was fed %d bytes of the %d-byte bomb: the middleware read on past the limit", coding, fed, int64(size))
		}
		t.Logf("%s: %d compressed bytes read, %d decoded bytes delivered, %d bytes of zeros compressed of %d", coding, raw.n.Load(), len(s.body), fed, int64(size))
	}
}

// TestLimitBoundary: a body that decodes to exactly the limit is read
// whole; one byte more is refused with 413.
func TestLimitBoundary(t *testing.T) {
	data := sample(10_000)
	for coding := range encoders {
		// math.MaxInt64 (a server's MaxRequestBodySize may be) is no
		// limit in practice; limit+1 must not wrap.
		for _, limit := range []int64{10_000, 9_999, math.MaxInt64, math.MaxInt64 - 1} {
			var s seen
			w := post(requestdecompression.Handler(capture(&s), requestdecompression.Options{MaxBodySize: limit}), header(coding), bytes.NewReader(compress(t, coding, data)))
			want := 200
			if limit < int64(len(data)) {
				want = 413
			}
			if w.Code != want || (want == 200 && !bytes.Equal(s.body, data)) || (want == 413 && int64(len(s.body)) != limit) {
				t.Errorf("%s, limit %d: %d, handler read %d bytes (%v); want %d", coding, limit, w.Code, len(s.body), s.err, want)
			}
		}
	}
	// A negative limit is none.
	// (30 zstd frames of 1 MiB of zeros each: more than DefaultMaxBodySize.)
	frames := bytes.Repeat(compress(t, "zstd", make([]byte, 1<<20)), 30)
	var n int64
	var err error
	w := post(requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err = io.CopyBuffer(io.Discard, r.Body, make([]byte, 1<<20))
	}), requestdecompression.Options{MaxBodySize: -1}), "zstd", bytes.NewReader(frames))
	if w.Code != 200 || n != 30<<20 || err != nil {
		t.Errorf("no limit: %d, %d bytes (%v)", w.Code, n, err)
	}
}

// TestAnswerAfterHeader: a handler that sent its header before reading
// keeps its response; one that never writes gets the 413.
func TestAnswerAfterHeader(t *testing.T) {
	big := compress(t, "gzip", make([]byte, 100_000))
	h := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(202)
		w.(http.Flusher).Flush()
		_, err := io.ReadAll(r.Body)
		fmt.Fprint(w, err)
	}), requestdecompression.Options{MaxBodySize: 1000})
	w := post(h, "gzip", bytes.NewReader(big))
	if w.Code != 202 || !strings.Contains(w.Body.String(), "request body too large") {
		t.Errorf("header sent first: %d %q; want the handler's 202 and its text", w.Code, w.Body)
	}
	silent := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}), requestdecompression.Options{MaxBodySize: 1000})
	if w := post(silent, "gzip", bytes.NewReader(big)); w.Code != 413 {
		t.Errorf("a handler that writes nothing: %d, want 413", w.Code)
	}
}

// TestResponsePassesThrough: with a body that decodes, the handler's
// response is its own: an implicit 200 with the Content-Type detected from
// its bytes, flushes through http.ResponseController, and its status.
func TestResponsePassesThrough(t *testing.T) {
	gz := compress(t, "gzip", []byte("data"))
	h := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		io.WriteString(w, "<!DOCTYPE html><p>hello</p>")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
	}), requestdecompression.Options{})
	w := post(h, "gzip", bytes.NewReader(gz))
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" || !w.Flushed {
		t.Errorf("%d, Content-Type %q, flushed %v; want 200, text/html detected, flushed", w.Code, w.Header().Get("Content-Type"), w.Flushed)
	}
	created := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		w.WriteHeader(201)
	}), requestdecompression.Options{})
	if w := post(created, "gzip", bytes.NewReader(gz)); w.Code != 201 {
		t.Errorf("WriteHeader(201): %d", w.Code)
	}
}
