package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

func TestMain(m *testing.M) {
	// quic-go warns once when the kernel caps the UDP buffers below what it
	// asks for, as on most test machines; the warning is about throughput
	// on real networks, not loopback.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Exit(m.Run())
}

// h3Server starts a server with one HTTPS endpoint on 127.0.0.1:0 serving
// HTTP/1.1, HTTP/2 and HTTP/3, and returns it with its host:port.
func h3Server(t testing.TB, s *Server, protocols Protocols) (*Server, string) {
	t.Helper()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	if s.Logger == nil {
		s.Logger = discardLogger()
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: protocols, HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, strings.TrimPrefix(s.Addresses()[0], "https://")
}

// h3Client is an HTTP/3 client (quic-go's) that trusts testCert.
func h3Client(t testing.TB) *http.Client {
	t.Helper()
	tr := &http3.Transport{TLSClientConfig: testClientTLS(t)}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func testClientTLS(t testing.TB) *tls.Config {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	return &tls.Config{RootCAs: pool}
}

var testCertOnce = sync.OnceValues(func() (*tls.Certificate, error) { return selfSignedCert() })

func testCert() (*tls.Certificate, error) { return testCertOnce() }

func TestHTTP3Get(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("Connection", "close") // connection-specific: not sent over HTTP/3
		// A request stream that ends with its HEADERS frame has no body.
		// When the end comes in a later packet (quic-go's client sometimes
		// sends it so), the body's length is unknown until it ends, empty.
		body, err := io.ReadAll(r.Body)
		noBody := r.ContentLength == 0 && r.Body == http.NoBody || r.ContentLength == -1 && len(body) == 0 && err == nil
		fmt.Fprintf(w, "%s %s host=%s tls=%v alpn=%s nobody=%v cookie=%q remote=%v",
			r.Method, r.URL.RequestURI(), r.Host, r.TLS != nil, r.TLS.NegotiatedProtocol, noBody,
			r.Header.Get("Cookie"), r.RemoteAddr != "")
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)
	req, _ := http.NewRequest("GET", "https://"+addr+"/a/b?x=1", nil)
	req.Header.Add("Cookie", "a=1")
	req.Header.Add("Cookie", "b=2")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("GET /a/b?x=1 host=%s tls=true alpn=h3 nobody=true cookie=\"a=1; b=2\" remote=true", addr)
	if resp.ProtoMajor != 3 || resp.Header.Get("X-Proto") != "HTTP/3.0" || string(body) != want {
		t.Fatalf("%s %v %q, want %q", resp.Proto, resp.Header, body, want)
	}
	if resp.Header.Get("Date") == "" || resp.Header.Get("Server") != "Kestrel" || resp.Header.Get("Connection") != "" || resp.Header.Get("Alt-Svc") != "" {
		t.Errorf("headers %v: want Date and Server, no Connection and no Alt-Svc", resp.Header)
	}

	// HEAD: the length of the body a GET would get, no body.
	resp, err = c.Head("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	resp.Body.Close()
}

// TestHTTP3AltSvc checks that the HTTP/1.1 and HTTP/2 responses of an
// endpoint that serves HTTP/3 advertise it, and that HTTP/3 works on the
// port they name.
func TestHTTP3AltSvc(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/own" {
			w.Header().Set("Alt-Svc", "clear")
		}
		io.WriteString(w, r.Proto)
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	_, port, _ := net.SplitHostPort(addr)
	want := `h3=":` + port + `"; ma=86400`
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: testClientTLS(t), ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr}
		resp, err := c.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Alt-Svc"); got != want || resp.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
			t.Errorf("%s: Alt-Svc %q, want %q", resp.Proto, got, want)
		}
		resp, err = c.Get("https://" + addr + "/own")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Values("Alt-Svc"); len(got) != 1 || got[0] != "clear" {
			t.Errorf("%s: the handler's Alt-Svc became %q", resp.Proto, got)
		}
		tr.CloseIdleConnections()
	}
	// The native handler's responses carry it too.
	s2 := &Server{NativeHandler: NativeHandlerFunc(func(c *Context) { c.WriteString("native") })}
	_, addr2 := h3Server(t, s2, HTTP1AndHTTP2AndHTTP3)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: testClientTLS(t)}}).Get("https://" + addr2 + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, port2, _ := net.SplitHostPort(addr2); resp.Header.Get("Alt-Svc") != `h3=":`+port2+`"; ma=86400` {
		t.Errorf("native: Alt-Svc %q", resp.Header.Get("Alt-Svc"))
	}
	// An endpoint without HTTP/3, or with DisableAltSvcHeader, does not.
	for _, ep := range []Endpoint{
		{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2},
		{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, DisableAltSvcHeader: true},
	} {
		cert, _ := testCert()
		ep.HTTPS = &HTTPS{Certificate: cert}
		s3 := &Server{Handler: http.NotFoundHandler(), Logger: discardLogger()}
		s3.ListenEndpoint(ep)
		if err := s3.Start(); err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: testClientTLS(t)}}).Get(s3.Addresses()[0])
		s3.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if v := resp.Header.Get("Alt-Svc"); v != "" {
			t.Errorf("%v (DisableAltSvcHeader %v): Alt-Svc %q", ep.Protocols, ep.DisableAltSvcHeader, v)
		}
	}
}

