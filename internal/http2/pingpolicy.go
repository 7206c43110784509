package http2

import (
	"time"

	"golang.org/x/net/http2"
)

// PingPolicy is what a connection demands of the PINGs its client sends,
// as grpc-go's server enforces keepalive.EnforcementPolicy: a PING that
// comes sooner than MinInterval after the previous one (or, when no
// stream is open and PermitWithoutStream is off, sooner than two hours)
// is a strike, unless the server sent a HEADERS or DATA frame since the
// previous PING; the third strike ends the connection with GOAWAY
// ENHANCE_YOUR_CALM and the debug data "too_many_pings", which grpc-go's
// client answers by pinging half as often. The zero policy demands
// nothing.
type PingPolicy struct {
	MinInterval         time.Duration
	PermitWithoutStream bool
}

// pingStrikesAllowed is how many strikes a client may have (grpc-go's
// maxPingStrikes): the next one ends the connection.
const pingStrikesAllowed = 2

// idlePingInterval is how often a client with no stream open may ping
// when the policy does not permit it (grpc-go's defaultPingTimeout).
const idlePingInterval = 2 * time.Hour

// pingState is a connection's record of its client's PINGs, kept by the
// reading goroutine; sentFrames is set under mu as HEADERS or DATA go out.
type pingState struct {
	last       time.Time
	strikes    int
	sentFrames bool
}

// checkPingLocked applies the ping policy to a PING the client sent; mu
// is held.
func (c *Conn) checkPingLocked() error {
	p := c.cfg.PingPolicy
	if p.MinInterval <= 0 {
		return nil
	}
	now := time.Now()
	ps := &c.pings
	last := ps.last
	ps.last = now
	if ps.sentFrames {
		ps.sentFrames = false
		ps.strikes = 0
		return nil
	}
	min := p.MinInterval
	if len(c.streams) == 0 && !p.PermitWithoutStream {
		min = idlePingInterval
	}
	if !last.IsZero() && now.Sub(last) < min {
		ps.strikes++
	}
	if ps.strikes > pingStrikesAllowed {
		return connErr(http2.ErrCodeEnhanceYourCalm, "too_many_pings")
	}
	return nil
}
