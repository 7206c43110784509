package kestrel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/logging"
)

// The directories of Let's Encrypt's ACME CAs, for ACME.CA.
const (
	// LetsEncryptCA is Let's Encrypt's production CA, the default.
	LetsEncryptCA = certmagic.LetsEncryptProductionCA
	// LetsEncryptStagingCA is Let's Encrypt's staging CA: its
	// certificates are not trusted by browsers, and its rate limits are
	// far higher; use it to try a set-up (ACME.Staging).
	LetsEncryptStagingCA = certmagic.LetsEncryptStagingCA
)

// The ACME challenges, for ACME.Challenges.
const (
	// ChallengeTLSALPN01 is answered in the TLS handshake of the HTTPS
	// endpoint itself (the CA connects to port 443).
	ChallengeTLSALPN01 = "tls-alpn-01"
	// ChallengeHTTP01 is answered on a plain http:// endpoint, under
	// /.well-known/acme-challenge/, ahead of the application (the CA
	// connects to port 80).
	ChallengeHTTP01 = "http-01"
)

// acmeALPN is the ALPN protocol of the CA's TLS-ALPN-01 validation
// handshakes (RFC 8737), which offer it alone.
const acmeALPN = acmez.ACMETLS1Protocol

// ACME gets an HTTPS endpoint's certificates from an ACME CA (RFC 8555),
// such as Let's Encrypt, instead of files: they are obtained when the
// server starts, kept in Storage, renewed in the background before they
// expire, and their OCSP responses stapled. Package certmagic (Caddy's)
// does the work; several servers that share Storage (a folder on a shared
// disk) coordinate through its lock files, so that one of them orders a
// certificate and the others load it.
//
// The CA checks that the server answers for each domain with a
// challenge: TLS-ALPN-01 on the HTTPS endpoint (the CA connects to port
// 443) or HTTP-01 on a plain http:// endpoint of the same server (port
// 80), which answers /.well-known/acme-challenge/ ahead of the
// application.
type ACME struct {
	// Domains are the names to get certificates for, obtained when the
	// server starts. IP addresses and wildcards are refused: Let's
	// Encrypt issues neither through these challenges.
	Domains []string

	// Email is the contact address of the ACME account, where the CA
	// writes about expiring certificates and problems. Optional but
	// recommended.
	Email string

	// CA is the URL of the CA's ACME directory; empty means
	// LetsEncryptCA, or LetsEncryptStagingCA with Staging.
	CA string

	// Staging, when CA is empty, uses LetsEncryptStagingCA.
	Staging bool

	// AgreeToTerms says that you agree to the CA's subscriber agreement
	// (Let's Encrypt's: https://letsencrypt.org/repository/). It is
	// required: the server does not ask.
	AgreeToTerms bool

	// Storage is the folder of the certificates, their keys and the
	// account; empty means kestrel/acme in the user's data folder
	// ($XDG_DATA_HOME, or ~/.local/share). Files are written 0600 and
	// folders 0700. Servers that share the folder share the certificates.
	Storage string

	// KeyType is the certificate key's type: "P256" (the default),
	// "P384", "RSA2048", "RSA4096" or "Ed25519".
	KeyType string

	// Challenges are the challenge types the server may answer,
	// ChallengeTLSALPN01 and ChallengeHTTP01; empty means both, HTTP-01
	// only when the server has a plain http:// endpoint.
	Challenges []string

	// OnDemandHosts allows certificates for these further names to be
	// obtained during the first TLS handshake that asks for one, rather
	// than at start. Only the names listed are ever ordered: obtaining a
	// certificate for any name a client sends would let anyone exhaust
	// the CA's rate limits. An entry "*.example.com" allows the names
	// one label below example.com.
	OnDemandHosts []string

	// CARoots, when set, are the roots trusted for the CA's own HTTPS
	// API, for a private CA; nil means the system's roots. CARootsFile
	// is the same as a PEM file.
	CARoots     *x509.CertPool
	CARootsFile string

	// RenewalWindowRatio is the part of a certificate's lifetime left
	// when it is renewed; zero means a third (certmagic's default), or
	// the CA's renewal information (ARI) when it gives one.
	RenewalWindowRatio float64

	// renewCheck is how often the certificates are checked for renewal;
	// zero means certmagic's default (10 minutes). For tests.
	renewCheck time.Duration
}

