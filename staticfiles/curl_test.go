package staticfiles_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/staticfiles"
)

// curl runs curl and returns what it wrote to stdout.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed; run `make test`, which installs it")
	}
	out, err := exec.Command(bin, append([]string{"-sS", "--max-time", "20"}, args...)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("curl %q: %v %s", args, err, msg)
	}
	return string(out)
}

func TestWithCurl(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	css := text(30000)
	write(t, dir, "site.css", css)
	write(t, dir, "index.html", "<h1>home</h1>")
	write(t, dir, "r.txt", "0123456789")
	big := text(200000)
	write(t, dir, "big.txt", big)
	write(t, parent, "secret.txt", "SECRET")
	base := serve(t, dir, staticfiles.Options{Fallback: "index.html"})

	// Every coding curl knows, decoded by curl.
	for _, coding := range []string{"br", "zstd", "gzip"} {
		out := curl(t, "--compressed", "-H", "Accept-Encoding: "+coding, "-D", "-", base+"/site.css")
		head, body, _ := strings.Cut(out, "\r\n\r\n")
		if !strings.Contains(head, "Content-Encoding: "+coding) || body != css {
			t.Errorf("curl --compressed with %s: %s\n(%d bytes)", coding, head, len(body))
		}
	}
	// curl --compressed asks for all of them; the smallest wins.
	if out := curl(t, "--compressed", "-o", "/dev/null", "-w", "%{size_download} %{http_code}", base+"/site.css"); !strings.HasSuffix(out, " 200") {
		t.Errorf("curl --compressed: %s", out)
	}

	if out := curl(t, "-r", "2-4", base+"/r.txt"); out != "234" {
		t.Errorf("curl -r 2-4: %q", out)
	}
	out := curl(t, "-r", "0-1,8-9", base+"/r.txt")
	if !strings.Contains(out, "Content-Range: bytes 0-1/10\r\n\r\n01\r\n") || !strings.Contains(out, "Content-Range: bytes 8-9/10\r\n\r\n89\r\n") {
		t.Errorf("curl -r 0-1,8-9:\n%s", out)
	}
	if out := curl(t, "-r", "50-60", "-o", "/dev/null", "-w", "%{http_code}", base+"/r.txt"); out != "416" {
		t.Errorf("unsatisfiable range: %s", out)
	}

	// A download resumed with -C -.
	dl := filepath.Join(t.TempDir(), "big.txt")
	os.WriteFile(dl, []byte(big[:12345]), 0o644)
	if out := curl(t, "-C", "-", "-o", dl, "-w", "%{http_code}", base+"/big.txt"); out != "206" {
		t.Errorf("curl -C -: %s", out)
	}
	if b, _ := os.ReadFile(dl); string(b) != big {
		t.Errorf("resumed download: %d bytes, want %d", len(b), len(big))
	}

	// Conditional requests: -z (If-Modified-Since) and --etag-compare.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC1123)
	if out := curl(t, "-z", future, "-o", "/dev/null", "-w", "%{http_code}", base+"/r.txt"); out != "304" {
		t.Errorf("curl -z: %s", out)
	}
	etags := filepath.Join(t.TempDir(), "etag")
	curl(t, "--etag-save", etags, "-o", "/dev/null", base+"/r.txt")
	if out := curl(t, "--etag-compare", etags, "-o", "/dev/null", "-w", "%{http_code}", base+"/r.txt"); out != "304" {
		t.Errorf("curl --etag-compare: %s", out)
	}

	if out := curl(t, "-I", base+"/r.txt"); !strings.Contains(out, "Content-Length: 10") || !strings.Contains(out, "X-Content-Type-Options: nosniff") {
		t.Errorf("curl -I:\n%s", out)
	}
	// The fallback, a missing asset, a way out, a dotfile, a wrong method.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{base + "/users/42"}, "200 <h1>home</h1>"},
		{[]string{base + "/missing.js"}, "404 404 not found\n"},
		{[]string{"--path-as-is", base + "/../secret.txt"}, "400 400 bad request\n"},
		{[]string{"--path-as-is", base + "/%2e%2e/secret.txt"}, "400 400 bad request\n"},
		{[]string{base + "/.env"}, "404 404 not found\n"},
		{[]string{"-X", "POST", base + "/r.txt"}, "405 405 method not allowed\n"},
	} {
		out := curl(t, append([]string{"-w", "|%{http_code}"}, tc.args...)...)
		i := strings.LastIndexByte(out, '|')
		if out = out[i+1:] + " " + out[:i]; out != tc.want {
			t.Errorf("curl %q: %q, want %q", tc.args, out, tc.want)
		}
	}
}
