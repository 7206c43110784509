package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	kgzip "github.com/klauspost/compress/gzip"
	kzstd "github.com/klauspost/compress/zstd"
	"github.com/quic-go/quic-go/http3"

	"github.com/kestrel-go/kestrel/staticfiles"
)

// sfFile is a file of TestStaticFilesAgainstModel's folder, with what
// the model knows of it: its bytes, type, dates, precompressed siblings,
// and the ETags learned from the server for each representation.
type sfFile struct {
	name         string
	data         []byte
	ctype        string
	compressible bool              // a text type of 1 KiB or more
	sibs         map[string][]byte // precompressed siblings by coding
	mod, sibMod  time.Time         // the file's and its siblings' modification times
	etag         map[string]string // by coding, "" for identity
	flyLen       map[string]int    // by coding, the length of a copy compressed on the fly and kept
}

// sfCodings are the codings the package sends, in its order for ties.
var sfCodings = []string{"br", "zstd", "gzip"}

var sfSibExt = map[string]string{"br": ".br", "zstd": ".zst", "gzip": ".gz"}

// varies reports whether the file's responses depend on Accept-Encoding.
func (f *sfFile) varies() bool { return f.compressible || len(f.sibs) > 0 }

// length is the Content-Length of the representation with the coding c,
// -1 when it has none.
func (f *sfFile) length(c string) int {
	if b := f.sibs[c]; b != nil || c == "" {
		if c == "" {
			return len(f.data)
		}
		return len(b)
	}
	if n, ok := f.flyLen[c]; ok {
		return n
	}
	return -1
}

// lm is the Last-Modified of the representation with the coding c.
func (f *sfFile) lm(c string) time.Time {
	if f.sibs[c] != nil {
		return f.sibMod
	}
	return f.mod
}

// sfWant is the model's answer to a request.
type sfWant struct {
	status int
	coding string // the 200's Content-Encoding, "" for identity
	ranges [][2]int64
	why    string // how the model came to it, for failure messages
}

// sfModel answers a request for f as the package should: net/http's
// ServeContent where ASP.NET Core's StaticFileMiddleware agrees with it,
// ASP.NET Core's and the package's documented choices where they differ:
//
//   - methods other than GET and HEAD answer 405 with Allow (documented;
//     ServeContent serves them, ASP.NET passes them on);
//   - Range applies to GET only (RFC 9110, 14.2, as ASP.NET; ServeContent
//     answers a HEAD with 206), to an empty file never (it is sent whole,
//     documented, as ServeContent does for a satisfiable-looking range),
//     and a range unit other than bytes is ignored (RFC 9110, 14.2;
//     ServeContent answers 416);
//   - a malformed Range answers 416, as ServeContent does, and every 416
//     has "Content-Range: bytes */size", as ASP.NET's;
//   - ranges are served from the file itself, never from a compressed
//     representation; more than 64 ranges, or several whose total exceeds
//     the size, are ignored (ServeContent ignores the latter);
//   - an empty If-Match or If-None-Match is no condition (as ServeContent
//     and ASP.NET read them);
//   - the representation is a precompressed sibling when the client
//     accepts one, else a copy compressed on the fly (text of 1 KiB or
//     more): the highest q-value wins, ties go to br, zstd, gzip (zstd,
//     gzip, br for a file over 8 MiB, compressed as it is sent), then
//     identity; identity is acceptable unless identity;q=0 or *;q=0
//     excludes it, and when nothing is acceptable it is sent anyway.
func sfModel(f *sfFile, method string, h http.Header) sfWant {
	if method != "GET" && method != "HEAD" {
		return sfWant{status: 405, why: "method"}
	}
	rng := ""
	if method == "GET" && len(h["Range"]) > 0 {
		rng = h["Range"][0]
	}
	coding := ""
	if rng == "" && f.varies() {
		coding = sfNegotiate(f, h.Values("Accept-Encoding"))
	}
	etag, lm := f.etag[coding], f.lm(coding).Truncate(time.Second)
	why := fmt.Sprintf("coding %q etag %s", coding, etag)
	if im := strings.Join(h.Values("If-Match"), ","); strings.Trim(im, " \t,") != "" {
		if !sfETagMatch(h.Values("If-Match"), etag, true) {
			return sfWant{status: 412, why: why + ": If-Match fails"}
		}
	} else if t, ok := sfDate(h.Values("If-Unmodified-Since")); ok && lm.After(t) {
		return sfWant{status: 412, why: why + ": If-Unmodified-Since fails"}
	}
	if inm := strings.Join(h.Values("If-None-Match"), ","); strings.Trim(inm, " \t,") != "" {
		if sfETagMatch(h.Values("If-None-Match"), etag, false) {
			return sfWant{status: 304, coding: coding, why: why + ": If-None-Match matches"}
		}
	} else if t, ok := sfDate(h.Values("If-Modified-Since")); ok && !lm.After(t) {
		return sfWant{status: 304, coding: coding, why: why + ": not modified since"}
	}
	if rng == "" || len(f.data) == 0 {
		return sfWant{status: 200, coding: coding, why: why}
	}
	if ir := strings.TrimSpace(h.Get("If-Range")); ir != "" {
		applies := false
		if strings.HasPrefix(ir, `"`) {
			applies = ir == f.etag[""]
		} else if t, err := http.ParseTime(ir); err == nil && !strings.HasPrefix(ir, "W/") {
			applies = t.Equal(f.mod.Truncate(time.Second))
		}
		if !applies {
			return sfWant{status: 200, why: why + ": If-Range does not match"}
		}
	}
	ranges, status := sfParseRange(rng, int64(len(f.data)))
	switch status {
	case 200:
		return sfWant{status: 200, why: why + ": range ignored"}
	case 416:
		return sfWant{status: 416, why: why + ": range not satisfiable"}
	}
	return sfWant{status: 206, ranges: ranges, why: why}
}

