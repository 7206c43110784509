package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// genReq is one generated request, before it is encoded for a protocol.
type genReq struct {
	method    string
	target    string
	authority string
	// fields are the header fields in order, names as the generator cased
	// them (lower-cased for HTTP/2 and HTTP/3 by the encoders).
	fields [][2]string
	// body is nil for no body; else the body in the pieces it is sent in
	// (chunks on HTTP/1.1, DATA frames on HTTP/2 and HTTP/3).
	body []string
	// withLength: a Content-Length field with the body's length is sent.
	withLength bool
	// chunkExt: chunk extensions, one per chunk (HTTP/1.1).
	chunkExt []string
	trailers [][2]string
	// edge is one of h1Edges or h2Edges, or "": a shape the encoder gives
	// the request at a rule's edge.
	edge string
}

// h1Edges are the HTTP/1.1 encoder's shapes: HTTP/1.0, an absolute-form
// target, Content-Length repeated, as a list, with leading zeros, an odd
// byte in the target, no Host on HTTP/1.0, Host twice, an expectation
// other than 100-continue, chunked with a Content-Length, HTTP/1.0
// keep-alive, a space before a colon, an empty value, Cookie fields, an
// HTTP/1.1 close, an empty Host, a Host with an empty port.
var h1Edges = []string{"http10", "abs-form", "cl-dup", "cl-list", "cl-zeros", "odd-target", "http10-nohost", "host-dup", "expect-other", "te-cl", "http10-keepalive", "space-colon", "empty-value", "cookies", "http11-close", "host-empty", "host-port-empty"}

// h2Edges are the HTTP/2 and HTTP/3 encoders' shapes: a host field beside
// :authority, an upper-case name, a value with a leading space, a
// connection field, expect, content-length with leading zeros, te other
// than trailers, an empty value, cookie crumbs, content-length twice, odd
// bytes in :path, userinfo in :authority, a :path of "/?" and a query.
var h2Edges = []string{"host-too", "upper-name", "ws-value", "connection", "expect", "cl-zeros", "te-gzip", "empty-value", "cookies", "cl-dup", "odd-path", "userinfo", "path-query-only"}

func (g genReq) bodyString() string { return strings.Join(g.body, "") }

func (g genReq) String() string {
	body := "none"
	if g.body != nil {
		body = fmt.Sprintf("%q", g.body)
	}
	return fmt.Sprintf("%s %q authority=%q fields=%q body=%s withLength=%v ext=%q trailers=%q edge=%q", g.method, g.target, g.authority, g.fields, body, g.withLength, g.chunkExt, g.trailers, g.edge)
}

const tokenChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func genToken(r *rand.Rand, n int, lower bool) string {
	var b strings.Builder
	for range n {
		c := tokenChars[r.IntN(len(tokenChars))]
		if lower && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// genValue is a field value: visible ASCII, inner spaces and tabs,
// sometimes obs-text; leading or trailing whitespace only when ws.
func genValue(r *rand.Rand, ws bool) string {
	if r.IntN(10) == 0 {
		return ""
	}
	var b strings.Builder
	if ws && r.IntN(4) == 0 {
		b.WriteString(pick(r, " ", "\t", "  "))
	}
	n := 1 + r.IntN(12)
	for i := range n {
		switch k := r.IntN(20); {
		case k == 0 && i > 0 && i < n-1:
			b.WriteString(pick(r, " ", "\t", "  "))
		case k == 1:
			b.WriteByte(byte(0x80 + r.IntN(0x80)))
		default:
			b.WriteByte(byte(0x21 + r.IntN(0x7e-0x21+1)))
		}
	}
	if ws && r.IntN(4) == 0 {
		b.WriteString(pick(r, " ", "\t", " \t"))
	}
	return b.String()
}

const pathChars = "abcxyzABC019-._~!$&'()*+,;=:@"

func genPath(r *rand.Rand) string {
	var b strings.Builder
	for range 1 + r.IntN(4) {
		b.WriteByte('/')
		switch r.IntN(8) {
		case 0:
			b.WriteString(pick(r, ".", "..", "", "%2e", "%2E%2e"))
			continue
		}
		for range r.IntN(6) {
			if r.IntN(5) == 0 {
				b.WriteString(pick(r, "%2F", "%2f", "%20", "%41", "%25", "%00", "%C3%A9", "%ff", "%3F", "%23", "%2B", "%3b"))
			} else {
				b.WriteByte(pathChars[r.IntN(len(pathChars))])
			}
		}
	}
	if r.IntN(3) == 0 {
		b.WriteByte('?')
		for range r.IntN(4) {
			if b.Len() > 0 && r.IntN(2) == 0 {
				b.WriteByte(pick[byte](r, '&', ';'))
			}
			b.WriteString(genToken(r, r.IntN(3), true))
			if r.IntN(3) > 0 {
				b.WriteByte('=')
			}
			for range r.IntN(5) {
				if r.IntN(4) == 0 {
					b.WriteString(pick(r, "%20", "+", "%2B", "%3D", "%26", "%zz", "%", "/", "?", "%e9"))
				} else {
					b.WriteByte(pathChars[r.IntN(len(pathChars))])
				}
			}
		}
	}
	return b.String()
}

// rfSpecialNames are the field names the generator sends only on purpose.
var rfSpecialNames = map[string]bool{"te": true, "host": true, "connection": true, "content-length": true, "transfer-encoding": true, "keep-alive": true, "upgrade": true, "proxy-connection": true, "trailer": true, "expect": true, "cookie": true}

// genRequest generates a request each protocol's client can send: lower
// is true for HTTP/2 and HTTP/3 (lower-case field names, no leading or
// trailing whitespace in values, no connection-specific fields).
func genRequest(r *rand.Rand, h2 bool) genReq {
	g := genReq{
		method:    pick(r, "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "post", "FOO", "M-SEARCH", "PROPFIND", genToken(r, 1+r.IntN(6), false)),
		target:    genPath(r),
		authority: pick(r, "example.com", "h", "example.com:8080", "[::1]:80", "Example.COM", "a-b.c", "127.0.0.1:1"),
	}
	name := func(n string) string {
		if h2 {
			return strings.ToLower(n)
		}
		switch r.IntN(3) {
		case 0:
			return strings.ToLower(n)
		case 1:
			return strings.ToUpper(n)
		}
		return n
	}
	for range r.IntN(6) {
		switch r.IntN(14) {
		case 0:
			g.fields = append(g.fields, [2]string{name("Cookie"), pick(r, "a=1", "b=2; c=3", "d=\"q\"", "e=")})
		case 1:
			if !h2 {
				g.fields = append(g.fields, [2]string{name("Connection"), pick(r, "keep-alive", "close", "Keep-Alive, X-Hop", "upgrade")})
			}
		case 2:
			if !slices.ContainsFunc(g.fields, func(f [2]string) bool { return strings.EqualFold(f[0], "te") }) {
				g.fields = append(g.fields, [2]string{name("Te"), "trailers"})
			}
		case 3:
			g.fields = append(g.fields, [2]string{name("Trailer"), pick(r, "X-T", "x-t, X-U", "X-U")})
		case 4:
			g.fields = append(g.fields, [2]string{name("Content-Type"), pick(r, "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=zz")})
		case 5:
			g.fields = append(g.fields, [2]string{name("Accept"), pick(r, "*/*", "text/html, application/json;q=0.9")})
		case 6:
			// A name again (not te, which HTTP/2 allows once in net/http,
			// nor Trailer, whose random values would name random
			// trailers).
			if f := g.fields[r.IntN(max(len(g.fields), 1))%max(len(g.fields), 1):]; len(f) > 0 && !strings.EqualFold(f[0][0], "te") && !strings.EqualFold(f[0][0], "trailer") {
				g.fields = append(g.fields, [2]string{f[0][0], genValue(r, !h2)})
				continue
			}
			fallthrough
		default:
			n := genToken(r, 1+r.IntN(10), h2)
			if rfSpecialNames[strings.ToLower(n)] {
				n = "x-" + n
			}
			g.fields = append(g.fields, [2]string{name(n), genValue(r, !h2)})
		}
	}
	switch r.IntN(4) {
	case 0: // no body
	case 1:
		g.body = []string{}
		g.withLength = r.IntN(2) == 0
	default:
		for range 1 + r.IntN(3) {
			piece := pick(r, "a=1&b=2", "hello", "x", "c=%41+b", strings.Repeat("z", r.IntN(40)), "")
			if r.IntN(40) == 0 {
				piece = strings.Repeat("0123456789abcdef", 1000+r.IntN(2000)) // DATA frames over 16 KiB
			}
			g.body = append(g.body, piece)
		}
		g.withLength = r.IntN(2) == 0
	}
	if g.body != nil && !g.withLength {
		if !h2 {
			for range g.body {
				g.chunkExt = append(g.chunkExt, pick(r, "", "", ";a", ";a=b", ";a=\"q s\"", ";x=1"))
			}
		}
		if r.IntN(3) == 0 || h2 && r.IntN(2) == 0 {
			for range 1 + r.IntN(2) {
				g.trailers = append(g.trailers, [2]string{name(pick(r, "X-T", "X-U", genToken(r, 4, h2))), genValue(r, false)})
			}
		}
	}
	if len(g.trailers) > 0 && r.IntN(2) == 0 {
		var names []string
		for _, f := range g.trailers {
			names = append(names, f[0])
		}
		g.fields = append(g.fields, [2]string{name("Trailer"), strings.Join(names, ", ")})
	}
	if g.body != nil && !g.withLength && h2 && r.IntN(3) == 0 {
		// h2/h3 trailers also go with a content-length.
		g.withLength = true
	}
	if r.IntN(4) == 0 {
		if h2 {
			g.edge = pick(r, h2Edges...)
		} else {
			g.edge = pick(r, h1Edges...)
		}
	}
	if r.IntN(8) == 0 && !h2 && g.body != nil {
		g.fields = append(g.fields, [2]string{name("Expect"), "100-continue"})
	}
	return g
}

// h1Bytes encodes g as HTTP/1.1 bytes: one Host field at a random place.
func (g genReq) h1Bytes(r *rand.Rand) string {
	var b strings.Builder
	target, proto := g.target, "HTTP/1.1"
	switch g.edge {
	case "http10", "http10-nohost", "http10-keepalive":
		proto = "HTTP/1.0"
	case "abs-form":
		target = "http://" + g.authority + target
	case "odd-target":
		i := 1 + r.IntN(len(target))
		target = target[:i] + pick(r, "\"", "<", ">", "{", "}", "|", "\\", "^", "`") + target[i:]
	}
	fmt.Fprintf(&b, "%s %s %s\r\n", g.method, target, proto)
	fields := append([][2]string(nil), g.fields...)
	switch g.edge {
	case "expect-other":
		fields = append(fields, [2]string{"Expect", pick(r, "foo", "100-continue, foo", "100-Continue")})
	case "http10-keepalive":
		fields = append(fields, [2]string{"Connection", "keep-alive"})
	case "space-colon":
		fields = append(fields, [2]string{"X-Sp ", "1"})
	case "empty-value":
		fields = append(fields, [2]string{"X-Empty", ""})
	case "cookies":
		fields = append(fields, [2]string{"Cookie", "k=1"}, [2]string{"X-Between", "b"}, [2]string{"cookie", "l=2; m=3"})
	case "http11-close":
		fields = append(fields, [2]string{"Connection", "close"})
	}
	if g.edge != "http10-nohost" {
		host := [2]string{pick(r, "Host", "host", "HOST"), g.authority}
		switch g.edge {
		case "host-empty":
			host[1] = ""
		case "host-port-empty":
			h := g.authority
			if i := strings.LastIndexByte(h, ':'); i > strings.LastIndexByte(h, ']') {
				h = h[:i]
			}
			host[1] = h + ":"
		}
		at := r.IntN(len(fields) + 1)
		fields = append(fields[:at], append([][2]string{host}, fields[at:]...)...)
		if g.edge == "host-dup" {
			fields = append(fields, host)
		}
	}
	if g.withLength || g.body != nil && proto == "HTTP/1.0" {
		n := strconv.Itoa(len(g.bodyString()))
		switch g.edge {
		case "cl-dup":
			fields = append(fields, [2]string{"Content-Length", n})
		case "cl-list":
			n += ", " + n
		case "cl-zeros":
			n = "00" + n
		}
		fields = append(fields, [2]string{"Content-Length", n})
	} else if g.body != nil {
		fields = append(fields, [2]string{pick(r, "Transfer-Encoding", "transfer-encoding"), pick(r, "chunked", "chunked", "Chunked")})
		if g.edge == "te-cl" {
			fields = append(fields, [2]string{"Content-Length", "1"})
		}
	}
	for _, f := range fields {
		fmt.Fprintf(&b, "%s:%s%s\r\n", f[0], pick(r, " ", "", "\t"), f[1])
	}
	b.WriteString("\r\n")
	if g.withLength || g.body != nil && proto == "HTTP/1.0" {
		b.WriteString(g.bodyString())
	} else if g.body != nil {
		for i, c := range g.body {
			if c == "" {
				continue
			}
			size := pick(r, "%x", "%x", "%X", "000%x")
			fmt.Fprintf(&b, size+"%s\r\n%s\r\n", len(c), g.chunkExt[i], c)
		}
		b.WriteString("0\r\n")
		for _, f := range g.trailers {
			fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

func (g genReq) h2Fields(scheme string) [][2]string {
	path, authority := g.target, g.authority
	switch g.edge {
	case "odd-path":
		i := 1 + len(path)/2
		path = path[:i] + []string{"\"", "<", ">", "{", "}", "|", "\\", "^", "`", "\x80", "\xff", " ", "#"}[len(path)%13] + path[i:]
	case "userinfo":
		authority = "user@" + authority
	case "path-query-only":
		path = "/?" + path
	}
	fs := [][2]string{{":method", g.method}, {":scheme", scheme}, {":authority", authority}, {":path", path}}
	fs = append(fs, g.fields...)
	if g.withLength {
		n := strconv.Itoa(len(g.bodyString()))
		switch g.edge {
		case "cl-zeros":
			n = "00" + n
		case "cl-dup":
			fs = append(fs, [2]string{"content-length", n})
		}
		fs = append(fs, [2]string{"content-length", n})
	}
	switch g.edge {
	case "host-too":
		fs = append(fs, [2]string{"host", g.authority})
	case "upper-name":
		fs = append(fs, [2]string{"X-Upper", "1"})
	case "ws-value":
		fs = append(fs, [2]string{"x-ws", []string{" v", "v ", "\tv"}[len(g.target)%3]})
	case "connection":
		fs = append(fs, [2]string{"connection", "keep-alive"})
	case "expect":
		fs = append(fs, [2]string{"expect", "100-continue"})
	case "te-gzip":
		fs = append(fs, [2]string{"te", "gzip"})
	case "empty-value":
		fs = append(fs, [2]string{"x-empty", ""})
	case "cookies":
		fs = append(fs, [2]string{"cookie", "k=1"}, [2]string{"x-between", "b"}, [2]string{"cookie", "l=2; m=3"}, [2]string{"cookie", ""})
	}
	return fs
}

// rfSummary is what a handler sees of a request, one field a line.
func rfSummary(r *http.Request) string {
	var b strings.Builder
	u := r.URL
	fmt.Fprintf(&b, "Method=%q\nURL{Scheme=%q Opaque=%q User=%v Host=%q Path=%q RawPath=%q RawQuery=%q Force=%v Frag=%q RawFrag=%q}\n", r.Method, u.Scheme, u.Opaque, u.User, u.Host, u.Path, u.RawPath, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment)
	fmt.Fprintf(&b, "RequestURI=%q\nProto=%q %d.%d\nHost=%q\n", r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Host)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "H %s=%q\n", k, r.Header[k])
	}
	fmt.Fprintf(&b, "CL=%d\nTE=%q\nClose=%v\n", r.ContentLength, r.TransferEncoding, r.Close)
	fmt.Fprintf(&b, "TrailerBefore=%v\n", trailerString(r.Trailer))
	body, err := io.ReadAll(r.Body)
	fmt.Fprintf(&b, "Body=%q err=%v\n", body, err)
	fmt.Fprintf(&b, "TrailerAfter=%v\n", trailerString(r.Trailer))
	r.Body = io.NopCloser(bytes.NewReader(body))
	ferr := r.ParseForm()
	fmt.Fprintf(&b, "Form=%v PostForm=%v err=%v\n", r.Form, r.PostForm, ferr != nil)
	return b.String()
}

var rfHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, rfSummary(r))
})

// rfSendH1 sends raw over a new connection and returns the handler's
// summary or "status N".
func rfSendH1(addr, raw string) string { return rfSendH1N(addr, raw, 1) }

// rfSendH1N sends raw, n pipelined requests, over a new connection and
// returns the answers to them (a summary or "status N" each) one after
// the other, or why there were fewer.
func rfSendH1N(addr, raw string, n int) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	var out []string
	for len(out) < n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if len(out) > 0 && err == io.EOF {
				return strings.Join(append(out, "(closed)"), rfNext)
			}
			return strings.Join(append(out, "read: "+err.Error()), rfNext)
		}
		if resp.StatusCode == 100 {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			out = append(out, fmt.Sprintf("status %d", resp.StatusCode))
		} else {
			out = append(out, string(b))
		}
	}
	return strings.Join(out, rfNext)
}

