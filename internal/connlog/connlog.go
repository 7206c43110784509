// Package connlog is the connection-logging middleware: it wraps a
// connection so that its opening, reads, writes and closing are logged at
// debug level, as Kestrel's UseConnectionLogging does.
package connlog

import (
	"log/slog"
	"net"
	"sync"
)

// maxLogged is how many bytes of each read or write are shown.
const maxLogged = 64

// Conn is a connection that logs what passes through it.
type Conn struct {
	net.Conn
	log       *slog.Logger
	closeOnce sync.Once
}

// Wrap returns c wrapped to log through log, and logs its opening.
func Wrap(c net.Conn, log *slog.Logger) *Conn {
	log = log.With("remote", c.RemoteAddr().String(), "local", c.LocalAddr().String())
	log.Debug("connection opened")
	return &Conn{Conn: c, log: log}
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.log.Debug("read", "bytes", n, "data", preview(p[:n]))
	}
	if err != nil {
		c.log.Debug("read ended", "error", err)
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.log.Debug("write", "bytes", n, "data", preview(p[:n]))
	if err != nil {
		c.log.Debug("write failed", "error", err)
	}
	return n, err
}

// Close closes the connection and logs it once.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.log.Debug("connection closed") })
	return err
}

func preview(b []byte) string {
	if len(b) > maxLogged {
		return string(b[:maxLogged]) + "..."
	}
	return string(b)
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }
