package certs

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// CertSource supplies the certificate for one TLS handshake. *Reloader
// implements it; Static wraps a certificate that never changes.
type CertSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Static returns a CertSource that always supplies cert.
func Static(cert *tls.Certificate) CertSource { return staticSource{cert} }

type staticSource struct{ cert *tls.Certificate }

func (s staticSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert, nil
}

// SNIOptions is one entry of an endpoint's Sni section: the certificate for
// the matching host names and the options that differ from the endpoint's.
// Zero values inherit the endpoint's (the base config's) settings.
type SNIOptions struct {
	// Certificate is required.
	Certificate CertSource
	// ClientCertificateMode overrides the base config's ClientAuth.
	ClientCertificateMode ClientCertificateMode
	// MinVersion and MaxVersion override the base config's TLS versions
	// (see ParseSslProtocols); versions below TLS 1.2 are refused.
	MinVersion, MaxVersion uint16
	// NextProtos overrides the base config's ALPN protocols.
	NextProtos []string
}

// NoCertificateError fails a handshake whose SNI host name matches no entry
// of a Selector.
type NoCertificateError struct {
	Endpoint   string // the Selector's endpoint name; may be empty
	ServerName string // the host name the client asked for; empty: no SNI
}

func (e *NoCertificateError) Error() string {
	endpoint := ""
	if e.Endpoint != "" {
		endpoint = fmt.Sprintf(" of endpoint %q", e.Endpoint)
	}
	if e.ServerName == "" {
		return fmt.Sprintf("the client sent no host name (SNI) and the Sni section%s has no \"*\" entry for such connections", endpoint)
	}
	return fmt.Sprintf("no certificate for host name %q: it matches no entry of the Sni section%s (add the name, a matching \"*.domain\" entry, or a \"*\" entry)", e.ServerName, endpoint)
}

// Selector picks the certificate, and the TLS options, of a connection from
// its SNI host name with ASP.NET Core's rules:
//  1. an entry named exactly like the host (case-insensitive);
//  2. else the longest matching wildcard entry: "*.example.com" matches any
//     name that ends in ".example.com" (a.example.com, a.b.example.com),
//     not example.com itself;
//  3. else the "*" entry, which is also used when the client sends no SNI;
//  4. else the handshake fails with a *NoCertificateError.
//
// Use GetCertificate as tls.Config.GetCertificate when the entries differ
// only by certificate, and GetConfigForClient as
// tls.Config.GetConfigForClient to apply the per-entry options too;
// TLSConfig wires both.
type Selector struct {
	endpoint  string
	base      *tls.Config
	exact     map[string]*sniEntry
	wildcards []*sniEntry // longest suffix first
	fallback  *sniEntry   // the "*" entry
}

type sniEntry struct {
	name   string // as configured
	suffix string // wildcard entries: ".example.com"
	source CertSource
	config *tls.Config // base with the entry's options applied
}

// NewSelector builds a Selector for the endpoint named endpoint (used in
// error messages) from entries keyed by host name: "www.example.com",
// "*.example.com" or "*". base holds the endpoint's TLS settings (nil:
// DefaultConfig()); it is cloned, not kept.
func NewSelector(endpoint string, base *tls.Config, entries map[string]SNIOptions) (*Selector, error) {
	if len(entries) == 0 {
		return nil, errors.New("the Sni section has no entries")
	}
	if base == nil {
		base = DefaultConfig()
	}
	s := &Selector{endpoint: endpoint, base: base.Clone(), exact: make(map[string]*sniEntry)}
	seen := make(map[string]string)
	for name, opts := range entries {
		key := strings.TrimSpace(name)
		if key == "*." {
			return nil, fmt.Errorf("the Sni entry %q: a wildcard must look like \"*.example.com\" or be \"*\"", name)
		}
		key = normalizeHost(key)
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("the Sni entries %q and %q name the same host", prev, name)
		}
		seen[key] = name
		if opts.Certificate == nil {
			return nil, fmt.Errorf("the Sni entry %q has no certificate", name)
		}
		cfg, err := entryConfig(s.base, name, opts)
		if err != nil {
			return nil, err
		}
		e := &sniEntry{name: name, source: opts.Certificate, config: cfg}
		switch {
		case key == "":
			return nil, errors.New("an Sni entry has an empty host name (use \"*\" for any host)")
		case key == "*":
			s.fallback = e
		case strings.HasPrefix(key, "*."):
			if len(key) == 2 || strings.Contains(key[2:], "*") {
				return nil, fmt.Errorf("the Sni entry %q: a wildcard must look like \"*.example.com\"", name)
			}
			e.suffix = key[1:]
			s.wildcards = append(s.wildcards, e)
		case strings.Contains(key, "*"):
			return nil, fmt.Errorf("the Sni entry %q: a wildcard must look like \"*.example.com\" or be \"*\"", name)
		default:
			s.exact[key] = e
		}
	}
	sort.Slice(s.wildcards, func(i, j int) bool {
		a, b := s.wildcards[i].suffix, s.wildcards[j].suffix
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	return s, nil
}

// entryConfig derives the per-entry tls.Config from base.
func entryConfig(base *tls.Config, name string, opts SNIOptions) (*tls.Config, error) {
	cfg := base.Clone()
	cfg.Certificates = nil
	cfg.GetCertificate = opts.Certificate.GetCertificate
	cfg.GetConfigForClient = nil
	if opts.MinVersion != 0 {
		cfg.MinVersion = opts.MinVersion
	}
	if opts.MaxVersion != 0 {
		cfg.MaxVersion = opts.MaxVersion
	}
	if (opts.MinVersion != 0 && opts.MinVersion < tls.VersionTLS12) ||
		(opts.MaxVersion != 0 && opts.MaxVersion < tls.VersionTLS12) {
		return nil, fmt.Errorf("the Sni entry %q: TLS versions below 1.2 are insecure and not supported", name)
	}
	if cfg.MinVersion != 0 && cfg.MaxVersion != 0 && cfg.MinVersion > cfg.MaxVersion {
		return nil, fmt.Errorf("the Sni entry %q: minimum TLS version %s is above the maximum %s",
			name, tls.VersionName(cfg.MinVersion), tls.VersionName(cfg.MaxVersion))
	}
	if opts.NextProtos != nil {
		cfg.NextProtos = append([]string(nil), opts.NextProtos...)
	}
	opts.ClientCertificateMode.Apply(cfg)
	bindSessions(cfg, name)
	return cfg, nil
}

// sessionTagPrefix marks session tickets with the Sni entry that issued them.
const sessionTagPrefix = "kestrel-go/sni:"

// bindSessions makes cfg resume only sessions that cfg itself issued. Without
// it a session established under one Sni entry (say without a client
// certificate) could be resumed under another (one that requires one),
// skipping its checks; see tls.Config.GetConfigForClient. Configs that bring
// their own WrapSession/UnwrapSession are left alone.
func bindSessions(cfg *tls.Config, name string) {
	if cfg.WrapSession != nil || cfg.UnwrapSession != nil {
		return
	}
	tag := []byte(sessionTagPrefix + name)
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, tag)
		return cfg.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := cfg.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, err
		}
		for _, extra := range ss.Extra {
			if bytes.Equal(extra, tag) {
				return ss, nil
			}
		}
		return nil, nil // not ours: do a full handshake
	}
}