// echo answers with the request body's length and SHA-256.
var echoSum = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
})

func TestHTTP3Post10MiB(t *testing.T) {
	_, addr := h3Server(t, &Server{Handler: echoSum}, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)
	data := make([]byte, 10<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	want := fmt.Sprintf("%d %x", len(data), sum)
	for _, known := range []bool{true, false} {
		var body io.Reader = bytes.NewReader(data)
		if !known {
			body = io.MultiReader(body) // no length: the client does not send content-length
		}
		req, _ := http.NewRequest("POST", "https://"+addr+"/echo", body)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("content-length %v: %d %q, want %q", known, resp.StatusCode, got, want)
		}
	}
}

// TestHTTP3FullDuplexEcho streams a body both ways at once.
func TestHTTP3FullDuplexEcho(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		buf := make([]byte, 1024)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "https://"+addr+"/", pr)
	resp, err := h3Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	for i := range 5 {
		msg := fmt.Sprintf("ping %d", i)
		pw.Write([]byte(msg))
		if _, err := io.ReadFull(resp.Body, buf[:len(msg)]); err != nil || string(buf[:len(msg)]) != msg {
			t.Fatalf("round %d: %q, %v", i, buf[:len(msg)], err)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the end: %q, %v", rest, err)
	}
}

// TestHTTP3Streaming checks that flushed response bytes reach the client
// while the handler still runs.
func TestHTTP3Streaming(t *testing.T) {
	next := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
		w.Write(bytes.Repeat([]byte("x"), 100<<10)) // past the exchange's buffer
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	resp, err := h3Client(t).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 {
		t.Errorf("streamed response has content-length %d", resp.ContentLength)
	}
	buf := make([]byte, 7)
	for i := range 3 {
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != fmt.Sprintf("part %d\n", i) {
			t.Fatalf("part %d: %q %v", i, buf, err)
		}
		next <- struct{}{}
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest) != 100<<10 {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
}

func TestHTTP3Trailers(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Count")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "got %q", r.Trailer.Get("X-Req-Sum"))
		w.Header().Set("X-Count", fmt.Sprint(n))
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	req, _ := http.NewRequest("POST", "https://"+addr+"/", io.MultiReader(strings.NewReader("hello")))
	req.Trailer = http.Header{"X-Req-Sum": {"abc"}}
	resp, err := h3Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `got "abc"` || resp.Trailer.Get("X-Count") != "5" || resp.Trailer.Get("X-Late") != "yes" {
		t.Fatalf("body %q, trailers %v", body, resp.Trailer)
	}
}

// TestHTTP3Cancellation checks that a request the client cancels cancels
// the handler's context, and that the connection serves on.
func TestHTTP3Cancellation(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan error, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "ok")
			return
		}
		w.Write([]byte("started"))
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(10 * time.Second):
			cancelled <- errors.New("not cancelled")
		}
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/wait", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	resp.Body.Close()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's context: %v", err)
	}
	resp, err = c.Get("https://" + addr + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("after a cancelled request: %q", body)
	}
}

