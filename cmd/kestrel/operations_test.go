package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/proctest"
)

// waitLog waits until the log contains want.
func waitLog(t *testing.T, log func() string, want string) {
	t.Helper()
	waitLogCount(t, log, want, 1)
}

// waitLogCount waits until the log has said want n times.
func waitLogCount(t *testing.T, log func() string, want string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Count(log(), want) >= n {
			return
		}
	}
	t.Fatalf("the log never said %q %d times:\n%s", want, n, log())
}

// writeConfig replaces the configuration file, as an editor or a deployment
// tool does: a new file renamed over the old one.
func writeConfig(t *testing.T, path, json string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestConfigReloadOnChange: the command reloads its configuration file
// when it changes: an endpoint added and removed, a limit raised, a host
// filter set (on the native hot paths too); a broken file is refused and
// logged with the key at fault, and the server goes on.
func TestConfigReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kestrel.json")
	sock := filepath.Join(dir, "b.sock")
	writeConfig(t, file, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySize": 10}}}`)
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
	post := func(n int) int { // as Host localhost
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest("POST", base+"/echo", strings.NewReader(strings.Repeat("x", n)))
		req.Host = "localhost"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(50); code != 413 {
		t.Fatalf("before: POST 50 bytes: %d, want 413", code)
	}

	writeConfig(t, file, `{"AllowedHosts": "localhost", "Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "unix:`+sock+`"}},
		"Limits": {"MaxRequestBodySize": 100}}}`)
	waitLog(t, log.String, "Configuration reloaded")
	if code := post(50); code != 200 {
		t.Errorf("after raising the limit: POST 50 bytes: %d, want 200", code)
	}
	if _, body := get(t, strings.Replace(base, "127.0.0.1", "localhost", 1)+"/plaintext"); body != "Hello, World!" {
		t.Errorf("an allowed host: %q", body)
	}
	for _, path := range []string{"/plaintext", "/headers"} {
		if resp, _ := get(t, base+path); resp.StatusCode != 400 {
			t.Errorf("GET %s with Host 127.0.0.1, not allowed now: %d, want 400", path, resp.StatusCode)
		}
	}
	unix := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	if resp, err := unix.Get("http://localhost/plaintext"); err != nil || resp.StatusCode != 200 {
		t.Errorf("the endpoint added: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	writeConfig(t, file, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySiz": 1}}}`)
	waitLog(t, log.String, "was not reloaded")
	if !strings.Contains(log.String(), `unknown key "Kestrel:Limits:MaxRequestBodySiz"`) {
		t.Errorf("the error does not name the key:\n%s", log.String())
	}
	if code := post(50); code != 200 {
		t.Errorf("after a broken file: %d, want the running configuration's 200", code)
	}
	if resp, _ := get(t, base+"/plaintext"); resp.StatusCode != 400 {
		t.Errorf("after a broken file: Host 127.0.0.1 got %d, want the running host filter's 400", resp.StatusCode)
	}

	writeConfig(t, file, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	waitLog(t, log.String, "Stopping the following endpoints: 'unix:"+sock+"'")
	// The endpoints change first; the host filter goes with the rest of
	// the configuration once the reload ends.
	waitLogCount(t, log.String, "Configuration reloaded.", 2)
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("the endpoint removed still accepts connections")
	}
	if _, body := get(t, base+"/plaintext"); body != "Hello, World!" {
		t.Errorf("the endpoint kept: %q", body)
	}
}

// TestSystemdNotify runs the command with a fake systemd notification
// socket: READY=1 once it listens, WATCHDOG=1 at half the watchdog
// timeout, RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a reload,
// STOPPING=1 when it stops.
func TestSystemdNotify(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix datagram sockets on Windows")
	}
	notify, path := proctest.ListenNotify(t)
	file := filepath.Join(t.TempDir(), "kestrel.json")
	writeConfig(t, file, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	environ := []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=200000"}
	go func() { done <- run(ctx, []string{"--config", file}, environ, &log) }()
	defer cancel()

	if msg := notify.Next(); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	base := waitListening(t, log.String) // READY=1 came once it listened
	if _, body := get(t, base+"/plaintext"); body != "Hello, World!" {
		t.Errorf("GET: %q", body)
	}
	notify.ExpectPings(3, 2*time.Second) // every 100 ms

	writeConfig(t, file, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySize": 100}}}`)
	if msg := notify.Next(); runtime.GOOS != "linux" {
		if msg != "RELOADING=1" { // no systemd, so no clock field
			t.Fatalf("on reload: %q, want RELOADING=1", msg)
		}
	} else if m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=(\d+)$`).FindStringSubmatch(msg); m == nil {
		t.Fatalf("on reload: %q, want RELOADING=1 with MONOTONIC_USEC", msg)
	} else if usec, _ := strconv.ParseInt(m[1], 10, 64); !nearMonotonic(usec) {
		t.Errorf("MONOTONIC_USEC=%d is not the CLOCK_MONOTONIC time", usec)
	}
	if msg := notify.Next(); msg != "READY=1" {
		t.Errorf("after the reload: %q, want READY=1", msg)
	}
	// A broken file is refused: the service is still ready.
	writeConfig(t, file, `{"Kestrel": {`)
	if a, b := notify.Next(), notify.Next(); !strings.HasPrefix(a, "RELOADING=1\n") || b != "READY=1" {
		t.Errorf("around a refused reload: %q, %q", a, b)
	}

	cancel()
	if msg := notify.Next(); msg != "STOPPING=1" {
		t.Errorf("on shutdown: %q, want STOPPING=1", msg)
	}
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestWatchdogInterval: the command pings systemd's watchdog at half of
// WATCHDOG_USEC when the watchdog is for its process (WATCHDOG_PID unset
// or its own), and not when it is another process's or not set.
func TestWatchdogInterval(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix datagram sockets on Windows")
	}
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		environ []string
		pings   bool
	}{
		{[]string{"WATCHDOG_USEC=100000"}, true},
		{[]string{"WATCHDOG_USEC=100000", "WATCHDOG_PID=" + pid}, true},
		{[]string{"WATCHDOG_USEC=100000", "WATCHDOG_PID=1"}, false}, // another process's
		{[]string{"WATCHDOG_USEC=0"}, false},
		{[]string{"WATCHDOG_USEC=x"}, false},
	} {
		notify, path := proctest.ListenNotify(t)
		ctx, cancel := context.WithCancel(context.Background())
		var log syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"--urls", "http://127.0.0.1:0"}, append(tc.environ, "NOTIFY_SOCKET="+path), &log)
		}()
		if msg := notify.Next(); msg != "READY=1" {
			t.Fatalf("%q: first notification %q, want READY=1", tc.environ, msg)
		}
		pings := notify.CountPings(400 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if got := pings >= 3; got != tc.pings {
			t.Errorf("%q: %d pings in 400ms, want pings every 50ms: %v", tc.environ, pings, tc.pings)
		}
	}
}

// nearMonotonic reports whether usec is about now on CLOCK_MONOTONIC.
func nearMonotonic(usec int64) bool {
	now, ok := monotonicNowUsec()
	return ok && usec <= now && now-usec < 10_000_000
}
