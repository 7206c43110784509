//go:build !linux

package transport

import "syscall"

// BytesAcked would be how many bytes the peer of the TCP socket rc has
// acknowledged so far; this system does not say, and it is -1.
func BytesAcked(syscall.RawConn) int64 { return -1 }
