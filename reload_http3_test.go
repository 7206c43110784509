package kestrel

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// TestReloadHTTP3 reloads endpoints that serve HTTP/3: a changed endpoint
// keeps its UDP port, its request in flight finishes, and new connections
// get the new certificate; a removed one gives its UDP port back once its
// connections are gone, and the endpoint that no longer serves HTTP/3
// stops advertising it.
func TestReloadHTTP3(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	c1, k1 := pki.issue(t, "one", false, "127.0.0.1")
	c2, k2 := pki.issue(t, "two", false, "127.0.0.1")
	cfg := func(cert, key, protocols string, quicOnly bool) string {
		eps := fmt.Sprintf(`"Both": {"Url": "https://127.0.0.1:0", "Protocols": %q, "Certificate": {"Path": %q, "KeyPath": %q}}`, protocols, cert, key)
		if quicOnly {
			eps += fmt.Sprintf(`, "Quic": {"Url": "https://127.0.0.1:0", "Protocols": "Http3", "Certificate": {"Path": %q, "KeyPath": %q}}`, cert, key)
		}
		return `{"Kestrel": {"Endpoints": {` + eps + `}}}`
	}
	g := newGated()
	defer func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	}()
	s, _ := startConfigured(t, g, cfg(c1, k1, "Http1AndHttp2AndHttp3", true))
	addrs := s.Addresses()
	if len(addrs) != 2 {
		t.Fatalf("addresses %q", addrs)
	}
	both, quicOnly := strings.TrimPrefix(addrs[0], "https://"), strings.TrimPrefix(addrs[1], "https://")
	newClient := func() *http.Client {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}
		t.Cleanup(func() { tr.Close() })
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client, addr, path string) (string, string, error) {
		resp, err := c.Get("https://" + addr + path)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), resp.TLS.PeerCertificates[0].Subject.CommonName, err
	}
	for _, a := range []string{both, quicOnly} {
		if body, cn, err := get(newClient(), a, "/a"); body != "hello /a" || cn != "one" || err != nil {
			t.Fatalf("before, %s: %q from %q, %v", a, body, cn, err)
		}
	}
	inFlight := make(chan string, 1)
	go func() {
		body, _, err := get(newClient(), both, "/wait")
		if err != nil {
			body = err.Error()
		}
		inFlight <- body
	}()
	<-g.started

	// A new certificate: both endpoints change, at the same addresses.
	reloadJSON(t, s, cfg(c2, k2, "Http1AndHttp2AndHttp3", true))
	if got := s.Addresses(); !slices.Equal(got, addrs) {
		t.Fatalf("the endpoints moved: %q -> %q", addrs, got)
	}
	for _, a := range []string{both, quicOnly} {
		if body, cn, err := get(newClient(), a, "/b"); body != "hello /b" || cn != "two" || err != nil {
			t.Errorf("after the change, %s: %q from %q, %v", a, body, cn, err)
		}
	}
	close(g.release)
	if body := <-inFlight; body != "hello /wait" {
		t.Errorf("the request in flight across the change: %q", body)
	}

	// HTTP/3 off on one endpoint, the HTTP/3-only one removed.
	reloadJSON(t, s, cfg(c2, k2, "Http1AndHttp2", false))
	if got := s.Addresses(); !slices.Equal(got, addrs[:1]) {
		t.Fatalf("addresses %q, want %q", got, addrs[:1])
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + both + "/c")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("Alt-Svc %q after HTTP/3 was turned off", v)
	}
	for _, a := range []string{both, quicOnly} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for {
			pc, err := net.ListenPacket("udp", a)
			if err == nil {
				pc.Close()
				break
			}
			if ctx.Err() != nil {
				t.Errorf("UDP %s is still bound: %v", a, err)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}
}

// countingBody is an endless request body that counts what the client
// took of it.
type countingBody struct{ n atomic.Int64 }

func (b *countingBody) Read(p []byte) (int, error) {
	p = p[:min(len(p), 4096)]
	b.n.Add(int64(len(p)))
	return len(p), nil
}

