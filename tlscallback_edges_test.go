package kestrel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
	"github.com/quic-go/quic-go/http3"
)

// startCallbackServer starts a server whose HTTPS endpoint (a certificate
// for localhost and 127.0.0.1) has callback and the other options set by
// opts, and returns its host:port.
func startCallbackServer(t *testing.T, pki *testPKI, s *Server, callback func(*ClientHello) (*tls.Config, error), opts func(*HTTPS)) string {
	t.Helper()
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	if s.Handler == nil {
		s.Handler = okHandler()
	}
	if s.Logger == nil {
		s.Logger = discardLogger()
	}
	h := &HTTPS{CertificateFile: cert, KeyFile: key, TLSHandshakeCallback: callback}
	if opts != nil {
		opts(h)
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: h}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "https://")
}

// TestTLSHandshakeCallbackTicketKeyReload: with a TLSHandshakeCallback, a
// change of the session ticket key file is used by the next handshakes,
// both when the callback keeps the endpoint's configuration (nil) and
// when it returns its own without keys, as without a callback.
func TestTLSHandshakeCallbackTicketKeyReload(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	k1 := writeTicketKey(t, dir, "k1.key", 80)
	k2 := writeTicketKey(t, dir, "k2.key", 80)
	content, _ := os.ReadFile(k1)
	shared := filepath.Join(dir, "shared.key")
	if err := os.WriteFile(shared, content, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := pki.issue(t, "own", false, "localhost", "127.0.0.1")
	own, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		callback func(*ClientHello) (*tls.Config, error)
	}{
		{"nil", func(*ClientHello) (*tls.Config, error) { return nil, nil }},
		{"own config", func(*ClientHello) (*tls.Config, error) {
			return &tls.Config{Certificates: []tls.Certificate{own}}, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(shared, content, 0o600); err != nil {
				t.Fatal(err)
			}
			a := ticketServer(t, pki, discardLogger(), k1)
			c := ticketServer(t, pki, discardLogger(), k2)
			b := startCallbackServer(t, pki, &Server{}, tc.callback, func(h *HTTPS) { h.SessionTicketKeyFiles = []string{shared} })
			v := uint16(tls.VersionTLS13)
			if !resumesOn(t, pki, v, a, b) {
				t.Fatal("a session from A does not resume on B (same key file, with a callback)")
			}
			k2content, _ := os.ReadFile(k2)
			if err := os.WriteFile(shared, k2content, 0o600); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); !resumesOn(t, pki, v, c, b); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("10 s after B's key file changed, B does not resume sessions made with the new key")
				}
			}
			if resumesOn(t, pki, v, a, b) {
				t.Error("after B's key file changed, B still resumes sessions made with the old key")
			}
		})
	}
}

// TestTLSHandshakeCallbackSlow: a callback slower than HandshakeTimeout
// does not hold the connection: it is closed at the timeout, and the
// handshake is counted as timed out once the callback returns; the
// ClientHello's context is done at the timeout, for a callback that
// waits on something.
func TestTLSHandshakeCallbackSlow(t *testing.T) {
	pki := newTestPKI(t)
	release := make(chan struct{})
	ctxDone := make(chan struct{}, 1)
	reader, mp := metricstest.New()
	addr := startCallbackServer(t, pki, &Server{MeterProvider: mp}, func(h *ClientHello) (*tls.Config, error) {
		select {
		case <-h.ClientHelloInfo.Context().Done():
			ctxDone <- struct{}{}
		case <-release:
		}
		<-release
		return nil, nil
	}, func(h *HTTPS) { h.HandshakeTimeout = 300 * time.Millisecond })
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the server's Close

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	tc := tls.Client(nc, &tls.Config{RootCAs: pki.pool, ServerName: "localhost"})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	err = tc.Handshake()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("handshake with a callback slower than the timeout: %v after %v, want the server to close the connection", err, time.Since(start))
	}
	select {
	case <-ctxDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the ClientHello's context was not done at the handshake timeout")
	}
	free()
	waitMetric(t, reader, "kestrel.tls_handshake.duration", map[string]string{"error.type": "timeout"}, 1)
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "tls_handshake_failed"}, 1)
}

