//go:build !unix

package http1

import "syscall"

// peerClosed cannot look at the socket without reading on this platform; a
// request's context is cancelled when a write fails instead.
func peerClosed(syscall.RawConn) bool { return false }

// inputPending cannot look at the socket without reading on this
// platform: only the bytes the connection has buffered count.
func inputPending(syscall.RawConn) bool { return false }
