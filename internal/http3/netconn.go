package http3

import (
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/quic-go/quic-go"
)

// netConn stands for a QUIC connection where the server and the
// application layer expect a net.Conn: it has the connection's addresses
// and TLS state, and Close closes the connection. Its bytes are not a
// stream, so Read and Write fail.
type netConn struct {
	qc  *quic.Conn
	tls tls.ConnectionState
}

// NetConn returns the net.Conn that stands for qc: its LocalAddr,
// RemoteAddr and ConnectionState work, Close closes qc, and Read and Write
// fail (a QUIC connection's bytes are in its streams). qc's handshake
// must be complete.
func NetConn(qc *quic.Conn) net.Conn { return &netConn{qc, qc.ConnectionState().TLS} }

var errNotStream = errors.New("http3: a QUIC connection is not a byte stream; its requests are in its streams")

func (c *netConn) Read([]byte) (int, error)  { return 0, errNotStream }
func (c *netConn) Write([]byte) (int, error) { return 0, errNotStream }

// Close closes the QUIC connection without an error (H3_NO_ERROR).
func (c *netConn) Close() error {
	return c.qc.CloseWithError(quic.ApplicationErrorCode(errNoError), "")
}

func (c *netConn) LocalAddr() net.Addr  { return c.qc.LocalAddr() }
func (c *netConn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

func (c *netConn) SetDeadline(time.Time) error      { return errNotStream }
func (c *netConn) SetReadDeadline(time.Time) error  { return errNotStream }
func (c *netConn) SetWriteDeadline(time.Time) error { return errNotStream }

// ConnectionState is the connection's TLS state, as *tls.Conn's.
func (c *netConn) ConnectionState() tls.ConnectionState { return c.tls }
