package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel/internal/logevents"
)

// UpgradeReadyEnv is the environment variable that tells a process started
// by a Service's upgrade which of its file descriptors is the write end of
// the readiness pipe. Once its server listens on the sockets it took over,
// Service.Run writes "READY=1\n" there and closes it; then the old process
// stops accepting and drains. A program that does not use Service.Run can
// answer the handshake itself.
const UpgradeReadyEnv = "KESTREL_UPGRADE_READY_FD"

// A Service runs a Server for the life of the process, as a service
// manager (systemd, a container runtime, a shell) expects of a web
// server, and as the kestrel command does:
//
//   - It applies the configuration (ConfigFile, Overrides and the
//     Kestrel__* environment variables; see ParseConfig) and serves the
//     server's Handler behind the middleware the configuration asks for
//     (Config.Handler).
//   - It listens on the sockets it inherits, from the process it replaces
//     (ListenInherited) or from systemd socket activation (ListenSystemd),
//     and binds the others.
//   - It reloads the configuration when ConfigFile changes and on SIGHUP
//     (Server.Reload): endpoints added, removed or changed are rebound,
//     and the others keep their connections. A file with an error is
//     logged and changes nothing.
//   - On SIGUSR2 it restarts the program on its executable, which may
//     have been replaced on disk, with no connection refused and no
//     request lost: it starts the new process with its listening sockets
//     (Server.Handoff), waits until the new process says it is ready
//     (UpgradeReadyEnv), then stops accepting and drains. A new process
//     that fails, or is not ready within a minute, is killed, and this
//     one goes on serving. UpgradeService sends the signal and waits.
//   - It writes PIDFile once the server is ready.
//   - Under systemd (NOTIFY_SOCKET), it says READY=1 once it listens,
//     RELOADING=1 and READY=1 around a reload, STOPPING=1 when it stops,
//     MAINPID= of the process that replaced it, and pings the watchdog
//     (WATCHDOG=1) at half of WatchdogSec=.
//   - On SIGINT, SIGTERM or the end of its context it shuts down
//     gracefully, giving requests in flight the shutdown timeout to
//     finish, as Server.Run does: after the drain delay
//     (Server.DrainDelay, Kestrel:DrainDelay), during which readiness
//     reports 503 and the server goes on serving. An upgrade's old
//     process does not wait the delay. The new process of an upgrade
//     that has not taken over yet gets SIGTERM, and this one shuts down
//     as if it had never tried.
//
// While it runs, SIGPIPE is ignored, as .NET and nginx do: a write to a
// standard output or error whose reader is gone (journald restarted)
// fails, instead of ending the process.
//
// Signals other than SIGINT are Unix's: on Windows, the configuration is
// still reloaded when the file changes, and there is no upgrade.
type Service struct {
	// Server is the server to run, with its Handler and its endpoints (or
	// none: those of the configuration, or http://localhost:5000). Run
	// starts it; it must not be started already.
	Server *Server

	// ConfigFile names the JSON configuration file (appsettings.json), if
	// any. Run applies it before it starts the server and reloads it when
	// it changes (the file is looked at four times a second, and read once
	// it has stayed the same for a look, so that a file being written is
	// not read half-way) and on SIGHUP. Relative certificate paths resolve
	// against its folder.
	ConfigFile string

	// Overrides holds configuration values over the file's, keyed like
	// "Kestrel:Limits:MaxRequestBodySize": command-line flags, say. The
	// Kestrel__* environment variables override both (see ParseConfig).
	Overrides map[string]string

	// Configure, if not nil, is called with each configuration Run reads:
	// once before the server starts, and on each reload before the server
	// takes it. It prepares whatever else the program configures from it
	// and returns the function that puts that into effect, which Run calls
	// once the server runs with the configuration; an error refuses the
	// configuration (Run fails at start; a reload changes nothing), and so
	// does a panic on a reload, logged with its stack.
	//
	// When Configure is nil, Run serves the server's Handler behind the
	// configuration's middleware (Config.Handler: forwarded headers and
	// AllowedHosts), which a reload replaces; it sets Server.Handler to do
	// so. A Server.NativeHandler is served without it.
	Configure func(cfg *Config) (commit func(), err error)

	// PIDFile, if set, is where Run writes the process ID once the server
	// is ready. A process that replaces this one writes its own; Run
	// removes the file when it stops, unless it names another process.
	PIDFile string

	// Args are the command-line arguments of the process an upgrade
	// starts (without the program name); nil means os.Args[1:].
	Args []string

	// Environ is the environment Run reads (NOTIFY_SOCKET, WATCHDOG_USEC,
	// LISTEN_FDS, the Kestrel__* variables...), as "key=value" strings;
	// nil means os.Environ(). The process an upgrade starts gets this
	// process's own environment.
	Environ []string

	// Others are other servers of the program (a metrics or an admin
	// listener, say), which it starts and stops itself. On an upgrade,
	// their listening sockets go to the new process too, before Server's
	// and in this order; there, the program calls ListenInherited on each
	// of them, in the same order, before it calls Run.
	Others []*Server

	configure func(*Config) (func(), error) // Configure, or the default

	ready    func()             // tells the process this one replaces that it is ready
	notify   notifier           // systemd's
	watchdog time.Duration      // systemd's watchdog timeout, or 0
	front    atomic.Value       // of handlerBox: what the default Configure serves
	cmd      *exec.Cmd          // the new process of an upgrade, while it starts
	done     chan upgradeResult // receives once it is ready, or has failed

	configData    []byte    // as last read
	configSeen    fileStamp // when last read
	configPending fileStamp // as last seen, changed since
}

