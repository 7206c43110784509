//go:build unix

package kestrel

import (
	"context"
	"fmt"
	"log/slog"
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

	"github.com/kestrel-go/kestrel/internal/loadtest"
	"github.com/kestrel-go/kestrel/internal/proctest"
)

// buildServiceApp builds testdata/serviceapp, a program with its own
// http.ServeMux run by Service.Run, as a team's own binary.
func buildServiceApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "serviceapp")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/serviceapp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServiceApp starts the program with its log in a pipe that outlives
// it (the process replacing it writes there too), and returns its first
// address.
func startServiceApp(t *testing.T, cmd *exec.Cmd) (*lockedBuffer, string) {
	t.Helper()
	log := proctest.Start(t, cmd)
	var base string
	waitFor(t, "the program to listen", func() bool {
		if m := regexp.MustCompile(`Now listening on: (http://[^\s"]+)`).FindStringSubmatch(log.String()); m != nil {
			base = m[1]
		}
		return base != ""
	})
	return log, base
}

// writeServiceConfig replaces the configuration file as a deployment tool
// does: a new file renamed over the old one.
func writeServiceConfig(t *testing.T, path, json string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// stopServiceByPIDFile stops the program whose PID file is given with
// SIGTERM, and waits until it has removed the file (it may not be this
// process's child).
func stopServiceByPIDFile(t *testing.T, pidFile string) {
	t.Helper()
	pid, err := readPIDFile(pidFile)
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

func deployServiceApp(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".new", b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".new", to); err != nil {
		t.Fatal(err)
	}
}

var wrkServiceRequests = regexp.MustCompile(`(\d+) requests in`)

// TestServiceUpgradeUnderWrk upgrades a program with its own mux, run by
// Service.Run, twice with UpgradeService while one wrk keeps 64 keep-alive
// connections busy, a second wrk opens a connection for every request,
// and Go clients that retry nothing check every body: no request may
// fail. The PID file follows the process that serves, systemd is told of
// each new main process (MAINPID=), and the process replaced exits 0.
func TestServiceUpgradeUnderWrk(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatal("wrk is not installed: apt-get install wrk (make test installs it)")
	}
	const seconds, upgrades = 4, 2
	bin := buildServiceApp(t)
	dir := t.TempDir()
	exe, pidFile, config := filepath.Join(dir, "app"), filepath.Join(dir, "app.pid"), filepath.Join(dir, "appsettings.json")
	deployServiceApp(t, bin, exe)
	writeServiceConfig(t, config, `{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`)
	notify, notifySocket := proctest.ListenNotify(t)
	cmd := exec.Command(exe, "-config", config, "-pid-file", pidFile)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifySocket)
	log, base := startServiceApp(t, cmd)
	url := base + "/hello"
	if msg := notify.Next(); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	waitFor(t, "the PID file to name the process", func() bool {
		pid, _ := readPIDFile(pidFile)
		return pid == cmd.Process.Pid
	})
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ctx, stopLoad := context.WithCancel(context.Background())
	goClients := make(chan *loadtest.Result, 1)
	go func() {
		goClients <- loadtest.Run(ctx, loadtest.Load{Network: "tcp", Address: strings.TrimPrefix(base, "http://"), Path: "/hello",
			KeepAlive: 4, NewConns: 2, Check: func(b []byte) error {
				if string(b) != "Hello from my own mux" {
					return fmt.Errorf("body %q", b)
				}
				return nil
			}})
	}()
	type wrkRun struct {
		requests int
		errors   string
		out      string
	}
	keepAlive, perRequest := make(chan wrkRun, 1), make(chan wrkRun, 1)
	for _, w := range []struct {
		args []string
		to   chan wrkRun
	}{
		{[]string{"-t1", "-c64", fmt.Sprintf("-d%ds", seconds), url}, keepAlive},
		{[]string{"-t1", "-c8", fmt.Sprintf("-d%ds", seconds), "-H", "Connection: close", url}, perRequest},
	} {
		go func() {
			out, err := exec.Command(wrk, w.args...).CombinedOutput()
			r := wrkRun{out: string(out)}
			if err != nil {
				r.errors = "wrk: " + err.Error() + "; "
			}
			if m := wrkServiceRequests.FindStringSubmatch(r.out); m != nil {
				r.requests, _ = strconv.Atoi(m[1])
			}
			for _, line := range strings.Split(r.out, "\n") {
				if strings.Contains(line, "Socket errors") || strings.Contains(line, "Non-2xx") {
					r.errors += strings.TrimSpace(line) + "; "
				}
			}
			w.to <- r
		}()
	}

	pids := []int{cmd.Process.Pid}
	interval := time.Duration(seconds) * time.Second / (upgrades + 1)
	for i := range upgrades {
		time.Sleep(interval)
		deployServiceApp(t, bin, exe)
		uctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pid, err := UpgradeService(uctx, pidFile)
		cancel()
		if err != nil {
			stopLoad()
			t.Fatalf("upgrade %d: %v\n%s", i+1, err, log.String())
		}
		if pid == pids[len(pids)-1] {
			t.Errorf("upgrade %d: process %d took over from itself", i+1, pid)
		}
		pids = append(pids, pid)
		// systemd learns the service's new main process from the old one.
		if msg := notify.Next(); msg != "MAINPID="+strconv.Itoa(pid) {
			t.Errorf("upgrade %d: notification %q, want MAINPID=%d", i+1, msg, pid)
		}
		if i == 0 {
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("the process replaced: %v, want exit 0", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("the process replaced did not exit:\n%s", log.String())
			}
		}
	}
	defer func() {
		stopServiceByPIDFile(t, pidFile)
		if msg := notify.Next(); msg != "STOPPING=1" {
			t.Errorf("the last process, on SIGTERM: %q, want STOPPING=1", msg)
		}
	}()
	ka, pr := <-keepAlive, <-perRequest
	stopLoad()
	gc := <-goClients
	for _, r := range []wrkRun{ka, pr} {
		if r.requests == 0 || r.errors != "" {
			t.Errorf("wrk: %d requests, errors: %s\n%s", r.requests, r.errors, r.out)
		}
	}
	if gc.Failed.Load() > 0 || gc.Refused.Load() > 0 || gc.Requests.Load() == 0 {
		t.Errorf("Go clients: %s; first errors: %q", gc, gc.Errors())
	}
	last := pids[len(pids)-1]
	if pid, err := readPIDFile(pidFile); err != nil || pid != last {
		t.Errorf("PID file after the upgrades: %d, %v; want %d", pid, err, last)
	}
	if _, body := get(t, http.DefaultClient, base+"/pid"); body != strconv.Itoa(last) {
		t.Errorf("GET /pid after the upgrades: %q, want %d", body, last)
	}
	if runtime.GOOS == "linux" {
		running, err1 := os.Stat(fmt.Sprintf("/proc/%d/exe", last))
		deployed, err2 := os.Stat(exe)
		if err1 != nil || err2 != nil || !os.SameFile(running, deployed) {
			t.Errorf("the last process does not run the deployed binary: %v %v", err1, err2)
		}
	}
	for _, want := range []string{"Upgrade: started a new process", "Taking over the listening sockets", "Upgrade: the new process is ready"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, log.String())
		}
	}
	if !t.Failed() {
		t.Logf("%d upgrades in %ds: wrk on 64 keep-alive connections %d requests, wrk with a connection per request %d, Go clients %s",
			upgrades, seconds, ka.requests, pr.requests, gc)
	}
}

