package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/kestrel-go/kestrel/internal/certs"
)

// TestFeaturesTogether runs the command as an operator would, with most
// of its features at once: a configuration file with a plain endpoint and
// an HTTPS one serving HTTP/1.1, HTTP/2 and HTTP/3, a folder to serve, the
// access log and the Prometheus endpoint. A file fetched over each
// protocol arrives whole, HTTP/1.1 and HTTP/2 responses advertise HTTP/3,
// the access log names each protocol, and the metrics count each.
func TestFeaturesTogether(t *testing.T) {
	t.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	dir := t.TempDir()
	certFile, keyFile, err := certs.CreateDevCert(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "www")
	os.Mkdir(root, 0o755)
	page := strings.Repeat("served together\n", 5000)
	os.WriteFile(filepath.Join(root, "page.txt"), []byte(page), 0o644)
	config := filepath.Join(dir, "appsettings.json")
	os.WriteFile(config, []byte(`{"Kestrel": {"Endpoints": {
		"Http":  {"Url": "http://127.0.0.1:0"},
		"Https": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3",
		          "Certificate": {"Path": "`+certFile+`", "KeyPath": "`+keyFile+`"}}}}}`), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--config", config, "--root", root, "--access-log", "--metrics", "http://127.0.0.1:0"}, nil, &log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	plain := waitListening(t, log.String)
	waitOutput(t, &log, regexp.MustCompile(`Now listening on: https://`))
	waitOutput(t, &log, metricsListening)
	secure := regexp.MustCompile(`Now listening on: (https://\S+)`).FindStringSubmatch(log.String())[1]
	metricsURL := metricsListening.FindStringSubmatch(log.String())[1]

	pem, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	h1 := &http.Transport{}
	h2 := &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}
	h3 := &http3.Transport{TLSClientConfig: tlsConfig}
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	t.Cleanup(func() { h3.Close() })
	for _, c := range []struct {
		proto  string
		rt     http.RoundTripper
		base   string
		altSvc bool
	}{
		{"HTTP/1.1", h1, plain, false},
		{"HTTP/2.0", h2, secure, true},
		{"HTTP/3.0", h3, secure, false},
	} {
		resp, err := (&http.Client{Transport: c.rt, Timeout: 10 * time.Second}).Get(c.base + "/page.txt")
		if err != nil {
			t.Fatalf("%s: %v", c.proto, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.Proto != c.proto || string(b) != page {
			t.Errorf("%s: %s %d, %d bytes (%v)", c.proto, resp.Proto, resp.StatusCode, len(b), err)
		}
		if got := resp.Header.Get("Alt-Svc"); c.altSvc != strings.HasPrefix(got, `h3=":`) {
			t.Errorf("%s: Alt-Svc %q", c.proto, got)
		}
		waitOutput(t, &log, regexp.MustCompile(`"GET /page\.txt `+regexp.QuoteMeta(c.proto)+`" 200 `))
	}

	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, version := range []string{"1.1", "2", "3"} {
		re := regexp.MustCompile(`(?m)^http_server_request_duration_seconds_count\{[^}]*network_protocol_version="` + regexp.QuoteMeta(version) + `"[^}]*\} [1-9]`)
		if !re.Match(text) {
			t.Errorf("no request over HTTP %s in the metrics:\n%s", version, grepLines(string(text), "http_server_request_duration_seconds_count"))
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
