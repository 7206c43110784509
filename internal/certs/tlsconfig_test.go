package certs

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.MinVersion != tls.VersionTLS12 || c.MaxVersion != tls.VersionTLS13 {
		t.Errorf("versions %x-%x, want TLS 1.2-1.3", c.MinVersion, c.MaxVersion)
	}
	if !slices.Equal(c.NextProtos, []string{"http/1.1"}) {
		t.Errorf("NextProtos = %q", c.NextProtos)
	}
	if c.CurvePreferences != nil {
		t.Errorf("CurvePreferences = %v, want Go's default", c.CurvePreferences)
	}
	want := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	if !slices.Equal(c.CipherSuites, want) {
		t.Errorf("CipherSuites = %v", c.CipherSuites)
	}
	for _, id := range c.CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("suite %s is not ECDHE+AEAD", name)
		}
		for _, insecure := range tls.InsecureCipherSuites() {
			if insecure.ID == id {
				t.Errorf("suite %s is insecure", name)
			}
		}
	}
	// Each call returns a config of its own.
	c.NextProtos[0] = "changed"
	if DefaultConfig().NextProtos[0] != "http/1.1" {
		t.Error("DefaultConfig shares state between calls")
	}
}

func TestParseSslProtocols(t *testing.T) {
	for _, tc := range []struct {
		in       string
		min, max uint16
		err      string
	}{
		{in: "", min: tls.VersionTLS12, max: tls.VersionTLS13},
		{in: "None", min: tls.VersionTLS12, max: tls.VersionTLS13},
		{in: "Tls12", min: tls.VersionTLS12, max: tls.VersionTLS12},
		{in: "tls13", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{in: "Tls12, Tls13", min: tls.VersionTLS12, max: tls.VersionTLS13},
		{in: "Tls13|Tls12", min: tls.VersionTLS12, max: tls.VersionTLS13},
		{in: "None, Tls13", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{in: "Tls", err: "TLS 1.0 is insecure"},
		{in: "Tls11", err: "TLS 1.1 is insecure"},
		{in: "Tls11, Tls12", err: "TLS 1.1 is insecure"},
		{in: "Ssl3", err: "SSL is broken"},
		{in: "Default", err: "insecure"},
		{in: "Tls14", err: "unknown protocol"},
	} {
		min, max, err := ParseSslProtocols(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSslProtocols(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || min != tc.min || max != tc.max {
			t.Errorf("ParseSslProtocols(%q) = %x, %x, %v; want %x, %x", tc.in, min, max, err, tc.min, tc.max)
		}
	}
}

func TestParseClientCertificateMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ClientCertificateMode
		err  string
	}{
		{in: "", want: ClientCertificateModeUnset},
		{in: "NoCertificate", want: NoCertificate},
		{in: "allowcertificate", want: AllowCertificate},
		{in: " RequireCertificate ", want: RequireCertificate},
		{in: "DelayCertificate", err: "not supported"},
		{in: "Sometimes", err: "unknown client certificate mode"},
	} {
		got, err := ParseClientCertificateMode(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseClientCertificateMode(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseClientCertificateMode(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.in != "" && !strings.EqualFold(got.String(), strings.TrimSpace(tc.in)) {
			t.Errorf("String() = %q", got.String())
		}
	}
}

func TestClientCertificateModeMapping(t *testing.T) {
	withCAs := &tls.Config{ClientCAs: x509.NewCertPool()}
	withCallback := &tls.Config{VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { return nil }}
	withBoth := &tls.Config{ClientCAs: x509.NewCertPool(), VerifyPeerCertificate: withCallback.VerifyPeerCertificate}
	plain := &tls.Config{}
	for _, tc := range []struct {
		mode ClientCertificateMode
		cfg  *tls.Config
		want tls.ClientAuthType
	}{
		{NoCertificate, withCAs, tls.NoClientCert},
		{ClientCertificateModeUnset, withCAs, tls.NoClientCert},
		{AllowCertificate, withCAs, tls.VerifyClientCertIfGiven},
		{AllowCertificate, withBoth, tls.VerifyClientCertIfGiven},
		{AllowCertificate, withCallback, tls.RequestClientCert},
		{AllowCertificate, plain, tls.VerifyClientCertIfGiven},
		{RequireCertificate, withCAs, tls.RequireAndVerifyClientCert},
		{RequireCertificate, withCallback, tls.RequireAnyClientCert},
		{RequireCertificate, plain, tls.RequireAndVerifyClientCert},
		{RequireCertificate, nil, tls.RequireAndVerifyClientCert},
	} {
		if got := tc.mode.ClientAuthType(tc.cfg); got != tc.want {
			t.Errorf("%v.ClientAuthType = %v, want %v", tc.mode, got, tc.want)
		}
	}
	cfg := &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	ClientCertificateModeUnset.Apply(cfg)
	if cfg.ClientAuth != tls.RequireAnyClientCert {
		t.Error("Unset.Apply changed ClientAuth")
	}
	AllowCertificate.Apply(cfg)
	if cfg.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("Allow.Apply: ClientAuth = %v", cfg.ClientAuth)
	}
}
