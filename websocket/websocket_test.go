//lint:file-ignore SA1019 x/net's HTTP/2 transport is the Go client that sends extended CONNECT (RFC 8441); net/http's refuses the :protocol header

package websocket_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/websocket"
)

func startEcho(t testing.TB, limits kestrel.Limits) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /ws", websocket.Echo(nil))
	s := &kestrel.Server{Handler: mux, Limits: limits}
	s.Listen("127.0.0.1:0")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "ws://" + strings.TrimPrefix(s.Addresses()[0], "http://") + "/ws"
}

func TestEcho(t *testing.T) {
	url := startEcho(t, kestrel.Limits{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // 16 MiB each way under -race on a busy 2-core machine can take 20 s
	defer cancel()
	c, _, err := cws.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(32 << 20)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	for _, m := range []struct {
		typ  cws.MessageType
		data []byte
	}{{cws.MessageText, []byte("hello")}, {cws.MessageBinary, []byte{0, 1, 2, 255}}, {cws.MessageBinary, big}} {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
			t.Fatalf("echo of %d bytes (%v): %d bytes (%v), %v", len(m.data), m.typ, len(got), typ, err)
		}
	}
	if err := c.Close(4000, "bye"); err != nil {
		t.Errorf("close handshake: %v", err)
	}
}

// TestEchoInvalidUTF8: a text message that is not UTF-8 ends the echo with
// 1007 (RFC 6455, 8.1), not an echo of the bytes.
func TestEchoInvalidUTF8(t *testing.T) {
	url := startEcho(t, kestrel.Limits{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := cws.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, cws.MessageText, []byte{0xce, 0xba, 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if s := cws.CloseStatus(err); s != cws.StatusInvalidFramePayloadData {
		t.Errorf("read %q, %v (close status %d); want the close 1007", got, err, s)
	}
}

func TestUpgradeLimitAnswers503(t *testing.T) {
	url := startEcho(t, kestrel.Limits{MaxConcurrentUpgradedConnections: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var open []*cws.Conn
	for range 2 {
		c, _, err := cws.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	_, resp, err := cws.Dial(ctx, url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection over a limit of 2: %v %+v, want 503 with Retry-After", err, resp)
	}
	open[0].Close(cws.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := cws.Dial(ctx, url, nil)
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	open[1].CloseNow()
}

// TestManyConnections holds 1,000 WebSocket connections with traffic, then
// crosses the limit.
func TestManyConnections(t *testing.T) {
	const n = 1000
	url := startEcho(t, kestrel.Limits{MaxConcurrentUpgradedConnections: n})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conns := make([]*cws.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := cws.Dial(ctx, url, nil)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			for j := range 3 {
				msg := fmt.Sprintf("conn %d message %d", i, j)
				if err := c.Write(ctx, cws.MessageText, []byte(msg)); err != nil {
					errs <- err
					return
				}
				if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
					errs <- fmt.Errorf("echo %q: %q %v", msg, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, resp, err := cws.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Errorf("connection %d: %v, want 503", n+1, err)
	}
	for _, c := range conns {
		c.Close(cws.StatusNormalClosure, "")
	}
}

func ExampleEcho() {
	mux := http.NewServeMux()
	mux.Handle("GET /ws", websocket.Echo(nil))
	s := &kestrel.Server{Handler: mux}
	s.Listen("127.0.0.1:0")
	if err := s.Start(); err != nil {
		panic(err)
	}
	defer s.Close()
	ctx := context.Background()
	c, _, err := cws.Dial(ctx, "ws://"+strings.TrimPrefix(s.Addresses()[0], "http://")+"/ws", nil)
	if err != nil {
		panic(err)
	}
	c.Write(ctx, cws.MessageText, []byte("hello"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	c.Close(cws.StatusNormalClosure, "")
	// Output: hello
}

// TestAcceptRefusesHTTP2 checks that an HTTP/1.1-style WebSocket request
// (a GET) over HTTP/2 is answered cleanly (426, with a message) rather
// than left hanging: over HTTP/2 a WebSocket is an extended CONNECT.
func TestAcceptRefusesHTTP2(t *testing.T) {
	s := &kestrel.Server{Handler: websocket.Echo(nil), Logger: slog.New(slog.DiscardHandler)}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(s.Addresses()[0] + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(b), "HTTP/1.1") {
		t.Errorf("%s %d %q, want HTTP/2 426 naming HTTP/1.1", resp.Proto, resp.StatusCode, b)
	}
}

func ExampleProtocol() {
	// An extended CONNECT as kestrel.Server and x/net/http2 show it.
	r, _ := http.NewRequest(http.MethodConnect, "https://example.com/chat", nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set(":protocol", "websocket")
	fmt.Println(websocket.Protocol(r))
	// Output: websocket
}

// TestAcceptExtendedConnectErrors: over HTTP/2, Accept answers an
// extended CONNECT for another protocol 400, and one without
// Sec-WebSocket-Version 13 (RFC 8441, 5) 400 naming the version.
func TestAcceptExtendedConnectErrors(t *testing.T) {
	s := &kestrel.Server{Handler: websocket.Echo(nil), Logger: slog.New(slog.DiscardHandler)}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP2, EnableWebSocketsOverHTTP2: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	for _, tc := range []struct {
		protocol, version string
		want              int
		body              string
	}{
		{"chat", "13", http.StatusBadRequest, "extended CONNECT for chat, not websocket"},
		{"websocket", "", http.StatusBadRequest, "only 13 is supported"},
		{"websocket", "8", http.StatusBadRequest, "only 13 is supported"},
	} {
		req, _ := http.NewRequest(http.MethodConnect, s.Addresses()[0]+"/ws", strings.NewReader(""))
		req.Header.Set(":protocol", tc.protocol)
		if tc.version != "" {
			req.Header.Set("Sec-WebSocket-Version", tc.version)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s, version %q: %d %q; want %d with %q", tc.protocol, tc.version, resp.StatusCode, b, tc.want, tc.body)
		}
	}
}

// TestWriteTimeoutOverHTTP2: a WebSocket over an HTTP/2 stream whose
// client stops reading (its flow-control window stays shut) lets the
// handler's write end at its context's deadline, as over HTTP/1.1, and
// the handler return. coder/websocket closes the connection to abort the
// write; that Close waited for the write it was meant to abort, and the
// handler, its stream and its connection were held forever.
func TestWriteTimeoutOverHTTP2(t *testing.T) {
	t.Parallel()
	returned := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			returned <- err
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
		defer cancel()
		// Far beyond the stream's window of 65,535 bytes.
		returned <- c.Write(ctx, websocket.MessageBinary, make([]byte, 1<<20))
	})
	s := &kestrel.Server{Handler: h, Logger: slog.New(slog.DiscardHandler)}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP2, EnableWebSocketsOverHTTP2: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc, err := net.Dial("tcp", strings.TrimPrefix(s.Addresses()[0], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A raw client: the preface, its SETTINGS, and an extended CONNECT;
	// it reads nothing and sends no WINDOW_UPDATE.
	io.WriteString(nc, http2.ClientPreface)
	fr := http2.NewFramer(nc, nc)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/ws"}, {"sec-websocket-version", "13"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	select {
	case err := <-returned:
		if err == nil {
			t.Fatal("a 1 MiB message went out through a 64 KiB window")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write to a client that reads nothing did not end at its deadline")
	}
}
