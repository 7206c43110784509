package kestrel

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
	"github.com/kestrel-go/kestrel/internal/tlsconn"
)

// HTTPS configures TLS on an endpoint, as Kestrel's UseHttps does. The
// server certificate comes from, in order of precedence:
// ServerCertificateSelector, SNI, Certificate, or CertificateFile; or
// from an ACME CA such as Let's Encrypt with ACME.
//
// Defaults pass a TLS audit: TLS 1.2 and 1.3 only; for TLS 1.2, ECDHE key
// exchange with AES-GCM or ChaCha20-Poly1305; a 10 s handshake timeout;
// ALPN "h2" and "http/1.1", or what the endpoint's Protocols allow.
type HTTPS struct {
	// Certificate is the server certificate.
	Certificate *tls.Certificate

	// CertificateFile is a PKCS#12 (.pfx, .p12) or PEM certificate file.
	// A PEM file's key is in KeyFile, or in CertificateFile itself.
	// Password opens the .pfx file or an encrypted PEM key. Files are
	// watched: when they change, new connections get the new certificate
	// without a restart.
	CertificateFile string
	KeyFile         string
	Password        string

	// DisableOCSPStapling turns off the OCSP stapling of the certificates
	// loaded from files (CertificateFile and the SNI entries' files). By
	// default, when a certificate names an OCSP responder and its file
	// holds the issuer's certificate, the server fetches the responder's
	// signed answer that the certificate is good, checks it, and sends it
	// in its handshakes (OCSP stapling, as Caddy does by default and
	// nginx with ssl_stapling on), so that clients need not ask the
	// responder themselves; it is fetched again halfway through its
	// validity, in the background: Start does not wait for it, and a
	// responder that cannot be reached leaves the certificate served
	// without a staple (logged as the warning OcspStaplingFailed). A
	// revoked certificate is served without a staple, with the error
	// OcspCertificateRevoked logged. Certificates given in code
	// (Certificate) are served as they are, with their own OCSPStaple.
	DisableOCSPStapling bool

	// SNI chooses the certificate (and options) by the host name the
	// client asks for: an exact name ("www.example.com") first, then the
	// longest matching wildcard ("*.example.com"), then "*". A name that
	// matches nothing fails the handshake.
	SNI map[string]SNI

	// ACME, when set, gets the certificates from an ACME CA (Let's
	// Encrypt by default), renewed in the background: automatic HTTPS.
	// It excludes the other certificate fields.
	ACME *ACME

	// ServerCertificateSelector, when set, picks the certificate for every
	// handshake. A panic in it fails the handshake, with the panic in the
	// AuthenticationFailed event, over TCP and QUIC; so does one in the
	// callbacks of a configuration TLSHandshakeCallback returns.
	ServerCertificateSelector func(*tls.ClientHelloInfo) (*tls.Certificate, error)

	// TLSHandshakeCallback, when set, is called for each TLS handshake of
	// the endpoint with the client's ClientHello (its SNI host
	// name, ALPN protocols, cipher suites, and raw bytes), and returns the
	// TLS configuration of that connection: its certificate, versions,
	// cipher suites and client certificate policy (Kestrel's
	// TlsHandshakeCallbackOptions). A configuration without NextProtos
	// gets the endpoint's ALPN protocols (in a copy made for each
	// handshake: set NextProtos to spare it); it is used as returned, so the
	// endpoint's other options (its certificates, versions) do not apply
	// to it, except its session ticket keys (SessionTicketKeyFiles, kept
	// up to date), which crypto/tls uses unless the configuration sets
	// its own; a session resumed under a configuration with a
	// VerifyPeerCertificate (from the endpoint's configuration or another
	// the callback returned) has its client certificate put to that
	// callback, as in a full handshake, which is the only one crypto/tls
	// calls it in. A configuration's GetConfigForClient, if set, is asked in
	// turn (crypto/tls would not), so a net/http TLSConfig can be
	// returned as is; a configuration without Certificates or
	// GetCertificate fails the handshake with an error that says so. A
	// nil configuration keeps the endpoint's. An error refuses
	// the connection: the handshake ends with a TLS alert
	// (internal_error), the connection with the end reason tls_refused,
	// and the error is in the AuthenticationFailed log event. The
	// callback runs within HandshakeTimeout: at the timeout the
	// connection is closed and the ClientHelloInfo's Context is done,
	// though the handshake is counted only once the callback returns.
	// HTTP/3's QUIC handshakes call it too, as Kestrel's do (the
	// ClientHello's Raw is nil there, its Context the QUIC connection's);
	// the configuration it returns then gets TLS 1.3 and the h3 protocol.
	// With ACME, the CA's TLS-ALPN-01 validation handshakes (ALPN
	// acme-tls/1 alone) do not call it: they get the challenge's
	// certificate.
	TLSHandshakeCallback func(hello *ClientHello) (*tls.Config, error)

	// ClientCertificateMode asks for client certificates; the zero value
	// asks for none.
	ClientCertificateMode ClientCertificateMode

	// ClientCAs verifies client certificates; nil means the system's roots.
	ClientCAs *x509.CertPool

	// ClientCertificateValidation, when set, decides whether a client
	// certificate is accepted: it gets the certificate, the chains it was
	// verified with against ClientCAs, and the verification error, and
	// returns nil to accept (for example a self-signed certificate it
	// knows) or an error to fail the handshake; a panic fails it too,
	// with the panic in the AuthenticationFailed event. It is asked again when a
	// session with a client certificate resumes, since the session may
	// come from another endpoint or instance that shares
	// SessionTicketKeyFiles. crypto/tls then leaves the verification to
	// it: the handler gets the certificates in Request.TLS's
	// PeerCertificates, and VerifiedChains stays empty.
	ClientCertificateValidation func(cert *x509.Certificate, chains [][]*x509.Certificate, verifyErr error) error

	// MinVersion and MaxVersion bound the TLS versions (tls.VersionTLS12,
	// tls.VersionTLS13); zero means TLS 1.2 and TLS 1.3. Versions before
	// TLS 1.2 are refused.
	MinVersion, MaxVersion uint16

	// HandshakeTimeout bounds a TLS handshake; zero means 10 seconds. A
	// negative one is an error.
	HandshakeTimeout time.Duration

	// SessionTicketKeyFiles, when set, are files of session ticket keys
	// shared by the instances of a fleet, so that a session made with one
	// instance resumes on another. Each file holds one key in the format of
	// nginx's ssl_session_ticket_key: exactly 48 or 80 random bytes (make
	// one with `openssl rand 80 > ticket.key`); the key given to crypto/tls
	// is the SHA-256 of the file's bytes, so every instance with the same
	// file has the same key. The first file's key encrypts new tickets and
	// every file's key decrypts: to rotate, put a new file first and keep
	// the old one second for a ticket lifetime (7 days at most), then drop
	// it. The files are watched like certificate files: a change is used
	// by the next handshakes without a restart, and a file that cannot be
	// loaded then keeps the previous keys, with a warning. The keys apply
	// to every SNI entry of the endpoint and to HTTP/3. When empty, each
	// server makes its own keys, as before.
	SessionTicketKeyFiles []string

	// defaultCertificate: these options take their certificate from the
	// server's default (a configuration file endpoint that sets TLS
	// options but no certificate).
	defaultCertificate bool

	// acmeTLSALPN: the certificates come from ACME, which answers the
	// TLS-ALPN-01 challenge in this endpoint's handshakes (acme.go).
	acmeTLSALPN bool

	// origin is where these options come from when it is not the
	// endpoint that uses them (Certificates:Default, with its file), for
	// messages.
	origin string
}

