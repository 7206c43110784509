package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

type probeReq struct {
	name      string
	method    string
	target    string // :path or request target
	authority string // :authority; HTTP/1 Host
	noAuth    bool
	scheme    string
	fields    [][2]string
	body      *string
	trailers  [][2]string
	emptyData bool // h2/h3: no body, but END_STREAM on an empty DATA
	h1raw     string
}

func summarize(r *http.Request) string {
	var b strings.Builder
	u := r.URL
	fmt.Fprintf(&b, "Method=%q\nURL{Scheme=%q Opaque=%q Host=%q Path=%q RawPath=%q RawQuery=%q Force=%v Frag=%q}\n", r.Method, u.Scheme, u.Opaque, u.Host, u.Path, u.RawPath, u.RawQuery, u.ForceQuery, u.Fragment)
	fmt.Fprintf(&b, "RequestURI=%q Proto=%q %d.%d Host=%q\n", r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Host)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "User-Agent" || k == "Accept-Encoding" {
			continue
		}
		fmt.Fprintf(&b, "H %s=%q\n", k, r.Header[k])
	}
	fmt.Fprintf(&b, "CL=%d NoBody=%v TE=%q Close=%v\n", r.ContentLength, r.Body == http.NoBody, r.TransferEncoding, r.Close)
	fmt.Fprintf(&b, "TrailerBefore=%v\n", trailerString(r.Trailer))
	body, err := io.ReadAll(r.Body)
	fmt.Fprintf(&b, "Body=%q err=%v\n", body, err)
	fmt.Fprintf(&b, "TrailerAfter=%v\n", trailerString(r.Trailer))
	var cs []string
	for _, c := range r.Cookies() {
		cs = append(cs, c.Name+"="+c.Value)
	}
	fmt.Fprintf(&b, "Cookies=%q\n", cs)
	if r.TLS != nil {
		fmt.Fprintf(&b, "TLS sni=%q alpn=%q\n", r.TLS.ServerName, r.TLS.NegotiatedProtocol)
	}
	return b.String()
}

func trailerString(h http.Header) string {
	if h == nil {
		return "nil"
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, h[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

var summaryHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, summarize(r))
})

func (p probeReq) h1Bytes() string {
	if p.h1raw != "" {
		return p.h1raw
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", p.method, p.target)
	if !p.noAuth {
		fmt.Fprintf(&b, "Host: %s\r\n", p.authority)
	}
	for _, f := range p.fields {
		fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
	}
	hasCL := false
	for _, f := range p.fields {
		if strings.EqualFold(f[0], "content-length") {
			hasCL = true
		}
	}
	if p.body != nil && !hasCL {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if len(*p.body) > 0 {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(*p.body), *p.body)
		}
		b.WriteString("0\r\n")
		for _, f := range p.trailers {
			fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
		}
		b.WriteString("\r\n")
		return b.String()
	}
	b.WriteString("\r\n")
	if p.body != nil {
		b.WriteString(*p.body)
	}
	return b.String()
}

func probeH1(addr string, p probeReq) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, p.h1Bytes())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "read: " + err.Error()
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	return string(b)
}

func (p probeReq) pseudo(scheme string) [][2]string {
	var fs [][2]string
	fs = append(fs, [2]string{":method", p.method})
	if p.method != "CONNECT" || p.scheme != "" {
		s := scheme
		if p.scheme != "" {
			s = p.scheme
		}
		if s != "-" {
			fs = append(fs, [2]string{":scheme", s})
		}
	}
	if !p.noAuth {
		fs = append(fs, [2]string{":authority", p.authority})
	}
	if p.target != "" {
		fs = append(fs, [2]string{":path", p.target})
	}
	for _, f := range p.fields {
		fs = append(fs, [2]string{strings.ToLower(f[0]), f[1]})
	}
	return fs
}

