//go:build unix

package kestrel

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketFile returns a copy of a listener's socket as a file, to pass to
// another process. It does not use the listener's File method: exec puts
// the descriptor of such a file in blocking mode, which the listener
// shares, and Close then waits for an Accept that only a new connection
// ends.
func socketFile(l net.Listener) (*os.File, error) {
	sc, ok := l.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("a %T has no file descriptor to pass", l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, os.NewSyscallError("fcntl", dupErr)
	}
	return os.NewFile(uintptr(fd), l.Addr().String()), nil
}
