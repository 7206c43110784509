// Command servers runs one of the servers the benchmark suite compares,
// each answering the TechEmpower plaintext and JSON tests with the same
// headers (Server, Date, Content-Type, Content-Length), or serving the
// files of a folder:
//
//	servers -server kestrel-native|kestrel-native-metrics|kestrel-handler|nethttp|fasthttp [-addr 127.0.0.1:8080] [-tls]
//	servers -server kestrel-static|nethttp-static -root DIR [-addr 127.0.0.1:8080] [-tls]
//
// -cpuprofile FILE writes a CPU profile until the server is interrupted.
//
// kestrel-native-metrics is kestrel-native with metrics on, recorded by the
// OpenTelemetry SDK for a Prometheus exporter, as `kestrel --metrics` does.
// kestrel-static is package staticfiles on kestrel, nethttp-static is
// net/http's FileServer.
//
// It prints "listening on ADDR" once it accepts connections.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/demo"
	"github.com/kestrel-go/kestrel/internal/metricsexport"
	"github.com/kestrel-go/kestrel/staticfiles"
	"github.com/valyala/fasthttp"
)

const hello = "Hello, World!"

type message struct {
	Message string `json:"message"`
}

func main() {
	server := flag.String("server", "kestrel-native", "kestrel-native, kestrel-handler, nethttp or fasthttp")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate (not fasthttp)")
	root := flag.String("root", "", "the folder the static-file servers serve")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until the server is interrupted")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}

	var cert tls.Certificate
	if *useTLS {
		cert = selfSigned()
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		pprof.StopCPUProfile()
		os.Exit(0)
	}()

	switch *server {
	case "kestrel-native", "kestrel-native-metrics", "kestrel-handler", "kestrel-static":
		s := &kestrel.Server{Handler: http.HandlerFunc(stdHandler(""))}
		switch *server {
		case "kestrel-native":
			s.NativeHandler = kestrel.NativeHandlerFunc(native)
		case "kestrel-native-metrics":
			s.NativeHandler = kestrel.NativeHandlerFunc(native)
			exp, err := metricsexport.New()
			if err != nil {
				log.Fatal(err)
			}
			s.MeterProvider = exp.Provider
		case "kestrel-static":
			h, err := staticfiles.New(*root, staticfiles.Options{})
			if err != nil {
				log.Fatal(err)
			}
			s.Handler = h
		}
		ep := kestrel.Endpoint{Address: *addr}
		if *useTLS {
			ep.HTTPS = &kestrel.HTTPS{Certificate: &cert}
		}
		if err := s.ListenEndpoint(ep); err != nil {
			log.Fatal(err)
		}
		if err := s.Start(); err != nil {
			log.Fatal(err)
		}
		a := s.Addresses()[0]
		fmt.Printf("listening on %s\n", a[strings.Index(a, "://")+3:])
		select {}
	case "nethttp", "nethttp-static":
		ln := listen(*addr)
		// wrk closes its connections mid-handshake when a run ends; net/http
		// would print a line for each.
		srv := &http.Server{Handler: http.HandlerFunc(stdHandler("net/http")), ErrorLog: log.New(dropHandshakeErrors{os.Stderr}, "", log.LstdFlags)}
		if *server == "nethttp-static" {
			srv.Handler = http.FileServer(http.Dir(*root))
		}
		if *useTLS {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
			log.Fatal(srv.ServeTLS(ln, "", ""))
		}
		log.Fatal(srv.Serve(ln))
	case "fasthttp":
		ln := listen(*addr)
		s := &fasthttp.Server{Handler: fastHandler, Name: "fasthttp"}
		log.Fatal(s.Serve(ln))
	default:
		log.Fatalf("unknown server %q", *server)
	}
}

// native serves the tests on kestrel's zero-allocation API; the JSON is
// encoded per request without allocating (as for fasthttp).
func native(c *kestrel.Context) {
	switch string(c.Path()) {
	case "/plaintext":
		c.SetContentType("text/plain")
		c.WriteString(hello)
	case "/json":
		c.SetContentType("application/json")
		demo.WriteMessageJSON(c, hello)
	default:
		c.SetStatus(http.StatusNotFound)
	}
}

// stdHandler serves the tests through net/http's types; server names the
// Server header (kestrel sends its own).
func stdHandler(server string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if server != "" {
			h["Server"] = []string{server}
		}
		switch r.URL.Path {
		case "/plaintext":
			h["Content-Type"] = []string{"text/plain"}
			w.Write([]byte(hello))
		case "/json":
			h["Content-Type"] = []string{"application/json"}
			b, _ := json.Marshal(message{Message: hello})
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}
}

func fastHandler(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/plaintext":
		ctx.SetContentType("text/plain")
		ctx.WriteString(hello)
	case "/json":
		ctx.SetContentType("application/json")
		demo.WriteMessageJSON(ctx, hello)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

// dropHandshakeErrors passes log lines on, except TLS handshake errors.
type dropHandshakeErrors struct{ w io.Writer }

func (d dropHandshakeErrors) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		return len(p), nil
	}
	return d.w.Write(p)
}

// listen binds addr and announces it.
func listen(addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	return ln
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
