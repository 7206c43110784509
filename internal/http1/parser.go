package http1

import (
	"bytes"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
)

// headFlags is what the HTTP/1.1 parser learns of a request head beyond
// the application layer's Head: how the connection is kept, upgraded and
// continued.
type headFlags struct {
	hasTE                                 bool
	connClose, connKeepAlive, connUpgrade bool
	upgrade                               bool // an Upgrade header is present
	unknownCoding                         bool // a transfer coding other than chunked
	expectContinue                        bool
	size                                  int // bytes of the head, final empty line included
}

// parser reads a request head a line at a time as its bytes arrive, so a
// head that trickles in is scanned once, and a bad line is answered at once.
type parser struct {
	maxLine, maxHeaders, maxCount int

	h          *app.Head
	x          *headFlags
	pos        int  // start of the next line to parse
	scanned    int  // bytes from pos known to hold no '\n': a line that trickles in is scanned once
	inHeaders  bool // the request line is done
	headerSize int
	first      bool // the connection's first request: the HTTP/2 preface is recognised
}

func (p *parser) reset(h *app.Head, x *headFlags, first bool) {
	*h = app.Head{Fields: h.Fields[:0], ContentLength: -1, ProtoMajor: 1}
	*x = headFlags{}
	p.h, p.x = h, x
	p.pos, p.scanned = 0, 0
	p.inHeaders = false
	p.headerSize = 0
	p.first = first
}

// parse consumes the complete lines of b, the bytes of the request so far
// (b[0] is its first byte). It reports whether the head is complete; a
// rejected request returns a *RequestError.
func (p *parser) parse(b []byte) (bool, error) {
	for {
		rest := b[p.pos:]
		i := bytes.IndexByte(rest[p.scanned:], '\n')
		if i < 0 {
			p.scanned = len(rest)
			if !p.inHeaders {
				if len(rest) >= p.maxLine {
					return false, errRequestLineTooLong
				}
			} else if p.headerSize+len(rest) > p.maxHeaders {
				return false, errHeadersTooLarge
			}
			return false, nil
		}
		i += p.scanned
		p.scanned = 0
		lineLen := i + 1
		if i == 0 || rest[i-1] != '\r' {
			if !p.inHeaders && lineLen > p.maxLine {
				return false, errRequestLineTooLong
			}
			return false, errBareLF
		}
		line := rest[:i-1]
		start := int32(p.pos)
		if !p.inHeaders {
			if lineLen+p.pos > p.maxLine {
				return false, errRequestLineTooLong
			}
			if len(line) == 0 {
				// Empty lines before a request line are ignored, for
				// robustness (RFC 9112, section 2.2); they count against
				// the request line's size.
				p.pos += lineLen
				continue
			}
			if err := p.requestLine(line, start); err != nil {
				return false, err
			}
			p.inHeaders = true
			p.pos += lineLen
			continue
		}
		p.headerSize += lineLen
		if p.headerSize > p.maxHeaders {
			return false, errHeadersTooLarge
		}
		p.pos += lineLen
		if len(line) == 0 {
			p.x.size = p.pos
			return true, p.finish(b)
		}
		if len(p.h.Fields) >= p.maxCount {
			return false, errTooManyHeaders
		}
		if err := p.fieldLine(b, line, start); err != nil {
			return false, err
		}
	}
}

// requestLine parses "method SP request-target SP HTTP-version".
func (p *parser) requestLine(line []byte, start int32) error {
	h := p.h
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return errInvalidRequestLine
	}
	if !validToken(line[:sp]) {
		return errInvalidMethod
	}
	h.Method = app.Span{Start: start, End: start + int32(sp)}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errInvalidRequestLine
	}
	target := rest[:sp2]
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return errInvalidTarget
		}
	}
	ts := start + int32(sp+1)
	h.Target = app.Span{Start: ts, End: ts + int32(sp2)}
	version := rest[sp2+1:]
	switch {
	case string(version) == "HTTP/1.1":
		h.ProtoMinor = 1
	case string(version) == "HTTP/1.0":
		h.ProtoMinor = 0
	case len(version) == 8 && string(version[:5]) == "HTTP/" && isDigit(version[5]) && version[6] == '.' && isDigit(version[7]):
		if p.first && string(line) == "PRI * HTTP/2.0" {
			return errHTTP2Preface
		}
		return errUnsupportedVersion
	default:
		if bytes.IndexByte(line, '\r') >= 0 {
			return errBareCR
		}
		return errInvalidVersion
	}

	method := line[:sp]
	switch {
	case target[0] == '/':
		h.Form = app.OriginForm
		if string(method) == "CONNECT" {
			return errInvalidTarget
		}
	case len(target) == 1 && target[0] == '*':
		h.Form = app.AsteriskForm
		if string(method) != "OPTIONS" {
			return errOptionsRequired
		}
	case hasScheme(target):
		h.Form = app.AbsoluteForm
		if string(method) == "CONNECT" {
			return errInvalidTarget
		}
		if a := rawAuthority(target); len(a) == 0 || !validHost(a) {
			// The authority is a host with an optional port, as Host is:
			// not empty (RFC 9110, section 4.2.1), and without user
			// information, which has no place in a request target
			// (section 4.2.4).
			return errInvalidTarget
		}
	default:
		h.Form = app.AuthorityForm
		if string(method) != "CONNECT" {
			return errConnectRequired
		}
		if !httpsyntax.ValidConnectAuthority(target) {
			return errInvalidTarget // a host and a port (RFC 9110, 9.3.6)
		}
	}
	return nil
}