// acmeKeyTypes maps ACME.KeyType's names to certmagic's.
var acmeKeyTypes = map[string]certmagic.KeyType{
	"p256": certmagic.P256, "p384": certmagic.P384, "rsa2048": certmagic.RSA2048,
	"rsa4096": certmagic.RSA4096, "ed25519": certmagic.ED25519,
}

// check validates the options; name is the endpoint, for messages.
func (a *ACME) check(name string) error {
	if len(a.Domains) == 0 && len(a.OnDemandHosts) == 0 {
		return fmt.Errorf("kestrel: %s: ACME has no domains: list the names to get certificates for (ACME.Domains, Kestrel:Acme:Domains, --acme-domain)", name)
	}
	for _, d := range a.Domains {
		if err := checkACMEDomain(d); err != nil {
			return fmt.Errorf("kestrel: %s: ACME domain %q: %w", name, d, err)
		}
	}
	for _, d := range a.OnDemandHosts {
		if err := checkACMEDomain(strings.TrimPrefix(d, "*.")); err != nil {
			return fmt.Errorf("kestrel: %s: ACME on-demand host %q: %w", name, d, err)
		}
	}
	if !a.AgreeToTerms {
		return fmt.Errorf("kestrel: %s: ACME: the CA's subscriber agreement must be accepted: read it, then set ACME.AgreeToTerms (Kestrel:Acme:AgreeToTerms true, or --acme-agree)", name)
	}
	if a.KeyType != "" {
		if _, ok := acmeKeyTypes[strings.ToLower(a.KeyType)]; !ok {
			return fmt.Errorf("kestrel: %s: ACME key type %q: use P256, P384, RSA2048, RSA4096 or Ed25519", name, a.KeyType)
		}
	}
	for _, c := range a.Challenges {
		if c != ChallengeTLSALPN01 && c != ChallengeHTTP01 {
			return fmt.Errorf("kestrel: %s: ACME challenge %q: use %q or %q (DNS-01 is not supported)", name, c, ChallengeTLSALPN01, ChallengeHTTP01)
		}
	}
	if a.RenewalWindowRatio < 0 || a.RenewalWindowRatio >= 1 {
		return fmt.Errorf("kestrel: %s: ACME renewal window ratio %v: use a fraction between 0 and 1, such as 0.33", name, a.RenewalWindowRatio)
	}
	return nil
}

// checkACMEDomain refuses names the HTTP-01 and TLS-ALPN-01 challenges
// cannot prove.
func checkACMEDomain(d string) error {
	if _, err := netip.ParseAddr(strings.Trim(d, "[]")); err == nil {
		return errors.New("an IP address: public CAs issue certificates for domain names; use a name that resolves to this server")
	}
	switch {
	case d == "":
		return errors.New("empty name")
	case strings.Contains(d, "*"):
		return errors.New("wildcard certificates need the DNS-01 challenge, which this server does not answer; list each name instead, or allow them with OnDemandHosts")
	case strings.Contains(d, ":") || strings.Contains(d, "/"):
		return errors.New("give a host name alone, without scheme, port or path")
	}
	if strings.EqualFold(d, "localhost") || strings.HasSuffix(strings.ToLower(d), ".localhost") {
		return errors.New("localhost cannot be validated by a CA; use the development certificate (kestrel dev-certs) for local work")
	}
	return nil
}

// ca is the directory URL in effect.
func (a *ACME) ca() string {
	switch {
	case a.CA != "":
		return a.CA
	case a.Staging:
		return LetsEncryptStagingCA
	}
	return LetsEncryptCA
}

// storage is the storage folder in effect.
func (a *ACME) storage() (string, error) {
	if a.Storage != "" {
		return a.Storage, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "kestrel", "acme"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no ACME.Storage and no home folder for the default one (%w): set ACME.Storage (Kestrel:Acme:Storage)", err)
	}
	return filepath.Join(home, ".local", "share", "kestrel", "acme"), nil
}

// checkWritable makes dir and proves that files can be written in it,
// leaving nothing behind.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".kestrel-write-test-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, werr := f.Write([]byte("kestrel"))
	cerr := f.Close()
	os.Remove(name)
	return errors.Join(werr, cerr)
}

