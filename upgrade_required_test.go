package kestrel

import (
	"bufio"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// TestUpgradeHeaderKeepsConnectionUpgrade: a response that advertises
// Upgrade (a 426 Upgrade Required, as a WebSocket handshake without
// "Connection: upgrade" gets) keeps the handler's "Connection: Upgrade",
// which RFC 9110, 7.8 requires beside Upgrade and net/http and Kestrel
// send, also when the connection then closes.
func TestUpgradeHeaderKeepsConnectionUpgrade(t *testing.T) {
	t.Parallel()
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusUpgradeRequired)
	})}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, tc := range []struct {
		extra string
		want  string // the Connection header
	}{
		{"", "Upgrade"},
		{"Connection: close\r\n", "Upgrade, close"},
		// A WebSocket handshake that lacks "Connection: upgrade".
		{"Connection: keep-alive\r\nUpgrade: websocket\r\n", "Upgrade"},
		{"Connection: Upgrade\r\nUpgrade: h2c\r\n", "Upgrade"},
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.Addresses()[0], "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write([]byte("GET / HTTP/1.1\r\nHost: h\r\n" + tc.extra + "\r\n"))
		// Read as it is: net/http's client drops "close" from the header.
		tp := textproto.NewReader(bufio.NewReader(c))
		status, err := tp.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		h, err := tp.ReadMIMEHeader()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Values("Connection"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("request %q: Connection %q, want %q", tc.extra, got, tc.want)
		}
		if status != "HTTP/1.1 426 Upgrade Required" || h.Get("Upgrade") != "websocket" {
			t.Errorf("request %q: %s, Upgrade %q", tc.extra, status, h.Get("Upgrade"))
		}
	}
}

// TestConnectionHeaderGoesWithItsField: the close and upgrade a handler's
// Connection header asks for go when the header does: replaced with the
// native SetHeader, or discarded with the rest of the response when a
// panic turns it into a 500. They outlived it: "Connection: close" after
// SetHeader("Connection", "keep-alive") and the connection closed, and
// "Connection: Upgrade" on the 500 without an Upgrade header.
func TestConnectionHeaderGoesWithItsField(t *testing.T) {
	t.Parallel()
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", r.URL.Query().Get("c"))
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusUpgradeRequired)
		panic("after WriteHeader, before the head was sent")
	})
	addr := startServer(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/std" {
			c.ServeHTTP(std)
			return
		}
		c.SetHeader("Connection", string(c.Query()))
		c.SetHeader("Connection", "keep-alive")
		c.WriteString("ok")
	})})
	for _, tc := range []struct {
		target string
		status string
	}{
		{"/native?close", "HTTP/1.1 200 OK"},
		{"/native?upgrade", "HTTP/1.1 200 OK"},
		{"/native?close,%20upgrade", "HTTP/1.1 200 OK"},
		{"/std?c=Upgrade", "HTTP/1.1 500 Internal Server Error"},
		{"/std?c=close", "HTTP/1.1 500 Internal Server Error"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		// Twice on the connection: the first response must keep it.
		c.Write([]byte("GET " + tc.target + " HTTP/1.1\r\nHost: h\r\n\r\nGET " + tc.target + " HTTP/1.1\r\nHost: h\r\n\r\n"))
		br := bufio.NewReader(c)
		for i := range 2 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("GET %s (response %d): %v", tc.target, i+1, err)
			}
			resp.Body.Close()
			if got := resp.Header.Values("Connection"); resp.Status != tc.status[9:] || len(got) != 0 || resp.Close {
				t.Errorf("GET %s (response %d): %s, Connection %q (close: %v); want %s without Connection",
					tc.target, i+1, resp.Status, got, resp.Close, tc.status[9:])
			}
		}
		c.Close()
	}
}
