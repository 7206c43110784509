package kestrel

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestServiceWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		environ []string
		want    time.Duration
	}{
		{[]string{"NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=30000000"}, 30 * time.Second},
		{[]string{"NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=30000000", "WATCHDOG_PID=" + pid}, 30 * time.Second},
		{[]string{"NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=30000000", "WATCHDOG_PID=1"}, 0}, // another process's
		{[]string{"NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=0"}, 0},
		{[]string{"NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=-5"}, 0},
		{[]string{"NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=x"}, 0},
		{[]string{"NOTIFY_SOCKET=/run/n"}, 0},
		{[]string{"WATCHDOG_USEC=30000000"}, 0}, // not under systemd
	} {
		if got := watchdogInterval(tc.environ); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.environ, got, tc.want)
		}
	}
}

// TestUpgradeServiceErrors: UpgradeService names what is wrong with the
// PID file.
func TestUpgradeServiceErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.pid")
	if _, err := UpgradeService(context.Background(), missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing PID file: %v", err)
	}
	for _, content := range []string{"", "app\n", "0\n", "-4\n"} {
		bad := filepath.Join(dir, "bad.pid")
		os.WriteFile(bad, []byte(content), 0o644)
		if _, err := UpgradeService(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "does not hold a process ID") {
			t.Errorf("a PID file holding %q: %v", content, err)
		}
	}
}

// TestServiceStartErrors: Run fails, and says why, when the server cannot
// start: no server, an unreadable or invalid configuration file, an
// inherited-socket variable that is wrong.
func TestServiceStartErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"Kestrel": {"Limits": {"MaxRequestBodySiz": 1}}}`), 0o644)
	for _, tc := range []struct {
		name string
		svc  *Service
		want string
	}{
		{"no server", &Service{}, "no Server"},
		{"missing file", &Service{Server: &Server{Logger: discardLogger()}, ConfigFile: filepath.Join(dir, "none.json"), Environ: []string{}}, "no such file"},
		{"unknown key", &Service{Server: &Server{Logger: discardLogger()}, ConfigFile: bad, Environ: []string{}}, `unknown key "Kestrel:Limits:MaxRequestBodySiz"`},
		{"bad override", &Service{Server: &Server{Logger: discardLogger()}, Overrides: map[string]string{"Kestrel:ShutdownTimeout": "soon"}, Environ: []string{}}, "Kestrel:ShutdownTimeout"},
		{"bad ready fd", &Service{Server: &Server{Logger: discardLogger()}, Environ: []string{UpgradeReadyEnv + "=x"}}, UpgradeReadyEnv},
		{"refused by Configure", &Service{Server: &Server{Logger: discardLogger()}, Environ: []string{},
			Configure: func(*Config) (func(), error) { return nil, errors.New("no, thanks") }}, "no, thanks"},
	} {
		err := tc.svc.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestServiceReloadACMEFailure: a reload whose new ACME endpoint gets no
// certificate (the CA cannot be reached) is in effect all the same, its
// middleware too (AllowedHosts), and the log says so instead of "the
// server goes on with the one it has".
func TestServiceReloadACMEFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "appsettings.json")
	write := func(json string) {
		if err := os.WriteFile(file+".tmp", []byte(json), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"AllowedHosts": "*", "Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`)
	log := &lockedBuffer{}
	s := &Server{Handler: newGated(), Logger: slog.New(slog.NewTextHandler(log, nil))}
	v := &Service{Server: s, ConfigFile: file, Environ: []string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "the service to be ready", func() bool { return s.State() == StateReady })
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")

	write(`{"AllowedHosts": "example.com", "Kestrel": {
		"Acme": {"Domains": ["a.example"], "AgreeToTerms": true, "Storage": "` + filepath.Join(dir, "acme") + `", "CA": "https://127.0.0.1:1/dir"},
		"Endpoints": {"Http": {"Url": "http://` + addr + `"}, "Https": {"Url": "https://127.0.0.1:0"}}}}`)
	waitFor(t, "the reload", func() bool {
		return strings.Contains(log.String(), "Configuration reloaded") || strings.Contains(log.String(), "not reloaded")
	})
	if strings.Contains(log.String(), "not reloaded") || !strings.Contains(log.String(), "Configuration reloaded, with an error") || !strings.Contains(log.String(), "the configuration is in effect, but") {
		t.Errorf("the log does not say the configuration is in effect:\n%s", lastLines(log.String(), 6))
	}
	if len(s.Addresses()) != 2 {
		t.Errorf("addresses %q, want the ACME endpoint too", s.Addresses())
	}
	c := dialRaw(t, "tcp", addr)
	if resp, _ := c.send(t, "GET", "/", ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a request for host x: %d, want 400: the new AllowedHosts is not in effect", resp.StatusCode)
	}
}