// SNI is the certificate and options for the host names of one entry of
// HTTPS.SNI. Zero fields take the endpoint's settings: an entry without a
// certificate has the endpoint's (HTTPS.Certificate or CertificateFile).
type SNI struct {
	Certificate              *tls.Certificate
	CertificateFile, KeyFile string
	Password                 string
	// DisableOCSPStapling turns off OCSP stapling for this entry's
	// certificate file; see HTTPS.DisableOCSPStapling, which turns it off
	// for every entry.
	DisableOCSPStapling bool
	// ClientCertificateMode, when set, is the entry's instead of the
	// endpoint's; NoCertificate asks the entry's clients for none even
	// when the endpoint requires certificates.
	ClientCertificateMode  ClientCertificateMode
	MinVersion, MaxVersion uint16

	// Protocols, when set, are the HTTP versions served to the clients of
	// these host names, instead of the endpoint's.
	Protocols Protocols
}

// ClientCertificateMode says whether clients are asked for certificates.
// The zero value is the default: no certificate is asked for on an
// endpoint (HTTPS), and an SNI entry takes its endpoint's mode, as a
// Kestrel Sni section without ClientCertificateMode does. NoCertificate
// asks for none in either, so that an SNI entry can ask nothing of its
// clients on an endpoint that requires certificates.
type ClientCertificateMode int

