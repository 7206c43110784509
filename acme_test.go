package kestrel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/kestrel-go/kestrel/internal/acmetest"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
	"github.com/kestrel-go/kestrel/logging"
)

// The tests of automatic HTTPS run Let's Encrypt's test CA, Pebble
// (internal/acmetest), which validates on ports that forward to the
// servers under test, listening on port 0.

const acmeTestDomain = "acme.kestrel.test"

// acmeServer is a server under test with its log.
type acmeServer struct {
	*Server
	log *logRecorder
}

// newACMEServer makes a server with an HTTPS endpoint whose certificate
// comes from a, and, with plain, an http:// endpoint; Pebble's validations
// go to it.
func newACMEServer(t *testing.T, p *acmetest.Pebble, a *ACME, plain bool, protocols Protocols) *acmeServer {
	t.Helper()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &acmeServer{log: rec, Server: &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over "+r.Proto)
	})}}
	if a != nil {
		if err := s.ListenEndpoint(Endpoint{URL: "https://127.0.0.1:0", Protocols: protocols, HTTPS: &HTTPS{ACME: a}}); err != nil {
			t.Fatal(err)
		}
	}
	if plain {
		if err := s.ListenEndpoint(Endpoint{URL: "http://127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Close() })
	if p != nil {
		p.ForwardTLS(func() string { return s.addr("https://") })
		p.ForwardHTTP(func() string { return s.addr("http://") })
	}
	return s
}

// addr is the host:port of the server's first address with the scheme.
func (s *acmeServer) addr(scheme string) string {
	for _, a := range s.Addresses() {
		if rest, ok := strings.CutPrefix(a, scheme); ok {
			return rest
		}
	}
	return ""
}

// acmeOptions are the ACME options of a test against p.
func acmeOptions(p *acmetest.Pebble, storage string) *ACME {
	return &ACME{Domains: []string{acmeTestDomain}, Email: "admin@kestrel.test", CA: p.Directory, CARoots: p.APIRoots, AgreeToTerms: true, Storage: storage}
}

// getVerified asks s for / over h2 (or HTTP/1.1 when not h2), verifying
// its certificate with roots, and returns the answer and the leaf.
func getVerified(t *testing.T, addr string, roots *x509.CertPool, h3 bool) (string, *x509.Certificate) {
	t.Helper()
	return getVerifiedName(t, addr, acmeTestDomain, roots, h3)
}

// getVerifiedName is getVerified for the certificate of name.
func getVerifiedName(t *testing.T, addr, name string, roots *x509.CertPool, h3 bool) (string, *x509.Certificate) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: name}
	var rt http.RoundTripper
	if h3 {
		tr := &http3.Transport{TLSClientConfig: cfg}
		defer tr.Close()
		rt = tr
	} else {
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		rt = tr
	}
	c := &http.Client{Transport: rt, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET https://%s/ (h3 %v): %v", addr, h3, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.TLS.PeerCertificates[0]
}

func TestACMETLSALPN01(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	a := acmeOptions(p, t.TempDir())
	a.Challenges = []string{ChallengeTLSALPN01}
	s := newACMEServer(t, p, a, false, HTTP1AndHTTP2AndHTTP3)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	roots := p.Roots(t)
	body, leaf := getVerified(t, s.addr("https://"), roots, false)
	if body != "hello over HTTP/2.0" {
		t.Errorf("over TCP: %q, want h2", body)
	}
	if !slices.Contains(leaf.DNSNames, acmeTestDomain) {
		t.Errorf("certificate names %v", leaf.DNSNames)
	}
	body, _ = getVerified(t, s.addr("https://"), roots, true)
	if body != "hello over HTTP/3.0" {
		t.Errorf("over QUIC: %q", body)
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("Pebble received %d orders, want 1", n)
	}
	if got := s.log.events("CertificateObtained"); len(got) != 1 {
		t.Errorf("CertificateObtained events: %v", got)
	}
	// certmagic's own logs reach the server's logger, at Debug.
	var certmagicLogs int
	for _, e := range s.log.events("") {
		if e.attrs["certmagic"] != "" && e.attrs[logging.CategoryKey] == logevents.CategoryACME && e.level == slog.LevelDebug {
			certmagicLogs++
		}
	}
	if certmagicLogs == 0 {
		t.Error("no certmagic log reached the server's logger")
	}
	// Keys are private to the user.
	filepath.WalkDir(a.Storage, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".key") {
			if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
			}
		}
		return nil
	})
}

