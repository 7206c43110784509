package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// keyKind chooses the key type of a test certificate.
type keyKind int

const (
	ecKey keyKind = iota
	rsaKey
	edKey
)

var (
	rsaOnce sync.Once
	rsaKeys []*rsa.PrivateKey
)

// newKey returns a fresh key; RSA keys come from a small pool generated
// once, since RSA generation is slow under the race detector.
func newKey(t *testing.T, kind keyKind) crypto.Signer {
	t.Helper()
	switch kind {
	case rsaKey:
		rsaOnce.Do(func() {
			for range 3 {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				rsaKeys = append(rsaKeys, k)
			}
		})
		rsaMu.Lock()
		defer rsaMu.Unlock()
		k := rsaKeys[rsaNext%len(rsaKeys)]
		rsaNext++
		return k
	case edKey:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
}

var (
	rsaMu   sync.Mutex
	rsaNext int
)

// issued is a test certificate with its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type certOpts struct {
	cn        string
	dns       []string
	isCA      bool
	kind      keyKind
	notBefore time.Time
	notAfter  time.Time
	eku       []x509.ExtKeyUsage
	parent    *issued // nil: self-signed
}

var serialCounter struct {
	sync.Mutex
	n int64
}

func newCert(t *testing.T, o certOpts) *issued {
	t.Helper()
	key := newKey(t, o.kind)
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(24 * time.Hour)
	}
	serialCounter.Lock()
	serialCounter.n++
	serial := big.NewInt(serialCounter.n)
	serialCounter.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.cn},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		DNSNames:              o.dns,
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
		ExtKeyUsage:           o.eku,
	}
	if o.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if o.eku == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}
	parentCert, parentKey := tmpl, key
	if o.parent != nil {
		parentCert, parentKey = o.parent.cert, o.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: c, key: key}
}

// leafCert makes a self-signed server certificate for cn (also its DNS name).
func leafCert(t *testing.T, cn string, kind keyKind) *issued {
	return newCert(t, certOpts{cn: cn, dns: []string{cn}, kind: kind})
}

// chain makes root → intermediate → leaf and returns leaf and intermediate.
func chain(t *testing.T, cn string) (leaf, inter, root *issued) {
	root = newCert(t, certOpts{cn: "Test Root", isCA: true})
	inter = newCert(t, certOpts{cn: "Test Intermediate", isCA: true, parent: root})
	leaf = newCert(t, certOpts{cn: cn, dns: []string{cn}, parent: inter})
	return leaf, inter, root
}

func certPEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func pkcs8PEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t *testing.T, path string, data ...[]byte) string {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(data, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePair writes c's certificate and key as PEM files in dir.
func writePair(t *testing.T, dir, name string, c *issued, extra ...*x509.Certificate) (certPath, keyPath string) {
	t.Helper()
	certPath = writeFile(t, filepath.Join(dir, name+".crt"), certPEM(append([]*x509.Certificate{c.cert}, extra...)...))
	keyPath = writeFile(t, filepath.Join(dir, name+".key"), pkcs8PEM(t, c.key))
	return certPath, keyPath
}

// openssl runs the openssl command, which the PFX and encrypted-key tests
// need (CI installs it).
func openssl(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("these tests need the openssl command (apt-get install openssl): ", err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// makePFX exports c (with the extra chain certificates) as a .pfx with
// openssl pkcs12 -export, adding extraArgs (such as -legacy).
func makePFX(t *testing.T, dir, name string, c *issued, password string, chainCerts []*x509.Certificate, extraArgs ...string) string {
	t.Helper()
	certPath, keyPath := writePair(t, dir, name+"-src", c)
	out := filepath.Join(dir, name+".pfx")
	args := []string{"pkcs12", "-export", "-in", certPath, "-inkey", keyPath, "-out", out, "-passout", "pass:" + password}
	if len(chainCerts) > 0 {
		args = append(args, "-certfile", writeFile(t, filepath.Join(dir, name+"-chain.pem"), certPEM(chainCerts...)))
	}
	openssl(t, append(args, extraArgs...)...)
	return out
}

// sameKey reports whether cert holds key.
func sameKey(cert *tls.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return false
	}
	return pub.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public())
}

// logBuffer is a slog logger writing to a buffer that tests read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}
