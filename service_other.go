//go:build !unix

package kestrel

import (
	"errors"
	"os"
	"syscall"
)

// serviceSignals are the signals Service.Run handles: Ctrl-C, and SIGTERM,
// which Go delivers on Windows when the console is closed, the user logs
// off or the system shuts down (and which, unasked for, ends the process
// at once). There are no reload or upgrade signals on this platform (the
// configuration file is still watched).
var serviceSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// ignoredSignals are none: there is no SIGPIPE on this platform.
var ignoredSignals []os.Signal

func signalAction(sig os.Signal) serviceAction {
	switch sig {
	case os.Interrupt, syscall.SIGTERM:
		return actionStop
	}
	return actionNone
}

func signalUpgrade(int) error {
	return errors.New("upgrades are not supported on this platform")
}

func processAlive(int) bool { return false }

// terminate ends p (there are no upgrades on this platform).
func terminate(p *os.Process) { p.Kill() }
