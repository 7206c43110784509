package demo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
