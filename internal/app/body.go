package app

import (
	"errors"
	"io"
	"net/http"
	"os"
)

// Body is the request body as the handler reads it: the protocol's
// decoded bytes under the request's size limit. Reading past the limit
// fails with an *http.MaxBytesError and the request is answered with 413,
// as Kestrel does; a Content-Length over the limit fails before any byte
// is read (and before 100 Continue is sent).
type Body struct {
	ex      *Exchange
	limit   int64 // < 0: unlimited
	read    int64 // bytes delivered so far
	started bool  // the handler has read (so the limit is fixed)
	eof     bool
	err     error
}

// Read reads body bytes.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	ex := b.ex
	if !b.started {
		b.started = true
		if ex.hijacked {
			return 0, http.ErrHijacked
		}
		if b.limit >= 0 && ex.Req.ContentLength > b.limit {
			return 0, b.tooLarge()
		}
		// The protocol sends 100 Continue on the first read if the
		// client asked for it and the head is not out: an empty read,
		// under the lock the head and 1xx writes hold.
		ex.headMu.Lock()
		_, err := ex.s.ReadBody(p[:0])
		ex.headMu.Unlock()
		if err != nil && err != io.EOF {
			return 0, b.fail(err)
		}
	}
	n, err := ex.s.ReadBody(p)
	b.read += int64(n)
	if b.limit >= 0 && b.read > b.limit {
		return 0, b.tooLarge()
	}
	switch {
	case err == nil:
	case err == io.EOF:
		b.eof = true
	case ex.Req.Tunnel && errors.Is(err, os.ErrDeadlineExceeded):
		// An extended CONNECT's stream is a net.Conn (tunnelConn): a
		// read past its deadline may be tried again once the deadline
		// moves, so the timeout is not kept.
	default:
		err = b.fail(err)
	}
	return n, err
}

// Close is a no-op: the protocol drains or discards what is left.
func (b *Body) Close() error { return nil }

func (b *Body) tooLarge() error {
	b.ex.rejected = ErrBodyTooLarge
	b.err = &http.MaxBytesError{Limit: b.limit}
	return b.err
}

// fail makes err the answer to every later read; an error the server must
// answer becomes the exchange's rejection.
func (b *Body) fail(err error) error {
	if re, ok := err.(*RequestError); ok {
		b.ex.rejected = re
	} else if err == io.ErrUnexpectedEOF {
		b.ex.rejected = ErrUnexpectedEOF
	}
	b.err = err
	return err
}
