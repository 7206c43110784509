package staticfiles

import (
	"net/http"
	"strings"
	"time"
)

// precondition evaluates the request's conditional headers against a
// representation's ETag and modification time in RFC 9110's order
// (section 13.2.2): If-Match, else If-Unmodified-Since (412 when they
// fail); If-None-Match, else If-Modified-Since (304 when they fail). It
// returns 0 when the request goes on. An If-Match or If-None-Match that
// lists no entity tag is no condition, as net/http and ASP.NET Core read
// it.
func precondition(r *http.Request, etag string, modTime time.Time) int {
	h := r.Header
	if im := h["If-Match"]; hasListElement(im) {
		if !etagListMatch(im, etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius, ok := singleDate(h["If-Unmodified-Since"]); ok && validTime(modTime) {
		if modTime.Truncate(time.Second).After(ius) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := h["If-None-Match"]; hasListElement(inm) {
		if etagListMatch(inm, etag, false) {
			return http.StatusNotModified
		}
	} else if ims, ok := singleDate(h["If-Modified-Since"]); ok && validTime(modTime) {
		if !modTime.Truncate(time.Second).After(ims) {
			return http.StatusNotModified
		}
	}
	return 0
}

// rangeApplies evaluates If-Range (RFC 9110 section 13.1.5): the range is
// served only when the validator matches the current representation: a
// strong ETag compared strongly, or the exact Last-Modified date.
func rangeApplies(r *http.Request, etag string, modTime time.Time) bool {
	ir := strings.TrimSpace(r.Header.Get("If-Range"))
	switch {
	case ir == "":
		return true
	case strings.HasPrefix(ir, `"`):
		return ir == etag
	case strings.HasPrefix(ir, "W/"):
		return false
	}
	t, err := http.ParseTime(ir)
	return err == nil && validTime(modTime) && t.Equal(modTime.Truncate(time.Second))
}

// hasListElement reports whether the fields of a list-based header hold
// an element: empty elements do not count (RFC 9110, section 5.6.1).
func hasListElement(fields []string) bool {
	for _, f := range fields {
		if strings.Trim(f, " \t,") != "" {
			return true
		}
	}
	return false
}

// singleDate parses a date header that has exactly one valid value;
// anything else is ignored, as the RFC asks.
func singleDate(v []string) (time.Time, bool) {
	if len(v) != 1 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(strings.TrimSpace(v[0]))
	return t, err == nil
}

// etagListMatch reports whether a list of entity tags (If-Match or
// If-None-Match, possibly in several fields) matches etag; "*" matches any
// current representation. strong uses the strong comparison (If-Match),
// otherwise the weak one (If-None-Match), which ignores W/.
func etagListMatch(fields []string, etag string, strong bool) bool {
	ours, oursWeak := strings.CutPrefix(etag, "W/")
	for _, f := range fields {
		for rest := f; ; {
			rest = strings.TrimLeft(rest, " \t,")
			if rest == "" {
				break
			}
			if rest[0] == '*' {
				return true
			}
			weak := strings.HasPrefix(rest, "W/")
			if weak {
				rest = rest[2:]
			}
			if rest == "" || rest[0] != '"' {
				break // not an entity tag: ignore the rest of the field
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
