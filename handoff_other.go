//go:build !unix

package kestrel

import (
	"errors"
	"net"
	"os"
)

func socketFile(any, net.Addr) (*os.File, error) {
	return nil, errors.New("passing listening sockets to another process is not supported on this platform")
}
