package app

import "bytes"

// Span is a byte range of a request head's buffer. Offsets rather than
// slices keep a head valid when a protocol moves its bytes to a larger
// buffer.
type Span struct{ Start, End int32 }

// Of returns the span's bytes in b.
func (s Span) Of(b []byte) []byte { return b[s.Start:s.End] }

// Len is the span's length.
func (s Span) Len() int { return int(s.End - s.Start) }

// AppendSpan appends s to buf and returns buf with the span of s in it.
func AppendSpan(buf []byte, s string) ([]byte, Span) {
	start := int32(len(buf))
	buf = append(buf, s...)
	return buf, Span{Start: start, End: int32(len(buf))}
}

// Field is one request header field.
type Field struct{ Name, Value Span }

// TargetForm is the form of a request target (RFC 9112, section 3.2).
type TargetForm uint8

// The forms of a request target. HTTP/2 and HTTP/3 requests have the
// origin form (or the asterisk form for OPTIONS *) in :path, and the
// authority form for CONNECT.
const (
	OriginForm TargetForm = iota
	AbsoluteForm
	AuthorityForm
	AsteriskForm
)

// Head is a request's head as a protocol parsed it: spans of Buf, which
// the protocol keeps pointing at the bytes while the request is served.
type Head struct {
	Buf []byte

	Method, Target Span
	Form           TargetForm

	// Host is the Host header (HTTP/1) or :authority (HTTP/2 and HTTP/3);
	// HostCount is how many there were.
	Host      Span
	HostCount int

	Fields []Field

	ProtoMajor, ProtoMinor uint8

	// ContentLength is the declared body length, -1 when there is none.
	ContentLength int64
	// Chunked marks an HTTP/1.1 chunked body; UnknownLength a body of
	// unknown length in another protocol (no content-length, not ended).
	Chunked, UnknownLength bool
	// StreamOpen: an HTTP/2 or HTTP/3 request whose stream did not end
	// with its head, so DATA or a trailer section may follow, even with a
	// content-length of 0.
	StreamOpen bool
	// TrailerDeclared: the request has a Trailer header.
	TrailerDeclared bool

	// Close: the connection closes after this request (HTTP/1.x:
	// Connection: close, or HTTP/1.0 without keep-alive).
	Close bool

	// Tunnel marks an extended CONNECT request (HTTP/2, RFC 8441; HTTP/3,
	// RFC 9220): its :protocol is the field ":protocol" among Fields, its
	// target the origin form of :path, and its body and response body
	// are the tunnel's two directions (a WebSocket's bytes).
	Tunnel bool
}

// HasBody reports whether the request has a body to read: a body, or an
// open HTTP/2 or HTTP/3 stream whose end (and trailers) is still to come.
func (h *Head) HasBody() bool {
	return h.Chunked || h.UnknownLength || h.ContentLength > 0 || h.StreamOpen
}

// TargetBytes is the request target as sent.
func (h *Head) TargetBytes() []byte { return h.Target.Of(h.Buf) }

// PathBytes is the target's path (without the query), "*" for OPTIONS *,
// and the authority for CONNECT.
func (h *Head) PathBytes() []byte {
	t := h.TargetBytes()
	if h.Form == AbsoluteForm {
		i := bytes.Index(t, []byte("://")) + 3
		j := bytes.IndexAny(t[i:], "/?")
		if j < 0 {
			return []byte("/")
		}
		t = t[i+j:]
		if t[0] == '?' {
			return []byte("/")
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[:i]
	}
	return t
}

// QueryBytes is the target's query, without the '?'.
func (h *Head) QueryBytes() []byte {
	t := h.TargetBytes()
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[i+1:]
	}
	return nil
}

// Proto is the request's protocol name, such as "HTTP/1.1".
func (h *Head) Proto() string {
	switch {
	case h.ProtoMajor == 2:
		return "HTTP/2.0"
	case h.ProtoMajor == 3:
		return "HTTP/3.0"
	case h.ProtoMinor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// AuthorityOf returns the authority of an absolute-form target, without
// user information.
func AuthorityOf(t []byte) []byte {
	i := bytes.Index(t, []byte("://"))
	t = t[i+3:]
	if j := bytes.IndexAny(t, "/?#"); j >= 0 {
		t = t[:j]
	}
	if j := bytes.LastIndexByte(t, '@'); j >= 0 {
		t = t[j+1:]
	}
	return t
}

// JoinFields merges the fields of h at the indexes at (ascending) into the
// first of them, their values joined by sep and appended to buf, which
// h's spans index, and returns buf. HTTP/2 and HTTP/3 clients may split
// the Cookie header in several fields, which are joined with "; " (RFC
// 9113, 8.2.3; RFC 9114, 4.2.1) as HTTP/1.1 carries them.
func (h *Head) JoinFields(buf []byte, at []int, sep string) []byte {
	if len(at) < 2 {
		return buf
	}
	start := int32(len(buf))
	for i, j := range at {
		if i > 0 {
			buf = append(buf, sep...)
		}
		buf = append(buf, h.Fields[j].Value.Of(buf)...)
	}
	h.Fields[at[0]].Value = Span{Start: start, End: int32(len(buf))}
	out := h.Fields[:at[0]+1]
	skip := at[1:]
	for j := at[0] + 1; j < len(h.Fields); j++ {
		if len(skip) > 0 && skip[0] == j {
			skip = skip[1:]
			continue
		}
		out = append(out, h.Fields[j])
	}
	h.Fields = out
	return buf
}