// TestTLSHandshakeCallbackPanics: a panicking callback refuses the
// connection and the server goes on serving.
func TestTLSHandshakeCallbackPanics(t *testing.T) {
	pki := newTestPKI(t)
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	addr := startCallbackServer(t, pki, &Server{MeterProvider: mp, Logger: log}, func(h *ClientHello) (*tls.Config, error) {
		if h.ServerName == "panic.test" {
			panic("callback bug")
		}
		return nil, nil
	}, nil)
	cfg := &tls.Config{RootCAs: pki.pool, ServerName: "panic.test", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	c, err := tls.Dial("tcp", addr, cfg)
	if err == nil {
		c.Close()
		t.Fatal("a handshake whose callback panicked succeeded")
	}
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "tls_refused"}, 1)
	e := rec.events("AuthenticationFailed")
	if len(e) != 1 || !strings.Contains(e[0].attrs["Exception"]+e[0].msg, "callback bug") {
		t.Errorf("AuthenticationFailed events %+v, want one with the panic", e)
	}
	visit(t, addr, &tls.Config{RootCAs: pki.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}}) // still served
}

// TestTLSHandshakeCallbackConfigs: what the callback returns at the edges.
// A configuration with GetConfigForClient (a net/http TLSConfig reused
// as is) has it asked, as crypto/tls would not; one without a certificate
// fails the handshake with an error that names the callback.
func TestTLSHandshakeCallbackConfigs(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "inner", false, "inner.test")
	inner, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	addr := startCallbackServer(t, pki, &Server{MeterProvider: mp, Logger: log}, func(h *ClientHello) (*tls.Config, error) {
		switch h.ServerName {
		case "inner.test":
			return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return &tls.Config{Certificates: []tls.Certificate{inner}, MaxVersion: tls.VersionTLS12}, nil
			}}, nil
		case "nocert.test":
			return &tls.Config{MinVersion: tls.VersionTLS13}, nil
		case "typednil.test":
			var err *os.PathError // a nil *os.PathError in a non-nil error
			return nil, err
		}
		return nil, nil
	}, nil)

	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.pool, ServerName: "inner.test"})
	if err != nil {
		t.Fatalf("a callback's configuration with GetConfigForClient: %v", err)
	}
	cs := c.ConnectionState()
	c.Close()
	if cn := cs.PeerCertificates[0].Subject.CommonName; cn != "inner" || cs.Version != tls.VersionTLS12 {
		t.Errorf("certificate %q over %s, want GetConfigForClient's (inner, TLS 1.2)", cn, tls.VersionName(cs.Version))
	}

	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.pool, ServerName: "nocert.test", InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("a handshake with a configuration without a certificate succeeded")
	}
	// A typed nil error is an error: the handshake is refused, and the
	// server goes on.
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.pool, ServerName: "typednil.test", InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("a handshake whose callback returned a typed nil error succeeded")
	}
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "tls_refused"}, 1)
	visit(t, addr, &tls.Config{RootCAs: pki.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "tls_handshake_failed"}, 1)
	// The two failed connections' events, logged by their own goroutines
	// after their clients saw the failure, come in either order.
	e := rec.events("AuthenticationFailed")
	found := func(text string) bool {
		return slices.ContainsFunc(e, func(ev event) bool { return strings.Contains(ev.msg+ev.attrs["Exception"], text) })
	}
	if len(e) != 2 || !found("TLSHandshakeCallback returned a tls.Config without a certificate") ||
		!found("TLSHandshakeCallback returned a nil *fs.PathError as its error") {
		t.Errorf("AuthenticationFailed events %+v, want one naming the callback's configuration, one its typed nil error", e)
	}
}

