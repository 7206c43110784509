package http2

import (
	"net/http"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
)

// headerBlock is the header block being read: a HEADERS frame and the
// CONTINUATION frames after it. Its fields are decoded as they arrive,
// straight into the stream's head, and never buffered whole.
type headerBlock struct {
	stream    uint32  // 0: no block in progress
	st        *stream // receives the fields; nil when they are dropped
	trailers  bool
	endStream bool
	frames    int
	raw       int  // encoded bytes so far
	streamed  bool // too large to gather (Conn.block): decoded frame by frame
	size      int  // decoded header list size (RFC 9113, 6.5.2)
	count     int

	tooLarge  bool   // over the header list limits: answered 431
	malformed string // why the request is malformed (RFC 9113, 8.1.1)
	err       error  // returned once the block is decoded (it still updates HPACK's state)

	regular                                   bool // a regular field came: no pseudo-header may follow
	method, path, scheme, authority, protocol app.Span
	hasMethod, hasPath, hasScheme             bool
	hasAuthority, hasHost, hasLength          bool
	hasProtocol                               bool // :protocol, extended CONNECT (RFC 8441)
	host                                      app.Span
	contentLength                             int64
	cookies                                   []int // indexes of the cookie fields
}

// maxRawBlock bounds the encoded bytes of one header block, and
// maxContinuations its CONTINUATION frames (CVE-2023-45288): a client that
// keeps sending them is cut off before the decoder works on them. The
// frames are allowed an average of 1 KiB, at least 128 of them: a header
// list within MaxRequestHeadersTotalSize, however large that is set, fits
// in frames of SETTINGS_MAX_FRAME_SIZE (16 KiB at least), and empty ones
// count as control frames too.
func (c *Conn) maxRawBlock() int { return 2*c.cfg.MaxRequestHeadersTotalSize + 64<<10 }

// unpinField is an HPACK indexed field (RFC 7541, 6.1): static entry 2,
// ":method: GET".
var unpinField = [1]byte{0x82}

// unpinDecoder ends a header block's decoding: the decoder keeps an empty
// slice of the bytes it was last given, and so their array, so it is
// given a byte of its own to keep instead, an indexed field that is not
// emitted (onHeaders turns emitting on again for the next block).
func (c *Conn) unpinDecoder() {
	c.dec.SetEmitEnabled(false)
	c.dec.Write(unpinField[:])
}

// maxGathered bounds the bytes of a header block in several frames that
// are gathered to be decoded whole: what the header list may take, and
// some room for its encoding.
func (c *Conn) maxGathered() int { return c.cfg.MaxRequestHeadersTotalSize + 8<<10 }

func (c *Conn) maxContinuations() int { return max(128, c.maxRawBlock()>>10) }

// onHeaders starts a header block: a new request, or a request's
// trailers.
func (c *Conn) onHeaders(f *headersFrame) error {
	if !c.gotSettings {
		return connErr(http2.ErrCodeProtocol, "the first frame is not SETTINGS")
	}
	id := f.StreamID
	if id%2 == 0 {
		return connErrFor(http2.ErrCodeProtocol, metrics.InvalidStreamID, "HEADERS on even stream %d", id)
	}
	hb := &c.hb
	*hb = headerBlock{stream: id, endStream: f.StreamEnded(), contentLength: -1, cookies: hb.cookies[:0]}
	c.headerStart.Store(c.now())
	c.dec.SetEmitEnabled(true)

	// The stream's state and reset are read under mu: its handler's
	// goroutine ends or resets it under mu meanwhile.
	c.mu.Lock()
	st := c.streams[id]
	var state int
	var reset error
	if st != nil {
		state, reset = st.state, st.reset
	}
	crossed := st != nil && reset != nil && !resetByClient(reset) ||
		st == nil && id <= c.maxStreamID && c.resetByServer(id)
	if st == nil && id > c.maxStreamID {
		c.openSlotsLocked(id) // a new stream (the default case below)
	}
	c.mu.Unlock()
	switch {
	case crossed:
		// The server reset the stream (or refused it), and the client sent
		// this before it saw the RST_STREAM: ignored (RFC 9113, 5.1), as
		// DATA is (onData), but decoded for HPACK's state.
	case st != nil:
		// Trailers, which end the request.
		if state == stateClosed && reset == nil {
			return connErrFor(http2.ErrCodeStreamClosed, metrics.FrameAfterStreamClose, "HEADERS on closed stream %d", id)
		}
		if state == stateHalfClosedRemote || state == stateClosed {
			hb.err = streamErr{id, http2.ErrCodeStreamClosed, "HEADERS after the request ended"}
			break
		}
		hb.trailers = true
		hb.st = st
		if !f.StreamEnded() {
			hb.malformed = "trailers without END_STREAM"
		}
	case id <= c.maxStreamID:
		return connErrFor(http2.ErrCodeStreamClosed, metrics.InvalidStreamID, "HEADERS on closed stream %d", id)
	default:
		c.maxStreamID = id
		if f.priority && f.dep == id {
			hb.malformed = "stream depends on itself"
		}
		hb.st = c.newStream(id)
	}
	return c.headerFragment(f.frag, f.HeadersEnded())
}

