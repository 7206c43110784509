package http3

import (
	"io"
	"net/http"
	"strconv"

	"github.com/quic-go/qpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
	"github.com/kestrel-go/kestrel/internal/metrics"
)

// fieldOverhead is what each field adds to a field section's size, over
// its name and value (RFC 9114, 4.2.2).
const fieldOverhead = 32

// headerBlock is what decoding a request's field section found, beyond
// the fields themselves, which go straight into the stream's head.
type headerBlock struct {
	size, count int
	tooLarge    bool   // over the limits: answered 431
	malformed   string // why the request is malformed (RFC 9114, 4.1.2)

	regular                                   bool // a regular field came: no pseudo-header may follow
	method, path, scheme, authority, protocol app.Span
	hasMethod, hasPath, hasScheme             bool
	hasAuthority, hasHost                     bool
	hasProtocol                               bool // :protocol, extended CONNECT (RFC 9220)
	host                                      app.Span
	hasLength                                 bool
	contentLength                             int64
	cookies                                   []int // indexes of the cookie fields
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

// decodeFields decodes a QPACK field section and calls fn for each field,
// counting them against the request header limits. A field section that
// QPACK cannot decode is a connection error (RFC 9204, 2.2).
func (st *stream) decodeFields(block []byte, hb *headerBlock, fn func(name, value string)) error {
	cfg := st.c.cfg
	next := qpack.NewDecoder().Decode(block)
	for {
		hf, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return connErr(errQPACKDecompression, "QPACK: %v", err)
		}
		hb.size += len(hf.Name) + len(hf.Value) + fieldOverhead
		hb.count++
		if hb.size > cfg.MaxRequestHeadersTotalSize || hb.count > cfg.MaxRequestHeaderCount ||
			len(hf.Name) > cfg.MaxRequestHeaderFieldSize || len(hf.Value) > cfg.MaxRequestHeaderFieldSize {
			hb.tooLarge = true
		}
		if hb.tooLarge || hb.malformed != "" {
			continue // decoded to the end, to find QPACK errors, but not kept
		}
		if msg := httpsyntax.CheckField(hf.Name, hf.Value); msg != "" {
			hb.malformed = msg
			continue
		}
		fn(hf.Name, hf.Value)
	}
}

// decodeRequest decodes the request's HEADERS frame into the stream's
// head.
func (st *stream) decodeRequest(block []byte, hb *headerBlock) error {
	*hb = headerBlock{contentLength: -1, cookies: hb.cookies[:0]}
	return st.decodeFields(block, hb, func(name, value string) {
		if name[0] == ':' {
			if hb.regular {
				hb.malformed = "pseudo-header after a regular header"
				return
			}
			span := st.store(value)
			var seen *bool
			switch name {
			case ":method":
				hb.method, seen = span, &hb.hasMethod
			case ":path":
				hb.path, seen = span, &hb.hasPath
			case ":scheme":
				hb.scheme, seen = span, &hb.hasScheme
			case ":authority":
				hb.authority, seen = span, &hb.hasAuthority
			case ":protocol":
				if !st.c.cfg.ConnectProtocol {
					// Not advertised: an undefined pseudo-header (RFC 9220, 3).
					hb.malformed = ":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL"
					return
				}
				hb.protocol, seen = span, &hb.hasProtocol
			default:
				hb.malformed = "unknown pseudo-header " + name
				return
			}
			if *seen {
				hb.malformed = "duplicate " + name
			}
			*seen = true
			return
		}
		hb.regular = true
		if msg := connectionSpecific(name, value); msg != "" {
			hb.malformed = msg
			return
		}
		switch name {
		case "content-length":
			n, ok := httpsyntax.ParseContentLength(value)
			if !ok || hb.hasLength && n != hb.contentLength {
				hb.malformed = "invalid content-length"
				return
			}
			hb.contentLength, hb.hasLength = n, true
		}
		if name == "host" && hb.hasHost {
			// RFC 9112, 3.2, as HTTP/1.1 answers 400 and Kestrel resets: a
			// handler and a proxy's backend would see only the first.
			hb.malformed = "more than one host"
			return
		}
		nameSpan, valueSpan := st.store(name), st.store(value)
		switch name {
		case "host":
			hb.host, hb.hasHost = valueSpan, true
		case "cookie":
			hb.cookies = append(hb.cookies, len(st.Req.Fields))
		case "trailer":
			st.Req.TrailerDeclared = true
		}
		st.Req.Fields = append(st.Req.Fields, app.Field{Name: nameSpan, Value: valueSpan})
	})
}

