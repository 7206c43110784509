package staticfiles

import (
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		size int64
		want []byteRange
		err  error
	}{
		{"bytes=0-0", 10, []byteRange{{0, 1}}, nil},
		{"bytes=2-4", 10, []byteRange{{2, 3}}, nil},
		{"bytes=5-", 10, []byteRange{{5, 5}}, nil},
		{"bytes=-3", 10, []byteRange{{7, 3}}, nil},
		{"bytes=-30", 10, []byteRange{{0, 10}}, nil},
		{"bytes=0-99", 10, []byteRange{{0, 10}}, nil},
		{"bytes=0-99999999999999999999999", 10, []byteRange{{0, 10}}, nil},
		{"Bytes=1-2", 10, []byteRange{{1, 2}}, nil},
		{"bytes= 1-2 , 4-5 ", 10, []byteRange{{1, 2}, {4, 2}}, nil},
		{"bytes=1-2,,4-5", 10, []byteRange{{1, 2}, {4, 2}}, nil},
		{"bytes=6-7,0-1", 10, []byteRange{{6, 2}, {0, 2}}, nil},
		{"bytes=0-1,20-30", 10, []byteRange{{0, 2}}, nil}, // the unsatisfiable one is dropped
		{"bytes=10-", 10, nil, errUnsatisfiable},
		{"bytes=10-20,30-40", 10, nil, errUnsatisfiable},
		{"bytes=-0", 10, nil, errUnsatisfiable},
		{"bytes=-5", 0, nil, errUnsatisfiable},
		{"bytes=0-", 0, nil, errUnsatisfiable},
		{"bytes=99999999999999999999999-", 10, nil, errUnsatisfiable},
		{"bytes=4-2", 10, nil, errBadRange},
		{"bytes=a-b", 10, nil, errBadRange},
		{"bytes=-", 10, nil, errBadRange},
		{"bytes=1", 10, nil, errBadRange},
		{"bytes=", 10, nil, errBadRange},
		{"bytes=,", 10, nil, errBadRange},
		{"bytes=+1-2", 10, nil, errBadRange},
		{"bytes=1-2-3", 10, nil, errBadRange},
		{"bytes=1 -2", 10, nil, errBadRange},
		{"bytes", 10, nil, errBadRange},
		{"=0-1", 10, nil, errBadRange},
		{"items=0-1", 10, nil, errNotBytesRanges},
		{"bytes=0-5,3-8", 10, nil, errIgnoredRange},                                  // overlaps exceed the size
		{"bytes=" + strings.Repeat("0-0,", maxRanges+1), 1000, nil, errIgnoredRange}, // too many
	} {
		got, err := parseRange(tc.in, tc.size)
		if !errors.Is(err, tc.err) || !slices.Equal(got, tc.want) {
			t.Errorf("parseRange(%q, %d) = %v, %v; want %v, %v", tc.in, tc.size, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=1-2,4-5", "bytes=99999999999999999999-", "items=1-2", "bytes=,,", "bytes=1-2-3"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				size = 0
			}
		}
		ranges, err := parseRange(s, size)
		if want, wantErr, either := rangeModel(s, size); !errors.Is(err, wantErr) && !errors.Is(err, either) || !slices.Equal(ranges, want) {
			t.Fatalf("parseRange(%q, %d) = %v, %v; the RFC's rules give %v, %v", s, size, ranges, err, want, wantErr)
		}
		if err != nil {
			if ranges != nil {
				t.Fatalf("%q: ranges %v with error %v", s, ranges, err)
			}
			return
		}
		if len(ranges) == 0 || len(ranges) > maxRanges {
			t.Fatalf("%q: %d ranges", s, len(ranges))
		}
		var total int64
		for _, r := range ranges {
			if r.start < 0 || r.length <= 0 || r.start+r.length > size {
				t.Fatalf("%q size %d: range %+v is outside the file", s, size, r)
			}
			total += r.length
		}
		if len(ranges) > 1 && total > size {
			t.Fatalf("%q size %d: ranges total %d", s, size, total)
		}
		heads, tail, length := multipart("b", "text/plain", size, ranges)
		n := int64(len(tail))
		for i, h := range heads {
			n += int64(len(h)) + ranges[i].length
		}
		if n != length {
			t.Fatalf("multipart length %d, laid out %d", length, n)
		}
	})
}

