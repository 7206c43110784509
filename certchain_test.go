package kestrel

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCertificateChainWithOpenSSL: a PEM certificate file with the leaf
// and its intermediate (a "fullchain.pem", Kestrel's
// ServerCertificateChain) sends both, so that a client trusting only the
// root verifies the server (openssl s_client -verify_return_error); with
// the leaf alone in the file, the same client refuses it.
func TestCertificateChainWithOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	pki := newTestPKI(t) // the root
	pemOf := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber:          big.NewInt(100),
		Subject:               pkix.Name{CommonName: "kestrel test intermediate"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, pki.caCert, &interKey.PublicKey, pki.caKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(interDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(101),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, inter, &leafKey.PublicKey, interKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "leaf.key")
	fullchain, leafOnly := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "leaf.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	os.WriteFile(fullchain, append(pemOf(leafDER), pemOf(interDER)...), 0o644)
	os.WriteFile(leafOnly, pemOf(leafDER), 0o644)

	for _, tc := range []struct {
		file string
		ok   bool
	}{{fullchain, true}, {leafOnly, false}} {
		addr := startHTTPS(t, &HTTPS{CertificateFile: tc.file, KeyFile: keyPath}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, openssl, "s_client", "-ign_eof", "-connect", addr, "-servername", "localhost",
			"-CAfile", filepath.Join(pki.dir, "ca.pem"), "-verify_return_error", "-showcerts")
		cmd.Stdin = strings.NewReader("GET /chain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		out, err := cmd.CombinedOutput()
		cancel()
		verified := err == nil && strings.Contains(string(out), "Verify return code: 0 (ok)") && strings.Contains(string(out), "/chain HTTP/1.1 tls=")
		if verified != tc.ok {
			t.Errorf("%s: verified %v, want %v (%v)\n%s", filepath.Base(tc.file), verified, tc.ok, err, lastLines(string(out), 8))
		}
		if !tc.ok && !strings.Contains(string(out), "unable to get local issuer certificate") {
			t.Errorf("%s: openssl did not fail for the missing intermediate:\n%s", filepath.Base(tc.file), lastLines(string(out), 8))
		}
		if tc.ok && strings.Count(string(out), "-----BEGIN CERTIFICATE-----") != 2 {
			t.Errorf("%s: the server sent %d certificates, want the leaf and the intermediate", filepath.Base(tc.file), strings.Count(string(out), "-----BEGIN CERTIFICATE-----"))
		}
	}
}