// rfSendH2 sends g over a new h2c connection with one DATA frame a body
// piece (of up to 16 KiB).
func rfSendH2(addr string, g genReq) string { return rfSendH2N(addr, []genReq{g}) }

// rfSendH2N sends gs one after the other, each once the one before was
// answered, on streams 1, 3... of one new h2c connection (the header
// blocks share its HPACK state), and returns the answers as rfSendH1N.
func rfSendH2N(addr string, gs []genReq) string {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(3 * time.Second))
	fr := http2.NewFramer(nc, nc)
	io.WriteString(nc, http2.ClientPreface)
	fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	dec := hpack.NewDecoder(4096, nil)
	var out []string
	for i, g := range gs {
		a := rfExchangeH2(fr, enc, &block, dec, uint32(2*i+1), g)
		out = append(out, a)
		if strings.HasPrefix(a, "read: ") || strings.HasPrefix(a, "GOAWAY") {
			break
		}
	}
	return strings.Join(out, rfNext)
}

// rfExchangeH2 sends g on stream id and reads its answer.
func rfExchangeH2(fr *http2.Framer, enc *hpack.Encoder, block *bytes.Buffer, dec *hpack.Decoder, id uint32, g genReq) string {
	block.Reset()
	for _, f := range g.h2Fields("http") {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	end := g.body == nil
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: end, EndHeaders: true})
	if !end {
		for i, c := range g.body {
			for len(c) > 16384 {
				fr.WriteData(id, false, []byte(c[:16384]))
				c = c[16384:]
			}
			fr.WriteData(id, i == len(g.body)-1 && len(g.trailers) == 0, []byte(c))
		}
		if len(g.body) == 0 && len(g.trailers) == 0 {
			fr.WriteData(id, true, nil)
		}
		if len(g.trailers) > 0 {
			block.Reset()
			for _, f := range g.trailers {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
		}
	}
	return readH2Response(fr, dec, id)
}

