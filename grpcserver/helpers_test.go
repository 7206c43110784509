package grpcserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// testServer is a kestrel.Server serving h on a cleartext endpoint (h2c
// and HTTP/1.1) and an HTTPS one, with a certificate its roots trust.
type testServer struct {
	plain, secure string
	roots         *x509.CertPool
}

func startKestrel(t *testing.T, h http.Handler) *testServer {
	t.Helper()
	cert, key, roots := testCert(t)
	return startKestrelCert(t, h, cert, key, roots)
}

// startKestrelCert is startKestrel with the certificate files given, and
// the pool that trusts them.
func startKestrelCert(t *testing.T, h http.Handler, cert, key string, roots *x509.CertPool) *testServer {
	t.Helper()
	s := &kestrel.Server{Handler: h, Logger: quietLogger}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", HTTPS: &kestrel.HTTPS{CertificateFile: cert, KeyFile: key}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts := &testServer{roots: roots}
	for _, a := range s.Addresses() {
		if rest, ok := strings.CutPrefix(a, "https://"); ok {
			ts.secure = rest
		} else {
			ts.plain = strings.TrimPrefix(a, "http://")
		}
	}
	return ts
}

func (ts *testServer) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: ts.roots, ServerName: "localhost"}
}

// testCert writes a certificate for localhost and 127.0.0.1, signed by a
// new CA, and returns its files and a pool trusting the CA.
func testCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "grpcserver test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return certFile, keyFile, roots
}

// checkGoroutines fails the test when, after a grace period, more
// goroutines run than before (plus slack for the runtime and the
// clients' idle connections, closed by then).
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines, %d before:\n%s", n, before, buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startKestrelB serves h on a cleartext endpoint for a benchmark.
func startKestrelB(b *testing.B, h http.Handler) string {
	b.Helper()
	s := &kestrel.Server{Handler: h, Logger: quietLogger}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"}); err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "http://")
}
