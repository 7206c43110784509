//go:build !windows

package transport

import (
	"errors"
	"syscall"
)

// IsAddrInUse reports whether err says the address is already bound.
func IsAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// IsConnRefused reports whether err says nothing listens at the address.
func IsConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// IsAddrNotAvail reports whether err says the address to bind is not one
// of the machine's.
func IsAddrNotAvail(err error) bool { return errors.Is(err, syscall.EADDRNOTAVAIL) }