// TestServiceUpgradeFailure: a new binary that does not start leaves the
// program serving in its process, UpgradeService says no process took
// over, and the log shows the new process's own words.
func TestServiceUpgradeFailure(t *testing.T) {
	bin := buildServiceApp(t)
	dir := t.TempDir()
	exe, pidFile := filepath.Join(dir, "app"), filepath.Join(dir, "app.pid")
	deployServiceApp(t, bin, exe)
	cmd := exec.Command(exe, "-pid-file", pidFile)
	cmd.Env = append(os.Environ(), "Kestrel__Endpoints__Http__Url=http://127.0.0.1:0")
	log, base := startServiceApp(t, cmd)
	defer stopServiceByPIDFile(t, pidFile)
	proctest.WaitPIDFile(t, pidFile, cmd.Process.Pid)

	os.WriteFile(exe+".new", []byte("#!/bin/sh\necho broken build >&2\nexit 3\n"), 0o755)
	os.Rename(exe+".new", exe)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := UpgradeService(ctx, pidFile); err == nil || !strings.Contains(err.Error(), "no process took over from process") {
		t.Errorf("UpgradeService: %v, want no process took over from the old one, which goes on", err)
	}
	waitFor(t, "the log to say the upgrade failed", func() bool {
		return strings.Contains(log.String(), "The upgrade failed: the server goes on in this process")
	})
	if !strings.Contains(log.String(), "broken build") || !strings.Contains(log.String(), "exit status 3") {
		t.Errorf("the log does not show why:\n%s", log.String())
	}
	if _, body := get(t, http.DefaultClient, base+"/hello"); body != "Hello from my own mux" {
		t.Errorf("after the failed upgrade: %q", body)
	}
	if pid, _ := readPIDFile(pidFile); pid != cmd.Process.Pid {
		t.Errorf("PID file %d, want the old process's %d", pid, cmd.Process.Pid)
	}
}

