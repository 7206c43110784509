package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
	"github.com/kestrel-go/kestrel/internal/proctest"
)

// syncBuffer is a log sink the test can read while the server writes.
type syncBuffer = proctest.Log

var listening = regexp.MustCompile(`Now listening on: (http://[^\s"]+)`)

// waitListening returns the first URL logged in "Now listening on:".
func waitListening(t *testing.T, log func() string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(log()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the server never logged its address; log:\n%s", log())
	return ""
}

// start runs the command in-process and returns its base URL.
func start(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	go func() { done <- run(ctx, args, environ, &log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	return waitListening(t, log.String)
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestDemoApp(t *testing.T) {
	base := start(t, []string{"--urls", "http://127.0.0.1:0"}, nil)
	for _, tc := range []struct{ path, want, ctype string }{
		{"/plaintext", "Hello, World!", "text/plain"},
		{"/json", `{"message":"Hello, World!"}`, "application/json"},
		{"/", "Hosted by Kestrel for Go", "text/html; charset=utf-8"},
		{"/headers", `"remoteAddress": "127.0.0.1:`, "application/json"},
	} {
		resp, body := get(t, base+tc.path)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) || resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: %d %q %q; want 200 containing %q as %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.want, tc.ctype)
		}
		if resp.Header.Get("Server") != "Kestrel" || resp.Header.Get("Date") == "" {
			t.Errorf("GET %s: Server %q Date %q", tc.path, resp.Header.Get("Server"), resp.Header.Get("Date"))
		}
	}
	// The index page lists the bound address.
	if _, body := get(t, base+"/"); !strings.Contains(body, base) {
		t.Errorf("index page does not list %s:\n%s", base, body)
	}
	resp, err := http.Post(base+"/echo", "text/plain", strings.NewReader("echo me"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "echo me" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("POST /echo = %q (%s)", b, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Post(base+"/echo?maxBodySize=3", "text/plain", strings.NewReader("too long"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /echo?maxBodySize=3 with 8 bytes: %d, want 413", resp.StatusCode)
	}
	resp, body := get(t, base+"/stream?chunks=3&size=4&delayMs=10")
	if body != "abcdabcdabcd" || resp.TransferEncoding == nil {
		t.Errorf("GET /stream = %q, transfer encoding %v; want 3 chunks", body, resp.TransferEncoding)
	}
	if resp, _ := get(t, base+"/stream?chunks=-1"); resp.StatusCode != 400 {
		t.Errorf("GET /stream?chunks=-1: %d, want 400", resp.StatusCode)
	}
	if resp, _ := get(t, base+"/nope"); resp.StatusCode != 404 {
		t.Errorf("GET /nope: %d, want 404", resp.StatusCode)
	}
}

func TestURLsFromEnvironment(t *testing.T) {
	base := start(t, nil, map[string]string{"ASPNETCORE_URLS": "http://127.0.0.1:0"})
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("listening on %s", base)
	}
	// KESTREL_URLS wins over ASPNETCORE_URLS.
	base = start(t, nil, map[string]string{"KESTREL_URLS": "http://[::1]:0", "ASPNETCORE_URLS": "http://127.0.0.1:0"})
	if !strings.HasPrefix(base, "http://[::1]:") {
		t.Errorf("listening on %s, want the KESTREL_URLS address", base)
	}
}

func TestStaticFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("0123456789"), 0o644)
	secret := filepath.Join(filepath.Dir(dir), "secret.txt")
	os.WriteFile(secret, []byte("secret"), 0o644)
	defer os.Remove(secret)
	base := start(t, []string{"--urls", "http://127.0.0.1:0", "--root", dir}, nil)

	if resp, body := get(t, base+"/hello.txt"); resp.StatusCode != 200 || body != "0123456789" {
		t.Errorf("GET /hello.txt = %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, base+"/hello.txt", "Range", "bytes=2-4"); resp.StatusCode != 206 || body != "234" {
		t.Errorf("range request = %d %q, want 206 \"234\"", resp.StatusCode, body)
	}
	resp, _ := get(t, base+"/hello.txt")
	if resp, _ := get(t, base+"/hello.txt", "If-Modified-Since", resp.Header.Get("Last-Modified")); resp.StatusCode != 304 {
		t.Errorf("conditional request = %d, want 304", resp.StatusCode)
	}
	// No way out of the folder, whatever the client sends.
	for _, p := range []string{"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"} {
		if resp, body := get(t, base+p); strings.Contains(body, "secret") && resp.StatusCode == 200 {
			t.Errorf("GET %s escaped the root: %d %q", p, resp.StatusCode, body)
		}
	}
}

func TestBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--urls", "http://localhost:5000/app"}, "path base"},
		{[]string{"--urls", "ftp://x"}, "unsupported scheme"},
		{[]string{"--root", "/does/not/exist"}, "--root"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--urls", "http://localhost:5000,http://localhost:5001"}, `URLs are separated by ';', not ',': use "http://localhost:5000;http://localhost:5001"`},
		{[]string{"--urls", "http://127.0.0.1:0, unix:/tmp/k.sock"}, `separated by ';'`},
		{[]string{"--urls", "unix:/tmp/k.sock,https://localhost:5001"}, `separated by ';'`},
		{[]string{"--urls", "unix:/tmp/k.sock", "--socket-mode", "rw-rw----"}, `--socket-mode "rw-rw----": use an octal file mode such as 0660`},
		{[]string{"--urls", "unix:/tmp/k.sock", "--socket-mode", "1777"}, `--socket-mode`},
		{[]string{"--shutdown-timeout", "-1s"}, `--shutdown-timeout -1s`},
		{[]string{"--drain-delay", "-1s"}, `--drain-delay -1s: use a duration of zero or more`},
		{[]string{"--health", "healthz"}, `--health "healthz": use a path beginning with /`},
		{[]string{"--status", "status"}, `--status "status": use a path beginning with /`},
		{[]string{"--status", "/"}, `--status "/": use a path beginning with /`},
	} {
		var log syncBuffer
		err := run(context.Background(), tc.args, nil, &log)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one naming %q", tc.args, err, tc.want)
		}
	}
	var log syncBuffer
	if err := run(context.Background(), []string{"--bogus"}, nil, &log); err != errUsage {
		t.Errorf("unknown flag: err = %v, want errUsage", err)
	}
}

// built is the kestrel command, built once for every test that runs it as
// a program (a link of this binary takes seconds on two CPUs); tests that
// change the file work on a copy.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// needTool finds an external tool, failing the test with the Debian
// package to install without it.
func needTool(t *testing.T, name, pkg, sbin string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if sbin != "" {
		if _, err := os.Stat(sbin); err == nil {
			return sbin
		}
	}
	t.Fatalf("%s is not installed; run `make test`, which installs the Debian package %s", name, pkg)
	return ""
}

// startTool starts an external tool with its output in the returned
// buffer, and stops it when the test ends, logging that output if the test
// failed.
func startTool(t *testing.T, name string, cmd *exec.Cmd) *syncBuffer {
	t.Helper()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, out.String())
		}
	})
	return out
}

