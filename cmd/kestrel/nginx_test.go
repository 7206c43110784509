package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/nginxtest"
)

// startNginx runs nginx in the foreground with the given http-block
// configuration and returns the address it listens on.
func startNginx(t *testing.T, httpBlock string) string {
	t.Helper()
	return "http://" + nginxtest.Start(t, func(listen string) string {
		return httpBlock + `
	server {
		listen ` + listen + `;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_buffering off;
		}
	}`
	})
}

func TestBehindNginx(t *testing.T) {
	for _, upstream := range []string{"tcp", "unix"} {
		t.Run(upstream, func(t *testing.T) {
			var backend, server string
			if upstream == "unix" {
				sock := filepath.Join(t.TempDir(), "app.sock")
				backend = start(t, []string{"--urls", "unix:" + sock, "--socket-mode", "0660"}, nil) // as the README's nginx section
				server = "unix:" + sock
			} else {
				backend = start(t, []string{"--urls", "http://127.0.0.1:0"}, nil)
				server = strings.TrimPrefix(backend, "http://")
			}
			_ = backend
			front := startNginx(t, "upstream app { server "+server+"; keepalive 16; }")
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: false}}

			// The client's address, as nginx forwards it, is the app's remote address.
			req, _ := http.NewRequest("GET", front+"/headers", nil)
			req.Header.Set("X-Forwarded-For", "198.51.100.9") // what the client claims, kept in the chain
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var h struct {
				RemoteAddress string              `json:"remoteAddress"`
				Headers       map[string][]string `json:"headers"`
			}
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if !strings.HasPrefix(h.RemoteAddress, "127.0.0.1:") {
				t.Errorf("remote address behind nginx = %q, want the client's 127.0.0.1 from X-Forwarded-For", h.RemoteAddress)
			}
			if got := h.Headers["X-Original-For"]; len(got) == 0 {
				t.Errorf("no X-Original-For header: %v", h.Headers)
			}

			// Request bodies (buffered by nginx, its default: an echo of
			// an unbuffered body deadlocks nginx once socket buffers
			// fill, as nginx reads the response only after sending the
			// request) and chunked responses through the proxy.
			body := strings.Repeat("0123456789", 100_000)
			resp, err = client.Post(front+"/echo", "text/plain", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != body {
				t.Errorf("echo through nginx: %d bytes back, want %d", len(got), len(body))
			}
			resp, err = client.Get(front + "/stream?chunks=5&size=1000&delayMs=20")
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(got) != 5000 {
				t.Errorf("stream through nginx: %d bytes, want 5000", len(got))
			}
			// Many requests reuse nginx's keep-alive connections upstream.
			for range 50 {
				resp, err := client.Get(front + "/plaintext")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "Hello, World!" {
					t.Fatalf("plaintext through nginx: %q", b)
				}
			}
		})
	}
}

// TestGracefulStopBehindNginx stops one of two servers behind one nginx
// upstream while a client keeps requesting: no request fails.
func TestGracefulStopBehindNginx(t *testing.T) {
	var log1, log2 syncBuffer
	ctx1, stop1 := context.WithCancel(context.Background())
	ctx2, stop2 := context.WithCancel(context.Background())
	done1, done2 := make(chan error, 1), make(chan error, 1)
	go func() { done1 <- run(ctx1, []string{"--urls", "http://127.0.0.1:0"}, nil, &log1) }()
	go func() { done2 <- run(ctx2, []string{"--urls", "http://127.0.0.1:0"}, nil, &log2) }()
	defer func() { stop2(); <-done2 }()
	a1 := strings.TrimPrefix(waitListening(t, log1.String), "http://")
	a2 := strings.TrimPrefix(waitListening(t, log2.String), "http://")
	front := startNginx(t, "upstream app { server "+a1+"; server "+a2+"; keepalive 16; }")

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				resp, err := client.Get(front + "/stream?chunks=2&size=100&delayMs=5")
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr != nil || resp.StatusCode != 200 || len(b) != 200 {
						err = fmt.Errorf("status %d, %d bytes, %v", resp.StatusCode, len(b), rerr)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	stop1() // graceful shutdown of one server mid-load
	if err := <-done1; err != nil {
		t.Errorf("server 1 shutdown: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stopLoad)
	wg.Wait()
	t.Logf("%d requests served, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during the graceful stop; first: %v", failed.Load(), firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Errorf("only %d requests served", ok.Load())
	}
}