// acmeManager gets and renews the certificates of one ACME configuration
// for the endpoints that use it.
type acmeManager struct {
	name    string // the first endpoint's name, for messages
	opts    ACME   // a copy, as the endpoint had it at Start
	log     *slog.Logger
	metrics *metrics.Metrics
	cache   *certmagic.Cache
	magic   *certmagic.Config // the Domains, obtained at start
	demand  *certmagic.Config // the OnDemandHosts; nil without
	issuer  *certmagic.ACMEIssuer
	tlsALPN bool // the challenge is allowed

	ctx    context.Context // ends when the server stops
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	ready   bool // the issuer's challenge settings are made: HTTP-01 may read them
	stopped bool
	expiry  map[string]time.Time // of the certificates served, by domain

	failStart map[string]context.CancelCauseFunc // ends the start's obtain of a domain at its first failure
}

// acmeSet is a server's ACME managers, one per ACME configuration.
type acmeSet struct {
	used     atomic.Bool // a manager was made: plain endpoints answer HTTP-01
	mu       sync.Mutex
	managers map[*ACME]*acmeManager
}

// all returns the managers.
func (s *acmeSet) all() []*acmeManager {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*acmeManager, 0, len(s.managers))
	for _, m := range s.managers {
		out = append(out, m)
	}
	return out
}

// acmeEndpoint builds the TLS configuration of an endpoint whose
// certificates come from h.ACME.
func (s *Server) acmeEndpoint(name string, h *HTTPS, protocols Protocols) (*tlsEndpoint, error) {
	if h.Certificate != nil || h.CertificateFile != "" || len(h.SNI) > 0 || h.ServerCertificateSelector != nil {
		return nil, fmt.Errorf("kestrel: %s: the certificate comes from ACME and from a file or SNI; choose one", name)
	}
	m, err := s.acmeManagerFor(name, h.ACME)
	if err != nil {
		return nil, err
	}
	withACME := *h
	withACME.ACME = nil
	withACME.ServerCertificateSelector = m.getCertificate
	withACME.acmeTLSALPN = m.tlsALPN
	te, err := withACME.build(name, s.log.With(logging.Category(logevents.CategoryKestrel)), protocols)
	if err != nil {
		return nil, err
	}
	te.acme = m
	return te, nil
}

// acmeManagerFor returns the manager of the configuration a, made on
// first use.
func (s *Server) acmeManagerFor(name string, a *ACME) (*acmeManager, error) {
	s.acme.mu.Lock()
	defer s.acme.mu.Unlock()
	if m := s.acme.managers[a]; m != nil {
		return m, nil
	}
	if err := a.check(name); err != nil {
		return nil, err
	}
	opts := *a
	// Names that differ in case or a final dot are one domain: ordered
	// once, rather than in turn behind its storage lock.
	opts.Domains = make([]string, 0, len(a.Domains))
	for _, d := range a.Domains {
		if d = strings.ToLower(strings.TrimSuffix(d, ".")); !slices.Contains(opts.Domains, d) {
			opts.Domains = append(opts.Domains, d)
		}
	}
	dir, err := opts.storage()
	if err != nil {
		return nil, fmt.Errorf("kestrel: %s: %w", name, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, fmt.Errorf("kestrel: %s: the ACME storage folder %s cannot be written (%w): make it writable by the user the server runs as, or set ACME.Storage (Kestrel:Acme:Storage) to a folder that is", name, dir, err)
	}
	roots := opts.CARoots
	if opts.CARootsFile != "" {
		pem, err := os.ReadFile(opts.CARootsFile)
		if err != nil {
			return nil, fmt.Errorf("kestrel: %s: ACME CA roots: %w", name, err)
		}
		if roots == nil {
			roots = x509.NewCertPool()
		} else {
			roots = roots.Clone()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kestrel: %s: ACME CA roots: %s holds no PEM certificate", name, opts.CARootsFile)
		}
	}
	keyType := certmagic.P256
	if opts.KeyType != "" {
		keyType = acmeKeyTypes[strings.ToLower(opts.KeyType)]
	}
	m := &acmeManager{name: name, opts: opts, log: s.log, metrics: s.metrics, expiry: map[string]time.Time{}, failStart: map[string]context.CancelCauseFunc{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	zl := newZapLogger(s.log.With(logging.Category(logevents.CategoryACME)))
	var magic *certmagic.Config
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		RenewCheckInterval: opts.renewCheck,
		Logger:             zl,
	})
	storage := &certmagic.FileStorage{Path: dir}
	template := certmagic.Config{
		RenewalWindowRatio: opts.RenewalWindowRatio,
		OnEvent:            m.onEvent,
		Storage:            storage,
		KeySource:          certmagic.StandardKeyGenerator{KeyType: keyType},
		Logger:             zl,
	}
	magic = certmagic.New(m.cache, template)
	m.tlsALPN = len(opts.Challenges) == 0 || slices.Contains(opts.Challenges, ChallengeTLSALPN01)
	m.issuer = certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA:                      opts.ca(),
		TestCA:                  opts.ca(), // never certmagic's default (Let's Encrypt staging)
		Email:                   opts.Email,
		Agreed:                  true,
		TrustedRoots:            roots,
		DisableTLSALPNChallenge: !m.tlsALPN,
		// certmagic fills an empty e-mail address from the process's
		// other configurations; the account gets the one configured.
		NewAccountFunc: func(_ context.Context, _ *certmagic.ACMEIssuer, acct acme.Account) (acme.Account, error) {
			acct.Contact = nil
			if opts.Email != "" {
				acct.Contact = []string{"mailto:" + opts.Email}
			}
			return acct, nil
		},
		// HTTP-01 is turned off in start when no endpoint can answer it.
		Logger: zl,
	})
	magic.Issuers = []certmagic.Issuer{m.issuer}
	if len(opts.OnDemandHosts) > 0 {
		demand := template
		demand.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: func(_ context.Context, name string) error {
			if m.onDemandAllowed(name) {
				return nil
			}
			return fmt.Errorf("%q is not in ACME.OnDemandHosts", name)
		}}
		m.demand = certmagic.New(m.cache, demand)
		m.demand.Issuers = magic.Issuers
	}
	m.magic = magic
	if s.acme.managers == nil {
		s.acme.managers = map[*ACME]*acmeManager{}
	}
	s.acme.managers[a] = m
	s.acme.used.Store(true)
	return m, nil
}

