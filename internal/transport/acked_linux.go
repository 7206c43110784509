package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// BytesAcked is how many bytes the peer of the TCP socket rc has
// acknowledged so far (TCP_INFO's tcpi_bytes_acked), or -1 where the
// system does not say (not TCP, or rc nil). The peer acknowledges what
// fits its receive buffer, so once that is full the count grows as fast
// as the peer's application reads.
func BytesAcked(rc syscall.RawConn) int64 {
	if rc == nil {
		return -1
	}
	n := int64(-1)
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n = int64(info.Bytes_acked)
		}
	})
	return n
}
