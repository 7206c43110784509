package grpcserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/grpclog"

	"github.com/kestrel-go/kestrel"
)

// The interop cases report a failure with grpclog's Fatal, which would end
// the test binary (os.Exit). This logger records the message and ends
// only the goroutine running the case, which runCase waits for.
func init() { grpclog.SetLoggerV2(&interopLog) }

var interopLog interopLogger

type interopLogger struct {
	mu    sync.Mutex
	fatal string
}

func (l *interopLogger) fail(args ...any) {
	l.mu.Lock()
	l.fatal = fmt.Sprint(args...)
	l.mu.Unlock()
	runtime.Goexit()
}

func (l *interopLogger) takeFatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fatal
	l.fatal = ""
	return f
}

func (l *interopLogger) Info(...any)                       {}
func (l *interopLogger) Infoln(...any)                     {}
func (l *interopLogger) Infof(string, ...any)              {}
func (l *interopLogger) Warning(...any)                    {}
func (l *interopLogger) Warningln(...any)                  {}
func (l *interopLogger) Warningf(string, ...any)           {}
func (l *interopLogger) Error(...any)                      {}
func (l *interopLogger) Errorln(...any)                    {}
func (l *interopLogger) Errorf(string, ...any)             {}
func (l *interopLogger) Fatal(args ...any)                 { l.fail(args...) }
func (l *interopLogger) Fatalln(args ...any)               { l.fail(args...) }
func (l *interopLogger) Fatalf(format string, args ...any) { l.fail(fmt.Sprintf(format, args...)) }
func (l *interopLogger) V(int) bool                        { return false }

// caseMu runs one interop case at a time: the logger is global.
var caseMu sync.Mutex

// runCase runs one of grpc-go's interop client cases with a 20-second
// deadline and fails the test with the message the case reported.
func runCase(t *testing.T, name string, f func(ctx context.Context)) {
	t.Helper()
	caseMu.Lock()
	defer caseMu.Unlock()
	interopLog.takeFatal()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ctx)
	}()
	<-done
	if msg := interopLog.takeFatal(); msg != "" {
		t.Errorf("%s failed: %s", name, msg)
	} else if ctx.Err() != nil {
		t.Errorf("%s did not finish in 20 s", name)
	}
}

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