func probeH2(nc net.Conn, p probeReq, scheme string) string {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(3 * time.Second))
	fr := http2.NewFramer(nc, nc)
	io.WriteString(nc, http2.ClientPreface)
	fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range p.pseudo(scheme) {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	end := p.body == nil && !p.emptyData
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: end, EndHeaders: true})
	if !end {
		body := ""
		if p.body != nil {
			body = *p.body
		}
		for len(body) > 16384 {
			fr.WriteData(1, false, []byte(body[:16384]))
			body = body[16384:]
		}
		fr.WriteData(1, len(p.trailers) == 0, []byte(body))
		if len(p.trailers) > 0 {
			block.Reset()
			for _, f := range p.trailers {
				enc.WriteField(hpack.HeaderField{Name: strings.ToLower(f[0]), Value: f[1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
		}
	}
	return readH2Response(fr, hpack.NewDecoder(4096, nil), 1)
}

// readH2Response reads the response on stream id to its end, answering
// SETTINGS and giving the windows back as DATA comes: its body for a 200,
// "status N" for another final status (interim 1xx heads skipped),
// "RST_STREAM CODE", "GOAWAY CODE" or "read: ..." otherwise. Frames of
// other streams (late ones of an earlier request) are passed over.
func readH2Response(fr *http2.Framer, dec *hpack.Decoder, id uint32) string {
	status := ""
	var body bytes.Buffer
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return "read: " + err.Error()
		}
		if f.Header().StreamID != 0 && f.Header().StreamID != id {
			continue
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			hfs, _ := dec.DecodeFull(f.HeaderBlockFragment())
			for _, hf := range hfs {
				if hf.Name == ":status" && !strings.HasPrefix(hf.Value, "1") {
					status = hf.Value
				}
			}
			if f.StreamEnded() {
				return "status " + status
			}
		case *http2.DataFrame:
			body.Write(f.Data())
			if n := uint32(len(f.Data())); n > 0 {
				fr.WriteWindowUpdate(0, n)
				fr.WriteWindowUpdate(id, n)
			}
			if f.StreamEnded() {
				if status != "200" {
					return "status " + status
				}
				return body.String()
			}
		case *http2.RSTStreamFrame:
			return "RST_STREAM " + f.ErrCode.String()
		case *http2.GoAwayFrame:
			return "GOAWAY " + f.ErrCode.String()
		}
	}
}

func probeH3(addr string, p probeReq) string {
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h3"}, ServerName: "localhost"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr, tc, &quic.Config{})
	if err != nil {
		return "dial: " + err.Error()
	}
	defer qc.CloseWithError(0, "")
	st, err := qc.OpenStream()
	if err != nil {
		return "open: " + err.Error()
	}
	st.SetDeadline(time.Now().Add(3 * time.Second))
	out := h3Headers(p.pseudo("https"))
	if p.body != nil || p.emptyData {
		body := ""
		if p.body != nil {
			body = *p.body
		}
		out = quicvarint.Append(quicvarint.Append(out, 0x00), uint64(len(body)))
		out = append(out, body...)
		if len(p.trailers) > 0 {
			var tfs [][2]string
			for _, f := range p.trailers {
				tfs = append(tfs, [2]string{strings.ToLower(f[0]), f[1]})
			}
			out = append(out, h3Headers(tfs)...)
		}
	}
	st.Write(out)
	st.Close()
	return readH3Response(st)
}

// h3Headers is an HTTP/3 HEADERS frame of fs, QPACK-encoded without the
// dynamic table.
func h3Headers(fs [][2]string) []byte {
	var block bytes.Buffer
	e := qpack.NewEncoder(&block)
	for _, f := range fs {
		e.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return append(quicvarint.Append(quicvarint.Append(nil, 0x01), uint64(block.Len())), block.Bytes()...)
}

// readH3Response reads an HTTP/3 response stream to its end: its body
// for a 200, "status N" for another final status (interim 1xx heads
// skipped), "read: ..." for a stream that failed.
func readH3Response(r io.Reader) string {
	br := bufio.NewReader(r)
	status := ""
	var body bytes.Buffer
	for {
		typ, err := quicvarint.Read(br)
		if err == io.EOF {
			if status != "200" {
				return "status " + status
			}
			return body.String()
		}
		if err != nil {
			return "read: " + err.Error()
		}
		n, err := quicvarint.Read(br)
		if err != nil {
			return "read: " + err.Error()
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "read: " + err.Error()
		}
		switch typ {
		case 0x01:
			next := qpack.NewDecoder().Decode(buf)
			for hf, err := next(); err == nil; hf, err = next() {
				if hf.Name == ":status" && !strings.HasPrefix(hf.Value, "1") {
					status = hf.Value
				}
			}
		case 0x00:
			body.Write(buf)
		}
	}
}

func sp(s string) *string { return &s }

// startNetHTTPModel starts net/http's server with h on a loopback port,
// serving HTTP/1.1 and h2c, and returns its address: the model the
// differential tests compare this server with.
func startNetHTTPModel(t *testing.T, h http.Handler) string {
	t.Helper()
	var prot http.Protocols
	prot.SetHTTP1(true)
	prot.SetUnencryptedHTTP2(true)
	model := &http.Server{Handler: h, Protocols: &prot, ErrorLog: log.New(io.Discard, "", 0)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go model.Serve(ln)
	t.Cleanup(func() { model.Close() })
	return ln.Addr().String()
}

// startQUICGoModel starts quic-go's HTTP/3 server with h on a loopback
// UDP port and returns its address: the HTTP/3 model of the differential
// tests.
func startQUICGoModel(t *testing.T, h http.Handler) string {
	t.Helper()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m3 := &http3.Server{Handler: h, TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{*cert}})}
	go m3.Serve(pc)
	t.Cleanup(func() { m3.Close(); pc.Close() })
	return pc.LocalAddr().String()
}

// protoSender sends a probeReq over one protocol to a server started by
// startAllProtocols and returns what probeH1, probeH2 or probeH3 return.
type protoSender struct {
	name string
	send func(p probeReq) string
}

// startAllProtocols starts h on a cleartext endpoint (HTTP/1.1 and h2c)
// and an HTTPS one with HTTP/3, and returns a sender for HTTP/1.1, h2c
// and HTTP/3.
func startAllProtocols(t *testing.T, h http.Handler) []protoSender {
	t.Helper()
	s := &Server{Handler: h, Logger: quietLogger}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	_, addr3 := h3Server(t, &Server{Handler: h, Logger: quietLogger}, HTTP1AndHTTP2AndHTTP3)
	return []protoSender{
		{"HTTP/1.1", func(p probeReq) string { return probeH1(addr, p) }},
		{"h2c", func(p probeReq) string {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return "dial: " + err.Error()
			}
			return probeH2(nc, p, "http")
		}},
		{"HTTP/3", func(p probeReq) string { return probeH3(addr3, p) }},
	}
}

