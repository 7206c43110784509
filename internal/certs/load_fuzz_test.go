package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// FuzzLoadCertificate drives the PEM and PKCS#12 loading glue over
// arbitrary files and passwords: never a panic (the decoders' panics are
// guarded), and a certificate that loads has its leaf first, the one
// whose public key is the private key's.
func FuzzLoadCertificate(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"}, NotBefore: time.Unix(0, 0), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	ecder, _ := x509.MarshalECPrivateKey(key)
	//lint:ignore SA1019 the legacy encrypted form is one the loader reads.
	legacy, _ := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", ecder, []byte("pw"), x509.PEMCipherAES128)
	pfx, _ := pkcs12.Modern.Encode(key, cert, nil, "pw")
	f.Add(certPEM, keyPEM, "", false)
	f.Add(append(append([]byte(nil), certPEM...), keyPEM...), []byte(nil), "", false)
	f.Add(der, keyPEM, "", false)
	f.Add(certPEM, pem.EncodeToMemory(legacy), "pw", false)
	f.Add(certPEM, pem.EncodeToMemory(legacy), "wrong", false)
	f.Add(certPEM, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), "pw", false)
	f.Add(pfx, []byte(nil), "pw", true)
	f.Add(pfx, []byte(nil), "", true)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte(nil), "", false)
	f.Fuzz(func(t *testing.T, certData, keyData []byte, password string, isPFX bool) {
		var (
			c   *tls.Certificate
			err error
		)
		if isPFX {
			c, err = loadPFXData("cert.pfx", certData, password)
		} else {
			keyPath := "key.pem"
			if keyData == nil {
				keyPath = ""
			}
			c, err = loadPEMData("cert.pem", certData, keyPath, keyData, password)
		}
		if err != nil {
			return
		}
		if len(c.Certificate) == 0 {
			t.Fatal("loaded a certificate without certificates")
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatalf("the leaf does not parse: %v", err)
		}
		pub := c.PrivateKey.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool })
		if !pub.Equal(leaf.PublicKey) {
			t.Fatal("loaded a certificate whose leaf is not the key's")
		}
	})
}