// TestReloadHTTP3Limits: new limits apply to the new QUIC connections of
// an HTTP/3 endpoint the reload keeps, as to its TCP connections: the
// request stream's receive window follows MaxRequestBufferSize, so a
// client sends no more than it before the handler reads.
func TestReloadHTTP3Limits(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "one", false, "127.0.0.1")
	cfg := func(buffer int) string {
		return fmt.Sprintf(`{"Kestrel": {"Limits": {"MaxRequestBufferSize": %d},
			"Endpoints": {"Q": {"Url": "https://127.0.0.1:0", "Protocols": "Http3", "Certificate": {"Path": %q, "KeyPath": %q}}}}}`, buffer, cert, key)
	}
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }) // reads nothing
	s, _ := startConfigured(t, h, cfg(2<<20))
	// sent reports how much of a body the client sent before the
	// handler read any, on a new connection.
	sent := func() int64 {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}
		defer tr.Close()
		body := &countingBody{}
		go (&http.Client{Transport: tr}).Post(s.Addresses()[0]+"/", "application/octet-stream", body)
		var n int64
		for stable := 0; stable < 5; time.Sleep(100 * time.Millisecond) {
			if m := body.n.Load(); m == n && m > 0 {
				stable++
			} else {
				n, stable = m, 0
			}
		}
		return n
	}
	if n := sent(); n < 400<<10 {
		t.Fatalf("MaxRequestBufferSize 2 MiB: the client sent %d bytes before the handler read, want the 512 KiB initial window", n)
	}
	reloadJSON(t, s, cfg(32<<10))
	if n := sent(); n > 128<<10 {
		t.Errorf("after a reload to MaxRequestBufferSize 32 KiB, a new connection's client sent %d bytes before the handler read: the old window", n)
	}
}

// TestReloadHTTP3OffAndOn turns HTTP/3 off and back on, and removes and
// adds back an HTTP/3-only endpoint, while a request of each is in flight
// on its QUIC connection: the UDP sockets, still open for those
// connections, are taken over (the reload used to fail saying another
// server used the port), the requests finish, and new connections are
// served; the ports are given back once the server closes.
func TestReloadHTTP3OffAndOn(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "one", false, "127.0.0.1")
	cfg := func(protocols, both, quic string, withQuic bool) string {
		eps := fmt.Sprintf(`"Both": {"Url": "https://127.0.0.1:%s", "Protocols": %q, "Certificate": {"Path": %q, "KeyPath": %q}}`, both, protocols, cert, key)
		if withQuic {
			eps += fmt.Sprintf(`, "Quic": {"Url": "https://127.0.0.1:%s", "Protocols": "Http3", "Certificate": {"Path": %q, "KeyPath": %q}}`, quic, cert, key)
		}
		return `{"Kestrel": {"Endpoints": {` + eps + `}}}`
	}
	g := newGated()
	s, _ := startConfigured(t, g, cfg("Http1AndHttp2AndHttp3", "0", "0", true))
	var addrs, ports []string
	for _, a := range s.Addresses() {
		a = strings.TrimPrefix(a, "https://")
		addrs, ports = append(addrs, a), append(ports, a[strings.LastIndex(a, ":")+1:])
	}
	if len(addrs) != 2 {
		t.Fatalf("addresses %q", addrs)
	}
	get := func(addr, path string) string {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}
		defer tr.Close()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + path)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err.Error()
		}
		return string(b)
	}
	inFlight := make(chan string, len(addrs))
	for _, a := range addrs {
		go func() { inFlight <- get(a, "/wait") }()
		<-g.started
	}

	reloadJSON(t, s, cfg("Http1AndHttp2", ports[0], ports[1], false))
	reloadJSON(t, s, cfg("Http1AndHttp2AndHttp3", ports[0], ports[1], true))
	if got := s.Addresses(); len(got) != 2 || got[0] != "https://"+addrs[0] || got[1] != "https://"+addrs[1] {
		t.Fatalf("addresses %q, want %q", got, addrs)
	}
	for _, a := range addrs {
		if body := get(a, "/again"); body != "hello /again" {
			t.Errorf("HTTP/3 on %s after it came back: %q", a, body)
		}
	}
	close(g.release)
	for range addrs {
		if body := <-inFlight; body != "hello /wait" {
			t.Errorf("a request in flight across the reloads: %q", body)
		}
	}
	s.Close()
	for _, a := range addrs {
		if pc, err := net.ListenPacket("udp", a); err != nil {
			t.Errorf("UDP %s is still bound after Close: %v", a, err)
		} else {
			pc.Close()
		}
	}
}