// The client certificate modes, as in Kestrel.
const (
	NoCertificate      ClientCertificateMode = iota + 1 // none asked for
	AllowCertificate                                    // asked for, optional; verified if sent
	RequireCertificate                                  // required and verified
)

// ParseClientCertificateMode parses Kestrel's names: "NoCertificate",
// "AllowCertificate", "RequireCertificate"; an empty string is the zero
// value, the default.
func ParseClientCertificateMode(s string) (ClientCertificateMode, error) {
	m, err := certs.ParseClientCertificateMode(s)
	if err != nil {
		return 0, fmt.Errorf("kestrel: %w", err)
	}
	switch m {
	case certs.NoCertificate:
		return NoCertificate, nil
	case certs.AllowCertificate:
		return AllowCertificate, nil
	case certs.RequireCertificate:
		return RequireCertificate, nil
	}
	return 0, nil
}

// certs returns m for an endpoint, where the zero value asks for no
// certificate.
func (m ClientCertificateMode) certs() certs.ClientCertificateMode {
	switch m {
	case AllowCertificate:
		return certs.AllowCertificate
	case RequireCertificate:
		return certs.RequireCertificate
	}
	return certs.NoCertificate
}

// ErrNoCertificate is returned by Start for an https:// endpoint without a
// certificate when there is no default one.
var ErrNoCertificate = errors.New("no certificate")

// tlsEndpoint is an HTTPS endpoint's built configuration.
type tlsEndpoint struct {
	config    *tls.Config
	timeout   time.Duration
	reloaders []*certs.Reloader
	staple    []*certs.Reloader                 // the reloaders whose certificates get OCSP staples
	tickets   *certs.TicketKeys                 // nil: crypto/tls's own keys
	sni       func(serverName string) Protocols // the protocols of an SNI entry; nil: no SNI
	hello     *helloHook                        // TLSHandshakeCallback; nil without one
	acme      *acmeManager                      // the certificates come from ACME; nil: not
}

// http2Only reports whether the connection, by its SNI host name, may
// speak nothing but HTTP/2 on the TCP port.
func (te *tlsEndpoint) http2Only(ep Protocols, serverName string) bool {
	return te.protocols(ep, serverName).tcp() == HTTP2
}

// protocols is what the endpoint (serving ep) serves a client that named
// serverName: its SNI entry's protocols, or ep.
func (te *tlsEndpoint) protocols(ep Protocols, serverName string) Protocols {
	if te != nil && te.sni != nil {
		return te.sni(serverName)
	}
	return ep
}

