//go:build unix

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
	"github.com/kestrel-go/kestrel/internal/loadtest"
	"github.com/kestrel-go/kestrel/internal/proctest"
)

// startBinary starts the built command with its log in a pipe that
// outlives it (the process replacing it writes there too).
func startBinary(t *testing.T, cmd *exec.Cmd) *syncBuffer { return proctest.Start(t, cmd) }

// stopByPIDFile stops the server whose PID file is given, and waits until
// it has removed the file (it may not be this process's child).
func stopByPIDFile(t *testing.T, pidFile string) {
	t.Helper()
	pid, err := proctest.ReadPIDFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(pidFile); os.IsNotExist(err) {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("process %d did not stop on SIGTERM", pid)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestBinaryUpgradeUnderLoad deploys a new binary of the command and runs
// "kestrel upgrade" while clients on keep-alive connections and clients
// opening a connection per request keep the server busy over TCP and a
// Unix socket: the new process takes the sockets over, the old one drains
// and exits 0, and no request fails and no connection is refused.
func TestBinaryUpgradeUnderLoad(t *testing.T) {
	bin := buildCommand(t)
	dir := t.TempDir()
	exe, pidFile, sock := filepath.Join(dir, "kestrel"), filepath.Join(dir, "kestrel.pid"), filepath.Join(dir, "app.sock")
	copyFile(t, bin, exe)
	cmd := exec.Command(exe, "--urls", "http://127.0.0.1:0;unix:"+sock, "--pid-file", pidFile, "--metrics", "http://127.0.0.1:0")
	log := startBinary(t, cmd)
	base := waitListening(t, log.String)
	waitLog(t, log.String, "Serving Prometheus metrics on: ")
	metricsURL := regexp.MustCompile(`Serving Prometheus metrics on: (\S+)`).FindStringSubmatch(log.String())[1]
	proctest.WaitPIDFile(t, pidFile, cmd.Process.Pid)
	oldPID := cmd.Process.Pid

	ctx, stopLoad := context.WithCancel(context.Background())
	check := func(b []byte) error {
		if string(b) != "Hello, World!" {
			return fmt.Errorf("body %q", b)
		}
		return nil
	}
	results := make(chan *loadtest.Result, 2)
	go func() {
		results <- loadtest.Run(ctx, loadtest.Load{Network: "tcp", Address: strings.TrimPrefix(base, "http://"), Path: "/plaintext", KeepAlive: 16, NewConns: 4, Check: check})
	}()
	go func() {
		results <- loadtest.Run(ctx, loadtest.Load{Network: "unix", Address: sock, Path: "/plaintext", KeepAlive: 2, NewConns: 1, Check: check})
	}()
	time.Sleep(300 * time.Millisecond)

	// Deploy: a new binary renamed over the old one, then upgrade.
	copyFile(t, bin, exe+".new")
	if err := os.Rename(exe+".new", exe); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "upgrade", "--pid-file", pidFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("from process %d", oldPID)) {
		t.Fatalf("kestrel upgrade: %v\n%s\nserver log:\n%s", err, out, log.String())
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the old process: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the old process did not exit after the upgrade:\n%s", log.String())
	}
	newPID, err := proctest.ReadPIDFile(pidFile)
	if err != nil || newPID == oldPID {
		t.Fatalf("PID file after the upgrade: %d, %v", newPID, err)
	}
	defer stopByPIDFile(t, pidFile)
	if runtime.GOOS == "linux" {
		running, err1 := os.Stat(fmt.Sprintf("/proc/%d/exe", newPID))
		deployed, err2 := os.Stat(exe)
		if err1 != nil || err2 != nil || !os.SameFile(running, deployed) {
			t.Errorf("the new process does not run the deployed binary: %v %v", err1, err2)
		}
	}
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	for range 2 {
		r := <-results
		t.Logf("through the upgrade: %s", r)
		if r.Failed.Load() > 0 || r.Refused.Load() > 0 || r.Requests.Load() == 0 {
			t.Errorf("%s; first errors: %q", r, r.Errors())
		}
	}
	if _, body := get(t, base+"/plaintext"); body != "Hello, World!" {
		t.Errorf("after the upgrade: %q", body)
	}
	// The metrics listener went along: the new process serves it, with
	// the requests it counted.
	if resp, body := get(t, metricsURL); resp.StatusCode != 200 || !strings.Contains(body, "kestrel_") {
		t.Errorf("metrics after the upgrade: %d\n%.300s", resp.StatusCode, body)
	}
	for _, want := range []string{"Upgrade: started a new process", "Taking over the listening sockets", "Upgrade: the new process is ready"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, log.String())
		}
	}
}

