package kestrel_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/kestrel-go/kestrel"
)

func ExampleHTTPS_tlsHandshakeCallback() {
	cert, roots := ticketExampleCert()
	srv := &kestrel.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s over %s", r.TLS.ServerName, tls.VersionName(r.TLS.Version))
	})}
	err := srv.ListenEndpoint(kestrel.Endpoint{
		Address: "127.0.0.1:0",
		HTTPS: &kestrel.HTTPS{
			Certificate: cert,
			TLSHandshakeCallback: func(hello *kestrel.ClientHello) (*tls.Config, error) {
				// hello.Raw is the ClientHello as sent: hash it, or
				// compute a JA3/JA4 fingerprint from it.
				_ = sha256.Sum256(hello.Raw)
				switch hello.ServerName {
				case "localhost":
					// TLS 1.3 only for this name, chosen at run time.
					return &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS13}, nil
				case "blocked.example":
					return nil, fmt.Errorf("%s is not served here", hello.ServerName)
				}
				return nil, nil // the endpoint's configuration
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	addr := strings.TrimPrefix(srv.Addresses()[0], "https://")

	for _, name := range []string{"localhost", "blocked.example"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name, InsecureSkipVerify: name != "localhost"}}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
		if err != nil {
			fmt.Println(name, "refused:", strings.Contains(err.Error(), "internal error"))
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
		tr.CloseIdleConnections()
	}
	// Output:
	// localhost over TLS 1.3
	// blocked.example refused: true
}

func ExampleTLSFromContext() {
	srv := &kestrel.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Code that only gets a context (a logger, a store) finds the
		// connection's TLS state there, as r.TLS has it.
		if cs := kestrel.TLSFromContext(r.Context()); cs != nil {
			fmt.Fprintf(w, "TLS %s to %s\n", tls.VersionName(cs.Version), cs.ServerName)
			return
		}
		io.WriteString(w, "cleartext\n")
	})}
	_ = srv
}
