//go:build !unix

package kestrel

import (
	"errors"
	"os"
)

// serviceSignals are the signals Service.Run handles: there are no reload
// or upgrade signals on this platform (the configuration file is still
// watched).
var serviceSignals = []os.Signal{os.Interrupt}

// ignoredSignals are none: there is no SIGPIPE on this platform.
var ignoredSignals []os.Signal

func signalAction(sig os.Signal) serviceAction {
	if sig == os.Interrupt {
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
