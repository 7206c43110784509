package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
)

// TestReverseProxy puts net/http/httputil's ReverseProxy, unchanged, on
// this server in front of a net/http backend, and uses what it relies on
// of net/http's ResponseWriter, over HTTP/1.1 and HTTP/2 (h2c) in front:
// streamed responses flushed as they come (FlushInterval -1), trailers,
// 103 Early Hints forwarded, a 10 MiB upload streamed through, the
// X-Forwarded-For it adds, and a WebSocket upgraded through it (Hijack,
// over HTTP/1.1 only, as with net/http).
func TestReverseProxy(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	backend := http.NewServeMux()
	backend.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: last\n\n")
	})
	backend.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	backend.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "hinted")
	})
	backend.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x %v %s", n, h.Sum(nil), err, r.Header.Get("X-Forwarded-For"))
	})
	backend.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			c.Write(r.Context(), typ, append([]byte("echo: "), msg...))
		}
	})
	back := httptest.NewServer(backend)
	t.Cleanup(back.Close)
	target, _ := url.Parse(back.URL)
	proxy := httputilReverseProxy(target)
	addr := startServer(t, &Server{Handler: proxy, Logger: quietLogger})

	h1 := &http.Transport{}
	t.Cleanup(h1.CloseIdleConnections)
	for _, c := range []struct {
		name   string
		client *http.Client
		major  int
	}{
		{"HTTP/1.1", &http.Client{Transport: h1}, 1},
		{"h2c", h2cClient(t), 2},
	} {
		base := "http://" + addr
		// Streamed: the first event arrives while the backend waits.
		resp, err := c.client.Get(base + "/stream")
		if err != nil || resp.ProtoMajor != c.major {
			t.Fatalf("%s /stream: %v %v", c.name, resp, err)
		}
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "data: first\n" {
			t.Errorf("%s: first event %q, %v", c.name, line, err)
		}
		release <- struct{}{}
		if rest, err := io.ReadAll(br); err != nil || string(rest) != "\ndata: last\n\n" {
			t.Errorf("%s: the rest of the stream: %q, %v", c.name, rest, err)
		}
		resp.Body.Close()

		// Trailers, declared and undeclared.
		resp, err = c.client.Get(base + "/trailers")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body" || resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("X-Late") != "late" {
			t.Errorf("%s: trailers: %q %v", c.name, b, resp.Trailer)
		}

		// 103 Early Hints forwarded before the response.
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/hints", nil)
		resp, err = c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hinted" || len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
			t.Errorf("%s: early hints %q, body %q", c.name, hints, b)
		}

		// A 10 MiB upload streamed through.
		body := bytes.Repeat([]byte("0123456789abcdef"), 10<<16)
		resp, err = c.client.Post(base+"/upload", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("%d %x <nil> 127.0.0.1", len(body), sha256.Sum256(body)); string(b) != want {
			t.Errorf("%s: upload: %q, want %q", c.name, b, want)
		}
	}

	// A WebSocket through the proxy (it hijacks the client's connection).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := coder.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	for _, m := range []string{"one", strings.Repeat("x", 100_000)} {
		if err := ws.Write(ctx, coder.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.Read(ctx)
		if err != nil || string(got) != "echo: "+m {
			t.Fatalf("through the proxy: %.40q, %v", got, err)
		}
	}
	ws.Close(coder.StatusNormalClosure, "")
}

// httputilReverseProxy is httputil.NewSingleHostReverseProxy with
// responses flushed as they come, as proxies of event streams set it.
func httputilReverseProxy(target *url.URL) http.Handler {
	p := httputil.NewSingleHostReverseProxy(target)
	p.FlushInterval = -1
	return p
}
