package kestrel

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPKI is a CA and the files of certificates it issued.
type testPKI struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kestrel test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), caCert: ca, caKey: key, pool: x509.NewCertPool(), serial: 1}
	p.pool.AddCert(ca)
	os.WriteFile(filepath.Join(p.dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return p
}

// issue writes name.crt and name.key for the host names (server) or a
// client certificate, and returns their paths.
func (p *testPKI) issue(t *testing.T, name string, client bool, hosts ...string) (certPath, keyPath string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certPath, keyPath = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return certPath, keyPath
}

func (p *testPKI) client(certs ...tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: certs}}}
}

// startHTTPS starts a server with one HTTPS endpoint and returns its
// 127.0.0.1:port.
func startHTTPS(t *testing.T, h *HTTPS, handler http.Handler) string {
	t.Helper()
	if handler == nil {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", r.URL.Path, r.Proto)
			if r.TLS != nil {
				fmt.Fprintf(w, " tls=%x sni=%s peers=%d chains=%d", r.TLS.Version, r.TLS.ServerName, len(r.TLS.PeerCertificates), len(r.TLS.VerifiedChains))
			}
		})
	}
	s := &Server{Handler: handler, Logger: discardLogger()}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: h}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := s.Addresses()[0]
	if !strings.HasPrefix(a, "https://") {
		t.Fatalf("address %s is not https", a)
	}
	return strings.TrimPrefix(a, "https://")
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed; run `make test`, which installs it", name)
	}
	return p
}

func TestHTTPSWithGoClientAndCurl(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	addr := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, nil)
	port := addr[strings.LastIndexByte(addr, ':')+1:]

	resp, err := pki.client().Get("https://localhost:" + port + "/go")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "/go HTTP/1.1 tls=304 sni=localhost") {
		t.Errorf("Go client: %q", b)
	}
	// ALPN: offered h2 and http/1.1, the server picks h2 (Kestrel's
	// default, Http1AndHttp2); offered http/1.1 alone, http/1.1.
	for _, tc := range []struct {
		offer []string
		want  string
	}{{[]string{"h2", "http/1.1"}, "h2"}, {[]string{"http/1.1"}, "http/1.1"}, {nil, ""}} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: pki.pool, NextProtos: tc.offer})
		if err != nil {
			t.Fatal(err)
		}
		if p := c.ConnectionState().NegotiatedProtocol; p != tc.want {
			t.Errorf("ALPN offered %q chose %q, want %q", tc.offer, p, tc.want)
		}
		c.Close()
	}

	curl := needTool(t, "curl")
	out, err := exec.Command(curl, "-sS", "--cacert", filepath.Join(pki.dir, "ca.pem"), "https://localhost:"+port+"/curl").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "/curl HTTP/2.0 tls=") {
		t.Errorf("curl --cacert: %v %q", err, out)
	}
	out, err = exec.Command(curl, "-sS", "--http1.1", "--cacert", filepath.Join(pki.dir, "ca.pem"), "https://localhost:"+port+"/curl").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "/curl HTTP/1.1 tls=") {
		t.Errorf("curl --http1.1 --cacert: %v %q", err, out)
	}
	if out, err := exec.Command(curl, "-sS", "https://localhost:"+port+"/").CombinedOutput(); err == nil {
		t.Errorf("curl trusted an unknown CA: %q", out)
	}
}

func TestHTTPSProtocolVersionsWithOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	addr := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, nil)
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-tls1"}, false},
		{[]string{"-tls1_1"}, false},
		{[]string{"-tls1_2"}, true},
		{[]string{"-tls1_3"}, true},
		{[]string{"-tls1_2", "-cipher", "AES128-SHA"}, false},             // RSA key exchange, CBC
		{[]string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"}, false}, // CBC
		{[]string{"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"}, true},
	} {
		args := append([]string{"s_client", "-ign_eof", "-connect", addr, "-servername", "localhost", "-CAfile", filepath.Join(pki.dir, "ca.pem")}, tc.args...)
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("GET /ossl HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		out, _ := cmd.CombinedOutput()
		ok := strings.Contains(string(out), "/ossl HTTP/1.1 tls=")
		if ok != tc.ok {
			t.Errorf("openssl %v: accepted=%v, want %v\n%s", tc.args, ok, tc.ok, lastLines(string(out), 5))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestHTTPSSNI(t *testing.T) {
	pki := newTestPKI(t)
	exC, exK := pki.issue(t, "example.com", false, "example.com")
	wC, wK := pki.issue(t, "wildcard", false, "*.example.com")
	bC, bK := pki.issue(t, "deep-wildcard", false, "*.b.example.com")
	dC, dK := pki.issue(t, "default", false, "default.test")
	sni := map[string]SNI{
		"example.com":     {CertificateFile: exC, KeyFile: exK},
		"*.example.com":   {CertificateFile: wC, KeyFile: wK},
		"*.b.example.com": {CertificateFile: bC, KeyFile: bK},
	}
	addr := startHTTPS(t, &HTTPS{SNI: sni}, nil)
	presented := func(name string) (string, error) {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	for name, want := range map[string]string{
		"example.com": "example.com", "EXAMPLE.com": "example.com", "a.example.com": "wildcard",
		"x.a.example.com": "wildcard", "c.b.example.com": "deep-wildcard",
	} {
		if got, err := presented(name); got != want {
			t.Errorf("SNI %q: certificate %q (%v), want %q", name, got, err, want)
		}
	}
	if got, err := presented("other.test"); err == nil {
		t.Errorf("SNI other.test without a \"*\" entry: got certificate %q, want a failed handshake", got)
	}
	sni["*"] = SNI{CertificateFile: dC, KeyFile: dK}
	addr = startHTTPS(t, &HTTPS{SNI: sni}, nil)
	if got, _ := presented("other.test"); got != "default" {
		t.Errorf("SNI other.test with \"*\": %q, want default", got)
	}
}

func TestHTTPSPFXFiles(t *testing.T) {
	openssl := needTool(t, "openssl")
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	for _, legacy := range []bool{false, true} {
		pfx := filepath.Join(pki.dir, fmt.Sprintf("site-%v.pfx", legacy))
		args := []string{"pkcs12", "-export", "-out", pfx, "-inkey", key, "-in", cert, "-passout", "pass:testPassword"}
		if legacy {
			args = append(args, "-legacy")
		}
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v %s", args, err, out)
		}
		addr := startHTTPS(t, &HTTPS{CertificateFile: pfx, Password: "testPassword"}, nil)
		resp, err := pki.client().Get("https://localhost:" + addr[strings.LastIndexByte(addr, ':')+1:] + "/pfx")
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		resp.Body.Close()
		// The wrong password fails Start with an error naming the file.
		s := &Server{Logger: discardLogger()}
		s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: pfx, Password: "wrong"}})
		if err := s.Start(); err == nil || !strings.Contains(err.Error(), pfx) || !strings.Contains(err.Error(), "password") {
			t.Errorf("wrong password: %v", err)
		}
		s.Close()
	}
}

func TestHTTPSClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	cc, ck := pki.issue(t, "client", true)
	clientCert, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	other := newTestPKI(t)
	oc, ok := other.issue(t, "stranger", true)
	stranger, _ := tls.LoadX509KeyPair(oc, ok)

	get := func(addr string, certs ...tls.Certificate) (string, error) {
		resp, err := pki.client(certs...).Get("https://localhost:" + addr[strings.LastIndexByte(addr, ':')+1:] + "/c")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	require := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key, ClientCertificateMode: RequireCertificate, ClientCAs: pki.pool}, nil)
	if _, err := get(require); err == nil {
		t.Error("RequireCertificate: a client without a certificate got through")
	}
	if body, err := get(require, clientCert); err != nil || !strings.Contains(body, "peers=1 chains=1") {
		t.Errorf("RequireCertificate with a valid certificate: %q %v", body, err)
	}
	if _, err := get(require, stranger); err == nil {
		t.Error("RequireCertificate: a certificate from another CA got through")
	}
	allow := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key, ClientCertificateMode: AllowCertificate, ClientCAs: pki.pool}, nil)
	if body, err := get(allow); err != nil || !strings.Contains(body, "peers=0") {
		t.Errorf("AllowCertificate without one: %q %v", body, err)
	}
	// A validation callback can accept what the CA did not sign.
	custom := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key, ClientCertificateMode: RequireCertificate,
		ClientCertificateValidation: func(c *x509.Certificate, chains [][]*x509.Certificate, verr error) error {
			if c.Subject.CommonName == "stranger" {
				return nil
			}
			return fmt.Errorf("unknown client %q (%v)", c.Subject.CommonName, verr)
		}}, nil)
	if body, err := get(custom, stranger); err != nil || !strings.Contains(body, "peers=1 chains=0") {
		// The callback verifies: crypto/tls leaves VerifiedChains empty.
		t.Errorf("the callback accepted the stranger: %q %v", body, err)
	}
	if _, err := get(custom, clientCert); err == nil {
		t.Error("the callback refused the client, the handshake succeeded")
	}
}