// TestRequestBodyReadAfterClose: once a handler closed the request's
// body, a read of it fails with http.ErrBodyReadAfterClose, over each
// protocol, as net/http's server fails it (HTTP/1.1 with that error,
// HTTP/2 with "body closed by handler"); it went on reading the body.
func TestRequestBodyReadAfterClose(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := make([]byte, 2)
		n1, err1 := r.Body.Read(p)
		closeErr := r.Body.Close()
		n2, err2 := r.Body.Read(p)
		fmt.Fprintf(w, "%d %v, %v, %d %v %v", n1, err1, closeErr, n2, err2, errors.Is(err2, http.ErrBodyReadAfterClose))
	})
	senders := startAllProtocols(t, h)
	want := "2 <nil>, <nil>, 0 http: invalid Read on closed Body true"
	for _, c := range []probeReq{
		{name: "Content-Length", method: "POST", target: "/", authority: "h", fields: [][2]string{{"Content-Length", "10"}}, body: sp("0123456789")},
		{name: "no Content-Length", method: "POST", target: "/", authority: "h", body: sp("0123456789")},
	} {
		for _, s := range senders {
			if got := s.send(c); got != want {
				t.Errorf("%s, %s: read, close, read: %q, want %q", s.name, c.name, got, want)
			}
		}
	}
}

// TestConnectAuthorityNeedsPort: a CONNECT's target names the host and
// the port of the tunnel, and "there is no default port; a client MUST
// send a port number" (RFC 9110, 9.3.6; :authority in RFC 9113, 8.5 and
// RFC 9114, 4.4). One without a port, or with an empty one, is refused
// over each protocol: HTTP/1.1 refused "example.com" but served
// "[::1]", and HTTP/2 and HTTP/3 served both.
func TestConnectAuthorityNeedsPort(t *testing.T) {
	t.Parallel()
	senders := startAllProtocols(t, summaryHandler)
	for _, c := range []struct {
		authority string
		served    bool
	}{
		{"example.com:443", true},
		{"[::1]:443", true},
		{"127.0.0.1:8080", true},
		{"example.com", false},
		{"[::1]", false},
		{"example.com:", false},
		{"[::1]:", false},
	} {
		p := probeReq{method: "CONNECT", authority: c.authority}
		for _, s := range senders {
			h1 := p
			if s.name == "HTTP/1.1" {
				h1.target = c.authority
			}
			got := s.send(h1)
			if served := strings.HasPrefix(got, "Method=\"CONNECT\""); served != c.served {
				t.Errorf("%s, CONNECT %s: served %v, want %v (%s)", s.name, c.authority, served, c.served, strings.SplitN(got, "\n", 2)[0])
			}
		}
	}
}

