package http1

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
)

// TestPipelinedResponseNotHeldBySlowHandler: the responses to pipelined
// requests share a write while the requests behind them are served
// quickly, but a finished response does not wait for a slow handler of a
// later request (a long poll, say): the heartbeat that finds the handler
// still running sends it, as net/http and Kestrel send each response when
// it is done. Then the slow response follows it, whole and in order.
func TestPipelinedResponseNotHeldBySlowHandler(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	cfg := &Config{
		App: &app.Config{
			MaxRequestBodySize: 1 << 16,
			Heartbeat:          heartbeat.New(nil),
			Logger:             slog.New(slog.DiscardHandler),
		},
		MaxRequestLineSize:         256,
		MaxRequestHeadersTotalSize: 1024,
		MaxRequestHeaderCount:      16,
		KeepAliveTimeout:           time.Second,
		RequestHeadersTimeout:      time.Second,
	}
	cfg.App.Handler = func(ex *app.Exchange) {
		if string(ex.Path()) == "/slow" {
			ex.WriteString("partial ")
			<-release
		}
		ex.Write(ex.Path())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(cfg, server, ConnOptions{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Serve()
	}()
	defer func() { <-done }()
	defer client.Close()

	io.WriteString(client, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	// The heartbeats while /slow runs (a tick as it starts does not count).
	go func() {
		for now := cfg.App.Heartbeat.Now(); ; now += int64(heartbeat.Interval) {
			select {
			case <-release:
				return
			case <-time.After(10 * time.Millisecond):
				c.Tick(now)
			}
		}
	}()
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	for _, want := range []string{"/1", "/2"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			close(release)
			t.Fatalf("response %s while /slow runs: %v", want, err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
	}
	close(release)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "partial /slow" {
		t.Errorf("got %q, want %q", b, "partial /slow")
	}
}
