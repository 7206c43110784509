package kestrel

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// handshakeServers starts this server and net/http's with the same ECDSA
// certificate, each counting the connections it has closed, and returns
// their addresses, the counters and a client configuration that trusts
// the certificate and resumes no session.
func handshakeServers(t testing.TB) (kestrelAddr, netAddr string, kestrelClosed, netClosed *atomic.Int64, client *tls.Config) {
	t.Helper()
	cert, err := selfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	kestrelClosed, netClosed = new(atomic.Int64), new(atomic.Int64)
	closed := func(c *atomic.Int64) func(net.Conn, http.ConnState) {
		return func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				c.Add(1)
			}
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	s := &Server{Handler: h, Logger: quietLogger, ConnState: closed(kestrelClosed)}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ref := httptest.NewUnstartedServer(h)
	ref.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	ref.Config.ConnState = closed(netClosed)
	ref.StartTLS()
	t.Cleanup(ref.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	client = &tls.Config{RootCAs: pool, ServerName: "localhost", SessionTicketsDisabled: true, NextProtos: []string{"http/1.1"}}
	return strings.TrimPrefix(s.Addresses()[0], "https://"), strings.TrimPrefix(ref.URL, "https://"), kestrelClosed, netClosed, client
}

// handshakes makes n full TLS handshakes with the server at addr, closing
// each connection after it, and waits until the server has closed them
// all (closed counts them).
func handshakes(tb testing.TB, addr string, client *tls.Config, n int, closed *atomic.Int64) {
	tb.Helper()
	want := closed.Load() + int64(n)
	for range n {
		c, err := tls.Dial("tcp", addr, client)
		if err != nil {
			tb.Fatal(err)
		}
		if c.ConnectionState().DidResume {
			tb.Fatal("the session was resumed")
		}
		c.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); closed.Load() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("the server closed %d of %d connections", closed.Load()-want+int64(n), n)
		}
	}
}

// allocsPerHandshake is the allocations of the whole process (client and
// server) per handshake with the server at addr.
func allocsPerHandshake(tb testing.TB, addr string, client *tls.Config, closed *atomic.Int64) float64 {
	const n = 100
	handshakes(tb, addr, client, 10, closed) // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	handshakes(tb, addr, client, n, closed)
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / n
}

// TestTLSHandshakeAllocsLikeNetHTTP: a full TLS handshake and the setup of
// its connection cost this server no more allocations than they cost
// net/http's (the client's, the same for both, are counted in both).
func TestTLSHandshakeAllocsLikeNetHTTP(t *testing.T) {
	kAddr, nAddr, kClosed, nClosed, client := handshakeServers(t)
	// The least of a few interleaved runs: a background goroutine of the
	// runtime or of another server may allocate now and then.
	ours, theirs := 1e9, 1e9
	for range 3 {
		ours = min(ours, allocsPerHandshake(t, kAddr, client, kClosed))
		theirs = min(theirs, allocsPerHandshake(t, nAddr, client, nClosed))
	}
	t.Logf("allocations per handshake, client and server: kestrel %.1f, net/http %.1f", ours, theirs)
	if ours > theirs {
		t.Errorf("a TLS handshake costs %.1f allocations with this server, %.1f with net/http's", ours, theirs)
	}
}

// BenchmarkTLSHandshake makes full TLS 1.3 handshakes (ECDSA P-256, no
// session resumption) with this server and with net/http's, one at a
// time; allocations are the client's and the server's.
func BenchmarkTLSHandshake(b *testing.B) {
	kAddr, nAddr, kClosed, nClosed, client := handshakeServers(b)
	for _, s := range []struct {
		name   string
		addr   string
		closed *atomic.Int64
	}{{"kestrel", kAddr, kClosed}, {"nethttp", nAddr, nClosed}} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				handshakes(b, s.addr, client, 1, s.closed)
			}
		})
	}
}
