package certs

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// DefaultConfig returns Kestrel's TLS defaults as a new config: TLS 1.2 and
// 1.3; for TLS 1.2 only ECDHE key exchange with AEAD ciphers (AES-GCM,
// ChaCha20-Poly1305), for ECDSA and RSA certificates (TLS 1.3 suites are not
// configurable in Go and are all AEAD); ALPN "http/1.1". CurvePreferences is
// left to Go's default, which offers X25519 and the post-quantum hybrids
// X25519MLKEM768 (and, from Go 1.26, SecP256r1MLKEM768) and follows Go's
// security updates.
func DefaultConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		MaxVersion: tls.VersionTLS13,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"http/1.1"},
	}
}

// ParseSslProtocols parses ASP.NET Core's SslProtocols setting: "Tls12",
// "Tls13", or both ("Tls12, Tls13"; "|" and spaces separate too; case is
// ignored). "None" or an empty string means the system default, which here
// is DefaultConfig's TLS 1.2 to 1.3. Tls, Tls11, Ssl2, Ssl3 and Default
// (= Ssl3|Tls) are refused: those protocol versions are broken.
func ParseSslProtocols(s string) (min, max uint16, err error) {
	var tls12, tls13 bool
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == '|' || r == ' ' || r == '\t'
	}) {
		switch strings.ToLower(tok) {
		case "none":
		case "tls12":
			tls12 = true
		case "tls13":
			tls13 = true
		case "tls", "tls10":
			return 0, 0, fmt.Errorf("%q: TLS 1.0 is insecure and not supported; use Tls12 and/or Tls13", tok)
		case "tls11":
			return 0, 0, fmt.Errorf("%q: TLS 1.1 is insecure and not supported; use Tls12 and/or Tls13", tok)
		case "ssl2", "ssl3":
			return 0, 0, fmt.Errorf("%q: SSL is broken and not supported; use Tls12 and/or Tls13", tok)
		case "default":
			return 0, 0, fmt.Errorf("%q: in .NET this means SSL 3.0 and TLS 1.0, which are insecure; use None for the system default, or Tls12 and/or Tls13", tok)
		default:
			return 0, 0, fmt.Errorf("%q: unknown protocol; valid values are None, Tls12 and Tls13", tok)
		}
	}
	switch {
	case tls12 && !tls13:
		return tls.VersionTLS12, tls.VersionTLS12, nil
	case tls13 && !tls12:
		return tls.VersionTLS13, tls.VersionTLS13, nil
	default:
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
}

// ClientCertificateMode is ASP.NET Core's ClientCertificateMode. The zero
// value, ClientCertificateModeUnset, means "not configured": an SNI entry
// with it inherits the endpoint's setting, and an endpoint with it asks for
// no certificate.
type ClientCertificateMode int

const (
	// ClientCertificateModeUnset: not configured (inherit).
	ClientCertificateModeUnset ClientCertificateMode = iota
	// NoCertificate: no client certificate is asked for.
	NoCertificate
	// AllowCertificate: a client certificate is asked for but optional; if
	// one is sent it is validated.
	AllowCertificate
	// RequireCertificate: the client must send a certificate, which is
	// validated.
	RequireCertificate
)

// String returns the ASP.NET Core name of m.
func (m ClientCertificateMode) String() string {
	switch m {
	case ClientCertificateModeUnset:
		return ""
	case NoCertificate:
		return "NoCertificate"
	case AllowCertificate:
		return "AllowCertificate"
	case RequireCertificate:
		return "RequireCertificate"
	}
	return fmt.Sprintf("ClientCertificateMode(%d)", int(m))
}

// ParseClientCertificateMode parses ASP.NET Core's ClientCertificateMode
// setting (case is ignored): NoCertificate, AllowCertificate or
// RequireCertificate; an empty string is ClientCertificateModeUnset.
// DelayCertificate is refused: it needs TLS renegotiation or post-handshake
// authentication, which Go's crypto/tls server does not offer.
func ParseClientCertificateMode(s string) (ClientCertificateMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return ClientCertificateModeUnset, nil
	case "nocertificate":
		return NoCertificate, nil
	case "allowcertificate":
		return AllowCertificate, nil
	case "requirecertificate":
		return RequireCertificate, nil
	case "delaycertificate":
		return 0, fmt.Errorf("client certificate mode %q is not supported: it needs TLS renegotiation or post-handshake authentication, which Go's TLS server does not offer; use AllowCertificate or RequireCertificate", s)
	}
	return 0, fmt.Errorf("unknown client certificate mode %q; valid values are NoCertificate, AllowCertificate and RequireCertificate", s)
}

// ClientAuthType maps m to the tls.ClientAuthType to use with cfg.
//
// ASP.NET Core validates a client certificate against the system's trust
// store, and lets the application's ClientCertificateValidation callback
// overrule the result. The mapping follows that:
//   - cfg.ClientCAs set: the certificate is verified against that pool
//     (VerifyClientCertIfGiven / RequireAndVerifyClientCert); a
//     VerifyPeerCertificate callback may then reject more.
//   - no ClientCAs, but a VerifyPeerCertificate or VerifyConnection
//     callback: the certificate is requested but not verified by crypto/tls
//     (RequestClientCert / RequireAnyClientCert); the callback is the
//     validation and must do it.
//   - neither: verified against the system roots (crypto/tls uses them when
//     ClientCAs is nil), so that no unvalidated certificate is accepted.
func (m ClientCertificateMode) ClientAuthType(cfg *tls.Config) tls.ClientAuthType {
	verify := cfg == nil || cfg.ClientCAs != nil ||
		(cfg.VerifyPeerCertificate == nil && cfg.VerifyConnection == nil)
	switch m {
	case AllowCertificate:
		if verify {
			return tls.VerifyClientCertIfGiven
		}
		return tls.RequestClientCert
	case RequireCertificate:
		if verify {
			return tls.RequireAndVerifyClientCert
		}
		return tls.RequireAnyClientCert
	}
	return tls.NoClientCert
}

// Apply sets cfg.ClientAuth for m (see ClientAuthType); with
// ClientCertificateModeUnset it leaves cfg as it is. Set ClientCAs and the
// verification callbacks first.
func (m ClientCertificateMode) Apply(cfg *tls.Config) {
	if m == ClientCertificateModeUnset {
		return
	}
	cfg.ClientAuth = m.ClientAuthType(cfg)
}
