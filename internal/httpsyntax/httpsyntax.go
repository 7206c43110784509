// Package httpsyntax holds the small pieces of HTTP syntax (RFC 9110) that
// every protocol's parser and the application layer share: tokens, field
// values, lists, and case-insensitive comparison without allocating.
package httpsyntax

import (
	"bytes"
	"math"
	"strconv"
)

// TChar reports which bytes may appear in a token (RFC 9110, section 5.6.2).
var TChar = [256]bool{
	'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true, '*': true,
	'+': true, '-': true, '.': true, '^': true, '_': true, '`': true, '|': true, '~': true,
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true, 'I': true,
	'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true, 'Q': true, 'R': true,
	'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true, 'Y': true, 'Z': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true, 'i': true,
	'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true, 'q': true, 'r': true,
	's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true,
}

// ValidToken reports whether b is a non-empty token.
func ValidToken[T []byte | string](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := range len(b) {
		if !TChar[b[i]] {
			return false
		}
	}
	return true
}

// EqualFold reports whether a and b are equal, ignoring ASCII case.
func EqualFold[A, B []byte | string](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ForEachToken calls fn for each non-empty element of a comma-separated
// list, with surrounding whitespace removed.
func ForEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		var t []byte
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if i < len(v) {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
			t = t[1:]
		}
		for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
			t = t[:len(t)-1]
		}
		if len(t) > 0 {
			fn(t)
		}
	}
}

// HasToken reports whether the comma-separated list v holds token, ignoring
// case.
func HasToken(v []byte, token string) bool {
	found := false
	ForEachToken(v, func(t []byte) {
		if EqualFold(t, token) {
			found = true
		}
	})
	return found
}

// IsDigit reports whether c is an ASCII digit.
func IsDigit(c byte) bool { return '0' <= c && c <= '9' }

