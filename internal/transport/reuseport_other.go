//go:build !unix || solaris

package transport

import (
	"errors"
	"syscall"
)

// ReusePort would set SO_REUSEPORT; this system has no equivalent.
func ReusePort(network, address string, c syscall.RawConn) error {
	return errors.New("SO_REUSEPORT is not supported on this system")
}
