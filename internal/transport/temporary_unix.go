//go:build unix

package transport

import (
	"errors"
	"syscall"
)

// isTemporary reports whether an accept error is worth retrying: running out
// of file descriptors or kernel memory, or a connection aborted before it
// was accepted.
func isTemporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}