// TestRequestLineLimitHTTP2And3: Limits.MaxRequestLineSize bounds an
// HTTP/2 or HTTP/3 request's :method, :scheme, :authority and :path
// together, as Kestrel documents it ("for HTTP/2 and HTTP/3 this measures
// the total size of the required pseudo headers"); a longer one is
// answered 414, as over HTTP/1.1. Any :path up to the header limits was
// served.
func TestRequestLineLimitHTTP2And3(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: summaryHandler, Logger: quietLogger, Limits: Limits{MaxRequestLineSize: 100}}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	_, addr3 := h3Server(t, &Server{Handler: summaryHandler, Logger: quietLogger, Limits: Limits{MaxRequestLineSize: 100}}, HTTP1AndHTTP2AndHTTP3)
	h2 := func(p probeReq) string {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return "dial: " + err.Error()
		}
		return probeH2(nc, p, "http")
	}
	h3 := func(p probeReq) string { return probeH3(addr3, p) }
	for _, proto := range []struct {
		name string
		send func(probeReq) string
		fill int // what :method, :scheme and :authority take of the 100 bytes
	}{
		{"h2c", h2, len("GET") + len("http") + len("h")},
		{"HTTP/3", h3, len("GET") + len("https") + len("h")},
	} {
		for _, c := range []struct {
			path string
			want string
		}{
			{"/" + strings.Repeat("a", 100-proto.fill-2), "Method"},
			{"/" + strings.Repeat("a", 100-proto.fill-1), "Method"}, // exactly 100
			{"/" + strings.Repeat("a", 100-proto.fill), "status 414"},
			{"/?" + strings.Repeat("q", 1000), "status 414"},
			{"*", "status 200"}, // OPTIONS *, answered by the server
		} {
			method := "GET"
			if c.path == "*" {
				method = "OPTIONS"
			}
			got := proto.send(probeReq{method: method, target: c.path, authority: "h"})
			if c.path == "*" && got == "" {
				got = "status 200" // probeH3's answer for a 200 without a body
			}
			if !strings.HasPrefix(got, c.want) {
				t.Errorf("%s, :path of %d bytes: %q, want %s", proto.name, len(c.path), strings.SplitN(got, "\n", 2)[0], c.want)
			}
		}
	}
}

// fieldsCase is one request of TestRequestFieldsAcrossProtocols.
type fieldsCase struct {
	probeReq
	// notH1, notH2: what this server's handler sees over that protocol
	// differs from what net/http's sees, by design; the comment on the
	// case says why. Such a case still compares HTTP/3 with h2c.
	notH1, notH2 bool
	// h2only: the request is one only HTTP/2 and HTTP/3 can send (an
	// END_STREAM flag against a content-length); not sent over HTTP/1.1.
	h2only bool
}

