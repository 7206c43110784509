package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/logevents"
)

// readyFDEnv names the descriptor on which a process started by an upgrade
// says it is ready ("READY=1\n"); the process it replaces then drains.
const readyFDEnv = "KESTREL_UPGRADE_READY_FD"

// upgradeTimeout bounds how long a new process may take to be ready; then
// it is killed and the old one goes on serving.
const upgradeTimeout = time.Minute

// listenInherited gives the server the sockets this process inherited:
// those of the process it replaces (an upgrade), and those of systemd
// socket activation (LISTEN_FDS). When this process replaces another, it
// returns the function that tells that one it is ready.
func (o *operations) listenInherited() (ready func(), err error) {
	if getenv(o.environ, kestrel.InheritedListenersEnv) != "" {
		n, err := o.srv.ListenInherited()
		if err != nil {
			return nil, err
		}
		logevents.General(o.log, slog.LevelInfo, "InheritedSockets", "Taking over the listening sockets of the process this one replaces.", slog.Int("sockets", n))
	}
	if getenv(o.environ, "LISTEN_FDS") != "" {
		n, err := o.srv.ListenSystemd()
		if err != nil {
			return nil, err
		}
		logevents.General(o.log, slog.LevelInfo, "SystemdSockets", "Using the listening sockets of systemd socket activation.", slog.Int("sockets", n))
	}
	v := getenv(o.environ, readyFDEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a file descriptor", readyFDEnv, v)
	}
	f := os.NewFile(uintptr(fd), "readiness pipe")
	return func() {
		io.WriteString(f, "READY=1\n")
		f.Close()
	}, nil
}

// upgrader replaces the process with a new one of the command's binary,
// which may have been replaced on disk, started with the same arguments
// on the same listening sockets.
type upgrader struct {
	o    *operations
	cmd  *exec.Cmd          // the new process, while it starts
	done chan upgradeResult // receives once it is ready, or has failed
}

type upgradeResult struct {
	pid int
	err error
}

// start starts the new process, unless one is starting already.
func (u *upgrader) start() {
	log := u.o.log
	if u.cmd != nil {
		logevents.General(log, slog.LevelWarn, "UpgradeUnderWay", "An upgrade is already under way.", slog.Int("pid", u.cmd.Process.Pid))
		return
	}
	cmd, ready, err := u.command()
	if err != nil {
		upgradeFailed(log, err)
		return
	}
	err = cmd.Start()
	for _, f := range cmd.ExtraFiles {
		f.Close() // the new process has its copies
	}
	if err != nil {
		ready.Close()
		upgradeFailed(log, err)
		return
	}
	logevents.General(log, slog.LevelInfo, "UpgradeStarted", "Upgrade: started a new process on the listening sockets.", slog.Int("pid", cmd.Process.Pid), slog.String("executable", cmd.Path))
	u.cmd, u.done = cmd, make(chan upgradeResult, 1)
	go func() {
		kill := time.AfterFunc(upgradeTimeout, func() { cmd.Process.Kill() })
		line, _ := bufio.NewReader(ready).ReadString('\n')
		kill.Stop()
		ready.Close()
		if line == "READY=1\n" {
			u.done <- upgradeResult{pid: cmd.Process.Pid}
			cmd.Wait() // reaps it should it exit while this process runs
			return
		}
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		u.done <- upgradeResult{err: fmt.Errorf("the new process %d ended before it was ready (%w); see its log above", cmd.Process.Pid, err)}
	}()
}

// command prepares the new process, with the listening sockets and the
// readiness pipe, whose reading end it returns.
func (u *upgrader) command() (*exec.Cmd, *os.File, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(exe, u.o.args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", // taken: the sockets come with Handoff
			"WATCHDOG_PID", // the new process pings once it is the service's main process
			readyFDEnv:
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if err := u.o.srv.Handoff(cmd); err != nil {
		return nil, nil, err
	}
	if ms := u.o.metrics; ms != nil { // its sockets come second: see startMetrics
		if err := ms.Handoff(cmd); err != nil {
			for _, f := range cmd.ExtraFiles {
				f.Close()
			}
			return nil, nil, err
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		for _, f := range cmd.ExtraFiles {
			f.Close()
		}
		return nil, nil, err
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	cmd.Env = append(cmd.Env, readyFDEnv+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	return cmd, r, nil
}

// finish reports whether the new process is ready: this one then stops
// accepting and drains, and the new one becomes systemd's main process.
func (u *upgrader) finish(res upgradeResult) bool {
	u.cmd = nil
	if res.err != nil {
		upgradeFailed(u.o.log, res.err)
		return false
	}
	logevents.General(u.o.log, slog.LevelInfo, "UpgradeReady", "Upgrade: the new process is ready; this one stops accepting and drains its connections.", slog.Int("pid", res.pid))
	u.o.notify.send("MAINPID=" + strconv.Itoa(res.pid))
	return true
}

func upgradeFailed(log *slog.Logger, err error) {
	logevents.General(log, slog.LevelError, "UpgradeFailed", "The upgrade failed: the server goes on in this process. "+err.Error())
}

// upgradeCommand is "kestrel upgrade": it asks the server whose PID file
// is given to upgrade (SIGUSR2), and waits until a new process has taken
// over, which then holds the PID file.
func upgradeCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kestrel upgrade", flag.ContinueOnError)
	fs.SetOutput(out)
	pidFile := fs.String("pid-file", "", "the PID file of the server to restart (its --pid-file)")
	timeout := fs.Duration("timeout", upgradeTimeout+5*time.Second, "how long to wait for the new process")
	fs.Usage = func() {
		fmt.Fprint(out, "Usage:\n  kestrel upgrade --pid-file FILE [--timeout DURATION]\n\n"+
			"Restarts the server on its binary, which may have been replaced, on the same\n"+
			"listening sockets: the new process starts, then the old one drains (as SIGUSR2).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *pidFile == "" || fs.NArg() > 0 {
		fmt.Fprintln(out, "kestrel upgrade: --pid-file is required, and nothing else")
		fs.Usage()
		return errUsage
	}
	old, err := readPIDFile(*pidFile)
	if err != nil {
		return fmt.Errorf("upgrade: %w (is the server running with --pid-file %s?)", err, *pidFile)
	}
	if err := signalUpgrade(old); err != nil {
		return fmt.Errorf("upgrade: cannot signal process %d of %s: %w", old, *pidFile, err)
	}
	for deadline := time.Now().Add(*timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		pid, err := readPIDFile(*pidFile)
		if err == nil && pid != old && processAlive(pid) {
			fmt.Fprintf(out, "kestrel: process %d took over from process %d\n", pid, old)
			return nil
		}
		if !processAlive(old) {
			return fmt.Errorf("upgrade: process %d ended, and no process took over; see its log", old)
		}
	}
	return fmt.Errorf("upgrade: no process took over from process %d within %v; it goes on serving (its log says why the new process failed)", old, *timeout)
}