// rangeModel is RFC 9110's Range (section 14.2) read plainly, with big
// numbers: the ranges of s for a representation of size bytes, or the
// error; either is a second error allowed (more than maxRanges ranges, one
// of them malformed, may be either).
func rangeModel(s string, size int64) (ranges []byteRange, err, either error) {
	m := rangeSpecifier.FindStringSubmatch(s)
	if m == nil {
		return nil, errBadRange, nil
	}
	if !strings.EqualFold(m[1], "bytes") {
		return nil, errNotBytesRanges, nil
	}
	var specs []string
	for _, e := range strings.Split(m[2], ",") {
		if e = strings.Trim(e, " \t"); e != "" {
			specs = append(specs, e)
		}
	}
	valid := len(specs) > 0
	for _, e := range specs {
		r := rangeSpec.FindStringSubmatch(e)
		if r == nil || r[1] == "" && r[2] == "" || r[1] != "" && r[2] != "" && bigInt(r[2]).Cmp(bigInt(r[1])) < 0 {
			valid = false
		}
	}
	switch {
	case len(specs) > maxRanges && valid:
		return nil, errIgnoredRange, nil
	case len(specs) > maxRanges:
		return nil, errIgnoredRange, errBadRange
	case !valid:
		return nil, errBadRange, nil
	}
	bigSize := big.NewInt(size)
	var total int64
	for _, e := range specs {
		r := rangeSpec.FindStringSubmatch(e)
		first, last := bigInt(r[1]), big.NewInt(size-1)
		if r[1] == "" { // suffix-range
			n := bigInt(r[2])
			if n.Sign() == 0 || size == 0 {
				continue
			}
			if n.Cmp(bigSize) < 0 {
				first = new(big.Int).Sub(bigSize, n)
			}
		} else {
			if first.Cmp(bigSize) >= 0 {
				continue
			}
			if r[2] != "" && bigInt(r[2]).Cmp(last) < 0 {
				last = bigInt(r[2])
			}
		}
		br := byteRange{start: first.Int64(), length: last.Int64() - first.Int64() + 1}
		total += br.length
		ranges = append(ranges, br)
	}
	switch {
	case len(ranges) == 0:
		return nil, errUnsatisfiable, nil
	case len(ranges) > 1 && total > size:
		return nil, errIgnoredRange, nil
	}
	return ranges, nil, nil
}

var (
	rangeSpecifier = regexp.MustCompile("(?s)^([!#$%&'*+.^_`|~0-9A-Za-z-]+)=(.*)$")
	rangeSpec      = regexp.MustCompile(`^([0-9]*)-([0-9]*)$`)
)

func bigInt(s string) *big.Int {
	n, _ := new(big.Int).SetString(s, 10)
	if n == nil {
		n = new(big.Int)
	}
	return n
}