func TestHTTP3Limits(t *testing.T) {
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				SetMaxRequestBodySize(r, 2000)
			}
			echoSum(w, r)
		}),
		Limits: Limits{MaxRequestBodySize: 1000, MaxRequestHeaderCount: 20, MaxRequestHeadersTotalSize: 4096, Http3: Http3Limits{MaxRequestHeaderFieldSize: 1000}},
	}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)
	do := func(path string, body io.Reader, hdr http.Header) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "https://"+addr+path, body)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name string
		path string
		body io.Reader
		hdr  http.Header
		want int
	}{
		{"body at the limit", "/", bytes.NewReader(make([]byte, 1000)), nil, 200},
		{"content-length over the limit", "/", bytes.NewReader(make([]byte, 1001)), nil, 413},
		{"streamed body over the limit", "/", io.MultiReader(bytes.NewReader(make([]byte, 1001))), nil, 413},
		{"per-request limit", "/big", bytes.NewReader(make([]byte, 2000)), nil, 200},
		{"per-request limit crossed", "/big", bytes.NewReader(make([]byte, 2001)), nil, 413},
		{"header field at the limit", "/", nil, http.Header{"X-A": {strings.Repeat("a", 1000)}}, 200},
		{"header field over the limit", "/", nil, http.Header{"X-A": {strings.Repeat("a", 1001)}}, 431},
		{"header section over the limit", "/", nil, http.Header{"X-A": {strings.Repeat("a", 900)}, "X-B": {strings.Repeat("b", 900)},
			"X-C": {strings.Repeat("c", 900)}, "X-D": {strings.Repeat("d", 900)}, "X-E": {strings.Repeat("e", 900)}}, 431},
		{"too many header fields", "/", nil, manyHeaders(20), 431},
	}
	for _, tc := range cases {
		if got, body := do(tc.path, tc.body, tc.hdr); got != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, got, body, tc.want)
		}
	}
}

func manyHeaders(n int) http.Header {
	h := http.Header{}
	for i := range n {
		h.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	return h
}

// TestHTTP3Native serves HTTP/3 with the native handler.
func TestHTTP3Native(t *testing.T) {
	s := &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		n, _ := io.Copy(io.Discard, c.Body())
		c.SetHeader("Content-Type", "text/plain")
		fmt.Fprintf(c, "%s %s %s %d", c.Proto(), c.Method(), c.Path(), n)
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	resp, err := h3Client(t).Post("https://"+addr+"/p", "text/plain", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/3.0 POST /p 3" {
		t.Fatalf("%q", body)
	}
}

// selfSignedCert makes a certificate for localhost, 127.0.0.1 and ::1.
func selfSignedCert() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// TestHTTP3InformationalAndErrors covers 1xx responses, a handler's panic
// before and after the response started, deadlines, and what HTTP/3 does
// not have (Hijack, Upgrade).
func TestHTTP3InformationalAndErrors(t *testing.T) {
	deadlineErr := make(chan error, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "final")
		case "/panic-early":
			panic("before the response")
		case "/panic-late":
			w.Write([]byte("started"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/deadline":
			rc := http.NewResponseController(w)
			rc.SetWriteDeadline(time.Now().Add(-time.Second))
			_, err := w.Write(make([]byte, 64<<10))
			deadlineErr <- err
		case "/hijack":
			_, isHijacker := w.(http.Hijacker)
			_, _, err := http.NewResponseController(w).Hijack()
			_, uerr := Upgrade(w, r)
			fmt.Fprintf(w, "hijacker=%v %v; upgrade: %v", isHijacker, errors.Is(err, http.ErrNotSupported), errors.Is(uerr, ErrNotUpgradable))
		}
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)
	get := func(path string) (*http.Response, string, error) {
		req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
		var hints []int
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				if h.Get("Link") != "" {
					hints = append(hints, code)
				}
				return nil
			},
		}))
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(hints) > 0 {
			resp.Header.Set("Test-Hints", fmt.Sprint(hints))
		}
		return resp, string(b), err
	}
	if resp, body, err := get("/hints"); err != nil || body != "final" || resp.Header.Get("Test-Hints") != "[103]" {
		t.Errorf("early hints: %v %q %v", resp.Header, body, err)
	}
	if resp, _, err := get("/panic-early"); err != nil || resp.StatusCode != 500 {
		t.Errorf("panic before the response: %v %v", resp, err)
	}
	if _, body, err := get("/panic-late"); err == nil {
		t.Errorf("panic after the response started: the client read %q without an error", body)
	}
	if _, _, err := get("/deadline"); err == nil {
		t.Errorf("a response cut by its write deadline read without an error")
	}
	if err := <-deadlineErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a write after the write deadline: %v", err)
	}
	if _, body, err := get("/hijack"); err != nil || body != "hijacker=false true; upgrade: true" {
		t.Errorf("hijack: %q %v", body, err)
	}
}

