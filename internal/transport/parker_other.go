//go:build !linux

package transport

import (
	"errors"
	"syscall"
)

// Parker would hold idle connections without a goroutine each; this system
// has no implementation, and idle connections keep theirs.
type Parker struct{}

// NewParker reports that parking is not available here.
func NewParker() (*Parker, error) {
	return nil, errors.New("connection parking is not available on this system")
}

// Park is never called on this system.
func (p *Parker) Park(rc syscall.RawConn, wake func()) error { return errors.New("not available") }

// Watch is never called on this system.
func (p *Parker) Watch(rc syscall.RawConn, gone func()) error { return errors.New("not available") }

// Unpark is never called on this system.
func (p *Parker) Unpark(rc syscall.RawConn) {}

// Close does nothing.
func (p *Parker) Close() error { return nil }
