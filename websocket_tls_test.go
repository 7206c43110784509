package kestrel

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// TestWebSocketLibrariesOverTLS runs gorilla/websocket's and
// coder/websocket's echo servers on an HTTPS endpoint, each with its own
// client over wss://.
func TestWebSocketLibrariesOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gorilla", func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil || conn.WriteMessage(typ, msg) != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /coder", func(w http.ResponseWriter, r *http.Request) {
		conn, err := coder.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		conn.SetReadLimit(1 << 20)
		ctx := context.Background()
		for {
			typ, msg, err := conn.Read(ctx)
			if err != nil || conn.Write(ctx, typ, msg) != nil {
				return
			}
		}
	})
	addr := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, mux)
	host := "localhost:" + addr[strings.LastIndexByte(addr, ':')+1:]
	tlsConfig := &tls.Config{RootCAs: pki.pool}

	d := websocket.Dialer{TLSClientConfig: tlsConfig, HandshakeTimeout: 5 * time.Second}
	g, _, err := d.Dial("wss://"+host+"/gorilla", nil)
	if err != nil {
		t.Fatalf("gorilla over wss: %v", err)
	}
	for _, m := range wsMessages {
		typ := websocket.BinaryMessage
		if m.text {
			typ = websocket.TextMessage
		}
		if err := g.WriteMessage(typ, m.data); err != nil {
			t.Fatal(err)
		}
		gt, got, err := g.ReadMessage()
		if err != nil || gt != typ || string(got) != string(m.data) {
			t.Fatalf("gorilla over wss: echo of %d bytes: %d bytes, %v", len(m.data), len(got), err)
		}
	}
	g.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	g.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	c, _, err := coder.Dial(ctx, "wss://"+host+"/coder", &coder.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("coder over wss: %v", err)
	}
	c.SetReadLimit(1 << 20)
	for _, m := range wsMessages {
		typ := coder.MessageBinary
		if m.text {
			typ = coder.MessageText
		}
		if err := c.Write(ctx, typ, m.data); err != nil {
			t.Fatal(err)
		}
		ct, got, err := c.Read(ctx)
		if err != nil || ct != typ || string(got) != string(m.data) {
			t.Fatalf("coder over wss: echo of %d bytes: %d bytes, %v", len(m.data), len(got), err)
		}
	}
	c.Close(coder.StatusNormalClosure, "")
}
