package http2

import (
	"strconv"

	"golang.org/x/net/http2/hpack"
)

// fieldCacheSize is how many encoded response fields a connection
// remembers besides its Date and Content-Length.
const fieldCacheSize = 8

// encodedField is the HPACK encoding of one response field, as the
// connection's encoder produced it. It stays right for as long as the
// encoder's dynamic table is unchanged (gen), since it is either an index
// into that table or the static one, or a literal that names a static
// entry and is never indexed.
type encodedField struct {
	name, value string
	gen         uint64
	enc         []byte
}

// fieldCache remembers the encodings of the fields a connection sends
// response after response (Content-Type, Server, Date, Content-Length,
// :status), so that the next response copies their bytes instead of
// searching the encoder's tables again: the HPACK encoder is
// golang.org/x/net/http2/hpack's; only its output is kept.
type fieldCache struct {
	// gen counts the changes to the encoder's dynamic table (insertions,
	// evictions and size updates, which always come with the encoding of
	// a field) that may have moved its entries: an encoding made in
	// another generation is not used.
	gen    uint64
	fields [fieldCacheSize]encodedField
	next   int
	date   encodedField
	length int64 // the Content-Length whose encoding is in lengthEnc
	lenEnc encodedField
}

// lookup appends the remembered encoding of name: value to the
// connection's encoding buffer and reports whether there was one.
func lookup[N, V string | []byte](c *Conn, name N, value V) bool {
	fc := &c.fieldCache
	for i := range fc.fields {
		f := &fc.fields[i]
		if f.gen == fc.gen && len(f.enc) > 0 && f.name == string(name) && f.value == string(value) {
			c.encBuf = append(c.encBuf, f.enc...)
			return true
		}
	}
	return false
}

// writeField encodes f and, when its encoding can be used again, keeps it
// in slot (nil: the next one of the ring).
func (c *Conn) writeField(f hpack.HeaderField, slot *encodedField) {
	start := len(c.encBuf)
	if start > 0 && f.Size() > DefaultHeaderTableSize {
		// Too large for the encoder's dynamic table (never larger than
		// the default), so it would write a literal without indexing,
		// through a buffer of its own that it keeps at the size of the
		// largest field it ever encoded. A new encoder, whose empty
		// table of the default size does not take the field either,
		// writes the same literal, and its buffer goes with it. Not for
		// a block's first field, which may have to follow a dynamic
		// table size update that the connection's encoder has yet to
		// write.
		hpack.NewEncoder(encWriter{c}).WriteField(f)
		return
	}
	c.enc.WriteField(f)
	out := c.encBuf[start:]
	fc := &c.fieldCache
	switch {
	case len(out) == 0:
		return
	case out[0]&0x80 != 0, out[0]&0xf0 == 0x10:
		// Indexed (RFC 7541, 6.1), or a literal never indexed (6.2.3):
		// the table did not change.
	case out[0]&0xf0 == 0x00:
		return // a literal not indexed: kept only when never indexed
	default:
		// A literal added to the table (6.2.1), or a size update (6.3)
		// before the field: the table's entries moved.
		fc.gen++
		return
	}
	if slot == nil {
		slot = &fc.fields[fc.next]
		fc.next = (fc.next + 1) % len(fc.fields)
	}
	slot.name, slot.value, slot.gen = f.Name, f.Value, fc.gen
	slot.enc = append(slot.enc[:0], out...)
}

// tableChanged invalidates every remembered encoding: the encoder will
// begin its next header block with a dynamic table size update.
func (c *Conn) tableChanged() { c.fieldCache.gen++ }

// writeDate encodes the Date field, never indexed: it changes every
// second.
func (c *Conn) writeDate(date string) {
	d := &c.fieldCache.date
	if d.gen == c.fieldCache.gen && len(d.enc) > 0 && d.value == date {
		c.encBuf = append(c.encBuf, d.enc...)
		return
	}
	c.writeField(hpack.HeaderField{Name: "date", Value: date, Sensitive: true}, d)
}

// writeLength encodes the Content-Length field, never indexed: it changes
// from response to response.
func (c *Conn) writeLength(length int64) {
	fc := &c.fieldCache
	if l := &fc.lenEnc; l.gen == fc.gen && len(l.enc) > 0 && fc.length == length {
		c.encBuf = append(c.encBuf, l.enc...)
		return
	}
	fc.length = length
	fc.lenEnc.enc = fc.lenEnc.enc[:0] // not valid until written
	c.writeField(hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(length, 10), Sensitive: true}, &fc.lenEnc)
}