// build turns the options into a tls.Config for an endpoint serving
// protocols; name is the endpoint's URL, for messages.
func (h *HTTPS) build(name string, log *slog.Logger, protocols Protocols) (*tlsEndpoint, error) {
	base := certs.DefaultConfig()
	base.NextProtos = protocols.alpn()
	if h.acmeTLSALPN && protocols.tcp() != 0 {
		// The CA's TLS-ALPN-01 validation asks for this protocol alone;
		// crypto/tls refuses a handshake without a protocol in common.
		base.NextProtos = append(base.NextProtos, acmeALPN)
	}
	if h.MinVersion != 0 {
		base.MinVersion = h.MinVersion
	}
	if h.MaxVersion != 0 {
		base.MaxVersion = h.MaxVersion
	}
	if h.HandshakeTimeout < 0 {
		return nil, fmt.Errorf("kestrel: %s: HTTPS.HandshakeTimeout is %v; use a positive duration, or 0 for the default (%v)", name, h.HandshakeTimeout, tlsconn.DefaultHandshakeTimeout)
	}
	if base.MinVersion < tls.VersionTLS12 {
		return nil, fmt.Errorf("kestrel: %s: TLS versions before 1.2 are insecure and not supported", name)
	}
	if base.MaxVersion < base.MinVersion {
		return nil, fmt.Errorf("kestrel: %s: MaxVersion is below MinVersion", name)
	}
	if protocols&HTTP3 != 0 && base.MaxVersion < tls.VersionTLS13 {
		return nil, fmt.Errorf("kestrel: %s: HTTP/3 needs TLS 1.3, which QUIC requires, but the endpoint's TLS versions stop at %s; allow TLS 1.3 or leave HTTP/3 out of Protocols", name, tls.VersionName(base.MaxVersion))
	}
	if v := h.ClientCertificateValidation; v != nil {
		// crypto/tls only collects the certificate; the callback, after
		// our verification, has the last word. A resumed session skips
		// VerifyPeerCertificate, and crypto/tls re-verifies its chain
		// only when it verifies certificates itself: VerifyConnection
		// puts the session's certificate to the callback again, since
		// the session may come from another endpoint or instance that
		// shares SessionTicketKeyFiles and accepts other clients.
		verify := verifyWith(h.ClientCAs, v)
		base.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			chain := make([]*x509.Certificate, 0, len(raw))
			for _, b := range raw {
				c, err := x509.ParseCertificate(b)
				if err != nil {
					return fmt.Errorf("client certificate: %w", err)
				}
				chain = append(chain, c)
			}
			return verify(chain)
		}
		base.VerifyConnection = func(cs tls.ConnectionState) error {
			if !cs.DidResume {
				return nil // VerifyPeerCertificate has decided
			}
			return verify(cs.PeerCertificates)
		}
	} else {
		base.ClientCAs = h.ClientCAs
	}
	h.ClientCertificateMode.certs().Apply(base)

	te := &tlsEndpoint{timeout: h.HandshakeTimeout}
	// source loads a certificate: the endpoint's, or that of the SNI
	// entry for host, which its errors name.
	source := func(host string, c *tls.Certificate, file, key, password string, noStapling bool) (certs.CertSource, error) {
		if c != nil {
			return certs.Static(c), nil
		}
		if file == "" {
			return nil, nil
		}
		r, err := certs.NewReloader(certs.Spec{Path: file, KeyPath: key, Password: password}, log)
		if err != nil && host != "" {
			return nil, fmt.Errorf("kestrel: %s: SNI entry %q: %w", name, host, err)
		}
		if err != nil {
			return nil, fmt.Errorf("kestrel: %s: %w", name, err)
		}
		te.reloaders = append(te.reloaders, r)
		if !h.DisableOCSPStapling && !noStapling {
			te.staple = append(te.staple, r)
		}
		return r, nil
	}
	var sel *certs.Selector
	switch {
	case h.ServerCertificateSelector != nil:
		selector := h.ServerCertificateSelector
		base.GetCertificate = func(hello *tls.ClientHelloInfo) (c *tls.Certificate, err error) {
			// A panic fails the handshake: over QUIC, crypto/tls runs
			// it on a goroutine of its own, where nothing else would
			// recover it.
			defer failOnPanic("ServerCertificateSelector", &err)
			c, err = selector(hello)
			return c, usableError("ServerCertificateSelector", err)
		}
	case len(h.SNI) > 0:
		entries := make(map[string]certs.SNIOptions, len(h.SNI))
		var own certs.CertSource // the endpoint's certificate, for entries without one
		for host, sni := range h.SNI {
			src, err := source(host, sni.Certificate, sni.CertificateFile, sni.KeyFile, sni.Password, sni.DisableOCSPStapling)
			if err != nil {
				return nil, err
			}
			if src == nil && own == nil {
				// An entry without a certificate takes the endpoint's, as
				// Kestrel's SNI options do.
				if own, err = source("", h.Certificate, h.CertificateFile, h.KeyFile, h.Password, false); err != nil {
					return nil, err
				}
			}
			if src == nil {
				src = own
			}
			if src == nil {
				return nil, fmt.Errorf("kestrel: %s: SNI entry %q has no certificate, and the endpoint none for it to take; give the entry or the endpoint one", name, host)
			}
			var nextProtos []string
			if sni.Protocols != 0 {
				if sni.Protocols.tcp() == 0 {
					return nil, fmt.Errorf("kestrel: %s: SNI entry %q: Protocols %v leaves the TCP port nothing to serve its clients; add Http1 or Http2", name, host, sni.Protocols)
				}
				nextProtos = sni.Protocols.alpn()
			}
			entries[host] = certs.SNIOptions{
				NextProtos:            nextProtos,
				Certificate:           src,
				ClientCertificateMode: sni.ClientCertificateMode.certsIfSet(),
				MinVersion:            sni.MinVersion,
				MaxVersion:            sni.MaxVersion,
			}
		}
		var err error
		sel, err = certs.NewSelector(name, base, entries)
		if err != nil {
			return nil, fmt.Errorf("kestrel: %s: %w", name, err)
		}
		maxVersion := base.MaxVersion
		base = sel.TLSConfig()
		byEntry := make(map[string]Protocols, len(h.SNI)) // a copy: the caller may change h.SNI
		for host, sni := range h.SNI {
			p := sni.Protocols
			if p == 0 {
				p = protocols
			}
			if sni.MaxVersion != 0 && sni.MaxVersion < tls.VersionTLS13 || sni.MaxVersion == 0 && maxVersion < tls.VersionTLS13 {
				// QUIC needs TLS 1.3: the entry's clients cannot have
				// HTTP/3, which must not be advertised to them.
				p &^= HTTP3
			}
			byEntry[host] = p
		}
		te.sni = func(serverName string) Protocols {
			if entry, ok := sel.Match(serverName); ok {
				return byEntry[entry]
			}
			return protocols
		}
	default:
		src, err := source("", h.Certificate, h.CertificateFile, h.KeyFile, h.Password, false)
		if err != nil {
			return nil, err
		}
		if src == nil {
			return nil, fmt.Errorf("kestrel: %s: %w: set HTTPS.Certificate or HTTPS.CertificateFile", name, ErrNoCertificate)
		}
		base.GetCertificate = src.GetCertificate
	}
	if len(h.SessionTicketKeyFiles) > 0 {
		tk, err := certs.NewTicketKeys(h.SessionTicketKeyFiles, log)
		if err != nil {
			return nil, fmt.Errorf("kestrel: %s: %w", name, err)
		}
		tk.Apply(base)
		if sel != nil {
			// The SNI entries encrypt and decrypt tickets with their own
			// configs (their WrapSession binds a ticket to its entry).
			tk.Apply(sel.Configs()...)
		}
		// Every handshake, resumed or not and over QUIC too, asks
		// GetConfigForClient first: the files are checked from there.
		next := base.GetConfigForClient
		base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			tk.MaybeCheck()
			if next == nil {
				return nil, nil
			}
			return next(hello)
		}
		te.tickets = tk
	}
	if h.acmeTLSALPN && base.ClientAuth != tls.NoClientCert {
		// The CA's TLS-ALPN-01 validation has no client certificate to
		// send: its handshakes ask for none (over TLS 1.2 the refusal
		// would fail the validation). It gets only the challenge's
		// certificate, and an application protocol it cannot speak HTTP
		// over.
		challenge := base.Clone()
		challenge.ClientAuth = tls.NoClientCert
		challenge.GetConfigForClient, challenge.VerifyPeerCertificate, challenge.VerifyConnection = nil, nil, nil
		next := base.GetConfigForClient
		base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmeALPN {
				return challenge, nil
			}
			if next == nil {
				return nil, nil
			}
			return next(hello)
		}
	}
	te.config = base
	if h.TLSHandshakeCallback != nil {
		te.hello = newHelloHook(base, h.TLSHandshakeCallback, h.acmeTLSALPN)
		if te.tickets != nil {
			// The hook's configuration is a copy of base: the keys of a
			// changed file must reach it too, and its handshakes check
			// the files whatever the callback answers.
			te.tickets.Apply(te.hello.config)
			te.hello.check = te.tickets.MaybeCheck
		}
	}
	return te, nil
}

