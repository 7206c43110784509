package transport

import (
	"io"
	"net"
	"syscall"

	"github.com/kestrel-go/kestrel/internal/bufpool"
)

// readWith is the portable read: it takes a buffer before blocking in Read.
func readWith(c net.Conn, pool *bufpool.Pool) (*[]byte, int, error) {
	buf := pool.Get()
	n, err := c.Read(*buf)
	if n > 0 {
		return buf, n, nil
	}
	pool.Put(buf)
	if err == nil {
		err = io.ErrNoProgress
	}
	return nil, 0, err
}

// RawConnOf returns the raw descriptor access of the socket under nc,
// looking through wrappers such as *tls.Conn (their NetConn method), or
// nil when there is none.
func RawConnOf(nc net.Conn) syscall.RawConn {
	for {
		if sc, ok := nc.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
}

// SetLingerZero makes closing nc (looking through wrappers such as
// *tls.Conn) reset the connection rather than close it in order, so that
// unsent bytes are dropped rather than kept for a client that does not
// read them.
func SetLingerZero(nc net.Conn) {
	for {
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetLinger(0)
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}
