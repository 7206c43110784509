package kestrel_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel"
)

// Two instances of a fleet share a session ticket key file (made like
// nginx's, with `openssl rand 80 > ticket.key`), so a client moved from one
// to the other resumes its TLS session instead of a full handshake.
func ExampleHTTPS_sessionTicketKeyFiles() {
	dir, err := os.MkdirTemp("", "tickets")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "ticket.key")
	key := make([]byte, 80)
	rand.Read(key)
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		log.Fatal(err)
	}
	cert, roots := ticketExampleCert()

	instance := func() (addr string, stop func()) {
		srv := &kestrel.Server{Logger: slog.New(slog.DiscardHandler), Handler: http.NotFoundHandler()}
		err := srv.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", HTTPS: &kestrel.HTTPS{
			Certificate:           cert,
			SessionTicketKeyFiles: []string{keyFile}, // the first encrypts; more files decrypt, for rotation
		}})
		if err != nil {
			log.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			log.Fatal(err)
		}
		return strings.TrimPrefix(srv.Addresses()[0], "https://"), func() { srv.Close() }
	}
	a, stopA := instance()
	defer stopA()
	b, stopB := instance()
	defer stopB()

	client := &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	for _, addr := range []string{a, b} {
		c, err := tls.Dial("tcp", addr, client)
		if err != nil {
			log.Fatal(err)
		}
		// A request, so that the client reads the TLS 1.3 session ticket.
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 4096))
		fmt.Println("resumed:", c.ConnectionState().DidResume)
		c.Close()
	}
	// Output:
	// resumed: false
	// resumed: true
}

// ticketExampleCert returns a certificate for localhost and a pool that trusts it.
func ticketExampleCert() (*tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
