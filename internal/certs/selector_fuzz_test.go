package certs

import (
	"crypto/tls"
	"strings"
	"testing"
)

// FuzzSelectorMatch checks SNI matching against Kestrel's documented
// rule, with the host lower-cased and a trailing dot dropped: the exact
// name first, then the wildcard "*.suffix" with the longest suffix that
// ends the host after at least one more byte, then "*"; and that
// NewSelector refuses entries that are not a name, "*.name" or "*".
func FuzzSelectorMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"www.example.com;*.example.com;*.api.example.com;Exact.Example.org;*", "v1.api.example.com"},
		{"www.example.com;*.example.com", "WWW.EXAMPLE.COM."}, {"*.example.com", "example.com"}, {"*.example.com", "badexample.com"},
		{"*", ""}, {"*.", "a."}, {"a*.b", "ab.b"}, {"*.*.b", "a.a.b"}, {"a.;A", "a"}, {" x ;*.x.", "y.x"}, {"*..", "a.."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, names, host string) {
		entries := map[string]SNIOptions{}
		for _, n := range strings.Split(names, ";") {
			entries[n] = SNIOptions{Certificate: Static(&tls.Certificate{})}
		}
		sel, err := NewSelector("fuzz", nil, entries)
		if err != nil {
			return
		}
		keys := map[string]string{}
		for n := range entries {
			k := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
			if k == "" || k != "*" && strings.Contains(strings.TrimPrefix(k, "*."), "*") || k == "*." {
				t.Fatalf("NewSelector took the entry %q", n)
			}
			keys[k] = n
		}
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		want, ok := "", false
		if n, found := keys[h]; found && h != "" && h != "*" && !strings.HasPrefix(h, "*.") {
			want, ok = n, true
		} else if h != "" {
			best := -1
			for k, n := range keys {
				if suffix, w := strings.CutPrefix(k, "*"); w && suffix != "" && len(h) > len(suffix) && strings.HasSuffix(h, suffix) && len(suffix) > best {
					want, ok, best = n, true, len(suffix)
				}
			}
		}
		if n, found := keys["*"]; !ok && found {
			want, ok = n, true
		}
		if got, gok := sel.Match(host); gok != ok || got != want {
			t.Fatalf("entries %q: Match(%q) = %q, %v; want %q, %v", names, host, got, gok, want, ok)
		}
	})
}

// FuzzParseSslProtocols checks SslProtocols parsing: separators and case
// never matter, what is accepted is TLS 1.2 and/or 1.3 (min <= max), and
// only the names None, Tls12 and Tls13 are accepted.
func FuzzParseSslProtocols(f *testing.F) {
	for _, s := range []string{"Tls12", "tls13", "Tls12, Tls13", "Tls12|Tls13", "None", "", "Tls", "Tls11", "Ssl3", "Default", "Tls12 , ,| Tls13", "tls12tls13"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParseSslProtocols(s)
		names := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ',' || r == '|' || r == ' ' || r == '\t' })
		ok := true
		for _, n := range names {
			ok = ok && (n == "none" || n == "tls12" || n == "tls13")
		}
		if (err == nil) != ok {
			t.Fatalf("ParseSslProtocols(%q) = %v; want ok=%v", s, err, ok)
		}
		if ok && (lo > hi || lo < tls.VersionTLS12 || hi > tls.VersionTLS13) {
			t.Fatalf("ParseSslProtocols(%q) = %x, %x", s, lo, hi)
		}
	})
}
