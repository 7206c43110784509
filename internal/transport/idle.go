package transport

import (
	"io"
	"net"

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
