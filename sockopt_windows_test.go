package kestrel

import "syscall"

// setReceiveBuffer sets a socket's SO_RCVBUF, from a Dialer's Control
// (before it connects, so that the window it offers stays small).
func setReceiveBuffer(fd uintptr, n int) {
	syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
