package hostfiltering

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := Handler(ok, Options{AllowedHosts: ParseAllowedHosts("example.com; *.example.org.;127.0.0.1;[::1];bücher.example;*.münchen.example")})
	for _, tc := range []struct {
		host string
		want int
	}{
		{"example.com", 200}, {"EXAMPLE.com:8080", 200}, {"example.com.", 200},
		{"www.example.com", 400}, {"a.example.org", 200}, {"a.b.example.org", 200}, {"example.org", 400},
		{"127.0.0.1:5000", 200}, {"[::1]:5000", 200}, {"[::2]", 400}, {"evil.com", 400}, {"", 200},
		{"xexample.org", 400},
		// A Host whose host part is empty is not a missing Host.
		{":80", 400}, {"[]", 400}, {"[]:80", 400}, {".", 400}, {".:80", 400},
		// Unicode entries match the punycode clients send.
		{"xn--bcher-kva.example", 200}, {"a.xn--mnchen-3ya.example", 200},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("Host %q: %d, want %d", tc.host, w.Code, tc.want)
		}
	}
	strict := Handler(ok, Options{AllowedHosts: []string{"example.com"}, RejectEmptyHost: true, IncludeFailureMessage: true})
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = ""
	w := httptest.NewRecorder()
	strict.ServeHTTP(w, r)
	if w.Code != 400 || w.Body.String() != "Invalid Hostname" {
		t.Errorf("empty host with RejectEmptyHost: %d %q", w.Code, w.Body.String())
	}
	for _, any := range []string{"*", "[::]", "0.0.0.0"} { // ASP.NET's top-level wildcards
		if fmt.Sprint(Handler(ok, Options{AllowedHosts: []string{"example.com", any}})) != fmt.Sprint(http.Handler(ok)) {
			t.Errorf("%q does not pass everything through", any)
		}
	}
}

// TestRejectEmptyHostWithAnyHost: RejectEmptyHost refuses a request
// without a Host even when any host is allowed ("*", or no list), as
// ASP.NET's AllowEmptyHosts = false does with "*"; other requests pass.
func TestRejectEmptyHostWithAnyHost(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, hosts := range [][]string{{"*"}, {"example.com", "[::]"}, {"0.0.0.0"}, nil} {
		h := Handler(ok, Options{AllowedHosts: hosts, RejectEmptyHost: true})
		for host, want := range map[string]int{"": 400, "evil.test": 200, "example.com:80": 200} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != want {
				t.Errorf("AllowedHosts %q, Host %q: %d, want %d", hosts, host, w.Code, want)
			}
		}
	}
}

func ExampleHandler() {
	mux := http.NewServeMux()
	h := Handler(mux, Options{AllowedHosts: ParseAllowedHosts("example.com;*.example.com")})
	r := httptest.NewRequest("GET", "http://evil.test/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output: 400
}
