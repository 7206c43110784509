package app

import (
	"io"
	"sync"
)

// copyBufPool holds the buffers ReadFrom copies through when the body
// does not fit the exchange's own buffer.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// ReadFrom copies r into the response body until EOF, as io.Copy does
// for a ResponseWriter.
func (ex *Exchange) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	// Fill the exchange's own buffer first: a small body still gets a
	// Content-Length, as with Write.
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
