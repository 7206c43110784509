package kestrel

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// TestSessionTicketKeysHTTP3: QUIC handshakes resume across servers that
// share the key file too.
func TestSessionTicketKeysHTTP3(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	k1 := writeTicketKey(t, dir, "k1.key", 80)
	k2 := writeTicketKey(t, dir, "k2.key", 80)
	start := func(key string) string {
		cert, certKey := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
		s := &Server{Handler: okHandler(), Logger: discardLogger()}
		if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3,
			HTTPS: &HTTPS{CertificateFile: cert, KeyFile: certKey, SessionTicketKeyFiles: []string{key}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return strings.TrimPrefix(s.Addresses()[0], "https://")
	}
	a, b, other := start(k1), start(k1), start(k2)
	get := func(cfg *tls.Config, addr string) bool {
		tr := &http3.Transport{TLSClientConfig: cfg}
		defer tr.Close()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("HTTP/3 GET %s: %v", addr, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" || resp.TLS == nil {
			t.Fatalf("HTTP/3 GET %s: %q, TLS %v", addr, body, resp.TLS)
		}
		return resp.TLS.DidResume
	}
	// The ticket comes after the handshake; a client that closed before
	// reading it has none to offer, so try until one resumes.
	resumes := func(from, to string) bool {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			cfg := &tls.Config{RootCAs: pki.pool, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			get(cfg, from)
			if get(cfg, to) {
				return true
			}
		}
		return false
	}
	if !resumes(a, b) {
		t.Error("HTTP/3: a session from A does not resume on B, which has the same key file")
	}
	// A does issue tickets that B takes, so the next one must fail
	// because of the key.
	cfg := &tls.Config{RootCAs: pki.pool, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for range 3 {
		get(cfg, a)
		if get(cfg, other) {
			t.Fatal("HTTP/3: a session from A resumed on a server with another key file")
		}
	}
}
