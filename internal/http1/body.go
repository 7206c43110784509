package http1

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"

	"github.com/kestrel-go/kestrel/internal/logevents"
)

// body decodes a request body from the connection: Content-Length or
// chunked framing, and Expect: 100-continue. The application layer's Body
// puts the request's size limit on top.
type body struct {
	ex       *exchange
	chunked  bool
	remain   int64 // bytes left: of the whole body (length) or of the current chunk
	state    uint8 // chunked decoding state
	started  bool  // read at least once (100 Continue sent if asked for)
	eof      bool
	err      error
	trailerN int   // trailer bytes so far
	trailers int   // trailer fields so far
	unread   bool  // RequestBodyNotEntirelyRead was logged
	noWait   bool  // reads stop with errWouldWait rather than wait for the client
	drained  int64 // bytes drain dropped
}

// errWouldWait ends a read that would have to wait for the client while
// the body's noWait is set; unlike other errors, it does not end the body.
var errWouldWait = errors.New("http1: the rest of the body has not arrived")

// States of the chunked decoder.
const (
	chunkSize uint8 = iota
	chunkData
	chunkDataEnd
	chunkTrailer
)

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4096

func (b *body) reset(ex *exchange) {
	*b = body{ex: ex, chunked: ex.Req.Chunked}
	switch {
	case b.chunked:
	case ex.Req.ContentLength > 0:
		b.remain = ex.Req.ContentLength
	default:
		b.eof = true
	}
}

// end marks the body as read to its end.
func (b *body) end() {
	b.eof = true
	b.ex.c.bodyEnded()
}

// done reports whether the whole body has been read.
func (b *body) done() bool { return b.eof }

// drainable reports whether the unread rest of the body is worth reading
// to keep the connection: no more than maxDrain bytes, and none past the
// request's body limit (a body over it closes the connection, as in
// Kestrel).
func (b *body) drainable() bool {
	if b.err != nil || !b.ex.continued || b.drained > b.drainBudget() {
		return false
	}
	if b.chunked {
		return true // tried; drain gives up past maxDrain or the limit
	}
	if limit := b.ex.MaxRequestBodySize(); limit >= 0 && b.ex.Req.ContentLength > limit {
		return false
	}
	return b.remain <= maxDrain
}

// drainBudget is how many bytes drain may drop in all: maxDrain, and no
// more than the request's body limit leaves.
func (b *body) drainBudget() int64 {
	budget := int64(maxDrain)
	if limit := b.ex.MaxRequestBodySize(); limit >= 0 {
		budget = min(budget, limit-b.ex.BodyRead())
	}
	return budget
}

// drain reads and drops the rest of the body, up to maxDrain bytes and
// within the request's body limit, and reports whether the body ended.
// With wait unset it drops only what has arrived, and leaves the rest to
// a later drain; with wait set it flushes the response before it waits
// for the client (fill), so a client that waits for the response before
// it sends the rest gets it at once, as from Kestrel, which drains after
// the response.
func (b *body) drain(wait bool) bool {
	if !b.drainable() {
		return false
	}
	c := b.ex.c
	if wait {
		c.setPhase(phaseHeaders, c.cfg.RequestHeadersTimeout)
		c.drainingBody = true
		defer func() {
			c.drainingBody = false
			c.setPhase(phaseNone, 0)
		}()
	} else {
		b.noWait = true
		defer func() { b.noWait = false }()
	}
	budget := b.drainBudget()
	var scratch [1024]byte
	for !b.eof && b.drained <= budget {
		n, err := b.Read(scratch[:])
		b.drained += int64(n)
		if err == errWouldWait {
			return false
		}
		if err != nil && err != io.EOF {
			if c.phase.Load() == phaseTimedOut {
				logevents.RequestBodyDrainTimedOut(c.cfg.App.Logger, c.info.ID, c.requestID(), c.cfg.RequestHeadersTimeout)
			}
			return false
		}
	}
	return b.eof && b.drained <= budget
}

