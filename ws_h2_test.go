//lint:file-ignore SA1019 x/net's HTTP/2 transport is the Go client that sends extended CONNECT (RFC 8441); net/http's refuses the :protocol header

package kestrel_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/wstest"
	"github.com/kestrel-go/kestrel/websocket"
)

// startWSS starts a server with an HTTPS endpoint ep (on a free loopback
// port, with a self-signed certificate) serving h, and returns it with a
// pool that trusts the certificate and the endpoint's wss:// URL.
func startWSS(t *testing.T, h http.Handler, limits kestrel.Limits, ep kestrel.Endpoint) (*kestrel.Server, *x509.CertPool, string) {
	t.Helper()
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := &kestrel.Server{Handler: h, Limits: limits, Logger: slog.New(slog.DiscardHandler)}
	ep.Address = "127.0.0.1:0"
	ep.HTTPS = &kestrel.HTTPS{Certificate: cert}
	if err := s.ListenEndpoint(ep); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return s, roots, strings.Replace(s.Addresses()[0], "https://", "wss://", 1)
}

// startWSH2 starts a server with an HTTPS endpoint serving h and returns
// it with an HTTP/2 transport that trusts its certificate.
func startWSH2(t *testing.T, h http.Handler, limits kestrel.Limits, ep kestrel.Endpoint) (*kestrel.Server, *http2.Transport, string) {
	t.Helper()
	s, roots, url := startWSS(t, h, limits, ep)
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}}}
	t.Cleanup(tr.CloseIdleConnections)
	return s, tr, url
}

// TestWebSocketOverHTTP2: github.com/coder/websocket's client, its
// handshake carried as an extended CONNECT over x/net's HTTP/2 transport,
// talks to the websocket package's echo: text, binary, messages larger
// than the stream's and the connection's flow-control windows both ways,
// and the close handshake. The handler sees the request in x/net's shape.
func TestWebSocketOverHTTP2(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, proto, protocol, path, version string
	}
	got := make(chan seen, 1)
	echo := websocket.Echo(nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- seen{r.Method, r.Proto, r.Header.Get(":protocol"), r.URL.Path, r.Header.Get("Sec-WebSocket-Version")}:
		default:
		}
		echo.ServeHTTP(w, r)
	})
	_, tr, url := startWSH2(t, h, kestrel.Limits{}, kestrel.Endpoint{EnableWebSocketsOverHTTP2: true})
	x := &wstest.ExtendedConnect{RT: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, resp, err := cws.Dial(ctx, url+"/ws", &cws.DialOptions{HTTPClient: &http.Client{Transport: x}})
	if err != nil {
		t.Fatalf("dial: %v (extended CONNECT answered %d)", err, x.Status())
	}
	defer c.CloseNow()
	if resp.ProtoMajor != 2 || x.Status() != http.StatusOK {
		t.Errorf("handshake over %s answered %d, want HTTP/2 200", resp.Proto, x.Status())
	}
	if r := <-got; r != (seen{"CONNECT", "HTTP/2.0", "websocket", "/ws", "13"}) {
		t.Errorf("the handler saw %+v", r)
	}
	echoMessages(t, ctx, c)
}

// TestShutdownClosesHTTP2WebSockets: as with upgraded HTTP/1.1
// connections, Shutdown lets a WebSocket on an HTTP/2 stream run (after
// GOAWAY, the stream still echoes) until its context ends, then closes
// it; a WebSocket the client closes meanwhile lets Shutdown return at
// once.
func TestShutdownClosesHTTP2WebSockets(t *testing.T) {
	t.Parallel()
	for _, clientCloses := range []bool{false, true} {
		s, tr, url := startWSH2(t, websocket.Echo(nil), kestrel.Limits{}, kestrel.Endpoint{EnableWebSocketsOverHTTP2: true})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, _, err := cws.Dial(ctx, url+"/ws", &cws.DialOptions{HTTPClient: &http.Client{Transport: &wstest.ExtendedConnect{RT: tr}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		echo := func() error {
			if err := c.Write(ctx, cws.MessageText, []byte("ping")); err != nil {
				return err
			}
			_, got, err := c.Read(ctx)
			if err == nil && string(got) != "ping" {
				err = fmt.Errorf("echoed %q", got)
			}
			return err
		}
		if err := echo(); err != nil {
			t.Fatal(err)
		}
		// The deadline is what closes the WebSocket in the first case; in
		// the second, the client's close must come well before it.
		grace := 3 * time.Second
		if clientCloses {
			grace = 20 * time.Second
		}
		sctx, scancel := context.WithTimeout(context.Background(), grace)
		defer scancel()
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- s.Shutdown(sctx) }()
		for s.State() != kestrel.StateDraining && s.State() != kestrel.StateStopped {
			if time.Since(start) > 10*time.Second {
				t.Fatal("Shutdown did not begin")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := echo(); err != nil {
			t.Fatalf("echo during shutdown: %v", err)
		}
		if clientCloses {
			if err := c.Close(cws.StatusNormalClosure, ""); err != nil {
				t.Errorf("close handshake during shutdown: %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("Shutdown after the client closed its WebSocket = %v, want nil", err)
			}
			continue
		}
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want deadline exceeded", err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		_, _, err = c.Read(rctx)
		rcancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("read after the shutdown deadline: %v, want the WebSocket closed", err)
		}
	}
}

// echoMessages sends text, binary, 1 MiB and 4 MiB messages (beyond the
// HTTP/2 and QUIC flow-control windows) through c to an echo handler,
// checks each answer, and ends with the close handshake.
func echoMessages(t *testing.T, ctx context.Context, c *cws.Conn) {
	t.Helper()
	c.SetReadLimit(32 << 20)
	big := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB: beyond both windows
	for _, m := range []struct {
		typ  cws.MessageType
		data []byte
	}{{cws.MessageText, []byte("hello")}, {cws.MessageBinary, []byte{0, 1, 2, 255}}, {cws.MessageBinary, big[:1<<20]}, {cws.MessageBinary, big}} {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, echoed, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(echoed, m.data) {
			t.Fatalf("echo of %d bytes (%v): %d bytes (%v), %v", len(m.data), m.typ, len(echoed), typ, err)
		}
	}
	if err := c.Close(cws.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("close handshake: %v", err)
	}
}

// TestWebSocketOverHTTP2BehindRequestSizeLimit: a WebSocket over HTTP/2 is
// a tunnel with no body limit nor data rates, as an upgraded HTTP/1.1
// connection: middleware that sets them for every request
// (kestrel.RequestSizeLimit) leaves it whole, where its second message
// cut it at the limit.
func TestWebSocketOverHTTP2BehindRequestSizeLimit(t *testing.T) {
	t.Parallel()
	h := kestrel.RequestSizeLimit(100, websocket.Echo(nil))
	_, tr, url := startWSH2(t, h, kestrel.Limits{}, kestrel.Endpoint{EnableWebSocketsOverHTTP2: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := cws.Dial(ctx, url+"/ws", &cws.DialOptions{HTTPClient: &http.Client{Transport: &wstest.ExtendedConnect{RT: tr}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	msg := bytes.Repeat([]byte("m"), 80)
	for i := range 10 { // 800 bytes and more through a "limit" of 100
		if err := c.Write(ctx, cws.MessageBinary, msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
	c.Close(cws.StatusNormalClosure, "")
}
