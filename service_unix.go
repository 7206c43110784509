//go:build unix

package kestrel

import (
	"os"
	"syscall"
)

// serviceSignals are the signals Service.Run handles.
var serviceSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR2}

// ignoredSignals are the signals Service.Run asks for so that they do not
// end the process, and ignores: SIGPIPE, which Go raises when a write to
// standard output or error finds the pipe broken.
var ignoredSignals = []os.Signal{syscall.SIGPIPE}

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

// terminate asks p, the new process of an upgrade, to shut down.
func terminate(p *os.Process) { p.Signal(syscall.SIGTERM) }
