//lint:file-ignore SA1019 x/net's HTTP/2 transport is the Go client that sends extended CONNECT (RFC 8441); net/http's refuses the :protocol header

package demo_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/demo"
	"github.com/kestrel-go/kestrel/internal/wstest"
)

// TestWebSocketEchoOverEveryProtocol: the demo's /ws echoes over HTTP/1.1
// (Upgrade), HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220) on one HTTPS
// endpoint.
func TestWebSocketEchoOverEveryProtocol(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)

	s := &kestrel.Server{Logger: slog.New(slog.DiscardHandler)}
	s.Handler = demo.New(s.Addresses)
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP1AndHTTP2AndHTTP3,
		HTTPS: &kestrel.HTTPS{Certificate: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}, EnableWebSocketsOverHTTP2: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := strings.Replace(s.Addresses()[0], "https://", "wss://", 1) + "/ws"

	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	h2 := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	h3 := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer h1.CloseIdleConnections()
	defer h2.CloseIdleConnections()
	defer h3.Close()
	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  int
	}{
		{"HTTP/1.1", &http.Client{Transport: h1}, 1},
		{"HTTP/2", (&wstest.ExtendedConnect{RT: h2}).Client(), 2},
		{"HTTP/3", (&wstest.ExtendedConnect{RT: h3, H3: true}).Client(), 3},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, resp, err := cws.Dial(ctx, url, &cws.DialOptions{HTTPClient: tc.client})
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.ProtoMajor != tc.proto {
			t.Errorf("%s: the handshake went over %s", tc.name, resp.Proto)
		}
		msg := "hello over " + tc.name
		if err := c.Write(ctx, cws.MessageText, []byte(msg)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if typ, got, err := c.Read(ctx); err != nil || typ != cws.MessageText || string(got) != msg {
			t.Errorf("%s: echo %v %q %v", tc.name, typ, got, err)
		}
		if err := c.Close(cws.StatusNormalClosure, ""); err != nil {
			t.Errorf("%s: close handshake: %v", tc.name, err)
		}
		cancel()
	}
}