// rfSendH3 sends g over a new QUIC connection, one DATA frame a body
// piece.
func rfSendH3(addr string, g genReq) string { return rfSendH3N(addr, []genReq{g}) }

// rfSendH3N sends gs one after the other, each once the one before was
// answered, on request streams of one new QUIC connection, and returns
// the answers as rfSendH1N.
func rfSendH3N(addr string, gs []genReq) string {
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h3"}, ServerName: "localhost"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr, tc, &quic.Config{})
	if err != nil {
		return "dial: " + err.Error()
	}
	defer qc.CloseWithError(0, "")
	var out []string
	for _, g := range gs {
		a := rfExchangeH3(qc, g)
		out = append(out, a)
		if strings.HasPrefix(a, "open: ") {
			break
		}
	}
	return strings.Join(out, rfNext)
}

// rfExchangeH3 sends g on a new request stream of qc and reads its answer.
func rfExchangeH3(qc *quic.Conn, g genReq) string {
	st, err := qc.OpenStream()
	if err != nil {
		return "open: " + err.Error()
	}
	st.SetDeadline(time.Now().Add(3 * time.Second))
	out := h3Headers(g.h2Fields("https"))
	for _, c := range g.body {
		out = quicvarint.Append(quicvarint.Append(out, 0x00), uint64(len(c)))
		out = append(out, c...)
	}
	if len(g.trailers) > 0 {
		out = append(out, h3Headers(g.trailers)...)
	}
	st.Write(out)
	st.Close()
	return readH3Response(st)
}

// rfStart starts rfHandler on a cleartext endpoint (HTTP/1.1 and h2c) and
// an HTTPS one with HTTP/3, and returns their addresses.
func rfStart(t *testing.T) (addr, addr3 string) {
	t.Helper()
	s := &Server{Handler: rfHandler, Logger: quietLogger}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_, addr3 = h3Server(t, &Server{Handler: rfHandler, Logger: quietLogger}, HTTP1AndHTTP2AndHTTP3)
	return strings.TrimPrefix(s.Addresses()[0], "http://"), addr3
}
