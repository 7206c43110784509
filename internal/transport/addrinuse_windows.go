package transport

import (
	"errors"
	"syscall"
)

// wsaeaddrinuse is Winsock's WSAEADDRINUSE.
const wsaeaddrinuse = syscall.Errno(10048)

// IsAddrInUse reports whether err says the address is already bound.
func IsAddrInUse(err error) bool {
	return errors.Is(err, wsaeaddrinuse) || errors.Is(err, syscall.EADDRINUSE)
}

// wsaeconnrefused is Winsock's WSAECONNREFUSED.
const wsaeconnrefused = syscall.Errno(10061)

// IsConnRefused reports whether err says nothing listens at the address.
func IsConnRefused(err error) bool {
	return errors.Is(err, wsaeconnrefused) || errors.Is(err, syscall.ECONNREFUSED)
}

// wsaeaddrnotavail is Winsock's WSAEADDRNOTAVAIL.
const wsaeaddrnotavail = syscall.Errno(10049)

// IsAddrNotAvail reports whether err says the address to bind is not one
// of the machine's.
func IsAddrNotAvail(err error) bool {
	return errors.Is(err, wsaeaddrnotavail) || errors.Is(err, syscall.EADDRNOTAVAIL)
}