// certsIfSet returns m for an SNI entry, where the zero value takes the
// endpoint's mode.
func (m ClientCertificateMode) certsIfSet() certs.ClientCertificateMode {
	if m == 0 {
		return certs.ClientCertificateModeUnset
	}
	return m.certs()
}

// verifyWith verifies a client certificate chain, as the client sent it,
// against roots (nil: the system's) and lets validate decide. A panic in
// validate refuses the certificate with an error that carries it: it runs
// in the handshake, where nothing else would recover it (net/http's
// connection goroutine does, and Kestrel fails the handshake on an
// exception), and would end the process.
func verifyWith(roots *x509.CertPool, validate func(*x509.Certificate, [][]*x509.Certificate, error) error) func([]*x509.Certificate) error {
	return func(chain []*x509.Certificate) (err error) {
		defer failOnPanic("ClientCertificateValidation", &err)
		if len(chain) == 0 {
			return nil // no certificate; ClientAuth decides whether that is allowed
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		chains, err := chain[0].Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		return usableError("ClientCertificateValidation", validate(chain[0], chains, err))
	}
}

// usableError returns err, the error a callback returned, or, when it is a
// nil pointer in a non-nil error interface, an error that says so: its
// methods would panic where the handshake inspects it, and over QUIC
// crypto/tls does (errors.As) in quic-go's goroutine, where nothing
// recovers the panic.
func usableError(callback string, err error) error {
	if err != nil && typedNil(err) {
		return fmt.Errorf("%s returned a nil %T as its error, which is not a nil error (return the error interface's nil instead)", callback, err)
	}
	return err
}

// devCertificate returns the development certificate for an https://
// endpoint that has no certificate of its own, or an error that says how to
// get one.
func devCertificate(url string) (*HTTPS, error) {
	cert, err := certs.LoadDevCert()
	if err != nil {
		reason := strings.ReplaceAll(err.Error(), "certs: ", "")
		if path, _, perr := certs.DevCertPaths(); perr == nil && errors.Is(err, fs.ErrNotExist) {
			reason = "no development certificate at " + path
		}
		return nil, fmt.Errorf("kestrel: %s: %w: the endpoint has none, there is no default certificate, "+
			"and the development certificate cannot be used (%s). Configure a certificate: in code, "+
			"Endpoint.HTTPS or Server.DefaultHTTPS; in the configuration file, the endpoint's Certificate "+
			"or Certificates:Default. For development, create the development certificate with "+
			"`kestrel dev-certs` (go run github.com/kestrel-go/kestrel/cmd/kestrel@latest dev-certs)",
			url, ErrNoCertificate, reason)
	}
	return &HTTPS{Certificate: cert}, nil
}
