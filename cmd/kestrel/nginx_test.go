package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/kestrel-go/kestrel/internal/nginxtest"
)

// startNginx runs nginx in the foreground with the README's configuration
// (the first nginx block of its "Behind nginx" section), its upstream
// app's servers replaced by servers, and returns the address it listens on.
func startNginx(t *testing.T, servers ...string) string {
	t.Helper()
	recipe := readmeNginxRecipe(t)
	var up strings.Builder
	for _, s := range servers {
		up.WriteString("server " + s + "; ")
	}
	recipe = regexp.MustCompile(`server unix:/run/app/app\.sock;[^\n]*`).ReplaceAllLiteralString(recipe, up.String())
	return "http://" + nginxtest.Start(t, func(listen string) string {
		return strings.Replace(recipe, "listen 80;", "listen "+listen+";", 1)
	})
}

// readmeNginxRecipe returns the nginx configuration of the README's
// "Behind nginx" section.
func readmeNginxRecipe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Behind nginx\n")
	if !ok {
		t.Fatal(`README.md has no "### Behind nginx" section`)
	}
	_, block, ok := strings.Cut(section, "```nginx\n")
	if !ok {
		t.Fatal("README.md's Behind nginx section has no nginx block")
	}
	block, _, _ = strings.Cut(block, "```")
	if !strings.Contains(block, "server unix:/run/app/app.sock;") || !strings.Contains(block, "listen 80;") {
		t.Fatalf("README.md's nginx block changed shape:\n%s", block)
	}
	return block
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
			front := startNginx(t, server)
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
			// A WebSocket through the recipe: nginx must pass Upgrade and
			// Connection: upgrade on, or the app answers 426.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ws, wsResp, err := cws.Dial(ctx, "ws"+strings.TrimPrefix(front, "http")+"/ws", nil)
			if err != nil {
				status := 0
				if wsResp != nil {
					status = wsResp.StatusCode
				}
				t.Fatalf("WebSocket through nginx: %v (status %d)", err, status)
			}
			if err := ws.Write(ctx, cws.MessageText, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "ping" {
				t.Errorf("WebSocket echo through nginx = %q, %v", msg, err)
			}
			ws.Close(cws.StatusNormalClosure, "")

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
			if upstream == "tcp" {
				// nginx's upstream connections are reused: the address nginx
				// connects from (X-Original-For) stays the same.
				from := map[string]bool{}
				for range 5 {
					resp, err := client.Get(front + "/headers")
					if err != nil {
						t.Fatal(err)
					}
					var h struct {
						Headers map[string][]string `json:"headers"`
					}
					json.NewDecoder(resp.Body).Decode(&h)
					resp.Body.Close()
					from[strings.Join(h.Headers["X-Original-For"], ",")] = true
				}
				if len(from) != 1 {
					t.Errorf("nginx opened a connection per request upstream (keep-alive lost): %v", from)
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
	front := startNginx(t, a1, a2)

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