func (c *Conn) onContinuation(f *http2.ContinuationFrame) error {
	if c.hb.stream != f.StreamID {
		return connErr(http2.ErrCodeProtocol, "unexpected CONTINUATION for stream %d", f.StreamID)
	}
	c.hb.frames++
	if c.hb.frames > c.maxContinuations() {
		return connErr(http2.ErrCodeEnhanceYourCalm, "too many CONTINUATION frames")
	}
	return c.headerFragment(f.HeaderBlockFragment(), f.HeadersEnded())
}

// headerFragment decodes part of the header block, and finishes the block
// at its end.
func (c *Conn) headerFragment(frag []byte, end bool) error {
	hb := &c.hb
	hb.raw += len(frag)
	if hb.raw > c.maxRawBlock() {
		return connErrFor(http2.ErrCodeEnhanceYourCalm, metrics.MaxRequestHeadersTotalSizeExceed, "header block too large")
	}
	if len(frag) == 0 && !end {
		if err := c.countControl(); err != nil {
			return err
		}
	}
	if !hb.streamed && (!end || len(c.block) > 0) {
		// A block in several frames is gathered and decoded whole: fed
		// to the decoder frame by frame, a field that spans two frames
		// would grow a buffer of the decoder's own, which it keeps for
		// the connection's life. One too large to gather goes to the
		// decoder as it comes.
		if len(c.block)+len(frag) <= c.maxGathered() {
			c.block = append(c.block, frag...)
			if !end {
				return nil
			}
			frag = c.block
		} else {
			hb.streamed = true
			if _, err := c.dec.Write(c.block); err != nil {
				return connErr(http2.ErrCodeCompression, "HPACK: %v", err)
			}
		}
	}
	if _, err := c.dec.Write(frag); err != nil {
		return connErr(http2.ErrCodeCompression, "HPACK: %v", err)
	}
	if !end {
		return nil
	}
	if cap(frag) > maxKeptHeaders {
		c.unpinDecoder() // a gathered block, a large HEADERS frame's payload
	}
	if cap(c.block) > maxKeptHeaders {
		c.block = nil
	} else {
		c.block = c.block[:0]
	}
	if err := c.dec.Close(); err != nil {
		return connErr(http2.ErrCodeCompression, "HPACK: %v", err)
	}
	c.headerStart.Store(0)
	id, st := hb.stream, hb.st
	hb.stream, hb.st = 0, nil
	if hb.err != nil {
		return hb.err
	}
	if st == nil {
		return nil
	}
	if hb.trailers {
		return c.endTrailers(id, st)
	}
	return c.startRequest(st)
}