func TestParseAcceptEncoding(t *testing.T) {
	all := [numCodings]bool{true, true, true}
	onlyGzip := [numCodings]bool{gzip: true}
	for _, tc := range []struct {
		header []string
		avail  [numCodings]bool
		want   coding
	}{
		{nil, all, identity},
		{[]string{""}, all, identity},
		{[]string{"gzip"}, all, gzip},
		{[]string{"GZIP"}, all, gzip},
		{[]string{"x-gzip"}, all, gzip},
		{[]string{"gzip, deflate, br, zstd"}, all, br}, // Chromium: ties go to br
		{[]string{"gzip, deflate, br, zstd"}, onlyGzip, gzip},
		{[]string{"gzip;q=0.5, zstd;q=0.8"}, all, zstd},
		{[]string{"gzip ; q=0.5 , zstd ;q=0.8"}, all, zstd},
		{[]string{"gzip;q=1.0, br;q=0.999"}, all, gzip},
		{[]string{"br;q=0, gzip"}, all, gzip},
		{[]string{"*"}, all, br},
		{[]string{"*;q=0.5, br;q=0"}, all, zstd},
		{[]string{"identity"}, all, identity},
		{[]string{"identity;q=1, gzip;q=0.5"}, all, identity},
		{[]string{"gzip;q=0"}, all, identity},
		{[]string{"*;q=0"}, all, identity}, // nothing acceptable: identity all the same
		{[]string{"deflate, compress"}, all, identity},
		{[]string{"gzip;q=2"}, all, identity},      // invalid weight: element ignored
		{[]string{"gzip;q=0.1234"}, all, identity}, // four decimals
		{[]string{"gzip;q=1.5"}, all, identity},
		{[]string{"gzip;level=9"}, all, identity}, // unknown parameter
		{[]string{"gzip;q="}, all, identity},
		{[]string{"g zip"}, all, identity},
		{[]string{"gzip;q=0.2", "br;q=0.1"}, all, gzip}, // several fields
		{[]string{"gzip;q=0, gzip;q=0.5"}, onlyGzip, gzip},
		{[]string{",,gzip,,"}, all, gzip},
	} {
		got := parseAcceptEncoding(tc.header).choose(tc.avail, smallestFirst)
		if got != tc.want {
			t.Errorf("Accept-Encoding %q, available %v: chose %v, want %v", tc.header, tc.avail, got, tc.want)
		}
	}
}

func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br, zstd", "gzip;q=0.5, *;q=0", "identity;q=0", "br;q=1.000", "x-gzip;q=0.001", ";;,,", "gzip;q=0.5;q=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := parseAcceptEncoding([]string{s})
		for c := range numCodings {
			if a.q[c] < 0 || a.q[c] > 1000 {
				t.Fatalf("%q: weight %d for %s", s, a.q[c], codings[c].name)
			}
		}
		c := a.choose([numCodings]bool{true, true, true}, fastestFirst)
		if c != identity && a.q[c] == 0 {
			t.Fatalf("%q: chose %s, which has weight 0", s, codings[c].name)
		}
		if c == identity {
			return
		}
		// The chosen coding is one of the most wanted.
		for d := range numCodings {
			if a.q[d] > a.q[c] {
				t.Fatalf("%q: chose %s (q %d) over %s (q %d)", s, codings[c].name, a.q[c], codings[d].name, a.q[d])
			}
		}
	})
}

func TestParseQValue(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "1": 1000, "0.5": 500, "0.25": 250, "0.125": 125, "1.": 1000, "1.000": 1000, "0.": 0} {
		if got, ok := parseQValue(in); !ok || got != want {
			t.Errorf("parseQValue(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2", "1.001", "0.1234", ".5", "-0", "0,5", "0.5 ", "1e0"} {
		if got, ok := parseQValue(in); ok {
			t.Errorf("parseQValue(%q) = %d, want an error", in, got)
		}
	}
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in     string
		name   string
		slash  bool
		status int
	}{
		{"/", "", true, 0},
		{"", "", false, 0},
		{"/a.txt", "a.txt", false, 0},
		{"/dir/", "dir", true, 0},
		{"/a//b/./c.txt", "a/b/c.txt", false, 0},
		{"/.well-known/security.txt", ".well-known/security.txt", false, 0},
		{"/.env", "", false, 404},
		{"/.git/config", "", false, 404},
		{"/a/.hidden/b", "", false, 404},
		{"/..", "", false, 400},
		{"/../etc/passwd", "", false, 400},
		{"/a/../../b", "", false, 400},
		{"/a/..", "", false, 400},
		{"/a\\..\\b", "", false, 400},
		{"/a\x00.txt", "", false, 400},
		{"/...", "", false, 404}, // a dot name, not a parent
	} {
		name, slash, status := cleanName(tc.in)
		if name != tc.name || slash != tc.slash || status != tc.status {
			t.Errorf("cleanName(%q) = %q, %v, %d; want %q, %v, %d", tc.in, name, slash, status, tc.name, tc.slash, tc.status)
		}
	}
	for raw, want := range map[string]bool{"/a%2Fb": true, "/a%2fb": true, "/a%5Cb": true, "/a%5cb": true, "/a%252Fb": false, "/a%20b": false, "/%2": false} {
		if got := hasEncodedSlash(raw); got != want {
			t.Errorf("hasEncodedSlash(%q) = %v", raw, got)
		}
	}
}

