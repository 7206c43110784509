package kestrel_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kestrel-go/kestrel"
)

// A certificate file whose certificate names its CA's OCSP responder, with
// the CA's certificate in the file, gets the responder's answer stapled to
// the handshakes, fetched in the background and kept fresh; clients need
// not ask the responder. HTTPS.DisableOCSPStapling turns it off.
func ExampleHTTPS_ocspStapling() {
	// A CA and its OCSP responder, standing in for a public CA's.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, _ := ocsp.CreateResponse(ca, ca, ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, caKey)
		w.Write(resp)
	}))
	defer responder.Close()

	// The server's certificate file: its certificate, then the CA's.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		OCSPServer:  []string{responder.URL}}, ca, &key.PublicKey, caKey)
	dir, err := os.MkdirTemp("", "ocsp")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	certFile, keyFile := filepath.Join(dir, "site.crt"), filepath.Join(dir, "site.key")
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(certFile, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	srv := &kestrel.Server{Logger: slog.New(slog.DiscardHandler), Handler: http.NotFoundHandler()}
	err = srv.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", HTTPS: &kestrel.HTTPS{
		CertificateFile: certFile,
		KeyFile:         keyFile,
		// DisableOCSPStapling: true, // to turn it off
	}})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil { // does not wait for the responder
		log.Fatal(err)
	}
	defer srv.Close()

	// The first response is fetched in the background, right after Start.
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	addr := strings.TrimPrefix(srv.Addresses()[0], "https://")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			log.Fatal(err)
		}
		st := c.ConnectionState()
		c.Close()
		if st.OCSPResponse == nil {
			continue
		}
		resp, err := ocsp.ParseResponseForCert(st.OCSPResponse, st.PeerCertificates[0], ca)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("stapled, good:", resp.Status == ocsp.Good)
		break
	}
	// Output:
	// stapled, good: true
}
