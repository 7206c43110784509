package kestrel

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// ja3 is the JA3 string of a ClientHello message (version, cipher suites,
// extensions, groups, point formats), computed from its bytes alone.
func ja3(msg []byte) (s string, err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("truncated ClientHello")
		}
	}()
	if msg[0] != 1 || int(msg[1])<<16|int(msg[2])<<8|int(msg[3]) != len(msg)-4 {
		return "", errors.New("not one whole ClientHello message")
	}
	p := msg[4:]
	u16 := func(b []byte) int { return int(binary.BigEndian.Uint16(b)) }
	join := func(v []int) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, "-")
	}
	version := u16(p)
	p = p[2+32:]        // version, random
	p = p[1+int(p[0]):] // session id
	var ciphers, exts, groups, points []int
	cs := p[2 : 2+u16(p)]
	for i := 0; i < len(cs); i += 2 {
		ciphers = append(ciphers, u16(cs[i:]))
	}
	p = p[2+len(cs):]
	p = p[1+int(p[0]):] // compression methods
	e := p[2 : 2+u16(p)]
	for len(e) > 0 {
		typ, data := u16(e), e[4:4+u16(e[2:])]
		exts = append(exts, typ)
		switch typ {
		case 10: // supported_groups
			for i := 2; i < 2+u16(data); i += 2 {
				groups = append(groups, u16(data[i:]))
			}
		case 11: // ec_point_formats
			for _, b := range data[1 : 1+int(data[0])] {
				points = append(points, int(b))
			}
		}
		e = e[4+len(data):]
	}
	return fmt.Sprintf("%d,%s,%s,%s,%s", version, join(ciphers), join(exts), join(groups), join(points)), nil
}

// ja3FromInfo is the same string from crypto/tls's parse of the
// ClientHello, to check that Raw is the message crypto/tls read.
func ja3FromInfo(info *tls.ClientHelloInfo) string {
	ints := func(n int, at func(int) int) string {
		s := make([]string, n)
		for i := range n {
			s[i] = strconv.Itoa(at(i))
		}
		return strings.Join(s, "-")
	}
	return fmt.Sprintf("%d,%s,%s,%s,%s", tls.VersionTLS12,
		ints(len(info.CipherSuites), func(i int) int { return int(info.CipherSuites[i]) }),
		ints(len(info.Extensions), func(i int) int { return int(info.Extensions[i]) }),
		ints(len(info.SupportedCurves), func(i int) int { return int(info.SupportedCurves[i]) }),
		ints(len(info.SupportedPoints), func(i int) int { return int(info.SupportedPoints[i]) }))
}

// helloSeen is what a test's ConnContext puts in a connection's context,
// for the TLS callback to fill and the handler to read.
type helloSeen struct {
	mu          sync.Mutex
	serverName  string
	fingerprint string
}

type helloSeenKey struct{}