// buildCommand returns the path of the kestrel command built from this
// package.
func buildCommand(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "kestrel-command"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "kestrel")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// TestBinaryShutdownTimeout: when --shutdown-timeout aborts a request
// still streaming, the command logs it and exits 0, so systemd records a
// clean stop.
func TestBinaryShutdownTimeout(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	cmd := exec.Command(buildCommand(t), "--urls", "http://127.0.0.1:0", "--shutdown-timeout", "300ms")
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := waitListening(t, log.String)
	resp, err := http.Get(base + "/stream?chunks=100&size=1&delayMs=100") // 10 s
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after the shutdown timeout aborted a request: %v, want 0\n%s", err, log.String())
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("stopped %v after SIGTERM, want about the 300ms shutdown timeout", d)
	}
	if !strings.Contains(log.String(), "Some connections failed to close gracefully during server shutdown (1 aborted)") {
		t.Errorf("the log does not say what was aborted:\n%s", log.String())
	}
}

// TestHelpAndVersion: --help and "kestrel help" give the usage, which
// lists the subcommands and every flag; --version asks for the version.
// The built binary's output is in TestBinaryHelpAndErrors and
// TestBinaryVersion.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var log syncBuffer
		var help *helpRequest
		if err := run(context.Background(), args, nil, &log); !errors.As(err, &help) {
			t.Fatalf("%v: %v, want a help request", args, err)
		}
		for _, want := range []string{"kestrel dev-certs [--check]", "-urls", "-config", "-socket-mode", "-shutdown-timeout", "-drain-delay", "-health", "-version", "Information"} {
			if !strings.Contains(help.usage, want) {
				t.Errorf("%v does not list %q:\n%s", args, want, help.usage)
			}
		}
		if log.String() != "" {
			t.Errorf("%v wrote %q on standard error", args, log.String())
		}
	}
	var log syncBuffer
	if err := run(context.Background(), []string{"--version"}, nil, &log); err != errVersion {
		t.Errorf("--version: %v, want errVersion", err)
	}
}

