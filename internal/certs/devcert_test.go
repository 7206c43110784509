package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCreateDevCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config", "dev-certs")
	now := time.Now().Truncate(time.Second)
	certPath, keyPath, err := CreateDevCert(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(certPath) != dir || filepath.Dir(keyPath) != dir {
		t.Errorf("files %s, %s not in %s", certPath, keyPath, dir)
	}
	if runtime.GOOS != "windows" {
		for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, keyPath: 0o600, certPath: 0o644} {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != want {
				t.Errorf("%s: mode %o, want %o", path, got, want)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d files, want 2 (no temporary files left)", len(entries))
	}

	cert, err := LoadPEM(certPath, keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if leaf.Subject.CommonName != "localhost" || !IsDevCert(leaf) {
		t.Errorf("subject %v", leaf.Subject)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "localhost" {
		t.Errorf("DNS names %q", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if strings.Join(ips, " ") != "127.0.0.1 ::1" {
		t.Errorf("IP addresses %q", ips)
	}
	if !leaf.BasicConstraintsValid || leaf.IsCA {
		t.Error("want basicConstraints CA:false")
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU %v", leaf.ExtKeyUsage)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v", leaf.KeyUsage)
	}
	if !leaf.NotBefore.Equal(now) || !leaf.NotAfter.Equal(now.Add(365*24*time.Hour)) {
		t.Errorf("validity %v - %v", leaf.NotBefore, leaf.NotAfter)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("signature %v", leaf.SignatureAlgorithm)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if IsDevCert(leafCert(t, "localhost", ecKey).cert) || IsDevCert(nil) {
		t.Error("IsDevCert accepts other certificates")
	}

	// Trusted as its own anchor, it verifies for every name it is made for.
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("Verify(%s): %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"}); err == nil {
		t.Error("verified for example.com")
	}
	// And OpenSSL (hence curl and the ca-certificates bundle) accepts the
	// self-signed non-CA certificate as a trust anchor.
	openssl(t, "verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "localhost", "-CAfile", certPath, certPath)
	openssl(t, "verify", "-x509_strict", "-verify_ip", "127.0.0.1", "-CAfile", certPath, certPath)

	// Creating again replaces the pair.
	certPath2, _, err := CreateDevCert(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadPEM(certPath2, keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.Leaf.Equal(leaf) {
		t.Error("CreateDevCert did not make a new certificate")
	}
}

func TestDevCertHandshake(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, err := CreateDevCert(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := LoadPEM(certPath, keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Certificates = []tls.Certificate{*cert}
	srv := startServer(t, cfg)
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	_, port, _ := net.SplitHostPort(srv.addr)
	for _, tc := range []struct{ addr, serverName string }{
		{srv.addr, "localhost"},
		{srv.addr, ""}, // by IP: verified against the 127.0.0.1 SAN
	} {
		c, err := dial(t, srv, &tls.Config{RootCAs: roots, ServerName: tc.serverName})
		if err != nil {
			t.Errorf("verified handshake to %q (port %s): %v", tc.serverName, port, err)
			continue
		}
		if c.ConnectionState().NegotiatedProtocol != "" && c.ConnectionState().NegotiatedProtocol != "http/1.1" {
			t.Errorf("ALPN %q", c.ConnectionState().NegotiatedProtocol)
		}
	}
	// A client that does not trust it refuses it.
	if _, err := dial(t, srv, &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()}); err == nil {
		t.Error("untrusted development certificate accepted")
	}
}

// setConfigHome points os.UserConfigDir at a temporary directory.
func setConfigHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	t.Setenv("AppData", home)
	base, err := os.UserConfigDir()
	if err != nil {
		t.Fatal(err)
	}
	return base
}

func TestDevCertLifecycle(t *testing.T) {
	base := setConfigHome(t)
	certPath, keyPath, err := DevCertPaths()
	if err != nil {
		t.Fatal(err)
	}
	wantDir := filepath.Join(base, "kestrel-go", "dev-certs")
	if filepath.Dir(certPath) != wantDir || filepath.Dir(keyPath) != wantDir || certPath == keyPath {
		t.Fatalf("DevCertPaths = %s, %s; want files in %s", certPath, keyPath, wantDir)
	}

	if _, err := LoadDevCert(); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no development certificate") || strings.Contains(err.Error(), "EnsureDevCert") {
		t.Fatalf("LoadDevCert with none = %v, want fs.ErrNotExist and a hint", err)
	}

	now := time.Now()
	c1, k1, created, err := EnsureDevCert(now)
	if err != nil || !created || c1 != certPath || k1 != keyPath {
		t.Fatalf("EnsureDevCert = %s, %s, %v, %v", c1, k1, created, err)
	}
	first, err := LoadDevCert()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, created, err := EnsureDevCert(now.Add(time.Hour)); created || err != nil {
		t.Fatalf("EnsureDevCert with a valid one = %v, %v; want it kept", created, err)
	}

	// Expired: LoadDevCert refuses it, EnsureDevCert replaces it.
	later := now.Add(DevCertValidity + time.Hour)
	if _, err := loadDevCertAt(certPath, keyPath, later); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("loading an expired development certificate = %v", err)
	}
	if _, _, created, err := ensureDevCertIn(wantDir, later); !created || err != nil {
		t.Fatalf("EnsureDevCert with an expired one = %v, %v", created, err)
	}
	// About to expire: replaced too.
	if _, _, created, err := ensureDevCertIn(wantDir, later.Add(DevCertValidity-time.Hour)); !created || err != nil {
		t.Fatalf("EnsureDevCert with one expiring within a day = %v, %v", created, err)
	}
	// Damaged: replaced.
	writeFile(t, keyPath, []byte("damaged"))
	if _, _, created, err := EnsureDevCert(now); !created || err != nil {
		t.Fatalf("EnsureDevCert with a damaged one = %v, %v", created, err)
	}
	second, err := LoadDevCert()
	if err != nil {
		t.Fatal(err)
	}
	if second.Leaf.Equal(first.Leaf) {
		t.Error("development certificate was not replaced")
	}
}

func TestTrustInstructions(t *testing.T) {
	for _, tc := range []struct {
		goos, path string
		want       []string
	}{
		{"linux", "/home/u/.config/kestrel-go/dev-certs/kestrel-go-dev-cert.pem", []string{
			"sudo cp /home/u/.config/kestrel-go/dev-certs/kestrel-go-dev-cert.pem /usr/local/share/ca-certificates/kestrel-go-dev.crt",
			"update-ca-certificates", "trust anchor --store", "certutil -d sql:$HOME/.pki/nssdb -A -t \"P,,\"",
			"--cacert /home/u/.config/kestrel-go/dev-certs/kestrel-go-dev-cert.pem",
		}},
		{"linux", "/home/u/my certs/it's.pem", []string{`'/home/u/my certs/it'\''s.pem'`}},
		{"darwin", "/Users/u/Library/Application Support/kestrel-go/dev-certs/c.pem", []string{
			"security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db '/Users/u/Library/Application Support/kestrel-go/dev-certs/c.pem'",
			"curl --cacert",
		}},
		{"windows", `C:\Users\u\AppData\Roaming\kestrel-go\dev-certs\c.pem`, []string{
			`certutil -addstore -user Root C:\Users\u\AppData\Roaming\kestrel-go\dev-certs\c.pem`,
			"Import-Certificate", "security.enterprise_roots.enabled", "curl --cacert",
		}},
		{"windows", `C:\Users\Jane Doe\c.pem`, []string{`certutil -addstore -user Root "C:\Users\Jane Doe\c.pem"`}},
	} {
		got := trustInstructions(tc.goos, tc.path)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s instructions lack %q:\n%s", tc.goos, w, got)
			}
		}
	}
	if !strings.Contains(TrustInstructions("/x/c.pem"), "/x/c.pem") {
		t.Error("TrustInstructions ignores the path")
	}
}