// TestCleanNameWindows checks the rules cleanName adds on Windows: ":"
// names an alternate data stream, and an 8.3 short name can name a file
// its long name hides (ENV~1 is .env, GIT~1 the .git folder).
func TestCleanNameWindows(t *testing.T) {
	for _, tc := range []struct {
		in     string
		status int
	}{
		{"/index.html", 0},
		{"/a.txt:secret", 400},
		{"/.env::$DATA", 400},
		{"/ENV~1", 404},
		{"/env~1", 404},
		{"/GIT~1/config", 404},
		{"/GITIGN~1", 404},
		{"/AB12~1.TXT", 404},
		{"/assets/APP~12.JS", 404},
		{"/a/WELL-K~1/x", 404},
		{"/backup~1-2024.tar.gz", 0}, // a long name, not a short one
		{"/LONGNAME~1", 0},           // more than eight before the extension
		{"/A~1.HTML", 0},             // an extension of four
		{"/~1", 0},
		{"/a~", 0},
		{"/a~b", 0},
		{"/a~1b", 0},
	} {
		if _, _, status := cleanNameOn(tc.in, true); status != tc.status {
			t.Errorf("on Windows, cleanName(%q) status %d, want %d", tc.in, status, tc.status)
		}
		// Elsewhere names are exact, and a tilde is an ordinary character.
		if _, _, status := cleanNameOn(tc.in, false); status != 0 && !strings.Contains(tc.in, ":") {
			t.Errorf("cleanName(%q) status %d, want 0", tc.in, status)
		}
	}
}

func TestFingerprinted(t *testing.T) {
	for _, name := range []string{
		"app.3f2a9c1b.js", "main.3f2a9c1b.chunk.js", "main.0a1b2c3d4e5f6789.css", "vendor-9f86d081884c7d65.js",
		"index-BwMF3m-x.js", "index-D1wrgTda.css", "chunk-5TN2ZQYH.js", "logo.8E1A2B3C.svg",
	} {
		if !fingerprinted(name) {
			t.Errorf("%s: not fingerprinted", name)
		}
	}
	for _, name := range []string{
		"app.js", "index.html", "jquery-3.7.1.min.js", "report-20240115.pdf", "user-settings.js",
		"my-component.js", "deadbeefcafe.js", "a.deadbeef.js", "README", ".3f2a9c1b", "bootstrap.bundle.min.js",
		"Page-UserSettings.js", "favicon.ico",
	} {
		if fingerprinted(name) {
			t.Errorf("%s: fingerprinted", name)
		}
	}
}

func TestPrecondition(t *testing.T) {
	mod := time.Date(2026, 3, 4, 5, 6, 7, 800, time.UTC)
	const etag = `"abc"`
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	at := mod.Format(http.TimeFormat)
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	for _, tc := range []struct {
		method string
		header []string
		want   int
	}{
		{"GET", nil, 0},
		{"GET", []string{"If-None-Match", `"abc"`}, 304},
		{"GET", []string{"If-None-Match", `W/"abc"`}, 304}, // weak comparison
		{"GET", []string{"If-None-Match", `"x", "abc"`}, 304},
		{"GET", []string{"If-None-Match", `"x","y"`}, 0},
		{"GET", []string{"If-None-Match", `*`}, 304},
		{"HEAD", []string{"If-None-Match", `"abc"`}, 304},
		{"GET", []string{"If-Modified-Since", at}, 304},
		{"GET", []string{"If-Modified-Since", after}, 304},
		{"GET", []string{"If-Modified-Since", before}, 0},
		{"GET", []string{"If-Modified-Since", "yesterday"}, 0},
		{"GET", []string{"If-None-Match", `"x"`, "If-Modified-Since", at}, 0}, // If-None-Match wins
		{"GET", []string{"If-Match", `"abc"`}, 0},
		{"GET", []string{"If-Match", `W/"abc"`}, 412}, // strong comparison
		{"GET", []string{"If-Match", `"x"`}, 412},
		{"GET", []string{"If-Match", `*`}, 0},
		{"GET", []string{"If-Unmodified-Since", before}, 412},
		{"GET", []string{"If-Unmodified-Since", at}, 0},
		{"GET", []string{"If-Match", `"abc"`, "If-Unmodified-Since", before}, 0}, // If-Match wins
		{"GET", []string{"If-Match", `"x"`, "If-None-Match", `"abc"`}, 412},
	} {
		r := httptest.NewRequest(tc.method, "/", nil)
		for i := 0; i < len(tc.header); i += 2 {
			r.Header.Add(tc.header[i], tc.header[i+1])
		}
		if got := precondition(r, etag, mod); got != tc.want {
			t.Errorf("%s %q: %d, want %d", tc.method, tc.header, got, tc.want)
		}
	}
}

