package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
)

// subresources is how many scripts the page loads.
const subresources = 50

// h2Page is a page that loads its scripts (which block the parser, so
// all have loaded when its last script runs), then writes what the
// Performance API says of them into #result.
var h2Page = func() string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>h2</title></head><body>\n")
	for i := range subresources {
		fmt.Fprintf(&b, "<script src=\"/js/s%02d.js\"></script>\n", i)
	}
	b.WriteString(`<pre id="result"></pre>
<script>
const entries = performance.getEntriesByType("resource");
const protocols = {};
for (const e of entries) protocols[e.nextHopProtocol] = (protocols[e.nextHopProtocol] || 0) + 1;
document.getElementById("result").textContent = JSON.stringify({
  loaded: window.loaded || 0,
  resources: entries.length,
  protocols: protocols,
  page: performance.getEntriesByType("navigation")[0].nextHopProtocol,
});
</script>
</body></html>
`)
	return b.String()
}()

// TestChromiumHTTP2: headless Chromium loads a page with 50 scripts from
// `kestrel --root` over HTTPS, and the Performance API reports
// nextHopProtocol "h2" for the page and every one of them.
func TestChromiumHTTP2(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium", "")
	dir := t.TempDir()
	root := filepath.Join(dir, "site")
	os.MkdirAll(filepath.Join(root, "js"), 0o755)
	os.WriteFile(filepath.Join(root, "index.html"), []byte(h2Page), 0o644)
	for i := range subresources {
		os.WriteFile(filepath.Join(root, "js", fmt.Sprintf("s%02d.js", i)), []byte("window.loaded = (window.loaded || 0) + 1;\n"), 0o644)
	}
	certFile, keyFile, err := certs.CreateDevCert(filepath.Join(dir, "cert"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "kestrel.json")
	os.WriteFile(config, []byte(`{"Kestrel": {"Endpoints": {"Https": {"Url": "https://127.0.0.1:0",
		"Certificate": {"Path": "`+certFile+`", "KeyPath": "`+keyFile+`"}}}}}`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", config, "--root", root}, nil, &log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	}()
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`Now listening on: (https://\S+)`).FindStringSubmatch(log.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("the server never logged its address:\n%s", log.String())
	}

	runCtx, stop := context.WithTimeout(t.Context(), 90*time.Second)
	defer stop()
	cmd := exec.CommandContext(runCtx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--ignore-certificate-errors-spki-list="+spkiHash(t, certFile), "--user-data-dir="+filepath.Join(dir, "profile"),
		"--dump-dom", base+"/")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`<pre id="result">([^<]*)</pre>`).FindSubmatch(stdout.Bytes())
	if m == nil || len(m[1]) == 0 {
		t.Fatalf("the page reported nothing; its DOM:\n%s\nChromium's log:\n%s", stdout.String(), stderr.String())
	}
	var got struct {
		Loaded, Resources int
		Protocols         map[string]int
		Page              string
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &got); err != nil {
		t.Fatalf("the page's report %q: %v", m[1], err)
	}
	t.Logf("the page reported %s", m[1])
	if got.Loaded != subresources || got.Resources != subresources || got.Protocols["h2"] != subresources || got.Page != "h2" {
		t.Errorf("the page reported %+v; want %d scripts loaded, each and the page over h2", got, subresources)
	}
}

// spkiHash is the base64 SHA-256 of a PEM certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM certificate", certFile)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// headlessChromium runs headless Chromium with a profile of its own in
// profileDir and args after the flags every test uses, for at most 90
// seconds, and returns what it printed (--dump-dom's DOM); the test fails
// with Chromium's log when it does not exit cleanly.
func headlessChromium(t *testing.T, chromium, profileDir string, args ...string) string {
	t.Helper()
	ctx, stop := context.WithTimeout(t.Context(), 90*time.Second)
	defer stop()
	cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profileDir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
