// Package requestdecompression decodes compressed request bodies, as
// ASP.NET Core's RequestDecompression middleware does: a request sent with
// Content-Encoding gzip, br, deflate or zstd reaches the next handler with
// its body decoded and without its Content-Encoding and Content-Length.
//
// The request body size limit applies to the decoded bytes, so a small
// body that expands without end (a decompression bomb) is refused with
// 413 Request Entity Too Large once the limit is crossed, after at most
// the limit has been decoded. A body that is not valid for its coding is
// answered 400 Bad Request, and a coding the middleware does not decode
// 415 Unsupported Media Type (ASP.NET passes those requests on unchanged;
// Options.PassUnknown does the same).
//
// The answer replaces whatever the next handler then writes, as the
// server does when the body limit is crossed, unless the handler had
// already sent its response header.
package requestdecompression

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/kestrel-go/kestrel/internal/app"
)

// DefaultMaxBodySize is the limit on a decoded body when the server sets
// none the middleware can see: Kestrel's default MaxRequestBodySize,
// 30,000,000 bytes.
const DefaultMaxBodySize = 30_000_000

// MaxZstdWindow is the largest zstd window the middleware decodes, 8 MiB,
// which RFC 9659 sets for the zstd content coding: a stream that asks for
// more is refused as invalid rather than given the memory.
const MaxZstdWindow = 8 << 20

// Codings are the content codings the middleware decodes, as a response's
// Accept-Encoding lists them.
const Codings = "br, deflate, gzip, zstd"

// ErrCorrupt is wrapped by the error a handler reads from a body that is
// not valid for its Content-Encoding.
var ErrCorrupt = errors.New("requestdecompression: the request body is not valid for its Content-Encoding")

// Options configures the middleware. The zero value decodes gzip, br,
// deflate and zstd under the server's body size limit and refuses other
// codings.
type Options struct {
	// MaxBodySize is the largest decoded body, in bytes; reading more
	// fails with an *http.MaxBytesError and the request is answered 413.
	// Zero takes the request's body size limit when a kestrel.Server
	// serves it (Limits.MaxRequestBodySize, or what
	// kestrel.SetMaxRequestBodySize set before the body was first read;
	// kestrel.Unlimited for none), DefaultMaxBodySize otherwise. A
	// negative value sets no limit.
	MaxBodySize int64

	// PassUnknown passes requests whose Content-Encoding the middleware
	// does not decode (an unknown coding, or several codings) to the next
	// handler unchanged, as ASP.NET does. By default they are answered
	// 415 Unsupported Media Type with an Accept-Encoding header that
	// lists the codings it decodes (RFC 7694).
	PassUnknown bool
}

// Handler returns a handler that decodes the body of requests sent with
// Content-Encoding gzip (or x-gzip), br, deflate (zlib, or raw deflate as
// some clients send it) or zstd, names matched without regard to case,
// and passes them to next without Content-Encoding and Content-Length
// (Request.ContentLength is -1). Requests without a Content-Encoding, or
// with "identity", reach next as they are.
func Handler(next http.Handler, opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Content-Encoding")
		var codings []string // the list's elements; empty ones do not count (RFC 9110, 5.6.1)
		for _, v := range values {
			for _, c := range strings.Split(v, ",") {
				if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
					codings = append(codings, c)
				}
			}
		}
		coding := ""
		if len(codings) == 1 {
			coding = codings[0]
		}
		if len(codings) == 0 || coding == "identity" {
			next.ServeHTTP(w, r)
			return
		}
		if coding == "x-gzip" {
			coding = "gzip"
		}
		switch coding {
		case "gzip", "br", "deflate", "zstd":
		default:
			if opts.PassUnknown {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Accept-Encoding", Codings)
			http.Error(w, fmt.Sprintf("Unsupported Content-Encoding %q: send the body as it is, or with one of %s.", strings.Join(values, ", "), Codings), http.StatusUnsupportedMediaType)
			return
		}
		b := &body{raw: r.Body, coding: coding, req: r, max: opts.MaxBodySize}
		defer b.closeDecoder()
		r2 := new(http.Request)
		*r2 = *r
		r2.Header = r.Header.Clone()
		r2.Header.Del("Content-Encoding")
		r2.Header.Del("Content-Length")
		r2.ContentLength = -1
		r2.Body = b
		rw := &responseWriter{ResponseWriter: w, b: b}
		next.ServeHTTP(rw, r2)
		if !rw.wrote && b.status != 0 {
			rw.reject()
		}
	})
}

// body is the decoded request body.
type body struct {
	raw    io.ReadCloser // the request's body as the server gives it
	coding string
	req    *http.Request
	max    int64 // Options.MaxBodySize

	src    errRecorder
	dec    io.Reader // nil until the first Read
	close  func()    // releases the decoder
	limit  int64     // < 0: none; set at the first Read
	n      int64     // decoded bytes delivered
	err    error     // returned by every Read once set
	status int       // 400 or 413 once the body failed; the answer
}

