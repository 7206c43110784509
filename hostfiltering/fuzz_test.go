package hostfiltering

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandler checks the host matching against its documented
// invariants: matching ignores ASCII case, the request's port and a
// trailing dot; an allowed name (plain, without a wildcard) is allowed
// in any of those forms.
func FuzzHandler(f *testing.F) {
	for _, s := range [][2]string{
		{"example.com", "example.com"}, {"*.example.org.", "a.example.org"}, {"127.0.0.1;[::1]", "[::1]:5000"},
		{"bücher.example", "xn--bcher-kva.example"}, {"example.com", ":80"}, {"example.com", "[]"},
		{"*", "anything"}, {"[::]", "x"}, {"0.0.0.0", ""}, {"a;b", "A."}, {"*.x", ".x"}, {"::1", "::1"},
		{"Example.COM.", "example.com.:8080"}, {"*.Example.com", "WWW.example.COM."}, {"[::1]", "[::1]."},
		{"example.com.", "example.com.."}, {"x", "x:"}, {"*.", "a."},
	} {
		f.Add(s[0], s[1])
	}
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	f.Fuzz(func(t *testing.T, allowed, host string) {
		h := Handler(next, Options{AllowedHosts: ParseAllowedHosts(allowed)})
		allows := func(host string) bool {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code == http.StatusOK
		}
		ascii := func(s string) bool {
			for i := range len(s) {
				if s[i] >= 0x80 {
					return false
				}
			}
			return true
		}
		if !ascii(host) || host == "" {
			return
		}
		got := allows(host)
		if up := strings.ToUpper(host); allows(up) != got {
			t.Fatalf("allowed %q: Host %q %v, %q %v", allowed, host, got, up, !got)
		}
		plain := !strings.ContainsAny(host, ":[]")
		if plain {
			if allows(host+":8080") != got {
				t.Fatalf("allowed %q: Host %q %v, with a port %v", allowed, host, got, !got)
			}
			if !strings.HasSuffix(host, ".") && allows(host+".") != got {
				t.Fatalf("allowed %q: Host %q %v, with a trailing dot %v", allowed, host, got, !got)
			}
		}
		for _, e := range ParseAllowedHosts(allowed) {
			if !ascii(e) || strings.ContainsAny(e, ":[]* \t") || strings.Trim(e, ".") == "" {
				continue
			}
			if !allows(e) || !allows(strings.ToUpper(e)+":443") {
				t.Fatalf("allowed %q: its entry %q is refused", allowed, e)
			}
		}
	})
}
