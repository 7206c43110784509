package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// writeFiles creates files (name to content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRootFlags(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "public")
	writeFiles(t, dir, map[string]string{
		"index.html":             "<h1>app</h1>",
		"files/a.txt":            "a",
		"assets/app.3f2a9c1b.js": "js",
		".env":                   "SECRET",
	})
	writeFiles(t, parent, map[string]string{"secret.txt": "SECRET"})
	os.Symlink(filepath.Join(parent, "secret.txt"), filepath.Join(dir, "escape.txt"))
	os.Symlink(parent, filepath.Join(dir, "up"))

	// Defaults: no listings, no fallback; links out of the root and
	// dotfiles answer 404 as missing files do.
	base := start(t, []string{"--urls", "http://127.0.0.1:0", "--root", dir}, nil)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/", 200}, {"/files/a.txt", 200}, {"/files/", 404}, {"/escape.txt", 404},
		{"/up/secret.txt", 404}, {"/up/", 404}, {"/.env", 404}, {"/users/42", 404},
	} {
		resp, body := get(t, base+tc.path)
		if resp.StatusCode != tc.status || strings.Contains(body, "SECRET") {
			t.Errorf("GET %s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}
	resp, _ := get(t, base+"/")
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
		t.Errorf("GET /: Cache-Control %q ETag %q", resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
	}

	base = start(t, []string{"--urls", "http://127.0.0.1:0", "--root", dir, "--browse", "--fallback", "index.html",
		"--cache-control", "public, max-age=60"}, nil)
	if resp, body := get(t, base+"/files/"); resp.StatusCode != 200 || !strings.Contains(body, `<a href="a.txt">a.txt</a>`) {
		t.Errorf("--browse: GET /files/ = %d\n%s", resp.StatusCode, body)
	}
	if resp, body := get(t, base+"/users/42"); resp.StatusCode != 200 || body != "<h1>app</h1>" {
		t.Errorf("--fallback: GET /users/42 = %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/missing.png"); resp.StatusCode != 404 {
		t.Errorf("--fallback: GET /missing.png = %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, base+"/escape.txt"); resp.StatusCode != 404 {
		t.Errorf("--fallback: GET /escape.txt = %d, want 404", resp.StatusCode)
	}
	for p, want := range map[string]string{"/": "public, max-age=60", "/assets/app.3f2a9c1b.js": "public, max-age=31536000, immutable"} {
		if resp, _ := get(t, base+p); resp.Header.Get("Cache-Control") != want {
			t.Errorf("--cache-control: GET %s: %q, want %q", p, resp.Header.Get("Cache-Control"), want)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--fallback", "index.html"}, "add --root"},
		{[]string{"--browse"}, "add --root"},
		{[]string{"--root", dir, "--fallback", "missing.html"}, `--fallback "missing.html": no such file`},
		{[]string{"--root", filepath.Join(dir, "index.html")}, "--root: " + filepath.Join(dir, "index.html") + " is not a directory"},
	} {
		var log syncBuffer
		err := run(context.Background(), append([]string{"--urls", "http://127.0.0.1:0"}, tc.args...), nil, &log)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// spaScript is the single-page app's script: it checks what a browser
// sees of the server and posts the findings to the test.
const spaScript = `
(async () => {
  const report = new URLSearchParams(location.search).get("report");
  const out = [];
  try {
    out.push("path " + location.pathname);
    out.push("css " + getComputedStyle(document.body).backgroundColor);
    const data = await (await fetch("/data.json")).json();
    out.push("json " + data.message);
    out.push("missing " + (await fetch("/assets/missing.js")).status);
    history.pushState({}, "", "/settings/profile");
    const deep = await fetch(location.pathname);
    out.push("deep " + deep.status + " " + (await deep.text()).includes("spa-root"));
    const ranged = await fetch("/data.json", {headers: {Range: "bytes=2-8"}});
    out.push("range " + ranged.status + " " + await ranged.text());
    const compressed = performance.getEntriesByType("resource")
      .filter(e => /app\.3f2a9c1b\.js|style\.css|data\.json/.test(e.name) && e.encodedBodySize > 0 && e.encodedBodySize < e.decodedBodySize)
      .map(e => e.name.replace(location.origin, "")).sort();
    out.push("compressed " + [...new Set(compressed)].join(","));
  } catch (e) {
    out.push("error " + e);
  }
  await fetch(report, {method: "POST", mode: "no-cors", body: out.join("\n")});
})();
`

// TestSPAInChromium loads a single-page app from kestrel --root with
// --fallback in headless Chromium, at a deep link the server has no file
// for: the fallback serves index.html, the assets arrive compressed (a
// brotli sibling for the CSS, compression on the fly for the script and
// the JSON), a missing asset is a 404, and client-side navigation keeps
// working.
func TestSPAInChromium(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium", "")
	dir := t.TempDir()
	css := "body { background-color: rgb(1, 2, 3); }\n" + strings.Repeat("/* padding so that it is worth compressing */\n", 60)
	var brCSS bytes.Buffer
	bw := brotli.NewWriterLevel(&brCSS, 11)
	bw.Write([]byte(css))
	bw.Close()
	writeFiles(t, dir, map[string]string{
		"index.html": `<!doctype html><html><head><meta charset="utf-8"><title>SPA</title>` +
			`<link rel="stylesheet" href="/assets/style.css"></head><body><div id="spa-root"></div>` +
			`<script src="/assets/app.3f2a9c1b.js"></script></body></html>`,
		"assets/app.3f2a9c1b.js": spaScript + strings.Repeat("// padding so that it is worth compressing\n", 40),
		"assets/style.css":       css,
		"assets/style.css.br":    brCSS.String(),
		"data.json":              `{"message": "hello from data.json", "padding": "` + strings.Repeat("x", 2000) + `"}`,
	})
	base := start(t, []string{"--urls", "http://127.0.0.1:0", "--root", dir, "--fallback", "index.html"}, nil)

	result := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reporter := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case result <- string(b):
		default:
		}
	})}
	go reporter.Serve(ln)
	defer reporter.Close()

	page := base + "/users/42?" + url.Values{"report": {"http://" + ln.Addr().String() + "/result"}}.Encode()
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), page)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	select {
	case got := <-result:
		want := strings.Join([]string{
			"path /users/42",
			"css rgb(1, 2, 3)",
			"json hello from data.json",
			"missing 404",
			"deep 200 true",
			"range 206 message",
			"compressed /assets/app.3f2a9c1b.js,/assets/style.css,/data.json",
		}, "\n")
		if got != want {
			t.Errorf("the page reported:\n%s\nwant:\n%s", got, want)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("no report from the browser; its output:\n%s", log.String())
	}
}