func TestHTTP3ConnectionLimit(t *testing.T) {
	reader, mp := metricstest.New()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	_, addr := h3Server(t, &Server{Handler: ok, MeterProvider: mp, Limits: Limits{MaxConcurrentConnections: 1}}, HTTP1AndHTTP2AndHTTP3)
	// As in Kestrel, QUIC connections are counted apart from the TCP
	// connections of their endpoint.
	tcp, err := tls.Dial("tcp", addr, testClientTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if err := rawGet(tcp, bufio.NewReader(tcp)); err != nil {
		t.Fatal(err)
	}
	first := &http3.Transport{TLSClientConfig: testClientTLS(t)}
	defer first.Close()
	resp, err := first.RoundTrip(mustRequest("GET", "https://"+addr+"/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	second := &http3.Transport{TLSClientConfig: testClientTLS(t)}
	defer second.Close()
	if resp, err := second.RoundTrip(mustRequest("GET", "https://"+addr+"/")); err == nil {
		resp.Body.Close()
		t.Fatal("a second QUIC connection was served beyond MaxConcurrentConnections 1")
	}
	udp := map[string]string{"server.port": portOf(addr), "network.transport": "udp"}
	waitMetric(t, reader, "kestrel.rejected_connections", udp, 1)
	// Once the first connection ends, a new one is served.
	first.Close()
	waitFor(t, "a connection after the first one closed", func() bool {
		third := &http3.Transport{TLSClientConfig: testClientTLS(t)}
		defer third.Close()
		resp, err := third.RoundTrip(mustRequest("GET", "https://"+addr+"/"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
}

func mustRequest(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// TestHTTP3ShutdownAndObservability checks that a shutdown lets a request
// in flight finish, and that HTTP/3 connections and requests are measured
// and logged like the others, with network.transport udp and
// network.protocol.version 3.
func TestHTTP3ShutdownAndObservability(t *testing.T) {
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	release, started := make(chan struct{}), make(chan struct{})
	var states sync.Map
	s := &Server{MeterProvider: mp, Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			w.Write([]byte("begun "))
			w.(http.Flusher).Flush()
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	}), ConnState: func(c net.Conn, st http.ConnState) {
		if _, isUDP := c.LocalAddr().(*net.UDPAddr); isUDP {
			v, _ := states.LoadOrStore(c, new([]http.ConnState))
			*v.(*[]http.ConnState) = append(*v.(*[]http.ConnState), st)
		}
	}}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	slow, err := c.Get("https://" + addr + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	body, err := io.ReadAll(slow.Body)
	slow.Body.Close()
	if err != nil || string(body) != "begun done" {
		t.Fatalf("the request in flight: %q, %v", body, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	conn := map[string]string{"server.address": "127.0.0.1", "server.port": portOf(addr), "network.type": "ipv4", "network.transport": "udp",
		"network.protocol.name": "http", "network.protocol.version": "3", "tls.protocol.version": "1.3"}
	waitMetric(t, reader, "kestrel.connection.duration", conn, 1)
	if got := metricTotal(t, reader, "kestrel.active_connections", map[string]string{"network.transport": "udp"}); got != 0 {
		t.Errorf("active QUIC connections after shutdown: %v", got)
	}
	reqs := map[string]string{"network.protocol.version": "3", "url.scheme": "https", "http.request.method": "GET", "http.response.status_code": "200"}
	if got := metricTotal(t, reader, "http.server.request.duration", reqs); got != 2 {
		t.Errorf("HTTP/3 requests measured: %v, want 2", got)
	}
	if n := len(rec.events("ConnectionStart")); n != 1 || len(rec.events("ConnectionStop")) != 1 {
		t.Errorf("ConnectionStart/Stop events: %d/%d, want 1/1", n, len(rec.events("ConnectionStop")))
	}
	var got []http.ConnState
	states.Range(func(_, v any) bool { got = *v.(*[]http.ConnState); return true })
	// New, then active and idle in turns (once or twice: the first
	// request may still be ending when the second one starts), then closed.
	ok := len(got) >= 4 && got[0] == http.StateNew && got[len(got)-1] == http.StateClosed && len(got)%2 == 0
	for i := 1; ok && i < len(got)-1; i++ {
		ok = got[i] == []http.ConnState{http.StateActive, http.StateIdle}[(i-1)%2]
	}
	if !ok {
		t.Errorf("connection states %v", got)
	}
}

// TestHTTP3KeepAliveTimeout checks that a connection without requests
// closes after KeepAliveTimeout.
func TestHTTP3KeepAliveTimeout(t *testing.T) {
	closed := make(chan time.Time, 1)
	s := &Server{Handler: http.NotFoundHandler(), Limits: Limits{KeepAliveTimeout: 2 * time.Second},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				closed <- time.Now()
			}
		}}
	_, addr := h3Server(t, s, HTTP3)
	resp, err := h3Client(t).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	start := time.Now()
	select {
	case at := <-closed:
		// The heartbeat's clock has a resolution of a second.
		if d := at.Sub(start); d < time.Second {
			t.Errorf("closed after %v, before the keep-alive timeout (2s)", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an idle connection outlived its keep-alive timeout")
	}
}

// TestHTTP3EndpointRules covers Protocols, the endpoint checks and the
// HTTP/3-only endpoint, which binds no TCP port.
func TestHTTP3EndpointRules(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Protocols
		name string
	}{
		{"Http3", HTTP3, "Http3"},
		{"http1andhttp2andhttp3", HTTP1AndHTTP2AndHTTP3, "Http1AndHttp2AndHttp3"},
		{"Http1, Http3", HTTP1 | HTTP3, "Http1, Http3"},
		{"Http2,Http3", HTTP2 | HTTP3, "Http2, Http3"},
	} {
		p, err := ParseProtocols(tc.in)
		if err != nil || p != tc.want || p.String() != tc.name {
			t.Errorf("ParseProtocols(%q) = %v (%q), %v; want %v", tc.in, p, p.String(), err, tc.want)
		}
	}
	if _, err := ParseProtocols("Http4"); err == nil {
		t.Error("ParseProtocols(Http4) succeeded")
	}

	var s Server
	err := s.ListenEndpoint(Endpoint{URL: "http://127.0.0.1:0", Protocols: HTTP3})
	if err == nil || !strings.Contains(err.Error(), "HTTP/3 needs HTTPS") {
		t.Errorf("HTTP3 on http://: %v", err)
	}
	cert, _ := testCert()
	err = s.ListenEndpoint(Endpoint{UnixPath: "/tmp/kestrel-h3.sock", Protocols: HTTP3, HTTPS: &HTTPS{Certificate: cert}})
	if err == nil || !strings.Contains(err.Error(), "UDP port") {
		t.Errorf("HTTP3 on a Unix socket: %v", err)
	}
	s2 := &Server{Handler: http.NotFoundHandler(), Logger: discardLogger()}
	s2.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP3, HTTPS: &HTTPS{Certificate: cert, MaxVersion: tls.VersionTLS12}})
	if err := s2.Start(); err == nil || !strings.Contains(err.Error(), "TLS 1.3") {
		t.Errorf("HTTP3 with TLS 1.2 only: %v", err)
		s2.Close()
	}

	// Beside other protocols on http://, HTTP/3 is left out with a warning.
	rec, log := newLogRecorder(slog.LevelWarn)
	s3 := &Server{Handler: http.NotFoundHandler(), Logger: log}
	if err := s3.ListenEndpoint(Endpoint{URL: "http://127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3}); err != nil {
		t.Fatal(err)
	}
	if err := s3.Start(); err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if ev := rec.events("Http3DisabledWithHttp1AndNoTls"); len(ev) != 1 {
		t.Errorf("warnings: %+v", rec.events(""))
	}
	resp, err := http.Get(s3.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// An HTTP/3-only endpoint: UDP only, reported by Addresses.
	s4, addr := h3Server(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}, HTTP3)
	if a := s4.Addresses(); len(a) != 1 || !strings.HasPrefix(a[0], "https://127.0.0.1:") {
		t.Errorf("addresses %v", a)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("an HTTP/3-only endpoint accepts TCP connections on %s", addr)
	}
	resp, err = h3Client(t).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/3.0" {
		t.Errorf("%q", body)
	}
}

// TestHTTP3TLS checks that QUIC handshakes use the endpoint's SNI entries
// (and their Protocols) and pick up a reloaded certificate.
func TestHTTP3TLS(t *testing.T) {
	pki := newTestPKI(t)
	h3C, h3K := pki.issue(t, "h3", false, "h3.test")
	h1C, h1K := pki.issue(t, "h1", false, "h1.test")
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.TLS.ServerName) }), Logger: discardLogger()}
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: &HTTPS{SNI: map[string]SNI{
		"h3.test": {CertificateFile: h3C, KeyFile: h3K},
		"h1.test": {CertificateFile: h1C, KeyFile: h1K, Protocols: HTTP1AndHTTP2},
	}}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "https://")
	dialH3 := func(name string) (*x509.Certificate, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		qc, err := quic.DialAddr(ctx, addr, &tls.Config{ServerName: name, RootCAs: pki.pool, NextProtos: []string{"h3"}}, nil)
		if err != nil {
			return nil, err
		}
		defer qc.CloseWithError(0, "")
		return qc.ConnectionState().TLS.PeerCertificates[0], nil
	}
	if cert, err := dialH3("h3.test"); err != nil || cert.Subject.CommonName != "h3" {
		t.Errorf("h3.test over QUIC: %v, %v", cert, err)
	}
	if _, err := dialH3("h1.test"); err == nil {
		t.Error("h1.test, whose SNI entry leaves HTTP/3 out, completed a QUIC handshake")
	}
	// Over TCP, h1.test is served and gets no Alt-Svc.
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "h1.test", RootCAs: pki.pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("h1.test advertised HTTP/3: %q", v)
	}

	// A reloaded certificate file is used by new QUIC connections.
	first, err := dialH3("h3.test")
	if err != nil {
		t.Fatal(err)
	}
	newC, newK := pki.issue(t, "h3-renewed", false, "h3.test")
	os.Rename(newC, h3C)
	os.Rename(newK, h3K)
	past := time.Now().Add(-time.Minute)
	os.Chtimes(h3C, past, past)
	os.Chtimes(h3K, past, past)
	waitFor(t, "the renewed certificate over QUIC", func() bool {
		cert, err := dialH3("h3.test")
		return err == nil && cert.SerialNumber.Cmp(first.SerialNumber) != 0
	})
}