// TestTLSHandshakeCallbackWithProxyAndSNI: behind a PROXY header and a
// connection middleware, the callback's ClientHello has the header's
// client address; with SNI entries and a shared session ticket key, a
// callback that keeps the endpoint's configuration (nil) leaves the SNI
// entry's certificate, and sessions resume across two such servers.
func TestTLSHandshakeCallbackWithProxyAndSNI(t *testing.T) {
	pki := newTestPKI(t)
	key := writeTicketKey(t, t.TempDir(), "k.key", 80)
	c1, k1 := pki.issue(t, "one", false, "one.test")
	c2, k2 := pki.issue(t, "two", false, "two.test")
	seen := make(chan string, 16)
	start := func() string {
		s := &Server{Handler: okHandler(), Logger: quietLogger}
		err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{Required: true},
			ConnectionMiddleware: []ConnectionMiddleware{func(_ context.Context, c net.Conn) (net.Conn, error) { return plainWrap{c}, nil }},
			HTTPS: &HTTPS{SessionTicketKeyFiles: []string{key}, SNI: map[string]SNI{
				"one.test": {CertificateFile: c1, KeyFile: k1},
				"two.test": {CertificateFile: c2, KeyFile: k2},
			}, TLSHandshakeCallback: func(h *ClientHello) (*tls.Config, error) {
				seen <- h.Conn.RemoteAddr().String()
				return nil, nil
			}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return strings.TrimPrefix(s.Addresses()[0], "https://")
	}
	a, b := start(), start()
	visitProxied := func(addr string, cfg *tls.Config) (cn string, resumed bool) {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write(proxyV2(t, "198.51.100.7:4321", "192.0.2.2:443"))
		c := tls.Client(nc, cfg)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if body, err := io.ReadAll(c); err != nil || !strings.HasSuffix(string(body), "ok") {
			t.Fatalf("%s: %q, %v", addr, body, err)
		}
		if got := <-seen; got != "198.51.100.7:4321" {
			t.Errorf("the callback saw the client at %s, want the PROXY header's 198.51.100.7:4321", got)
		}
		cs := c.ConnectionState()
		return cs.PeerCertificates[0].Subject.CommonName, cs.DidResume
	}
	for _, host := range []string{"one.test", "two.test"} {
		cfg := &tls.Config{RootCAs: pki.pool, ServerName: host, NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		if cn, _ := visitProxied(a, cfg); cn+".test" != host {
			t.Errorf("SNI %s: certificate %q", host, cn)
		}
		if _, resumed := visitProxied(b, cfg); !resumed {
			t.Errorf("SNI %s: a session from A does not resume on B", host)
		}
	}
}

// TestTLSCallbacksTypedNilError: a ServerCertificateSelector or
// ClientCertificateValidation that returns a nil pointer as its error
// fails the handshake, with a message that says so, and the server goes on.
func TestTLSCallbacksTypedNilError(t *testing.T) {
	pki := newTestPKI(t)
	certFile, keyFile := pki.issue(t, "localhost", false, "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey := pki.issue(t, "client", true)
	cc, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		https *HTTPS
	}{
		{"ServerCertificateSelector", &HTTPS{ServerCertificateSelector: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if h.ServerName == "bad.test" {
				var err *os.PathError
				return nil, err
			}
			return &cert, nil
		}}},
		{"ClientCertificateValidation", &HTTPS{Certificate: &cert, ClientCertificateMode: AllowCertificate, ClientCAs: pki.pool,
			ClientCertificateValidation: func(c *x509.Certificate, _ [][]*x509.Certificate, _ error) error {
				if c.Subject.CommonName == "client" {
					var err *os.PathError
					return err
				}
				return nil
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, log := newLogRecorder(slog.LevelDebug)
			s := &Server{Handler: okHandler(), Logger: log}
			if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: tc.https}); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addr := strings.TrimPrefix(s.Addresses()[0], "https://")
			bad := &tls.Config{RootCAs: pki.pool, ServerName: "bad.test", InsecureSkipVerify: true, Certificates: []tls.Certificate{cc}, NextProtos: []string{"http/1.1"}}
			// Over QUIC, crypto/tls inspects the error (errors.As) in
			// quic-go's goroutine: the nil pointer's Unwrap ended the
			// process.
			h3 := func(cfg *tls.Config) error {
				tr := &http3.Transport{TLSClientConfig: cfg}
				defer tr.Close()
				resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
				if err == nil {
					resp.Body.Close()
				}
				return err
			}
			h3bad := bad.Clone()
			h3bad.NextProtos = nil
			if err := h3(h3bad); err == nil {
				t.Fatal("HTTP/3: a handshake whose callback returned a typed nil error was served")
			}
			if err := h3(&tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1"}); err != nil {
				t.Fatalf("HTTP/3 after the refusal: %v", err)
			}
			if c, err := tls.Dial("tcp", addr, bad); err == nil {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				if err == nil {
					_, err = c.Read(make([]byte, 1)) // TLS 1.3: the client learns of the refusal here
				}
				c.Close()
				if err == nil {
					t.Fatal("a handshake whose callback returned a typed nil error was served")
				}
			}
			visit(t, addr, &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}) // still served
			for deadline := time.Now().Add(10 * time.Second); len(rec.events("AuthenticationFailed")) == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no AuthenticationFailed event")
				}
			}
			if e := rec.events("AuthenticationFailed"); !strings.Contains(e[0].msg+e[0].attrs["Exception"], "returned a nil *fs.PathError as its error") {
				t.Errorf("AuthenticationFailed %+v, want the typed nil named", e)
			}
		})
	}
}

