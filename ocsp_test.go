package kestrel

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/crypto/ocsp"
)

// ocspPKI is a root CA, an intermediate CA that issues the server
// certificates, and an OCSP responder that answers for the intermediate.
type ocspPKI struct {
	dir       string
	root      *x509.Certificate
	pool      *x509.CertPool // the root
	inter     *x509.Certificate
	interKey  crypto.Signer
	serial    atomic.Int64
	responder *httptest.Server

	mode     atomic.Int32 // responderGood, ...
	validity atomic.Int64 // of the responses; 0: an hour
	mu       sync.Mutex
	requests map[string]int // by serial number
	release  chan struct{}  // ends the requests of responderHang
}

// The responder's behaviours.
const (
	responderGood = iota
	responderRevoked
	responderError // HTTP 503
	responderHang  // never answers
)

func newOCSPPKI(t *testing.T) *ocspPKI {
	t.Helper()
	p := &ocspPKI{dir: t.TempDir(), pool: x509.NewCertPool(), requests: map[string]int{}, release: make(chan struct{})}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kestrel OCSP test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	p.root, _ = x509.ParseCertificate(der)
	p.pool.AddCert(p.root)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	inter := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kestrel OCSP test intermediate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	if der, err = x509.CreateCertificate(rand.Reader, inter, p.root, &interKey.PublicKey, rootKey); err != nil {
		t.Fatal(err)
	}
	p.inter, _ = x509.ParseCertificate(der)
	p.interKey = interKey
	p.serial.Store(100)
	p.responder = httptest.NewServer(http.HandlerFunc(p.answer))
	t.Cleanup(p.responder.Close)
	t.Cleanup(func() { close(p.release) }) // runs first: hung requests end
	return p
}

// answer is the OCSP responder.
func (p *ocspPKI) answer(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.requests[req.SerialNumber.String()]++
	p.mu.Unlock()
	mode := p.mode.Load()
	switch mode {
	case responderError:
		http.Error(w, "responder out of order", http.StatusServiceUnavailable)
		return
	case responderHang:
		select {
		case <-r.Context().Done():
		case <-p.release:
		}
		return
	}
	validity := time.Duration(p.validity.Load())
	if validity == 0 {
		validity = time.Hour
	}
	now := time.Now()
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(validity)}
	if mode == responderRevoked {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, now.Add(-time.Minute), ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(p.inter, p.inter, tmpl, p.interKey)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

// requestsFor returns how many requests asked about serial.
func (p *ocspPKI) requestsFor(serial *big.Int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[serial.String()]
}

// issue writes name.crt (the leaf, naming the responder, and the
// intermediate) and name.key, and returns their paths and the leaf.
func (p *ocspPKI) issue(t *testing.T, name string) (certPath, keyPath string, leaf *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial.Add(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		OCSPServer:   []string{p.responder.URL + "/ocsp"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.inter, &key.PublicKey, p.interKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certPath, keyPath = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.inter.Raw})...)
	if err := os.WriteFile(certPath, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath, leaf
}

// handshake connects to addr and returns the server's leaf and the
// stapled OCSP response (nil: none).
func (p *ocspPKI) handshake(t *testing.T, addr string) (*x509.Certificate, []byte) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: p.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := c.ConnectionState()
	return st.PeerCertificates[0], st.OCSPResponse
}

// waitStaple handshakes with addr until the server staples a response for
// leaf, and returns it, checked.
func (p *ocspPKI) waitStaple(t *testing.T, addr string, leaf *x509.Certificate) *ocsp.Response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, staple := p.handshake(t, addr)
		if staple != nil && got.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			resp, err := ocsp.ParseResponseForCert(staple, leaf, p.inter)
			if err != nil {
				t.Fatalf("the stapled response does not check out: %v", err)
			}
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("no staple for serial %v within 10 s (the server sent serial %v, staple of %d bytes); responder asked %d times",
				leaf.SerialNumber, got.SerialNumber, len(staple), p.requestsFor(leaf.SerialNumber))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startOCSPServer starts a server with one HTTPS endpoint, logging to the
// returned recorder.
func startOCSPServer(t *testing.T, h *HTTPS) (*Server, string, *logRecorder) {
	t.Helper()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), Logger: log}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: h}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, strings.TrimPrefix(s.Addresses()[0], "https://"), rec
}

// staplers returns how many certificates the server staples.
func staplers(s *Server) int {
	s.stapleMu.Lock()
	defer s.stapleMu.Unlock()
	return len(s.stapling)
}

func TestOCSPStapling(t *testing.T) {
	p := newOCSPPKI(t)
	certPath, keyPath, leaf := p.issue(t, "site")
	s, addr, _ := startOCSPServer(t, &HTTPS{CertificateFile: certPath, KeyFile: keyPath})
	resp := p.waitStaple(t, addr, leaf)
	if resp.Status != ocsp.Good || !resp.NextUpdate.After(time.Now()) {
		t.Fatalf("stapled status %d, next update %v", resp.Status, resp.NextUpdate)
	}

	// OpenSSL's client sees it too.
	openssl := needTool(t, "openssl")
	ca := filepath.Join(t.TempDir(), "root.pem")
	os.WriteFile(ca, []byte(rootPEM(p)), 0o644)
	cmd := exec.Command(openssl, "s_client", "-connect", addr, "-servername", "localhost", "-status", "-CAfile", ca, "-verify_return_error")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, lastLines(string(out), 30))
	}
	for _, want := range []string{"OCSP Response Status: successful", "Cert Status: good"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("openssl s_client -status does not say %q:\n%s", want, lastLines(string(out), 40))
		}
	}

	// Closing the server stops its stapler (and its goroutine: StopStapling
	// waits for it).
	if n := staplers(s); n != 1 {
		t.Fatalf("%d staplers, want 1", n)
	}
	s.Close()
	if n := staplers(s); n != 0 {
		t.Fatalf("%d staplers after Close, want 0", n)
	}
}

// rootPEM returns the PEM of the PKI's root.
func rootPEM(p *ocspPKI) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}))
}

func TestOCSPStaplingRefreshesBeforeNextUpdate(t *testing.T) {
	p := newOCSPPKI(t)
	p.validity.Store(int64(3 * time.Second))
	certPath, keyPath, leaf := p.issue(t, "site")
	_, addr, _ := startOCSPServer(t, &HTTPS{CertificateFile: certPath, KeyFile: keyPath})
	first := p.waitStaple(t, addr, leaf)
	// A keep-alive connection open across the refresh.
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: p.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := p.waitStaple(t, addr, leaf)
		// Times are in whole seconds: a staple served may not be more
		// than a second past its NextUpdate.
		if now := time.Now(); !resp.NextUpdate.After(now.Add(-time.Second)) {
			t.Fatalf("a staple past its NextUpdate (%v) was served at %v", resp.NextUpdate, now)
		}
		if resp.NextUpdate.After(first.NextUpdate) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the staple was not refreshed; responder asked %d times", p.requestsFor(leaf.SerialNumber))
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if res, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("the connection opened before the refresh: %v", err)
	}
}

func TestOCSPStaplingResponderDown(t *testing.T) {
	p := newOCSPPKI(t)
	certPath, keyPath, leaf := p.issue(t, "site")

	// A responder that never answers delays neither Start, nor
	// handshakes, nor Close.
	p.mode.Store(responderHang)
	began := time.Now()
	s, addr, _ := startOCSPServer(t, &HTTPS{CertificateFile: certPath, KeyFile: keyPath})
	if _, staple := p.handshake(t, addr); staple != nil {
		t.Fatal("a staple from a responder that does not answer")
	}
	if d := time.Since(began); d > 5*time.Second { // the responder never answers: any bound shows no wait
		t.Fatalf("Start and a handshake took %v with a responder that does not answer", d)
	}
	for p.requestsFor(leaf.SerialNumber) == 0 {
		if time.Since(began) > 10*time.Second {
			t.Fatal("the responder was not asked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	began = time.Now()
	s.Close()
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("Close took %v with a request to the responder pending", d)
	}

	// A responder that fails: one warning for the streak of failures,
	// no staple, then stapling once it answers again.
	p.mode.Store(responderError)
	certPath, keyPath, leaf = p.issue(t, "site2")
	_, addr, rec := startOCSPServer(t, &HTTPS{CertificateFile: certPath, KeyFile: keyPath})
	deadline := time.Now().Add(10 * time.Second)
	for p.requestsFor(leaf.SerialNumber) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the responder was asked %d times, want retries", p.requestsFor(leaf.SerialNumber))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, staple := p.handshake(t, addr); staple != nil {
		t.Fatal("a staple from a failing responder")
	}
	warnings := rec.events("OcspStaplingFailed")
	if len(warnings) != 1 || warnings[0].level != slog.LevelWarn || !strings.Contains(warnings[0].msg, "503") ||
		!strings.Contains(warnings[0].msg, p.responder.URL) {
		t.Fatalf("OcspStaplingFailed events: %+v; want one warning with the responder's error", warnings)
	}
	p.mode.Store(responderGood)
	if resp := p.waitStaple(t, addr, leaf); resp.Status != ocsp.Good {
		t.Fatalf("status %d", resp.Status)
	}
	if n := len(rec.events("OcspStaplingResumed")); n != 1 {
		t.Fatalf("%d OcspStaplingResumed events, want 1", n)
	}
}

func TestOCSPStaplingRevoked(t *testing.T) {
	p := newOCSPPKI(t)
	p.mode.Store(responderRevoked)
	certPath, keyPath, leaf := p.issue(t, "revoked")
	_, addr, rec := startOCSPServer(t, &HTTPS{CertificateFile: certPath, KeyFile: keyPath})
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.events("OcspCertificateRevoked")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no OcspCertificateRevoked event; responder asked %d times", p.requestsFor(leaf.SerialNumber))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ev := rec.events("OcspCertificateRevoked")[0]; ev.level != slog.LevelError || !strings.Contains(ev.msg, "REVOKED") {
		t.Fatalf("event %+v, want an error", ev)
	}
	// Serving goes on, without a staple.
	if _, staple := p.handshake(t, addr); staple != nil {
		t.Fatal("a revoked response was stapled")
	}
}

