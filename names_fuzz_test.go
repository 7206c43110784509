package kestrel

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzSettingNames checks the parsers of the settings' named values
// (Protocols, ClientCertificateMode, ForwardedHeaders, a socket's file
// mode): case and surrounding spaces never matter, Protocols print back
// (String) to text that parses to the same value, and a file mode is the octal number strconv reads, 1 to 0777.
func FuzzSettingNames(f *testing.F) {
	for _, s := range []string{
		"Http1", "http2", "Http1AndHttp2", "Http1AndHttp2AndHttp3", "Http1, Http3", "", ",", "Http1,", "3",
		"NoCertificate", " requirecertificate ", "DelayCertificate", "XForwardedFor,XForwardedProto", "All", "None",
		"Forwarded, all", "0660", "660", "0o660", "0", "1000", "777", "+7", "0x1", "07_7",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseProtocols(s); err == nil {
			if q, err := ParseProtocols(strings.ToUpper(" " + s + " ")); err != nil || q != p {
				t.Fatalf("ParseProtocols(%q) = %v; in upper case %v, %v", s, p, q, err)
			}
			if p != 0 {
				if q, err := ParseProtocols(p.String()); err != nil || q != p {
					t.Fatalf("ParseProtocols(%q) = %v; its String %q parses to %v, %v", s, p, p.String(), q, err)
				}
			}
		}
		if m, err := ParseClientCertificateMode(s); err == nil {
			if n, err := ParseClientCertificateMode(strings.ToUpper(s)); err != nil || n != m {
				t.Fatalf("ParseClientCertificateMode(%q) = %v; in upper case %v, %v", s, m, n, err)
			}
		}
		if h, err := parseForwardedHeaders(s); err == nil {
			if g, err := parseForwardedHeaders(strings.ToLower(s)); err != nil || g != h {
				t.Fatalf("parseForwardedHeaders(%q) = %v; in lower case %v, %v", s, h, g, err)
			}
		}
		m, err := parseSocketMode(s)
		n, nerr := strconv.ParseUint(s, 8, 32)
		if ok := nerr == nil && n >= 1 && n <= 0o777; (err == nil) != ok || ok && uint64(m) != n {
			t.Fatalf("parseSocketMode(%q) = %v, %v; strconv: %o, %v", s, m, err, n, nerr)
		}
	})
}