// fieldLine parses "field-name ":" OWS field-value OWS" and records what the
// server itself needs to know from the field.
func (p *parser) fieldLine(b, line []byte, start int32) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !validToken(line[:colon]) {
		return errInvalidHeaderName
	}
	v0, v1 := colon+1, len(line)
	for v0 < v1 && (line[v0] == ' ' || line[v0] == '\t') {
		v0++
	}
	for v1 > v0 && (line[v1-1] == ' ' || line[v1-1] == '\t') {
		v1--
	}
	value := line[v0:v1]
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			if c == '\r' {
				return errBareCR
			}
			return errInvalidHeaderValue
		}
	}
	f := app.Field{
		Name:  app.Span{Start: start, End: start + int32(colon)},
		Value: app.Span{Start: start + int32(v0), End: start + int32(v1)},
	}
	p.h.Fields = append(p.h.Fields, f)
	return p.interpret(line[:colon], value, f.Value)
}

// interpret records the fields that decide how the message is framed and
// the connection is kept.
func (p *parser) interpret(name, value []byte, vs app.Span) error {
	h, x := p.h, p.x
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			h.HostCount++
			h.Host = vs
			if !validHost(value) {
				return errInvalidHost
			}
		}
	case 6:
		if equalFold(name, "expect") && equalFold(value, "100-continue") {
			x.expectContinue = true
		}
	case 7:
		if equalFold(name, "upgrade") {
			x.upgrade = true
		} else if equalFold(name, "trailer") {
			h.TrailerDeclared = true
		}
	case 10:
		if equalFold(name, "connection") {
			forEachToken(value, func(t []byte) {
				switch {
				case equalFold(t, "close"):
					x.connClose = true
				case equalFold(t, "keep-alive"):
					x.connKeepAlive = true
				case equalFold(t, "upgrade"):
					x.connUpgrade = true
				}
			})
		}
	case 14:
		if equalFold(name, "content-length") {
			n, ok := parseContentLength(value)
			if !ok {
				return errInvalidContentLength
			}
			if h.ContentLength >= 0 && h.ContentLength != n {
				return errMultipleContentLen
			}
			h.ContentLength = n
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return p.transferEncoding(value)
		}
	}
	return nil
}

// transferEncoding folds one Transfer-Encoding field into the head: the
// codings of every such field, in order, must end with exactly one chunked.
// A coding after chunked is rejected at once; whether the list ends with
// chunked, and whether it names codings the server cannot decode, is
// decided in finish, when every field has been seen.
func (p *parser) transferEncoding(value []byte) error {
	h, x := p.h, p.x
	x.hasTE = true
	var err error
	n := 0
	forEachToken(value, func(t []byte) {
		n++
		params := false
		if i := bytes.IndexByte(t, ';'); i >= 0 {
			params = true
			if !validParams(t[i:], true) {
				err = errInvalidTE
			}
			t = bytes.TrimRight(t[:i], " \t")
		}
		switch {
		case err != nil:
		case !validToken(t):
			err = errInvalidTE
		case h.Chunked:
			err = errChunkedNotFinal
		case equalFold(t, "chunked"):
			if params {
				err = errInvalidTE // chunked takes no parameters
			}
			h.Chunked = true
		default:
			x.unknownCoding = true
		}
	})
	if n == 0 {
		return errInvalidTE
	}
	return err
}

// finish checks the head as a whole once its last field is in.
func (p *parser) finish(b []byte) error {
	h, x := p.h, p.x
	switch {
	case h.HostCount > 1:
		return errMultipleHosts
	case h.HostCount == 0 && h.ProtoMinor == 1:
		return errMissingHost
	}
	if h.Form == app.AbsoluteForm && h.HostCount == 1 {
		if !sameAuthority(h.Target.Of(b), h.Host.Of(b)) {
			return errHostMismatch
		}
	}
	if h.Form == app.AuthorityForm && h.HostCount == 1 {
		if !sameConnectAuthority(h.Target.Of(b), h.Host.Of(b)) {
			return errConnectHostMismatch
		}
	}
	if x.hasTE {
		switch {
		case h.ProtoMinor == 0:
			return errTEInHTTP10
		case !h.Chunked:
			return errChunkedNotFinal
		case x.unknownCoding:
			return errUnknownCoding
		case h.ContentLength >= 0:
			return errTEWithContentLength
		}
	}
	return nil
}