// onDemandAllowed reports whether name is one of OnDemandHosts.
func (m *acmeManager) onDemandAllowed(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, h := range m.opts.OnDemandHosts {
		h = strings.ToLower(h)
		if h == name {
			return true
		}
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			if label, parent, found := strings.Cut(name, "."); found && label != "" && parent == rest {
				return true
			}
		}
	}
	return false
}

// getCertificate serves the certificate of a handshake: the Domains'
// (and the TLS-ALPN-01 challenge's) from the managed cache, an allowed
// on-demand name's, obtained if need be.
func (m *acmeManager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.demand != nil && !slices.Contains(m.opts.Domains, strings.ToLower(hello.ServerName)) &&
		!slices.Contains(hello.SupportedProtos, acmez.ACMETLS1Protocol) && m.onDemandAllowed(hello.ServerName) {
		return m.demand.GetCertificate(hello)
	}
	return m.magic.GetCertificate(hello)
}

// start obtains (or loads from storage) the certificates of the Domains,
// once the endpoints that answer the challenges are listening: the TCP
// port of an HTTPS endpoint of this manager (TLS-ALPN-01) and of a plain
// one (HTTP-01).
func (m *acmeManager) start(url string, tlsAddr, httpAddr *net.TCPAddr) error {
	m.mu.Lock()
	if m.started || m.stopped {
		m.mu.Unlock()
		return nil
	}
	m.started = true
	m.mu.Unlock()
	if err := m.noChallenge(tlsAddr, httpAddr); err != nil {
		return err
	}
	tlsOK := m.tlsALPN && tlsAddr != nil
	httpOK := m.httpAllowed() && httpAddr != nil
	// certmagic answers a challenge itself unless something listens on
	// its port; pointing it at our own sockets lets it see that we do.
	if tlsOK {
		m.issuer.ListenHost, m.issuer.AltTLSALPNPort = listenHost(tlsAddr), tlsAddr.Port
	}
	if httpOK {
		m.issuer.ListenHost, m.issuer.AltHTTPPort = listenHost(httpAddr), httpAddr.Port
	} else {
		m.issuer.DisableHTTPChallenge = true
	}
	if tlsOK && httpOK && listenHost(tlsAddr) != listenHost(httpAddr) {
		m.issuer.ListenHost = "" // both are reached through every interface's address
	}
	m.mu.Lock()
	m.ready = true
	m.mu.Unlock()
	if len(m.opts.Domains) == 0 {
		return nil
	}
	logevents.ACMEObtaining(m.log, url, m.opts.Domains, m.opts.ca())
	errs := make([]error, len(m.opts.Domains))
	var wg sync.WaitGroup
	for i, d := range m.opts.Domains {
		wg.Go(func() { errs[i] = m.startDomain(d) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// noChallenge reports an error when the manager can answer no challenge
// with its first endpoint at tlsAddr and the first plain HTTP endpoint at
// httpAddr (nil: none on TCP).
func (m *acmeManager) noChallenge(tlsAddr, httpAddr *net.TCPAddr) error {
	httpAllowed := m.httpAllowed()
	if m.tlsALPN && tlsAddr != nil || httpAllowed && httpAddr != nil {
		return nil
	}
	var why []string
	if m.tlsALPN {
		why = append(why, "TLS-ALPN-01 needs the HTTPS endpoint to listen on TCP, and "+m.name+" does not (it serves HTTP/3 only, or is a Unix socket)")
	} else {
		why = append(why, "TLS-ALPN-01 is not among ACME.Challenges")
	}
	if httpAllowed {
		why = append(why, "HTTP-01 needs a plain http:// endpoint on TCP serving HTTP/1.1, which the CA speaks (port 80 for a public CA), and the server has none")
	} else {
		why = append(why, "HTTP-01 is not among ACME.Challenges")
	}
	return fmt.Errorf("kestrel: %s: no ACME challenge can be answered: %s; add an http:// endpoint such as http://*:80, or allow %q", m.name, strings.Join(why, "; "), ChallengeTLSALPN01)
}

// httpAllowed reports whether the manager may answer HTTP-01.
func (m *acmeManager) httpAllowed() bool {
	return len(m.opts.Challenges) == 0 || slices.Contains(m.opts.Challenges, ChallengeHTTP01)
}

// startDomain loads the certificate of domain from storage, or obtains
// it. certmagic's ManageSync would, for an account without e-mail
// address, ask for one on the terminal; its non-interactive obtain
// retries for days instead, so the first failure ends the start here.
func (m *acmeManager) startDomain(domain string) error {
	cert, err := m.magic.CacheManagedCertificate(m.ctx, domain)
	if err == nil {
		if cert.NeedsRenewal(m.magic) {
			// Served meanwhile, even expired: better than nothing while
			// the CA answers.
			go m.magic.RenewCertAsync(m.ctx, domain, false)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		dir, _ := m.opts.storage()
		folder := filepath.Join(dir, filepath.FromSlash(certmagic.StorageKeys.CertsSitePrefix(m.issuer.IssuerKey(), domain)))
		return fmt.Errorf("kestrel: %s: the certificate of %s stored in %s cannot be used (%w): remove that folder to order a new one", m.name, domain, folder, err)
	}
	ctx, cancel := context.WithCancelCause(m.ctx)
	defer cancel(nil)
	m.mu.Lock()
	m.failStart[domain] = cancel
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.failStart, domain)
		m.mu.Unlock()
	}()
	err = m.magic.ObtainCertAsync(ctx, domain)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	if err == nil {
		_, err = m.magic.CacheManagedCertificate(m.ctx, domain)
	}
	if err != nil && strings.Contains(err.Error(), certmagicAccountError) {
		dir, _ := m.opts.storage()
		folder := filepath.Join(dir, "acme", certmagic.StorageKeys.Safe(m.issuer.IssuerKey()), "users")
		return fmt.Errorf("kestrel: %s: getting the certificate of %s: the ACME account stored in %s cannot be used (%w): remove that folder to register a new account", m.name, domain, folder, err)
	}
	if err != nil {
		return fmt.Errorf("kestrel: %s: getting the certificate of %s from the ACME CA %s: %w", m.name, domain, m.opts.ca(), acmeProblem(err))
	}
	return nil
}

// certmagicAccountError begins certmagic's error (not wrapped, so only
// its text says so) when the stored ACME account cannot be loaded: a
// missing one is made, one that cannot be read is this error.
const certmagicAccountError = "getting ACME account: "

// listenHost is the host certmagic tries to listen on for a socket bound
// at a: empty (every interface) for an unspecified address.
func listenHost(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return ""
	}
	return a.IP.String()
}

// acmeProblem makes an ACME error readable: the CA's problem document's
// detail, when there is one.
func acmeProblem(err error) error {
	var p acme.Problem
	if errors.As(err, &p) {
		return fmt.Errorf("%w (the CA said: %s)", err, p.Detail)
	}
	return err
}

// stop ends the manager's renewals and cache maintenance.
func (m *acmeManager) stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.mu.Unlock()
	m.cancel()
	m.cache.Stop()
}

// onEvent logs certmagic's events and counts them in the metrics.
func (m *acmeManager) onEvent(_ context.Context, event string, data map[string]any) error {
	id, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		logevents.ACMEOrdering(m.log, id, renewal)
	case "cert_obtained":
		logevents.ACMEObtained(m.log, id, renewal)
		m.metrics.ACMEResult(id, renewal, false)
	case "cert_failed":
		err, _ := data["error"].(error)
		logevents.ACMEFailed(m.log, id, renewal, acmeProblem(err))
		m.mu.Lock()
		fail := m.failStart[id]
		m.mu.Unlock()
		if fail != nil && !renewal {
			fail(err)
		}
		m.metrics.ACMEResult(id, renewal, true)
	case "cached_managed_cert":
		m.observeCached(data["sans"])
	}
	return nil
}