// sfNegotiate picks the coding of the representation sent, "" for
// identity, by RFC 9110, 12.5.3.
func sfNegotiate(f *sfFile, fields []string) string {
	q := map[string]int{}
	star, identity := -1, -1
	for _, field := range fields {
		for _, el := range strings.Split(field, ",") {
			name, params, _ := strings.Cut(el, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			w := 1000
			if params != "" {
				k, v, _ := strings.Cut(strings.TrimSpace(params), "=")
				if strings.ToLower(strings.TrimSpace(k)) != "q" || strings.Contains(v, ";") {
					continue
				}
				fl, err := strconv.ParseFloat(v, 64)
				if err != nil || fl < 0 || fl > 1 || len(v) > 5 || !(v[0] == '0' || v[0] == '1') || len(v) > 1 && v[1] != '.' {
					continue
				}
				w = int(fl*1000 + 0.5)
			}
			if name == "x-gzip" {
				name = "gzip"
			}
			switch name {
			case "*":
				star = max(star, w)
			case "identity":
				identity = max(identity, w)
			default:
				q[name] = max(q[name]-1, w) + 1 // stored +1: 0 means not named
			}
		}
	}
	weight := func(c string) int {
		if w, ok := q[c]; ok {
			return w - 1
		}
		return max(star, 0)
	}
	switch {
	case identity >= 0:
	case star == 0:
		identity = 0
	default:
		identity = 1
	}
	pick := func(order []string, avail func(string) bool) string {
		best, bestQ := "", identity
		for _, c := range order {
			if avail(c) && weight(c) > 0 && (weight(c) > bestQ || weight(c) == bestQ && best == "") {
				best, bestQ = c, weight(c)
			}
		}
		return best
	}
	if c := pick(sfCodings, func(c string) bool { return f.sibs[c] != nil }); c != "" {
		return c
	}
	if f.compressible {
		order := sfCodings
		if len(f.data) > 8<<20 {
			order = []string{"zstd", "gzip", "br"} // compressed as it is sent: the fastest first
		}
		return pick(order, func(string) bool { return true })
	}
	return ""
}

// sfETagMatch compares the lists of entity tags in fields with etag,
// strongly or weakly; "*" matches; a malformed element ends its field's
// list, as in net/http (which reads only the first field).
func sfETagMatch(fields []string, etag string, strong bool) bool {
	ours, oursWeak := strings.CutPrefix(etag, "W/")
	for _, rest := range fields {
		for {
			rest = strings.TrimLeft(rest, " \t,")
			if rest == "" {
				break
			}
			if rest[0] == '*' {
				return true
			}
			weak := strings.HasPrefix(rest, "W/")
			rest = strings.TrimPrefix(rest, "W/")
			if len(rest) < 2 || rest[0] != '"' {
				break
			}
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			tag := rest[:end+2]
			rest = rest[end+2:]
			if tag == ours && (!strong || !weak && !oursWeak) {
				return true
			}
		}
	}
	return false
}

// sfDate reads a date precondition: exactly one valid HTTP-date.
func sfDate(v []string) (time.Time, bool) {
	if len(v) != 1 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(strings.TrimSpace(v[0]))
	return t, err == nil
}

// sfParseRange reads a Range value against a size: the ranges, 206;
// 200 when it is ignored; 416 when it is malformed or nothing overlaps.
func sfParseRange(s string, size int64) ([][2]int64, int) {
	unit, set, ok := strings.Cut(s, "=")
	if !ok || unit == "" || strings.ContainsAny(unit, " \t,;\"") {
		return nil, 416
	}
	if !strings.EqualFold(unit, "bytes") {
		return nil, 200
	}
	var ranges [][2]int64
	n, total := 0, int64(0)
	for _, spec := range strings.Split(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		n++
		a, b, ok := strings.Cut(spec, "-")
		num := func(s string) (int64, bool) {
			if s == "" || strings.Trim(s, "0123456789") != "" {
				return 0, false
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				v = 1<<63 - 1
			}
			return v, true
		}
		if !ok {
			return nil, 416
		}
		if a == "" {
			k, ok := num(b)
			if !ok {
				return nil, 416
			}
			if k > 0 {
				ranges = append(ranges, [2]int64{max(size-k, 0), size - 1})
			}
			continue
		}
		start, ok := num(a)
		if !ok {
			return nil, 416
		}
		end := int64(1<<63 - 1)
		if b != "" {
			if end, ok = num(b); !ok || end < start {
				return nil, 416
			}
		}
		if start < size {
			ranges = append(ranges, [2]int64{start, min(end, size-1)})
		}
	}
	if n == 0 {
		return nil, 416
	}
	if n > 64 {
		return nil, 200
	}
	if len(ranges) == 0 {
		return nil, 416
	}
	for _, r := range ranges {
		total += r[1] - r[0] + 1
	}
	if len(ranges) > 1 && total > size {
		return nil, 200
	}
	return ranges, 206
}

// sfCheck compares a response (its body read whole) with the model's
// answer and returns what differs.
func sfCheck(f *sfFile, method string, want sfWant, resp *http.Response, body []byte) []string {
	var bad []string
	errf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	h := resp.Header
	hdr := func(name, want string) {
		if got := strings.Join(h.Values(name), ", "); got != want {
			errf("%s: %q, want %q", name, got, want)
		}
	}
	if resp.StatusCode != want.status {
		errf("status %d, want %d (%s)", resp.StatusCode, want.status, want.why)
		return bad
	}
	if cl := h.Get("Content-Length"); cl != "" && method != "HEAD" && cl != strconv.Itoa(len(body)) {
		errf("Content-Length %s, but a body of %d bytes", cl, len(body))
	}
	if (method == "HEAD" || want.status == 304) && len(body) > 0 {
		errf("a body of %d bytes", len(body))
	}
	if want.status >= 300 || want.status == 206 {
		hdr("Content-Encoding", "")
	}
	if want.status != 206 && want.status != 416 {
		hdr("Content-Range", "")
	}
	vary := ""
	if f.varies() {
		vary = "Accept-Encoding"
	}
	switch want.status {
	case 405:
		hdr("Allow", "GET, HEAD")
		hdr("Etag", "")
	case 412:
		if len(body) > 0 {
			errf("412 with a body of %d bytes", len(body))
		}
	case 416:
		hdr("Content-Range", "bytes */"+strconv.Itoa(len(f.data)))
		hdr("Etag", "")
		hdr("Last-Modified", "")
	case 304:
		// RFC 9110, 8.6: a Content-Length on a 304 is the 200's.
		if cl := h.Get("Content-Length"); cl != "" && cl != strconv.Itoa(f.length(want.coding)) {
			errf("304 with Content-Length %s, want none or the 200's %d", cl, f.length(want.coding))
		}
		hdr("Etag", f.etag[want.coding])
		hdr("Last-Modified", f.lm(want.coding).UTC().Format(http.TimeFormat))
		hdr("Vary", vary)
	case 200, 206:
		hdr("Vary", vary)
		hdr("Accept-Ranges", "bytes")
		lm := f.lm(want.coding)
		hdr("Last-Modified", lm.UTC().Format(http.TimeFormat))
		hdr("Etag", f.etag[want.coding])
	}
	switch want.status {
	case 200:
		hdr("Content-Type", f.ctype)
		hdr("Content-Encoding", want.coding)
		switch sib := f.sibs[want.coding]; {
		case want.coding == "":
			hdr("Content-Length", strconv.Itoa(len(f.data)))
			if method == "GET" && !bytes.Equal(body, f.data) {
				errf("the body (%d bytes) is not the file's (%d bytes)", len(body), len(f.data))
			}
		case sib != nil:
			hdr("Content-Length", strconv.Itoa(len(sib)))
			if method == "GET" && !bytes.Equal(body, sib) {
				errf("the body (%d bytes) is not the %s sibling's (%d bytes)", len(body), want.coding, len(sib))
			}
		default:
			if n, kept := f.flyLen[want.coding]; kept {
				hdr("Content-Length", strconv.Itoa(n))
			} else {
				hdr("Content-Length", "") // compressed as it is sent
			}
			if method == "HEAD" {
				break
			}
			if got, err := sfDecode(want.coding, body); err != nil || !bytes.Equal(got, f.data) {
				errf("the %s body (%d bytes) decodes to %d bytes (%v), not the file's %d", want.coding, len(body), len(got), err, len(f.data))
			}
		}
	case 206:
		if len(want.ranges) == 1 {
			r := want.ranges[0]
			hdr("Content-Type", f.ctype)
			hdr("Content-Range", fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], len(f.data)))
			if !bytes.Equal(body, f.data[r[0]:r[1]+1]) {
				errf("the range's body (%d bytes) is not bytes %d-%d", len(body), r[0], r[1])
			}
			break
		}
		hdr("Content-Range", "")
		mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			errf("Content-Type %q, want multipart/byteranges", h.Get("Content-Type"))
			break
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for i, r := range want.ranges {
			p, err := mr.NextPart()
			if err != nil {
				errf("part %d: %v", i, err)
				break
			}
			b, err := io.ReadAll(p)
			if err != nil || !bytes.Equal(b, f.data[r[0]:r[1]+1]) {
				errf("part %d: %d bytes (%v), not bytes %d-%d", i, len(b), err, r[0], r[1])
			}
			if got, want := p.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], len(f.data)); got != want {
				errf("part %d: Content-Range %q, want %q", i, got, want)
			}
			if got := p.Header.Get("Content-Type"); got != f.ctype {
				errf("part %d: Content-Type %q, want %q", i, got, f.ctype)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			errf("after %d parts: %v, want the end", len(want.ranges), err)
		}
	}
	return bad
}

