//go:build unix

package kestrel

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketFile returns a copy of a socket (a listener's, or a UDP one) as a
// file, to pass to another process. It does not use the File methods:
// exec puts the descriptor of such a file in blocking mode, which the
// socket shares, and Close then waits for an Accept (a read) that only a
// new connection (datagram) ends.
func socketFile(c any, addr net.Addr) (*os.File, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("a %T has no file descriptor to pass", c)
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
	return os.NewFile(uintptr(fd), addr.String()), nil
}