// TestConfigHTTP3 reads Kestrel:Limits:Http3 and the HTTP/3 protocol names
// from a configuration file.
func TestConfigHTTP3(t *testing.T) {
	file := []byte(`{"Kestrel": {
		"EndpointDefaults": {"Protocols": "Http1AndHttp2AndHttp3"},
		"Endpoints": {"Https": {"Url": "https://127.0.0.1:0"}, "Quic": {"Url": "https://127.0.0.1:0", "Protocols": "Http3"}},
		"Limits": {"Http3": {"MaxRequestHeaderFieldSize": 8192}}}}`)
	cfg, err := ParseConfig(file, "kestrel.json", nil, []string{"Kestrel__Limits__Http3__MaxRequestHeaderFieldSize=4096"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if s.Limits.Http3.MaxRequestHeaderFieldSize != 4096 {
		t.Errorf("Limits.Http3 %+v", s.Limits.Http3)
	}
	var protocols []Protocols
	for _, ep := range s.endpoints {
		protocols = append(protocols, ep.opts.Protocols)
	}
	if fmt.Sprint(protocols) != "[Http1AndHttp2AndHttp3 Http3]" {
		t.Errorf("endpoint protocols %v", protocols)
	}
	cfg, err = ParseConfig([]byte(`{"Kestrel": {"Limits": {"Http3": {"MaxRequestHeaderFieldSize": -1}}}}`), "f", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Apply(&Server{}); err == nil || !strings.Contains(err.Error(), "f: Kestrel:Limits:Http3:MaxRequestHeaderFieldSize is -1") {
		t.Errorf("a negative field size: %v", err)
	}
	cfg, err = ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"E": {"Url": "http://127.0.0.1:0", "Protocols": "Http3"}}}}`), "f", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Apply(&Server{}); err == nil || !strings.Contains(err.Error(), "HTTP/3 needs HTTPS") {
		t.Errorf("Http3 on an http:// endpoint: %v", err)
	}
}

// TestHTTP3ShutdownTimeout checks that the shutdown timeout aborts an
// HTTP/3 request that does not finish, cancelling its context.
func TestHTTP3ShutdownTimeout(t *testing.T) {
	rec, log := newLogRecorder(slog.LevelWarn)
	started, aborted := make(chan struct{}), make(chan error, 1)
	s := &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
		aborted <- r.Context().Err()
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	go func() {
		if resp, err := h3Client(t).Get("https://" + addr + "/"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-aborted:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the request's context: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the aborted request's context was not cancelled")
	}
	if ev := rec.events("NotAllConnectionsClosedGracefully"); len(ev) != 1 {
		t.Errorf("events %+v", rec.events(""))
	}
}

// TestHTTP3DataRates checks the minimum data rates on HTTP/3: a body sent
// too slowly fails the read and is answered with 408; a response read too
// slowly resets its stream.
func TestHTTP3DataRates(t *testing.T) {
	t.Parallel()
	rate := DataRate{BytesPerSecond: 100_000, GracePeriod: 1100 * time.Millisecond}
	readErr := make(chan error, 1)
	writeErr := make(chan error, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			SetMinRequestBodyDataRate(r, rate)
			_, err := io.Copy(io.Discard, r.Body)
			readErr <- err
		case "/download":
			SetMinResponseDataRate(r, rate)
			chunk := make([]byte, 64<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					writeErr <- err
					return
				}
			}
		}
	}), Limits: Limits{MinRequestBodyDataRate: NoMinDataRate, MinResponseDataRate: NoMinDataRate}}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	c := h3Client(t)

	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("x")) // a trickle: one byte, then nothing
	req, _ := http.NewRequest("POST", "https://"+addr+"/upload", pr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a body sent too slowly: %d, want 408", resp.StatusCode)
	}
	if err := <-readErr; err == nil {
		t.Error("the handler's read of a body sent too slowly succeeded")
	}

	resp, err = c.Get("https://" + addr + "/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // never read: the client's window fills
	select {
	case err := <-writeErr:
		if err == nil || !strings.Contains(err.Error(), "too slowly") {
			t.Errorf("the handler's write to a client that does not read: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a response the client does not read was not stopped")
	}
}

// TestHTTP3ShutdownServesFirstRequest: an HTTP/3 connection accepted
// just before Shutdown, or during its DrainDelay, whose first request
// arrives a moment later (its client sent it as the handshake completed,
// before the GOAWAY reached it) is served, as over HTTP/1.1
// (TestShutdownServesFirstRequest), not closed at once with the request
// lost (about one new connection in 500 failed so during a drain delay,
// quic-go's client saying "parsing frame failed: H3_NO_ERROR").
func TestHTTP3ShutdownServesFirstRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"shutdown", 0},
		{"drain delay", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accepted := make(chan struct{}, 1)
			s := &Server{DrainDelay: tc.delay, Handler: echoHandler(nil), ConnState: func(c net.Conn, st http.ConnState) {
				if _, udp := c.LocalAddr().(*net.UDPAddr); udp && st == http.StateNew {
					accepted <- struct{}{}
				}
			}}
			_, addr := h3Server(t, s, HTTP3)
			shut := make(chan error, 1)
			shutdown := func() {
				go func() { shut <- s.Shutdown(context.Background()) }()
				pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
			}
			if tc.delay > 0 {
				shutdown() // the connection comes during the delay
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			qc, err := quic.DialAddr(ctx, addr, &tls.Config{RootCAs: testClientTLS(t).RootCAs, NextProtos: []string{"h3"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer qc.CloseWithError(0, "")
			select { // accepted, and waiting for its first request
			case <-accepted:
			case <-ctx.Done():
				t.Fatal("the connection was not accepted in 10 s")
			}
			if tc.delay == 0 {
				shutdown()
			}
			time.Sleep(250 * time.Millisecond) // Shutdown has gone over the idle connections
			if status, err := h3RawGet(qc, "/"); status != 200 || err != nil {
				t.Fatalf("the first request, sent 250 ms after the connection was accepted, during the %s: %d, %v; want 200", tc.name, status, err)
			}
			if tc.delay > 0 {
				s.Close()
			}
			if err := <-shut; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// h3RawGet sends GET path on a new request stream of qc, as a client
// that has not read the server's control stream (and so no GOAWAY) does,
// and returns the response's status.
func h3RawGet(qc *quic.Conn, path string) (int, error) {
	var block bytes.Buffer
	enc := qpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", path}} {
		enc.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
	}
	st, err := qc.OpenStream()
	if err != nil {
		return 0, err
	}
	st.SetDeadline(time.Now().Add(5 * time.Second))
	frame := quicvarint.Append(quicvarint.Append(nil, 0x01), uint64(block.Len())) // HEADERS
	if _, err := st.Write(append(frame, block.Bytes()...)); err != nil {
		return 0, err
	}
	st.Close()
	br := bufio.NewReader(st)
	typ, err := quicvarint.Read(br)
	if err != nil {
		return 0, err
	}
	n, err := quicvarint.Read(br)
	if err != nil {
		return 0, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return 0, err
	}
	if typ != 0x01 {
		return 0, fmt.Errorf("frame %#x, want HEADERS", typ)
	}
	next := qpack.NewDecoder().Decode(p)
	for hf, err := next(); err == nil; hf, err = next() {
		if hf.Name == ":status" {
			return strconv.Atoi(hf.Value)
		}
	}
	return 0, errors.New("no :status")
}

// TestHTTP3AltSvcNotForTLS12SNIEntry: an SNI entry limited to TLS 1.2 on
// an endpoint serving HTTP/3 cannot have HTTP/3 (QUIC needs TLS 1.3), so
// its clients are not sent Alt-Svc (they were, and every HTTP/3 attempt
// then failed its handshake); the other host names keep it.
func TestHTTP3AltSvcNotForTLS12SNIEntry(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "srv", false, "old.test", "new.test")
	s := &Server{Logger: discardLogger(), Handler: okHandler()}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1 | HTTP2 | HTTP3, HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key,
		SNI: map[string]SNI{"old.test": {MaxVersion: tls.VersionTLS12}, "*": {}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "https://")
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	for _, tc := range []struct {
		name string
		h3   bool
	}{{"old.test", false}, {"new.test", true}} {
		cfg := &tls.Config{RootCAs: pki.pool, ServerName: tc.name}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
		resp, err := c.Get("https://127.0.0.1:" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Alt-Svc") != ""; got != tc.h3 {
			t.Errorf("%s: Alt-Svc %q, want it sent: %v", tc.name, resp.Header.Get("Alt-Svc"), tc.h3)
		}
		tr := &http3.Transport{TLSClientConfig: cfg}
		resp, err = (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://127.0.0.1:" + port + "/")
		if err == nil {
			resp.Body.Close()
		}
		tr.Close()
		if (err == nil) != tc.h3 {
			t.Errorf("%s over HTTP/3: %v, want success: %v", tc.name, err, tc.h3)
		}
	}
}

// TestStopReleasesUDPPort: once Close or Shutdown returns, the UDP port
// of an HTTP/3 endpoint is free, as its TCP port is, even while a handler
// that ignores its request's context still runs: a server started at
// once on the same port binds it. The socket was closed only once the
// last QUIC connection's goroutine had ended, after the call returned
// (always with such a handler, and now and then with none), so that a
// program or test restarting a server on its port got "address already
// in use".
func TestStopReleasesUDPPort(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "one", false, "127.0.0.1")
	tests := []struct {
		name string
		stop func(s *Server)
	}{
		{"Close", func(s *Server) { s.Close() }},
		{"Shutdown", func(s *Server) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			s.Shutdown(ctx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stuck := make(chan struct{})
			t.Cleanup(func() { close(stuck) })
			started := make(chan struct{}, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				started <- struct{}{}
				<-stuck // ignores r.Context()
			})
			s, _ := startConfigured(t, h, fmt.Sprintf(`{"Kestrel": {"Endpoints": {"Tls": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3", "Certificate": {"Path": %q, "KeyPath": %q}}}}}`, cert, key))
			addr := strings.TrimPrefix(s.Addresses()[0], "https://")
			tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}
			t.Cleanup(func() { tr.Close() })
			go (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("the request over HTTP/3 did not reach the handler")
			}
			tt.stop(s)
			for _, network := range []string{"tcp", "udp"} {
				var c io.Closer
				var err error
				if network == "tcp" {
					c, err = net.Listen(network, addr)
				} else {
					c, err = net.ListenPacket(network, addr)
				}
				if err != nil {
					t.Errorf("binding %s %s after %s returned: %v", network, addr, tt.name, err)
					continue
				}
				c.Close()
			}
		})
	}
}