// configPollInterval is how often the configuration file is looked at; a
// change is applied once the file has stayed the same for one interval.
const configPollInterval = 250 * time.Millisecond

// upgradeTimeout bounds how long a new process may take to be ready; then
// it is killed and the old one goes on serving.
const upgradeTimeout = time.Minute

// Run runs the service until ctx ends or the process receives SIGINT or
// SIGTERM, then shuts the server down gracefully, or until a new process
// took its sockets over (SIGUSR2) and it has drained, or until the
// program shut the server down (its Shutdown finished, or Close). It
// returns an error only when the server cannot start: a shutdown is a
// success even when the shutdown timeout aborts requests, as with
// Server.Run.
func (v *Service) Run(ctx context.Context) error {
	s := v.Server
	if s == nil {
		return errors.New("kestrel: Service.Run: no Server")
	}
	log := s.logger()
	environ := v.Environ
	if environ == nil {
		environ = os.Environ()
	}
	if err := v.configureStart(environ); err != nil {
		return err
	}
	// The signals are ours before the PID file or READY=1 tells anyone
	// this process is there: SIGHUP or SIGUSR2 sent at once would end it.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, serviceSignals...)
	defer signal.Stop(signals)
	// A write to a broken standard output or error (journald restarted, a
	// supervisor's log reader gone) fails instead of ending the process
	// with SIGPIPE, which systemd counts as a clean exit: Go ends it unless
	// the program asks for the signal. Nobody reads this channel.
	if len(ignoredSignals) > 0 {
		ignored := make(chan os.Signal, 1)
		signal.Notify(ignored, ignoredSignals...)
		defer signal.Stop(ignored)
	}
	if err := v.listenInherited(environ, log); err != nil {
		return err
	}

	v.notify = notifier{addr: getenv(environ, "NOTIFY_SOCKET"), log: log}
	s.mu.Lock()
	s.others = v.Others // for a bind error on one of their ports
	s.mu.Unlock()
	if err := s.Start(); err != nil {
		return err // a process this one replaces goes on, and logs why
	}
	for _, a := range s.Addresses() {
		logevents.ListeningOn(log, a)
	}
	logevents.ApplicationStarted(log)
	if err := v.writePIDFile(); err != nil {
		logevents.General(log, slog.LevelError, "PIDFileFailed", "Cannot write the PID file: "+err.Error())
	}
	if v.ready != nil {
		v.ready() // tell the process this one replaces
	} else {
		v.notify.send("READY=1")
	}

	var watch <-chan time.Time
	if v.ConfigFile != "" {
		t := time.NewTicker(configPollInterval)
		defer t.Stop()
		watch = t.C
	}
	var watchdog <-chan time.Time
	if v.watchdog = watchdogInterval(environ); v.watchdog > 0 {
		log.Debug("pinging the systemd watchdog", "every", v.watchdog/2)
		t := time.NewTicker(v.watchdog / 2)
		defer t.Stop()
		watchdog = t.C
	}
	handedOver := false
	stopped := s.stoppedChan()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-stopped: // Shutdown or Close, called by the program
			break loop
		case sig := <-signals:
			switch signalAction(sig) {
			case actionStop:
				break loop
			case actionReload:
				v.pingWhile(func() { v.reload(environ, "on "+sig.String()) })
			case actionUpgrade:
				v.startUpgrade()
			}
		case <-watch:
			v.checkConfigFile(environ)
		case <-watchdog:
			v.notify.send("WATCHDOG=1")
		case res := <-v.done:
			if v.finishUpgrade(res) {
				handedOver = true
				break loop
			}
		}
	}

	if !handedOver {
		v.notify.send("STOPPING=1")
	}
	if v.cmd != nil {
		v.abandonUpgrade()
	}
	logevents.ApplicationStopping(log)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownDeadline())
	defer cancel()
	_ = s.Shutdown(sctx) // only the deadline can end it early; Shutdown logged what it aborted
	if !handedOver {
		v.removePIDFile()
	}
	return nil
}