// emit receives each decoded header field.
func (c *Conn) emit(hf hpack.HeaderField) {
	hb := &c.hb
	hb.size += int(hf.Size())
	hb.count++
	if hb.size > c.cfg.MaxRequestHeadersTotalSize || hb.count > c.cfg.MaxRequestHeaderCount {
		hb.tooLarge = true
		c.dec.SetEmitEnabled(false) // decode on for HPACK's state, but keep nothing
		return
	}
	if hb.st == nil || hb.malformed != "" {
		return
	}
	if msg := httpsyntax.CheckField(hf.Name, hf.Value); msg != "" {
		hb.malformed = msg
		return
	}
	st := hb.st
	if hf.IsPseudo() {
		if hb.trailers {
			hb.malformed = "pseudo-header in trailers"
			return
		}
		if hb.regular {
			hb.malformed = "pseudo-header after a regular header"
			return
		}
		span := st.store(hf.Value)
		var seen *bool
		switch hf.Name {
		case ":method":
			hb.method, seen = span, &hb.hasMethod
		case ":path":
			hb.path, seen = span, &hb.hasPath
		case ":scheme":
			hb.scheme, seen = span, &hb.hasScheme
		case ":authority":
			hb.authority, seen = span, &hb.hasAuthority
		case ":protocol":
			if !c.cfg.ConnectProtocol {
				// Not advertised: an undefined pseudo-header (RFC 8441, 3).
				hb.malformed = ":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL"
				return
			}
			hb.protocol, seen = span, &hb.hasProtocol
		default:
			hb.malformed = "unknown pseudo-header " + hf.Name
			return
		}
		if *seen {
			hb.malformed = "duplicate " + hf.Name
		}
		*seen = true
		return
	}
	hb.regular = true
	switch hf.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		hb.malformed = "connection-specific header " + hf.Name
		return
	case "te":
		if hf.Value != "trailers" {
			hb.malformed = "te other than trailers"
			return
		}
	case "content-length":
		if hb.trailers {
			return // dropped, as framing fields in HTTP/1.1 trailers
		}
		n, ok := httpsyntax.ParseContentLength(hf.Value)
		if !ok || hb.hasLength && n != hb.contentLength {
			hb.malformed = "invalid content-length"
			return
		}
		hb.contentLength, hb.hasLength = n, true
	}
	if hb.trailers {
		// Kept for the handler's goroutine, which hands them over when it
		// reads the body's end (the reader must not touch Request.Trailer).
		c.mu.Lock()
		st.trailers = append(st.trailers, http.CanonicalHeaderKey(hf.Name), hf.Value)
		c.mu.Unlock()
		return
	}
	if hf.Name == "host" && hb.hasHost {
		// RFC 9112, 3.2, as HTTP/1.1 answers 400 and Kestrel resets: a
		// handler and a proxy's backend would see only the first.
		hb.malformed = "more than one host"
		return
	}
	name, value := st.store(hf.Name), st.store(hf.Value)
	switch hf.Name {
	case "host":
		hb.host, hb.hasHost = value, true
	case "cookie":
		hb.cookies = append(hb.cookies, len(st.Req.Fields))
	case "trailer":
		st.Req.TrailerDeclared = true
	}
	st.Req.Fields = append(st.Req.Fields, app.Field{Name: name, Value: value})
}

