package kestrel_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/quic-go/quic-go/http3"

	"github.com/kestrel-go/kestrel"
)

func init() {
	// quic-go warns once when the kernel caps UDP buffers below what it
	// asks for, as on most test machines; it matters on real networks, not
	// on loopback.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
}

// An HTTPS endpoint that serves HTTP/3 beside HTTP/1.1 and HTTP/2: its
// other responses advertise HTTP/3, which is on the UDP port of the same
// number.
func ExampleProtocols() {
	cert, err := selfSigned() // your certificate, or CertificateFile and KeyFile
	if err != nil {
		log.Fatal(err)
	}
	srv := &kestrel.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }),
		Logger:  slog.New(slog.DiscardHandler),
	}
	err = srv.ListenEndpoint(kestrel.Endpoint{
		Address:   "127.0.0.1:0",
		Protocols: kestrel.HTTP1AndHTTP2AndHTTP3,
		HTTPS:     &kestrel.HTTPS{Certificate: cert},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	url := srv.Addresses()[0]
	insecure := &tls.Config{InsecureSkipVerify: true} // the example's certificate is self-signed

	tr := &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Proto, strings.HasPrefix(resp.Header.Get("Alt-Svc"), `h3=":`))

	h3 := &http3.Transport{TLSClientConfig: insecure} // quic-go's HTTP/3 client
	defer h3.Close()
	resp, err = (&http.Client{Transport: h3}).Get(url)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	// Output:
	// HTTP/2.0 true
	// HTTP/3.0
}
