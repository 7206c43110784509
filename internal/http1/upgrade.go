package http1

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// ErrUpgradeLimit is returned when an upgrade would exceed the server's
// MaxConcurrentUpgradedConnections; the request can still be answered.
var ErrUpgradeLimit = errors.New("kestrel: too many upgraded connections (Limits.MaxConcurrentUpgradedConnections reached)")

// hijack takes the connection away from the engine. sendHead asks for a
// pending response head (a 101) to be written first. The connection leaves
// MaxConcurrentConnections and counts against the upgraded-connection
// limit instead.
func (c *Conn) hijack(ex *exchange, sendHead bool) (net.Conn, error) {
	var slot *transport.Slot
	if up := c.cfg.Upgrades; up != nil {
		if slot = up.Acquire(); slot == nil {
			c.cfg.App.Logger.Debug("upgrade refused: too many upgraded connections", "remote", c.RemoteAddr(), "limit", up.Max())
			ex.UndoHead()
			return nil, ErrUpgradeLimit
		}
	}
	// The connection leaves the connection limit before the client can
	// see the 101 and open another.
	c.slot.Release()
	if sendHead {
		ex.Commit()
	}
	if !c.flush() {
		slot.Release()
		return nil, c.werr
	}
	c.hijacked = true
	c.setState(http.StateHijacked)
	c.reqCtx.Store(nil)
	c.bodyRate.Set(app.Rate{}) // an upgraded connection has no minimum data rates
	c.writeRate.Set(app.Rate{})
	c.setPhase(phaseNone, 0)
	c.nc.SetDeadline(time.Time{})
	uc := &UpgradedConn{Conn: c.nc, slot: slot}
	if c.rpos < c.rend {
		uc.prefix = make([]byte, c.rend-c.rpos)
		copy(uc.prefix, (*c.rbuf)[c.rpos:c.rend])
		c.rpos = c.rend
	}
	if c.cfg.Upgraded != nil {
		c.cfg.Upgraded(uc)
	}
	return uc, nil
}

// UpgradedConn is a connection taken over by a handler after an upgrade
// or Hijack. Its first reads return the bytes the server had already read
// past the request; closing it counts it out of the upgraded-connection
// limit.
type UpgradedConn struct {
	net.Conn
	prefix  []byte
	slot    *transport.Slot
	mu      sync.Mutex
	closed  bool
	onClose func()
}

// Read reads the bytes read ahead by the server first, then from the
// connection.
func (u *UpgradedConn) Read(b []byte) (int, error) {
	if len(u.prefix) > 0 {
		n := copy(b, u.prefix)
		u.prefix = u.prefix[n:]
		return n, nil
	}
	return u.Conn.Read(b)
}

// Close closes the connection.
func (u *UpgradedConn) Close() error {
	err := u.Conn.Close()
	u.mu.Lock()
	first := !u.closed
	u.closed = true
	f := u.onClose
	u.mu.Unlock()
	if first {
		u.slot.Release()
		if f != nil {
			f()
		}
	}
	return err
}

// OnClose sets a function called once when the connection is closed; if
// it already is, f is called at once.
func (u *UpgradedConn) OnClose(f func()) {
	u.mu.Lock()
	closed := u.closed
	if !closed {
		u.onClose = f
	}
	u.mu.Unlock()
	if closed {
		f()
	}
}

// NetConn returns the underlying connection.
func (u *UpgradedConn) NetConn() net.Conn { return u.Conn }

// String describes the connection for logs.
func (u *UpgradedConn) String() string {
	return fmt.Sprintf("upgraded connection %s", u.RemoteAddr())
}
