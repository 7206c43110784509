package certs

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// staticEntries makes an entry per name, each with its own self-signed
// certificate whose CommonName is the entry name.
func staticEntries(t *testing.T, names ...string) map[string]SNIOptions {
	t.Helper()
	m := make(map[string]SNIOptions)
	for _, n := range names {
		c := leafCert(t, n, ecKey)
		m[n] = SNIOptions{Certificate: Static(&tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert})}
	}
	return m
}

func TestSelectorMatching(t *testing.T) {
	entries := staticEntries(t, "www.example.com", "*.example.com", "*.api.example.com", "Exact.Example.org", "*")
	sel, err := NewSelector("https", nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	noFallback := staticEntries(t, "www.example.com", "*.example.com")
	selNoFallback, err := NewSelector("strict", nil, noFallback)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sel  *Selector
		host string
		want string // entry name; "" means no match
	}{
		{sel, "www.example.com", "www.example.com"},
		{sel, "WWW.Example.COM", "www.example.com"},
		{sel, "www.example.com.", "www.example.com"},
		{sel, "exact.example.org", "Exact.Example.org"},
		{sel, "shop.example.com", "*.example.com"},
		{sel, "a.b.example.com", "*.example.com"},              // wildcards match more than one label
		{sel, "v1.api.example.com", "*.api.example.com"},       // the longest wildcard wins
		{sel, "x.v1.api.example.com", "*.api.example.com"},     // at any depth
		{sel, "api.example.com", "*.example.com"},              // "*.api..." needs something before ".api"
		{sel, "example.com", "*"},                              // a wildcard does not match its apex
		{sel, "badexample.com", "*"},                           // suffix match is on a label boundary
		{sel, "other.test", "*"},                               // anything else: "*"
		{sel, "", "*"},                                         // no SNI: "*"
		{selNoFallback, "shop.example.com", "*.example.com"},   //
		{selNoFallback, "other.test", ""},                      // no match
		{selNoFallback, "", ""},                                // no SNI and no "*"
		{selNoFallback, "www.example.com", "www.example.com"},  //
		{selNoFallback, "WWW.EXAMPLE.COM.", "www.example.com"}, //
	} {
		got, ok := tc.sel.Match(tc.host)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: Match(%q) = %q, %v; want %q", tc.sel.endpoint, tc.host, got, ok, tc.want)
		}
		cert, err := tc.sel.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.host})
		if tc.want == "" {
			var nce *NoCertificateError
			if !errors.As(err, &nce) || nce.ServerName != tc.host || nce.Endpoint != tc.sel.endpoint {
				t.Errorf("GetCertificate(%q) error = %v, want a NoCertificateError", tc.host, err)
			}
			if tc.host != "" && !strings.Contains(err.Error(), `"`+tc.host+`"`) {
				t.Errorf("error %q does not name the host", err)
			}
			if _, err := tc.sel.GetConfigForClient(&tls.ClientHelloInfo{ServerName: tc.host}); !errors.As(err, &nce) {
				t.Errorf("GetConfigForClient(%q) error = %v", tc.host, err)
			}
			continue
		}
		if err != nil || cert.Leaf.Subject.CommonName != tc.want {
			t.Errorf("GetCertificate(%q) = %v, %v; want the certificate of %q", tc.host, cert, err, tc.want)
		}
	}
}

