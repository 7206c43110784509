package kestrel

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// wsMessages are the messages each echo test sends: text, binary, empty,
// and one larger than the server's buffers.
var wsMessages = []struct {
	text bool
	data []byte
}{
	{true, []byte("hello, kestrel")},
	{false, []byte{0, 1, 2, 0xfe, 0xff}},
	{true, []byte("")},
	{false, bytes.Repeat([]byte{0xab, 0xcd}, 100_000)},
	{true, []byte(strings.Repeat("héllo ", 10_000))},
}

func TestGorillaWebSocketEcho(t *testing.T) {
	t.Parallel()
	serverErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, http.Header{"X-Server": {"kestrel"}})
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					err = nil
				}
				serverErr <- err
				return
			}
			if err := conn.WriteMessage(typ, msg); err != nil {
				serverErr <- err
				return
			}
		}
	})
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("plain"))
	})
	addr := startHandler(t, mux)

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Server") != "kestrel" {
		t.Errorf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, m := range wsMessages {
		typ := websocket.BinaryMessage
		if m.text {
			typ = websocket.TextMessage
		}
		if err := conn.WriteMessage(typ, m.data); err != nil {
			t.Fatalf("message %d: write: %v", i, err)
		}
		gotType, got, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: read: %v", i, err)
		}
		if gotType != typ || !bytes.Equal(got, m.data) {
			t.Errorf("message %d: got type %d, %d bytes; want type %d, %d bytes", i, gotType, len(got), typ, len(m.data))
		}
	}
	conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	select {
	case err := <-serverErr:
		if err != nil {
			t.Errorf("server: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the server's echo loop did not end after the close message")
	}

	// The server still serves plain requests, and a failed upgrade (not a
	// WebSocket request) is answered normally.
	client := newClient(t)
	if _, body := get(t, client, "http://"+addr+"/plain"); body != "plain" {
		t.Errorf("after the WebSocket: %q", body)
	}
	if resp, _ := get(t, client, "http://"+addr+"/ws"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a plain GET to the WebSocket endpoint: %d, want gorilla's 400", resp.StatusCode)
	}
	<-serverErr
}

func TestCoderWebSocketEcho(t *testing.T) {
	t.Parallel()
	serverErr := make(chan error, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := coder.Accept(w, r, nil)
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.CloseNow()
		conn.SetReadLimit(1 << 20)
		ctx := context.Background()
		for {
			typ, msg, err := conn.Read(ctx)
			if err != nil {
				if coder.CloseStatus(err) == coder.StatusNormalClosure {
					err = nil
				}
				serverErr <- err
				return
			}
			if err := conn.Write(ctx, typ, msg); err != nil {
				serverErr <- err
				return
			}
		}
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := coder.Dial(ctx, "ws://"+addr+"/", &coder.DialOptions{HTTPClient: newClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("handshake: %d", resp.StatusCode)
	}
	for i, m := range wsMessages {
		typ := coder.MessageBinary
		if m.text {
			typ = coder.MessageText
		}
		if err := conn.Write(ctx, typ, m.data); err != nil {
			t.Fatalf("message %d: write: %v", i, err)
		}
		gotType, got, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: read: %v", i, err)
		}
		if gotType != typ || !bytes.Equal(got, m.data) {
			t.Errorf("message %d: got type %v, %d bytes; want type %v, %d bytes", i, gotType, len(got), typ, len(m.data))
		}
	}
	if err := conn.Close(coder.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case err := <-serverErr:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the server's echo loop did not end after the close handshake")
	}
}
