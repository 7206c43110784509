package kestrel

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestCurlProxyMiddlewareCallback: curl through every connection stage
// at once: a PROXY v1 header (--haproxy-protocol), a wrapping connection
// middleware, a TLSHandshakeCallback choosing TLS 1.3 for one SNI name,
// then HTTP/1.1 or HTTP/2 by ALPN. The header is required, so every
// request shows it was read; the address in it is curl's own (curl 7.88
// cannot set another), which the callback and the handler both see.
func TestCurlProxyMiddlewareCallback(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "modern", false, "modern.test", "other.test")
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	hellos := make(chan string, 8)
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Proto, tls.VersionName(r.TLS.Version), r.RemoteAddr)
	})}
	err = s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{Required: true},
		ConnectionMiddleware: []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) { return plainWrap{c}, nil }},
		HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key, TLSHandshakeCallback: func(h *ClientHello) (*tls.Config, error) {
			hellos <- h.ServerName + " " + h.Conn.RemoteAddr().String()
			if h.ServerName == "modern.test" {
				return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}, nil
			}
			return nil, nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	port := portOf(strings.TrimPrefix(s.Addresses()[0], "https://"))
	ca := filepath.Join(pki.dir, "ca.pem")
	for _, tc := range []struct {
		host, proto, want string
	}{
		{"modern.test", "--http2", "HTTP/2.0 TLS 1.3 127.0.0.1:"},
		{"modern.test", "--http1.1", "HTTP/1.1 TLS 1.3 127.0.0.1:"},
		{"other.test", "--http1.1", "HTTP/1.1 TLS 1.2 127.0.0.1:"},
	} {
		args := []string{"--haproxy-protocol", "--cacert", ca, tc.proto, "--resolve", tc.host + ":" + port + ":127.0.0.1",
			"https://" + tc.host + ":" + port + "/"}
		if tc.host == "other.test" {
			args = append([]string{"--tls-max", "1.2"}, args...)
		}
		out, _ := curl(t, args...)
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("curl %s %s: %q, want %q...", tc.host, tc.proto, out, tc.want)
		}
		if h := <-hellos; !strings.HasPrefix(h, tc.host+" 127.0.0.1:") || !strings.HasSuffix(out, h[strings.LastIndexByte(h, ':'):]) {
			t.Errorf("curl %s: the callback saw %q, the handler %q; want curl's address from the PROXY header in both", tc.host, h, out)
		}
	}
}