func FuzzETagList(f *testing.F) {
	for _, s := range []string{`"abc"`, `W/"abc", "d"`, `*`, `"a`, `W/`, `, ,"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		strong := etagListMatch([]string{s}, `"abc"`, true)
		weak := etagListMatch([]string{s}, `"abc"`, false)
		if strong && !weak {
			t.Fatalf("%q matches strongly but not weakly", s)
		}
		// net/http's ServeContent reads the same lists alike, when their
		// entity tags are well formed (it stops at a bad one, which this
		// parser skips).
		if s == "" {
			return // no field, for net/http
		}
		quoted := false
		for _, c := range []byte(s) {
			if c == '"' {
				quoted = !quoted
			} else if c < 0x21 && (quoted || c != ' ' && c != '\t') || c == 0x7f {
				return
			}
		}
		for _, tc := range []struct {
			header string
			match  bool
			status int // net/http's answer when the list matches
		}{{"If-Match", strong, 200}, {"If-None-Match", weak, 304}} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(tc.header, s)
			w := httptest.NewRecorder()
			w.Header().Set("Etag", `"abc"`)
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader("x"))
			if netMatch := w.Code == tc.status; netMatch != tc.match {
				t.Fatalf("%s: %q: match %v, net/http answers %d", tc.header, s, tc.match, w.Code)
			}
		}
	})
}

func TestIfRange(t *testing.T) {
	mod := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for ir, want := range map[string]bool{
		"":                          true,
		`"abc"`:                     true,
		`"x"`:                       false,
		`W/"abc"`:                   false,
		mod.Format(http.TimeFormat): true,
		mod.Add(time.Second).Format(http.TimeFormat): false,
		"garbage": false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if ir != "" {
			r.Header.Set("If-Range", ir)
		}
		if got := rangeApplies(r, `"abc"`, mod); got != want {
			t.Errorf("If-Range %q: %v", ir, got)
		}
	}
}

func TestTypes(t *testing.T) {
	for ext, want := range map[string]string{
		".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".MJS": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".json": "application/json", ".map": "application/json",
		".wasm": "application/wasm", ".svg": "image/svg+xml", ".woff2": "font/woff2", ".avif": "image/avif",
		".webp": "image/webp", ".webmanifest": "application/manifest+json", ".mp4": "video/mp4",
		".pdf": "application/pdf", ".ts": "video/mp2t", ".ico": "image/vnd.microsoft.icon",
		"txt": "text/plain; charset=utf-8", ".nope": "",
	} {
		if got := TypeByExtension(ext); got != want {
			t.Errorf("TypeByExtension(%q) = %q, want %q", ext, got, want)
		}
	}
	for typ, want := range map[string]bool{
		"text/html; charset=utf-8": true, "application/json": true, "image/svg+xml": true, "application/ld+json": true,
		"application/wasm": true, "image/png": false, "application/gzip": false, "font/woff2": false, "video/mp4": false,
	} {
		if got := compressible(typ); got != want {
			t.Errorf("compressible(%q) = %v", typ, got)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
