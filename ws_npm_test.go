package kestrel_test

import (
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/websocket"
)

// TestWebSocketNpmClient runs the npm ws package's client against the echo
// endpoint: fragmented messages, 16 MiB, ping/pong, close codes.
func TestWebSocketNpmClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; run `make test`, which installs nodejs and npm")
	}
	dir := filepath.Join("testdata", "ws")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("npm is not installed; run `make test`")
		}
		if out, err := exec.Command(npm, "ci", "--prefix", dir, "--no-audit", "--no-fund").CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", websocket.Echo(nil))
	s := &kestrel.Server{Handler: mux, Logger: slog.New(slog.DiscardHandler)}
	s.Listen("127.0.0.1:0")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "ws://" + strings.TrimPrefix(s.Addresses()[0], "http://") + "/ws"
	out, err := exec.Command(node, filepath.Join(dir, "client.js"), url).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("the ws client failed: %v", err)
	}
	for _, check := range []string{"ok fragmented text", "ok fragmented binary", "ok 16 MiB message", "ok ping/pong", "ok close 4000"} {
		if !strings.Contains(string(out), check) {
			t.Errorf("missing %q", check)
		}
	}
}