func TestHTTPSReloadsChangedCertificate(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	addr := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, nil)
	serialOf := func() *big.Int {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: pki.pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	first := serialOf()
	// A keep-alive connection open across the change keeps working.
	old, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: pki.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	// Replace the files (same names), dated in the past so the reloader
	// does not wait for them to settle.
	newCert, newKey := pki.issue(t, "renewed", false, "localhost", "127.0.0.1")
	os.Rename(newCert, cert)
	os.Rename(newKey, key)
	past := time.Now().Add(-time.Minute)
	os.Chtimes(cert, past, past)
	os.Chtimes(key, past, past)
	deadline := time.Now().Add(10 * time.Second)
	for serialOf().Cmp(first) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not picked up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	io.WriteString(old, "GET /old HTTP/1.1\r\nHost: localhost\r\n\r\n")
	old.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(old), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the connection opened before the change: %v", err)
	}
}

func TestPlainHTTPToHTTPSPort(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	addr := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, nil)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "HTTPS port") {
		t.Errorf("plain HTTP to the HTTPS port: %d %q", resp.StatusCode, b)
	}
	// The endpoint still serves TLS.
	if _, err := pki.client().Get("https://localhost:" + addr[strings.LastIndexByte(addr, ':')+1:] + "/"); err != nil {
		t.Errorf("after a plain HTTP request: %v", err)
	}
	// A TLS client on a cleartext port fails at once rather than hanging.
	plain := &Server{Logger: discardLogger(), Handler: http.NotFoundHandler()}
	plain.Listen("127.0.0.1:0")
	if err := plain.Start(); err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	start := time.Now()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if _, err := tls.DialWithDialer(d, "tcp", strings.TrimPrefix(plain.Addresses()[0], "http://"), &tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Error("a TLS handshake with a cleartext endpoint succeeded")
	}
	if time.Since(start) > 3*time.Second {
		t.Error("the TLS client on a cleartext port waited instead of being closed")
	}
}

func TestHTTPSURLsAndErrors(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	s := &Server{Logger: discardLogger(), Handler: http.NotFoundHandler(), DefaultHTTPS: &HTTPS{CertificateFile: cert, KeyFile: key}}
	if err := s.ListenURL("https://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	a := s.Addresses()[0]
	s.Close()
	if !strings.HasPrefix(a, "https://127.0.0.1:") {
		t.Errorf("https URL bound %s", a)
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tc := range []struct {
		setup func(*Server) error
		want  string
	}{
		{func(s *Server) error { return s.ListenURL("https://127.0.0.1:0") }, "kestrel dev-certs"},
		{func(s *Server) error {
			s.DefaultHTTPS = &HTTPS{CertificateFile: cert, KeyFile: key}
			s.ListenURL("http://127.0.0.1:5999")
			return s.ListenURL("https://127.0.0.1:5999")
		}, "http://127.0.0.1:5999 and https://127.0.0.1:5999"},
		{func(s *Server) error {
			return s.ListenEndpoint(Endpoint{URL: "http://127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key}})
		}, "HTTPS options on an http:// URL"},
		{func(s *Server) error {
			return s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key, MinVersion: tls.VersionTLS10}})
		}, "before 1.2"},
	} {
		s := &Server{Logger: discardLogger()}
		err := tc.setup(s)
		if err == nil {
			err = s.Start()
		}
		s.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

// TestTLSStatePerConnection: the requests of one HTTP/1.1 connection share
// its TLS state, as net/http's do, and a new connection has its own.
func TestTLSStatePerConnection(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	var mu sync.Mutex
	var seen []*tls.ConnectionState
	addr := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.TLS)
		mu.Unlock()
	}))
	url := "https://localhost:" + addr[strings.LastIndexByte(addr, ':')+1:] + "/"
	c := pki.client()
	for range 2 {
		get(t, c, url)
	}
	c.CloseIdleConnections()
	get(t, c, url)
	mu.Lock()
	defer mu.Unlock()
	for i, st := range seen {
		if st == nil || !st.HandshakeComplete || st.ServerName != "localhost" || st.Version != tls.VersionTLS13 {
			t.Fatalf("request %d: TLS state %+v", i, st)
		}
	}
	if seen[0] != seen[1] || seen[1] == seen[2] {
		t.Errorf("TLS states %p %p %p: want the first two (one connection) shared, the third its own", seen[0], seen[1], seen[2])
	}
}
