package staticfiles

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Header values shared by every response; a middleware that adds to them
// appends to a full slice and so copies it.
var (
	hdrNosniff     = []string{"nosniff"}
	hdrBytes       = []string{"bytes"}
	hdrZero        = []string{"0"}
	hdrVaryAE      = []string{"Accept-Encoding"}
	hdrCodingNames = [numCodings][]string{br: {"br"}, zstd: {"zstd"}, gzip: {"gzip"}}
)

// A representation is what a response sends for a file: the file itself,
// a precompressed sibling, or a copy compressed on the fly.
type representation struct {
	coding   coding
	file     *entry   // the file or the sibling whose bytes are sent
	etag     []string // its ETag header value
	onTheFly bool     // coding is applied by the handler
}

// serveFile answers a GET or HEAD for the file e.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, e *entry) {
	hdr := w.Header()
	ranged := r.Method == http.MethodGet && r.Header.Get("Range") != "" // an empty one asks for no range, as net/http reads it
	varies := e.compressible || e.siblings != [numCodings]bool{}
	rep := representation{coding: identity, file: e, etag: e.hdr[hdrETag]}
	// Ranges are always served from the file itself, so that byte offsets
	// mean the same thing whatever the client accepts.
	if varies && !ranged {
		if sib := h.negotiate(r, e, &rep); sib != nil {
			defer sib.release()
		}
	}

	if varies {
		hdr["Vary"] = hdrVaryAE
	}
	hdr["Etag"] = rep.etag
	if lm := rep.file.hdr[hdrLastModified]; lm != nil {
		if rep.file.recent {
			if now := time.Now(); rep.file.modTime.After(now.Add(-recentWindow)) {
				// A file modified a moment ago, or dated in the future:
				// the handler dates the response itself, since the
				// server's Date may lag the clock (this server's, and
				// ASP.NET Core's, by up to a second), so that
				// Last-Modified is never later than Date (RFC 9110,
				// 8.8.2.1).
				date := []string{now.UTC().Format(http1123)}
				hdr["Date"] = date
				if rep.file.modTime.After(now) {
					lm = date
				}
			}
		}
		hdr["Last-Modified"] = lm
	}
	hdr["Cache-Control"] = e.hdr[hdrCacheControl]
	switch precondition(r, rep.etag[0], rep.file.modTime) {
	case http.StatusNotModified:
		w.WriteHeader(http.StatusNotModified)
		return
	case http.StatusPreconditionFailed:
		hdr["Content-Length"] = hdrZero // stated, so that a HEAD gets it too
		w.WriteHeader(http.StatusPreconditionFailed)
		return
	}
	hdr["Content-Type"] = e.hdr[hdrContentType]
	hdr["X-Content-Type-Options"] = hdrNosniff
	hdr["Accept-Ranges"] = hdrBytes

	// An empty file has no range to send: it is sent whole, as net/http
	// sends it (a client may ask every request for a range).
	if ranged && e.size > 0 && rangeApplies(r, e.etag, e.modTime) {
		ranges, err := parseRange(r.Header.Get("Range"), e.size)
		switch {
		case err == nil:
			h.serveRanges(w, e, ranges)
			return
		case errors.Is(err, errBadRange), errors.Is(err, errUnsatisfiable):
			hdr["Content-Range"] = []string{"bytes */" + strconv.FormatInt(e.size, 10)}
			delete(hdr, "Etag")
			delete(hdr, "Last-Modified")
			delete(hdr, "Cache-Control")
			plainError(w, http.StatusRequestedRangeNotSatisfiable)
			return
		}
		// Another unit, or too many ranges: the whole file.
	}

	if rep.coding != identity {
		hdr["Content-Encoding"] = hdrCodingNames[rep.coding]
	}
	var data []byte // a compressed copy kept in memory
	switch {
	case !rep.onTheFly:
		hdr["Content-Length"] = rep.file.hdr[hdrContentLength]
	default:
		if data = h.compressedCopy(e, rep.coding); data != nil {
			hdr["Content-Length"] = []string{strconv.Itoa(len(data))}
		} else {
			delete(hdr, "Content-Length") // compressed as it is sent
		}
	}
	w.WriteHeader(http.StatusOK)
	switch {
	case r.Method == http.MethodHead:
	case !rep.onTheFly:
		sendSection(w, rep.file, 0, rep.file.size)
	case data != nil:
		w.Write(data)
	default:
		h.sendCompressed(w, e, rep.coding)
	}
}

// negotiate picks the representation the request's Accept-Encoding
// prefers: a precompressed sibling when the client accepts one, else
// compression on the fly. It returns the sibling's entry, which the caller
// releases, or nil.
func (h *Handler) negotiate(r *http.Request, e *entry, rep *representation) *entry {
	ae := parseAcceptEncoding(r.Header["Accept-Encoding"])
	avail := e.siblings
	for {
		c := ae.choose(avail, smallestFirst)
		if c == identity {
			break
		}
		sib, err := h.lookup(e.name + codings[c].ext)
		if err == nil && !sib.dir {
			rep.coding, rep.file, rep.etag = c, sib, sib.encodedETag[c]
			return sib
		}
		if err == nil {
			sib.release()
		}
		avail[c] = false
		e.expire() // the sibling went away: check the others next time
	}
	if !e.compressible {
		return nil
	}
	prefs := smallestFirst
	if e.size > maxCachedCompress || h.cache.compressed.Load() >= h.opts.MaxCompressedBytes {
		prefs = fastestFirst // it will be compressed as it is sent
	}
	c := ae.choose([numCodings]bool{true, true, true}, prefs)
	if c == identity {
		return nil
	}
	rep.coding, rep.etag, rep.onTheFly = c, e.flyETag[c], true
	return nil
}

// serveRanges answers a GET with 206: one range, or several as
// multipart/byteranges.
func (h *Handler) serveRanges(w http.ResponseWriter, e *entry, ranges []byteRange) {
	hdr := w.Header()
	if len(ranges) == 1 {
		rg := ranges[0]
		hdr["Content-Range"] = []string{rg.contentRange(e.size)}
		hdr["Content-Length"] = []string{strconv.FormatInt(rg.length, 10)}
		w.WriteHeader(http.StatusPartialContent)
		sendSection(w, e, rg.start, rg.length)
		return
	}
	var b [16]byte
	rand.Read(b[:])
	boundary := hex.EncodeToString(b[:])
	heads, tail, length := multipart(boundary, e.ctype, e.size, ranges)
	hdr["Content-Type"] = []string{"multipart/byteranges; boundary=" + boundary}
	hdr["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	w.WriteHeader(http.StatusPartialContent)
	for i, rg := range ranges {
		if _, err := io.WriteString(w, heads[i]); err != nil {
			return
		}
		if !sendSection(w, e, rg.start, rg.length) {
			return
		}
	}
	io.WriteString(w, tail)
}

// sendSection copies n bytes of e's file from off to w. The
// *io.SectionReader over the *os.File lets a ResponseWriter that
// implements io.ReaderFrom use sendfile with an offset, without moving
// the shared file's position. A file that turned out shorter than its
// Content-Length aborts the response, so that the client sees a broken
// response rather than a short one, and the entry is checked again. It
// reports whether the whole section was sent.
func sendSection(w io.Writer, e *entry, off, n int64) bool {
	buf := getBuffer()
	written, err := io.CopyBuffer(w, io.NewSectionReader(e.f, off, n), *buf)
	putBuffer(buf)
	if err == nil && written < n {
		e.expire()
		panic(http.ErrAbortHandler)
	}
	return err == nil
}
