package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
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
	dec := hpack.NewDecoder(4096, nil)
	status := ""
	var body bytes.Buffer
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return "read: " + err.Error()
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			hfs, _ := dec.DecodeFull(f.HeaderBlockFragment())
			for _, hf := range hfs {
				if hf.Name == ":status" {
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
				fr.WriteWindowUpdate(1, n)
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
	enc := func(fs [][2]string) []byte {
		var block bytes.Buffer
		e := qpack.NewEncoder(&block)
		for _, f := range fs {
			e.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return append(quicvarint.Append(quicvarint.Append(nil, 0x01), uint64(block.Len())), block.Bytes()...)
	}
	st, err := qc.OpenStream()
	if err != nil {
		return "open: " + err.Error()
	}
	st.SetDeadline(time.Now().Add(3 * time.Second))
	out := enc(p.pseudo("https"))
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
			out = append(out, enc(tfs)...)
		}
	}
	st.Write(out)
	st.Close()
	br := bufio.NewReader(st)
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
				if hf.Name == ":status" {
					status = hf.Value
				}
			}
		case 0x00:
			body.Write(buf)
		}
	}
}

func sp(s string) *string { return &s }

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

// TestHTTP2RequestLineLimit: Limits.MaxRequestLineSize bounds an HTTP/2
// request's :method, :scheme, :authority and :path together, as Kestrel
// documents it ("for HTTP/2 and HTTP/3 this measures the total size of
// the required pseudo headers"); a longer one is answered 414, as over
// HTTP/1.1. Any :path up to the header limits was served.
func TestHTTP2RequestLineLimit(t *testing.T) {
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
	// "GET", "http" and "h": 8 bytes, leaving 92 for :path.
	for _, c := range []struct {
		path string
		want string
	}{
		{"/" + strings.Repeat("a", 90), "Method"},
		{"/" + strings.Repeat("a", 91), "Method"},
		{"/" + strings.Repeat("a", 92), "status 414"},
		{"/?" + strings.Repeat("q", 1000), "status 414"},
		{"*", "status 200"}, // OPTIONS *, answered by the server
	} {
		method := "GET"
		if c.path == "*" {
			method = "OPTIONS"
		}
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		got := probeH2(nc, probeReq{method: method, target: c.path, authority: "h"}, "http")
		if !strings.HasPrefix(got, c.want) {
			t.Errorf(":path of %d bytes: %q, want %s", len(c.path), strings.SplitN(got, "\n", 2)[0], c.want)
		}
	}
}