// TestServiceSystemdOtherProcess: LISTEN_FDS whose LISTEN_PID names
// another process (inherited from a parent, or a shell in ExecStart= that
// did not exec the program) passes no socket to this one, as
// sd_listen_fds(3) says: the log says so and why, rather than that the
// service uses systemd's sockets, and the server binds its endpoints.
func TestServiceSystemdOtherProcess(t *testing.T) {
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "1")
	log := &lockedBuffer{}
	s := &Server{Handler: newGated(), Logger: slog.New(slog.NewTextHandler(log, nil))}
	s.ListenURL("http://127.0.0.1:0")
	v := &Service{Server: s}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	waitFor(t, "the service to be ready", func() bool { return s.State() == StateReady })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "Using the listening sockets of systemd") || !strings.Contains(log.String(), "LISTEN_PID=1") {
		t.Errorf("the log does not say the sockets are another process's:\n%s", log.String())
	}
	if _, ok := os.LookupEnv("LISTEN_FDS"); ok {
		t.Error("LISTEN_FDS is left for child processes")
	}
}

// TestServiceStopSignals: Service.Run stops gracefully on the signals that
// end a process on every platform: Ctrl-C (os.Interrupt) and SIGTERM,
// which Go also delivers on Windows when the console is closed, the user
// logs off or the system shuts down (CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT,
// CTRL_SHUTDOWN_EVENT), as the README's platform table promises.
func TestServiceStopSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		if !slices.Contains(serviceSignals, sig) {
			t.Errorf("Service.Run does not ask for %v (it asks for %v)", sig, serviceSignals)
		}
		if a := signalAction(sig); a != actionStop {
			t.Errorf("signalAction(%v) = %v, want actionStop", sig, a)
		}
	}
}

// TestServiceReloadConfigurePanics: a Configure that panics on a reload
// refuses that configuration, as an error would, with the panic in the
// ConfigurationReloadFailed event; the service goes on with the one it
// has, rather than Run panicking out of a serving process.
func TestServiceReloadConfigurePanics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "appsettings.json")
	write := func(json string) {
		if err := os.WriteFile(file+".tmp", []byte(json), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`)
	log := &lockedBuffer{}
	s := &Server{Handler: okHandler(), Logger: slog.New(slog.NewTextHandler(log, nil))}
	var calls atomic.Int32
	v := &Service{Server: s, ConfigFile: file, Environ: []string{}, Configure: func(*Config) (func(), error) {
		if calls.Add(1) > 1 {
			panic("configure bug")
		}
		return func() {}, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "the service to be ready", func() bool { return s.State() == StateReady })
	addr := s.Addresses()[0]

	write(`{"Kestrel": {"Endpoints": {"Http": {"Url": "` + addr + `"}}}}`)
	waitFor(t, "the reload", func() bool {
		return strings.Contains(log.String(), "Configuration reloaded") || strings.Contains(log.String(), "not reloaded")
	})
	if !strings.Contains(log.String(), "not reloaded") || !strings.Contains(log.String(), "Configure panicked: configure bug") {
		t.Errorf("the log does not say the reload failed with the panic:\n%s", lastLines(log.String(), 6))
	}
	resp, err := http.Get(addr + "/")
	if err != nil {
		t.Fatalf("after the failed reload: %v", err)
	}
	resp.Body.Close()
}

// TestServiceStartPortOfAnOtherServer: a Server endpoint on the port of
// one of the program's other servers (Service.Others, such as the kestrel
// command's --metrics listener) fails with a message naming that server's
// address, not "is another server running?"; an unrelated port in use
// keeps the usual message.
func TestServiceStartPortOfAnOtherServer(t *testing.T) {
	t.Parallel()
	other := &Server{Logger: discardLogger()}
	if err := other.ListenURL("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	held := other.Addresses()[0]
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		url, want, notWant string
	}{
		{held, "already in use by this program's other server, which listens on " + held, "is another server running"},
		{"http://*:" + held[strings.LastIndexByte(held, ':')+1:], "already in use by this program's other server, which listens on " + held, "is another server running"},
		{"http://" + busy.Addr().String(), "is another server running", "this program's other server"},
	} {
		s := &Server{Logger: discardLogger()}
		if err := s.ListenURL(tc.url); err != nil {
			t.Fatal(err)
		}
		svc := &Service{Server: s, Others: []*Server{other}, Environ: []string{}}
		err := svc.Run(context.Background())
		s.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.notWant) {
			t.Errorf("%s: %v, want an error saying %q", tc.url, err, tc.want)
		}
		if !errors.Is(err, syscall.EADDRINUSE) && runtime.GOOS != "windows" {
			t.Errorf("%s: %v does not wrap EADDRINUSE", tc.url, err)
		}
	}
}
