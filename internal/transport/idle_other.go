//go:build !unix

package transport

import (
	"net"
	"syscall"

	"github.com/kestrel-go/kestrel/internal/bufpool"
)

// IdleReader reads the first bytes of a connection's next request. On this
// platform it cannot wait for readiness without a buffer, so it takes one up
// front and blocks in Read.
type IdleReader struct {
	conn net.Conn
}

// Init prepares r to read from c.
func (r *IdleReader) Init(c net.Conn) { r.conn = c }

// Read reads into a buffer taken from pool and returns it with the byte
// count; when nothing was read the buffer goes back to the pool.
func (r *IdleReader) Read(pool *bufpool.Pool) (*[]byte, int, error) {
	return readWith(r.conn, pool)
}

// RawConn is nil on this platform.
func (r *IdleReader) RawConn() syscall.RawConn { return nil }
