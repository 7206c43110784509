package demo

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestHomePageHeaders: the page is HTML with a policy that allows its
// inline style and script by their hashes and nothing else from elsewhere.
func TestHomePageHeaders(t *testing.T) {
	app := New(func() []string { return []string{"http://127.0.0.1:5000", "unix:/run/app.sock"} })
	w := httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest("GET", "http://localhost:5000/", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
	csp := w.Header().Get("Content-Security-Policy")
	body := w.Body.String()
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(body, -1)
		if len(m) != 1 {
			t.Fatalf("%d inline %s elements, want 1", len(m), tag)
		}
		sum := sha256.Sum256([]byte(m[0][1]))
		if want := tag + "-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self' ws://localhost:5000 wss://localhost:5000"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	if regexp.MustCompile(`(?i)src="(https?:)?//|<link[^>]+href="(https?:)?//|url\(`).MatchString(body) || strings.Contains(body, " style=") {
		t.Error("the page loads something from elsewhere or has a style attribute, which its policy blocks")
	}
	for _, want := range []string{`<a href="http://127.0.0.1:5000/">http://127.0.0.1:5000</a>`, `<code>unix:/run/app.sock</code>`,
		`<span class="big" id="proto">HTTP/1.1</span>`, `<td id="tls">none (plain text)</td>`, `data-stats=""`, "Metrics are off"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// A Host header that could change the policy is left out of it.
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "evil; script-src *"
	w = httptest.NewRecorder()
	app.ServeHTTP(w, r)
	if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") || !strings.HasSuffix(csp, "connect-src 'self'") {
		t.Errorf("policy %q", csp)
	}
}

func TestHomePageProtocols(t *testing.T) {
	for _, c := range []struct {
		major int
		tls   bool
		want  string
	}{{1, false, "HTTP/1.1"}, {2, false, "HTTP/2 (h2c, cleartext)"}, {2, true, "HTTP/2 (h2)"}, {3, true, "HTTP/3 (h3, QUIC)"}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.ProtoMajor = c.major
		if c.tls {
			r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, NegotiatedProtocol: "h2", ServerName: "localhost"}
		}
		if got := protocolName(r); got != c.want {
			t.Errorf("HTTP/%d TLS %v: %q, want %q", c.major, c.tls, got, c.want)
		}
	}
	got := tlsSummary(&tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, NegotiatedProtocol: "h2", ServerName: "localhost"})
	if want := "TLS 1.3 · TLS_AES_128_GCM_SHA256 · ALPN h2 · SNI localhost"; got != want {
		t.Errorf("tlsSummary %q, want %q", got, want)
	}
}

func TestAddressLinks(t *testing.T) {
	got := addressLinks([]string{"http://127.0.0.1:5000", "https://[::]:5001", "http://0.0.0.0:8080", "unix:/run/a.sock"}, "example.com:5001")
	want := []link{
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000/"},
		{"https://[::]:5001", "https://example.com:5001/"},
		{"http://0.0.0.0:8080", "http://example.com:8080/"},
		{"unix:/run/a.sock", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestStats(t *testing.T) {
	app := New(nil)
	w := httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest("GET", "/stats", nil))
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "--metrics") {
		t.Errorf("without metrics: %d %q", w.Code, w.Body.String())
	}
	app.SetMetrics(func() (map[string]float64, error) {
		return map[string]float64{"kestrel_active_connections": 2, "http_server_request_duration_seconds_count": 41, "go_goroutines": 9}, nil
	})
	w = httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest("GET", "/stats", nil))
	var s Stats
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%v %q", err, w.Body.String())
	}
	if s.ActiveConnections != 2 || s.Requests != 41 || s.Goroutines != 9 {
		t.Errorf("%+v", s)
	}
	w = httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(w.Body.String(), `data-stats="/stats"`) || !strings.Contains(w.Body.String(), `id="stat-requests"`) {
		t.Error("with metrics, the page does not poll /stats")
	}
	app.SetMetrics(func() (map[string]float64, error) { return nil, errors.New("gathering failed") })
	w = httptest.NewRecorder()
	app.ServeHTTP(w, httptest.NewRequest("GET", "/stats", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "gathering failed") {
		t.Errorf("failing snapshot: %d %q", w.Code, w.Body.String())
	}
}
