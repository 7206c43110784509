package kestrel

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/metrics"
)

// ageDeadlines returns when a connection that started at start reaches
// age (Limits.MaxConnectionAge), with grpc-go's jitter of up to 10% either
// way, and when, grace (Limits.MaxConnectionAgeGrace) later, its HTTP/2 or
// HTTP/3 streams still open are cut (retireAged moves this to the grace
// after the GOAWAY it sends), in Unix nanoseconds; 0 for none. A time
// past the clock's end is none.
func ageDeadlines(start time.Time, age, grace time.Duration) (retireAt, abortAt int64) {
	if age <= 0 {
		return 0, 0
	}
	var jitter int64
	if r := int64(age / 10); r > 0 {
		jitter = rand.Int64N(2*r+1) - r
	}
	// The sum, not the age, takes the jitter: age plus jitter may be past
	// a Duration's end.
	if retireAt = addNanos(addNanos(start.UnixNano(), int64(age)), jitter); retireAt == 0 {
		return 0, 0
	}
	if grace > 0 {
		abortAt = addNanos(retireAt, int64(grace))
	}
	return retireAt, abortAt
}

// addNanos is t+d, for t > 0 and d > -t, or 0 when t is 0 or the sum is
// past the clock's end.
func addNanos(t, d int64) int64 {
	if t == 0 || d > math.MaxInt64-t {
		return 0
	}
	return t + d
}

// retireAged is the heartbeat's check of Limits.MaxConnectionAge at its
// time now: a connection past its age is retired, at every tick (a new
// HTTP/1.1 connection that CloseIfIdle leaves its first request is
// closed at a later one if it stays idle), and an HTTP/2 or HTTP/3 one
// still open its grace after the check that sent its GOAWAY is aborted.
// s.mu is held; retireAged reports what to do with st.conn, and the
// caller does it once it has released s.mu (endAged), as abort does:
// closing a TLS connection sends its close_notify, which waits up to 5
// seconds for a client that does not read, and the server would wait
// with it. Whether the connection speaks HTTP/1.1 is its engine's kind
// (st.conn, set under s.mu), not st.proto, which the HTTP/1.1 engine's
// goroutine changes when it hands an h2c connection to HTTP/2.
func (s *Server) retireAged(st *connState, now int64) (retire, abort bool) {
	if st.retireAt == 0 || now < st.retireAt {
		return false, false
	}
	if _, h1 := st.conn.(*http1.Conn); h1 || st.abortAt == 0 {
		return true, false
	}
	if !st.goAway {
		// The grace runs from the GOAWAY Retire is to send, as
		// grpc-go's: the heartbeat finds a connection past its age up to
		// a tick late, past its age plus a grace shorter than that too.
		st.goAway = true
		st.abortAt = addNanos(now, st.abortAt-st.retireAt)
		return true, false
	}
	if st.abortAt != 0 && now >= st.abortAt {
		st.abortAt = 0
		st.reason.Set(metrics.MaxConnectionAgeGraceExceeded)
		return true, true
	}
	return true, false
}

// endAged retires and aborts the connections retireAged named, without
// s.mu.
func endAged(retire, abort []engineConn) {
	for _, c := range retire {
		c.Retire()
	}
	for _, c := range abort {
		c.Abort()
	}
}
