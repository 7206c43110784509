//go:build unix

package transport

import (
	"io"
	"net"
	"syscall"

	"github.com/kestrel-go/kestrel/internal/bufpool"
)

// IdleReader reads the first bytes of a connection's next request without
// holding a buffer while the connection is idle: it waits in the runtime's
// network poller and takes a buffer only when the socket is readable.
// Initialise it in place with Init; it must not be copied afterwards.
type IdleReader struct {
	conn net.Conn
	rc   syscall.RawConn // nil when the connection has no file descriptor
	fn   func(fd uintptr) bool

	// State of the read in progress, kept here so that a read allocates
	// nothing.
	pool *bufpool.Pool
	buf  *[]byte
	n    int
	err  error
}

// Init prepares r to read from c. When c does not expose its file
// descriptor (syscall.Conn), reads fall back to c.Read with a buffer taken
// up front.
func (r *IdleReader) Init(c net.Conn) {
	*r = IdleReader{conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
			r.fn = r.readReady
		}
	}
}

// readReady is called by the poller; it reports false to wait for
// readiness.
func (r *IdleReader) readReady(fd uintptr) bool {
	r.buf = r.pool.Get()
	for {
		r.n, r.err = syscall.Read(int(fd), *r.buf)
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		r.pool.Put(r.buf)
		r.buf = nil
		return false
	}
	return true
}

// Read waits until the connection is readable, then reads into a buffer
// taken from pool. It returns that buffer and the byte count; when nothing
// was read (an error or end of stream) the buffer goes back to the pool and
// Read returns nil. The connection's read deadline applies to the wait.
func (r *IdleReader) Read(pool *bufpool.Pool) (*[]byte, int, error) {
	if r.rc == nil {
		return readWith(r.conn, pool)
	}
	r.pool = pool
	err := r.rc.Read(r.fn)
	buf, n := r.buf, r.n
	if err == nil {
		err = r.err
	}
	r.pool, r.buf, r.n, r.err = nil, nil, 0, nil
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		pool.Put(buf)
		return nil, 0, err
	}
	return buf, n, nil
}

// RawConn is the connection's raw descriptor access, or nil.
func (r *IdleReader) RawConn() syscall.RawConn { return r.rc }