func TestNewSelectorRejects(t *testing.T) {
	good := staticEntries(t, "a.test")["a.test"]
	for _, tc := range []struct {
		name    string
		entries map[string]SNIOptions
		err     string
	}{
		{"no entries", map[string]SNIOptions{}, "no entries"},
		{"empty name", map[string]SNIOptions{"": good}, "empty host name"},
		{"wildcard inside", map[string]SNIOptions{"a.*.test": good}, "wildcard"},
		{"partial wildcard", map[string]SNIOptions{"*a.test": good}, "wildcard"},
		{"bare *.", map[string]SNIOptions{"*.": good}, "wildcard"},
		{"two wildcards", map[string]SNIOptions{"*.*.test": good}, "wildcard"},
		{"no certificate", map[string]SNIOptions{"a.test": {}}, "no certificate"},
		{"duplicate by case", map[string]SNIOptions{"a.test": good, "A.TEST": good}, "same host"},
		{"TLS 1.1", map[string]SNIOptions{"a.test": {Certificate: good.Certificate, MinVersion: tls.VersionTLS11}}, "below 1.2"},
		{"min above max", map[string]SNIOptions{"a.test": {Certificate: good.Certificate, MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12}}, "above the maximum"},
	} {
		if _, err := NewSelector("ep", nil, tc.entries); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: NewSelector error = %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestSelectorPerEntryConfig(t *testing.T) {
	entries := staticEntries(t, "plain.test", "strict.test")
	clientCAs := x509.NewCertPool()
	strict := entries["strict.test"]
	strict.MinVersion = tls.VersionTLS13
	strict.ClientCertificateMode = RequireCertificate
	strict.NextProtos = []string{"h2", "http/1.1"}
	entries["strict.test"] = strict

	base := DefaultConfig()
	base.ClientCAs = clientCAs
	sel, err := NewSelector("ep", base, entries)
	if err != nil {
		t.Fatal(err)
	}
	base.MinVersion = tls.VersionTLS10 // the Selector keeps its own clone

	plain, err := sel.GetConfigForClient(&tls.ClientHelloInfo{ServerName: "plain.test"})
	if err != nil {
		t.Fatal(err)
	}
	if plain.MinVersion != tls.VersionTLS12 || plain.ClientAuth != tls.NoClientCert || plain.NextProtos[0] != "http/1.1" {
		t.Errorf("plain entry config: min %x, auth %v, protos %q", plain.MinVersion, plain.ClientAuth, plain.NextProtos)
	}
	if plain.ClientCAs != clientCAs || len(plain.CipherSuites) != len(DefaultConfig().CipherSuites) {
		t.Error("plain entry config does not inherit the base config")
	}
	cfg, err := sel.GetConfigForClient(&tls.ClientHelloInfo{ServerName: "STRICT.test"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.MaxVersion != tls.VersionTLS13 {
		t.Errorf("strict versions %x-%x", cfg.MinVersion, cfg.MaxVersion)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("strict ClientAuth = %v", cfg.ClientAuth)
	}
	if cert, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "strict.test"}); err != nil || cert.Leaf.Subject.CommonName != "strict.test" {
		t.Errorf("strict config's certificate: %v, %v", cert, err)
	}
	if cfg.GetConfigForClient != nil || cfg.Certificates != nil {
		t.Error("per-entry config must not recurse or carry static certificates")
	}

	full := sel.TLSConfig()
	if full.GetCertificate == nil || full.GetConfigForClient == nil || full.MinVersion != tls.VersionTLS12 {
		t.Error("TLSConfig is not wired")
	}
}

// testServer is a TLS echo server on the loopback interface.
type testServer struct {
	addr string
	errs chan error // server-side handshake errors
}

func startServer(t *testing.T, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), errs: make(chan error, 64)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := c.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					select {
					case s.errs <- err:
					default:
					}
					return
				}
				io.Copy(tc, tc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// dial connects to s and exchanges one line, so that session tickets are
// received; the connection is closed at the end of the test.
func dial(t *testing.T, s *testServer, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	if err := echo(c, "ping"); err != nil {
		return nil, err
	}
	return c, nil
}

// echo writes a line on c and checks that it comes back.
func echo(c *tls.Conn, line string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echo mismatch: " + got)
	}
	return nil
}

func presented(c *tls.Conn) string {
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestSelectorHandshake(t *testing.T) {
	entries := staticEntries(t, "www.example.com", "*.example.com", "*.api.example.com", "*", "modern.example.org", "mtls.example.org")
	clientCA := newCert(t, certOpts{cn: "Client CA", isCA: true})
	clientCert := newCert(t, certOpts{cn: "client", parent: clientCA, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)

	modern := entries["modern.example.org"]
	modern.MinVersion = tls.VersionTLS13
	modern.NextProtos = []string{"h2", "http/1.1"}
	entries["modern.example.org"] = modern
	mtls := entries["mtls.example.org"]
	mtls.ClientCertificateMode = RequireCertificate
	entries["mtls.example.org"] = mtls

	base := DefaultConfig()
	base.ClientCAs = pool
	sel, err := NewSelector("https", base, entries)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, sel.TLSConfig())

	client := func(serverName string) *tls.Config {
		return &tls.Config{ServerName: serverName, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}
	}
	for _, tc := range []struct {
		serverName string
		want       string
		proto      string
	}{
		{"www.example.com", "www.example.com", "http/1.1"},
		{"Www.Example.Com", "www.example.com", "http/1.1"},
		{"shop.example.com", "*.example.com", "http/1.1"},
		{"deep.shop.example.com", "*.example.com", "http/1.1"},
		{"v2.api.example.com", "*.api.example.com", "http/1.1"},
		{"elsewhere.test", "*", "http/1.1"},
		{"", "*", "http/1.1"}, // dialing an IP address sends no SNI
		{"modern.example.org", "modern.example.org", "h2"},
	} {
		c, err := dial(t, srv, client(tc.serverName))
		if err != nil {
			t.Errorf("dial %q: %v", tc.serverName, err)
			continue
		}
		if got := presented(c); got != tc.want {
			t.Errorf("ServerName %q: server presented %q, want %q", tc.serverName, got, tc.want)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != tc.proto {
			t.Errorf("ServerName %q: ALPN %q, want %q", tc.serverName, got, tc.proto)
		}
	}

	// Per-entry TLS versions: modern.example.org refuses TLS 1.2, the others
	// accept it.
	old := client("modern.example.org")
	old.MaxVersion = tls.VersionTLS12
	if _, err := dial(t, srv, old); err == nil {
		t.Error("TLS 1.2 client got through to the TLS 1.3-only entry")
	}
	old.ServerName = "www.example.com"
	if c, err := dial(t, srv, old); err != nil {
		t.Errorf("TLS 1.2 to www.example.com: %v", err)
	} else if c.ConnectionState().Version != tls.VersionTLS12 {
		t.Errorf("version %x", c.ConnectionState().Version)
	}

	// Per-entry client certificates: mtls.example.org requires one.
	if c, err := dial(t, srv, client("mtls.example.org")); err == nil {
		t.Errorf("client without certificate got through to mtls.example.org (%s)", presented(c))
	}
	withCert := client("mtls.example.org")
	withCert.Certificates = []tls.Certificate{{Certificate: [][]byte{clientCert.cert.Raw}, PrivateKey: clientCert.key}}
	if c, err := dial(t, srv, withCert); err != nil {
		t.Errorf("client with certificate to mtls.example.org: %v", err)
	} else if presented(c) != "mtls.example.org" {
		t.Errorf("mtls presented %q", presented(c))
	}
	drain(srv.errs)

	// No match: the handshake fails and the server's error names the host.
	strict, err := NewSelector("strict", nil, staticEntries(t, "only.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	srv2 := startServer(t, strict.TLSConfig())
	if _, err := dial(t, srv2, client("nope.example.com")); err == nil {
		t.Fatal("handshake for an unknown host succeeded")
	}
	select {
	case err := <-srv2.errs:
		var nce *NoCertificateError
		if !errors.As(err, &nce) || !strings.Contains(err.Error(), `"nope.example.com"`) {
			t.Errorf("server error = %v, want one naming nope.example.com", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("no server-side handshake error")
	}
	if _, err := dial(t, srv2, client("")); err == nil {
		t.Error("handshake without SNI succeeded with no \"*\" entry")
	}
}

func drain(ch chan error) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// anyNameCache hands the last session to every server name, as a hostile
// client could, to test that sessions do not cross Sni entries.
type anyNameCache struct {
	mu sync.Mutex
	s  *tls.ClientSessionState
}

func (c *anyNameCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s, c.s != nil
}

func (c *anyNameCache) Put(_ string, s *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s != nil {
		c.s = s
	}
}

func TestSelectorSessionsStayWithTheirEntry(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			base := DefaultConfig()
			// Keys shared by all entries, so that only the entry binding
			// keeps sessions apart.
			base.SetSessionTicketKeys([][32]byte{{1, 2, 3}})
			sel, err := NewSelector("ep", base, staticEntries(t, "a.test", "b.test"))
			if err != nil {
				t.Fatal(err)
			}
			srv := startServer(t, sel.TLSConfig())
			cache := &anyNameCache{}
			cfg := func(name string) *tls.Config {
				return &tls.Config{ServerName: name, InsecureSkipVerify: true, ClientSessionCache: cache, MaxVersion: version}
			}
			first, err := dial(t, srv, cfg("a.test"))
			if err != nil {
				t.Fatal(err)
			}
			if first.ConnectionState().DidResume {
				t.Fatal("first connection resumed")
			}
			again, err := dial(t, srv, cfg("a.test"))
			if err != nil {
				t.Fatal(err)
			}
			if !again.ConnectionState().DidResume {
				t.Fatal("second connection to a.test did not resume: resumption is broken")
			}
			other, err := dial(t, srv, cfg("b.test"))
			if err != nil {
				t.Fatal(err)
			}
			if other.ConnectionState().DidResume {
				t.Error("a session of a.test was resumed for b.test")
			}
			if presented(other) != "b.test" {
				t.Errorf("b.test presented %q", presented(other))
			}
		})
	}
}
