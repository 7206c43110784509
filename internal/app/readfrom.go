package app

import (
	"io"
	"io/fs"
	"sync"
	"syscall"
)

// copyBufPool holds the buffers ReadFrom copies through when the body
// does not fit the exchange's own buffer.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyBufSize is the size of ReadFrom's copy buffers; the rest of a file
// that fits one is copied rather than sent with sendfile: it then goes
// out with the head and the first bytes in one write, which costs less
// than a write and a sendfile (a 10 KB file: about a fifth less CPU per
// request).
const copyBufSize = 32 << 10

// FileSender is implemented by a Stream that can send a file's bytes
// without copying them through user space (sendfile on a TCP or Unix
// socket without TLS).
type FileSender interface {
	// CanSendFile reports whether SendFile can send on this stream's
	// connection at all.
	CanSendFile() bool

	// SendFile sends n bytes of f from offset off as response body bytes,
	// leaving f's own offset alone (the file may be shared); handled is
	// false when the stream cannot, having sent nothing.
	SendFile(f syscall.Conn, off, n int64) (sent int64, handled bool, err error)
}

// file is what sendfile needs of a file: its descriptor, its size, its
// offset. *os.File has them, and so has what io.Copy hands ReadFrom when
// it copies from one (os.File.WriteTo's wrapper).
type file interface {
	syscall.Conn
	io.Seeker
	Stat() (fs.FileInfo, error)
}

// ReadFrom copies r into the response body until EOF, as io.Copy does
// for a ResponseWriter. The first bytes fill the exchange's buffer, so
// that a small body gets a Content-Length and goes out with the head in
// one write; the rest of a file (*os.File, or an *io.SectionReader or
// *io.LimitedReader over one) larger than copyBufSize is sent with
// sendfile where the protocol can; such a file is sent whole with
// sendfile right after the head.
func (ex *Exchange) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	fs, canSend := ex.s.(FileSender)
	canSend = canSend && fs.CanSendFile()
	if canSend && !ex.committed && len(ex.pend) == 0 && mayBeLargeFile(r) {
		// A file too large to copy: the head goes alone, then the whole
		// file with sendfile. Sending the head with the file's first
		// bytes copied, as smaller bodies go, made the kernel's sendfile
		// cost far more (1 MB files: 185 against 110 us of CPU per
		// request).
		n, handled, err := ex.sendFile(fs, r)
		if handled {
			return n, err
		}
		canSend = false // it would not be handled later either
	}
	for !ex.committed && len(ex.pend) < cap(ex.pend) {
		n, err := r.Read(ex.pend[len(ex.pend):cap(ex.pend)])
		if n > 0 {
			if werr := ex.checkWrite(n); werr != nil {
				return total, werr
			}
			ex.pend = ex.pend[:len(ex.pend)+n]
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	if canSend {
		if n, handled, err := ex.sendFile(fs, r); handled {
			return total + n, err
		}
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := ex.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// sendFile sends the rest of r with the stream's sendfile when r is a
// file, and advances r past what was sent.
func (ex *Exchange) sendFile(fs FileSender, r io.Reader) (int64, bool, error) {
	if m := atMost(r); m >= 0 && m <= copyBufSize {
		return 0, false, nil // copied, without a stat of the file
	}
	f, off, n, advance := fileRange(r)
	if f == nil || n <= copyBufSize {
		return 0, false, nil
	}
	if ex.declaredLen >= 0 && ex.written+n > ex.declaredLen || ex.contentRefused() {
		return 0, false, nil // the copy path reports the overflow, or refuses the bytes
	}
	if err := ex.checkWrite(0); err != nil {
		return 0, true, err
	}
	if !ex.committed {
		if ra, ok := f.(io.ReaderAt); ok && ex.std != nil {
			ex.std.sniffFile(ra, off) // its bytes never pass through ex.pend
		}
		ex.commit(false)
	}
	if len(ex.pend) > 0 {
		err := ex.s.WriteBody(ex.pend, nil)
		ex.pend = ex.pend[:0]
		if err != nil {
			return 0, true, err
		}
	}
	sent, handled, err := fs.SendFile(f, off, n)
	if !handled {
		return 0, false, nil
	}
	ex.written += sent
	advance(sent)
	return sent, true, err
}

// mayBeLargeFile reports whether r may be a file with more than
// copyBufSize bytes to give: a reader over a file that says so without a
// system call, or a file whose size is not known yet.
func mayBeLargeFile(r io.Reader) bool {
	if m := atMost(r); m >= 0 {
		return m > copyBufSize
	}
	_, ok := r.(file)
	return ok
}

// atMost is how many bytes r can give at most, from what it knows without
// a system call; -1: no bound.
func atMost(r io.Reader) int64 {
	switch r := r.(type) {
	case *io.SectionReader:
		pos, _ := r.Seek(0, io.SeekCurrent)
		return r.Size() - pos
	case *io.LimitedReader:
		return r.N
	}
	return -1
}

// fileRange finds the file under r, the range of it r would read, and
// how to move r past bytes sent for it; f is nil for any other reader.
func fileRange(r io.Reader) (f syscall.Conn, off, n int64, advance func(int64)) {
	size := func(f file) int64 {
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		return fi.Size()
	}
	switch r := r.(type) {
	case *io.SectionReader:
		outer, base, length := r.Outer()
		file, ok := outer.(file)
		if !ok {
			return nil, 0, 0, nil
		}
		pos, _ := r.Seek(0, io.SeekCurrent)
		return file, base + pos, min(length-pos, size(file)-base-pos), func(m int64) { r.Seek(m, io.SeekCurrent) }
	case *io.LimitedReader:
		file, ok := r.R.(file)
		if !ok {
			return nil, 0, 0, nil
		}
		pos, err := file.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, 0, 0, nil
		}
		return file, pos, min(r.N, size(file)-pos), func(m int64) {
			file.Seek(m, io.SeekCurrent)
			r.N -= m
		}
	case file:
		pos, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, 0, 0, nil
		}
		return r, pos, size(r) - pos, func(m int64) { r.Seek(m, io.SeekCurrent) }
	}
	return nil, 0, 0, nil
}
