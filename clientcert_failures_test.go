package kestrel

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// issueClientCert returns a client certificate that pki issued with the
// given validity and extended key usage.
func (p *testPKI) issueClientCert(t *testing.T, name string, notBefore, notAfter time.Time, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientCertificateFailures: a client certificate that is refused
// (expired, for servers only, refused by ClientCertificateValidation, or
// making it panic) fails the handshake with the alert that says why, over HTTP/1.1,
// HTTP/2 and HTTP/3; the refusal is logged as AuthenticationFailed with
// its reason (HTTP/3's too: quic-go's handshakes happen out of the
// server's sight, and were not logged); a good client is served after.
func TestClientCertificateFailures(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	now := time.Now()
	good := pki.issueClientCert(t, "good", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	expired := pki.issueClientCert(t, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour), x509.ExtKeyUsageClientAuth)
	serverOnly := pki.issueClientCert(t, "server-only", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	banned := pki.issueClientCert(t, "banned", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	panics := pki.issueClientCert(t, "panics", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	verifyByCA := func(h *HTTPS) { h.ClientCAs = pki.pool }
	validation := func(h *HTTPS) {
		h.ClientCAs = pki.pool
		h.ClientCertificateValidation = func(c *x509.Certificate, _ [][]*x509.Certificate, err error) error {
			switch c.Subject.CommonName {
			case "banned":
				return errors.New("client banned by policy")
			case "panics":
				panic("validation bug")
			}
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		opts   func(*HTTPS)
		cert   tls.Certificate
		alert  string // what the client reads
		reason string // in the AuthenticationFailed event
	}{
		{"expired", verifyByCA, expired, "expired certificate", "expired"},
		{"serverAuth only", verifyByCA, serverOnly, "bad certificate", "incompatible key usage"},
		{"validation refuses", validation, banned, "bad certificate", "client banned by policy"},
		{"validation, expired", validation, expired, "bad certificate", "expired"},
		// A panic in the callback fails the handshake, as an error does
		// (net/http recovers it too), instead of ending the process.
		{"validation panics", validation, panics, "bad certificate", "ClientCertificateValidation panicked: validation bug"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &lockedBuffer{}
			h := &HTTPS{CertificateFile: cert, KeyFile: key, ClientCertificateMode: RequireCertificate}
			tc.opts(h)
			s := &Server{Handler: peerHandler(), Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: h}); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			url := s.Addresses()[0] + "/"
			for _, proto := range []string{"HTTP/1.1", "HTTP/2.0", "HTTP/3.0"} {
				get := func(c tls.Certificate) (string, error) {
					cfg := &tls.Config{RootCAs: pki.pool, ServerName: "localhost", Certificates: []tls.Certificate{c}}
					var rt http.RoundTripper
					switch proto {
					case "HTTP/1.1":
						rt = &http.Transport{TLSClientConfig: cfg, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
					case "HTTP/2.0":
						rt = &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
					default:
						tr := &http3.Transport{TLSClientConfig: cfg}
						defer tr.Close()
						rt = tr
					}
					resp, err := (&http.Client{Transport: rt, Timeout: 5 * time.Second}).Get(url)
					if err != nil {
						return "", err
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return resp.Proto + " " + string(b), nil
				}
				// Over TCP, a TLS 1.3 client ends its handshake before the
				// server's alert comes: read it.
				refused := func() error {
					if proto == "HTTP/3.0" {
						_, err := get(tc.cert)
						return err
					}
					alpn := "http/1.1"
					if proto == "HTTP/2.0" {
						alpn = "h2"
					}
					c, err := tls.Dial("tcp", strings.TrimPrefix(s.Addresses()[0], "https://"), &tls.Config{RootCAs: pki.pool, ServerName: "localhost",
						Certificates: []tls.Certificate{tc.cert}, NextProtos: []string{alpn}})
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, err = c.Read(make([]byte, 1))
					return err
				}
				before := strings.Count(log.String(), "EventName=AuthenticationFailed")
				if err := refused(); err == nil || !strings.Contains(err.Error(), "tls: "+tc.alert) {
					t.Errorf("%s: %v; want the handshake refused with the alert %q", proto, err, tc.alert)
				}
				// The event is logged once the server has closed the connection.
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) && strings.Count(log.String(), "EventName=AuthenticationFailed") == before {
					time.Sleep(5 * time.Millisecond)
				}
				var event string
				for _, line := range strings.Split(log.String(), "\n") {
					if strings.Contains(line, "EventName=AuthenticationFailed") {
						event = line
					}
				}
				if strings.Count(log.String(), "EventName=AuthenticationFailed") == before || !strings.Contains(event, tc.reason) {
					t.Errorf("%s: no AuthenticationFailed event with %q; last: %s", proto, tc.reason, event)

				}
				if body, err := get(good); err != nil || !strings.HasPrefix(body, proto+" sni=localhost peers=1") {
					t.Errorf("%s: a good client after the refusal: %q, %v", proto, body, err)
				}
			}
		})
	}
}

// TestHTTP3HandshakeTimeoutLogged: a QUIC handshake that outlasts
// HandshakeTimeout (here a client that never answers the request for its
// certificate) is logged as AuthenticationTimedOut, as a TCP one is.
func TestHTTP3HandshakeTimeoutLogged(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	log := &lockedBuffer{}
	s := &Server{Handler: okHandler(), Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP3, HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key,
		ClientCertificateMode: RequireCertificate, ClientCAs: pki.pool, HandshakeTimeout: 200 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stuck := make(chan struct{})
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool, ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			<-stuck
			return nil, errors.New("gave up")
		}}}
	defer tr.Close()
	defer close(stuck) // before tr.Close, which waits for the handshake
	go (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(s.Addresses()[0] + "/")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(log.String(), "EventName=AuthenticationTimedOut") {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "EventName=AuthenticationTimedOut") {
		t.Errorf("no AuthenticationTimedOut event for a QUIC handshake past HandshakeTimeout; log:\n%s", log.String())
	}
}