// TestSocketMode: --socket-mode sets the permissions of the Unix sockets
// of --urls (without it they follow the umask); a configuration
// endpoint's own SocketMode wins over it.
func TestSocketMode(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kestrel.json")
	os.WriteFile(file, []byte(`{"Kestrel": {"Endpoints": {
		"Http": {"Url": "http://127.0.0.1:0"},
		"Own": {"Url": "unix:`+filepath.Join(dir, "own.sock")+`", "SocketMode": "0600"},
		"Default": {"Url": "unix:`+filepath.Join(dir, "default.sock")+`"}}}}`), 0o644)
	for _, tc := range []struct {
		args []string
		want map[string]os.FileMode
	}{
		{[]string{"--urls", "http://127.0.0.1:0;unix:" + filepath.Join(dir, "a.sock"), "--socket-mode", "0660"}, map[string]os.FileMode{"a.sock": 0o660}},
		{[]string{"--urls", "http://127.0.0.1:0;unix:" + filepath.Join(dir, "b.sock"), "--socket-mode", "666"}, map[string]os.FileMode{"b.sock": 0o666}},
		{[]string{"--config", file, "--socket-mode", "0660"}, map[string]os.FileMode{"own.sock": 0o600, "default.sock": 0o660}},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var log syncBuffer
		done := make(chan error, 1)
		go func() { done <- run(ctx, tc.args, nil, &log) }()
		waitListening(t, log.String)
		for name, want := range tc.want {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%v: %v", tc.args, err)
			} else if fi.Mode().Perm() != want {
				t.Errorf("%v: %s has mode %v, want %v", tc.args, name, fi.Mode().Perm(), want)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
	}
}

// TestBinarySIGTERM builds the command, serves a request to curl and stops
// it with SIGTERM, as a service manager would.
func TestBinarySIGTERM(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	curl := needTool(t, "curl", "curl", "")
	bin := buildCommand(t)
	cmd := exec.Command(bin, "--urls", "http://127.0.0.1:0")
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := waitListening(t, log.String)
	out, err := exec.Command(curl, "-sS", base+"/plaintext").CombinedOutput()
	if err != nil || string(out) != "Hello, World!" {
		t.Fatalf("curl: %v %q", err, out)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", log.String())
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	file := filepath.Join(dir, "kestrel.json")
	os.WriteFile(file, []byte(`{ "Kestrel": {
		"Endpoints": { "Http": { "Url": "http://127.0.0.1:0" },
		               "Socket": { "Url": "unix:`+sock+`", "SocketMode": "0660" } },
		"Limits": { "MaxRequestBodySize": 10, "KeepAliveTimeout": "00:01:00",
		            "MinRequestBodyDataRate": null } } }`), 0o644)
	// The environment overrides the file; the file's endpoints win over --urls.
	base := start(t, []string{"--config", file, "--urls", "http://127.0.0.1:1"},
		map[string]string{"Kestrel__Limits__MaxRequestBodySize": "5"})
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":1") {
		t.Fatalf("listening on %s, want the file's endpoint", base)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket file: %v, mode %v; want 0660", err, fi.Mode())
	}
	for _, tc := range []struct {
		body string
		want int
	}{{"12345", 200}, {"123456", 413}} {
		resp, err := http.Post(base+"/echo", "text/plain", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %d bytes with Kestrel__Limits__MaxRequestBodySize=5: %d, want %d", len(tc.body), resp.StatusCode, tc.want)
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ json, want string }{
		{`{"Kestrel": {"Limits": {"MaxRequestBodySiz": 10}}}`, `unknown key "Kestrel:Limits:MaxRequestBodySiz" (did you mean "Kestrel:Limits:MaxRequestBodySize"?)`},
		{`{"Kestrel": {"Limits": {"MaxRequestBodySize": "ten"}}}`, `"ten" is not a whole number (Kestrel:Limits:MaxRequestBodySize)`},
		{`{"Kestrel": {"Limits": {"KeepAliveTimeout": "soon"}}}`, `Kestrel:Limits:KeepAliveTimeout`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "http://127.0.0.1:0", "Certificate": {"Path": "x.pfx"}}}}}`, `Kestrel:Endpoints:Web: the keys Certificate, Sni`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Protocols": "Http1"}}}}`, `Kestrel:Endpoints:Web:Url is missing`},
		{`{"Kestrel": {"Endpoints": {"Web": {}}}}`, `Kestrel:Endpoints:Web:Url is missing`},
		{`{"Kestrel": {"Limits": {"MaxRequestBodySize": 1,,}}}`, `line 1, column 49: invalid character ','`},
		{`{"Kestrel": {"Limits": {"MinResponseDataRate": {"BytesPerSecond": 240, "GracePeriod": "00:00:01"}}}}`, `k.json: Kestrel:Limits:MinResponseDataRate:GracePeriod is 1s`},
		{`{"Kestrel": {`, `k.json: the JSON ends early, at line 1, column 14`},
		{"{\"Kestrel\": {} /* open", `k.json: line 1, column 16: a /* comment is not closed with */`},
		{`{"Kestrel": {"Endpoint": {"Web": {"Url": "http://127.0.0.1:0"}}}}`, `k.json: unknown section "Kestrel:Endpoint" (did you mean "Kestrel:Endpoints"?)`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Certficate": {"Path": "a.pfx"}}}}}`, `k.json: unknown section "Kestrel:Endpoints:Web:Certficate" (did you mean "Kestrel:Endpoints:Web:Certificate"?)`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Certificate": {"Subject": "localhost", "Store": "My"}}}}}`, `k.json: Kestrel:Endpoints:Web:Certificate: Subject, Store, Location and AllowInvalid select a certificate from a certificate store, which only Windows/.NET has; name the certificate's files instead: Path`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "http://127.0.0.1:0", "Protocols": "Http4"}}}}`, `k.json: Kestrel:Endpoints:Web:Protocols: unknown protocols "Http4"`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": "none.pfx"}}}}}`, `k.json: Kestrel:Endpoints:Web (https://127.0.0.1:0): reading the certificate: open `},
	} {
		file := filepath.Join(dir, "k.json")
		os.WriteFile(file, []byte(tc.json), 0o644)
		var log syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := run(ctx, []string{"--config", file}, nil, &log)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.json, err, tc.want)
			continue
		}
		// Each message names the file, once, and no package says its name
		// in the middle of it.
		msg := strings.TrimPrefix(err.Error(), "kestrel: ")
		if !strings.Contains(msg, file+": ") || strings.Contains(msg, "kestrel: ") || strings.Contains(msg, "certs: ") {
			t.Errorf("%s: %q: want the file named and no inner prefixes", tc.json, msg)
		}
	}
}