// TestTLSCallbackALPNAndEndpointProtocols: a TLSHandshakeCallback's
// configuration decides ALPN, but not what an endpoint serves: h2 agreed
// on an HTTP/1-only endpoint is served as HTTP/1.1, as Kestrel falls back
// (a client that then speaks HTTP/2 is told HTTP_1_1_REQUIRED); and a connection
// that ends after its acme-tls/1 handshake leaves the listener's
// connections on their way, as every other one does.
func TestTLSCallbackALPNAndEndpointProtocols(t *testing.T) {
	t.Parallel()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, Handler: okHandler()}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1, HTTPS: &HTTPS{Certificate: cert,
		TLSHandshakeCallback: func(h *ClientHello) (*tls.Config, error) {
			return &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"h2", "http/1.1", "acme-tls/1"}}, nil
		}}})

	raw := dial(t, addr)
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	// Kestrel's answer to HTTP/2 on an HTTP/1 endpoint: an empty SETTINGS,
	// then GOAWAY with HTTP_1_1_REQUIRED; HTTP/2 served would send its
	// settings instead.
	frames := make([]byte, 26)
	if _, err := io.ReadFull(c, frames); err != nil || frames[3] != 0x04 || frames[2] != 0 || frames[12] != 0x07 || frames[25] != 0x0d {
		t.Errorf("an HTTP/1-only endpoint answered HTTP/2's preface with % x (%v), want an empty SETTINGS and GOAWAY HTTP_1_1_REQUIRED (ALPN %q)", frames, err, c.ConnectionState().NegotiatedProtocol)
	}
	raw.Close()

	for range 3 {
		raw := dial(t, addr)
		raw.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"acme-tls/1"}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		io.ReadAll(tc)
		raw.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		s.mu.Lock()
		for _, l := range s.allListeners() {
			l.wayMu.Lock()
			n += len(l.onWay)
			l.wayMu.Unlock()
		}
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still on their way after their acme-tls/1 handshakes ended", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replayCache is a client session cache that offers the last session it
// got whatever server name it is asked for: a client that takes the
// ticket one host name gave it to another host name of the same endpoint.
type replayCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *replayCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *replayCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs != nil {
		c.cs = cs
	}
}

// TestTLSHandshakeCallbackResumptionRunsVerifyPeerCertificate: a
// configuration the callback returns shares the endpoint's session ticket
// keys, and crypto/tls does not call VerifyPeerCertificate on a resumed
// session. A session made with a client certificate under the endpoint's
// own configuration (or another the callback returned) resumed under one
// whose VerifyPeerCertificate refuses that certificate, so a client got
// past a check a full handshake makes; the check is now made on
// resumption too, and a session that passes it still resumes.
func TestTLSHandshakeCallbackResumptionRunsVerifyPeerCertificate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "server", false, "user.test", "admin.test")
	serverCert, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	var clients [2]tls.Certificate
	for i, name := range []string{"user", "admin"} {
		c, k := pki.issue(t, name, true)
		if clients[i], err = tls.LoadX509KeyPair(c, k); err != nil {
			t.Fatal(err)
		}
	}
	user, adminCert := clients[0], clients[1]
	var asked sync.Map // the common names VerifyPeerCertificate was asked about
	admin := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			cn := chains[0][0].Subject.CommonName
			asked.Store(cn, true)
			if cn != "admin" {
				return errors.New("admins only")
			}
			return nil
		}}
	for _, keyFiles := range []bool{false, true} {
		s := &Server{Handler: peerHandler(), Logger: discardLogger()}
		addr := startCallbackServer(t, pki, s, func(hello *ClientHello) (*tls.Config, error) {
			if hello.ServerName == "admin.test" {
				return admin, nil
			}
			return nil, nil // the endpoint's: any certificate of the CA
		}, func(h *HTTPS) {
			h.CertificateFile, h.KeyFile = cert, key
			h.ClientCertificateMode, h.ClientCAs = AllowCertificate, pki.pool
			if keyFiles {
				h.SessionTicketKeyFiles = []string{writeTicketKey(t, t.TempDir(), "ticket.key", 80)}
			}
		})
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := fmt.Sprintf("%s, key files %v", tls.VersionName(v), keyFiles)
			client := func(host string, cache tls.ClientSessionCache, certs ...tls.Certificate) *tls.Config {
				return &tls.Config{RootCAs: pki.pool, ServerName: host, MinVersion: v, MaxVersion: v, Certificates: certs, ClientSessionCache: cache}
			}
			// The user's session from user.test, offered to admin.test.
			cache := &replayCache{}
			if body, _, err := probeRequest(addr, client("user.test", cache, user)); err != nil || !strings.Contains(body, "peers=1") {
				t.Fatalf("%s: user.test with a certificate: %q, %v", name, body, err)
			}
			asked.Delete("user")
			if body, resumed, err := probeRequest(addr, client("admin.test", cache)); err == nil {
				t.Errorf("%s: the user's session from user.test got through admin.test, whose VerifyPeerCertificate refuses it (resumed %v): %q", name, resumed, body)
			}
			if _, ok := asked.Load("user"); !ok {
				t.Errorf("%s: admin.test's VerifyPeerCertificate was not asked about the resumed session's certificate", name)
			}
			// The admin's session resumes on admin.test: the check passes.
			cache = &replayCache{}
			if body, _, err := probeRequest(addr, client("admin.test", cache, adminCert)); err != nil || !strings.Contains(body, "peers=1") {
				t.Fatalf("%s: admin.test with the admin's certificate: %q, %v", name, body, err)
			}
			if body, resumed, err := probeRequest(addr, client("admin.test", cache)); err != nil || !resumed || !strings.Contains(body, "peers=1 chains=1") {
				t.Errorf("%s: the admin's session on admin.test: resumed %v, %q, %v; want it resumed with its certificate", name, resumed, body, err)
			}
		}
	}
}

