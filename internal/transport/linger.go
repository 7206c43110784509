package transport

import (
	"net"
	"time"
)

// Linger bounds a lingering close: how long in all, how long the peer may
// pause, how many bytes are read and dropped, and how long at least the
// peer has to read what was sent before a reset can reach it.
type Linger struct {
	Timeout  time.Duration
	Idle     time.Duration
	MaxBytes int64
	Minimum  time.Duration
}

// DefaultLinger is Kestrel's request body drain timeout (5 s) with
// net/http's rstAvoidanceDelay (500 ms) as the minimum.
var DefaultLinger = Linger{Timeout: 5 * time.Second, Idle: time.Second, MaxBytes: 4 << 20, Minimum: 500 * time.Millisecond}

// LingeringClose half-closes nc and reads and drops what the peer still
// sends, until it closes its side, pauses for l.Idle, or l.Timeout passes
// (RFC 9112, section 9.6); buf is the buffer it reads into. Closing with
// unread bytes makes the kernel send a reset, which can destroy the last
// response (or GOAWAY) before the peer reads it: a peer that keeps sending
// past l.MaxBytes still gets l.Minimum to read it. The caller closes nc
// afterwards. It reports false, having done nothing, when nc cannot be
// half-closed.
func LingeringClose(nc net.Conn, l Linger, buf []byte) bool {
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return false
	}
	start := time.Now()
	end := start.Add(l.Timeout)
	for total := int64(0); total < l.MaxBytes; {
		now := time.Now()
		if !now.Before(end) {
			return true
		}
		d := now.Add(l.Idle)
		if d.After(end) {
			d = end
		}
		nc.SetReadDeadline(d)
		n, err := nc.Read(buf)
		total += int64(n)
		if err != nil {
			return true
		}
	}
	time.Sleep(l.Minimum - time.Since(start))
	return true
}