// handlerBox holds a handler in an atomic.Value, whose stored values must
// all have the same concrete type.
type handlerBox struct{ h http.Handler }

// serviceHandler serves the handler the configuration in effect asks for.
type serviceHandler struct{ v *Service }

func (h serviceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.v.front.Load().(handlerBox).h.ServeHTTP(w, r)
}

// readConfig reads the configuration: the file's, if any, then the
// overrides, then the environment's.
func (v *Service) readConfig(environ []string) (*Config, error) {
	var data []byte
	if v.ConfigFile != "" {
		var err error
		if data, err = os.ReadFile(v.ConfigFile); err != nil {
			return nil, fmt.Errorf("kestrel: configuration file: %w", err)
		}
		v.configData = data
	}
	return ParseConfig(data, v.ConfigFile, v.Overrides, environ)
}

// configureStart applies the configuration before the server starts.
func (v *Service) configureStart(environ []string) error {
	v.configSeen = stampOf(v.ConfigFile)
	v.configPending = v.configSeen
	cfg, err := v.readConfig(environ)
	if err != nil {
		return err
	}
	v.configure = v.Configure
	if v.configure == nil {
		app := v.Server.Handler
		if app == nil {
			app = http.NotFoundHandler()
		}
		v.configure = func(cfg *Config) (func(), error) {
			h, err := cfg.Handler(app)
			if err != nil {
				return nil, err
			}
			return func() { v.front.Store(handlerBox{h}) }, nil
		}
		v.Server.Handler = serviceHandler{v}
	}
	commit, err := v.configure(cfg)
	if err != nil {
		return err
	}
	if err := cfg.Apply(v.Server); err != nil {
		return err
	}
	commit()
	return nil
}

// listenInherited gives the server the sockets this process inherited:
// those of the process it replaces (an upgrade), and those of systemd
// socket activation (LISTEN_FDS). When this process replaces another, it
// sets v.ready to the function that tells that one it is ready.
func (v *Service) listenInherited(environ []string, log *slog.Logger) error {
	if getenv(environ, InheritedListenersEnv) != "" {
		n, err := v.Server.ListenInherited()
		if err != nil {
			return err
		}
		logevents.General(log, slog.LevelInfo, "InheritedSockets", "Taking over the listening sockets of the process this one replaces.", slog.Int("sockets", n))
	}
	if fds := getenv(environ, "LISTEN_FDS"); fds != "" {
		listenPID := os.Getenv("LISTEN_PID") // ListenSystemd reads the process's environment, and unsets it
		n, err := v.Server.ListenSystemd()
		if err != nil {
			return err
		}
		if n == 0 && listenPID != strconv.Itoa(os.Getpid()) {
			logevents.General(log, slog.LevelWarn, "SystemdSocketsNotOurs", "LISTEN_FDS="+fds+" is for process LISTEN_PID="+listenPID+", not this one ("+strconv.Itoa(os.Getpid())+"): no systemd socket is taken, and the server binds its endpoints (a shell or wrapper in ExecStart= must exec the program).")
		} else {
			logevents.General(log, slog.LevelInfo, "SystemdSockets", "Using the listening sockets of systemd socket activation.", slog.Int("sockets", n))
		}
	}
	val := getenv(environ, UpgradeReadyEnv)
	if val == "" {
		return nil
	}
	os.Unsetenv(UpgradeReadyEnv) // for the processes this one starts
	fd, err := strconv.Atoi(val)
	if err != nil || fd < 3 {
		return fmt.Errorf("kestrel: %s=%q is not a file descriptor", UpgradeReadyEnv, val)
	}
	f := os.NewFile(uintptr(fd), "readiness pipe")
	v.ready = func() {
		io.WriteString(f, "READY=1\n")
		f.Close()
	}
	return nil
}

