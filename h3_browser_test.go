package kestrel

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// h3Page loads a script and an image, then reports the protocol of the
// page and of each subresource, as the Performance API sees them.
const h3Page = `<!doctype html>
<title>h3</title>
<img src="/pixel.svg">
<script src="/app.js"></script>`

const h3Script = `window.addEventListener("load", () => {
	const nav = performance.getEntriesByType("navigation")[0].nextHopProtocol;
	const res = performance.getEntriesByType("resource").map(e => e.name.replace(location.origin, "") + "=" + e.nextHopProtocol).sort();
	fetch("/result", {method: "POST", body: nav + " " + res.join(" ")});
});`

// TestHTTP3InChromium has headless Chromium, told to use QUIC for the test
// origin, load a page with subresources: each must arrive over HTTP/3.
func TestHTTP3InChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed; run `make test`, which installs the Debian package chromium")
	}
	result := make(chan string, 1)
	var mu sync.Mutex
	protos := map[string]bool{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, h3Page)
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, h3Script)
	})
	mux.HandleFunc("GET /pixel.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>`)
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case result <- string(b):
		default:
		}
	})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.Proto] = true
		mu.Unlock()
		mux.ServeHTTP(w, r)
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	cert, _ := testCert()

	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--enable-quic", "--origin-to-force-quic-on="+addr,
		"--ignore-certificate-errors", "--ignore-certificate-errors-spki-list="+spkiOf(cert), "--user-data-dir="+t.TempDir(),
		"https://"+addr+"/page.html")
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	select {
	case r := <-result:
		want := "h3 /app.js=h3 /pixel.svg=h3"
		if r != want {
			t.Errorf("the page reported %q, want %q", r, want)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("no result from the browser; its output:\n%s", log.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(protos) != 1 || !protos["HTTP/3.0"] {
		t.Errorf("the server saw requests over %v, want HTTP/3.0 only", protos)
	}
}

// spkiOf is the base64 SHA-256 of the certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it.
func spkiOf(cert *tls.Certificate) string {
	c, _ := x509.ParseCertificate(cert.Certificate[0])
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