// peerHandler answers with the client certificates of the request's
// connection: "sni=... peers=N chains=N resumed=...".
func peerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "sni=%s peers=%d chains=%d resumed=%v", r.TLS.ServerName, len(r.TLS.PeerCertificates), len(r.TLS.VerifiedChains), r.TLS.DidResume)
	})
}

// probeRequest makes one HTTP/1.1 request over a new TLS connection to
// addr and returns the body, whether the handshake resumed a session,
// and the error of a failed handshake or a response other than 200.
func probeRequest(addr string, cfg *tls.Config) (string, bool, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", cfg.ServerName)
	b, err := io.ReadAll(c)
	resumed := c.ConnectionState().DidResume
	if err != nil {
		return string(b), resumed, err
	}
	resp, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok || !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
		return string(b), resumed, fmt.Errorf("response %q", b)
	}
	return body, resumed, nil
}

// TestTLSHandshakeCallbackOverHTTP3: the callback chooses the
// configuration of QUIC handshakes too, as Kestrel's does for HTTP/3: a
// host name it refuses, or gives a client certificate policy, is not
// reached over HTTP/3 with the endpoint's configuration instead.
func TestTLSHandshakeCallbackOverHTTP3(t *testing.T) {
	pki := newTestPKI(t)
	certFile, keyFile := pki.issue(t, "localhost", false, "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey := pki.issue(t, "client", true)
	cc, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	var quicHellos atomic.Int32
	https := &HTTPS{Certificate: &cert, TLSHandshakeCallback: func(h *ClientHello) (*tls.Config, error) {
		if h.Raw == nil {
			quicHellos.Add(1) // over QUIC the message's bytes are not at hand
		}
		switch h.ServerName {
		case "old.test":
			return nil, errors.New("retired host name")
		case "admin.test":
			return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}, nil
		}
		return nil, nil
	}}
	s := &Server{Handler: okHandler(), Logger: discardLogger()}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: https}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "https://")
	h3 := func(cfg *tls.Config) error {
		tr := &http3.Transport{TLSClientConfig: cfg}
		defer tr.Close()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	client := func(name string, certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: pki.pool, ServerName: name, InsecureSkipVerify: true, Certificates: certs}
	}
	for _, tc := range []struct {
		cfg   *tls.Config
		serve bool
	}{
		{client("old.test"), false},
		{client("admin.test"), false},
		{client("admin.test", cc), true},
		{client("localhost"), true},
	} {
		err := h3(tc.cfg)
		if served := err == nil; served != tc.serve {
			t.Errorf("HTTP/3 to %s with %d client certificates: served %v (%v), want %v", tc.cfg.ServerName, len(tc.cfg.Certificates), served, err, tc.serve)
		}
	}
	if quicHellos.Load() == 0 {
		t.Error("the callback never saw a QUIC handshake")
	}
}