// rawAuthority returns the authority of an absolute-form target as sent.
func rawAuthority(t []byte) []byte {
	i := bytes.Index(t, []byte("://"))
	t = t[i+3:]
	if j := bytes.IndexAny(t, "/?#"); j >= 0 {
		t = t[:j]
	}
	return t
}

// sameAuthority reports whether an absolute-form target's authority and a
// Host value name the same origin: hosts compared ignoring case, ports with
// the scheme's default port filled in, so that "http://a:80/" matches
// "Host: a" (RFC 9110, sections 4.2.3 and 7.2).
func sameAuthority(target, host []byte) bool {
	def := "80"
	if len(target) >= 6 && equalFold(target[:6], "https:") {
		def = "443"
	}
	th, tp := splitHostPort(app.AuthorityOf(target))
	hh, hp := splitHostPort(host)
	if len(tp) == 0 {
		tp = []byte(def)
	}
	if len(hp) == 0 {
		hp = []byte(def)
	}
	return equalFold(th, string(hh)) && string(trimZeros(tp)) == string(trimZeros(hp))
}

// sameConnectAuthority reports whether a CONNECT's Host names its
// target: the same host, ignoring case, and the same port when Host has
// one (RFC 9110, section 9.3.6's example sends the host alone). Kestrel
// refuses a CONNECT whose Host differs from its target; otherwise a host
// filter would check one name and the handler connect to another.
func sameConnectAuthority(target, host []byte) bool {
	th, tp := splitHostPort(target)
	hh, hp := splitHostPort(host)
	return equalFold(th, string(hh)) && (len(hp) == 0 || string(trimZeros(tp)) == string(trimZeros(hp)))
}

// splitHostPort splits a valid authority into host and port; the port is
// empty when absent or empty ("host:").
func splitHostPort(a []byte) (host, port []byte) {
	i := bytes.LastIndexByte(a, ':')
	if i < 0 || bytes.IndexByte(a[i:], ']') >= 0 {
		return a, nil // no port, or the colon is inside an IPv6 literal
	}
	return a[:i], a[i+1:]
}

func trimZeros(p []byte) []byte {
	for len(p) > 1 && p[0] == '0' {
		p = p[1:]
	}
	return p
}

var tchar = &httpsyntax.TChar

func validToken(b []byte) bool { return httpsyntax.ValidToken(b) }

func equalFold(b []byte, s string) bool { return httpsyntax.EqualFold(b, s) }

func isDigit(c byte) bool { return httpsyntax.IsDigit(c) }

// hasScheme reports whether t starts with "scheme://".
func hasScheme(t []byte) bool {
	for i, c := range t {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return len(t) > i+2 && t[i+1] == '/' && t[i+2] == '/'
		default:
			return false
		}
	}
	return false
}

// validHost reports whether b is a valid Host value: empty, or a host
// with an optional port.
func validHost(b []byte) bool { return httpsyntax.ValidHost(b) }

func isHex(c byte) bool { return httpsyntax.IsHex(c) }

func forEachToken(v []byte, fn func([]byte)) { httpsyntax.ForEachToken(v, fn) }

func parseContentLength(v []byte) (int64, bool) { return httpsyntax.ParseContentLength(v) }

// validParams checks a parameter list (RFC 9110, section 5.6.6) as it
// follows a transfer coding or a chunk size: *( BWS ";" BWS name [ BWS "="
// BWS value ] ), with a token name and a token or quoted-string value,
// which needValue makes mandatory.
func validParams(ext []byte, needValue bool) bool {
	skipWS := func() {
		for len(ext) > 0 && (ext[0] == ' ' || ext[0] == '\t') {
			ext = ext[1:]
		}
	}
	token := func() bool {
		j := 0
		for j < len(ext) && tchar[ext[j]] {
			j++
		}
		ext = ext[j:]
		return j > 0
	}
	for len(ext) > 0 {
		skipWS()
		if len(ext) == 0 || ext[0] != ';' {
			return false // whitespace must lead to another parameter
		}
		ext = ext[1:]
		skipWS()
		if !token() {
			return false
		}
		afterName := ext
		skipWS()
		if len(ext) == 0 || ext[0] != '=' {
			if needValue {
				return false
			}
			// No value: the whitespace, if any, must lead to another
			// parameter, as after a value.
			ext = afterName
			continue
		}
		ext = ext[1:]
		skipWS()
		if len(ext) > 0 && ext[0] == '"' {
			j := 1
			for ; j < len(ext) && ext[j] != '"'; j++ {
				if ext[j] == '\\' {
					j++ // quoted-pair: the escaped byte is checked like the others
					if j == len(ext) {
						return false
					}
				}
				if c := ext[j]; c < ' ' && c != '\t' || c == 0x7f {
					return false
				}
			}
			if j >= len(ext) {
				return false // unbalanced quotes
			}
			ext = ext[j+1:]
		} else if !token() {
			return false
		}
	}
	return true
}
