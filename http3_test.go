package kestrel

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func TestMain(m *testing.M) {
	// quic-go warns once when the kernel caps the UDP buffers below what it
	// asks for, as on most test machines; the warning is about throughput
	// on real networks, not loopback.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Exit(m.Run())
}

// h3Server starts a server with one HTTPS endpoint on 127.0.0.1:0 serving
// HTTP/1.1, HTTP/2 and HTTP/3, and returns it with its host:port.
func h3Server(t testing.TB, s *Server, protocols Protocols) (*Server, string) {
	t.Helper()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	if s.Logger == nil {
		s.Logger = discardLogger()
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: protocols, HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, strings.TrimPrefix(s.Addresses()[0], "https://")
}

// h3Client is an HTTP/3 client (quic-go's) that trusts testCert.
func h3Client(t testing.TB) *http.Client {
	t.Helper()
	tr := &http3.Transport{TLSClientConfig: testClientTLS(t)}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func testClientTLS(t testing.TB) *tls.Config {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	return &tls.Config{RootCAs: pool}
}

var testCertOnce = sync.OnceValues(func() (*tls.Certificate, error) { return selfSignedCert() })

func testCert() (*tls.Certificate, error) { return testCertOnce() }

func TestHTTP3Get(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		fmt.Fprintf(w, "%s %s %s tls=%v len=%d body=%v", r.Method, r.URL.RequestURI(), r.Host, r.TLS != nil, r.ContentLength, r.Body == http.NoBody)
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)
	resp, err := c.Get("https://" + addr + "/a/b?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("%s %v %s", resp.Proto, resp.Header, body)
	if resp.ProtoMajor != 3 || resp.Header.Get("X-Proto") != "HTTP/3.0" {
		t.Fatalf("proto %s, handler saw %s", resp.Proto, resp.Header.Get("X-Proto"))
	}
}

var _ = bytes.Equal
var _ = context.Background
var _ = sha256.Sum256
var _ = errors.New
var _ quic.StreamID

// selfSignedCert makes a certificate for localhost, 127.0.0.1 and ::1.
func selfSignedCert() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
