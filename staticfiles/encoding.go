package staticfiles

import "strings"

// A coding is a content coding the handler can send, in the order it
// prefers them when the client likes several equally.
type coding int

const (
	br coding = iota
	zstd
	gzip
	numCodings
	identity coding = -1
)

var codings = [numCodings]struct {
	name string // the Content-Encoding token
	ext  string // the precompressed sibling's extension
}{
	br:   {"br", ".br"},
	zstd: {"zstd", ".zst"},
	gzip: {"gzip", ".gz"},
}

// codingOfSibling returns the coding whose sibling extension name has, or -1.
func codingOfSibling(name string) coding {
	for c := range numCodings {
		if strings.HasSuffix(name, codings[c].ext) {
			return c
		}
	}
	return -1
}

// acceptEncoding is a parsed Accept-Encoding: a weight from 0 to 1000
// for each coding and for identity.
type acceptEncoding struct {
	q        [numCodings]int
	identity int
}

// parseAcceptEncoding reads the request's Accept-Encoding fields (RFC 9110
// section 12.5.3). Codings are case-insensitive, "x-gzip" is gzip, "*"
// stands for every coding not named, and an element whose weight is not a
// valid qvalue is ignored. Without the header, or with an empty one, only
// identity is acceptable. Identity stays acceptable, with the lowest
// preference, unless "identity;q=0" or "*;q=0" excludes it.
func parseAcceptEncoding(values []string) acceptEncoding {
	var a acceptEncoding
	named := [numCodings]bool{}
	star, haveStar, haveIdentity := 0, false, false
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			name, q, ok := parseCodingElement(elem)
			if !ok {
				continue
			}
			switch {
			case name == "*":
				star, haveStar = max(star, q), true
			case strings.EqualFold(name, "identity"):
				if !haveIdentity || q > a.identity {
					a.identity = q
				}
				haveIdentity = true
			default:
				if strings.EqualFold(name, "x-gzip") {
					name = "gzip"
				}
				for c := range numCodings {
					if strings.EqualFold(name, codings[c].name) {
						if !named[c] || q > a.q[c] {
							a.q[c] = q
						}
						named[c] = true
					}
				}
			}
		}
	}
	for c := range numCodings {
		if !named[c] && haveStar {
			a.q[c] = star
		}
	}
	switch {
	case haveIdentity:
	case haveStar && star == 0:
		a.identity = 0
	default:
		a.identity = 1 // acceptable, least preferred
	}
	return a
}

// parseCodingElement parses `coding *( OWS ";" OWS "q=" qvalue )` with
// surrounding whitespace; an empty element or a bad weight is not ok.
func parseCodingElement(elem string) (name string, q int, ok bool) {
	name, params, _ := strings.Cut(elem, ";")
	name = strings.TrimSpace(name)
	if !isToken(name) {
		return "", 0, false
	}
	q = 1000
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(k, "q") {
			return "", 0, false
		}
		if q, ok = parseQValue(v); !ok {
			return "", 0, false
		}
	}
	return name, q, true
}

// parseQValue parses `"0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ]` into
// thousandths.
func parseQValue(s string) (int, bool) {
	if s == "" || s[0] != '0' && s[0] != '1' {
		return 0, false
	}
	whole := int(s[0]-'0') * 1000
	frac := s[1:]
	if frac == "" {
		return whole, true
	}
	if frac[0] != '.' || len(frac) > 4 {
		return 0, false
	}
	n, scale := 0, 100
	for i := 1; i < len(frac); i++ {
		d := frac[i]
		if d < '0' || d > '9' || whole == 1000 && d != '0' {
			return 0, false
		}
		n += int(d-'0') * scale
		scale /= 10
	}
	return whole + n, true
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Preference orders for ties: the smallest output for files and for
// copies kept in memory; the fastest encoders first for files compressed
// as they are sent.
var (
	smallestFirst = []coding{br, zstd, gzip}
	fastestFirst  = []coding{zstd, gzip, br}
)

// choose returns the coding to send among those available: the one with
// the highest weight, ties going to the first in prefs, then to any coding
// over identity; identity when none is acceptable.
func (a acceptEncoding) choose(available [numCodings]bool, prefs []coding) coding {
	best, bestQ := identity, a.identity
	for _, c := range prefs {
		if available[c] && a.q[c] > 0 && (a.q[c] > bestQ || a.q[c] == bestQ && best == identity) {
			best, bestQ = c, a.q[c]
		}
	}
	return best
}
