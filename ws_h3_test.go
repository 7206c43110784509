//lint:file-ignore SA1019 x/net's HTTP/2 transport is the Go client that sends extended CONNECT (RFC 8441); net/http's refuses the :protocol header

package kestrel_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/wstest"
	"github.com/kestrel-go/kestrel/websocket"
)

// startWSH3 starts a server with an HTTPS endpoint that serves h over
// HTTP/1.1, HTTP/2 and HTTP/3, and returns it with a quic-go HTTP/3
// transport that trusts its certificate and the endpoint's wss:// URL.
func startWSH3(t *testing.T, h http.Handler, limits kestrel.Limits) (*kestrel.Server, *http3.Transport, string) {
	return startWSH3Endpoint(t, h, limits, kestrel.Endpoint{EnableWebSocketsOverHTTP2: true})
}

func startWSH3Endpoint(t *testing.T, h http.Handler, limits kestrel.Limits, ep kestrel.Endpoint) (*kestrel.Server, *http3.Transport, string) {
	t.Helper()
	ep.Protocols = kestrel.HTTP1AndHTTP2AndHTTP3
	s, roots, url := startWSS(t, h, limits, ep)
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(func() { tr.Close() })
	return s, tr, url
}

// TestWebSocketOverHTTP3: github.com/coder/websocket's client, its
// handshake carried as an extended CONNECT (RFC 9220) by quic-go's HTTP/3
// client, talks to the websocket package's echo: text, binary, 1 MiB and
// 4 MiB messages, and the close handshake. The handler sees the request
// as over HTTP/2: CONNECT, its :protocol as the header ":protocol".
func TestWebSocketOverHTTP3(t *testing.T) {
	t.Parallel()
	type seen struct{ method, proto, protocol, path string }
	got := make(chan seen, 1)
	echo := websocket.Echo(nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- seen{r.Method, r.Proto, r.Header.Get(":protocol"), r.URL.Path}:
		default:
		}
		echo.ServeHTTP(w, r)
	})
	_, tr, url := startWSH3(t, h, kestrel.Limits{})
	x := &wstest.ExtendedConnect{RT: tr, H3: true}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, _, err := cws.Dial(ctx, url+"/ws", &cws.DialOptions{HTTPClient: &http.Client{Transport: x}})
	if err != nil {
		t.Fatalf("dial: %v (extended CONNECT answered %d)", err, x.Status())
	}
	defer c.CloseNow()
	if r := <-got; r != (seen{"CONNECT", "HTTP/3.0", "websocket", "/ws"}) {
		t.Errorf("the handler saw %+v", r)
	}
	echoMessages(t, ctx, c)
}

// TestWebSocketOverHTTP3AtTheUpgradeLimit: at MaxConcurrentUpgradedConnections
// 1, a WebSocket over HTTP/3 takes the place; the next extended CONNECT
// is answered 503, and once the first WebSocket closes, a new one is
// accepted.
func TestWebSocketOverHTTP3AtTheUpgradeLimit(t *testing.T) {
	t.Parallel()
	_, tr, url := startWSH3(t, websocket.Echo(nil), kestrel.Limits{MaxConcurrentUpgradedConnections: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() (*cws.Conn, int, error) {
		x := &wstest.ExtendedConnect{RT: tr, H3: true}
		c, _, err := cws.Dial(ctx, url+"/ws", &cws.DialOptions{HTTPClient: &http.Client{Transport: x}})
		return c, x.Status(), err
	}
	first, status, err := dial()
	if err != nil {
		t.Fatalf("the WebSocket at the limit: %v (%d)", err, status)
	}
	if _, status, err := dial(); err == nil || status != http.StatusServiceUnavailable {
		t.Errorf("the WebSocket over the limit: %v, status %d; want 503", err, status)
	}
	first.Close(cws.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, status, err := dial()
		if err == nil {
			c.Close(cws.StatusNormalClosure, "")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the first WebSocket closed: %v (%d)", err, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebSocketsOverHTTP3Disabled: without EnableWebSocketsOverHTTP2,
// SETTINGS_ENABLE_CONNECT_PROTOCOL out of the endpoint's HTTP/3 SETTINGS
// too: quic-go's client refuses to send the extended CONNECT, while plain
// requests are served over HTTP/3.
func TestWebSocketsOverHTTP3Disabled(t *testing.T) {
	t.Parallel()
	_, tr, url := startWSH3Endpoint(t, websocket.Echo(nil), kestrel.Limits{}, kestrel.Endpoint{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	get, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.Replace(url, "wss://", "https://", 1)+"/", nil)
	resp, err := tr.RoundTrip(get)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 3 {
		t.Fatalf("GET over %s", resp.Proto)
	}
	_, _, err = cws.Dial(ctx, url+"/ws", &cws.DialOptions{HTTPClient: (&wstest.ExtendedConnect{RT: tr, H3: true}).Client()})
	if err == nil || !strings.Contains(err.Error(), "Extended CONNECT") {
		t.Errorf("WebSocket over HTTP/3 with the setting off: %v, want quic-go's refusal", err)
	}
}

// BenchmarkWebSocketEcho: one 64-byte message's round trip through the
// websocket package's echo over each protocol, on one HTTPS endpoint.
func BenchmarkWebSocketEcho(b *testing.B) {
	cert, err := selfSigned()
	if err != nil {
		b.Fatal(err)
	}
	s := &kestrel.Server{Handler: websocket.Echo(nil), Logger: slog.New(slog.DiscardHandler)}
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP1AndHTTP2AndHTTP3, HTTPS: &kestrel.HTTPS{Certificate: cert}, EnableWebSocketsOverHTTP2: true})
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	url := strings.Replace(s.Addresses()[0], "https://", "wss://", 1) + "/ws"
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	h2 := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	h3 := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer h1.CloseIdleConnections()
	defer h2.CloseIdleConnections()
	defer h3.Close()
	msg := bytes.Repeat([]byte("x"), 64)
	for _, p := range []struct {
		name   string
		client *http.Client
	}{
		{"http1", &http.Client{Transport: h1}},
		{"http2", (&wstest.ExtendedConnect{RT: h2}).Client()},
		{"http3", (&wstest.ExtendedConnect{RT: h3, H3: true}).Client()},
	} {
		b.Run(p.name, func(b *testing.B) {
			ctx := context.Background()
			c, _, err := cws.Dial(ctx, url, &cws.DialOptions{HTTPClient: p.client})
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Write(ctx, cws.MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
			c.Close(cws.StatusNormalClosure, "")
		})
	}
}
