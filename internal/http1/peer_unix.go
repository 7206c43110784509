//go:build unix

package http1

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer has closed or reset the connection,
// without consuming any byte and without blocking. It uses Control, not
// Read, so it never waits for a reader that holds the descriptor.
func peerClosed(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
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
