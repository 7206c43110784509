package transport

import (
	"errors"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Parker holds idle connections without a goroutine each: their sockets
// wait in an epoll set, and a connection is handed back (wake is called on
// a new goroutine's behalf) when its socket becomes readable. A goroutine
// costs its stack, which grows while it serves a request and never shrinks
// back; a parked connection costs only its bookkeeping.
type Parker struct {
	epfd int
	evfd int // wakes the poller to stop it

	mu     sync.Mutex
	parked map[int32]func()
	closed bool
	done   chan struct{}
}

// NewParker starts a parker.
func NewParker() (*Parker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	p := &Parker{epfd: epfd, evfd: evfd, parked: make(map[int32]func()), done: make(chan struct{})}
	go p.run()
	return p, nil
}

var errParkerClosed = errors.New("parker closed")

// Park registers rc's socket; wake is called (on the parker's goroutine,
// so it must not block) once the socket is readable, unless Unpark is
// called first.
func (p *Parker) Park(rc syscall.RawConn, wake func()) error {
	return p.register(rc, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLONESHOT, wake)
}

// Watch registers rc's socket of a connection that is busy (its handler
// runs); gone is called (on the parker's goroutine, so it must not block)
// once the peer closes or resets the connection, unless Unpark is called
// first. Bytes arriving do not count: a pipelined request is not a close.
func (p *Parker) Watch(rc syscall.RawConn, gone func()) error {
	return p.register(rc, unix.EPOLLRDHUP|unix.EPOLLONESHOT, gone)
}

func (p *Parker) register(rc syscall.RawConn, events uint32, fn func()) error {
	var fd int32 = -1
	if err := rc.Control(func(f uintptr) { fd = int32(f) }); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errParkerClosed
	}
	p.parked[fd] = fn
	ev := unix.EpollEvent{Events: events, Fd: fd}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		delete(p.parked, fd)
		return err
	}
	return nil
}

// Unpark removes rc's socket, parked or watched, before it is closed or
// served again.
func (p *Parker) Unpark(rc syscall.RawConn) {
	rc.Control(func(f uintptr) {
		p.mu.Lock()
		if _, ok := p.parked[int32(f)]; ok {
			delete(p.parked, int32(f))
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(f), nil)
		}
		p.mu.Unlock()
	})
}

func (p *Parker) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.evfd) {
				return
			}
			p.mu.Lock()
			wake, ok := p.parked[ev.Fd]
			if ok {
				delete(p.parked, ev.Fd)
				unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			}
			p.mu.Unlock()
			if ok {
				wake()
			}
		}
	}
}

// Close stops the parker. Connections still parked are not woken; their
// owner closes them.
func (p *Parker) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(p.evfd, one[:])
	<-p.done
	unix.Close(p.evfd)
	return unix.Close(p.epfd)
}