// TestTLSHandshakeCallback: the callback picks, by the SNI name, a
// certificate and TLS versions at run time, keeps the endpoint's for
// other names, and refuses one name (a TLS alert, the end reason
// tls_refused, the reason in the log event); the ClientHello's raw
// bytes give a JA3 fingerprint that matches crypto/tls's parse, is the
// same for the same client twice and differs for another client; what
// the callback learned reaches the requests through ConnContext's
// context.
func TestTLSHandshakeCallback(t *testing.T) {
	pki := newTestPKI(t)
	load := func(name string, hosts ...string) tls.Certificate {
		c, k := pki.issue(t, name, false, hosts...)
		cert, err := tls.LoadX509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	modern, legacy := load("modern", "modern.test"), load("legacy", "legacy.test")
	defCert, defKey := pki.issue(t, "default", false, "127.0.0.1", "other.test")

	var callbackErrs []string
	var mu sync.Mutex
	callback := func(hello *ClientHello) (*tls.Config, error) {
		fp, err := ja3(hello.Raw)
		if err == nil && fp != ja3FromInfo(hello.ClientHelloInfo) {
			err = fmt.Errorf("JA3 from the raw bytes %s, from crypto/tls %s", fp, ja3FromInfo(hello.ClientHelloInfo))
		}
		if err != nil {
			mu.Lock()
			callbackErrs = append(callbackErrs, err.Error())
			mu.Unlock()
		}
		if seen, ok := hello.Context().Value(helloSeenKey{}).(*helloSeen); ok {
			sum := sha256.Sum256([]byte(fp))
			seen.mu.Lock()
			seen.serverName, seen.fingerprint = hello.ServerName, hex.EncodeToString(sum[:8])
			seen.mu.Unlock()
		}
		switch hello.ServerName {
		case "modern.test":
			return &tls.Config{Certificates: []tls.Certificate{modern}, MinVersion: tls.VersionTLS13}, nil
		case "legacy.test":
			return &tls.Config{Certificates: []tls.Certificate{legacy}, MaxVersion: tls.VersionTLS12}, nil
		case "refused.test":
			return nil, errors.New("no service for refused.test")
		}
		return nil, nil
	}
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{
		MeterProvider: mp,
		Logger:        log,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, helloSeenKey{}, &helloSeen{})
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen := r.Context().Value(helloSeenKey{}).(*helloSeen)
			seen.mu.Lock()
			defer seen.mu.Unlock()
			fmt.Fprintf(w, "%s|%s|%s|%s", r.TLS.ServerName, tls.VersionName(r.TLS.Version), seen.serverName, seen.fingerprint)
		}),
	}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: defCert, KeyFile: defKey, TLSHandshakeCallback: callback}})

	get := func(serverName string, client *tls.Config) (body, peer string, err error) {
		cfg := client.Clone()
		cfg.RootCAs, cfg.ServerName = pki.pool, serverName
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.TLS.PeerCertificates[0].Subject.CommonName, nil
	}
	fields := func(body string) []string {
		f := strings.Split(body, "|")
		if len(f) != 4 {
			t.Fatalf("answer %q", body)
		}
		return f
	}

	for _, tc := range []struct {
		name, cert, version string
	}{
		{"modern.test", "modern", "TLS 1.3"},
		{"legacy.test", "legacy", "TLS 1.2"},
		{"other.test", "default", "TLS 1.3"},
	} {
		body, peer, err := get(tc.name, &tls.Config{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		f := fields(body)
		if peer != tc.cert || f[0] != tc.name || f[1] != tc.version || f[2] != tc.name {
			t.Errorf("%s: certificate %s, answer %q; want certificate %s, %s", tc.name, peer, body, tc.cert, tc.version)
		}
	}
	// modern.test needs TLS 1.3, which this client does not offer.
	if _, _, err := get("modern.test", &tls.Config{MaxVersion: tls.VersionTLS12}); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("a TLS 1.2 client of modern.test: %v; want a protocol version alert", err)
	}

	// The fingerprint: the same client twice, then another client.
	fp := func(c *tls.Config) string {
		body, _, err := get("other.test", c)
		if err != nil {
			t.Fatal(err)
		}
		return fields(body)[3]
	}
	one, two := fp(&tls.Config{}), fp(&tls.Config{})
	other := fp(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, CurvePreferences: []tls.CurveID{tls.CurveP256}})
	if one != two || one == other {
		t.Errorf("fingerprints %s and %s of the same client, %s of another: want the first two equal, the third different", one, two, other)
	}

	// A refused ClientHello: an alert, the end reason, the log event.
	_, _, err := get("refused.test", &tls.Config{})
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("a refused client: %v; want an internal_error alert", err)
	}
	port := portOf(addr)
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "tls_refused", "server.port": port}, 1)
	waitMetric(t, reader, "kestrel.tls_handshake.duration", map[string]string{"error.type": "refused", "server.port": port}, 1)
	var found bool
	for _, e := range rec.events("AuthenticationFailed") {
		found = found || strings.Contains(e.attrs["Exception"], "no service for refused.test")
	}
	if !found {
		t.Errorf("no AuthenticationFailed event with the callback's reason: %+v", rec.events("AuthenticationFailed"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(callbackErrs) > 0 {
		t.Errorf("the ClientHello bytes: %s", slices.Compact(callbackErrs))
	}
}

// BenchmarkTLSHandshakeCallback makes full TLS handshakes with an
// endpoint without a TLSHandshakeCallback and with one that looks at the
// ClientHello's bytes and keeps the endpoint's configuration: the cost of
// recording the ClientHello. Allocations are the client's and the
// server's.
func BenchmarkTLSHandshakeCallback(b *testing.B) {
	cert, err := selfSignedCert()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		callback func(*ClientHello) (*tls.Config, error)
	}{
		{"none", nil},
		{"callback", func(h *ClientHello) (*tls.Config, error) {
			if len(h.Raw) == 0 {
				return nil, errors.New("no ClientHello bytes")
			}
			return nil, nil
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var closed atomic.Int64
			s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
				ConnState: func(_ net.Conn, st http.ConnState) {
					if st == http.StateClosed {
						closed.Add(1)
					}
				}}
			if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert, TLSHandshakeCallback: bc.callback}}); err != nil {
				b.Fatal(err)
			}
			if err := s.Start(); err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			pool := x509.NewCertPool()
			pool.AddCert(cert.Leaf)
			client := &tls.Config{RootCAs: pool, ServerName: "localhost", SessionTicketsDisabled: true, NextProtos: []string{"http/1.1"}}
			addr := strings.TrimPrefix(s.Addresses()[0], "https://")
			b.ReportAllocs()
			for b.Loop() {
				handshakes(b, addr, client, 1, &closed)
			}
		})
	}
}
