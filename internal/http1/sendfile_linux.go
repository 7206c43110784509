package http1

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// CanSendFile reports whether SendFile can send on this connection: a
// TCP or Unix socket, not TLS, not wrapped for logging. A connection that
// only restates the socket's addresses (a PROXY protocol connection) says
// so with a Socket method.
func (ex *exchange) CanSendFile() bool {
	nc := ex.c.nc
	if s, ok := nc.(interface{ Socket() net.Conn }); ok {
		nc = s.Socket()
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return ex.c.sock != nil
	}
	return false
}

// SendFile sends n bytes of f from off in the response's framing with
// sendfile(2): the bytes go from the page cache to the socket without
// passing through user space. It is not handled under TLS (the bytes must
// be encrypted) or when the connection exposes no socket.
func (ex *exchange) SendFile(f syscall.Conn, off, n int64) (int64, bool, error) {
	c := ex.c
	if !ex.CanSendFile() || ex.mode == modeNone {
		return 0, false, nil
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	if ex.mode == modeChunked {
		c.writeInt(n, 16)
		c.writeString("\r\n")
	}
	if !c.flush() {
		return 0, true, c.werr
	}
	var sent, timed int64 // timed: what was sent when a wait was last timed
	var ferr error
	timing := false
	// The file's descriptor is taken for each burst of sendfile calls and
	// given back before waiting for the socket: the file may be shared by
	// other responses (an open file cached across requests), and holding
	// it while a slow client's socket fills would make all of them wait
	// for that client.
	werr := c.sock.Write(func(outfd uintptr) bool {
		blocked := false
		ferr = fc.Read(func(infd uintptr) bool {
			for sent < n {
				m, err := unix.Sendfile(int(outfd), int(infd), &off, int(min(n-sent, 1<<30)))
				if m > 0 {
					sent += int64(m)
				}
				switch {
				case err == unix.EAGAIN:
					blocked = true
					return true
				case err == unix.EINTR:
				case err != nil:
					c.werr = err
					return true
				case m == 0:
					c.werr = errFileShrank
					return true
				}
			}
			return true
		})
		if !blocked || ferr != nil {
			return true
		}
		// The socket is full: wait until it is writable, then call again.
		// The wait is timed against the minimum response data rate for
		// the bytes this burst put in the socket, as Kestrel times each
		// flush, not for the whole file at once (at 240 bytes/s, hours
		// for a few megabytes, which let a client that reads nothing hold
		// the connection). A wake-up that sent nothing keeps the time the
		// last burst was given.
		if burst := sent - timed; burst > 0 || !timing {
			c.startWrite(int(min(burst, 1<<30)))
			timed, timing = sent, true
		}
		return false
	})
	if werr != nil && c.werr == nil {
		c.werr = werr
	}
	c.endWrite()
	c.cfg.SentFile.Add(sent)
	if ferr != nil && c.werr == nil {
		c.werr = ferr
	}
	if c.werr == nil && ex.mode == modeChunked {
		c.writeString("\r\n")
	}
	return sent, true, c.werr
}
