package kestrel

import (
	"net/http/httptest"
	"testing"
)

// FuzzStatusAllows checks the status page's access rule from the side
// that matters: whatever a client puts in X-Forwarded-For, X-Real-IP or
// Forwarded, a proxy (on loopback) that appends the client's address as
// nginx and httputil.ReverseProxy do gets it refused.
func FuzzStatusAllows(f *testing.F) {
	for _, s := range [][3]string{
		{"127.0.0.1", "", ""}, {"::1, 127.0.0.1", "127.0.0.1", `for="[::1]:80"`}, {"", "", `for="127.0.0.1`},
		{"127.0.0.1,", "", "for=127.0.0.1;proto=https, For=::1"}, {"", "", `for="127.0.0.1, x";by=1`}, {"[::1]:5", "::ffff:127.0.0.1", ""},
		{"", "", `proto=http`}, {"", "", `for = 127.0.0.1`}, {"", "", "for=\"127.0.0.1\\\""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	h := (&Server{}).StatusHandler(nil).(*statusHandler)
	f.Fuzz(func(t *testing.T, xff, realIP, fwd string) {
		r := httptest.NewRequest("GET", "/status", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		set := func(name, v string) {
			if v != "" {
				r.Header[name] = []string{v}
			}
		}
		set("X-Forwarded-For", xff)
		set("X-Real-Ip", realIP)
		set("Forwarded", fwd)
		if h.allows(r) && realIP != "" && !h.allowedAddr(realIP) {
			t.Fatalf("allowed with X-Real-IP %q", realIP)
		}
		for _, c := range []struct{ name, v string }{
			{"X-Forwarded-For", joinList(xff, "203.0.113.5")},
			{"Forwarded", joinList(fwd, "for=203.0.113.5")},
			{"Forwarded", joinList(fwd, `for="[2001:db8::5]:4711"`)},
		} {
			r2 := r.Clone(r.Context())
			r2.Header[c.name] = []string{c.v}
			if h.allows(r2) {
				t.Fatalf("%s %q (a client appended by its proxy) is allowed", c.name, c.v)
			}
		}
	})
}

// joinList appends v to the list l, as a proxy does.
func joinList(l, v string) string {
	if l == "" {
		return v
	}
	return l + ", " + v
}