// logUnread logs, once, that the handler returned without reading the
// whole body, when the server must wait for the client's rest of it (or
// closes the connection without it): Kestrel's RequestBodyNotEntirelyRead.
// A rest the connection had already received is not worth a line, as in
// Kestrel, which first consumes what it has buffered.
func (b *body) logUnread() {
	if b.unread || b.eof || !b.ex.continued {
		return
	}
	b.unread = true
	c := b.ex.c
	if !b.chunked && b.remain <= int64(c.rend-c.rpos) {
		return
	}
	if logevents.RequestBodyNotEntirelyReadEvent.Enabled(c.cfg.App.Logger) {
		logevents.RequestBodyNotEntirelyRead(c.cfg.App.Logger, c.info.ID, c.requestID())
	}
}

// Read reads body bytes. The first read sends 100 Continue when the
// client asked for it and no response has started.
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	ex := b.ex
	if !b.started {
		b.started = true
		if !ex.continued && !ex.Committed() {
			ex.continued = true
			c := ex.c
			c.writeString("HTTP/1.1 100 Continue\r\n\r\n")
			if !c.flush() {
				return 0, b.fail(c.werr)
			}
		}
		ex.continued = true
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.chunked {
		return b.readChunked(p)
	}
	return b.readLength(p)
}

// fail makes err the answer to every later read; a connection that ends
// early is an unexpected EOF.
func (b *body) fail(err error) error {
	if err == errWouldWait {
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	b.err = err
	return err
}

func (b *body) readLength(p []byte) (int, error) {
	c := b.ex.c
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	var n int
	if c.rpos < c.rend {
		n = copy(p, (*c.rbuf)[c.rpos:c.rend])
		c.rpos += n
	} else if len(p) >= readBufferSize/2 {
		// Large reads bypass the buffer.
		var err error
		n, err = c.bodyRead(p)
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, b.fail(err)
		}
	} else {
		if err := b.fill(); err != nil {
			return 0, b.fail(err)
		}
		n = copy(p, (*c.rbuf)[c.rpos:c.rend])
		c.rpos += n
	}
	b.remain -= int64(n)
	if b.remain == 0 {
		b.end()
		return n, io.EOF
	}
	return n, nil
}

func (b *body) readChunked(p []byte) (int, error) {
	c := b.ex.c
	for {
		switch b.state {
		case chunkSize:
			line, err := b.line(maxChunkLine)
			if err != nil {
				return 0, b.fail(err)
			}
			size, ok := parseChunkSize(line)
			if !ok {
				return 0, b.fail(errInvalidChunk)
			}
			if size == 0 {
				b.state = chunkTrailer
			} else {
				b.remain = size
				b.state = chunkData
			}
		case chunkData:
			q := p
			if int64(len(q)) > b.remain {
				q = q[:b.remain]
			}
			if c.rpos == c.rend {
				if err := b.fill(); err != nil {
					return 0, b.fail(err)
				}
			}
			n := copy(q, (*c.rbuf)[c.rpos:c.rend])
			c.rpos += n
			b.remain -= int64(n)
			if b.remain == 0 {
				b.state = chunkDataEnd
				b.consumeChunkEnd()
			}
			return n, nil
		case chunkDataEnd:
			for c.rend-c.rpos < 2 {
				if err := b.fill(); err != nil {
					return 0, b.fail(err)
				}
			}
			if (*c.rbuf)[c.rpos] != '\r' || (*c.rbuf)[c.rpos+1] != '\n' {
				return 0, b.fail(errInvalidChunk)
			}
			c.rpos += 2
			b.state = chunkSize
		case chunkTrailer:
			limit := c.cfg.MaxRequestHeadersTotalSize - b.trailerN
			line, err := b.line(limit)
			if err == errChunkLineTooLong {
				err = errTrailersTooLarge
			}
			if err != nil {
				return 0, b.fail(err)
			}
			b.trailerN += len(line) + 2
			if len(line) == 0 {
				b.end()
				return 0, io.EOF
			}
			// The trailer section has the limits of a head: its bytes
			// (not counting the empty line that ends it) and its fields.
			if b.trailers++; b.trailers > c.cfg.MaxRequestHeaderCount {
				return 0, b.fail(errTooManyTrailers)
			}
			if err := b.trailerField(line); err != nil {
				return 0, b.fail(err)
			}
		}
	}
}

// consumeChunkEnd takes the CRLF after a chunk's data, and the last chunk
// and an empty trailer after it, when they are already buffered, so the
// body reports its end with its last bytes.
func (b *body) consumeChunkEnd() {
	c := b.ex.c
	rest := (*c.rbuf)[c.rpos:c.rend]
	if len(rest) >= 2 && rest[0] == '\r' && rest[1] == '\n' {
		c.rpos += 2
		b.state = chunkSize
		if bytes.HasPrefix(rest[2:], []byte("0\r\n\r\n")) {
			c.rpos += 5
			b.end()
		}
	}
}

