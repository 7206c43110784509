package requestdecompression_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/requestdecompression"
)

// TestServerLimit: on a kestrel.Server, the limit on the decoded body is
// the request's own body size limit: Limits.MaxRequestBodySize (1 MiB
// here), or what kestrel.SetMaxRequestBodySize set before the handler
// read. A zstd body of 64 KiB of frames that decodes to 64 MiB is refused
// with 413 under the server's limit, and read whole under a raised one;
// the connection serves the next request.
func TestServerLimit(t *testing.T) {
	app := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("limit"); v != "" {
			n, _ := strconv.ParseInt(v, 10, 64)
			if err := kestrel.SetMaxRequestBodySize(r, n); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		n, err := io.CopyBuffer(io.Discard, r.Body, make([]byte, 256<<10))
		if err != nil {
			http.Error(w, "handler: "+err.Error(), 500)
			return
		}
		io.WriteString(w, strconv.FormatInt(n, 10))
	}), requestdecompression.Options{})
	srv := &kestrel.Server{Handler: app, Limits: kestrel.Limits{MaxRequestBodySize: 1 << 20}, Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := srv.Addresses()[0]
	frames := bytes.Repeat(compress(t, "zstd", make([]byte, 1<<20)), 64)
	t.Logf("%d compressed bytes decode to %d", len(frames), 64<<20)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, tc := range []struct {
		query      string
		wantStatus int
		wantBody   string
	}{
		{"", 413, "The request body decompresses to more than 1048576 bytes.\n"},
		{"?limit=" + strconv.Itoa(64<<20), 200, strconv.Itoa(64 << 20)},
		{"?limit=-1", 200, strconv.Itoa(64 << 20)},
		{"?limit=" + strconv.Itoa(64<<20-1), 413, "The request body decompresses to more than 67108863 bytes.\n"},
	} {
		req, _ := http.NewRequest("POST", base+"/"+tc.query, bytes.NewReader(frames))
		req.Header.Set("Content-Encoding", "zstd")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || string(body) != tc.wantBody {
			t.Errorf("POST /%s: %d %q, want %d %q", tc.query, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestHTTP2AndHTTP3: the middleware decodes bodies, and holds them to
// the server's limit, over HTTP/2 and HTTP/3 as over HTTP/1.1.
func TestHTTP2AndHTTP3(t *testing.T) {
	cert, pool := selfSigned(t)
	app := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(b)
	}), requestdecompression.Options{})
	srv := &kestrel.Server{Handler: app, Limits: kestrel.Limits{MaxRequestBodySize: 1 << 20}, Logger: slog.New(slog.DiscardHandler)}
	if err := srv.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP1AndHTTP2AndHTTP3, HTTPS: &kestrel.HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer h2.CloseIdleConnections()
	h3 := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer h3.Close()
	data := sample(200_000)
	frames := bytes.Repeat(compress(t, "zstd", make([]byte, 1<<20)), 4)
	for _, c := range []struct {
		proto string
		rt    http.RoundTripper
	}{{"HTTP/2.0", h2}, {"HTTP/3.0", h3}} {
		for _, coding := range []string{"gzip", "br", "zstd"} {
			req, _ := http.NewRequest("POST", srv.Addresses()[0]+"/", bytes.NewReader(compress(t, coding, data)))
			req.Header.Set("Content-Encoding", coding)
			resp, err := (&http.Client{Transport: c.rt, Timeout: 20 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != c.proto || resp.StatusCode != 200 || !bytes.Equal(body, data) {
				t.Errorf("%s, %s: %s %d, %d bytes back; want 200 and the %d bytes decoded", c.proto, coding, resp.Proto, resp.StatusCode, len(body), len(data))
			}
		}
		req, _ := http.NewRequest("POST", srv.Addresses()[0]+"/", bytes.NewReader(frames))
		req.Header.Set("Content-Encoding", "zstd")
		resp, err := (&http.Client{Transport: c.rt, Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("%s: %d compressed bytes that decode to 4 MiB, over the server's 1 MiB: %d, want 413", c.proto, len(frames), resp.StatusCode)
		}
	}
}
