package kestrel_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/websocket"
)

// TestWebSocketInChromium loads a page in headless Chromium that talks to
// the echo endpoint over ws:// and wss:// and reports back.
func TestWebSocketInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed; run `make test`, which installs the Debian package chromium")
	}
	page, err := os.ReadFile("testdata/ws/page.html")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.Handle("/ws", websocket.Echo(nil)) // GET over HTTP/1.1, CONNECT over HTTP/2
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case result <- string(b):
		default:
		}
	})
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := &kestrel.Server{Handler: mux, Logger: slog.New(slog.DiscardHandler)}
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"})
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", HTTPS: &kestrel.HTTPS{Certificate: cert}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var plain, secure string
	for _, a := range s.Addresses() {
		if h, ok := strings.CutPrefix(a, "https://"); ok {
			secure = h
		} else {
			plain = strings.TrimPrefix(a, "http://")
		}
	}
	// The page over http talks ws://, the page over https wss://.
	runPage(t, chromium, "http://"+plain, "ws://"+plain+"/ws", cert, result)
	runPage(t, chromium, "https://"+secure, "wss://"+secure+"/ws", cert, result)
}

func runPage(t *testing.T, chromium, origin, ws string, cert *tls.Certificate, result chan string) {
	t.Helper()
	q := url.Values{"ws": {ws}}
	if r := openInChromium(t, chromium, origin+"/page.html?"+q.Encode(), cert, result); r != "ok 1" {
		t.Errorf("%s: the page reported %q", ws, r)
	}
}

// openInChromium opens pageURL in headless Chromium, which trusts cert,
// and returns what the page reports on result; it fails the test, with
// the browser's output, if nothing comes within 90 s.
func openInChromium(t *testing.T, chromium, pageURL string, cert *tls.Certificate, result chan string) string {
	t.Helper()
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--ignore-certificate-errors", "--ignore-certificate-errors-spki-list="+spkiHash(cert), "--user-data-dir="+t.TempDir(),
		pageURL)
	var log syncWriter
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
		return r
	case <-time.After(90 * time.Second):
		t.Fatalf("%s: no result from the browser; its output:\n%s", pageURL, log.String())
		return ""
	}
}

// syncWriter collects a child process's output.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// spkiHash is the base64 SHA-256 of the certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it.
func spkiHash(cert *tls.Certificate) string {
	c, _ := x509.ParseCertificate(cert.Certificate[0])
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