// startRequest checks a request's head and starts its handler.
func (c *Conn) startRequest(st *stream) error {
	hb := &c.hb
	if hb.tooLarge {
		c.refuse(st, http.StatusRequestHeaderFieldsTooLarge)
		return nil
	}
	if hb.malformed == "" {
		hb.malformed = c.checkPseudo(st)
	}
	if hb.malformed != "" {
		logevents.ConnectionBadRequest(c.logger(), c.opts.Info.ID, "stream "+strconv.FormatUint(uint64(st.id), 10)+": "+hb.malformed, 0)
		id := st.id
		c.putStream(st) // st may be reused from here on
		return streamErr{id, http2.ErrCodeProtocol, hb.malformed}
	}
	if hb.requestLineLen() > c.cfg.MaxRequestLineSize {
		// What stands for the request line (Kestrel measures these four
		// pseudo-header fields against MaxRequestLineSize too), answered
		// 414 as over HTTP/1.1.
		logevents.ConnectionBadRequest(c.logger(), c.opts.Info.ID, "stream "+strconv.FormatUint(uint64(st.id), 10)+": request line too long", http.StatusRequestURITooLong)
		c.refuseWith(st, http.StatusRequestURITooLong, "")
		return nil
	}
	h := &st.Req
	h.Method, h.Target, h.ProtoMajor, h.ProtoMinor = hb.method, hb.path, 2, 0
	h.Host, h.HostCount = hb.authority, 1
	if !hb.hasAuthority {
		h.Host, h.HostCount = hb.host, 0
		if hb.hasHost {
			h.HostCount = 1
		}
	}
	switch {
	case hb.hasProtocol:
		// Extended CONNECT: the target is :path; the handler sees
		// :protocol as a header, as x/net/http2's server shows it.
		h.Form, h.Tunnel = app.OriginForm, true
		st.Req.Fields = append(st.Req.Fields, app.Field{Name: st.store(":protocol"), Value: hb.protocol})
	case string(hb.method.Of(st.headBuf)) == "CONNECT":
		h.Form, h.Target = app.AuthorityForm, hb.authority
	case string(hb.path.Of(st.headBuf)) == "*":
		h.Form = app.AsteriskForm
	default:
		h.Form = app.OriginForm
	}
	h.ContentLength = hb.contentLength
	h.UnknownLength = !hb.endStream && hb.contentLength < 0
	h.StreamOpen = !hb.endStream
	if hb.endStream {
		if hb.contentLength > 0 {
			id := st.id
			c.putStream(st)
			return streamErr{id, http2.ErrCodeProtocol, "content-length with an empty body"}
		}
		h.ContentLength = -1
	}
	st.headBuf = st.Req.JoinFields(st.headBuf, hb.cookies, "; ")
	h.Buf = st.headBuf
	return c.admit(st, hb.endStream)
}

// requestLineLen is what Kestrel measures against MaxRequestLineSize:
// :method, :scheme, :authority and :path together, with the Host header
// in the place of an :authority the request does not have (Kestrel takes
// the one for the other), so that a long host is not left out by sending
// it as Host.
func (hb *headerBlock) requestLineLen() int {
	host := hb.authority.Len()
	if !hb.hasAuthority {
		host = hb.host.Len()
	}
	return hb.method.Len() + hb.scheme.Len() + host + hb.path.Len()
}

// checkPseudo checks the pseudo-header fields of a request (RFC 9113,
// 8.3.1), and returns why they are wrong, or "".
func (c *Conn) checkPseudo(st *stream) string {
	hb := &c.hb
	if !hb.hasMethod {
		return "missing :method"
	}
	if !httpsyntax.ValidToken(hb.method.Of(st.headBuf)) {
		return "invalid :method" // a method is a token (RFC 9110, 9.1)
	}
	if hb.hasProtocol {
		// Extended CONNECT (RFC 8441, 4): CONNECT with all of :scheme,
		// :path and :authority.
		if string(hb.method.Of(st.headBuf)) != "CONNECT" {
			return ":protocol on a request other than CONNECT"
		}
		if !hb.hasScheme || !hb.hasPath || !hb.hasAuthority {
			return "extended CONNECT needs :scheme, :path and :authority"
		}
	} else if string(hb.method.Of(st.headBuf)) == "CONNECT" {
		if !hb.hasAuthority || hb.hasScheme || hb.hasPath {
			return "CONNECT needs :authority and no :scheme or :path"
		}
		if !httpsyntax.ValidConnectAuthority(hb.authority.Of(st.headBuf)) {
			return "CONNECT :authority without a port" // RFC 9113, 8.5
		}
		return c.checkHost(st)
	}
	if !hb.hasScheme || !hb.hasPath {
		return "missing :scheme or :path"
	}
	path := hb.path.Of(st.headBuf)
	if len(path) == 0 {
		return "empty :path"
	}
	if path[0] != '/' && !(string(path) == "*" && string(hb.method.Of(st.headBuf)) == "OPTIONS") || !httpsyntax.ValidPathBytes(path) {
		return "invalid :path"
	}
	return c.checkHost(st)
}

// checkHost checks a request's :authority and host: each a host with an
// optional port, as HTTP/1.1's Host, and the same when both are there.
func (c *Conn) checkHost(st *stream) string {
	hb := &c.hb
	if hb.hasAuthority && !httpsyntax.ValidAuthority(hb.authority.Of(st.headBuf)) {
		return "invalid :authority"
	}
	if hb.hasHost && !httpsyntax.ValidHost(hb.host.Of(st.headBuf)) {
		return "invalid host"
	}
	if hb.hasAuthority && hb.hasHost && !httpsyntax.EqualFold(hb.authority.Of(st.headBuf), hb.host.Of(st.headBuf)) {
		return "host differs from :authority" // RFC 9113, 8.3.1
	}
	return ""
}

