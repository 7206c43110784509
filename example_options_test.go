package kestrel_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel"
)

// An "OPTIONS *" request asks about the server, not a resource: the server
// answers it itself, as net/http does, unless DisableGeneralOptionsHandler
// hands it to the handler (here, to say which methods the server allows).
func ExampleServer_DisableGeneralOptionsHandler() {
	for _, disable := range []bool{false, true} {
		srv := &kestrel.Server{
			DisableGeneralOptionsHandler: disable,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodOptions && r.RequestURI == "*" {
					w.Header().Set("Allow", "GET, HEAD, OPTIONS")
					return
				}
				http.NotFound(w, r)
			}),
		}
		if err := srv.Listen("127.0.0.1:0"); err != nil {
			log.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			log.Fatal(err)
		}
		host := strings.TrimPrefix(srv.Addresses()[0], "http://")
		req := &http.Request{Method: "OPTIONS", URL: &url.URL{Scheme: "http", Host: host, Opaque: "*"}, Host: host}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("disabled=%v: %s, Allow: %q\n", disable, resp.Status, resp.Header.Get("Allow"))
		srv.Shutdown(context.Background())
	}
	// Output:
	// disabled=false: 200 OK, Allow: ""
	// disabled=true: 200 OK, Allow: "GET, HEAD, OPTIONS"
}

// Clients behind an L4 load balancer (a Kubernetes Service, a cloud
// network balancer) keep their HTTP/2 and gRPC connections on the
// instances that were there when they connected; a maximum age sends
// each connection away in time (a graceful GOAWAY, or Connection: close
// over HTTP/1.1), so that clients spread over instances added since.
func ExampleLimits_maxConnectionAge() {
	srv := &kestrel.Server{
		Handler: http.NotFoundHandler(),
		Limits: kestrel.Limits{
			MaxConnectionAge:      30 * time.Minute, // each connection's, ±10% at random
			MaxConnectionAgeGrace: 5 * time.Minute,  // then streams still open are cut
		},
	}
	if err := srv.ListenURL("http://*:5000"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