// observeCached records the expiry of a certificate put in the cache.
func (m *acmeManager) observeCached(sans any) {
	names, _ := sans.([]string)
	for _, n := range names {
		for _, c := range m.cache.AllMatchingCertificates(n) {
			if c.Leaf == nil {
				continue
			}
			m.mu.Lock()
			m.expiry[n] = c.Leaf.NotAfter
			m.mu.Unlock()
			m.metrics.ACMEExpiry(n, c.Leaf.NotAfter)
		}
	}
}

// acmeHTTPChallenge answers the HTTP-01 challenges of the server's ACME
// managers, under /.well-known/acme-challenge/.
func (s *Server) acmeHTTPChallenge() http.Handler {
	ms := s.acme.all()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range ms {
			m.mu.Lock()
			ready := m.ready
			m.mu.Unlock()
			if ready && m.issuer.HandleHTTPChallenge(w, r) {
				return
			}
		}
		http.Error(w, "no such ACME challenge", http.StatusNotFound)
	})
}

// acmeChallengePath is where the HTTP-01 challenge is asked.
const acmeChallengePath = "/.well-known/acme-challenge/"

// startACME gets the certificates of the ACME managers that have not
// started, now that their endpoints listen.
func (s *Server) startACME() error {
	ms := s.acme.all()
	if len(ms) == 0 {
		s.mu.Lock()
		def := s.active.defaultHTTPS
		s.mu.Unlock()
		if def != nil && def.ACME != nil {
			logevents.General(s.log, slog.LevelWarn, "AcmeUnused", "ACME is configured (Kestrel:Acme, --acme-domain or Server.DefaultHTTPS) but no https:// endpoint uses it; add one, such as --urls \"https://*:443;http://*:80\".")
		}
		return nil
	}
	s.mu.Lock()
	httpAddr, tlsAddrs, urls := acmeAddrs(s.listeners)
	s.mu.Unlock()
	// The managers of endpoints no longer served (Reload) stop; their
	// certificates stay in storage.
	var removed []*acmeManager
	// Once they are stopped (the deferred calls below run first), and the
	// others started.
	defer func() { s.forgetExpiry(removed, s.acme.all()) }()
	s.acme.mu.Lock()
	for a, m := range s.acme.managers {
		if _, served := tlsAddrs[m]; !served {
			delete(s.acme.managers, a)
			removed = append(removed, m)
			defer m.stop()
		}
	}
	s.acme.mu.Unlock()
	ms = s.acme.all()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, m := range ms {
		wg.Go(func() {
			if err := m.start(urls[m], tlsAddrs[m], httpAddr); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// forgetExpiry drops from the metrics the expiry of the certificates of
// the managers removed that none of those kept serves: they are no
// longer served nor renewed, and an alert on their expiry would fire.
func (s *Server) forgetExpiry(removed, kept []*acmeManager) {
	if len(removed) == 0 {
		return
	}
	served := map[string]bool{}
	for _, m := range kept {
		m.mu.Lock()
		for d := range m.expiry {
			served[d] = true
		}
		m.mu.Unlock()
		for _, d := range m.opts.Domains {
			served[d] = true
		}
	}
	for _, m := range removed {
		m.mu.Lock()
		for d := range m.expiry {
			if !served[d] {
				s.metrics.ACMEForget(d)
			}
		}
		m.mu.Unlock()
	}
}

// acmeAddrs returns, for the listeners ls, the address of the first plain
// HTTP endpoint on TCP that serves HTTP/1.1 (nil: none), and for each
// ACME manager the TCP address (nil for HTTP/3 only or a Unix socket) and
// URL of its first endpoint.
func acmeAddrs(ls []*listener) (httpAddr *net.TCPAddr, tlsAddrs map[*acmeManager]*net.TCPAddr, urls map[*acmeManager]string) {
	tlsAddrs = map[*acmeManager]*net.TCPAddr{}
	urls = map[*acmeManager]string{}
	for _, l := range ls {
		if l.tls != nil && l.tls.acme != nil && urls[l.tls.acme] == "" {
			urls[l.tls.acme] = l.url()
		}
		var a *net.TCPAddr
		if l.sock != nil {
			a, _ = l.sock.Addr().(*net.TCPAddr)
		}
		switch {
		case l.tls == nil && l.ep.scheme == "http" && httpAddr == nil && l.ep.opts.Protocols.tcp()&HTTP1 != 0:
			// The CA asks over HTTP/1.1: an HTTP/2-only endpoint refuses it.
			httpAddr = a
		case l.tls != nil && l.tls.acme != nil && tlsAddrs[l.tls.acme] == nil:
			tlsAddrs[l.tls.acme] = a // nil for HTTP/3 only or a Unix socket: served, without TLS-ALPN-01
		}
	}
	return httpAddr, tlsAddrs, urls
}

// checkACMEChallenges reports an error when the ACME managers not started
// yet of the listeners ls could answer no challenge with ls serving, so
// that Reload refuses such a configuration before it changes anything.
func checkACMEChallenges(ls []*listener) error {
	httpAddr, tlsAddrs, _ := acmeAddrs(ls)
	var errs []error
	for m, tlsAddr := range tlsAddrs {
		m.mu.Lock()
		started := m.started
		m.mu.Unlock()
		if !started {
			errs = append(errs, m.noChallenge(tlsAddr, httpAddr))
		}
	}
	return errors.Join(errs...)
}

// dropUnstartedACME stops the managers made for endpoints that did not
// start (a failed Start).
func (s *Server) dropUnstartedACME() {
	s.acme.mu.Lock()
	defer s.acme.mu.Unlock()
	for a, m := range s.acme.managers {
		m.mu.Lock()
		started := m.started
		m.mu.Unlock()
		if !started {
			delete(s.acme.managers, a)
			m.stop()
		}
	}
}

// dropNewACME stops the managers that are not in known and have not
// started: those made for the endpoints of a refused reload.
func (s *Server) dropNewACME(known []*acmeManager) {
	s.acme.mu.Lock()
	defer s.acme.mu.Unlock()
	for a, m := range s.acme.managers {
		if slices.Contains(known, m) {
			continue
		}
		m.mu.Lock()
		started := m.started
		m.mu.Unlock()
		if !started {
			delete(s.acme.managers, a)
			m.stop()
		}
	}
}

// stopACME stops every ACME manager of the server.
func (s *Server) stopACME() {
	for _, m := range s.acme.all() {
		m.stop()
	}
}

// zapSlog is a zapcore.Core that writes certmagic's logs to the server's
// logger at Debug level: the events that matter (ordering, obtained,
// failed) are logged by onEvent at their own levels.
type zapSlog struct {
	log    *slog.Logger
	fields []zapcore.Field
}

// newZapLogger returns a zap logger writing to log.
func newZapLogger(log *slog.Logger) *zap.Logger {
	return zap.New(&zapSlog{log: log})
}

func (z *zapSlog) Enabled(zapcore.Level) bool {
	return z.log.Enabled(context.Background(), slog.LevelDebug)
}

func (z *zapSlog) With(fields []zapcore.Field) zapcore.Core {
	return &zapSlog{log: z.log, fields: append(slices.Clip(z.fields), fields...)}
}

func (z *zapSlog) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if z.Enabled(e.Level) {
		return ce.AddCore(e, z)
	}
	return ce
}

func (z *zapSlog) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range z.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	attrs = append(attrs, slog.String("certmagic", e.LoggerName))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	slices.SortFunc(attrs[1:], func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	z.log.LogAttrs(context.Background(), slog.LevelDebug, e.Message, attrs...)
	return nil
}

func (z *zapSlog) Sync() error { return nil }