// endTrailers ends request id (st) with its trailers. Trailers over the header
// limits are dropped, and the handler's read of the body's end fails with
// 431, as over HTTP/1.1 and HTTP/3: a request is never served with part
// of its trailers.
func (c *Conn) endTrailers(id uint32, st *stream) error {
	if c.hb.malformed != "" {
		return streamErr{id, http2.ErrCodeProtocol, c.hb.malformed}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[id] != st || st.reset != nil {
		// Reset while the block came in several frames: by the server
		// (its handler's goroutine), and the client sent the block
		// before it saw the RST_STREAM: ignored (RFC 9113, 5.1), as in
		// onHeaders; by the client: STREAM_CLOSED.
		if c.streams[id] == st && !resetByClient(st.reset) || c.streams[id] != st && c.resetByServer(id) {
			return nil
		}
		return streamErr{id, http2.ErrCodeStreamClosed, "trailers on a reset stream"}
	}
	if c.hb.tooLarge {
		st.trailers = st.trailers[:0]
		st.endErr = errTrailersTooLarge
	}
	return st.endBodyLocked()
}

var errTrailersTooLarge = app.Reject(http.StatusRequestHeaderFieldsTooLarge, "request trailers too large", metrics.MaxRequestHeadersTotalSizeExceed)

// encodeHeaders encodes a response head (or trailers: status 0) into the
// connection's encoding buffer; mu is held.
func (c *Conn) encodeHeaders(status int, ex *app.Exchange, length int64, extra func(fn func(name, value string))) []byte {
	c.encBuf = c.encBuf[:0]
	if status != 0 {
		if st := httpsyntax.StatusString(status); !lookup(c, ":status", st) {
			c.writeField(hpack.HeaderField{Name: ":status", Value: st}, nil)
		}
	}
	if ex != nil {
		ex.VisitFields(func(name, value []byte) {
			if !lookup(c, name, value) {
				c.writeField(hpack.HeaderField{Name: c.intern(name), Value: c.internValue(name, value)}, nil)
			}
		})
		// Values that change from response to response are not indexed:
		// they would only churn the client's table and ours.
		if length >= 0 {
			c.writeLength(length)
		}
		if !ex.UserDate() {
			c.writeDate(c.cfg.App.Heartbeat.Date())
		}
		if c.cfg.App.ServerHeader && !ex.UserServer() && !lookup(c, "server", "Kestrel") {
			c.writeField(hpack.HeaderField{Name: "server", Value: "Kestrel"}, nil)
		}
	}
	if extra != nil {
		app.VisitExtraFields(extra, func(name []byte, value string) {
			if !lookup(c, name, value) {
				c.writeField(hpack.HeaderField{Name: c.intern(name), Value: value}, nil)
			}
		})
	}
	return c.encBuf
}

// intern returns name as a string, allocated only the first time the
// server sees it (the cache is the server's, bounded, and shared by its
// connections).
func (c *Conn) intern(b []byte) string {
	return c.cfg.intern(b)
}

// internValue returns a header's value as a string, from the cache for
// the values that repeat response after response (content types, cache
// policies), so that they are allocated once.
func (c *Conn) internValue(name, value []byte) string {
	switch string(name) {
	case "content-type", "cache-control", "vary", "content-encoding", "x-content-type-options", "access-control-allow-origin":
		if len(value) <= 64 {
			return c.cfg.intern(value)
		}
	}
	return httpsyntax.SanitizeValue(string(value))
}

// intern returns b as a string from the server's cache, adding it while
// the cache has room.
func (cfg *Config) intern(b []byte) string {
	if s, ok := cfg.interned.Load(string(b)); ok {
		return s.(string)
	}
	s := string(b)
	if cfg.internedN.Add(1) <= maxInterned {
		cfg.interned.Store(s, s)
	}
	return s
}

// maxInterned bounds the server's cache of header strings.
const maxInterned = 1024
