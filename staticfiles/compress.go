package staticfiles

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/andybalholm/brotli"
	kgzip "github.com/klauspost/compress/gzip"
	kzstd "github.com/klauspost/compress/zstd"
)

const (
	// minCompressSize is the smallest file compressed on the fly: below
	// it the saving does not pay for the work and the header.
	minCompressSize = 1024
	// maxCachedCompress is the largest file whose compressed copies are
	// kept in memory; larger ones are compressed as they are sent.
	maxCachedCompress = 8 << 20
)

// Compression levels: copies kept in memory are made once and served
// many times, so they compress harder than streams made per request, and
// hardest up to 1 MiB (about 0.1 s for brotli's level 9), where most
// scripts and style sheets are.
const (
	hardLimit         = 1 << 20
	hardGzipLevel     = kgzip.BestCompression
	hardBrotliLevel   = 9
	cachedGzipLevel   = 7
	cachedBrotliLevel = 6
	streamGzipLevel   = kgzip.DefaultCompression
	streamBrotliLevel = 4
)

// A variant is a compressed copy of a file made on the fly; done closes
// when data is set (nil when the copy could not be kept).
type variant struct {
	done chan struct{}
	data []byte
}

// encoders holds the compressors: one zstd encoder for whole copies
// (EncodeAll is safe for concurrent use) and pools of stream writers.
type encoders struct {
	zstdOnce   sync.Once
	zstdAll    *kzstd.Encoder
	gzipPool   sync.Pool
	zstdPool   sync.Pool
	brotliPool sync.Pool
}

// compressedCopy returns e's bytes compressed with c, made once and kept
// while e is cached, or nil when the file is too large for that or the
// memory budget (Options.MaxCompressedBytes) is spent.
func (h *Handler) compressedCopy(e *entry, c coding) []byte {
	if e.size > maxCachedCompress {
		return nil
	}
	e.mu.Lock()
	v := e.variants[c]
	if v != nil {
		e.mu.Unlock()
		<-v.done
		return v.data
	}
	if e.evicted || h.cache.compressed.Load() >= h.opts.MaxCompressedBytes {
		e.mu.Unlock()
		return nil
	}
	v = &variant{done: make(chan struct{})}
	e.variants[c] = v
	e.mu.Unlock()

	data, err := h.compressAll(e, c)
	e.mu.Lock()
	if err != nil {
		e.variants[c] = nil // let a later request try again
		h.log.Warn("staticfiles: compressing a file", "name", e.name, "coding", codings[c].name, "err", err)
	} else if !e.evicted && h.cache.compressed.Add(int64(len(data))) <= h.opts.MaxCompressedBytes {
		v.data = data
	} else if !e.evicted {
		h.cache.compressed.Add(-int64(len(data)))
	}
	close(v.done)
	e.mu.Unlock()
	return v.data
}

// compressAll compresses e's whole file with c.
func (h *Handler) compressAll(e *entry, c coding) ([]byte, error) {
	src, err := readAll(e)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(src) / 3)
	switch c {
	case zstd:
		h.enc.zstdOnce.Do(func() {
			h.enc.zstdAll, _ = kzstd.NewWriter(nil, kzstd.WithEncoderLevel(kzstd.SpeedBetterCompression))
		})
		return h.enc.zstdAll.EncodeAll(src, buf.Bytes()), nil
	case gzip:
		level := cachedGzipLevel
		if len(src) <= hardLimit {
			level = hardGzipLevel
		}
		zw, _ := kgzip.NewWriterLevel(&buf, level)
		zw.Write(src)
		err = zw.Close()
	case br:
		level := cachedBrotliLevel
		if len(src) <= hardLimit {
			level = hardBrotliLevel
		}
		bw := brotli.NewWriterLevel(&buf, level)
		bw.Write(src)
		err = bw.Close()
	}
	return buf.Bytes(), err
}

// resettable is what the pooled stream compressors have in common.
type resettable interface {
	io.WriteCloser
	Reset(io.Writer)
}

// streamWriter returns a pooled compressor for c writing to w.
func (h *Handler) streamWriter(c coding, w io.Writer) resettable {
	var zw resettable
	switch c {
	case gzip:
		if v, ok := h.enc.gzipPool.Get().(resettable); ok {
			zw = v
		} else {
			zw, _ = kgzip.NewWriterLevel(w, streamGzipLevel)
		}
	case zstd:
		if v, ok := h.enc.zstdPool.Get().(resettable); ok {
			zw = v
		} else {
			// One goroutine per stream, and a 1 MiB window (RFC 8878 asks
			// HTTP encoders for 8 MiB at most) to bound each encoder's
			// memory.
			zw, _ = kzstd.NewWriter(w, kzstd.WithEncoderConcurrency(1), kzstd.WithWindowSize(1<<20))
		}
	case br:
		if v, ok := h.enc.brotliPool.Get().(resettable); ok {
			zw = v
		} else {
			zw = brotli.NewWriterLevel(w, streamBrotliLevel)
		}
	}
	zw.Reset(w)
	return zw
}

// putStreamWriter returns a compressor to its pool, holding no writer.
func (h *Handler) putStreamWriter(c coding, zw resettable) {
	zw.Reset(io.Discard)
	switch c {
	case gzip:
		h.enc.gzipPool.Put(zw)
	case zstd:
		h.enc.zstdPool.Put(zw)
	case br:
		h.enc.brotliPool.Put(zw)
	}
}

// sendCompressed compresses e's file with c while sending it.
func (h *Handler) sendCompressed(w http.ResponseWriter, e *entry, c coding) {
	zw := h.streamWriter(c, w)
	buf := getBuffer()
	written, err := io.CopyBuffer(zw, io.NewSectionReader(e.f, 0, e.size), *buf)
	putBuffer(buf)
	if err == nil {
		err = zw.Close()
	}
	h.putStreamWriter(c, zw)
	if err == nil && written < e.size {
		e.expire()
		panic(http.ErrAbortHandler)
	}
}

// errShortFile reports a file that shrank while it was read.
var errShortFile = errors.New("the file changed while it was read")

// readAll reads e's whole file, checking that it did not change meanwhile.
func readAll(e *entry) ([]byte, error) {
	b := make([]byte, e.size)
	n, err := e.f.ReadAt(b, 0)
	if int64(n) == e.size {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if st, err := fstat(e.f, e.fd); err != nil || !st.same(e.state) {
		return nil, errShortFile
	}
	return b, nil
}