// connectionSpecific returns why a field may not be in an HTTP/3 field
// section (RFC 9114, 4.2), or "".
func connectionSpecific(name, value string) string {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return "connection-specific header " + name
	case "te":
		if value != "trailers" {
			return "te other than trailers"
		}
	}
	return ""
}

// decodeTrailers decodes the request's trailer section, handing its
// fields to the handler's Request.Trailer.
func (st *stream) decodeTrailers(block []byte) error {
	var hb headerBlock
	err := st.decodeFields(block, &hb, func(name, value string) {
		if msg := connectionSpecific(name, value); msg != "" {
			hb.malformed = msg + " in trailers"
			return
		}
		switch {
		case name[0] == ':':
			hb.malformed = "pseudo-header in trailers"
		case name == "content-length" || name == "host":
			// framing and routing fields do not belong in trailers
		default:
			st.AddRequestTrailer(http.CanonicalHeaderKey(name), value)
		}
	})
	switch {
	case err != nil:
		return err
	case hb.tooLarge:
		return errTrailersTooLarge
	case hb.malformed != "":
		return &streamError{errMessage, hb.malformed}
	}
	return nil
}

var errTrailersTooLarge = app.Reject(http.StatusRequestHeaderFieldsTooLarge, "request trailers too large", metrics.MaxRequestHeadersTotalSizeExceed)

// buildHead checks the pseudo-headers (RFC 9114, 4.3.1) and fills the
// stream's head from them; ended tells that the request stream ended
// with its HEADERS frame. It returns why the request is malformed, or "".
func (st *stream) buildHead(hb *headerBlock, ended bool) string {
	if hb.malformed != "" {
		return hb.malformed
	}
	b := st.headBuf
	if !hb.hasMethod {
		return "missing :method"
	}
	method := hb.method.Of(b)
	if !httpsyntax.ValidToken(method) {
		return "invalid :method"
	}
	h := &st.Req
	if hb.hasProtocol && string(method) != "CONNECT" {
		return ":protocol on a request other than CONNECT"
	}
	if hb.hasProtocol && (!hb.hasScheme || !hb.hasPath || !hb.hasAuthority) {
		return "extended CONNECT needs :scheme, :path and :authority"
	}
	if string(method) == "CONNECT" && !hb.hasProtocol {
		if !hb.hasAuthority || hb.hasScheme || hb.hasPath {
			return "CONNECT needs :authority and no :scheme or :path"
		}
		if !httpsyntax.ValidConnectAuthority(hb.authority.Of(b)) {
			return "CONNECT :authority without a port" // RFC 9114, 4.4
		}
		h.Form, h.Target = app.AuthorityForm, hb.authority
	} else {
		if !hb.hasScheme || !hb.hasPath {
			return "missing :scheme or :path"
		}
		path := hb.path.Of(b)
		switch {
		case len(path) == 0:
			return "empty :path"
		case !httpsyntax.ValidPathBytes(path):
			return "invalid :path"
		case path[0] == '/':
			h.Form = app.OriginForm
		case string(path) == "*" && string(method) == "OPTIONS":
			h.Form = app.AsteriskForm
		default:
			return "invalid :path"
		}
		h.Target = hb.path
		if hb.hasProtocol {
			// Extended CONNECT: the handler sees :protocol as a header,
			// as over HTTP/2.
			h.Tunnel = true
			st.Req.Fields = append(st.Req.Fields, app.Field{Name: st.store(":protocol"), Value: hb.protocol})
		}
	}
	if hb.hasAuthority && !httpsyntax.ValidAuthority(hb.authority.Of(b)) {
		return "invalid :authority"
	}
	if hb.hasHost && !httpsyntax.ValidHost(hb.host.Of(b)) {
		return "invalid host"
	}
	if hb.hasAuthority && hb.hasHost && !httpsyntax.EqualFold(hb.authority.Of(b), hb.host.Of(b)) {
		return ":authority and host differ"
	}
	if s := hb.scheme.Of(b); hb.hasScheme && (string(s) == "https" || string(s) == "http") {
		// A scheme with a mandatory authority: the request has an
		// :authority or a host, not empty (RFC 9114, 4.3.1), as quic-go's
		// server and HTTP/1.1's Host rule require.
		switch {
		case !hb.hasAuthority && !hb.hasHost:
			return "missing :authority and host"
		case hb.hasHost && len(hb.host.Of(b)) == 0:
			return "empty host"
		}
	}
	h.Method, h.ProtoMajor, h.ProtoMinor = hb.method, 3, 0
	switch {
	case hb.hasAuthority:
		h.Host, h.HostCount = hb.authority, 1
	case hb.hasHost:
		h.Host, h.HostCount = hb.host, 1
	}
	h.ContentLength = hb.contentLength
	h.UnknownLength = !ended && !hb.hasLength
	h.StreamOpen = !ended
	if ended && hb.contentLength > 0 {
		return "content-length with an empty body"
	}
	st.headBuf = st.Req.JoinFields(st.headBuf, hb.cookies, "; ")
	h.Buf = st.headBuf
	return ""
}

