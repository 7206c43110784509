package http1

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kestrel-go/kestrel/internal/transport"
)

// ErrUpgradeLimit is returned when an upgrade would exceed the server's
// MaxConcurrentUpgradedConnections; the request can still be answered.
var ErrUpgradeLimit = errors.New("kestrel: too many upgraded connections (Limits.MaxConcurrentUpgradedConnections reached)")

// ErrNotUpgradable is returned by Upgrade for a request that did not ask
// for an upgrade the server can perform.
var ErrNotUpgradable = errors.New("kestrel: the request cannot be upgraded: it needs HTTP/1.1, Connection: upgrade, an Upgrade header and no body")

var errHijackAfterWrite = errors.New("kestrel: cannot take over a connection after the response body has started")

// Upgradable reports whether the request asks for a protocol upgrade the
// server can perform: HTTP/1.1, "Connection: upgrade", an Upgrade header,
// and no body.
func (ex *Exchange) Upgradable() bool {
	h := &ex.h
	return h.minor == 1 && h.connUpgrade && h.upgrade && !h.chunked && h.contentLength <= 0
}

// Upgrade answers 101 Switching Protocols with the headers set so far
// (the request's Upgrade value when the handler set none) and returns the
// connection, which then belongs to the caller.
func (ex *Exchange) Upgrade() (net.Conn, error) {
	if !ex.Upgradable() {
		return nil, ErrNotUpgradable
	}
	if ex.committed {
		return nil, errors.New("kestrel: cannot upgrade: the response has started")
	}
	if !ex.hasHeader("Upgrade") {
		if ex.std != nil {
			if _, ok := ex.std.header["Upgrade"]; !ok {
				ex.std.header.Set("Upgrade", string(ex.Header("Upgrade")))
			}
		} else {
			ex.AddHeader("Upgrade", string(ex.Header("Upgrade")))
		}
	}
	prev := ex.status
	ex.status = http.StatusSwitchingProtocols
	nc, err := ex.c.hijack(ex, true)
	if err != nil {
		ex.status = prev
	}
	return nc, err
}

func (ex *Exchange) hasHeader(name string) bool {
	b := ex.hdr
	for len(b) > 0 {
		end := bytesIndexLF(b) + 1
		line := b[:end]
		b = b[end:]
		if i := indexColon(line); i >= 0 && equalFold(line[:i], name) {
			return true
		}
	}
	return false
}

func bytesIndexLF(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return len(b) - 1
}

func indexColon(b []byte) int {
	for i, c := range b {
		if c == ':' {
			return i
		}
	}
	return -1
}

// hijack takes the connection away from the engine. sendHead asks for a
// pending response head (a 101) to be written first. The connection leaves
// MaxConcurrentConnections and counts against the upgraded-connection
// limit instead.
func (c *Conn) hijack(ex *Exchange, sendHead bool) (net.Conn, error) {
	if c.hijacked {
		return nil, http.ErrHijacked
	}
	if ex.written > 0 && ex.status != http.StatusSwitchingProtocols {
		return nil, errHijackAfterWrite
	}
	if ex.committed && ex.status != http.StatusSwitchingProtocols {
		return nil, errHijackAfterWrite
	}
	var slot *transport.Slot
	if up := c.cfg.Upgrades; up != nil {
		if slot = up.Acquire(); slot == nil {
			c.cfg.Logger.Info("upgrade refused: too many upgraded connections", "remote", c.RemoteAddr(), "limit", up.Max())
			ex.undoHead()
			return nil, ErrUpgradeLimit
		}
	}
	// The connection leaves the connection limit before the client can
	// see the 101 and open another.
	c.slot.Release()
	if sendHead && !ex.committed {
		ex.commit(false)
	}
	if !c.flush() {
		slot.Release()
		return nil, c.werr
	}
	c.hijacked = true
	c.reqCtx.Store(nil)
	c.bodyRate.set(Rate{}) // an upgraded connection has no minimum data rates
	c.writeRate.set(Rate{})
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

// undoHead forgets a response head that was set but not sent (a 101 whose
// upgrade was refused), so that the handler can answer normally.
func (ex *Exchange) undoHead() {
	if ex.committed {
		return
	}
	ex.status = http.StatusOK
	ex.hdr = ex.hdr[:0]
	ex.declaredLen = -1
	ex.forceChunk, ex.userDate, ex.userServer = false, false, false
	if w := ex.std; w != nil {
		w.wroteHeader, w.copied, w.sniff = false, false, false
		w.trailers = w.trailers[:0]
		clear(w.header)
	}
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