// sfDecode undoes a content coding.
func sfDecode(coding string, b []byte) ([]byte, error) {
	switch coding {
	case "gzip":
		zr, err := kgzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "br":
		return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	case "zstd":
		zr, err := kzstd.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	}
	return b, nil
}

// sfEncode compresses b for a precompressed sibling.
func sfEncode(t *testing.T, coding string, b []byte) []byte {
	var buf bytes.Buffer
	switch coding {
	case "gzip":
		zw := kgzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	case "br":
		bw := brotli.NewWriter(&buf)
		bw.Write(b)
		bw.Close()
	case "zstd":
		zw, _ := kzstd.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	default:
		t.Fatalf("coding %q", coding)
	}
	return buf.Bytes()
}

// sfGen generates the headers of a request for f.
func sfGen(rng *rand.Rand, f *sfFile) http.Header {
	h := http.Header{}
	size := int64(len(f.data))
	pos := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return max(size-1, 0)
		case 2:
			return size + rng.Int64N(3)
		}
		return rng.Int64N(size + 1)
	}
	spec := func() string {
		switch rng.IntN(6) {
		case 0:
			return fmt.Sprintf("-%d", rng.Int64N(size+2))
		case 1:
			return fmt.Sprintf("%d-", pos())
		case 2:
			return fmt.Sprintf("%d-99999999999999999999999", pos())
		}
		a := pos()
		return fmt.Sprintf("%d-%d", a, a+rng.Int64N(max(size, 1)))
	}
	if rng.IntN(2) == 0 {
		var v string
		switch rng.IntN(8) {
		case 0, 1, 2:
			v = "bytes=" + spec()
		case 3, 4:
			n := 2 + rng.IntN(4)
			if rng.IntN(8) == 0 {
				n = 60 + rng.IntN(10)
			}
			var specs []string
			for range n {
				specs = append(specs, spec())
			}
			v = "bytes=" + strings.Join(specs, []string{",", ", ", " ,"}[rng.IntN(3)])
		case 5:
			v = []string{"", "bytes=", "bytes=abc", "bytes=5-2", "bytes 0-1", "bytes=--1", "bytes=0-1,x", "bytes=-", "=0-1", "bytes=1-2-3", "bytes=0x1-2"}[rng.IntN(11)]
		case 6:
			v = []string{"items=0-1", "Bytes=0-0", "BYTES=-1", "bytes=,0-0,", "bytes= 0-0 , -1", "bytes=0-0,0-0"}[rng.IntN(6)]
		case 7:
			v = fmt.Sprintf("bytes=0-%d,%d-", size/2, size/3) // overlapping
		}
		h["Range"] = []string{v}
	}
	etags := []string{`"stale"`, `W/"stale"`, f.etag[""], "W/" + strings.TrimPrefix(f.etag[""], "W/")}
	for _, c := range sfCodings {
		if t := f.etag[c]; t != "" {
			etags = append(etags, t)
		}
	}
	etagList := func() string {
		switch rng.IntN(10) {
		case 0:
			return "*"
		case 1:
			return ""
		case 2:
			return "garbage, " + etags[rng.IntN(len(etags))]
		case 3, 4:
			return etags[rng.IntN(len(etags))] + ", " + etags[rng.IntN(len(etags))]
		}
		return etags[rng.IntN(len(etags))]
	}
	date := func() string {
		base := []time.Time{f.mod, f.sibMod}[rng.IntN(2)].Truncate(time.Second)
		switch rng.IntN(7) {
		case 0:
			return "yesterday"
		case 1:
			base = base.Add(-time.Second)
		case 2:
			base = base.Add(time.Second)
		case 3:
			return base.UTC().Format(time.RFC850)
		case 4:
			return base.UTC().Format(time.ANSIC)
		}
		return base.UTC().Format(http.TimeFormat)
	}
	conditional := rng.IntN(2) == 0 // half the requests have no precondition
	if conditional && rng.IntN(3) == 0 {
		h.Set("If-Match", etagList())
	}
	if conditional && rng.IntN(2) == 0 {
		h.Set("If-None-Match", etagList())
		if rng.IntN(4) == 0 {
			h.Add("If-None-Match", etagList()) // a second field
		}
	}
	if conditional && rng.IntN(3) == 0 {
		h.Set("If-Modified-Since", date())
		if rng.IntN(8) == 0 {
			h.Add("If-Modified-Since", date()) // two are none
		}
	}
	if conditional && rng.IntN(4) == 0 {
		h.Set("If-Unmodified-Since", date())
	}
	if len(h["Range"]) > 0 && rng.IntN(3) == 0 {
		switch rng.IntN(4) {
		case 0:
			h.Set("If-Range", date())
		default:
			h.Set("If-Range", etags[rng.IntN(len(etags))])
		}
	}
	aes := []string{"", "gzip", "br", "zstd", "gzip, deflate, br, zstd", "*", "identity", "identity;q=0", "*;q=0",
		"gzip;q=0.5, br;q=0.8", "br;q=0, gzip", "gzip;q=0, *", "x-gzip", "GZIP;Q=1.0", "gzip;q=1.5", "gzip;q=0.001, identity;q=0",
		"zstd;q=0.9, identity;q=0.95", "br, identity;q=1", "*;q=0.1, identity;q=0.1", "gzip ; q=0.3", "deflate", "identity;q=0, *;q=0", "gzip;q=0.5, gzip;q=0"}
	if v := aes[rng.IntN(len(aes))]; v != "" || rng.IntN(2) == 0 {
		h.Set("Accept-Encoding", v)
		if rng.IntN(6) == 0 {
			h.Add("Accept-Encoding", aes[rng.IntN(len(aes))]) // a second field
		}
	}
	return h
}

