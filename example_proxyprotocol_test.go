package kestrel_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/kestrel-go/kestrel"
)

func ExampleProxyProtocol() {
	srv := &kestrel.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The client's address as the balancer in front stated it.
		fmt.Fprintf(w, "client %s", r.RemoteAddr)
		if h := kestrel.ProxyHeaderFromContext(r.Context()); h != nil {
			fmt.Fprintf(w, " (PROXY v%d)", h.Version)
		}
	})}
	err := srv.ListenEndpoint(kestrel.Endpoint{
		Address: "127.0.0.1:0",
		ProxyProtocol: &kestrel.ProxyProtocol{
			TrustedProxies: []string{"127.0.0.1", "10.0.0.0/8"}, // the balancers
			Required:       true,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	// What haproxy's "send-proxy" sends before the client's bytes.
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.Addresses()[0], "http://"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "PROXY TCP4 203.0.113.7 192.0.2.1 40001 80\r\n"+
		"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// client 203.0.113.7:40001 (PROXY v1)
}
