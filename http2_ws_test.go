package kestrel_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/websocket"
)

// TestWebSocketRefusedOnHTTP2: a WebSocket handshake that arrives over
// HTTP/2 (which has no Upgrade; RFC 8441's extended CONNECT is not
// offered) gets a clear error status at once, without connection-specific
// headers, and the same endpoint still upgrades over HTTP/1.1.
func TestWebSocketRefusedOnHTTP2(t *testing.T) {
	t.Parallel()
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := &kestrel.Server{Handler: websocket.Echo(nil)}
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", HTTPS: &kestrel.HTTPS{Certificate: cert}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	base := s.Addresses()[0]
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	req, _ := http.NewRequest("GET", base+"/ws", nil)
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "WebSocket") {
		t.Errorf("handshake over %s: %d %q, want HTTP/2 426 naming WebSocket", resp.Proto, resp.StatusCode, body)
	}
	for _, h := range []string{"Connection", "Upgrade"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("connection-specific header %s: %q over HTTP/2", h, v)
		}
	}
}
