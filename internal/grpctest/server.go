package grpctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
)

// Endpoints are the addresses of a server Start started.
type Endpoints struct {
	// Plain is the cleartext endpoint's host:port: HTTP/1.1 and h2c.
	Plain string
	// Secure is the HTTPS endpoint's host:port: HTTP/1.1 and h2 over TCP
	// (by ALPN) and HTTP/3 over UDP on the same port.
	Secure string
	// Roots trusts the HTTPS endpoint's certificate, issued for
	// "localhost" and 127.0.0.1.
	Roots *x509.CertPool

	cert *x509.Certificate
}

// Certificate is the HTTPS endpoint's certificate.
func (e *Endpoints) Certificate() *x509.Certificate { return e.cert }

// RootsPEM is the HTTPS endpoint's certificate in PEM, for tools that
// read the certificates they trust from a file.
func (e *Endpoints) RootsPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.cert.Raw})
}

// ClientTLS returns a client configuration that trusts the HTTPS
// endpoint, with the ALPN protocols protos.
func (e *Endpoints) ClientTLS(protos ...string) *tls.Config {
	return &tls.Config{RootCAs: e.Roots, ServerName: "localhost", NextProtos: protos}
}

// Start starts s, whose handlers the caller set, on a cleartext endpoint
// and an HTTPS one serving HTTP/1.1, HTTP/2 and HTTP/3, both on 127.0.0.1
// port 0, and closes it when the test ends. A nil Logger is replaced by
// one that drops everything.
func Start(t testing.TB, s *kestrel.Server) *Endpoints {
	t.Helper()
	cert, roots, err := selfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP1AndHTTP2AndHTTP3, HTTPS: &kestrel.HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &Endpoints{Roots: roots, cert: cert.Leaf}
	for _, a := range s.Addresses() {
		if rest, ok := strings.CutPrefix(a, "https://"); ok {
			e.Secure = rest
		} else {
			e.Plain = strings.TrimPrefix(a, "http://")
		}
	}
	return e
}

// selfSignedCert makes a certificate for localhost, 127.0.0.1 and ::1 and
// a pool that trusts it.
func selfSignedCert() (*tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
