package kestrel

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// monotonicUsec is the MONOTONIC_USEC field systemd 253 and later want
// with RELOADING=1: the CLOCK_MONOTONIC time of the message.
func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return ""
	}
	return "\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}
