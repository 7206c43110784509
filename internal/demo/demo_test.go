package demo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kestrel-go/kestrel/forwardedheaders"
)

type stringBuilder struct{ strings.Builder }

func TestWriteMessageJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"Hello, World!", "", `quote " and \ backslash`, "tab\tnew\nline\r", "<script>&</script>", "\x00\x1f", "héllo ☃"} {
		want, _ := json.Marshal(message{Message: s})
		var got stringBuilder
		WriteMessageJSON(&got, s)
		if got.String() != string(want) {
			t.Errorf("%q: got %s, want %s", s, got.String(), want)
		}
	}
}

func TestHandlerEndpoints(t *testing.T) {
	app := New(func() []string { return []string{"http://127.0.0.1:1"} })
	for _, tc := range []struct {
		method, target string
		status         int
		want           string
	}{
		{"GET", "/plaintext", 200, "Hello, World!"},
		{"GET", "/json", 200, `{"message":"Hello, World!"}`},
		{"GET", "/", 200, "http://127.0.0.1:1"},
		{"GET", "/stream?chunks=2&size=3", 200, "abcabc"},
		{"GET", "/stream?size=9999999", 400, "size="},
		{"GET", "/stream?delayMs=x", 400, "delayMs="},
		{"POST", "/echo?maxBodySize=abc", 400, "maxBodySize"},
		{"POST", "/plaintext", 405, ""},
		{"GET", "/missing", 404, ""},
	} {
		w := httptest.NewRecorder()
		app.ServeHTTP(w, httptest.NewRequest(tc.method, tc.target, strings.NewReader("body")))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %q; want %d containing %q", tc.method, tc.target, w.Code, w.Body.String(), tc.status, tc.want)
		}
	}
	// Outside a kestrel.Server the per-request limit cannot be set.
	w := httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest("POST", "/echo?maxBodySize=10", strings.NewReader("body")))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("maxBodySize outside kestrel: %d", w.Code)
	}
}

// TestHeadersSchemeBehindProxy: /headers reports the scheme the
// forwarded headers give, as it reports their client address, not the
// proxy's cleartext hop.
func TestHeadersSchemeBehindProxy(t *testing.T) {
	h := forwardedheaders.Handler(New(func() []string { return nil }), forwardedheaders.Options{})
	for _, tc := range []struct {
		proto, want string
	}{{"https", "https"}, {"http", "http"}, {"", "http"}} {
		r := httptest.NewRequest("GET", "/headers", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		r.Header.Set("X-Forwarded-For", "203.0.113.7")
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var got struct{ Scheme, RemoteAddress string }
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Scheme != tc.want || got.RemoteAddress != "203.0.113.7:0" {
			t.Errorf("X-Forwarded-Proto %q: scheme %q, remote address %q; want %q, 203.0.113.7:0", tc.proto, got.Scheme, got.RemoteAddress, tc.want)
		}
	}
}
