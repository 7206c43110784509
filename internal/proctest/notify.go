package proctest

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Notify is a fake systemd notification socket: give a program its path
// as NOTIFY_SOCKET and read what it says.
type Notify struct {
	t testing.TB
	c *net.UnixConn
}

// ListenNotify opens a notification socket in the test's temporary folder
// and returns it with its path.
func ListenNotify(t testing.TB) (*Notify, string) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Notify{t, c}, path
}

// Next returns the next message that is not a watchdog ping, and fails the
// test when none comes within 10 s (watchdog pings do not extend the wait).
func (n *Notify) Next() string {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		k, err := n.c.Read(buf)
		if err != nil {
			n.t.Fatalf("no notification: %v", err)
		}
		if msg := string(buf[:k]); msg != "WATCHDOG=1" {
			return msg
		}
	}
}

// ExpectPings reads count messages within d and fails the test unless
// each is a watchdog ping.
func (n *Notify) ExpectPings(count int, d time.Duration) {
	n.t.Helper()
	buf := make([]byte, 64)
	n.c.SetReadDeadline(time.Now().Add(d))
	for pings := 0; pings < count; pings++ {
		k, err := n.c.Read(buf)
		if err != nil || string(buf[:k]) != "WATCHDOG=1" {
			n.t.Fatalf("watchdog: %q %v after %d pings, want %d WATCHDOG=1 within %v", buf[:k], err, pings, count, d)
		}
	}
}

// CountPings counts the watchdog pings that come within d.
func (n *Notify) CountPings(d time.Duration) int {
	buf := make([]byte, 64)
	n.c.SetReadDeadline(time.Now().Add(d))
	pings := 0
	for {
		k, err := n.c.Read(buf)
		if err != nil {
			return pings
		}
		if string(buf[:k]) == "WATCHDOG=1" {
			pings++
		}
	}
}

// NextWithin returns the next message, a watchdog ping included, or ""
// when none comes within d.
func (n *Notify) NextWithin(d time.Duration) string {
	buf := make([]byte, 4096)
	n.c.SetReadDeadline(time.Now().Add(d))
	k, err := n.c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:k])
}