// TestBinaryUpgradeFailure: a new binary that does not start leaves the
// old process serving, and "kestrel upgrade" fails saying so.
func TestBinaryUpgradeFailure(t *testing.T) {
	bin := buildCommand(t)
	dir := t.TempDir()
	exe, pidFile := filepath.Join(dir, "kestrel"), filepath.Join(dir, "kestrel.pid")
	copyFile(t, bin, exe)
	cmd := exec.Command(exe, "--urls", "http://127.0.0.1:0", "--pid-file", pidFile)
	log := startBinary(t, cmd)
	base := waitListening(t, log.String)
	proctest.WaitPIDFile(t, pidFile, cmd.Process.Pid)
	defer stopByPIDFile(t, pidFile)

	// A broken deployment: the new "binary" exits at once.
	os.WriteFile(exe+".new", []byte("#!/bin/sh\necho broken build >&2\nexit 3\n"), 0o755)
	os.Rename(exe+".new", exe)
	out, err := exec.Command(bin, "upgrade", "--pid-file", pidFile, "--timeout", "1s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no process took over") {
		t.Errorf("kestrel upgrade: %v\n%s", err, out)
	}
	waitLog(t, log.String, "The upgrade failed: the server goes on in this process")
	if !strings.Contains(log.String(), "broken build") || !strings.Contains(log.String(), "exit status 3") {
		t.Errorf("the log does not show why:\n%s", log.String())
	}
	if _, body := get(t, base+"/plaintext"); body != "Hello, World!" {
		t.Errorf("after the failed upgrade: %q", body)
	}
	if pid, _ := proctest.ReadPIDFile(pidFile); pid != cmd.Process.Pid {
		t.Errorf("PID file %d, want the old process's %d", pid, cmd.Process.Pid)
	}
}

func TestUpgradeCommandErrors(t *testing.T) {
	var out syncBuffer
	if err := run(context.Background(), []string{"upgrade"}, nil, &out); err != errUsage || !strings.Contains(out.String(), "--pid-file is required") {
		t.Errorf("without --pid-file: %v\n%s", err, out.String())
	}
	missing := filepath.Join(t.TempDir(), "none.pid")
	if err := run(context.Background(), []string{"upgrade", "--pid-file", missing}, nil, &out); err == nil || !strings.Contains(err.Error(), "is the server running with --pid-file") {
		t.Errorf("a missing PID file: %v", err)
	}
}

// listenerFile opens a TCP listening socket on 127.0.0.1 and returns it as
// a file to pass to a child, with its address.
func listenerFile(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().String()
}

// TestBinarySocketActivation starts the command as systemd does with socket
// activation (LISTEN_FDS) and Type=notify: the configuration's HTTPS
// endpoint serves the socket bound to its address, the other socket is
// served as HTTP; SIGHUP reloads the configuration, and a socket whose
// endpoint is removed is served as HTTP again.
func TestBinarySocketActivation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd socket activation is for Linux")
	}
	dir := t.TempDir()
	certPath, keyPath, err := certs.CreateDevCert(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tlsFile, tlsAddr := listenerFile(t)
	plainFile, plainAddr := listenerFile(t)
	file := filepath.Join(dir, "kestrel.json")
	withHTTPS := `{"Kestrel": {"Endpoints": {"Https": {"Url": "https://` + tlsAddr + `",
		"Certificate": {"Path": "` + certPath + `", "KeyPath": "` + keyPath + `"}}}}}`
	writeConfig(t, file, withHTTPS)
	notify, path := proctest.ListenNotify(t)
	// LISTEN_PID must be the server's own: the shell sets it, then becomes the server.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, buildCommand(t), "--config", file)
	cmd.ExtraFiles = []*os.File{tlsFile, plainFile}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "NOTIFY_SOCKET="+path)
	log := startBinary(t, cmd)
	if msg := notify.Next(); msg != "READY=1" {
		t.Fatalf("notification %q, want READY=1\n%s", msg, log.String())
	}
	pem, _ := os.ReadFile(certPath)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}}
	plainClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	fetch := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, log.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := fetch(tlsClient, "https://"+tlsAddr+"/plaintext"); body != "Hello, World!" {
		t.Errorf("HTTPS on the socket of its address: %q", body)
	}
	if body := fetch(plainClient, "http://"+plainAddr+"/plaintext"); body != "Hello, World!" {
		t.Errorf("HTTP on the socket no endpoint takes: %q", body)
	}

	writeConfig(t, file, `{"Kestrel": {}}`)
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, log.String, "Stopping the following endpoints: 'https://"+tlsAddr+"'")
	if msg := notify.Next(); !strings.HasPrefix(msg, "RELOADING=1\n") {
		t.Errorf("on SIGHUP: %q, want RELOADING=1", msg)
	}
	if body := fetch(plainClient, "http://"+tlsAddr+"/plaintext"); body != "Hello, World!" {
		t.Errorf("the systemd socket whose endpoint was removed: %q, want it served as HTTP", body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
	for msg := notify.Next(); msg != "STOPPING=1"; msg = notify.Next() {
		if msg != "READY=1" {
			t.Errorf("unexpected notification %q", msg)
		}
	}
	if !strings.Contains(log.String(), "Using the listening sockets of systemd socket activation") || !strings.Contains(log.String(), "on hangup") {
		t.Errorf("log:\n%s", log.String())
	}
}

// wrkRun is one wrk run's figures.
type wrkRun struct {
	requests int
	errors   string // wrk's "Socket errors" and "Non-2xx" lines, if any
	out      string
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

func parseWrk(out string) wrkRun {
	r := wrkRun{out: out}
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Socket errors") || strings.Contains(line, "Non-2xx") {
			r.errors += strings.TrimSpace(line) + "; "
		}
	}
	return r
}

