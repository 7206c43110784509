package kestrel

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTLSFromContext: the negotiated TLS state is reachable from a
// request's context over HTTP/1.1, h2 and HTTP/3, and from the
// connection's context that ConnContext derived (nil there until the
// handshake is done); a cleartext connection has none.
func TestTLSFromContext(t *testing.T) {
	t.Parallel()
	conns := make(chan context.Context, 16)
	s := &Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if TLSFromContext(ctx) != nil && c.LocalAddr().Network() == "tcp" {
				panic("TLS state before the handshake")
			}
			conns <- ctx
			return ctx
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cs := TLSFromContext(r.Context())
			if cs == nil {
				io.WriteString(w, "none")
				return
			}
			fmt.Fprintf(w, "%x %s %s %v", cs.Version, cs.NegotiatedProtocol, cs.ServerName, cs.HandshakeComplete &&
				r.TLS != nil && cs.Version == r.TLS.Version && cs.CipherSuite == r.TLS.CipherSuite)
		}),
	}
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	s.Logger = discardLogger()
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil { // a cleartext endpoint beside it
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr, plain := strings.TrimPrefix(s.Addresses()[0], "https://"), s.Addresses()[1]
	_, port, _ := net.SplitHostPort(addr)
	url := "https://localhost:" + port + "/"

	h1TLS := testClientTLS(t)
	h1TLS.NextProtos = []string{"http/1.1"}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: h1TLS, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}, Timeout: 10 * time.Second}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: testClientTLS(t), ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
		want   string
	}{
		{"HTTP/1.1", h1, url, "304 http/1.1 localhost true"},
		{"h2", h2, url, "304 h2 localhost true"},
		{"HTTP/3", h3Client(t), url, "304 h3 localhost true"},
		{"cleartext", newClient(t), plain + "/", "none"},
	} {
		resp, err := tc.client.Get(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, body, tc.want)
		}
		// The connection's context, once its handshake is done.
		ctx := <-conns
		cs := TLSFromContext(ctx)
		if tc.name == "cleartext" {
			if cs != nil {
				t.Errorf("%s: the connection's context has TLS state", tc.name)
			}
		} else if cs == nil || cs.ServerName != "localhost" || !cs.HandshakeComplete {
			t.Errorf("%s: the connection's context gives %+v", tc.name, cs)
		}
	}
}
