package logevents

import (
	"strconv"
	"sync/atomic"
	"time"
)

// The connection id generator is process-wide, as Kestrel's
// CorrelationIdGenerator: ids must be unique across every server of the
// process, and generators seeded separately by time would overlap.
var lastConnectionID atomic.Uint64

func init() {
	lastConnectionID.Store(ticks(time.Now()))
}

// ticks is .NET's DateTime.Ticks of t: 100-nanosecond intervals since
// January 1 of year 1.
func ticks(t time.Time) uint64 {
	const unixEpochTicks = 621355968000000000
	return uint64(t.UnixNano()/100) + unixEpochTicks
}

// base32 is the alphabet of Kestrel's connection ids.
const base32 = "0123456789ABCDEFGHIJKLMNOPQRSTUV"

// NewConnectionID returns a connection id unique in the process, made as
// Kestrel makes them: a counter seeded with the start time, written as 13
// base-32 characters ("0HN1DEKO6S5QK").
func NewConnectionID() string {
	var b [13]byte
	return string(appendID(b[:0], lastConnectionID.Add(1)))
}

func appendID(b []byte, id uint64) []byte {
	for shift := 60; shift >= 0; shift -= 5 {
		b = append(b, base32[(id>>uint(shift))&31])
	}
	return b
}

// AppendRequestID appends the id of a connection's seq-th request (from
// 1), as Kestrel's TraceIdentifier: the connection id, a colon and seq as
// 8 upper-case hexadecimal digits ("0HN1DEKO6S5QK:00000001").
func AppendRequestID(b []byte, connectionID string, seq uint32) []byte {
	b = append(b, connectionID...)
	b = append(b, ':')
	var hex [8]byte
	h := strconv.AppendUint(hex[:0], uint64(seq), 16)
	for range 8 - len(h) {
		b = append(b, '0')
	}
	for _, c := range h {
		if 'a' <= c && c <= 'f' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// RequestID is AppendRequestID as a string.
func RequestID(connectionID string, seq uint32) string {
	return string(AppendRequestID(make([]byte, 0, len(connectionID)+9), connectionID, seq))
}
