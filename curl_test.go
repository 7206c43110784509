package kestrel

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// curl runs curl with args and returns its standard output and error.
func curl(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed; these tests need it. Run `make test`, which installs it (or `apt-get install -y curl`).")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "20"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// curlServer serves what the curl tests ask for.
func curlServer(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello from Kestrel\n")
	})
	mux.HandleFunc("GET /proto", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.Header.Get("Connection"))
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		te := strings.Join(r.TransferEncoding, ",")
		w.Header().Set("X-Request-Length", fmt.Sprint(r.ContentLength))
		w.Header().Set("X-Request-Transfer-Encoding", te)
		w.Header().Set("X-Request-Expect", r.Header.Get("Expect"))
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := io.Copy(w, r.Body); err != nil {
			t.Errorf("echo: %v", err)
		}
	})
	return startServer(t, &Server{Handler: mux})
}

// randomFile writes n random bytes to a temporary file.
func randomFile(t *testing.T, n int) (string, []byte) {
	data := make([]byte, n)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "body.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestCurlGet(t *testing.T) {
	t.Parallel()
	addr := curlServer(t)
	out, _ := curl(t, "--fail-with-body", "http://"+addr+"/hello")
	if out != "Hello from Kestrel\n" {
		t.Errorf("got %q", out)
	}
	out, _ = curl(t, "-i", "http://"+addr+"/missing")
	if !strings.HasPrefix(out, "HTTP/1.1 404 Not Found\r\n") || !strings.Contains(out, "\r\nServer: Kestrel\r\n") {
		t.Errorf("got %q", out)
	}
}

func TestCurlHead(t *testing.T) {
	t.Parallel()
	addr := curlServer(t)
	out, _ := curl(t, "-I", "http://"+addr+"/hello")
	for _, want := range []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 19\r\n", "Content-Type: text/plain\r\n", "Server: Kestrel\r\n", "Date: "} {
		if !strings.Contains(out, want) {
			t.Errorf("HEAD output %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\r\n\r\n") {
		t.Errorf("HEAD output %q has a body", out)
	}
}

func TestCurlPostEcho(t *testing.T) {
	t.Parallel()
	addr := curlServer(t)
	path, data := randomFile(t, 1<<20)
	outFile := filepath.Join(t.TempDir(), "out.bin")
	_, _ = curl(t, "--fail", "--data-binary", "@"+path, "-H", "Content-Type: application/octet-stream",
		"-D", outFile+".headers", "-o", outFile, "http://"+addr+"/echo")
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("echoed %d bytes, want the %d sent, identical", len(got), len(data))
	}
	headers, _ := os.ReadFile(outFile + ".headers")
	if !strings.Contains(string(headers), "X-Request-Length: 1048576\r\n") {
		t.Errorf("response headers %q: the request's Content-Length was not seen", headers)
	}
}

func TestCurlChunkedUpload(t *testing.T) {
	t.Parallel()
	addr := curlServer(t)
	path, data := randomFile(t, 300_000)
	outFile := filepath.Join(t.TempDir(), "out.bin")
	_, stderr := curl(t, "-v", "--fail", "--data-binary", "@"+path, "-H", "Transfer-Encoding: chunked",
		"-D", outFile+".headers", "-o", outFile, "http://"+addr+"/echo")
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("echoed %d bytes, want the %d sent, identical", len(got), len(data))
	}
	if !strings.Contains(stderr, "> Transfer-Encoding: chunked") {
		t.Errorf("curl did not send a chunked body:\n%s", stderr)
	}
	headers, _ := os.ReadFile(outFile + ".headers")
	if !strings.Contains(string(headers), "X-Request-Transfer-Encoding: chunked\r\n") ||
		!strings.Contains(string(headers), "X-Request-Length: -1\r\n") {
		t.Errorf("response headers %q: the handler did not see a chunked request", headers)
	}
}

func TestCurlExpectContinue(t *testing.T) {
	t.Parallel()
	addr := curlServer(t)
	outFile := filepath.Join(t.TempDir(), "out.bin")
	for _, tc := range []struct {
		name  string
		size  int
		extra []string
	}{
		// curl asks for 100-continue by itself before a large body.
		{"large body", 2 << 20, nil},
		// And before any body when told to.
		{"header set", 1000, []string{"-H", "Expect: 100-continue"}},
	} {
		path, data := randomFile(t, tc.size)
		start := time.Now()
		args := append([]string{"-v", "--fail", "--data-binary", "@" + path, "--expect100-timeout", "10", "-D", outFile + ".headers",
			"-o", outFile}, tc.extra...)
		_, stderr := curl(t, append(args, "http://"+addr+"/echo")...)
		if got, _ := os.ReadFile(outFile); !bytes.Equal(got, data) {
			t.Errorf("%s: echoed %d bytes, want the %d sent, identical", tc.name, len(got), len(data))
		}
		if !strings.Contains(stderr, "> Expect: 100-continue") || !strings.Contains(stderr, "< HTTP/1.1 100 Continue") {
			t.Errorf("%s: no 100-continue exchange in curl's trace:\n%s", tc.name, stderr)
		}
		if headers, _ := os.ReadFile(outFile + ".headers"); !strings.Contains(string(headers), "X-Request-Expect: 100-continue\r\n") {
			t.Errorf("%s: the handler did not see the expectation: %q", tc.name, headers)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("%s: took %v: curl waited for its expect timeout rather than the 100 Continue", tc.name, d)
		}
	}
}

func TestCurlHTTP10(t *testing.T) {
	t.Parallel()
	addr := curlServer(t)
	out, _ := curl(t, "-i", "--http1.0", "http://"+addr+"/proto")
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(out, "\r\n\r\nHTTP/1.0 ") {
		t.Errorf("got %q", out)
	}
	if strings.Contains(out, "Transfer-Encoding") || !strings.Contains(out, "Content-Length: 9\r\n") {
		t.Errorf("HTTP/1.0 response framing: %q", out)
	}
}

func TestCurlKeepAlive(t *testing.T) {
	t.Parallel()
	addr := curlServer(t)
	out, stderr := curl(t, "-v", "http://"+addr+"/hello", "http://"+addr+"/proto")
	if out != "Hello from Kestrel\nHTTP/1.1 " {
		t.Errorf("got %q", out)
	}
	if !strings.Contains(stderr, "Re-using existing connection") {
		t.Errorf("curl did not reuse the connection:\n%s", stderr)
	}
}