// normalizeHost lowercases a host name and drops a trailing dot.
func normalizeHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// lookup finds the entry for serverName, or nil.
func (s *Selector) lookup(serverName string) *sniEntry {
	host := normalizeHost(serverName)
	if host != "" {
		if e, ok := s.exact[host]; ok {
			return e
		}
		for _, e := range s.wildcards {
			if len(host) > len(e.suffix) && strings.HasSuffix(host, e.suffix) {
				return e
			}
		}
	}
	return s.fallback
}

// Match returns the name of the entry that serves serverName ("" for a
// client without SNI), as it was configured, and whether there is one.
func (s *Selector) Match(serverName string) (string, bool) {
	e := s.lookup(serverName)
	if e == nil {
		return "", false
	}
	return e.name, true
}

func (s *Selector) entry(hello *tls.ClientHelloInfo) (*sniEntry, error) {
	name := ""
	if hello != nil {
		name = hello.ServerName
	}
	e := s.lookup(name)
	if e == nil {
		return nil, &NoCertificateError{Endpoint: s.endpoint, ServerName: name}
	}
	return e, nil
}

// GetCertificate returns the certificate of the entry that matches the
// client's SNI host name; for tls.Config.GetCertificate. Used alone, it
// ignores the entries' options, and crypto/tls may resume a session that
// was established under another entry (and so with its certificate);
// GetConfigForClient (or TLSConfig) binds sessions to their entry.
func (s *Selector) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	e, err := s.entry(hello)
	if err != nil {
		return nil, err
	}
	cert, err := e.source.GetCertificate(hello)
	if err != nil {
		return nil, err
	}
	if cert == nil {
		return nil, fmt.Errorf("the Sni entry %q supplied no certificate", e.name)
	}
	return cert, nil
}

// GetConfigForClient returns the config of the entry that matches the
// client's SNI host name: the base config with the entry's certificate and
// options; for tls.Config.GetConfigForClient. A host that matches no entry
// fails the handshake with a *NoCertificateError.
func (s *Selector) GetConfigForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	e, err := s.entry(hello)
	if err != nil {
		return nil, err
	}
	return e.config, nil
}

// Reloaders returns the distinct *Reloader certificate sources of the
// entries, for a heartbeat that calls their Check.
func (s *Selector) Reloaders() []*Reloader {
	var out []*Reloader
	add := func(e *sniEntry) {
		if r, ok := e.source.(*Reloader); ok && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for _, e := range s.exact {
		add(e)
	}
	for _, e := range s.wildcards {
		add(e)
	}
	if s.fallback != nil {
		add(s.fallback)
	}
	return out
}

// TLSConfig returns a clone of the base config with GetCertificate and
// GetConfigForClient set to the Selector's, ready for tls.NewListener.
func (s *Selector) TLSConfig() *tls.Config {
	cfg := s.base.Clone()
	cfg.Certificates = nil
	cfg.GetCertificate = s.GetCertificate
	cfg.GetConfigForClient = s.GetConfigForClient
	return cfg
}

// Configs returns the per-entry configs the Selector hands out, for
// settings that must reach every one of them (session ticket keys).
func (s *Selector) Configs() []*tls.Config {
	var out []*tls.Config
	for _, e := range s.exact {
		out = append(out, e.config)
	}
	for _, e := range s.wildcards {
		out = append(out, e.config)
	}
	if s.fallback != nil {
		out = append(out, s.fallback.config)
	}
	return out
}