// TestStaticFilesAgainstModel sends generated requests (method, Range,
// If-Range, If-Match, If-None-Match, If-Modified-Since,
// If-Unmodified-Since, Accept-Encoding) for files of every size that
// matters (empty, one byte, under and over the compression threshold,
// the engine's head buffer and its sendfile threshold, with precompressed
// siblings newer than the file) over HTTP/1.1 and h2c with and without a
// connection middleware (which turns sendfile off), HTTP/1.1 over TLS, h2
// and HTTP/3, then in pipelined batches over HTTP/1.1 with and without
// the middleware, and compares each answer with sfModel's: status, the body
// against Content-Length and the file (decoded, or the sibling's bytes, or
// the ranges' parts), Content-Range (bytes */size on 416), ETag,
// Last-Modified, Vary, Accept-Ranges and Content-Encoding, no body on
// HEAD and 304. SFUZZ_N requests (800 by default) from SFUZZ_SEED;
// SFUZZ_BIG adds files over 8 MiB (compressed as they are sent) and over
// 16 MiB (an ETag of time and size).
func TestStaticFilesAgainstModel(t *testing.T) {
	n, seed := 800, uint64(time.Now().UnixNano())
	if v, err := strconv.Atoi(os.Getenv("SFUZZ_N")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("SFUZZ_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("SFUZZ_SEED=%d SFUZZ_N=%d", seed, n)
	rng := rand.New(rand.NewPCG(seed, seed^0x5f0e))

	dir := t.TempDir()
	mod := time.Date(2024, 3, 4, 5, 6, 7, 500_000_000, time.UTC)
	words := strings.Fields("static file server range etag gzip brotli zstd header body kestrel request response")
	textOf := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(" \n"[rng.IntN(2)])
		}
		return b.Bytes()[:n]
	}
	random := make([]byte, 70000)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	txt, js := "text/plain; charset=utf-8", "text/javascript; charset=utf-8"
	files := []*sfFile{
		{name: "empty.txt", data: []byte{}, ctype: txt},
		{name: "one.txt", data: []byte("x"), ctype: txt},
		{name: "small.txt", data: textOf(1023), ctype: txt},
		{name: "edge.txt", data: textOf(1024), ctype: txt, compressible: true},
		{name: "head.txt", data: textOf(4097), ctype: txt, compressible: true},
		{name: "copy.js", data: textOf(32 << 10), ctype: js, compressible: true},
		{name: "send.js", data: textOf(32<<10 + 1), ctype: js, compressible: true},
		{name: "big.txt", data: textOf(200_000), ctype: txt, compressible: true, sibs: map[string][]byte{"gzip": nil, "br": nil}},
		{name: "style.css", data: textOf(500), ctype: "text/css; charset=utf-8", sibs: map[string][]byte{"gzip": nil}},
		{name: "data.bin", data: random, ctype: "application/octet-stream"},
		{name: "tiny.bin", data: random[:40], ctype: "application/octet-stream", sibs: map[string][]byte{"zstd": nil}},
	}
	if os.Getenv("SFUZZ_BIG") != "" {
		// Compressed as they are sent (over 8 MiB), and an ETag made of the
		// time and size (over 16 MiB).
		files = append(files,
			&sfFile{name: "stream.txt", data: textOf(8<<20 + 1), ctype: txt, compressible: true},
			&sfFile{name: "huge.bin", data: bytes.Repeat(random, 16<<20/len(random)+1), ctype: "application/octet-stream"})
	}
	for _, f := range files {
		f.mod, f.sibMod = mod, mod.Add(10*time.Second)
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		for c := range f.sibs {
			f.sibs[c] = sfEncode(t, c, f.data)
			if err := os.WriteFile(p+sfSibExt[c], f.sibs[c], 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p+sfSibExt[c], f.sibMod, f.sibMod)
		}
		os.Chtimes(p, f.mod, f.mod)
	}
	h, err := staticfiles.New(dir, staticfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })

	wrap := func(_ context.Context, c net.Conn) (net.Conn, error) { return struct{ net.Conn }{c}, nil }
	plain := startServer(t, &Server{Handler: h})
	wrapped := startEndpoint(t, &Server{Handler: h, Logger: quietLogger},
		Endpoint{Address: "127.0.0.1:0", ConnectionMiddleware: []ConnectionMiddleware{wrap}})
	_, secure := h3Server(t, &Server{Handler: h}, HTTP1AndHTTP2AndHTTP3)

	// Clients that send Accept-Encoding as it is given and never decode.
	tr := func(tls bool, h2c bool) *http.Client {
		tr := &http.Transport{DisableCompression: true}
		if tls {
			tr.TLSClientConfig, tr.ForceAttemptHTTP2 = testClientTLS(t), true
		}
		if h2c {
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}
	}
	h1tls := &http.Transport{DisableCompression: true, TLSClientConfig: testClientTLS(t)}
	t.Cleanup(h1tls.CloseIdleConnections)
	h3tr := &http3.Transport{TLSClientConfig: testClientTLS(t), DisableCompression: true}
	t.Cleanup(func() { h3tr.Close() })
	clients := []protocolClient{
		{"HTTP/1.1", tr(false, false), "http://" + plain, 1},
		{"HTTP/1.1 with middleware", tr(false, false), "http://" + wrapped, 1},
		{"h2c", tr(false, true), "http://" + plain, 2},
		{"h2c with middleware", tr(false, true), "http://" + wrapped, 2},
		{"HTTP/1.1 over TLS", &http.Client{Transport: h1tls, Timeout: 20 * time.Second}, "https://" + secure, 1},
		{"h2", tr(true, false), "https://" + secure, 2},
		{"HTTP/3", &http.Client{Transport: h3tr, Timeout: 20 * time.Second}, "https://" + secure, 3},
	}

	send := func(c protocolClient, method, name string, hdr http.Header) (*http.Response, []byte, error) {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("a=1")
		}
		req, err := http.NewRequest(method, c.base+"/"+name, body)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range hdr {
			req.Header[k] = slices.Clone(v)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.ProtoMajor != c.major {
			err = fmt.Errorf("answered over %s", resp.Proto)
		}
		return resp, b, err
	}

	// The ETags are the server's to choose: learn them, then hold every
	// protocol to them.
	for _, f := range files {
		f.etag, f.flyLen = map[string]string{}, map[string]int{}
		for _, c := range append([]string{""}, sfCodings...) {
			ae := c
			if c == "" {
				ae = "identity"
			}
			resp, body, err := send(clients[0], "GET", f.name, http.Header{"Accept-Encoding": {ae}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get("Content-Encoding") != c {
				continue
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && c != "" && f.sibs[c] == nil {
				f.flyLen[c] = len(body)
			}
			et := resp.Header.Get("Etag")
			weak := strings.HasPrefix(et, "W/")
			if f.etag[c] = et; !strings.HasSuffix(et, `"`) || weak != (c != "" && f.sibs[c] == nil) {
				t.Fatalf("%s, %q: ETag %q: want a strong one for the file and its siblings, a weak one compressed on the fly", f.name, c, et)
			}
		}
	}

	methods := []string{"GET", "GET", "GET", "GET", "GET", "HEAD", "HEAD", "POST", "OPTIONS"}
	failures := 0
	seen := map[string]int{} // what the model answered, for the log
	for i := range n {
		f := files[rng.IntN(len(files))]
		method := methods[rng.IntN(len(methods))]
		hdr := sfGen(rng, f)
		want := sfModel(f, method, hdr)
		kind := fmt.Sprintf("%s %d", method, want.status)
		switch {
		case want.status == 200 && want.coding != "" && f.sibs[want.coding] != nil:
			kind += " " + want.coding + " sibling"
		case want.status == 200 && want.coding != "":
			kind += " " + want.coding + " on the fly"
		case want.status == 206 && len(want.ranges) > 1:
			kind += " multipart"
		}
		seen[kind]++
		// Every protocol at once: the handler's cache and compressed
		// copies are shared.
		bads := make([][]string, len(clients))
		var wg sync.WaitGroup
		for j, c := range clients {
			wg.Go(func() {
				resp, body, err := send(c, method, f.name, hdr)
				if err != nil {
					bads[j] = []string{err.Error()}
				} else {
					bads[j] = sfCheck(f, method, want, resp, body)
				}
			})
		}
		wg.Wait()
		for j, c := range clients {
			if bad := bads[j]; len(bad) > 0 {
				var hs []string
				for k, v := range hdr {
					hs = append(hs, k+": "+strings.Join(v, " | "))
				}
				slices.Sort(hs)
				t.Errorf("request %d, %s, %s /%s (%d bytes)\n  %s\n  -> %s", i, c.name, method, f.name, len(f.data),
					strings.Join(hs, "\n  "), strings.Join(bad, "\n  -> "))
				if failures++; failures > 20 {
					t.Fatal("too many failures")
				}
			}
		}
	}
	// Pipelined: batches of requests written at once on one connection,
	// so that responses sent with sendfile, HEAD's and 304's follow one
	// another in the server's batched writes.
	for _, ep := range []struct{ name, addr string }{{"HTTP/1.1 pipelined", plain}, {"HTTP/1.1 pipelined with middleware", wrapped}} {
		conn, err := net.Dial("tcp", ep.addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		for i := range n / 4 {
			type sent struct {
				f      *sfFile
				method string
				hdr    http.Header
			}
			var batch []sent
			var out bytes.Buffer
			for range 1 + rng.IntN(8) {
				f := files[rng.IntN(len(files))]
				method := methods[rng.IntN(len(methods))]
				hdr := sfGen(rng, f)
				var body io.Reader
				if method == "POST" {
					body = strings.NewReader("a=1")
				}
				req, _ := http.NewRequest(method, "http://"+ep.addr+"/"+f.name, body)
				for k, v := range hdr {
					req.Header[k] = slices.Clone(v)
				}
				req.Write(&out)
				batch = append(batch, sent{f, method, hdr})
			}
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := conn.Write(out.Bytes()); err != nil {
				t.Fatalf("%s, batch %d: %v", ep.name, i, err)
			}
			for j, r := range batch {
				resp, err := http.ReadResponse(br, &http.Request{Method: r.method})
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
				}
				if err != nil {
					t.Fatalf("%s, batch %d, response %d of %d (%s /%s): %v", ep.name, i, j+1, len(batch), r.method, r.f.name, err)
				}
				if bad := sfCheck(r.f, r.method, sfModel(r.f, r.method, r.hdr), resp, body); len(bad) > 0 {
					t.Errorf("%s, batch %d, response %d of %d, %s /%s: %v\n  -> %s", ep.name, i, j+1, len(batch), r.method, r.f.name, r.hdr, strings.Join(bad, "\n  -> "))
					if failures++; failures > 20 {
						t.Fatal("too many failures")
					}
				}
			}
		}
		conn.Close()
	}

	kinds := slices.Sorted(maps.Keys(seen))
	for i, k := range kinds {
		kinds[i] = fmt.Sprintf("%s: %d", k, seen[k])
	}
	t.Logf("the model's answers: %s", strings.Join(kinds, ", "))
}
