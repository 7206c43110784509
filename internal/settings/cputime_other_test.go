//go:build !unix

package settings

import "time"

var start = time.Now()

// cpuTime is the time since the tests started where the process's CPU time
// is not at hand.
func cpuTime() time.Duration { return time.Since(start) }
