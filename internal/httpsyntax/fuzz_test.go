package httpsyntax

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzHost checks Host and :authority validation against net/http's
// (httpguts.ValidHostHeader, which it is stricter than: what it accepts,
// net/http accepts), against RFC 3986's shape (a bracketed literal, or a
// reg-name without brackets, then digits after one colon), and
// ValidConnectAuthority against net.SplitHostPort (a host and a
// non-empty numeric port).
func FuzzHost(f *testing.F) {
	for _, s := range []string{
		"", "example.com", "example.com:80", "[::1]", "[::1]:443", "[::1]x", "[::1]]", "[[::1]",
		"a:b:c", ":80", "[]", "[]:80", "a%zz", "a b", "a\x00", "[v1.x]", "[fe80::1%25eth0]:80",
		"a:", "[::1]:", "xn--bcher-kva.example", "a]:80", "a@b", "a/b", "ü",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		ok := ValidHost(b)
		if ok && !httpguts.ValidHostHeader(s) {
			t.Fatalf("ValidHost(%q) = true; net/http refuses it", s)
		}
		if ok && s != "" {
			host, port := s, ""
			if s[0] == '[' {
				end := strings.IndexByte(s, ']')
				host, port = s[:end+1], strings.TrimPrefix(s[end+1:], ":")
				if strings.ContainsAny(host[1:end], "[]") {
					t.Fatalf("ValidHost(%q) = true, with brackets in the literal", s)
				}
			} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
				host, port = s[:i], s[i+1:]
			}
			if s[0] != '[' && strings.ContainsAny(host, "[]:@/?# ") || strings.Trim(port, "0123456789") != "" {
				t.Fatalf("ValidHost(%q) = true: host %q, port %q", s, host, port)
			}
		}
		if ValidAuthority(b) != (ok && s != "") {
			t.Fatalf("ValidAuthority(%q) = %v, ValidHost %v", s, !ok, ok)
		}
		if ValidConnectAuthority(b) {
			host, port, err := net.SplitHostPort(s)
			if err != nil || port == "" || strings.Trim(port, "0123456789") != "" || !ok {
				t.Fatalf("ValidConnectAuthority(%q) = true; SplitHostPort: %q, %q, %v", s, host, port, err)
			}
		}
	})
}

// FuzzContentLength checks ParseContentLength against strconv: digits
// only (no sign, no space, no underscore), any leading zeros, up to
// math.MaxInt64.
func FuzzContentLength(f *testing.F) {
	for _, s := range []string{
		"0", "00", "123", "9223372036854775807", "9223372036854775808", "-1", "+1", " 1", "1 ", "1_0", "0x10", "",
		"99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseContentLength(s)
		digits := s != "" && strings.Trim(s, "0123456789") == ""
		want, err := strconv.ParseInt(s, 10, 64)
		wok := digits && err == nil
		if ok != wok || ok && n != want {
			t.Fatalf("ParseContentLength(%q) = %d, %v; strconv: %d, %v", s, n, ok, want, err)
		}
		if nb, okb := ParseContentLength([]byte(s)); nb != n || okb != ok {
			t.Fatalf("ParseContentLength([]byte(%q)) = %d, %v; string: %d, %v", s, nb, okb, n, ok)
		}
	})
}

// FuzzToken checks ValidToken and CheckField's name rule against
// net/http's (httpguts.ValidHeaderFieldName), and ValidFieldValue against
// the RFC 9110 grammar of field values (no control bytes but HTAB, no
// DEL), which httpguts.ValidHeaderFieldValue also allows obs-text in.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"Content-Type", "x", "", "a b", "a:b", "ü", "a\x7f", "!#$%&'*+-.^_`|~", ":path", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidToken(s) != httpguts.ValidHeaderFieldName(s) {
			t.Fatalf("ValidToken(%q) = %v; httpguts says %v", s, ValidToken(s), !ValidToken(s))
		}
		lower := strings.TrimPrefix(s, ":")
		if why := CheckField(s, ""); (why == "") != (lower != "" && ValidToken(lower) && strings.ToLower(lower) == lower) && !(s == ":" && why == "") {
			t.Fatalf("CheckField(%q, \"\") = %q", s, why)
		}
		if ValidFieldValue(s) != httpguts.ValidHeaderFieldValue(s) {
			t.Fatalf("ValidFieldValue(%q) = %v; httpguts says %v", s, ValidFieldValue(s), !ValidFieldValue(s))
		}
	})
}
