package staticfiles

import (
	"errors"
	"strconv"
	"strings"
)

// A byteRange is a satisfiable range of a representation.
type byteRange struct {
	start, length int64
}

// contentRange is the value of its Content-Range header.
func (r byteRange) contentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.start+r.length-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// maxRanges bounds the ranges of one request; more are answered with the
// whole file, which RFC 9110 allows (section 14.2).
const maxRanges = 64

var (
	errBadRange       = errors.New("invalid range")
	errUnsatisfiable  = errors.New("no range overlaps the file")
	errIgnoredRange   = errors.New("range ignored")
	errNotBytesRanges = errors.New("not a bytes range")
)

// parseRange parses a Range header value (RFC 9110 section 14.1) against
// a representation of size bytes and returns its satisfiable ranges, in
// the order asked. Errors:
//
//   - errNotBytesRanges: another range unit; the header is ignored;
//   - errIgnoredRange: more than maxRanges ranges, or ranges whose total
//     exceeds the size (overlaps: a sign of abuse); the header is ignored;
//   - errBadRange: a malformed ranges-specifier (416, as net/http and nginx
//     answer);
//   - errUnsatisfiable: no range overlaps the file (416).
func parseRange(s string, size int64) ([]byteRange, error) {
	unit, set, ok := strings.Cut(s, "=")
	if !ok || !isToken(unit) {
		return nil, errBadRange
	}
	if !strings.EqualFold(unit, "bytes") {
		return nil, errNotBytesRanges
	}
	var ranges []byteRange
	n, total := 0, int64(0)
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue // empty list elements are allowed (RFC 9110 section 5.6.1)
		}
		if n++; n > maxRanges {
			return nil, errIgnoredRange
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, errBadRange
		}
		var r byteRange
		if first == "" {
			// suffix-range: the last n bytes
			k, ok := parseDigits(last)
			if !ok {
				return nil, errBadRange
			}
			if k == 0 || size == 0 {
				continue // unsatisfiable
			}
			r = byteRange{start: max(size-k, 0), length: min(k, size)}
		} else {
			start, ok := parseDigits(first)
			if !ok {
				return nil, errBadRange
			}
			end := int64(-1)
			if last != "" {
				if end, ok = parseDigits(last); !ok || end < start {
					return nil, errBadRange
				}
			}
			if start >= size {
				continue // unsatisfiable
			}
			if end < 0 || end >= size {
				end = size - 1
			}
			r = byteRange{start: start, length: end - start + 1}
		}
		total += r.length
		ranges = append(ranges, r)
	}
	if n == 0 {
		return nil, errBadRange
	}
	if len(ranges) == 0 {
		return nil, errUnsatisfiable
	}
	if len(ranges) > 1 && total > size {
		return nil, errIgnoredRange
	}
	return ranges, nil
}

// parseDigits parses 1*DIGIT, saturating at the largest int64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		d := s[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		if n > (1<<63-1-9)/10 {
			n = 1<<63 - 1
			continue
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// multipart lays out a multipart/byteranges body (RFC 9110 section
// 14.6): the head of each part, the closing delimiter, and the body's
// length.
func multipart(boundary, ctype string, size int64, ranges []byteRange) (heads []string, tail string, length int64) {
	heads = make([]string, len(ranges))
	for i, r := range ranges {
		var b strings.Builder
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " + r.contentRange(size) + "\r\n\r\n")
		heads[i] = b.String()
		length += int64(len(heads[i])) + r.length
	}
	tail = "\r\n--" + boundary + "--\r\n"
	return heads, tail, length + int64(len(tail))
}
