package kestrel

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
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

// TestTLSHandshakeTimeout: a client that connects and sends nothing, and
// one that sends half a ClientHello, hold their MaxConcurrentConnections
// slots (as in Kestrel, whose connection limit comes before the TLS
// handshake) until HandshakeTimeout closes them; the slots are then free,
// and the handshakes are measured with error.type timeout. A negative
// HandshakeTimeout is an error naming it, not the default in disguise.
func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	cert, err := selfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{-time.Second, Unlimited} {
		s := &Server{Logger: quietLogger}
		err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert, HandshakeTimeout: d}})
		if err == nil {
			err = s.Start()
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "HandshakeTimeout is "+d.String()) {
			t.Errorf("HandshakeTimeout %v: error %v, want one naming HandshakeTimeout", d, err)
		}
	}

	reader, mp := metricstest.New()
	s := &Server{Logger: quietLogger, MeterProvider: mp, Limits: Limits{MaxConcurrentConnections: 2},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert, HandshakeTimeout: 300 * time.Millisecond}})
	client := &tls.Config{InsecureSkipVerify: true}
	silent, half := dial(t, addr), dial(t, addr)
	half.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}) // a record of 512 bytes, 6 sent
	start := time.Now()
	waitMetric(t, reader, "kestrel.active_tls_handshakes", nil, 2)
	if c, err := tls.Dial("tcp", addr, client); err == nil {
		c.Close()
		t.Fatal("a third connection was served while two handshakes held the limit of 2")
	}
	for _, c := range []net.Conn{silent, half} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read %d, %v; want the connection closed", n, err)
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %v, before HandshakeTimeout (300ms)", d)
	}
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		t.Fatalf("no connection served once the handshakes timed out: %v", err)
	}
	defer c.Close()
	if err := rawGet(c, bufio.NewReader(c)); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, reader, "kestrel.tls_handshake.duration", map[string]string{"error.type": "timeout"}, 2)
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "tls_handshake_failed"}, 2)
	waitMetric(t, reader, "kestrel.rejected_connections", nil, 1)
}