// Read reads decoded bytes, never more than the limit plus one from the
// decoder.
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.dec == nil {
		if err := b.start(); err != nil {
			return 0, b.fail(err)
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Without adding 1 to the limit first: a limit of math.MaxInt64 (a
	// server's MaxRequestBodySize may be) would wrap.
	if b.limit >= 0 && int64(len(p))-1 > b.limit-b.n {
		p = p[:b.limit-b.n+1]
	}
	n, err := b.dec.Read(p)
	b.n += int64(n)
	if b.limit >= 0 && b.n > b.limit {
		n -= int(b.n - b.limit)
		b.n = b.limit
		b.status = http.StatusRequestEntityTooLarge
		b.err = &http.MaxBytesError{Limit: b.limit}
		b.closeDecoder()
		return n, b.err
	}
	switch err {
	case nil:
	case io.EOF:
		b.err = io.EOF
		b.closeDecoder()
	default:
		err = b.fail(err)
	}
	return n, err
}

// start resolves the limit and makes the decoder.
func (b *body) start() error {
	b.limit = b.max
	if b.limit == 0 {
		b.limit = DefaultMaxBodySize
		if ex := app.FromRequest(b.req); ex != nil {
			b.limit = ex.MaxRequestBodySize()
		}
	}
	b.src.r = b.raw
	br := bufio.NewReader(&b.src)
	first, err := br.Peek(1)
	if err == io.EOF {
		// An empty body decodes to nothing, whatever its coding says.
		b.dec = eofReader{}
		return nil
	}
	if err != nil {
		return err
	}
	switch b.coding {
	case "gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		b.dec, b.close = zr, func() { zr.Close() }
	case "deflate":
		// The deflate coding is zlib (RFC 9110), but some clients send
		// raw deflate: a zlib stream's first byte has 8 (the deflate
		// method) in its low four bits, which a raw stream's never has,
		// as ASP.NET decides.
		if first[0]&0x0f == 8 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return err
			}
			b.dec, b.close = zr, func() { zr.Close() }
		} else {
			fr := flate.NewReader(br)
			b.dec, b.close = fr, func() { fr.Close() }
		}
	case "br":
		b.dec = brotli.NewReader(br)
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(MaxZstdWindow))
		if err != nil {
			return err
		}
		b.dec, b.close = zr, zr.Close
	}
	return nil
}

// fail makes err the answer to every later Read: an error of the
// request's own body (the client went away, the server's limit on the
// compressed bytes) as it is, any other one a corrupt stream.
func (b *body) fail(err error) error {
	b.closeDecoder()
	if b.src.err != nil {
		b.err = b.src.err
		return b.err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	b.status = http.StatusBadRequest
	b.err = fmt.Errorf("%w: %s: %w", ErrCorrupt, b.coding, err)
	return b.err
}

func (b *body) closeDecoder() {
	if b.close != nil {
		b.close()
		b.close = nil
	}
}

// Close closes the request's body. The decoder is released at the end
// of the body, or when the next handler returns: Close may be called
// while another goroutine reads.
func (b *body) Close() error { return b.raw.Close() }

// errRecorder keeps the first error, other than io.EOF, of the reader it
// wraps.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// responseWriter answers for the body once it has failed: the next
// handler's response is replaced if it had not sent its header yet.
type responseWriter struct {
	http.ResponseWriter
	b        *body
	wrote    bool // the header was sent, by the handler or as the answer
	rejected bool // the answer was sent instead of the handler's response
}

// WriteHeader sends the handler's header, or the answer if the body has
// failed.
func (w *responseWriter) WriteHeader(code int) {
	if w.wrote || (code >= 100 && code < 200) {
		if !w.rejected {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	w.wrote = true
	if w.b.status != 0 {
		w.reject()
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// implicitHeader is a Write or Flush before WriteHeader: the answer if
// the body has failed, otherwise the server's implicit 200 (which still
// detects the Content-Type from the bytes).
func (w *responseWriter) implicitHeader() {
	if !w.wrote {
		if w.b.status != 0 {
			w.reject()
		}
		w.wrote = true
	}
}

// Write writes the handler's response, or fails if the answer replaced
// it.
func (w *responseWriter) Write(p []byte) (int, error) {
	w.implicitHeader()
	if w.rejected {
		return 0, fmt.Errorf("requestdecompression: the response was replaced by the %d answer to the request body: %w", w.b.status, w.b.err)
	}
	return w.ResponseWriter.Write(p)
}

// FlushError flushes the response (http.ResponseController's Flush).
func (w *responseWriter) FlushError() error {
	w.implicitHeader()
	if w.rejected {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush is http.Flusher's.
func (w *responseWriter) Flush() { w.FlushError() }

// Unwrap returns the server's ResponseWriter, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// reject sends the answer to the failed body.
func (w *responseWriter) reject() {
	w.wrote, w.rejected = true, true
	// None of the handler's headers: as the server's own 413, which starts
	// the response afresh (a Set-Cookie or Location of the handler's would
	// go out with an error it never meant to send).
	clear(w.ResponseWriter.Header())
	msg := "The request body is not valid " + w.b.coding + " data."
	if w.b.status == http.StatusRequestEntityTooLarge {
		msg = "The request body decompresses to more than " + strconv.FormatInt(w.b.limit, 10) + " bytes."
	}
	http.Error(w.ResponseWriter, msg, w.b.status)
}
