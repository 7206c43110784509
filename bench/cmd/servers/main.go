// Command servers runs one of the servers the benchmark suite compares,
// each answering the TechEmpower plaintext and JSON tests with the same
// headers (Server, Date, Content-Type, Content-Length), or serving the
// files of a folder:
//
//	servers -server kestrel-native|kestrel-native-metrics|kestrel-native-proxy|kestrel-handler|nethttp|fasthttp [-addr 127.0.0.1:8080] [-tls] [-h2]
//	servers -server kestrel-static|nethttp-static -root DIR [-addr 127.0.0.1:8080] [-tls]
//	servers -server kestrel-h3|quicgo-h3 [-addr 127.0.0.1:8080]
//	servers -server grpc-native|grpc-kestrel|grpc-nethttp|grpc-go [-addr 127.0.0.1:8080]
//	servers -server grpc-native|grpc-kestrel -tls [-addr 127.0.0.1:8080]
//
// -cpuprofile FILE writes a CPU profile until the server is interrupted.
//
// kestrel-native-metrics is kestrel-native with metrics on, recorded by the
// OpenTelemetry SDK for a Prometheus exporter, as `kestrel --metrics` does.
// kestrel-native-proxy is kestrel-native on an endpoint that requires a
// PROXY protocol header (from loopback, the default trusted proxies).
// kestrel-static is package staticfiles on kestrel, nethttp-static is
// net/http's FileServer. kestrel-h3 is kestrel-handler serving HTTP/1.1,
// HTTP/2 and HTTP/3 over TLS (HTTP/3 on the UDP port of the same number);
// quicgo-h3 is quic-go's own http3.Server on a UDP port, serving the same
// handler.
//
// HTTP/2: kestrel serves h2c (prior knowledge) beside HTTP/1.1 on a
// cleartext endpoint and h2 by ALPN over TLS, as configured by default;
// -h2 gives net/http the same (http.Protocols with UnencryptedHTTP2, and
// "h2" in its ALPN list), which it otherwise leaves out of the HTTP/1.1
// comparisons. The grpc servers serve grpc-go's interop TestService (with
// server reflection, for ghz) over h2c: package grpcserver on kestrel's
// native path (grpc-native), grpc.Server.ServeHTTP mounted on kestrel
// (grpc-kestrel) and on net/http (grpc-nethttp), and grpc-go's own HTTP/2
// server, grpc.Server.Serve (grpc-go). With -tls, grpc-native and
// grpc-kestrel serve HTTP/1.1, h2 and HTTP/3 (on the UDP port of the same
// number) over TLS instead.
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
	"github.com/kestrel-go/kestrel/grpcserver"
	"github.com/kestrel-go/kestrel/internal/demo"
	"github.com/kestrel-go/kestrel/internal/metricsexport"
	"github.com/kestrel-go/kestrel/staticfiles"
	"github.com/quic-go/quic-go/http3"
	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"
)

const hello = "Hello, World!"

type message struct {
	Message string `json:"message"`
}

func main() {
	server := flag.String("server", "kestrel-native", "kestrel-native, kestrel-native-metrics, kestrel-native-proxy, kestrel-handler, nethttp, fasthttp, kestrel-static, nethttp-static, grpc-native, grpc-kestrel, grpc-nethttp or grpc-go")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate (not fasthttp)")
	h2 := flag.Bool("h2", false, "nethttp: serve HTTP/2 too (h2c in cleartext, ALPN h2 over TLS); kestrel always does")
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

	cert := selfSigned()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		pprof.StopCPUProfile()
		os.Exit(0)
	}()

	switch *server {
	case "kestrel-native", "kestrel-native-metrics", "kestrel-native-proxy", "kestrel-handler", "kestrel-static", "kestrel-h3":
		s := &kestrel.Server{Handler: http.HandlerFunc(stdHandler(""))}
		ep := kestrel.Endpoint{Address: *addr}
		switch *server {
		case "kestrel-native":
			s.NativeHandler = kestrel.NativeHandlerFunc(native)
		case "kestrel-native-proxy":
			s.NativeHandler = kestrel.NativeHandlerFunc(native)
			ep.ProxyProtocol = &kestrel.ProxyProtocol{Required: true}
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
		if *useTLS || *server == "kestrel-h3" {
			ep.HTTPS = &kestrel.HTTPS{Certificate: &cert}
		}
		if *server == "kestrel-h3" {
			ep.Protocols = kestrel.HTTP1AndHTTP2AndHTTP3
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
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		nextProtos := []string{"http/1.1"}
		if *h2 {
			srv.Protocols.SetHTTP2(true)
			srv.Protocols.SetUnencryptedHTTP2(true)
			nextProtos = []string{"h2", "http/1.1"}
		}
		if *useTLS {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: nextProtos}
			log.Fatal(srv.ServeTLS(ln, "", ""))
		}
		log.Fatal(srv.Serve(ln))
	case "quicgo-h3":
		pc, err := net.ListenPacket("udp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("listening on %s\n", pc.LocalAddr())
		s := &http3.Server{Handler: http.HandlerFunc(stdHandler("quic-go")), TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}})}
		log.Fatal(s.Serve(pc))
	case "grpc-native", "grpc-kestrel", "grpc-nethttp", "grpc-go":
		var tlsCert *tls.Certificate
		if *useTLS {
			tlsCert = &cert
		}
		serveGRPC(*server, *addr, tlsCert)
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

// serveGRPC serves grpc-go's interop TestService, with reflection, on one
// of the four servers.
func serveGRPC(server, addr string, cert *tls.Certificate) {
	if server == "grpc-native" {
		ns := grpcserver.NewServer()
		testgrpc.RegisterTestServiceServer(ns, interop.NewTestServer())
		reflection.Register(ns)
		serveKestrel(ns, addr, cert)
		return
	}
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	reflection.Register(gs)
	switch server {
	case "grpc-kestrel":
		serveKestrel(gs, addr, cert)
	case "grpc-nethttp":
		srv := &http.Server{Handler: gs, Protocols: new(http.Protocols)}
		srv.Protocols.SetUnencryptedHTTP2(true)
		log.Fatal(srv.Serve(listen(addr)))
	default:
		log.Fatal(gs.Serve(listen(addr)))
	}
}

// serveKestrel serves h on kestrel's default cleartext endpoint (HTTP/1.1
// and h2c), or with a certificate on an HTTPS one serving HTTP/1.1, h2 and
// HTTP/3.
func serveKestrel(h http.Handler, addr string, cert *tls.Certificate) {
	s := &kestrel.Server{Handler: h}
	ep := kestrel.Endpoint{Address: addr}
	if cert != nil {
		ep.HTTPS = &kestrel.HTTPS{Certificate: cert}
		ep.Protocols = kestrel.HTTP1AndHTTP2AndHTTP3
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
