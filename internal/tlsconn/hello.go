package tlsconn

import (
	"context"
	"errors"
	"net"
)

// ErrRefused is wrapped by the error of a handshake that the endpoint's
// TLS handshake callback refused; ErrorType names it "refused".
var ErrRefused = errors.New("refused by the TLS handshake callback")

// TypeRefused is ErrorType's name for a handshake the TLS handshake
// callback refused.
const TypeRefused = "refused"

// maxRecorded bounds the bytes a HelloConn keeps: crypto/tls refuses a
// handshake message over 64 KiB, and each record adds a 5-byte header.
const maxRecorded = 1<<16 + 4 + 5*5

// recordHeaderLen is the length of a TLS record header: type, version,
// length.
const recordHeaderLen = 5

// typeClientHello is the handshake message type of a ClientHello.
const typeClientHello = 1

// HelloConn is a connection that keeps the bytes the TLS server reads
// from it until Stop, so that the ClientHello can be seen as the client
// sent it (for fingerprints such as JA3 and JA4), which crypto/tls's
// ClientHelloInfo does not give. Only the record framing is parsed: the
// message itself is left to crypto/tls.
type HelloConn struct {
	net.Conn
	Context context.Context // the connection's, for the callback
	buf     []byte
	stopped bool
}

// NewHelloConn returns c recording what is read from it.
func NewHelloConn(ctx context.Context, c net.Conn) *HelloConn {
	return &HelloConn{Conn: c, Context: ctx}
}

func (c *HelloConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.stopped {
		if len(c.buf)+n > maxRecorded {
			c.Stop()
		} else {
			c.buf = append(c.buf, p[:n]...)
		}
	}
	return n, err
}

// ClientHello returns the ClientHello handshake message (its 4-byte
// handshake header first) reassembled from the handshake records read so
// far, or nil when they do not hold a whole ClientHello.
func (c *HelloConn) ClientHello() []byte {
	return ClientHelloMessage(c.buf)
}

// Stop ends the recording and lets the bytes go.
func (c *HelloConn) Stop() {
	c.stopped = true
	c.buf = nil
}

// NetConn is the connection recorded, for what looks through wrappers.
func (c *HelloConn) NetConn() net.Conn { return c.Conn }

// ClientHelloMessage returns the ClientHello handshake message that the
// TLS records at the start of b carry, reassembled when it spans several
// records, or nil when b does not begin with handshake records holding a
// whole ClientHello.
func ClientHelloMessage(b []byte) []byte {
	var msg []byte
	for len(b) >= recordHeaderLen {
		if b[0] != recordTypeHandshake {
			return nil
		}
		n := int(b[3])<<8 | int(b[4])
		if len(b) < recordHeaderLen+n {
			return nil
		}
		fragment := b[recordHeaderLen : recordHeaderLen+n]
		b = b[recordHeaderLen+n:]
		if msg == nil {
			msg = fragment[:n:n] // one record, the common case: no copy
		} else {
			msg = append(msg, fragment...)
		}
		if len(msg) >= 4 {
			if msg[0] != typeClientHello {
				return nil
			}
			if l := 4 + messageLen(msg); len(msg) >= l {
				return msg[:l:l]
			}
		}
	}
	return nil
}

// messageLen is the body length in a handshake message's header.
func messageLen(h []byte) int {
	return int(h[1])<<16 | int(h[2])<<8 | int(h[3])
}
