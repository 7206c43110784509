package grpcserver

import (
	"encoding/base64"
	"encoding/binary"
	"io"

	"google.golang.org/grpc/status"

	"github.com/kestrel-go/kestrel/internal/httpsyntax"
)

// gRPC-Web (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md)
// carries the status and trailers in the body, as a frame whose flag byte
// has the 0x80 bit set and whose payload is the trailer fields as HTTP/1
// header lines; the text variant encodes both bodies in base64.

// writeWebTrailers writes the trailer frame; c.mu is held. Its fields
// are held to the rules of the fields of an HTTP head, as the server
// holds the trailers-only answer's: a name that is not a token is left
// out, and control bytes in a value (CR and LF among them) become
// spaces, so that a value cannot add lines to the block.
func (c *call) writeWebTrailers(st *status.Status) {
	bp := getBuf(0)
	defer putBuf(bp)
	b := append((*bp)[:0], 0x80, 0, 0, 0, 0)
	add := func(name, value string) {
		if !httpsyntax.ValidToken(name) {
			return
		}
		b = append(b, name...)
		b = append(b, ':', ' ')
		n := len(b)
		b = append(b, value...)
		for i := n; i < len(b); i++ {
			if httpsyntax.ControlByte(b[i]) {
				b[i] = ' '
			}
		}
		b = append(b, '\r', '\n')
	}
	c.statusFields(st, add)
	appendMD(c.trailer, add)
	binary.BigEndian.PutUint32(b[1:5], uint32(len(b)-5))
	if c.text {
		c.writeText(b)
	} else {
		c.t.write(b)
	}
	*bp = b[:0]
}

// writeText writes b in base64, padded: each frame is a whole number of
// base64 quanta, which the clients decode as they arrive.
func (c *call) writeText(b []byte) error {
	bp := getBuf(base64.StdEncoding.EncodedLen(len(b)))
	defer putBuf(bp)
	out := base64.StdEncoding.AppendEncode((*bp)[:0], b)
	*bp = out[:0]
	return c.t.write(out)
}

// base64Reader decodes a grpc-web-text request body: base64, where each
// chunk the client wrote may end with padding.
type base64Reader struct {
	r    io.Reader
	quad [4]byte
	nq   int
	raw  [1024]byte
	dec  []byte // decoded bytes not yet read
	err  error
}

func newBase64Reader(r io.Reader) *base64Reader { return &base64Reader{r: r} }

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.dec) == 0 {
		if b.err != nil {
			if b.err == io.EOF && b.nq != 0 {
				return 0, errBase64
			}
			return 0, b.err
		}
		n, err := b.r.Read(b.raw[:])
		b.dec = b.dec[:0]
		for _, ch := range b.raw[:n] {
			switch ch {
			case ' ', '\t', '\r', '\n':
				continue
			}
			b.quad[b.nq] = ch
			b.nq++
			if b.nq == 4 {
				b.nq = 0
				var out [3]byte
				m, derr := base64.StdEncoding.Decode(out[:], b.quad[:])
				if derr != nil {
					b.err = errBase64
					return 0, b.err
				}
				b.dec = append(b.dec, out[:m]...)
			}
		}
		b.err = err
	}
	n := copy(p, b.dec)
	b.dec = b.dec[n:]
	return n, nil
}
