//go:build unix && !linux

package http1

import (
	"syscall"
)

// peerClosed reports whether the peer has closed or reset the connection,
// without consuming any byte and without blocking. It uses Control, not
// Read, so it never waits for a reader that holds the descriptor. Under
// TLS it looks at the TCP socket: a close_notify alert the TLS layer has
// not read counts as open until the peer's FIN arrives behind it.
func peerClosed(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	closed := false
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err != nil && err != syscall.EAGAIN && err != syscall.EINTR
	})
	return closed
}

// inputPending reports whether the connection has bytes (or its peer's
// close) waiting to be read, without consuming them and without blocking.
func inputPending(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	pending := false
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = n > 0 && err == nil
	})
	return pending
}
