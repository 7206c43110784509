package kestrel

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeTicketKey writes n random bytes, a session ticket key file as
// `openssl rand n` makes it, and returns its path.
func writeTicketKey(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ticketServer starts a server (an "instance") whose HTTPS endpoint uses
// the ticket key files, and returns its address.
func ticketServer(t *testing.T, pki *testPKI, log *slog.Logger, keys ...string) string {
	t.Helper()
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	s := &Server{Handler: okHandler(), Logger: log}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key, SessionTicketKeyFiles: keys}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "https://")
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
}

// visit makes one HTTP/1.1 request over a new TLS connection to addr (so
// that a TLS 1.3 client reads the server's NewSessionTicket) and reports
// whether the handshake resumed a session.
func visit(t *testing.T, addr string, cfg *tls.Config) bool {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(b), "ok") {
		t.Fatalf("%s: response %q, %v", addr, b, err)
	}
	return c.ConnectionState().DidResume
}

// resumesOn reports whether a session made with from resumes on to, with
// Go's TLS client at TLS version v.
func resumesOn(t *testing.T, pki *testPKI, v uint16, from, to string) bool {
	t.Helper()
	cfg := &tls.Config{RootCAs: pki.pool, ServerName: "localhost", MinVersion: v, MaxVersion: v,
		NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	if visit(t, from, cfg) {
		t.Fatalf("the first connection to %s resumed a session from an empty cache", from)
	}
	return visit(t, to, cfg)
}

func TestSessionTicketKeysAcrossServers(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	k1 := writeTicketKey(t, dir, "k1.key", 80)
	k2 := writeTicketKey(t, dir, "k2.key", 48)
	a := ticketServer(t, pki, discardLogger(), k1)
	b := ticketServer(t, pki, discardLogger(), k1)
	other := ticketServer(t, pki, discardLogger(), k2)
	own := ticketServer(t, pki, discardLogger())
	rotated := ticketServer(t, pki, discardLogger(), k2, k1) // new key first, old second
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		name := tls.VersionName(v)
		if !resumesOn(t, pki, v, a, a) {
			t.Errorf("%s: a session does not resume on its own server", name)
		}
		if !resumesOn(t, pki, v, a, b) {
			t.Errorf("%s: a session from A does not resume on B, which has the same key file", name)
		}
		if resumesOn(t, pki, v, a, other) {
			t.Errorf("%s: a session from A resumed on a server with another key file", name)
		}
		if resumesOn(t, pki, v, a, own) || resumesOn(t, pki, v, own, a) {
			t.Errorf("%s: a session resumed between a server with a key file and one with its own keys", name)
		}
		if !resumesOn(t, pki, v, own, own) {
			t.Errorf("%s: without key files, sessions do not resume on the same server", name)
		}
		if !resumesOn(t, pki, v, a, rotated) {
			t.Errorf("%s: after rotation (new key first, old second), an old ticket does not resume", name)
		}
		if !resumesOn(t, pki, v, rotated, other) {
			t.Errorf("%s: after rotation, a new ticket is not encrypted with the first key", name)
		}
		if resumesOn(t, pki, v, rotated, a) {
			t.Errorf("%s: after rotation, a new ticket was encrypted with the second key", name)
		}
	}
}