func TestOCSPStaplingDisabled(t *testing.T) {
	p := newOCSPPKI(t)
	offCert, offKey, offLeaf := p.issue(t, "off")
	onCert, onKey, onLeaf := p.issue(t, "on")
	// Off by the configuration key; a server stapling the other
	// certificate, started alongside, shows when a fetch would have been
	// made.
	s, _ := startConfigured(t, http.NotFoundHandler(), `{"Kestrel":{"Endpoints":{"Off":{"Url":"https://127.0.0.1:0",
		"Certificate":{"Path":`+jsonString(offCert)+`,"KeyPath":`+jsonString(offKey)+`,"DisableOcspStapling":true}}}}}`)
	_, onAddr, _ := startOCSPServer(t, &HTTPS{CertificateFile: onCert, KeyFile: onKey})
	offAddr := strings.TrimPrefix(s.Addresses()[0], "https://")
	p.waitStaple(t, onAddr, onLeaf)
	if _, staple := p.handshake(t, offAddr); staple != nil {
		t.Fatal("a staple with DisableOcspStapling")
	}
	if n := p.requestsFor(offLeaf.SerialNumber); n != 0 {
		t.Fatalf("the responder was asked %d times about a certificate with stapling disabled", n)
	}
	if n := staplers(s); n != 0 {
		t.Fatalf("%d staplers with stapling disabled", n)
	}

	// In code, for the endpoint and for an SNI entry.
	h := &HTTPS{SNI: map[string]SNI{"localhost": {CertificateFile: offCert, KeyFile: offKey, DisableOCSPStapling: true}}}
	s2, addr2, _ := startOCSPServer(t, h)
	if staplers(s2) != 0 {
		t.Fatal("an SNI entry with DisableOCSPStapling is stapled")
	}
	if _, staple := p.handshake(t, addr2); staple != nil {
		t.Fatal("a staple for an SNI entry with DisableOCSPStapling")
	}
	s3, _, _ := startOCSPServer(t, &HTTPS{CertificateFile: offCert, KeyFile: offKey, DisableOCSPStapling: true})
	if staplers(s3) != 0 {
		t.Fatal("an endpoint with DisableOCSPStapling is stapled")
	}
	if n := p.requestsFor(offLeaf.SerialNumber); n != 0 {
		t.Fatalf("the responder was asked %d times about a certificate with stapling disabled", n)
	}
}

// jsonString quotes s for JSON.
func jsonString(s string) string { return fmt.Sprintf("%q", s) }

func TestOCSPStaplingFollowsReloads(t *testing.T) {
	p := newOCSPPKI(t)
	certPath, keyPath, leaf := p.issue(t, "site")
	config := func(disable bool) string {
		return `{"Kestrel":{"Endpoints":{"Site":{"Url":"https://127.0.0.1:0",
			"Certificate":{"Path":` + jsonString(certPath) + `,"KeyPath":` + jsonString(keyPath) + fmt.Sprintf(`,"DisableOcspStapling":%v}}}}}`, disable)
	}
	s, _ := startConfigured(t, http.NotFoundHandler(), config(false))
	addr := strings.TrimPrefix(s.Addresses()[0], "https://")
	p.waitStaple(t, addr, leaf)

	// The certificate file changes: the new certificate gets its own
	// staple (the old one's is not served with it).
	newCert, newKey, newLeaf := p.issue(t, "renewed")
	os.Rename(newCert, certPath)
	os.Rename(newKey, keyPath)
	past := time.Now().Add(-time.Minute)
	os.Chtimes(certPath, past, past)
	os.Chtimes(keyPath, past, past)
	p.waitStaple(t, addr, newLeaf)

	// The configuration turns stapling off: the endpoint is served anew,
	// and the old stapler stops.
	reloadJSON(t, s, config(true))
	addr = strings.TrimPrefix(s.Addresses()[0], "https://")
	if n := staplers(s); n != 0 {
		t.Fatalf("%d staplers after the configuration disabled stapling", n)
	}
	if _, staple := p.handshake(t, addr); staple != nil {
		t.Fatal("a staple after the configuration disabled stapling")
	}
	reloadJSON(t, s, config(false))
	addr = strings.TrimPrefix(s.Addresses()[0], "https://")
	p.waitStaple(t, addr, newLeaf)
	if n := staplers(s); n != 1 {
		t.Fatalf("%d staplers, want 1", n)
	}
}