// TestConfigFileAsWrittenForASPNET: an appsettings.json as Visual Studio
// writes it (a byte order mark, comments, trailing commas) configures the
// command as it configures ASP.NET.
func TestConfigFileAsWrittenForASPNET(t *testing.T) {
	file := filepath.Join(t.TempDir(), "appsettings.json")
	os.WriteFile(file, []byte("\ufeff{\n"+
		"  // Kestrel's endpoints\n"+
		"  \"Kestrel\": {\n"+
		"    \"Endpoints\": {\n"+
		"      /* plain HTTP, for the proxy */\n"+
		"      \"Http\": { \"Url\": \"http://127.0.0.1:0\", },\n"+
		"    },\n"+
		"    \"Limits\": { \"MaxRequestBodySize\": 5, }, // bytes\n"+
		"  },\n"+
		"  \"AllowedHosts\": \"*\",\n"+
		"}\n"), 0o644)
	base := start(t, []string{"--config", file}, nil)
	resp, err := http.Post(base+"/echo", "text/plain", strings.NewReader("123456"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST 6 bytes with MaxRequestBodySize 5 from the file: %d, want 413", resp.StatusCode)
	}
}

// TestBodyLimitsWithCurl sends files with curl --data-binary to the demo's
// /echo: the default 30,000,000-byte limit and a per-request one, each met
// exactly and crossed by one byte.
func TestBodyLimitsWithCurl(t *testing.T) {
	curl := needTool(t, "curl", "curl", "")
	base := start(t, []string{"--urls", "http://127.0.0.1:0"}, nil)
	dir := t.TempDir()
	file := func(n int) string {
		p := filepath.Join(dir, fmt.Sprintf("body-%d", n))
		if err := os.WriteFile(p, bytes.Repeat([]byte{'k'}, n), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		size  int
		query string
		want  string
	}{
		{30_000_000, "", "200"},
		{30_000_001, "", "413"},
		{1 << 20, "?maxBodySize=1048576", "200"},
		{1<<20 + 1, "?maxBodySize=1048576", "413"},
	} {
		out, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
			"-H", "Content-Type: application/octet-stream", "--data-binary", "@"+file(tc.size), base+"/echo"+tc.query).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
		code, size, _ := strings.Cut(string(out), " ")
		if code != tc.want {
			t.Errorf("%d bytes to /echo%s: %s, want %s", tc.size, tc.query, code, tc.want)
		}
		if code == "200" && size != fmt.Sprint(tc.size) {
			t.Errorf("%d bytes echoed as %s", tc.size, size)
		}
	}
}

// TestConfigFileContentRoot: relative certificate paths resolve against
// the configuration file's folder, wherever the command runs from, and
// the top-level AllowedHosts of appsettings.json filters hosts.
func TestConfigFileContentRoot(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, err := certs.CreateDevCert(filepath.Join(dir, "certs"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "appsettings.json")
	os.WriteFile(file, []byte(`{
		"Logging": { "LogLevel": { "Default": "Information" } },
		"AllowedHosts": "localhost",
		"Kestrel": { "Endpoints": {
			"Http":  { "Url": "http://127.0.0.1:0" },
			"Https": { "Url": "https://127.0.0.1:0",
			           "Certificate": { "Path": "certs/`+filepath.Base(certPath)+`", "KeyPath": "certs/`+filepath.Base(keyPath)+`" } } } } }`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", file}, nil, &log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := waitListening(t, log.String)
	// The endpoints are logged one after the other: wait for the second.
	https := regexp.MustCompile(`Now listening on: (https://\S+)`)
	m := https.FindStringSubmatch(log.String())
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); m = https.FindStringSubmatch(log.String()) {
		time.Sleep(20 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("no https endpoint:\n%s", log.String())
	}
	pem, _ := os.ReadFile(certPath)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for _, tc := range []struct {
		url, host string
		want      int
	}{
		{base, "localhost", 200},
		{base, "evil.test", 400},
		{m[1], "localhost", 200},
		{m[1], "evil.test", 400},
	} {
		req, _ := http.NewRequest("GET", tc.url+"/plaintext", nil)
		req.Host = tc.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s with Host %s: %v", tc.url, tc.host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with Host %s: %d, want %d", tc.url, tc.host, resp.StatusCode, tc.want)
		}
	}
}

// TestConfigFileWithoutKestrelSection: a misspelt section is reported, and
// the server starts with the defaults.
func TestConfigFileWithoutKestrelSection(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kestrel.json")
	os.WriteFile(file, []byte(`{"Kestrl": {"Endpoints": {"Web": {"Url": "http://127.0.0.1:0"}}}, "Logging": {}}`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", file, "--urls", "http://127.0.0.1:0"}, nil, &log) }()
	waitListening(t, log.String)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := `has no "Kestrel" section`; !strings.Contains(log.String(), want) || !strings.Contains(log.String(), `did you mean "Kestrel" instead of "Kestrl"?`) {
		t.Errorf("log lacks the warning:\n%s", log.String())
	}
}

// TestBinaryPrivilegedPort: an unprivileged user asking for a port below
// 1024 gets told how to get one, for localhost (both loopbacks refused)
// as for an IP address. As root, the test runs the command as nobody.
func TestBinaryPrivilegedPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("privileged ports are a Linux test here")
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		t.Fatal(err)
	}
	start, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if start <= 1 {
		t.Skipf("every user may bind every port here (net.ipv4.ip_unprivileged_port_start=%d)", start)
	}
	// A folder nobody can enter, with the binary.
	dir, err := os.MkdirTemp("", "kestrel-priv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "kestrel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var prefix []string
	if os.Getuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Fatal("setpriv (util-linux) is not installed")
		}
		prefix = []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
	}
	for _, url := range []string{"http://localhost:1", "http://127.0.0.1:1", "http://*:1"} {
		args := append(append([]string{}, prefix...), bin, "--urls", url)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s: %v, want exit status 1\n%s", url, err, out)
		}
		for _, want := range []string{"failed to bind to " + url, "permission denied", "ports below 1024", "setcap cap_net_bind_service"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: output lacks %q:\n%s", url, want, out)
			}
		}
	}
}
