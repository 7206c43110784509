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
