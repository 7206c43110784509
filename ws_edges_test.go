//lint:file-ignore SA1019 x/net's HTTP/2 transport is the Go client that sends extended CONNECT (RFC 8441); net/http's refuses the :protocol header

package kestrel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/wstest"
	"github.com/kestrel-go/kestrel/websocket"
)

// TestWebSocketPastMaxRequestBodySize: the server's MaxRequestBodySize does
// not apply to a WebSocket over HTTP/2 or HTTP/3, as it does not to an
// upgraded HTTP/1.1 connection (Kestrel: no body limit once upgraded):
// messages one under, at and one over the limit, then more than it in
// all, are echoed whole.
func TestWebSocketPastMaxRequestBodySize(t *testing.T) {
	t.Parallel()
	const limit = 1000
	for _, h3 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2", true: "h3"}[h3], func(t *testing.T) {
			t.Parallel()
			limits := kestrel.Limits{MaxRequestBodySize: limit}
			var x *wstest.ExtendedConnect
			var url string
			if h3 {
				_, tr, u := startWSH3(t, websocket.Echo(nil), limits)
				x, url = &wstest.ExtendedConnect{RT: tr, H3: true}, u
			} else {
				_, tr, u := startWSH2(t, websocket.Echo(nil), limits, kestrel.Endpoint{EnableWebSocketsOverHTTP2: true})
				x, url = &wstest.ExtendedConnect{RT: tr}, u
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, _, err := cws.Dial(ctx, url+"/ws", &cws.DialOptions{HTTPClient: x.Client()})
			if err != nil {
				t.Fatalf("dial: %v (%d)", err, x.Status())
			}
			defer c.CloseNow()
			for i, n := range []int{limit - 1, limit, limit + 1, 3 * limit} {
				msg := bytes.Repeat([]byte{byte('a' + i)}, n)
				if err := c.Write(ctx, cws.MessageBinary, msg); err != nil {
					t.Fatalf("message of %d bytes: %v", n, err)
				}
				if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("message of %d bytes: echoed %d bytes, %v", n, len(got), err)
				}
			}
			c.Close(cws.StatusNormalClosure, "")
		})
	}
}

// TestTunnelReadDeadlineRefreshed: the connection Upgrade returns for a
// WebSocket over HTTP/2 or HTTP/3 keeps net.Conn's contract for read
// deadlines: a read past its deadline fails with os.ErrDeadlineExceeded,
// and once the deadline is moved (here cleared) reads go on, as they do
// on an upgraded HTTP/1.1 connection; the timeout no longer ended the
// tunnel's reads for good.
func TestTunnelReadDeadlineRefreshed(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := kestrel.Upgrade(w, r)
		if err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		buf := make([]byte, 64)
		_, err = conn.Read(buf)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			fmt.Fprintf(conn, "first read: %v", err)
			return
		}
		conn.SetReadDeadline(time.Time{})
		io.WriteString(conn, "timed out;")
		rest, err := io.ReadAll(conn)
		fmt.Fprintf(conn, "read %q %v", rest, err)
	})
	for _, h3 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2", true: "h3"}[h3], func(t *testing.T) {
			t.Parallel()
			var rt http.RoundTripper
			var url string
			if h3 {
				_, tr, u := startWSH3(t, h, kestrel.Limits{})
				rt, url = tr, u
			} else {
				_, tr, u := startWSH2(t, h, kestrel.Limits{}, kestrel.Endpoint{EnableWebSocketsOverHTTP2: true})
				rt, url = tr, u
			}
			pr, pw := io.Pipe()
			defer pw.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodConnect, "https"+strings.TrimPrefix(url, "wss")+"/tunnel", pr)
			if h3 {
				req.Proto = "websocket"
			} else {
				req.Header.Set(":protocol", "websocket")
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("extended CONNECT: %d", resp.StatusCode)
			}
			buf := make([]byte, len("timed out;"))
			if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "timed out;" {
				t.Fatalf("got %q, %v", buf, err)
			}
			io.WriteString(pw, "hello")
			pw.Close()
			rest, _ := io.ReadAll(resp.Body)
			if string(rest) != `read "hello" <nil>` {
				t.Errorf("after the deadline was cleared: %s", rest)
			}
		})
	}
}
