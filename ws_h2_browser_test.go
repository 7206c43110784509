package kestrel_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/websocket"
)

// wsH2Page opens a WebSocket to its own origin, sends a text message and
// a 1 MiB binary one, checks their echoes, closes with 1000 and reports
// to /result.
const wsH2Page = `<!doctype html>
<title>WebSocket over HTTP/2</title>
<script>
const big = new Uint8Array(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 255;
function report(s) { fetch('/result', {method: 'POST', body: s}); }
const ws = new WebSocket('wss://' + location.host + '/ws');
ws.binaryType = 'arraybuffer';
const steps = [];
ws.onopen = () => ws.send('hello over h2');
ws.onerror = () => report('fail: error after ' + steps);
ws.onmessage = (ev) => {
  if (steps.length === 0) {
    if (ev.data !== 'hello over h2') return report('fail: text echo ' + ev.data);
    steps.push('text');
    ws.send(big);
    return;
  }
  const got = new Uint8Array(ev.data);
  if (got.length !== big.length) return report('fail: binary echo of ' + got.length + ' bytes');
  for (let i = 0; i < big.length; i++) {
    if (got[i] !== big[i]) return report('fail: binary echo differs at ' + i);
  }
  steps.push('1MiB');
  ws.close(1000, 'done');
};
ws.onclose = (ev) => report(steps.length === 2 && ev.code === 1000 && ev.wasClean ? 'ok' : 'fail: closed with ' + ev.code + ' after ' + steps);
</script>`

// TestWebSocketOverHTTP2InChromium: headless Chromium loads a page over
// HTTPS (h2) and opens a WebSocket to the same origin: Chromium sees
// SETTINGS_ENABLE_CONNECT_PROTOCOL and sends the WebSocket as an extended
// CONNECT on the page's connection (RFC 8441). Text and a 1 MiB message
// are echoed and the close handshake completes; the page, the socket and
// the result arrive on one TCP connection (the only one that becomes
// active, as ConnState tells), and the server's log shows the extended
// CONNECT.
func TestWebSocketOverHTTP2InChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed; run `make test`, which installs the Debian package chromium")
	}
	result := make(chan string, 1)
	type req struct{ conn, method, proto, protocol, path string }
	var mu sync.Mutex
	var reqs []req
	active := map[net.Conn]bool{} // connections that carried a request
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, wsH2Page)
	})
	mux.Handle("/ws", websocket.Echo(nil))
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case result <- string(b):
		default:
		}
	})
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	var log syncWriter
	s := &kestrel.Server{
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _, _ := strings.Cut(kestrel.RequestID(r), ":")
			mu.Lock()
			reqs = append(reqs, req{id, r.Method, r.Proto, r.Header.Get(":protocol"), r.URL.Path})
			mu.Unlock()
			mux.ServeHTTP(w, r)
		}),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateActive {
				mu.Lock()
				active[c] = true
				mu.Unlock()
			}
		},
	}
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", HTTPS: &kestrel.HTTPS{Certificate: cert}, EnableWebSocketsOverHTTP2: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	origin := s.Addresses()[0]

	if r := openInChromium(t, chromium, origin+"/page.html", cert, result); r != "ok" {
		t.Errorf("the page reported %q", r)
	}

	mu.Lock()
	defer mu.Unlock()
	var page, socket *req
	for i, r := range reqs {
		switch r.path {
		case "/page.html":
			page = &reqs[i]
		case "/ws":
			socket = &reqs[i]
		}
	}
	if page == nil || socket == nil {
		t.Fatalf("requests seen: %+v", reqs)
	}
	if *socket != (req{page.conn, "CONNECT", "HTTP/2.0", "websocket", "/ws"}) || page.proto != "HTTP/2.0" {
		t.Errorf("the page came as %+v, the WebSocket as %+v; want an extended CONNECT for websocket on the page's HTTP/2 connection", *page, *socket)
	}
	// Chromium may open a spare connection it does not use (a slow
	// machine's speculative preconnect); every request, the WebSocket's
	// included, must come on one.
	if len(active) != 1 {
		t.Errorf("requests came on %d connections, want 1 for the page and its WebSocket; requests: %+v", len(active), reqs)
	}
	for _, r := range reqs {
		if r.conn != page.conn {
			t.Errorf("%+v: not on the page's connection %s", r, page.conn)
		}
	}
	if l := log.String(); !strings.Contains(l, `extended CONNECT for \"websocket\" on \"/ws\" over HTTP/2`) {
		t.Errorf("no ExtendedConnect event in the server's log:\n%s", l)
	}
}
