// Package bufpool keeps byte buffers for reuse, so that a connection holds a
// buffer only while it has bytes to parse or to send.
package bufpool

import "sync"

// Pool hands out buffers of one size. The zero value is not usable; create
// one with New.
type Pool struct {
	size int
	p    sync.Pool
}

// New returns a pool of buffers of size bytes.
func New(size int) *Pool {
	return &Pool{size: size}
}

// Size is the length of the buffers the pool hands out.
func (p *Pool) Size() int { return p.size }

// Get returns a buffer of p.Size() bytes (its contents are unspecified).
func (p *Pool) Get() *[]byte {
	if b, ok := p.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, p.size)
	return &b
}

// Put returns a buffer taken from Get. Buffers of another size are dropped.
func (p *Pool) Put(b *[]byte) {
	if b == nil || cap(*b) != p.size {
		return
	}
	*b = (*b)[:p.size]
	p.p.Put(b)
}
