//go:build unix

package kestrel

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// serviceSignals are the signals Service.Run handles.
var serviceSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR2}

func signalAction(sig os.Signal) serviceAction {
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM:
		return actionStop
	case syscall.SIGHUP:
		return actionReload
	case syscall.SIGUSR2:
		return actionUpgrade
	}
	return actionNone
}

// signalUpgrade asks the process pid to upgrade.
func signalUpgrade(pid int) error { return syscall.Kill(pid, syscall.SIGUSR2) }

// processAlive reports whether the process pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// monotonicUsec is the MONOTONIC_USEC field systemd 253 and later want
// with RELOADING=1: the CLOCK_MONOTONIC time of the message.
func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return ""
	}
	return "\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}