// IsHex reports whether c is a hexadecimal digit.
func IsHex(c byte) bool {
	return IsDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// ParseContentLength parses a Content-Length value: digits only, leading
// zeros allowed, up to math.MaxInt64, as net/http and Kestrel read it.
func ParseContentLength[T []byte | string](v T) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for i := range len(v) {
		c := v[i]
		if !IsDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// ValidFieldValue reports whether v may be a field value: no control bytes
// but horizontal tab, no DEL (RFC 9110, section 5.5).
func ValidFieldValue[T []byte | string](v T) bool {
	for i := range len(v) {
		if ControlByte(v[i]) {
			return false
		}
	}
	return true
}

// ValidPathBytes reports whether p, an HTTP/2 or HTTP/3 :path, is free
// of white space, control bytes and DEL, which no request target has
// (RFC 9112, 3.2) and which, in the request line of the HTTP/1.1 request
// a proxy makes of it, would split the line ("GET /a?x HTTP/1.0 y
// HTTP/1.1"). Bytes above 0x7f are allowed, as net/http's HTTP/2 server
// and nghttp2 allow them.
func ValidPathBytes[T []byte | string](p T) bool {
	for i := range len(p) {
		if c := p[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// ControlByte reports whether c may not appear in a field value: a
// control byte other than horizontal tab, or DEL (RFC 9110, section 5.5).
func ControlByte(c byte) bool { return c < ' ' && c != '\t' || c == 0x7f }

// CheckField returns why a field of an HTTP/2 or HTTP/3 field section is
// malformed (RFC 9113, 8.2.1; RFC 9114, 4.2), or "": a name of lower-case
// token characters (a pseudo-header's after its colon), a value without
// control bytes but horizontal tab (NUL, CR and LF, which the RFCs forbid,
// and the others, which net/http's HTTP/2 server and this server's
// HTTP/1.1 parser refuse too: ControlByte) and without white space at
// either end.
func CheckField(name, value string) string {
	if len(name) == 0 {
		return "empty header name"
	}
	start := 0
	if name[0] == ':' {
		start = 1
	}
	for i := start; i < len(name); i++ {
		ch := name[i]
		if 'A' <= ch && ch <= 'Z' {
			return "upper-case header name"
		}
		if !TChar[ch] {
			return "invalid header name"
		}
	}
	for i := range len(value) {
		if ControlByte(value[i]) {
			return "invalid header value"
		}
	}
	if n := len(value); n > 0 && (value[0] == ' ' || value[0] == '\t' || value[n-1] == ' ' || value[n-1] == '\t') {
		return "header value with leading or trailing whitespace"
	}
	return ""
}

// forbiddenTrailers are the fields a response's trailer section must not
// carry: those that frame the message, route it, authenticate it, or
// control how it is cached, encoded or answered (RFC 9110, 6.5.1): those
// net/http refuses as trailers (httpguts.ValidTrailerHeader, which also
// refuses the conditionals, "If-..."), and Upgrade.
var forbiddenTrailers = [...]string{
	"authorization", "cache-control", "connection", "content-encoding",
	"content-length", "content-range", "content-type", "expect", "host",
	"keep-alive", "max-forwards", "pragma", "proxy-authenticate",
	"proxy-authorization", "proxy-connection", "range", "realm", "te",
	"trailer", "transfer-encoding", "upgrade", "www-authenticate",
}

// ValidTrailerName reports whether a response may carry a trailer called
// name: a token that is not a field a trailer section must not carry
// (forbiddenTrailers, or a conditional "If-..."). Case does not matter;
// it does not allocate.
func ValidTrailerName(name string) bool {
	if !ValidToken(name) || len(name) >= 3 && EqualFold(name[:3], "if-") {
		return false
	}
	for _, f := range forbiddenTrailers {
		if len(f) == len(name) && EqualFold(name, f) {
			return false
		}
	}
	return true
}

// SanitizeValue replaces the control bytes of a response field value
// (ControlByte: CR, LF and NUL, which could end the field or the head
// early, and the others but horizontal tab, which clients refuse) with
// spaces.
func SanitizeValue(v string) string {
	for i := range len(v) {
		if ControlByte(v[i]) {
			b := []byte(v)
			for j, c := range b {
				if ControlByte(c) {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return v
}

// TrimOWS returns v without the spaces and horizontal tabs at either end:
// optional white space around a field value in HTTP/1.1 (RFC 9112, 5),
// which HTTP/2 and HTTP/3 field values must not have (RFC 9113, 8.2.1;
// RFC 9114, 4.2).
func TrimOWS[T []byte | string](v T) T {
	i, j := 0, len(v)
	for i < j && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	for j > i && (v[j-1] == ' ' || v[j-1] == '\t') {
		j--
	}
	return v[i:j]
}

// AppendLower appends name to dst with ASCII letters in lower case, as
// HTTP/2 and HTTP/3 field names must be.
func AppendLower(dst, name []byte) []byte {
	for _, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	return dst
}

// ConnectionSpecific reports the response header fields, lower case,
// that HTTP/2 and HTTP/3 forbid (RFC 9113, 8.2.2; RFC 9114, 4.2) and a
// handler may have set for HTTP/1.1. TE is among them: those protocols
// allow it in requests only.
func ConnectionSpecific(name []byte) bool {
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

var statusStrings = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// StatusString is a status code as the :status field gives it, without
// allocating for the codes from 100 to 599.
func StatusString(code int) string {
	if code >= 0 && code < len(statusStrings) && statusStrings[code] != "" {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// ValidAuthority reports whether a is a host with an optional port, as the
// :authority of an HTTP/2 or HTTP/3 request must be: not empty, and valid
// as HTTP/1.1's Host (ValidHost), so without user information (RFC 9113,
// 8.3.1; RFC 9114, 4.3.1), a path, a query, a fragment, white space or
// control bytes.
func ValidAuthority(a []byte) bool { return len(a) > 0 && ValidHost(a) }

// ValidConnectAuthority reports whether a is a CONNECT request's target
// (HTTP/1.1's authority form, the :authority of an HTTP/2 or HTTP/3
// CONNECT): a valid authority with a port, since "there is no default
// port; a client MUST send a port number" (RFC 9110, 9.3.6).
func ValidConnectAuthority(a []byte) bool {
	if !ValidAuthority(a) {
		return false
	}
	if a[0] == '[' {
		a = a[bytes.IndexByte(a, ']')+1:]
	}
	i := bytes.LastIndexByte(a, ':')
	return i >= 0 && i < len(a)-1
}

// hostChar reports which bytes may appear in a reg-name or IPv4 host, and
// in the port after it (RFC 3986, section 3.2.2).
var hostChar = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%") {
		t[c] = true
	}
	return t
}()

// ValidHost reports whether b is a valid Host value: empty, or a host
// (reg-name, IPv4 or bracketed IP literal) with an optional ":port".
func ValidHost(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	host, port := b, []byte(nil)
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return false
		}
		for _, c := range b[1:end] {
			if !(IsHex(c) || c == ':' || c == '.' || c == 'v' || c == 'V' || hostChar[c] && c != '%') {
				return false
			}
		}
		rest := b[end+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return false
			}
			port = rest[1:]
		}
		host = nil
	} else if i := bytes.LastIndexByte(b, ':'); i >= 0 {
		host, port = b[:i], b[i+1:]
	}
	for _, c := range host {
		if !hostChar[c] {
			return false
		}
	}
	for _, c := range port {
		if !IsDigit(c) {
			return false
		}
	}
	return true
}
