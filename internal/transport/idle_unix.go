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
type IdleReader struct {
	conn net.Conn
	rc   syscall.RawConn // nil when the connection has no file descriptor
}

// NewIdleReader returns an IdleReader for c. When c does not expose its file
// descriptor (syscall.Conn), reads fall back to c.Read with a buffer taken
// up front.
func NewIdleReader(c net.Conn) IdleReader {
	r := IdleReader{conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
		}
	}
	return r
}

// Read waits until the connection is readable, then reads into a buffer
// taken from pool. It returns that buffer and the byte count; when nothing
// was read (an error or end of stream) the buffer goes back to the pool and
// Read returns nil. The connection's read deadline applies to the wait.
func (r IdleReader) Read(pool *bufpool.Pool) (*[]byte, int, error) {
	if r.rc == nil {
		return readWith(r.conn, pool)
	}
	var (
		buf  *[]byte
		n    int
		rerr error
	)
	err := r.rc.Read(func(fd uintptr) bool {
		buf = pool.Get()
		for {
			n, rerr = syscall.Read(int(fd), *buf)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			pool.Put(buf)
			buf = nil
			return false // wait for readiness, then call again
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		pool.Put(buf)
		return nil, 0, err
	}
	return buf, n, nil
}