// TestRequestFieldsAcrossProtocols is a differential test of the
// *http.Request a handler gets: each request is sent, byte for byte the
// same, over HTTP/1.1 and h2c to this server and to net/http's, and over
// HTTP/3 to this server, and what the handler sees (summarize: method,
// URL, RequestURI, protocol, Host, header, body, lengths, trailers,
// cookies) or how the request is refused must agree: HTTP/1.1 and h2c
// with net/http's, HTTP/3 with h2c. Where the protocols must differ, the
// case says why.
func TestRequestFieldsAcrossProtocols(t *testing.T) {
	t.Parallel()
	senders := startAllProtocols(t, summaryHandler)
	maddr := startNetHTTPModel(t, summaryHandler)

	cookies := [][2]string{{"Cookie", "a=1"}, {"Cookie", "b=2"}}
	cases := []fieldsCase{
		{probeReq: probeReq{name: "plain", method: "GET", target: "/a/b?x=1", authority: "example.com"}},
		{probeReq: probeReq{name: "%2F", method: "GET", target: "/a%2Fb/c", authority: "h"}},
		{probeReq: probeReq{name: "%25", method: "GET", target: "/a%25b", authority: "h"}},
		{probeReq: probeReq{name: "%00", method: "GET", target: "/a%00b", authority: "h"}},
		{probeReq: probeReq{name: "%41%2f", method: "GET", target: "/%41%2f", authority: "h"}},
		{probeReq: probeReq{name: "dot segments", method: "GET", target: "/a/../b/./c", authority: "h"}},
		{probeReq: probeReq{name: "double slashes", method: "GET", target: "//a//b", authority: "h"}},
		{probeReq: probeReq{name: "empty query", method: "GET", target: "/a?", authority: "h"}},
		{probeReq: probeReq{name: "query only", method: "GET", target: "/?x", authority: "h"}},
		{probeReq: probeReq{name: "semicolons and plus", method: "GET", target: "/a;b+c?x=1;y=a+b", authority: "h"}},
		{probeReq: probeReq{name: "long query", method: "GET", target: "/a?" + strings.Repeat("q", 6000), authority: "h"}},
		{probeReq: probeReq{name: "lower-case method", method: "get", target: "/x", authority: "h"}},
		{probeReq: probeReq{name: "token method", method: "M!#$%&'*+-.^_`|~9", target: "/x", authority: "h"}},
		{probeReq: probeReq{name: "OPTIONS path", method: "OPTIONS", target: "/x", authority: "h"}},
		{probeReq: probeReq{name: "CONNECT", method: "CONNECT", authority: "example.com:443"}},
		{probeReq: probeReq{name: "IPv6 authority", method: "GET", target: "/x", authority: "[::1]:8080"}},
		{probeReq: probeReq{name: "authority case and port", method: "GET", target: "/x", authority: "Example.COM:80"}},
		{probeReq: probeReq{name: "split cookies", method: "GET", target: "/c", authority: "h", fields: cookies}},
		{probeReq: probeReq{name: "header names", method: "GET", target: "/", authority: "h", fields: [][2]string{{"x_foo", "1"}, {"foo.bar", "2"}, {"1abc", "3"}, {"x--y", "4"}, {"-x", "5"}, {"a~b", "6"}}}},
		{probeReq: probeReq{name: "repeated fields", method: "GET", target: "/", authority: "h", fields: [][2]string{{"x-v", "1"}, {"x-w", "2"}, {"x-v", "3"}, {"x-e", ""}}}},
		{probeReq: probeReq{name: "body with length", method: "POST", target: "/b", authority: "h", fields: [][2]string{{"Content-Length", "5"}}, body: sp("hello")}},
		{probeReq: probeReq{name: "body without length", method: "POST", target: "/b", authority: "h", body: sp("hello")}},
		{probeReq: probeReq{name: "empty body with length 0", method: "POST", target: "/b", authority: "h", fields: [][2]string{{"Content-Length", "0"}}, body: sp("")}},
		{probeReq: probeReq{name: "length 0 without body", method: "GET", target: "/x", authority: "h", fields: [][2]string{{"Content-Length", "0"}}}},
		{probeReq: probeReq{name: "form", method: "POST", target: "/f?a=1", authority: "h", fields: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}, {"Content-Length", "3"}}, body: sp("b=2")}},
		{probeReq: probeReq{name: "declared trailer", method: "POST", target: "/t", authority: "h", fields: [][2]string{{"Trailer", "X-T"}}, body: sp("hi"), trailers: [][2]string{{"X-T", "v"}}}},
		// Undeclared trailers: this server puts them in Request.Trailer over
		// every protocol, as net/http's HTTP/1.1 server does; its HTTP/2
		// server drops them.
		{probeReq: probeReq{name: "undeclared trailer", method: "POST", target: "/t", authority: "h", body: sp("hi"), trailers: [][2]string{{"X-U", "u"}}}, notH2: true},
		// A Trailer header naming framing fields: they are left out of
		// Request.Trailer; net/http refuses the request.
		{probeReq: probeReq{name: "Trailer: Content-Length", method: "POST", target: "/t", authority: "h", fields: [][2]string{{"Trailer", "Content-Length, X-A"}}, body: sp("hi"), trailers: [][2]string{{"X-A", "a"}}}, notH1: true, notH2: true},
		// A host field: net/http's HTTP/2 server leaves it in the header
		// map; this server moves it to Request.Host over every protocol,
		// as net/http's HTTP/1.1 server and its documentation do.
		{probeReq: probeReq{name: "host without :authority", method: "GET", target: "/x", noAuth: true, fields: [][2]string{{"Host", "hosthdr"}}}, notH2: true},
		// Refused over every protocol here (RFC 9113, 8.3.1; RFC 9114,
		// 4.3.1: :path is origin form or *); net/http's HTTP/2 server
		// serves it.
		{probeReq: probeReq{name: "absolute form", method: "GET", target: "http://other.example/p?q", authority: "other.example"}, notH2: true},
		// An HTTP/1.1 absolute-form target whose authority is not Host's
		// is refused (as Kestrel does); net/http serves it.
		{probeReq: probeReq{name: "absolute form, other Host", method: "GET", target: "http://other.example/p", authority: "h"}, notH1: true, notH2: true},
		// A raw byte above 0x7f: HTTP/1.1 refuses it in the request line
		// (RFC 9112, 3.2), HTTP/2 and HTTP/3 allow it in :path as
		// net/http's HTTP/2 server and nghttp2 do (httpsyntax.ValidPathBytes).
		{probeReq: probeReq{name: "raw UTF-8", method: "GET", target: "/caf\xc3\xa9", authority: "h"}, notH1: true},
		// The :path or Content-Length refusals net/http's HTTP/2 server
		// answers with another status or serves (RFC 9113, 8.1.1 makes
		// these malformed).
		{probeReq: probeReq{name: "%zz", method: "GET", target: "/a%zzb", authority: "h"}, notH2: true},
		{probeReq: probeReq{name: "length with END_STREAM", method: "GET", target: "/x", authority: "h", fields: [][2]string{{"Content-Length", "5"}}}, h2only: true, notH2: true},
		{probeReq: probeReq{name: "GET *", method: "GET", target: "*", authority: "h"}, notH1: true, notH2: true},
		{probeReq: probeReq{name: "CONNECT without a port", method: "CONNECT", authority: "example.com"}, notH1: true, notH2: true},
	}
	refused := func(s string) bool {
		return strings.HasPrefix(s, "status 4") || strings.HasPrefix(s, "RST_STREAM") || strings.Contains(s, "canceled by remote with error code")
	}
	for _, c := range cases {
		h1 := c.probeReq
		if c.method == "CONNECT" {
			h1.target = c.authority
		}
		k1, m1 := "", ""
		if !c.h2only {
			k1, m1 = senders[0].send(h1), probeH1(maddr, h1)
		}
		k2 := senders[1].send(c.probeReq)
		nc, err := net.Dial("tcp", maddr)
		if err != nil {
			t.Fatal(err)
		}
		m2 := probeH2(nc, c.probeReq, "http")
		k3 := senders[2].send(c.probeReq)
		// net/http's HTTP/2 server gives a request whose HEADERS ended the
		// stream a body of its own that reads EOF; this server gives
		// http.NoBody, as net/http's HTTP/1.1 server does.
		k2n := strings.Replace(k2, "NoBody=true", "NoBody=false", 1)
		// HTTP/3 has no END_STREAM flag: whether its stream ended with
		// HEADERS is known only when the FIN came with them.
		k3n := strings.NewReplacer("HTTP/3.0\" 3.0", "HTTP/2.0\" 2.0", "\nTLS sni=\"localhost\" alpn=\"h3\"", "").Replace(k3)
		if c.body == nil && !c.emptyData {
			k3n = strings.Replace(k3n, "CL=-1 NoBody=false", "CL=0 NoBody=true", 1)
		}
		switch {
		case c.notH1:
		case refused(k1) && refused(m1):
		case k1 != m1:
			t.Errorf("%s, HTTP/1.1, this server against net/http's:\n%s", c.name, rfDiff(k1, m1))
		}
		switch {
		case c.notH2:
		case refused(k2) && refused(m2):
		case k2n != m2:
			t.Errorf("%s, h2c, this server against net/http's:\n%s", c.name, rfDiff(k2n, m2))
		}
		if refused(k3) != refused(k2) || !refused(k2) && k3n != k2 {
			t.Errorf("%s, HTTP/3 against h2c:\n%s", c.name, rfDiff(k3n, k2))
		}
	}
}
