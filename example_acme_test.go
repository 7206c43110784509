package kestrel_test

import (
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"

	"github.com/kestrel-go/kestrel"
)

// Automatic HTTPS: the certificate of example.com comes from Let's
// Encrypt, obtained before Start returns and renewed in the background.
// The CA validates on port 443 (TLS-ALPN-01) or on port 80 (HTTP-01,
// answered ahead of the handler). Servers sharing the storage folder
// share the certificate.
func ExampleACME() {
	srv := &kestrel.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello over", r.Proto)
	})}
	acme := &kestrel.ACME{
		Domains:      []string{"example.com", "www.example.com"},
		Email:        "ops@example.com",
		AgreeToTerms: true, // https://letsencrypt.org/repository/
		Storage:      "/var/lib/app/acme",
		// CA: kestrel.LetsEncryptStagingCA, or Staging: true, to try a set-up.
	}
	if err := srv.ListenEndpoint(kestrel.Endpoint{URL: "https://*:443", Protocols: kestrel.HTTP1AndHTTP2AndHTTP3,
		HTTPS: &kestrel.HTTPS{ACME: acme}}); err != nil {
		log.Fatal(err)
	}
	if err := srv.ListenURL("http://*:80"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
}

// A CA validates domain names only: an IP address (or a wildcard, which
// needs the DNS-01 challenge) is refused when the server starts.
func ExampleACME_refused() {
	dir, err := os.MkdirTemp("", "acme")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv := &kestrel.Server{Logger: slog.New(slog.DiscardHandler)}
	srv.ListenEndpoint(kestrel.Endpoint{URL: "https://127.0.0.1:0", HTTPS: &kestrel.HTTPS{ACME: &kestrel.ACME{
		Domains: []string{"192.0.2.1"}, AgreeToTerms: true, Storage: dir,
	}}})
	fmt.Println(srv.Start())
	// Output:
	// kestrel: https://127.0.0.1:0: ACME domain "192.0.2.1": an IP address: public CAs issue certificates for domain names; use a name that resolves to this server
}