// trailerField parses one trailer field line into the trailer header.
func (b *body) trailerField(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !validToken(line[:colon]) {
		return errInvalidHeaderName
	}
	value := bytes.Trim(line[colon+1:], " \t")
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return errInvalidHeaderValue
		}
	}
	if b.ex.WantsRequestTrailers() {
		b.ex.AddRequestTrailer(textproto.CanonicalMIMEHeaderKey(string(line[:colon])), string(value))
	}
	return nil
}

// line returns the next CRLF-terminated line, without its CRLF, reading
// more as needed; a line longer than max is errChunkLineTooLong.
func (b *body) line(max int) ([]byte, error) {
	c := b.ex.c
	scanned := 0
	for {
		buf := (*c.rbuf)[c.rpos:c.rend]
		if i := bytes.IndexByte(buf[scanned:], '\n'); i >= 0 {
			i += scanned
			if i-1 > max {
				return nil, errChunkLineTooLong
			}
			if i == 0 || buf[i-1] != '\r' {
				return nil, errInvalidChunk
			}
			c.rpos += i + 1
			return buf[:i-1], nil
		}
		scanned = len(buf)
		if scanned > max {
			return nil, errChunkLineTooLong
		}
		if err := b.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes after the buffered ones, keeping the request head
// in place: consumed body bytes are dropped to make room, and a buffer
// with too little room after the head is swapped for a large one.
func (b *body) fill() error {
	c := b.ex.c
	ex := b.ex
	headEnd := ex.base + ex.flags.size
	buf := *c.rbuf
	if c.rend == len(buf) {
		if c.rpos > headEnd {
			c.rend = headEnd + copy(buf[headEnd:], buf[c.rpos:c.rend])
			c.rpos = headEnd
		}
		if c.rend == len(buf) && len(buf) >= c.cfg.headPool.Size() && ex.base == 0 {
			// The head fills so much of the largest pooled buffer that a
			// line the body may still have (a chunk-size line, or a
			// trailer line within the trailer limit) does not fit after
			// it: a buffer of its own holds the head and the longest such
			// line. line() refuses longer lines before this fills up.
			size := headEnd + max(maxChunkLine, c.cfg.MaxRequestHeadersTotalSize) + 2 + readBufferSize
			if len(buf) >= size {
				return errInvalidChunk // unreachable: line() bounds the line
			}
			big := make([]byte, size)
			copy(big, buf[:c.rend])
			c.cfg.putRead(c.rbuf) // a pooled buffer goes back; this one is dropped later
			c.rbuf = &big
			ex.syncHead()
			buf = big
		}
		if c.rend == len(buf) {
			big := c.cfg.headPool.Get()
			if len(buf) >= len(*big) {
				c.cfg.headPool.Put(big)
				// Already large: make room by moving the head to the front.
				copy(buf, buf[ex.base:c.rend])
			} else {
				copy(*big, buf[ex.base:c.rend])
				c.cfg.putRead(c.rbuf)
				c.rbuf = big
			}
			c.rpos -= ex.base
			c.rend -= ex.base
			ex.base = 0
			ex.syncHead()
			buf = *c.rbuf
		}
	}
	if b.noWait {
		return errWouldWait
	}
	if c.drainingBody {
		c.flush() // the response goes out before the server waits for the client
	}
	n, err := c.bodyRead(buf[c.rend:])
	c.rend += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseChunkSize parses "chunk-size [ chunk-ext ]" (RFC 9112, section
// 7.1.1): hex digits, then extensions, each ";" name [ "=" value ] with
// optional whitespace around the separators, a token name and a token or
// quoted-string value. Extensions are checked and otherwise ignored.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for i < len(line) && line[i] == '0' {
		i++ // leading zeros are valid however many there are
	}
	digits := i
	for ; i < len(line) && isHex(line[i]); i++ {
		if i-digits >= 15 {
			return 0, false // would overflow
		}
		n = n<<4 | int64(unhex(line[i]))
	}
	if i == 0 {
		return 0, false
	}
	return n, validParams(line[i:], false)
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