func TestOCSPStaplingNeedsTheIssuerInTheFile(t *testing.T) {
	p := newOCSPPKI(t)
	certPath, keyPath, leaf := p.issue(t, "site")
	// The file without the intermediate: a response could not be checked.
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644)
	p.pool.AddCert(p.inter) // the client has it
	_, addr, rec := startOCSPServer(t, &HTTPS{CertificateFile: certPath, KeyFile: keyPath})
	deadline := time.Now().Add(10 * time.Second)
	for {
		logged := false
		for _, e := range rec.events("") {
			if strings.Contains(e.msg, "issuer is not in its file") && e.level == slog.LevelInfo {
				logged = true
			}
		}
		if logged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message about the missing issuer: %+v", rec.events(""))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.requestsFor(leaf.SerialNumber); n != 0 {
		t.Fatalf("the responder was asked %d times without the issuer to check its answer", n)
	}
	if _, staple := p.handshake(t, addr); staple != nil {
		t.Fatal("a staple without the issuer")
	}
}

func TestOCSPStaplingConfigurationKeys(t *testing.T) {
	json := `{"Kestrel":{"Endpoints":{"Web":{"Url":"https://127.0.0.1:0","Certificate":{"Path":"a.crt","KeyPath":"a.key"},
		"Sni":{"a.example":{"Certificate":{"Path":"b.crt","DisableOcspStapling":true}}}}}}}`
	c, err := ParseConfig([]byte(json), "kestrel.json", nil, []string{"Kestrel__Endpoints__Web__Certificate__DisableOcspStapling=true"})
	if err != nil {
		t.Fatal(err)
	}
	_, eps, err := c.resolve(configFields{})
	if err != nil {
		t.Fatal(err)
	}
	h := eps[0].opts.HTTPS
	if !h.DisableOCSPStapling || !h.SNI["a.example"].DisableOCSPStapling {
		t.Fatalf("DisableOCSPStapling = %v, SNI's %v; want both set", h.DisableOCSPStapling, h.SNI["a.example"].DisableOCSPStapling)
	}

	// A misspelt key is named, with the right one.
	_, err = ParseConfig([]byte(`{"Kestrel":{"Endpoints":{"Web":{"Url":"https://127.0.0.1:0",
		"Certificate":{"Path":"a.crt","DisableOcspStaple":true}}}}}`), "kestrel.json", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "DisableOcspStapling") {
		t.Fatalf("a misspelt key: %v", err)
	}
	// ACME certificates are stapled by certmagic: the key is refused there.
	c, err = ParseConfig([]byte(`{"Kestrel":{"Endpoints":{"Web":{"Url":"https://127.0.0.1:0",
		"Certificate":{"Acme":{"Domains":["example.com"],"AgreeToTerms":true},"DisableOcspStapling":true}}}}}`), "kestrel.json", nil, nil)
	if err == nil {
		_, _, err = c.resolve(configFields{})
	}
	if err == nil || !strings.Contains(err.Error(), "Certificate:DisableOcspStapling") {
		t.Fatalf("DisableOcspStapling with Acme: %v", err)
	}
}

func TestOCSPStaplingHTTP3(t *testing.T) {
	p := newOCSPPKI(t)
	certPath, keyPath, leaf := p.issue(t, "site")
	s := &Server{Handler: http.NotFoundHandler(), Logger: discardLogger()}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3,
		HTTPS: &HTTPS{CertificateFile: certPath, KeyFile: keyPath}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "https://")
	p.waitStaple(t, addr, leaf) // over TCP: the staple is there
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr, &tls.Config{ServerName: "localhost", RootCAs: p.pool, NextProtos: []string{"h3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	staple := qc.ConnectionState().TLS.OCSPResponse
	if staple == nil {
		t.Fatal("no staple over QUIC")
	}
	if resp, err := ocsp.ParseResponseForCert(staple, leaf, p.inter); err != nil || resp.Status != ocsp.Good {
		t.Fatalf("the staple over QUIC: %v", err)
	}
}
