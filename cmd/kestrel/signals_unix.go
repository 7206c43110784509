//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// What a signal asks for.
type action int

const (
	actionNone action = iota
	actionReload
	actionUpgrade
)

// notifySignals delivers the signals that ask for a reload (SIGHUP) or an
// upgrade (SIGUSR2).
func notifySignals() chan os.Signal {
	c := make(chan os.Signal, 4)
	signal.Notify(c, syscall.SIGHUP, syscall.SIGUSR2)
	return c
}

func stopSignals(c chan os.Signal) { signal.Stop(c) }

func signalAction(sig os.Signal) action {
	switch sig {
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
