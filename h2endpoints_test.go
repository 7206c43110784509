package kestrel

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTP2EndpointProtocols checks each Protocols setting against the
// clients it must serve and refuse: over TLS by ALPN, in cleartext by the
// connection preface.
func TestHTTP2EndpointProtocols(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	start := func(ep Endpoint) string {
		s := &Server{Handler: h, Logger: quietLogger}
		ep.Address = "127.0.0.1:0"
		if err := s.ListenEndpoint(ep); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		a := s.Addresses()[0]
		return a[strings.Index(a, "://")+3:]
	}
	https := &HTTPS{CertificateFile: cert, KeyFile: key}
	h2only := start(Endpoint{HTTPS: https, Protocols: HTTP2})
	both := start(Endpoint{HTTPS: https})
	h1only := start(Endpoint{HTTPS: https, Protocols: HTTP1})
	alpn := func(addr string, offer ...string) (string, error) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.pool, ServerName: "localhost", NextProtos: offer})
		if err != nil {
			return "", err
		}
		defer c.Close()
		proto := c.ConnectionState().NegotiatedProtocol
		if proto == "" {
			// The server closes a connection that cannot speak its protocol.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				return "closed", nil
			}
		}
		return proto, nil
	}
	for _, tc := range []struct {
		name, addr string
		offer      []string
		want       string // "closed": refused right after the handshake
	}{
		{"Http2, h2 offered", h2only, []string{"h2", "http/1.1"}, "h2"},
		{"Http2, http/1.1 offered", h2only, []string{"http/1.1"}, "closed"}, // crypto/tls lets http/1.1 fall back to no ALPN
		{"Http2, no ALPN", h2only, nil, "closed"},
		{"Http1AndHttp2, h2 offered", both, []string{"h2", "http/1.1"}, "h2"},
		{"Http1AndHttp2, http/1.1 offered", both, []string{"http/1.1"}, "http/1.1"},
		{"Http1, h2 offered", h1only, []string{"h2", "http/1.1"}, "http/1.1"},
	} {
		got, err := alpn(tc.addr, tc.offer...)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}

	// Cleartext: h2c with prior knowledge, HTTP/1.1, or both on one port.
	h2c := &http.Client{Transport: &http.Transport{Protocols: new(http.Protocols)}, Timeout: 10 * time.Second}
	h2c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	h1 := newClient(t)
	cleartext := map[Protocols]string{HTTP2: start(Endpoint{Protocols: HTTP2}), HTTP1AndHTTP2: start(Endpoint{}), HTTP1: start(Endpoint{Protocols: HTTP1})}
	for p, addr := range cleartext {
		resp, err := h2c.Get("http://" + addr + "/")
		if p == HTTP1 {
			// Told, in HTTP/2's terms, to use HTTP/1.1 (TestHTTP2Preface
			// checks the frames; Go's client reports the GOAWAY or the
			// close, whichever it reads first).
			if err == nil {
				resp.Body.Close()
				t.Errorf("%v: h2c was served", p)
			}
		} else if err != nil || resp.Proto != "HTTP/2.0" {
			t.Errorf("%v: h2c: %v %v", p, err, resp)
		} else {
			resp.Body.Close()
		}
		if p == HTTP2 {
			// An HTTP/1.1 request on an HTTP/2-only port is closed at once.
			c := dial(t, addr)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			start := time.Now()
			bufio.NewReader(c).ReadString(0)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Http2: an HTTP/1.1 request waited %v before the close", d)
			}
			continue
		}
		if _, body := get(t, h1, "http://"+addr+"/"); body != "HTTP/1.1" {
			t.Errorf("%v: HTTP/1.1 request answered %q", p, body)
		}
		// Upgrade: h2c (deprecated by RFC 9113) is served as HTTP/1.1.
		resp, body := roundTrip(t, addr, "GET", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
		if resp.StatusCode != 200 || string(body) != "HTTP/1.1" {
			t.Errorf("%v: Upgrade: h2c answered %d %q, want 200 over HTTP/1.1", p, resp.StatusCode, body)
		}
	}
}

// TestConfigProtocols: Protocols from the configuration file, in
// EndpointDefaults, on an endpoint and on an SNI entry, each reaching the
// clients: ALPN by server name over TLS, the preface in cleartext.
func TestConfigProtocols(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	oldCert, oldKey := pki.issue(t, "old.test", false, "old.test")
	anyCert, anyKey := pki.issue(t, "any.test", false, "any.test", "new.test")
	file := fmt.Sprintf(`{"Kestrel": {
		"EndpointDefaults": {"Protocols": "Http1"},
		"Endpoints": {
			"Plain": {"Url": "http://127.0.0.1:0"},
			"H2c": {"Url": "http://127.0.0.1:0", "Protocols": "Http2"},
			"Tls": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2", "Sni": {
				"old.test": {"Certificate": {"Path": %q, "KeyPath": %q}, "Protocols": "Http1"},
				"*": {"Certificate": {"Path": %q, "KeyPath": %q}}}}}}}`, oldCert, oldKey, anyCert, anyKey)
	cfg, err := ParseConfig([]byte(file), "appsettings.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addrs := s.Addresses()
	hostPort := func(u string) string { return u[strings.Index(u, "://")+3:] }
	plain, h2cOnly, secure := hostPort(addrs[0]), hostPort(addrs[1]), hostPort(addrs[2])

	h2c := h2cClient(t)
	if resp, err := h2c.Get("http://" + plain + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("EndpointDefaults Http1: h2c was served (%s)", resp.Proto)
	}
	if _, body := get(t, newClient(t), "http://"+plain+"/"); body != "HTTP/1.1" {
		t.Errorf("EndpointDefaults Http1: %q", body)
	}
	if resp, err := h2c.Get("http://" + h2cOnly + "/"); err != nil || resp.ProtoMajor != 2 {
		t.Errorf("endpoint Http2: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for name, want := range map[string]string{"old.test": "http/1.1", "new.test": "h2"} {
		c, err := tls.Dial("tcp", secure, &tls.Config{RootCAs: pki.pool, ServerName: name, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != want {
			t.Errorf("SNI %s: ALPN %q, want %q", name, got, want)
		}
		c.Close()
	}
}
