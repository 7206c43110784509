//go:build !unix

package main

import (
	"errors"
	"os"
)

// What a signal asks for.
type action int

const (
	actionNone action = iota
	actionReload
	actionUpgrade
)

// notifySignals: there are no reload or upgrade signals on this platform;
// the configuration file is still watched.
func notifySignals() chan os.Signal { return nil }

func stopSignals(chan os.Signal) {}

func signalAction(os.Signal) action { return actionNone }

func signalUpgrade(int) error {
	return errors.New("upgrades are not supported on this platform")
}

func processAlive(int) bool { return false }