// reloaded reads RELOADING=1 (with the CLOCK_MONOTONIC time) and READY=1.
func reloaded(t *testing.T, n *proctest.Notify, when string) {
	t.Helper()
	msg := n.Next()
	if runtime.GOOS != "linux" {
		// No systemd, so no clock field.
		if msg != "RELOADING=1" {
			t.Fatalf("%s: %q, want RELOADING=1", when, msg)
		}
		if msg := n.Next(); msg != "READY=1" {
			t.Errorf("%s: %q after RELOADING=1, want READY=1", when, msg)
		}
		return
	}
	m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=(\d+)$`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("%s: no RELOADING=1 with MONOTONIC_USEC", when)
	}
	now, _ := strconv.ParseInt(strings.TrimPrefix(monotonicUsec(), "\nMONOTONIC_USEC="), 10, 64)
	if usec, _ := strconv.ParseInt(m[1], 10, 64); usec > now || now-usec > 10_000_000 {
		t.Errorf("%s: MONOTONIC_USEC=%d is not the CLOCK_MONOTONIC time (%d)", when, usec, now)
	}
	if msg := n.Next(); msg != "READY=1" {
		t.Errorf("%s: %q after RELOADING=1, want READY=1", when, msg)
	}
}

// TestServiceSystemdNotify runs a program with its own mux, run by
// Service.Run, as systemd runs a Type=notify-reload service with
// WatchdogSec=: READY=1 once it listens (and its PID file is written),
// WATCHDOG=1 at half the watchdog timeout, RELOADING=1 and READY=1 around
// each reload (when the file changes, on SIGHUP, and for a file refused),
// STOPPING=1 on SIGTERM, then exit 0 with the PID file removed. Each
// reload takes effect: the body size limit, and AllowedHosts in front of
// the program's mux.
func TestServiceSystemdNotify(t *testing.T) {
	notify, path := proctest.ListenNotify(t)
	bin := buildServiceApp(t)
	dir := t.TempDir()
	pidFile, config := filepath.Join(dir, "app.pid"), filepath.Join(dir, "appsettings.json")
	writeServiceConfig(t, config, `{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySize": 10}}}`)
	cmd := exec.Command(bin, "-config", config, "-pid-file", pidFile)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+path, "WATCHDOG_USEC=200000")
	log, base := startServiceApp(t, cmd)
	if msg := notify.Next(); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	if pid, err := readPIDFile(pidFile); err != nil || pid != cmd.Process.Pid {
		t.Errorf("PID file at READY=1: %d, %v; want %d", pid, err, cmd.Process.Pid)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	upload := func(host string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/upload", strings.NewReader(strings.Repeat("x", 50)))
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := upload("localhost"); code != 413 {
		t.Errorf("POST 50 bytes over a limit of 10: %d, want 413", code)
	}

	notify.ExpectPings(3, 2*time.Second) // every 100 ms

	// The file changes: the limit is raised, and only Host localhost is
	// allowed now.
	changed := `{"AllowedHosts": "localhost", "Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySize": 100}}}`
	writeServiceConfig(t, config, changed)
	reloaded(t, notify, "on a file change")
	waitFor(t, "the reload to be logged", func() bool { return strings.Contains(log.String(), "Configuration reloaded") })
	if code := upload("localhost"); code != 200 {
		t.Errorf("after raising the limit: POST 50 bytes: %d, want 200", code)
	}
	if code := upload("127.0.0.1"); code != 400 {
		t.Errorf("a host AllowedHosts does not allow: %d, want 400", code)
	}

	// SIGHUP reads the file whatever it looks like: rewritten in place
	// with the same size and modification time, so that the file watch
	// does not see it.
	fi, err := os.Stat(config)
	if err != nil {
		t.Fatal(err)
	}
	hup := `{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySize": 10}}}`
	hup += strings.Repeat(" ", len(changed)-len(hup))
	if err := os.WriteFile(config, []byte(hup), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(config, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	reloaded(t, notify, "on SIGHUP")
	// The log comes through a pipe: it may arrive after the notification.
	waitFor(t, "the log to say the reload came on SIGHUP", func() bool {
		return strings.Contains(log.String(), "Reloading the configuration on hangup")
	})
	if code := upload("127.0.0.1"); code != 413 {
		t.Errorf("after SIGHUP: any host, POST 50 bytes over a limit of 10 again: %d, want 413", code)
	}

	// A file with an error is refused: the service is still ready, and
	// goes on as it was.
	writeServiceConfig(t, config, `{"Kestrel": {"Limits": {"MaxRequestBodySiz": 1000}}}`)
	reloaded(t, notify, "for a file refused")
	waitFor(t, "the refusal to be logged", func() bool { return strings.Contains(log.String(), "was not reloaded") })
	if !strings.Contains(log.String(), `unknown key \"Kestrel:Limits:MaxRequestBodySiz\"`) {
		t.Errorf("the log does not name the key:\n%s", log.String())
	}
	if code := upload("127.0.0.1"); code != 413 {
		t.Errorf("after a file refused: %d, want the running limit's 413", code)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if msg := notify.Next(); msg != "STOPPING=1" {
		t.Errorf("on SIGTERM: %q, want STOPPING=1", msg)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v, want 0\n%s", err, log.String())
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("the PID file is still there after the stop: %v", err)
	}
}

// TestServiceSocketActivation starts a program with its own mux, run by
// Service.Run, as systemd does with socket activation (LISTEN_FDS):
// without a configuration file it serves the socket systemd passes, binds
// nothing of its own, and says READY=1.
func TestServiceSocketActivation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd socket activation is for Linux")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	notify, path := proctest.ListenNotify(t)
	// LISTEN_PID must be the program's own: the shell sets it, then becomes the program.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, buildServiceApp(t))
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "NOTIFY_SOCKET="+path)
	log, base := startServiceApp(t, cmd)
	if msg := notify.Next(); msg != "READY=1" {
		t.Fatalf("notification %q, want READY=1\n%s", msg, log.String())
	}
	if want := "http://" + ln.Addr().String(); base != want {
		t.Errorf("listening on %s, want the socket systemd passed, %s", base, want)
	}
	if _, body := get(t, http.DefaultClient, base+"/hello"); body != "Hello from my own mux" {
		t.Errorf("GET /hello: %q", body)
	}
	if strings.Count(log.String(), "Now listening on") != 1 || !strings.Contains(log.String(), "Using the listening sockets of systemd socket activation") {
		t.Errorf("log:\n%s", log.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
	if msg := notify.Next(); msg != "STOPPING=1" {
		t.Errorf("on SIGTERM: %q, want STOPPING=1", msg)
	}
}

// TestServiceShutdownAfterFailedUpgrade: after an upgrade whose new
// process failed, the server goes on as before it: a later shutdown waits
// its drain delay and removes its Unix socket file, as one that never
// tried to upgrade, instead of the gentle handoff shutdown that leaves the
// sockets to a new process. Not parallel: it sends SIGUSR2 to the test
// process, which Service.Run takes.
func TestServiceShutdownAfterFailedUpgrade(t *testing.T) {
	dir := t.TempDir()
	sock, file := filepath.Join(dir, "app.sock"), filepath.Join(dir, "appsettings.json")
	const delay = 500 * time.Millisecond
	writeServiceConfig(t, file, `{"Kestrel": {"DrainDelay": "00:00:00.5", "Endpoints": {"A": {"Url": "unix:`+sock+`"}}}}`)
	log := &lockedBuffer{}
	s := &Server{Handler: newGated(), Logger: slog.New(slog.NewTextHandler(log, nil))}
	v := &Service{Server: s, ConfigFile: file, Environ: []string{},
		Args: []string{"-test.list=^$"}} // the new process: this test binary, which lists no test and ends
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	waitFor(t, "the service to be ready", func() bool { return s.State() == StateReady })

	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	waitFor(t, "the upgrade to fail", func() bool {
		return strings.Contains(log.String(), "The upgrade failed: the server goes on in this process")
	})
	c := dialRaw(t, "unix", sock)
	if _, body := c.send(t, "GET", "/x", ""); body != "hello /x" {
		t.Errorf("after the failed upgrade: %q", body)
	}
	c.Close()

	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < delay || !strings.Contains(log.String(), "Draining: readiness now reports 503") {
		t.Errorf("the shutdown after the failed upgrade took %v, without the drain delay of %v", d, delay)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("the shutdown after the failed upgrade left the Unix socket file, as if another process served it")
	}
}

// TestServiceWatchdogDuringSlowReload: systemd's watchdog runs while a
// Type=notify-reload service reloads, so a reload that takes longer than
// WatchdogSec= (a Configure that loads something, an ACME endpoint whose
// certificate is being ordered) must go on pinging it, or systemd kills
// the service in the middle of the reload. Not parallel: it sends SIGHUP
// to the test process, which Service.Run takes.
func TestServiceWatchdogDuringSlowReload(t *testing.T) {
	notify, path := proctest.ListenNotify(t)
	const watchdog = 100 * time.Millisecond // pings every 50 ms
	s := &Server{Handler: newGated(), Logger: discardLogger()}
	s.ListenURL("http://127.0.0.1:0")
	reloads := 0
	v := &Service{Server: s, ConfigFile: filepath.Join(t.TempDir(), "app.json"), Environ: []string{
		"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=" + strconv.Itoa(int(watchdog/time.Microsecond))},
		Configure: func(*Config) (func(), error) {
			if reloads++; reloads > 1 {
				time.Sleep(3 * watchdog) // a slow reload
			}
			return func() {}, nil
		}}
	writeServiceConfig(t, v.ConfigFile, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	if msg := notify.Next(); msg != "READY=1" {
		t.Fatalf("%q, want READY=1", msg)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	// Every message (pings, RELOADING=1, READY=1) within the watchdog
	// timeout of the one before, until the reload is done.
	last := time.Now()
	for msg := ""; msg != "READY=1"; {
		msg = notify.NextWithin(watchdog)
		if msg == "" {
			t.Fatalf("no notification for %v during the reload: systemd's watchdog would kill the service", time.Since(last))
		}
		last = time.Now()
	}
}

// TestServiceStopDuringUpgrade: a service told to stop while the new
// process of an upgrade is still starting stops, and so does the new
// process, which never took over: it is killed, and the service shuts
// down as one that never tried to upgrade (its drain delay, its Unix
// socket file removed), instead of leaving a process serving its sockets
// after the stop. Not parallel: it sends SIGUSR2 to the test process,
// which Service.Run takes.
func TestServiceStopDuringUpgrade(t *testing.T) {
	dir := t.TempDir()
	sock, file := filepath.Join(dir, "app.sock"), filepath.Join(dir, "appsettings.json")
	writeServiceConfig(t, file, `{"Kestrel": {"DrainDelay": "00:00:00.2", "Endpoints": {"A": {"Url": "unix:`+sock+`"}}}}`)
	log := &lockedBuffer{}
	s := &Server{Handler: newGated(), Logger: slog.New(slog.NewTextHandler(log, nil))}
	t.Setenv("KESTREL_TEST_SLOW_UPGRADE", "1")
	v := &Service{Server: s, ConfigFile: file, Environ: []string{},
		Args: []string{"-test.run=^TestServiceStopDuringUpgradeChild$"}} // the new process: never ready
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	waitFor(t, "the service to be ready", func() bool { return s.State() == StateReady })

	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	var pid int
	waitFor(t, "the upgrade to start", func() bool {
		m := regexp.MustCompile(`UpgradeStarted pid=(\d+)`).FindStringSubmatch(log.String())
		if m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		return pid != 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new process to end", func() bool { return !processAlive(pid) || processZombie(pid) })
	if _, err := os.Stat(sock); err == nil {
		t.Error("the stop left the Unix socket file, as if another process served it")
	}
}

// processZombie reports whether pid has ended and waits to be reaped.
func processZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(b), ") Z ")
}

// TestServiceStopDuringUpgradeChild is the new process of
// TestServiceStopDuringUpgrade: it never says it is ready.
func TestServiceStopDuringUpgradeChild(t *testing.T) {
	if os.Getenv("KESTREL_TEST_SLOW_UPGRADE") == "" {
		t.Skip("run by TestServiceStopDuringUpgrade")
	}
	time.Sleep(time.Minute)
}

// TestServiceBrokenLogPipe: a service whose standard error is a pipe
// nobody reads any more (journald restarted, a supervisor's log reader
// gone) goes on serving, as a .NET app or nginx does, which ignore
// SIGPIPE: Go kills a program writing to a broken standard output or
// error with SIGPIPE unless it asks for the signal, and systemd counts
// that death as a clean exit, which Restart=on-failure does not restart.
func TestServiceBrokenLogPipe(t *testing.T) {
	bin := buildServiceApp(t)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "app.pid")
	writeServiceConfig(t, filepath.Join(dir, "app.json"), `{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`)
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "app.json"), "-pid-file", pidFile)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	proctest.WaitPIDFile(t, pidFile, cmd.Process.Pid)
	r.Close() // the log's reader is gone
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	cmd.Process.Signal(syscall.SIGHUP) // logs the reload
	select {
	case err := <-exited:
		t.Fatalf("the service ended when its log could not be written: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Errorf("exit: %v, want 0", err)
	}
}

// TestServiceHandoverWatchdog: the message that makes the new process of
// an upgrade systemd's main process (MAINPID=) pings the watchdog too.
// systemd takes pings from the main process only, so the new process's
// pings count from then on, and its first comes half a watchdog timeout
// after it was ready; the old process's last ping may be up to half a
// timeout older than the handover, and without a ping at the handover the
// watchdog could expire in between. Not parallel: it sends SIGUSR2 to the
// test process, which Service.Run takes.
func TestServiceHandoverWatchdog(t *testing.T) {
	notify, path := proctest.ListenNotify(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "10000000") // no ping of its own during the test
	t.Setenv("KESTREL_TEST_HANDOVER_CHILD", "1")
	s := &Server{Handler: newGated(), Logger: discardLogger()}
	s.ListenURL("http://127.0.0.1:0")
	v := &Service{Server: s, Environ: os.Environ(), Args: []string{"-test.run=^TestServiceHandoverWatchdogChild$"}}
	done := make(chan error, 1)
	go func() { done <- v.Run(context.Background()) }()
	if msg := notify.Next(); msg != "READY=1" {
		t.Fatalf("%q, want READY=1", msg)
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	msg := notify.Next()
	if !regexp.MustCompile(`^MAINPID=\d+\nWATCHDOG=1$`).MatchString(msg) {
		t.Errorf("at the handover: %q, want MAINPID= and WATCHDOG=1 in one message", msg)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServiceHandoverWatchdogChild is the new process of
// TestServiceHandoverWatchdog: it takes the sockets over, says it is
// ready, and stops a moment later.
func TestServiceHandoverWatchdogChild(t *testing.T) {
	if os.Getenv("KESTREL_TEST_HANDOVER_CHILD") == "" {
		t.Skip("run by TestServiceHandoverWatchdog")
	}
	s := &Server{Handler: http.NotFoundHandler(), Logger: discardLogger()}
	s.ListenURL("http://127.0.0.1:0") // takes the socket passed
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := (&Service{Server: s}).Run(ctx); err != nil {
		t.Fatal(err)
	}
}
