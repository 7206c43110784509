package kestrel

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// tlsPanicCases are TLS callbacks that panic for the host name
// panic.test and serve the others: the endpoint's
// ServerCertificateSelector, and the callbacks of a configuration a
// TLSHandshakeCallback returns.
func tlsPanicCases(t *testing.T) []struct {
	name  string
	https func() *HTTPS
} {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	panics := func(name string) bool { return name == "panic.test" }
	callback := func(c *tls.Config) func(*ClientHello) (*tls.Config, error) {
		return func(h *ClientHello) (*tls.Config, error) {
			if panics(h.ServerName) {
				return c, nil
			}
			return nil, nil
		}
	}
	return []struct {
		name  string
		https func() *HTTPS
	}{
		{"ServerCertificateSelector", func() *HTTPS {
			return &HTTPS{ServerCertificateSelector: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if panics(h.ServerName) {
					panic("callback bug")
				}
				return cert, nil
			}}
		}},
		{"GetCertificate", func() *HTTPS {
			return &HTTPS{Certificate: cert, TLSHandshakeCallback: callback(&tls.Config{
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { panic("callback bug") },
			})}
		}},
		{"VerifyConnection", func() *HTTPS {
			return &HTTPS{Certificate: cert, TLSHandshakeCallback: callback(&tls.Config{
				Certificates:     []tls.Certificate{*cert},
				VerifyConnection: func(tls.ConnectionState) error { panic("callback bug") },
			})}
		}},
		{"VerifyPeerCertificate", func() *HTTPS {
			return &HTTPS{Certificate: cert, TLSHandshakeCallback: callback(&tls.Config{
				Certificates:          []tls.Certificate{*cert},
				ClientAuth:            tls.RequestClientCert,
				VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { panic("callback bug") },
			})}
		}},
	}
}

// testTLSCallbackPanics: a TLS callback's panic fails that handshake,
// with the panic in the AuthenticationFailed event, and the server goes
// on serving, as net/http's connection goroutine recovers it.
func testTLSCallbackPanics(t *testing.T, protocols []string) {
	for _, tc := range tlsPanicCases(t) {
		for _, proto := range protocols {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				rec, log := newLogRecorder(slog.LevelDebug)
				s := &Server{Handler: okHandler(), Logger: log}
				if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: tc.https()}); err != nil {
					t.Fatal(err)
				}
				if err := s.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				url := s.Addresses()[0] + "/"
				get := func(serverName string) error {
					cfg := testClientTLS(t)
					cfg.ServerName = serverName
					cfg.InsecureSkipVerify = true
					var rt http.RoundTripper
					switch proto {
					case "h3":
						tr := &http3.Transport{TLSClientConfig: cfg}
						defer tr.Close()
						rt = tr
					default:
						tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: proto == "h2"}
						if proto == "h1" {
							tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
						}
						defer tr.CloseIdleConnections()
						rt = tr
					}
					resp, err := (&http.Client{Transport: rt, Timeout: 5 * time.Second}).Get(url)
					if err == nil {
						resp.Body.Close()
					}
					return err
				}
				if err := get("panic.test"); err == nil {
					t.Fatal("a request whose handshake callback panicked succeeded")
				}
				if err := get("localhost"); err != nil {
					t.Fatalf("after a callback's panic: %v", err)
				}
				waitFor(t, "the AuthenticationFailed event", func() bool { return len(rec.events("AuthenticationFailed")) > 0 })
				e := rec.events("AuthenticationFailed")
				if text := e[0].msg + e[0].attrs["Exception"]; !strings.Contains(text, "panicked: callback bug") {
					t.Errorf("AuthenticationFailed %q, want the panic", text)
				}
			})
		}
	}
}

func TestTLSCallbackPanicsTCP(t *testing.T) {
	t.Parallel()
	testTLSCallbackPanics(t, []string{"h1", "h2"})
}

// TestTLSCallbackPanicsHTTP3: over QUIC, where crypto/tls runs the
// handshake on a goroutine of its own, a callback's panic fails that
// handshake too.
func TestTLSCallbackPanicsHTTP3(t *testing.T) {
	t.Parallel()
	testTLSCallbackPanics(t, []string{"h3"})
}
