//go:build unix

package settings

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, so that timings do not
// count the time other processes of a busy machine took.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