func TestACMEHTTP01(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	a := acmeOptions(p, t.TempDir())
	a.Challenges = []string{ChallengeHTTP01}
	s := newACMEServer(t, p, a, true, HTTP1AndHTTP2)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	body, _ := getVerified(t, s.addr("https://"), p.Roots(t), false)
	if body != "hello over HTTP/2.0" {
		t.Errorf("got %q", body)
	}
	// The plain endpoint still serves the app, and unknown challenge
	// tokens are not the app's.
	resp, err := http.Get("http://" + s.addr("http://") + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello over HTTP/1.1" {
		t.Errorf("plain endpoint: %q", b)
	}
	resp, err = http.Get("http://" + s.addr("http://") + "/.well-known/acme-challenge/unknown")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown challenge: %d, want 404", resp.StatusCode)
	}
}

// TestACMERestartAndFleet: two servers with one storage folder make one
// order and both serve the certificate; a server started again loads it
// from storage without a new order.
func TestACMERestartAndFleet(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	storage := t.TempDir()
	s1 := newACMEServer(t, p, acmeOptions(p, storage), false, HTTP1AndHTTP2)
	s2 := newACMEServer(t, nil, acmeOptions(p, storage), false, HTTP1AndHTTP2)
	// Pebble validates on s1; whichever server orders, s1 answers the
	// challenge (from the shared storage when s2 ordered).
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*acmeServer{s1, s2} {
		wg.Go(func() { errs[i] = s.Start() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("server %d: Start: %v\nPebble:\n%s", i+1, err, p.Log)
		}
	}
	roots := p.Roots(t)
	_, leaf1 := getVerified(t, s1.addr("https://"), roots, false)
	_, leaf2 := getVerified(t, s2.addr("https://"), roots, false)
	if !leaf1.Equal(leaf2) {
		t.Errorf("the servers serve different certificates: serials %v and %v", leaf1.SerialNumber, leaf2.SerialNumber)
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("Pebble received %d orders from two servers sharing storage, want 1", n)
	}
	ordering := len(s1.log.events("CertificateOrdering")) + len(s2.log.events("CertificateOrdering"))
	if ordering != 1 {
		t.Errorf("%d servers ordered, want 1", ordering)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s1.Shutdown(ctx)
	s2.Shutdown(ctx)

	s3 := newACMEServer(t, p, acmeOptions(p, storage), false, HTTP1AndHTTP2)
	if err := s3.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	_, leaf3 := getVerified(t, s3.addr("https://"), roots, false)
	if !leaf3.Equal(leaf1) {
		t.Errorf("after a restart, another certificate: serial %v, was %v", leaf3.SerialNumber, leaf1.SerialNumber)
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("Pebble received %d orders after a restart with the same storage, want still 1", n)
	}
}

// TestACMEBadInput: each mistake is refused at start with a message that
// names it, and leaves no server running.
func TestACMEBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	cases := []struct {
		name string
		set  func(a *ACME)
		want []string
	}{
		{"IP", func(a *ACME) { a.Domains = []string{"192.0.2.1"} }, []string{`ACME domain "192.0.2.1"`, "IP address"}},
		{"IPv6", func(a *ACME) { a.Domains = []string{"2001:db8::1"} }, []string{`"2001:db8::1"`, "IP address"}},
		{"wildcard", func(a *ACME) { a.Domains = []string{"*.example.com"} }, []string{`"*.example.com"`, "DNS-01"}},
		{"no domains", func(a *ACME) { a.Domains = nil }, []string{"no domains", "--acme-domain"}},
		{"terms", func(a *ACME) { a.AgreeToTerms = false }, []string{"subscriber agreement", "AgreeToTerms"}},
		{"key type", func(a *ACME) { a.KeyType = "DSA" }, []string{`"DSA"`, "P256"}},
		{"challenge", func(a *ACME) { a.Challenges = []string{"dns-01"} }, []string{`"dns-01"`, "tls-alpn-01"}},
		{"storage", func(a *ACME) { a.Storage = filepath.Join(file, "acme") }, []string{"storage folder " + filepath.Join(file, "acme"), "cannot be written"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &ACME{Domains: []string{acmeTestDomain}, AgreeToTerms: true, Storage: t.TempDir(), CA: "https://127.0.0.1:1/dir"}
			c.set(a)
			s := newACMEServer(t, nil, a, false, HTTP1AndHTTP2)
			err := s.Start()
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if len(s.Addresses()) != 0 {
				t.Errorf("still listening on %v", s.Addresses())
			}
		})
	}
}

// TestACMEUnreachableCA: a CA that cannot be reached fails Start with its
// URL, quickly, and closes the endpoints.
func TestACMEUnreachableCA(t *testing.T) {
	a := &ACME{Domains: []string{acmeTestDomain}, AgreeToTerms: true, Storage: t.TempDir(), CA: "https://127.0.0.1:1/dir"}
	s := newACMEServer(t, nil, a, false, HTTP1AndHTTP2)
	start := time.Now()
	err := s.Start()
	if err == nil {
		t.Fatal("Start succeeded")
	}
	t.Logf("%v after %v", err, time.Since(start))
	for _, w := range []string{acmeTestDomain, "https://127.0.0.1:1/dir", "connection refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if s.State() != StateStopped {
		t.Errorf("state %v after a failed start", s.State())
	}
}

// TestACMERefused: a domain the CA refuses fails Start with the CA's
// reason.
func TestACMERefused(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{Blocklist: []string{acmeTestDomain}})
	s := newACMEServer(t, p, acmeOptions(p, t.TempDir()), false, HTTP1AndHTTP2)
	err := s.Start()
	if err == nil {
		t.Fatal("Start succeeded")
	}
	t.Log(err)
	for _, w := range []string{acmeTestDomain, p.Directory, "the CA said"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestACMECorruptedStorage: a stored certificate that cannot be read is
// a clear error at start that names the file.
func TestACMECorruptedStorage(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	storage := t.TempDir()
	s := newACMEServer(t, p, acmeOptions(p, storage), false, HTTP1AndHTTP2)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	s.Close()
	var crt string
	filepath.WalkDir(storage, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".crt") {
			crt = path
		}
		return nil
	})
	if crt == "" {
		t.Fatal("no certificate stored")
	}
	if err := os.WriteFile(crt, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = newACMEServer(t, p, acmeOptions(p, storage), false, HTTP1AndHTTP2)
	err := s.Start()
	if err == nil {
		t.Fatal("Start succeeded with a corrupted certificate")
	}
	for _, w := range []string{"the certificate of " + acmeTestDomain + " stored in " + filepath.Dir(crt), "cannot be used", "remove that folder"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestConfigACME: Kestrel:Acme is the default certificate of the https://
// endpoints without one, and the base of an endpoint's Certificate:Acme.
func TestConfigACME(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "appsettings.json")
	cfg, err := ParseConfig([]byte(`{"Kestrel": {
		"Acme": {"Domains": ["a.example.com"], "Email": "ops@example.com", "Staging": true, "AgreeToTerms": true, "Storage": "acme", "KeyType": "P384"},
		"Endpoints": {
			"A": {"Url": "https://127.0.0.1:0"},
			"B": {"Url": "https://127.0.0.1:0", "Certificate": {"Acme": {"Domains": ["b.example.com"], "Challenges": ["http-01"]}}},
			"Http": {"Url": "http://127.0.0.1:0"}}}}`), file, nil, []string{"Kestrel__Acme__OnDemandHosts__0=*.users.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: discardLogger()}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	def := s.DefaultHTTPS
	if def == nil || def.ACME == nil {
		t.Fatalf("DefaultHTTPS %+v, want ACME", def)
	}
	want := ACME{Domains: []string{"a.example.com"}, Email: "ops@example.com", Staging: true, AgreeToTerms: true,
		Storage: filepath.Join(dir, "acme"), KeyType: "P384", OnDemandHosts: []string{"*.users.example.com"}}
	if !reflect.DeepEqual(*def.ACME, want) {
		t.Errorf("Kestrel:Acme:\n got %+v\nwant %+v", *def.ACME, want)
	}
	if def.ACME.ca() != LetsEncryptStagingCA {
		t.Errorf("CA %s, want staging", def.ACME.ca())
	}
	var b *ACME
	for _, ep := range s.endpoints {
		if ep.opts.HTTPS != nil && ep.opts.HTTPS.ACME != nil {
			b = ep.opts.HTTPS.ACME
		}
	}
	if b == nil {
		t.Fatal("endpoint B has no ACME")
	}
	want.Domains, want.Challenges = []string{"b.example.com"}, []string{"http-01"}
	if !reflect.DeepEqual(*b, want) {
		t.Errorf("endpoint B:\n got %+v\nwant %+v", *b, want)
	}

	for _, tc := range []struct{ json, want string }{
		{`{"Kestrel": {"Acme": {"Domain": ["a.example.com"]}}}`, `unknown section "Kestrel:Acme:Domain" (did you mean "Kestrel:Acme:Domains"?)`},
		{`{"Kestrel": {"Acme": {"Domains": ["10.0.0.1"], "AgreeToTerms": true}}}`, `Kestrel:Acme: ACME domain "10.0.0.1": an IP address`},
		{`{"Kestrel": {"Acme": {"Domains": ["a.example.com"]}}}`, `Kestrel:Acme: ACME: the CA's subscriber agreement must be accepted`},
		{`{"Kestrel": {"Acme": {"Domains": ["a.example.com"], "AgreeToTerms": true, "CA": "letsencrypt"}}}`, `Kestrel:Acme:CA: "letsencrypt" is not the URL of an ACME directory`},
		{`{"Kestrel": {"Endpoints": {"W": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": "a.pfx", "Acme": {"Domains": ["a.example.com"]}}}}}}`, `Kestrel:Endpoints:W:Certificate: Path and Acme both give the certificate; keep one`},
		{`{"Kestrel": {"Acme": {"Domains": ["a.example.com"], "AgreeToTerms": true}, "Certificates": {"Default": {"Path": "a.pfx"}}}}`, `Kestrel:Acme and Kestrel:Certificates:Default both give the default certificate`},
	} {
		cfg, err := ParseConfig([]byte(tc.json), file, nil, nil)
		if err == nil {
			err = cfg.Apply(&Server{Logger: discardLogger()})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.json, err, tc.want)
		}
	}
}

// TestConfigACMEWithPebble: a configuration file's Kestrel:Acme section
// gets its endpoint a certificate, with HTTP-01 on its http:// endpoint.
func TestConfigACMEWithPebble(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte(`{"Kestrel": {
		"Acme": {"Domains": ["`+acmeTestDomain+`"], "AgreeToTerms": true, "Storage": "acme", "CA": "`+p.Directory+`",
			"CARootsFile": "`+p.APIRootsFile+`", "Challenges": ["http-01"]},
		"Endpoints": {"Https": {"Url": "https://127.0.0.1:0"}, "Http": {"Url": "http://127.0.0.1:0"}}}}`), filepath.Join(dir, "appsettings.json"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newACMEServer(t, p, nil, false, 0)
	if err := cfg.Apply(s.Server); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	body, _ := getVerified(t, s.addr("https://"), p.Roots(t), false)
	if body != "hello over HTTP/2.0" {
		t.Errorf("got %q", body)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme", "certificates")); err != nil {
		t.Errorf("the storage folder is not relative to the configuration file: %v", err)
	}
}

// TestACMERenewal: a certificate is renewed in the background before it
// expires: new connections get the new one, a connection made before
// goes on; the renewal and the expiry are in the metrics. When the CA
// is then unreachable, the failed renewal is a Warning with the CA's
// error, and the current certificate is still served.
func TestACMERenewal(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{ValidityPeriod: 40 * time.Second})
	a := acmeOptions(p, t.TempDir())
	// A name of its own: certmagic's renewal backoff after a failure is
	// per name and process-wide, and this test ends with one.
	domain := fmt.Sprintf("renewal-%d.kestrel.test", time.Now().UnixNano())
	a.Domains = []string{domain}
	a.RenewalWindowRatio = 0.95 // renew 2 s after issuance
	a.renewCheck = 200 * time.Millisecond
	reader, mp := metricstest.New()
	s := newACMEServer(t, p, a, false, HTTP1AndHTTP2)
	s.MeterProvider = mp
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	roots := p.Roots(t)
	// One HTTP/2 connection, kept across the renewal.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: domain}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	kept := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(c *http.Client) *x509.Certificate {
		t.Helper()
		resp, err := c.Get("https://" + s.addr("https://") + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0]
	}
	first := get(kept)
	waitLong(t, "a renewal", func() bool { return len(renewals(s.log, "CertificateObtained")) > 0 })
	if again := get(kept); !again.Equal(first) {
		t.Errorf("the connection made before the renewal was replaced")
	}
	// certmagic logs the renewal as it stores the new certificate, and
	// puts it in its cache just after: new connections get it from then.
	waitLong(t, "new connection with the renewed certificate", func() bool {
		_, renewed := getVerifiedName(t, s.addr("https://"), domain, roots, false)
		return !renewed.Equal(first)
	})
	if n := metricstest.Total(metricstest.Points(t, reader, "kestrel.acme.certificate.renewals")); n < 1 {
		t.Errorf("kestrel.acme.certificate.renewals = %v, want 1 or more", n)
	}
	expiry := metricstest.Match(metricstest.Points(t, reader, "kestrel.acme.certificate.expiry"), map[string]string{"tls.server.name": domain})
	if len(expiry) != 1 || expiry[0].Value < float64(first.NotAfter.Unix()) {
		t.Errorf("kestrel.acme.certificate.expiry: %+v, want at least %d", expiry, first.NotAfter.Unix())
	}

	p.Stop()
	waitLong(t, "a failed renewal", func() bool { return len(renewals(s.log, "CertificateFailed")) > 0 })
	failed := renewals(s.log, "CertificateFailed")[0]
	if failed.level != slog.LevelWarn || !strings.Contains(failed.msg, "the current one is still served") || !strings.Contains(failed.msg, "connection refused") {
		t.Errorf("failed renewal logged as %v %q", failed.level, failed.msg)
	}
	getVerifiedName(t, s.addr("https://"), domain, roots, false) // still served
	if n := metricstest.Total(metricstest.Points(t, reader, "kestrel.acme.certificate.failures")); n < 1 {
		t.Errorf("kestrel.acme.certificate.failures = %v, want 1 or more", n)
	}
}

// renewals returns the events called name about renewals.
func renewals(r *logRecorder, name string) []event {
	var out []event
	for _, e := range r.events(name) {
		if e.attrs["Renewal"] == "true" {
			out = append(out, e)
		}
	}
	return out
}

// waitLong polls cond for 20 s.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("no %s within 20 s", what)
}

// TestACMEOnDemand: a name of OnDemandHosts gets its certificate during
// its first handshake; a name not listed gets none, and no order.
func TestACMEOnDemand(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	a := acmeOptions(p, t.TempDir())
	a.Domains = nil
	a.OnDemandHosts = []string{"*.od.kestrel.test"}
	s := newACMEServer(t, p, a, false, HTTP1AndHTTP2)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if n := p.Orders(); n != 0 {
		t.Errorf("%d orders at start, want none", n)
	}
	roots := p.Roots(t)
	body, leaf := getVerifiedName(t, s.addr("https://"), "app.od.kestrel.test", roots, false)
	if body != "hello over HTTP/2.0" || !slices.Contains(leaf.DNSNames, "app.od.kestrel.test") {
		t.Errorf("got %q from a certificate for %v", body, leaf.DNSNames)
	}
	for _, name := range []string{"other.kestrel.test", "a.b.od.kestrel.test"} {
		c, err := tls.Dial("tcp", s.addr("https://"), &tls.Config{RootCAs: roots, ServerName: name})
		if err == nil {
			c.Close()
			t.Errorf("%s: a handshake succeeded", name)
		}
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("%d orders, want 1 (for the allowed name only)", n)
	}
}

// TestACMENoChallenge: when neither challenge can be answered, Start
// says which endpoint is missing.
func TestACMENoChallenge(t *testing.T) {
	for _, tc := range []struct {
		name       string
		protocols  Protocols
		plain      Protocols // of an http:// endpoint; 0: none
		challenges []string
		want       []string
	}{
		{"HTTP/3 only", HTTP3, 0, nil, []string{"no ACME challenge can be answered", "https://127.0.0.1:0 does not", "add an http:// endpoint"}},
		{"HTTP-01 without an http endpoint", HTTP1AndHTTP2, 0, []string{ChallengeHTTP01}, []string{"TLS-ALPN-01 is not among ACME.Challenges", "the server has none", "add an http:// endpoint"}},
		// The CA asks over HTTP/1.1, which an HTTP/2-only endpoint
		// refuses.
		{"HTTP-01 with an HTTP/2-only http endpoint", HTTP1AndHTTP2, HTTP2, []string{ChallengeHTTP01}, []string{"TLS-ALPN-01 is not among ACME.Challenges", "serving HTTP/1.1", "the server has none", "add an http:// endpoint"}},
		{"HTTP/3 only, HTTP/2-only http endpoint", HTTP3, HTTP2, nil, []string{"no ACME challenge can be answered", "serving HTTP/1.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &ACME{Domains: []string{acmeTestDomain}, AgreeToTerms: true, Storage: t.TempDir(), CA: "https://127.0.0.1:1/dir", Challenges: tc.challenges}
			s := newACMEServer(t, nil, a, false, tc.protocols)
			if tc.plain != 0 {
				if err := s.ListenEndpoint(Endpoint{URL: "http://127.0.0.1:0", Protocols: tc.plain}); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Start()
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestACMEReload: an ACME endpoint added by Reload gets its certificate
// before Reload returns, through HTTP-01 on the plain endpoint that was
// already serving.
func TestACMEReload(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "appsettings.json")
	parse := func(json string) *Config {
		t.Helper()
		c, err := ParseConfig([]byte(json), file, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	s := newACMEServer(t, p, nil, false, 0)
	if err := parse(`{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`).Apply(s.Server); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	err := s.Reload(parse(`{"Kestrel": {
		"Acme": {"Domains": ["` + acmeTestDomain + `"], "AgreeToTerms": true, "Storage": "acme", "CA": "` + p.Directory + `",
			"CARootsFile": "` + p.APIRootsFile + `", "Challenges": ["http-01"]},
		"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}, "Https": {"Url": "https://127.0.0.1:0"}}}}`))
	if err != nil {
		t.Fatalf("Reload: %v\nPebble:\n%s", err, p.Log)
	}
	if body, _ := getVerified(t, s.addr("https://"), p.Roots(t), false); body != "hello over HTTP/2.0" {
		t.Errorf("got %q", body)
	}
}

// TestACMETLSHandshakeCallback: an ACME endpoint with a
// TLSHandshakeCallback gets its certificate through TLS-ALPN-01: the
// CA's validation handshakes do not reach the callback, whose answer
// (nil, or a configuration of its own) could not serve the challenge's
// certificate; the clients' handshakes do.
func TestACMETLSHandshakeCallback(t *testing.T) {
	own, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		config *tls.Config // the callback's answer
	}{
		{"nil", nil},
		{"own config", &tls.Config{Certificates: []tls.Certificate{*own}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := acmetest.Start(t, acmetest.Options{})
			a := acmeOptions(p, t.TempDir())
			a.Challenges = []string{ChallengeTLSALPN01}
			var mu sync.Mutex
			var offered [][]string
			s := newACMEServer(t, p, nil, false, 0)
			err := s.ListenEndpoint(Endpoint{URL: "https://127.0.0.1:0", Protocols: HTTP1AndHTTP2, HTTPS: &HTTPS{ACME: a,
				TLSHandshakeCallback: func(hello *ClientHello) (*tls.Config, error) {
					mu.Lock()
					offered = append(offered, hello.SupportedProtos)
					mu.Unlock()
					return tc.config, nil
				}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
			}
			mu.Lock()
			if len(offered) != 0 {
				t.Errorf("the callback saw the CA's handshakes, offering %v", offered)
			}
			mu.Unlock()
			if tc.config != nil {
				return // the callback's certificate is served to clients
			}
			body, leaf := getVerified(t, s.addr("https://"), p.Roots(t), false)
			if body != "hello over HTTP/2.0" || !slices.Contains(leaf.DNSNames, acmeTestDomain) {
				t.Errorf("got %q with the certificate of %v", body, leaf.DNSNames)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(offered) != 1 {
				t.Errorf("the callback saw %d client handshakes, want 1", len(offered))
			}
		})
	}
}

// TestACMEStateWhileObtaining: while Start gets the ACME certificates,
// the server is starting, not ready: its readiness check answers 503
// (the HTTPS endpoint has no certificate to serve yet) until Start has
// succeeded, and then 200.
func TestACMEStateWhileObtaining(t *testing.T) {
	// A CA that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, tc := range []struct {
		name string
		ca   func(t *testing.T) (*ACME, *acmetest.Pebble)
	}{
		{"pending", func(t *testing.T) (*ACME, *acmetest.Pebble) {
			return &ACME{Domains: []string{acmeTestDomain}, AgreeToTerms: true, Storage: t.TempDir(), CA: "https://" + ln.Addr().String() + "/dir",
				Challenges: []string{ChallengeHTTP01}}, nil
		}},
		{"obtained", func(t *testing.T) (*ACME, *acmetest.Pebble) {
			p := acmetest.Start(t, acmetest.Options{})
			a := acmeOptions(p, t.TempDir())
			a.Challenges = []string{ChallengeHTTP01}
			return a, p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, p := tc.ca(t)
			s := newACMEServer(t, p, a, true, HTTP1AndHTTP2)
			s.Handler = s.ReadinessHandler()
			started := make(chan error, 1)
			go func() { started <- s.Start() }()
			ready := func() (int, string) {
				t.Helper()
				resp, err := http.Get("http://" + s.addr("http://") + "/")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, strings.TrimSpace(string(b))
			}
			if p == nil {
				// Start is pending: the plain endpoint listens.
				deadline := time.Now().Add(5 * time.Second)
				for s.addr("http://") == "" && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(200 * time.Millisecond)
				if st := s.State(); st != StateStarting {
					t.Errorf("State while the certificate is obtained: %v, want starting", st)
				}
				if code, body := ready(); code != http.StatusServiceUnavailable || body != "starting" {
					t.Errorf("readiness while the certificate is obtained: %d %q, want 503 starting", code, body)
				}
				s.Close()
				if err := <-started; err == nil {
					t.Error("Start succeeded")
				}
				return
			}
			if err := <-started; err != nil {
				t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
			}
			if st := s.State(); st != StateReady {
				t.Errorf("State after Start: %v, want ready", st)
			}
			if code, body := ready(); code != http.StatusOK || body != "ready" {
				t.Errorf("readiness after Start: %d %q, want 200 ready", code, body)
			}
		})
	}
}

// TestACMEReloadRemovesHost: a Reload that removes the ACME endpoint
// stops reporting its certificate's expiry, which is no longer served
// nor renewed (an alert on the expiry would fire for it); a Reload that
// keeps it keeps it.
func TestACMEReloadRemovesHost(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "appsettings.json")
	parse := func(json string) *Config {
		t.Helper()
		c, err := ParseConfig([]byte(json), file, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	withACME := `{"Kestrel": {
		"Acme": {"Domains": ["` + acmeTestDomain + `"], "AgreeToTerms": true, "Storage": "acme", "CA": "` + p.Directory + `",
			"CARootsFile": "` + p.APIRootsFile + `", "Challenges": ["http-01"]},
		"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}, "Https": {"Url": "https://127.0.0.1:0"}}}}`
	reader, mp := metricstest.New()
	s := newACMEServer(t, p, nil, false, 0)
	s.MeterProvider = mp
	if err := parse(withACME).Apply(s.Server); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	expiry := func() int {
		return len(metricstest.Match(metricstest.Points(t, reader, "kestrel.acme.certificate.expiry"), map[string]string{"tls.server.name": acmeTestDomain}))
	}
	if n := expiry(); n != 1 {
		t.Fatalf("%d expiry points before the Reload, want 1", n)
	}
	if err := s.Reload(parse(strings.Replace(withACME, `"Storage"`, `"Email": "ops@kestrel.test", "Storage"`, 1))); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if n := expiry(); n != 1 {
		t.Errorf("%d expiry points after a Reload that keeps the host, want 1", n)
	}
	if err := s.Reload(parse(`{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if n := expiry(); n != 0 {
		t.Errorf("%d expiry points after the ACME endpoint is removed, want 0", n)
	}
}

// TestConfigACMEWithSni: an endpoint's Sni entries and a certificate from
// ACME do not go together, and the errors say so rather than send the
// user round in circles: an endpoint's own Certificate:Acme with Sni
// entries is refused at its Sni key (the entries' own files were refused
// at Start, after an entry without one was told to get one), and an
// entry without a certificate is told that the default one comes from
// ACME (Kestrel:Acme), not that there is none.
func TestConfigACMEWithSni(t *testing.T) {
	dir := t.TempDir()
	const acme = `"Domains": ["a.example.com"], "AgreeToTerms": true, "Storage": "acme", "CA": "https://127.0.0.1:1/dir"`
	for _, tc := range []struct {
		name, json string
		want       []string
	}{
		{"own Acme, entry with a file", `{"Kestrel": {"Endpoints": {"A": {"Url": "https://127.0.0.1:0",
			"Certificate": {"Acme": {` + acme + `}}, "Sni": {"x.example.com": {"Certificate": {"Path": "x.pfx"}}}}}}}`,
			[]string{"Kestrel:Endpoints:A:Sni", "ACME", "no Sni entries"}},
		{"own Acme, entry without", `{"Kestrel": {"Endpoints": {"A": {"Url": "https://127.0.0.1:0",
			"Certificate": {"Acme": {` + acme + `}}, "Sni": {"x.example.com": {"Protocols": "Http1"}}}}}}`,
			[]string{"Kestrel:Endpoints:A:Sni", "ACME", "no Sni entries"}},
		{"Kestrel:Acme, entry without", `{"Kestrel": {"Acme": {` + acme + `}, "Endpoints": {"A": {"Url": "https://127.0.0.1:0",
			"Sni": {"x.example.com": {"Protocols": "Http1"}}}}}}`,
			[]string{"Kestrel:Endpoints:A", `SNI entry "x.example.com" has no certificate`, "the default one comes from ACME"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.json), filepath.Join(dir, "appsettings.json"), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{Logger: discardLogger()}
			if err = cfg.Apply(s); err == nil {
				err = s.Start()
				s.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestACMEDuplicateDomains: names that differ only in case or a final
// dot are one domain: one certificate, one order, listed once, with no
// wait on the storage lock the duplicates would take in turn.
func TestACMEDuplicateDomains(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	a := acmeOptions(p, t.TempDir())
	a.Domains = []string{acmeTestDomain, strings.ToUpper(acmeTestDomain), acmeTestDomain + "."}
	s := newACMEServer(t, p, a, false, HTTP1AndHTTP2)
	start := time.Now()
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	t.Logf("Start took %v", time.Since(start))
	if n := p.Orders(); n != 1 {
		t.Errorf("Pebble received %d orders, want 1", n)
	}
	pending := s.log.events("CertificatesPending")
	if len(pending) != 1 || strings.Count(pending[0].msg, acmeTestDomain) != 1 {
		t.Errorf("CertificatesPending: %v, want %s listed once", pending, acmeTestDomain)
	}
	if got := s.log.events("CertificateOrdering"); len(got) != 1 {
		t.Errorf("%d CertificateOrdering events, want 1", len(got))
	}
	if !reflect.DeepEqual(a.Domains, []string{acmeTestDomain, strings.ToUpper(acmeTestDomain), acmeTestDomain + "."}) {
		t.Errorf("the caller's Domains were changed: %v", a.Domains)
	}
}

// TestACMECorruptedAccount: a stored ACME account that cannot be read,
// when a certificate is to be ordered, is a clear error at start that
// names its folder to remove, as a corrupted certificate's is.
func TestACMECorruptedAccount(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	storage := t.TempDir()
	s := newACMEServer(t, p, acmeOptions(p, storage), false, HTTP1AndHTTP2)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
	}
	s.Close()
	var users string
	filepath.WalkDir(storage, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "users" {
			users = path
		}
		if err == nil && !d.IsDir() && strings.Contains(path, string(filepath.Separator)+"users"+string(filepath.Separator)) {
			os.WriteFile(path, []byte("garbage"), 0o600)
		}
		return nil
	})
	if users == "" {
		t.Fatal("no account stored")
	}
	os.RemoveAll(filepath.Join(storage, "certificates")) // a new order, with the account
	s = newACMEServer(t, p, acmeOptions(p, storage), false, HTTP1AndHTTP2)
	err := s.Start()
	if err == nil {
		t.Fatal("Start succeeded with a corrupted account")
	}
	for _, w := range []string{"the ACME account stored in " + users, "cannot be used", "remove that folder"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestACMEClientCertificateMode: an ACME endpoint that requires client
// certificates gets its certificate through TLS-ALPN-01, over TLS 1.2
// too, where the CA's validation, which has no client certificate, was
// refused: the validation handshakes ask for none. Clients still must
// send one.
func TestACMEClientCertificateMode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxVersion uint16
	}{
		{"TLS 1.2", tls.VersionTLS12},
		{"TLS 1.3", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := acmetest.Start(t, acmetest.Options{})
			a := acmeOptions(p, t.TempDir())
			a.Challenges = []string{ChallengeTLSALPN01}
			s := newACMEServer(t, p, nil, false, 0)
			err := s.ListenEndpoint(Endpoint{URL: "https://127.0.0.1:0", Protocols: HTTP1AndHTTP2,
				HTTPS: &HTTPS{ACME: a, ClientCertificateMode: RequireCertificate, MaxVersion: tc.maxVersion}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatalf("Start: %v\nPebble:\n%s", err, p.Log)
			}
			c, err := tls.Dial("tcp", s.addr("https://"), &tls.Config{RootCAs: p.Roots(t), ServerName: acmeTestDomain, NextProtos: []string{"h2"}})
			if err == nil {
				// TLS 1.3: the refusal comes with the first read.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Read(make([]byte, 1))
				c.Close()
			}
			if err == nil {
				t.Error("a client without a certificate was served")
			}
			deadline := time.Now().Add(5 * time.Second)
			for !slices.ContainsFunc(s.log.events("AuthenticationFailed"), func(e event) bool {
				return strings.Contains(e.attrs["Exception"], "didn't provide a certificate")
			}) {
				if time.Now().After(deadline) {
					t.Fatalf("no AuthenticationFailed event for the missing client certificate: %v", s.log.events("AuthenticationFailed"))
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestReloadRefusedStopsACMEManagers: a reload refused after the ACME
// manager of an endpoint it adds was made (a port it cannot bind, a
// certificate file missing) stops that manager, whose certificate cache
// runs a goroutine. Each refused reload left its own running until a
// reload was applied: a configuration management tool sending SIGHUP
// every few minutes to a server whose file named a held port grew the
// process by a goroutine and a cache each time.
func TestReloadRefusedStopsACMEManagers(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	storage := filepath.Join(t.TempDir(), "acme")
	acmeSection := fmt.Sprintf(`"Acme": {"Domains": ["a.example.com"], "AgreeToTerms": true, "Storage": %q, "CA": "https://127.0.0.1:1/directory"}`, storage)
	tests := []struct {
		name, other string
	}{
		{"a port held by another socket", fmt.Sprintf(`"Taken": {"Url": "http://%s"}`, held.Addr())},
		{"a certificate file missing", fmt.Sprintf(`"Missing": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": %q}}`, filepath.Join(t.TempDir(), "missing.pfx"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := startConfigured(t, newGated(), `{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`)
			cfg := `{"Kestrel": {` + acmeSection + `, "Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}, "Https": {"Url": "https://127.0.0.1:0"}, ` + tt.other + `}}}`
			for i := range 30 {
				if err := s.Reload(parseTestConfig(t, cfg)); err == nil || reloadApplied(err) {
					t.Fatalf("reload %d: %v, want it refused", i, err)
				}
			}
			if n := len(s.acme.all()); n != 0 {
				t.Errorf("%d ACME managers left running after 30 refused reloads, want 0", n)
			}
		})
	}
}
