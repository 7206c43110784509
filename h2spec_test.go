package kestrel

import (
	"context"
	"go/build"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// h2specSummary is h2spec's last line: "146 tests, 146 passed, 0 skipped,
// 0 failed".
var h2specSummary = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// TestH2spec runs h2spec (github.com/summerwind/h2spec v2.2.1) in strict
// mode against an h2c endpoint (Protocols HTTP2) and an HTTPS one, three
// times each, and requires every one of its 146 tests to pass every time.
func TestH2spec(t *testing.T) {
	t.Parallel()
	h2spec := goTool(t, "h2spec")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "Hello from Kestrel over HTTP/2")
	})
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	s := &Server{Handler: handler, Logger: quietLogger}
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2})
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, a := range s.Addresses() {
		secure := strings.HasPrefix(a, "https://")
		hostPort := a[strings.Index(a, "://")+3:]
		port := hostPort[strings.LastIndexByte(hostPort, ':')+1:]
		name := map[bool]string{false: "h2c", true: "tls"}[secure]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-S", "-h", "127.0.0.1", "-p", port, "-o", "5"}
			if secure {
				args = append(args, "-t", "-k")
			}
			for run := 1; run <= 3; run++ {
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				start := time.Now()
				out, err := exec.CommandContext(ctx, h2spec, args...).CombinedOutput()
				cancel()
				m := h2specSummary.FindSubmatch(out)
				if m == nil {
					t.Fatalf("run %d: h2spec %s: %v, no summary line:\n%s", run, strings.Join(args, " "), err, lastLines(string(out), 40))
				}
				total, _ := strconv.Atoi(string(m[1]))
				passed, _ := strconv.Atoi(string(m[2]))
				if total != 146 || passed != 146 || err != nil {
					t.Fatalf("run %d: h2spec -S over %s: %s (exit %v), want 146 of 146 passed:\n%s", run, name, m[0], err, failures(string(out)))
				}
				t.Logf("run %d: %s in %v", run, m[0], time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

// goTool finds a command installed with go install: on PATH, or in
// GOPATH's bin folder, where scripts/install-test-deps.sh puts it.
func goTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (on PATH or in %s); run `make test`, whose installer puts it there", name, filepath.Dir(p))
	}
	return p
}

// failures returns h2spec's "Failures:" section, or its last lines.
func failures(out string) string {
	if i := strings.Index(out, "Failures:"); i >= 0 {
		return out[i:]
	}
	return lastLines(out, 40)
}