func TestSessionTicketKeysSNI(t *testing.T) {
	pki := newTestPKI(t)
	k := writeTicketKey(t, t.TempDir(), "k.key", 80)
	start := func() string {
		c1, k1 := pki.issue(t, "localhost", false, "localhost")
		c2, k2 := pki.issue(t, "example", false, "example.com")
		s := &Server{Handler: okHandler(), Logger: discardLogger()}
		err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{SessionTicketKeyFiles: []string{k}, SNI: map[string]SNI{
			"localhost":   {CertificateFile: c1, KeyFile: k1},
			"example.com": {CertificateFile: c2, KeyFile: k2, MinVersion: tls.VersionTLS13},
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
	for _, host := range []string{"localhost", "example.com"} {
		cfg := &tls.Config{RootCAs: pki.pool, ServerName: host, NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		visit(t, a, cfg)
		if !visit(t, b, cfg) {
			t.Errorf("SNI %s: a session from A does not resume on B", host)
		}
	}
}

func TestSessionTicketKeyFileReload(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	k1 := writeTicketKey(t, dir, "k1.key", 80)
	content, _ := os.ReadFile(k1)
	shared := filepath.Join(dir, "shared.key")
	os.WriteFile(shared, content, 0o600)
	var log lockedBuffer
	a := ticketServer(t, pki, discardLogger(), k1)
	b := ticketServer(t, pki, slog.New(slog.NewTextHandler(&log, nil)), shared)
	v := uint16(tls.VersionTLS13)
	if !resumesOn(t, pki, v, a, b) {
		t.Fatal("a session from A does not resume on B before the change")
	}

	// A broken file: B keeps its keys and warns.
	os.WriteFile(shared, []byte("too short"), 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "reloading the session ticket keys failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the broken key file; log:\n%s", log.String())
		}
		resumesOn(t, pki, v, a, b) // handshakes check the files
		time.Sleep(50 * time.Millisecond)
	}
	if l := log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, shared) || !strings.Contains(l, "48 or 80") {
		t.Errorf("the warning does not name the file and the expected size:\n%s", l)
	}
	if !resumesOn(t, pki, v, a, b) {
		t.Error("after a broken key file, B lost its keys")
	}

	// A new key: B uses it without a restart.
	k2 := writeTicketKey(t, dir, "k2.key", 48)
	c := ticketServer(t, pki, discardLogger(), k2)
	content, _ = os.ReadFile(k2)
	os.WriteFile(shared, content, 0o600)
	for resumesOn(t, pki, v, a, b) {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("B still resumes A's sessions 10 s after its key file changed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !resumesOn(t, pki, v, c, b) || !resumesOn(t, pki, v, b, c) {
		t.Error("after its key file changed, B does not share sessions with a server started with the new key")
	}
}

func TestSessionTicketKeyFileErrors(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost")
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		want []string
	}{
		{writeTicketKey(t, dir, "short.key", 47), []string{"short.key", "47 bytes", "48 or 80"}},
		{writeTicketKey(t, dir, "long.key", 81), []string{"long.key", "81 bytes", "48 or 80"}},
		{filepath.Join(dir, "missing.key"), []string{"missing.key", "session ticket key file"}},
	} {
		s := &Server{Handler: okHandler(), Logger: discardLogger()}
		if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key, SessionTicketKeyFiles: []string{tc.path}}}); err != nil {
			t.Fatal(err)
		}
		err := s.Start()
		if err == nil {
			s.Close()
			t.Errorf("%s: Start succeeded", tc.path)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.path, err, w)
			}
		}
	}
}

// TestSessionTicketKeysOpenSSL resumes, with openssl s_client, on one
// server a session made with another.
func TestSessionTicketKeysOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	pki := newTestPKI(t)
	dir := t.TempDir()
	k1 := writeTicketKey(t, dir, "k1.key", 80)
	k2 := writeTicketKey(t, dir, "k2.key", 80)
	a := ticketServer(t, pki, discardLogger(), k1)
	b := ticketServer(t, pki, discardLogger(), k1)
	other := ticketServer(t, pki, discardLogger(), k2)
	rotated := ticketServer(t, pki, discardLogger(), k2, k1)
	dropped := ticketServer(t, pki, discardLogger(), k2)
	// sClient connects to addr; -ign_eof with a request that closes the
	// connection makes s_client read until the server's close, so the TLS
	// 1.3 NewSessionTicket is read and written to -sess_out.
	sClient := func(version, addr string, args ...string) string {
		args = append([]string{"s_client", version, "-ign_eof", "-connect", addr, "-servername", "localhost",
			"-CAfile", filepath.Join(pki.dir, "ca.pem"), "-alpn", "http/1.1"}, args...)
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "\nok") {
			t.Fatalf("openssl %v: %v\n%s", args, err, lastLines(string(out), 10))
		}
		return string(out)
	}
	for _, version := range []string{"-tls1_2", "-tls1_3"} {
		resumes := func(from, to string) bool {
			sess := filepath.Join(t.TempDir(), "session.pem")
			if out := sClient(version, from, "-sess_out", sess); !strings.Contains(out, "New, ") {
				t.Fatalf("openssl %s: the first connection is not New:\n%s", version, lastLines(out, 20))
			}
			if _, err := os.Stat(sess); err != nil {
				t.Fatalf("openssl %s: no session written: %v", version, err)
			}
			out := sClient(version, to, "-sess_in", sess)
			reused, fresh := strings.Contains(out, "Reused, "), strings.Contains(out, "New, ")
			if reused == fresh {
				t.Fatalf("openssl %s: the output says neither Reused nor New:\n%s", version, out)
			}
			return reused
		}
		if !resumes(a, b) {
			t.Errorf("openssl %s: a session from A is not Reused on B, which has the same key file", version)
		}
		if resumes(a, other) {
			t.Errorf("openssl %s: a session from A was Reused on a server with another key file", version)
		}
		if !resumes(a, rotated) {
			t.Errorf("openssl %s: an old ticket is not Reused after rotation (new key first, old second)", version)
		}
		if resumes(a, dropped) {
			t.Errorf("openssl %s: an old ticket was Reused after its key was removed", version)
		}
	}
}

func TestConfigSessionTicketKeyFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kestrel.json")
	cfg, err := ParseConfig([]byte(`{"Kestrel": {
		"EndpointDefaults": {"SessionTicketKeyFiles": ["keys/default.key"]},
		"Endpoints": {
			"Own": {"Url": "https://127.0.0.1:0", "SessionTicketKeyFiles": ["new.key", "/etc/kestrel/old.key"]},
			"Defaults": {"Url": "https://127.0.0.1:0"},
			"Env": {"Url": "https://127.0.0.1:0"}}}}`), file, nil,
		[]string{"Kestrel__Endpoints__Env__SessionTicketKeyFiles__0=/run/env.key"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, ep := range s.endpoints {
		name := ep.origin[strings.LastIndexByte(ep.origin, ':')+1:]
		if ep.opts.HTTPS == nil {
			t.Fatalf("endpoint %s has no HTTPS options", name)
		}
		got[name] = ep.opts.HTTPS.SessionTicketKeyFiles
	}
	want := map[string][]string{
		"Own":      {filepath.Join(dir, "new.key"), "/etc/kestrel/old.key"},
		"Defaults": {filepath.Join(dir, "keys/default.key")},
		"Env":      {"/run/env.key"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SessionTicketKeyFiles by endpoint: %v, want %v", got, want)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "https://127.0.0.1:0", "SessionTicketKeyFile": ["a.key"]}}}}`, `did you mean "Kestrel:Endpoints:E:SessionTicketKeyFiles"`},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "http://127.0.0.1:0", "SessionTicketKeyFiles": ["a.key"]}}}}`, "apply to https:// endpoints only"},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "https://127.0.0.1:0", "SessionTicketKeyFiles": [""]}}}}`, "Kestrel:Endpoints:E:SessionTicketKeyFiles:0 is missing"},
	} {
		cfg, err := ParseConfig([]byte(bad.json), "f", nil, nil)
		if err == nil {
			err = cfg.Apply(&Server{})
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error with %q", bad.json, err, bad.want)
		}
	}
}

// TestSessionTicketResumptionRunsClientCertificateValidation: a session
// resumed with a client certificate is put to the endpoint's
// ClientCertificateValidation again. Endpoints that share
// SessionTicketKeyFiles decrypt each other's tickets, so without it a
// certificate that one endpoint accepted reached the handler of another
// whose callback refuses it (crypto/tls re-verifies a resumed session's
// chain against ClientCAs, but knows nothing of the callback).
func TestSessionTicketResumptionRunsClientCertificateValidation(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	cc, ck := pki.issue(t, "client", true)
	clientCert, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	ticketKey := writeTicketKey(t, pki.dir, "ticket.key", 80)
	var refused atomic.Int64
	s := &Server{Handler: okHandler(), Logger: discardLogger()}
	for _, h := range []*HTTPS{
		{ClientCertificateMode: RequireCertificate, ClientCAs: pki.pool},
		{ClientCertificateMode: RequireCertificate, ClientCertificateValidation: func(c *x509.Certificate, _ [][]*x509.Certificate, _ error) error {
			refused.Add(1)
			return fmt.Errorf("client %q is not welcome here", c.Subject.CommonName)
		}},
	} {
		h.CertificateFile, h.KeyFile, h.SessionTicketKeyFiles = cert, key, []string{ticketKey}
		if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: h}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	open, closed := strings.TrimPrefix(s.Addresses()[0], "https://"), strings.TrimPrefix(s.Addresses()[1], "https://")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := &tls.Config{RootCAs: pki.pool, ServerName: "localhost", MinVersion: v, MaxVersion: v, Certificates: []tls.Certificate{clientCert},
			NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		visit(t, open, cfg)
		before := refused.Load()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", closed, cfg)
		if err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
			var b []byte
			b, err = io.ReadAll(c)
			if err == nil {
				t.Errorf("%s: the callback refuses every certificate, but a session from the other endpoint resumed (%v) and got %q",
					tls.VersionName(v), c.ConnectionState().DidResume, b)
			}
			c.Close()
		}
		if refused.Load() == before {
			t.Errorf("%s: the callback was not asked about the resumed session's certificate (%v)", tls.VersionName(v), err)
		}
	}
}
