package http1

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// peerClosed reports whether the peer has closed (FIN) or reset the
// connection, without consuming any byte and without blocking. It polls
// for POLLRDHUP, so bytes not yet read (a pipelined request, or under TLS
// the close_notify alert ahead of the FIN) do not hide the close.
func peerClosed(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	closed := false
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(fds, 0)
		closed = err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
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
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		pending = err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
	})
	return pending
}