// store appends s to the stream's head buffer and returns its span.
func (st *stream) store(s string) (span app.Span) {
	st.headBuf, span = app.AppendSpan(st.headBuf, s)
	return span
}

// appendHeaders appends a HEADERS frame to the stream's output: a response
// head (status and ex's headers) or, with status 0, trailers (extra's). An
// empty trailer section is not sent.
func (st *stream) appendHeaders(status int, ex *app.Exchange, length int64, extra func(fn func(name, value string))) {
	st.block = st.block[:0]
	enc := st.enc
	defer enc.Close()
	if status != 0 {
		enc.WriteField(qpack.HeaderField{Name: ":status", Value: httpsyntax.StatusString(status)})
	}
	if ex != nil {
		ex.VisitFields(func(name, value []byte) {
			enc.WriteField(qpack.HeaderField{Name: fieldName(name), Value: string(value)})
		})
		if length >= 0 {
			enc.WriteField(qpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(length, 10)})
		}
		if !ex.UserDate() {
			enc.WriteField(qpack.HeaderField{Name: "date", Value: st.c.cfg.App.Heartbeat.Date()})
		}
		if st.c.cfg.App.ServerHeader && !ex.UserServer() {
			enc.WriteField(qpack.HeaderField{Name: "server", Value: "Kestrel"})
		}
	}
	if extra != nil {
		app.VisitExtraFields(extra, func(name []byte, value string) {
			enc.WriteField(qpack.HeaderField{Name: fieldName(name), Value: value})
		})
	}
	if len(st.block) == 0 {
		return
	}
	st.out = appendFrameHeader(st.out, frameHeaders, len(st.block))
	st.out = append(st.out, st.block...)
}

// blockWriter collects the QPACK encoder's output in the stream's block.
type blockWriter struct{ st *stream }

func (w blockWriter) Write(p []byte) (int, error) {
	w.st.block = append(w.st.block, p...)
	return len(p), nil
}

// commonNames are response header names as strings, so that encoding
// them allocates nothing.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"accept-ranges", "access-control-allow-origin", "age", "alt-svc", "cache-control",
		"content-disposition", "content-encoding", "content-language", "content-length", "content-location",
		"content-range", "content-security-policy", "content-type", "date", "etag", "expires", "last-modified",
		"link", "location", "referrer-policy", "retry-after", "server", "set-cookie", "strict-transport-security",
		"trailer", "vary", "www-authenticate", "x-content-type-options", "x-frame-options", "x-xss-protection",
		"grpc-status", "grpc-message", "grpc-encoding"} {
		m[n] = n
	}
	return m
}()

func fieldName(n []byte) string {
	if s, ok := commonNames[string(n)]; ok {
		return s
	}
	return string(n)
}