// TestBinaryUpgradeUnderWrk upgrades the command several times while wrk
// keeps 64 keep-alive connections busy and another wrk opens a new
// connection for every request: wrk must count no error of any kind.
// KESTREL_UPGRADE_SECONDS and KESTREL_UPGRADES make it longer
// (scripts/upgrade-under-load.sh).
func TestBinaryUpgradeUnderWrk(t *testing.T) {
	wrk := needTool(t, "wrk", "wrk", "")
	seconds, upgrades := envInt(t, "KESTREL_UPGRADE_SECONDS", 4), envInt(t, "KESTREL_UPGRADES", 2)
	bin := buildCommand(t)
	dir := t.TempDir()
	exe, pidFile := filepath.Join(dir, "kestrel"), filepath.Join(dir, "kestrel.pid")
	copyFile(t, bin, exe)
	cmd := exec.Command(exe, "--urls", "http://127.0.0.1:0", "--pid-file", pidFile)
	log := startBinary(t, cmd)
	url := waitListening(t, log.String) + "/plaintext"
	proctest.WaitPIDFile(t, pidFile, cmd.Process.Pid)
	defer stopByPIDFile(t, pidFile)

	d := fmt.Sprintf("%ds", seconds)
	keepAlive, perRequest := make(chan wrkRun, 1), make(chan wrkRun, 1)
	for _, w := range []struct {
		args []string
		to   chan wrkRun
	}{
		{[]string{"-t1", "-c64", "-d" + d, url}, keepAlive},
		{[]string{"-t1", "-c8", "-d" + d, "-H", "Connection: close", url}, perRequest},
	} {
		go func() {
			out, err := exec.Command(wrk, w.args...).CombinedOutput()
			if err != nil {
				out = append(out, []byte("\nwrk: "+err.Error())...)
			}
			w.to <- parseWrk(string(out))
		}()
	}
	interval := time.Duration(seconds) * time.Second / time.Duration(upgrades+1)
	for i := range upgrades {
		time.Sleep(interval)
		copyFile(t, bin, exe+".new")
		os.Rename(exe+".new", exe)
		if out, err := exec.Command(exe, "upgrade", "--pid-file", pidFile).CombinedOutput(); err != nil {
			t.Fatalf("upgrade %d: %v\n%s\n%s", i+1, err, out, log.String())
		}
	}
	ka, pr := <-keepAlive, <-perRequest
	for _, r := range []wrkRun{ka, pr} {
		if r.requests == 0 || r.errors != "" {
			t.Errorf("wrk: %d requests, errors: %s\n%s", r.requests, r.errors, r.out)
		}
	}
	if !t.Failed() {
		t.Logf("%d upgrades in %ds: wrk on 64 keep-alive connections %d requests, wrk with a new connection per request %d requests, no error",
			upgrades, seconds, ka.requests, pr.requests)
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
