// Package certs is the certificate side of Kestrel's HTTPS support: it loads
// server certificates from PKCS#12 (.pfx/.p12) and PEM files, picks one per
// connection by SNI host name with ASP.NET Core's rules, reloads certificates
// whose files change, manages a development certificate for localhost like
// `dotnet dev-certs https`, and supplies Kestrel's TLS defaults.
//
// Everything here builds on crypto/tls and crypto/x509. PKCS#12 is decoded by
// software.sslmate.com/src/go-pkcs12 and password-protected PKCS#8 keys
// ("ENCRYPTED PRIVATE KEY", PBES2) by github.com/youmark/pkcs8, because the
// standard library has decoders for neither.
//
// A typical HTTPS endpoint with SNI:
//
//	site, _ := certs.NewReloader(certs.Spec{Path: "site.pfx", Password: pw}, logger)
//	other, _ := certs.NewReloader(certs.Spec{Path: "other.crt", KeyPath: "other.key"}, logger)
//	sel, _ := certs.NewSelector("https", certs.DefaultConfig(), map[string]certs.SNIOptions{
//		"www.example.com": {Certificate: site},
//		"*.example.com":   {Certificate: site},
//		"*":               {Certificate: other},
//	})
//	ln := tls.NewListener(tcpListener, sel.TLSConfig())
package certs