// checkConfigFile reloads the configuration when the file has changed and
// then stayed the same for an interval.
func (v *Service) checkConfigFile(environ []string) {
	st := stampOf(v.ConfigFile)
	if st.same(v.configSeen) || !st.same(v.configPending) {
		v.configPending = st
		return
	}
	v.configSeen = st
	data, err := os.ReadFile(v.ConfigFile)
	if err != nil || bytes.Equal(data, v.configData) {
		return // gone for a moment (an editor replacing it), or touched only
	}
	v.pingWhile(func() { v.reload(environ, "because "+v.ConfigFile+" changed") })
}

// pingWhile runs f, a reload, pinging systemd's watchdog meanwhile: Run's
// loop, which pings it otherwise, waits for f, and systemd's watchdog runs
// during a reload, which may take longer than WatchdogSec= (a Configure
// that loads something, an ACME endpoint's first certificate).
func (v *Service) pingWhile(f func()) {
	if v.watchdog <= 0 {
		f()
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(v.watchdog / 2)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v.notify.send("WATCHDOG=1")
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	f()
}

// reload reads the configuration again and applies it, or nothing of it.
func (v *Service) reload(environ []string, why string) {
	log := v.Server.logger()
	v.notify.send("RELOADING=1" + monotonicUsec())
	defer v.notify.send("READY=1") // systemctl reload waits for it, whatever the outcome
	if v.ConfigFile == "" {
		logevents.General(log, slog.LevelInfo, "ConfigurationReload", "Nothing to reload "+why+": the service has no configuration file.")
		return
	}
	logevents.General(log, slog.LevelInfo, "ConfigurationReload", "Reloading the configuration "+why+".", slog.String("file", v.ConfigFile))
	cfg, err := v.readConfig(environ)
	if err == nil {
		var commit func()
		if commit, err = v.reconfigure(cfg); err == nil {
			if err = v.Server.Reload(cfg); err == nil || reloadApplied(err) {
				commit()
			}
		}
	}
	if reloadApplied(err) {
		logevents.General(log, slog.LevelError, "ConfigurationReloadIncomplete", "Configuration reloaded, with an error: "+err.Error(), slog.String("file", v.ConfigFile))
		return
	}
	if err != nil {
		logevents.General(log, slog.LevelError, "ConfigurationReloadFailed", "The configuration was not reloaded: the server goes on with the one it has. "+err.Error(), slog.String("file", v.ConfigFile))
		return
	}
	logevents.General(log, slog.LevelInfo, "ConfigurationReloaded", "Configuration reloaded.", slog.String("file", v.ConfigFile))
}

// reconfigure calls Configure for a reload. A panic refuses the
// configuration, as an error does, with the panic and its stack in the
// error: the process is serving, and goes on with the configuration it
// has (Kestrel logs a reload's exception and goes on too).
func (v *Service) reconfigure(cfg *Config) (commit func(), err error) {
	defer func() {
		if p := recover(); p != nil {
			commit, err = nil, fmt.Errorf("the Service's Configure panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return v.configure(cfg)
}

// fileStamp tells whether a file changed.
type fileStamp struct{ fi os.FileInfo }

func stampOf(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	fi, _ := os.Stat(path)
	return fileStamp{fi}
}

// same reports whether the file has the same identity, size and
// modification time, or is missing in both.
func (a fileStamp) same(b fileStamp) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

type upgradeResult struct {
	pid int
	err error
}

// startUpgrade starts the new process of an upgrade, unless one is
// starting already.
func (v *Service) startUpgrade() {
	log := v.Server.logger()
	if v.cmd != nil {
		logevents.General(log, slog.LevelWarn, "UpgradeUnderWay", "An upgrade is already under way.", slog.Int("pid", v.cmd.Process.Pid))
		return
	}
	cmd, ready, err := v.upgradeCommand()
	if err != nil {
		v.handoffFailed()
		upgradeFailed(log, err)
		return
	}
	err = cmd.Start()
	for _, f := range cmd.ExtraFiles {
		f.Close() // the new process has its copies
	}
	if err != nil {
		ready.Close()
		v.handoffFailed()
		upgradeFailed(log, err)
		return
	}
	logevents.General(log, slog.LevelInfo, "UpgradeStarted", "Upgrade: started a new process on the listening sockets.", slog.Int("pid", cmd.Process.Pid), slog.String("executable", cmd.Path))
	v.cmd, v.done = cmd, make(chan upgradeResult, 1)
	done := v.done
	go func() {
		kill := time.AfterFunc(upgradeTimeout, func() { cmd.Process.Kill() })
		line, _ := bufio.NewReader(ready).ReadString('\n')
		kill.Stop()
		ready.Close()
		if line == "READY=1\n" {
			done <- upgradeResult{pid: cmd.Process.Pid}
			cmd.Wait() // reaps it should it exit while this process runs
			return
		}
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		done <- upgradeResult{err: fmt.Errorf("the new process %d ended before it was ready (%w); see its log above", cmd.Process.Pid, err)}
	}()
}

// upgradeCommand prepares the new process, with the listening sockets and
// the readiness pipe, whose reading end it returns.
func (v *Service) upgradeCommand() (*exec.Cmd, *os.File, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	args := v.Args
	if args == nil {
		args = os.Args[1:]
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = []string{}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", // taken: the sockets come with Handoff
			"WATCHDOG_PID", // the new process pings once it is the service's main process
			UpgradeReadyEnv, InheritedListenersEnv:
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	closeFiles := func() {
		for _, f := range cmd.ExtraFiles {
			f.Close()
		}
	}
	for _, o := range v.Others {
		if err := o.Handoff(cmd); err != nil {
			closeFiles()
			return nil, nil, err
		}
	}
	if err := v.Server.Handoff(cmd); err != nil {
		closeFiles()
		return nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		closeFiles()
		return nil, nil, err
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	cmd.Env = append(cmd.Env, UpgradeReadyEnv+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	return cmd, r, nil
}

// finishUpgrade reports whether the new process is ready: this one then
// stops accepting and drains, and the new one becomes systemd's main
// process.
func (v *Service) finishUpgrade(res upgradeResult) bool {
	v.cmd, v.done = nil, nil
	log := v.Server.logger()
	if res.err != nil {
		v.handoffFailed()
		upgradeFailed(log, res.err)
		return false
	}
	logevents.General(log, slog.LevelInfo, "UpgradeReady", "Upgrade: the new process is ready; this one stops accepting and drains its connections.", slog.Int("pid", res.pid))
	msg := "MAINPID=" + strconv.Itoa(res.pid)
	if v.watchdog > 0 {
		// systemd takes pings from the main process only: the new one's
		// count from now, and its first comes half a timeout after it was
		// ready, while this one's last may be half a timeout old already.
		msg += "\nWATCHDOG=1"
	}
	v.notify.send(msg)
	return true
}

// abandonUpgrade stops the new process of an upgrade under way, which
// has not taken over, when the service stops: it gets SIGTERM, which it
// answers with a graceful shutdown once it serves the sockets (it accepts
// on them before it says it is ready), and this process shuts down as one
// that never handed its sockets off.
func (v *Service) abandonUpgrade() {
	pid := v.cmd.Process.Pid
	logevents.General(v.Server.logger(), slog.LevelWarn, "UpgradeAbandoned", "Upgrade: the service stops before the new process took over; it is stopped too.", slog.Int("pid", pid))
	terminate(v.cmd.Process)
	<-v.done // once it is ready, or has ended (killed after upgradeTimeout at the latest)
	v.cmd, v.done = nil, nil
	v.handoffFailed()
}

// handoffFailed tells the servers that the process an upgrade started
// will not serve their sockets: they go on, and shut down, as before it.
func (v *Service) handoffFailed() {
	for _, o := range v.Others {
		o.handoffFailed()
	}
	v.Server.handoffFailed()
}

func upgradeFailed(log *slog.Logger, err error) {
	logevents.General(log, slog.LevelError, "UpgradeFailed", "The upgrade failed: the server goes on in this process. "+err.Error())
}

func (v *Service) writePIDFile() error {
	if v.PIDFile == "" {
		return nil
	}
	tmp := v.PIDFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, v.PIDFile)
}

// removePIDFile removes the PID file if it is still this process's.
func (v *Service) removePIDFile() {
	if v.PIDFile == "" {
		return
	}
	if pid, err := readPIDFile(v.PIDFile); err == nil && pid == os.Getpid() {
		os.Remove(v.PIDFile)
	}
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s does not hold a process ID", path)
	}
	return pid, nil
}

// UpgradeService asks the Service whose PIDFile is pidFile to restart on
// its executable, which may have been replaced, with SIGUSR2, and waits
// until a new process has taken over, which then holds the PID file. It
// returns the new process's ID. It fails when the old process ends with
// no process taking over, or when ctx ends first: the old process then
// goes on serving, and its log says why the new one failed.
//
// A deployment replaces the executable (a new file renamed over the old
// one), then calls UpgradeService, or sends SIGUSR2 to the process the
// PID file names and waits until the file names another.
func UpgradeService(ctx context.Context, pidFile string) (int, error) {
	old, err := readPIDFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("kestrel: the PID file: %w", err)
	}
	if err := signalUpgrade(old); err != nil {
		return 0, fmt.Errorf("kestrel: cannot signal process %d of %s: %w", old, pidFile, err)
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		pid, err := readPIDFile(pidFile)
		if err == nil && pid != old && processAlive(pid) {
			return pid, nil
		}
		if !processAlive(old) {
			return 0, fmt.Errorf("kestrel: process %d ended, and no process took over; see its log", old)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("kestrel: no process took over from process %d (%w); it goes on serving, and its log says why the new process failed", old, ctx.Err())
		case <-t.C:
		}
	}
}

// notifier tells systemd how the service is doing, with the sd_notify
// protocol: a datagram to the socket NOTIFY_SOCKET names (Type=notify or
// Type=notify-reload units). Without NOTIFY_SOCKET it does nothing.
type notifier struct {
	addr string
	log  *slog.Logger
}

// send sends a state, such as "READY=1".
func (n notifier) send(state string) {
	if n.addr == "" {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		n.log.Warn("cannot notify systemd", "socket", n.addr, "state", state, "error", err)
	}
}

// watchdogInterval is the watchdog timeout systemd set for this process
// (WatchdogSec=, passed as WATCHDOG_USEC, for the process WATCHDOG_PID
// names if it is set), or 0; the service pings at half of it.
func watchdogInterval(environ []string) time.Duration {
	if getenv(environ, "NOTIFY_SOCKET") == "" {
		return 0
	}
	usec, err := strconv.ParseInt(getenv(environ, "WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := getenv(environ, "WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	if usec > math.MaxInt64/int64(time.Microsecond) {
		// Longer than a Duration holds (WatchdogSec= of centuries): the
		// longest, never a product wrapped to a negative interval (no
		// pings) or a tiny one (pings in a busy loop).
		return math.MaxInt64
	}
	return time.Duration(usec) * time.Microsecond
}

// What a signal asks of a Service.
type serviceAction int

const (
	actionNone serviceAction = iota
	actionStop
	actionReload
	actionUpgrade
)

// getenv looks name up in environ.
func getenv(environ []string, name string) string {
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			return val
		}
	}
	return ""
}
