package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// edgeAnswer is how a server answered one request of an edgeConn.
type edgeAnswer struct {
	status int    // the response's status; 0 when none came
	body   string // the response's body
	reset  string // the stream's reset (RST_STREAM or QUIC's) code, or ""
	closed string // why the connection ended with this request, or ""
}

// String shows the answer for a test's message.
func (a edgeAnswer) String() string {
	s := fmt.Sprintf("status %d %.40q", a.status, a.body)
	if a.reset != "" {
		s += " reset " + a.reset
	}
	if a.closed != "" {
		s += " closed: " + a.closed
	}
	return s
}

// edgeConn is one connection of a hand-driven client over one protocol:
// it sends requests one after another, byte for byte as probeReq says,
// so that a test can put a request at an exact limit and then see
// whether the connection still serves the next one.
type edgeConn interface {
	do(p probeReq) edgeAnswer
	close()
}

// edgeProto dials edgeConns over one protocol of a limitEdgeServer.
type edgeProto struct {
	name      string
	scheme    string // what :scheme a request carries
	addr      string // the endpoint's host:port
	transport string // its network.transport: tcp or udp
	// try dials a connection; dial stops the test when that fails.
	try  func(t *testing.T) (edgeConn, error)
	dial func(t *testing.T) edgeConn
}

// limitEdgeServer starts s with a cleartext endpoint (HTTP/1.1 and h2c)
// and an HTTPS one (h2 and HTTP/3), and returns the protocols to reach
// it with.
func limitEdgeServer(t *testing.T, s *Server) []edgeProto {
	t.Helper()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	if s.Logger == nil {
		s.Logger = quietLogger
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return edgeProtos(s, testClientTLS(t).RootCAs)
}

// edgeProtos returns the protocols to reach a started server with: its
// cleartext endpoint with HTTP/1.1 and h2c, its HTTPS one with h2 and
// HTTP/3, trusting roots.
func edgeProtos(s *Server, roots *x509.CertPool) []edgeProto {
	var plain, secure string
	for _, a := range s.Addresses() {
		if rest, ok := strings.CutPrefix(a, "https://"); ok {
			secure = rest
		} else {
			plain = strings.TrimPrefix(a, "http://")
		}
	}
	h3 := func(t *testing.T) (edgeConn, error) {
		cfg := &tls.Config{RootCAs: roots}
		cfg.ServerName, cfg.NextProtos = "localhost", []string{"h3"}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		qc, err := quic.DialAddr(ctx, secure, cfg, &quic.Config{})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { qc.CloseWithError(0, "") })
		return &h3Edge{qc: qc}, nil
	}
	h2 := func(t *testing.T) (edgeConn, error) {
		cfg := &tls.Config{RootCAs: roots}
		cfg.ServerName, cfg.NextProtos = "localhost", []string{"h2"}
		nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", secure, cfg)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { nc.Close() })
		return newH2Edge(nc, "https"), nil
	}
	protos := []edgeProto{
		{name: "HTTP/1.1", scheme: "http", addr: plain, transport: "tcp", try: func(t *testing.T) (edgeConn, error) {
			nc := dial(t, plain)
			return &h1Edge{nc: nc, br: bufio.NewReader(nc)}, nil
		}},
		{name: "h2c", scheme: "http", addr: plain, transport: "tcp", try: func(t *testing.T) (edgeConn, error) { return newH2Edge(dial(t, plain), "http"), nil }},
		{name: "h2", scheme: "https", addr: secure, transport: "tcp", try: h2},
		{name: "HTTP/3", scheme: "https", addr: secure, transport: "udp", try: h3},
	}
	for i := range protos {
		try := protos[i].try
		protos[i].dial = func(t *testing.T) edgeConn {
			t.Helper()
			c, err := try(t)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	return protos
}

// h1Edge is an edgeConn over HTTP/1.1.
type h1Edge struct {
	nc net.Conn
	br *bufio.Reader
}

// close closes the connection.
func (c *h1Edge) close() { c.nc.Close() }

// do sends p as it is on the wire and reads the response.
func (c *h1Edge) do(p probeReq) edgeAnswer {
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.nc, p.h1Bytes()); err != nil {
		return edgeAnswer{closed: "write: " + err.Error()}
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return edgeAnswer{closed: "read: " + err.Error()}
	}
	b, err := io.ReadAll(resp.Body)
	a := edgeAnswer{status: resp.StatusCode, body: string(b)}
	switch {
	case err != nil:
		a.closed = "reading the body: " + err.Error()
	case resp.Close:
		a.closed = "Connection: close"
		// The server must close it too (a reset counts: the client may
		// have sent bytes the server did not read).
		var ne net.Error
		if n, err := c.br.Read(make([]byte, 1)); n > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
			a.closed += fmt.Sprintf(", but the connection is open (%d bytes, %v)", n, err)
		}
	}
	return a
}

// h2Edge is an edgeConn over HTTP/2, each request on a new stream.
type h2Edge struct {
	nc     net.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	block  bytes.Buffer
	dec    *hpack.Decoder
	scheme string
	next   uint32
	gone   string // the GOAWAY or error that ended the connection
}

// newH2Edge starts HTTP/2 on nc, whose requests carry :scheme scheme.
func newH2Edge(nc net.Conn, scheme string) *h2Edge {
	c := &h2Edge{nc: nc, fr: http2.NewFramer(nc, nc), dec: hpack.NewDecoder(4096, nil), scheme: scheme, next: 1}
	c.enc = hpack.NewEncoder(&c.block)
	io.WriteString(nc, http2.ClientPreface)
	c.fr.WriteSettings()
	return c
}

// close closes the connection.
func (c *h2Edge) close() { c.nc.Close() }

// headers sends fields as one HEADERS frame, or HEADERS and
// CONTINUATION frames when they exceed 16 KiB.
func (c *h2Edge) headers(id uint32, fields [][2]string, end bool) {
	c.encode(fields)
	b := c.block.Bytes()
	first := b[:min(len(b), 16384)]
	b = b[len(first):]
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(b) == 0})
	for len(b) > 0 {
		n := min(len(b), 16384)
		c.fr.WriteContinuation(id, n == len(b), b[:n])
		b = b[n:]
	}
}

// do sends p on the connection's next stream and reads its answer.
func (c *h2Edge) do(p probeReq) edgeAnswer {
	if c.gone != "" {
		return edgeAnswer{closed: "already: " + c.gone}
	}
	id := c.next
	c.next += 2
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	end := p.body == nil
	c.headers(id, p.pseudo(c.scheme), end)
	if !end {
		body := *p.body
		for len(body) > 16384 {
			c.fr.WriteData(id, false, []byte(body[:16384]))
			body = body[16384:]
		}
		c.fr.WriteData(id, len(p.trailers) == 0, []byte(body))
		if len(p.trailers) > 0 {
			c.headers(id, lowerFields(p.trailers), true)
		}
	}
	return c.read(id)
}

// read reads the answer to the request on stream id: frames to its end,
// its reset, or the end of the connection.
func (c *h2Edge) read(id uint32) edgeAnswer { return c.readTo(id, false) }

// readTo is read; with head, it returns once the response's head has
// come (a tunnel's 200).
func (c *h2Edge) readTo(id uint32, head bool) edgeAnswer {
	var a edgeAnswer
	var body bytes.Buffer
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.gone = err.Error()
			a.closed = c.gone
			return a
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.fr.WriteSettingsAck()
				if v, ok := f.Value(http2.SettingHeaderTableSize); ok {
					// The encoder's next block starts with the size
					// update RFC 7541, 4.2 asks for.
					c.enc.SetMaxDynamicTableSizeLimit(v)
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			c.gone = "GOAWAY " + f.ErrCode.String()
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID < id {
				a.closed = c.gone
				return a
			}
		case *http2.HeadersFrame:
			if f.StreamID != id {
				continue
			}
			hfs, _ := c.dec.DecodeFull(f.HeaderBlockFragment())
			for _, hf := range hfs {
				if hf.Name == ":status" {
					if n, _ := strconv.Atoi(hf.Value); n >= 200 {
						a.status = n
					}
				}
			}
			if f.StreamEnded() || head && a.status == 200 {
				a.body = body.String()
				return a
			}
		case *http2.DataFrame:
			if n := uint32(len(f.Data())); n > 0 {
				c.fr.WriteWindowUpdate(0, n)
				if f.StreamID == id && !f.StreamEnded() {
					c.fr.WriteWindowUpdate(id, n)
				}
			}
			if f.StreamID != id {
				continue
			}
			body.Write(f.Data())
			if f.StreamEnded() {
				a.body = body.String()
				return a
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				a.body, a.reset = body.String(), f.ErrCode.String()
				return a
			}
		}
	}
}

// lowerFields returns fields with lower-case names, as HTTP/2 and HTTP/3
// send them.
func lowerFields(fields [][2]string) [][2]string {
	out := make([][2]string, len(fields))
	for i, f := range fields {
		out[i] = [2]string{strings.ToLower(f[0]), f[1]}
	}
	return out
}

// h3Edge is an edgeConn over HTTP/3, each request on a new stream.
type h3Edge struct {
	qc *quic.Conn
}

// close closes the connection.
func (c *h3Edge) close() { c.qc.CloseWithError(0, "") }

// h3Reset names an HTTP/3 stream or connection error.
func h3Reset(err error) (reset, closed string) {
	var se *quic.StreamError
	if errors.As(err, &se) {
		return fmt.Sprintf("%#x", uint64(se.ErrorCode)), ""
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return "", fmt.Sprintf("%#x", uint64(ae.ErrorCode))
	}
	return "", err.Error()
}

// do sends p on a new request stream and reads its answer.
func (c *h3Edge) do(p probeReq) edgeAnswer {
	var a edgeAnswer
	st, err := c.qc.OpenStream()
	if err != nil {
		a.reset, a.closed = h3Reset(err)
		return a
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	out := h3Headers(p.pseudo("https"))
	if p.body != nil {
		out = quicvarint.Append(quicvarint.Append(out, 0x00), uint64(len(*p.body)))
		out = append(out, *p.body...)
		if len(p.trailers) > 0 {
			out = append(out, h3Headers(lowerFields(p.trailers))...)
		}
	}
	st.Write(out)
	st.Close()
	br := bufio.NewReader(st)
	var body bytes.Buffer
	for {
		typ, err := quicvarint.Read(br)
		if err == io.EOF {
			a.body = body.String()
			return a
		}
		var n uint64
		if err == nil {
			n, err = quicvarint.Read(br)
		}
		buf := make([]byte, n)
		if err == nil {
			_, err = io.ReadFull(br, buf)
		}
		if err != nil {
			a.body = body.String()
			a.reset, a.closed = h3Reset(err)
			return a
		}
		switch typ {
		case 0x01:
			next := qpack.NewDecoder().Decode(buf)
			for hf, err := next(); err == nil; hf, err = next() {
				if hf.Name == ":status" {
					if n, _ := strconv.Atoi(hf.Value); n >= 200 {
						a.status = n
					}
				}
			}
		case 0x00:
			body.Write(buf)
		}
	}
}

// h2FieldSize is the size HTTP/2 and HTTP/3 count for fields against
// MaxRequestHeadersTotalSize: each name and value plus 32.
func h2FieldSize(fields [][2]string) int {
	n := 0
	for _, f := range fields {
		n += len(f[0]) + len(f[1]) + 32
	}
	return n
}

// bodyEchoLen is a handler that reads the request body whole and answers
// "read N"; /raise and /lower first set the request's own body limit to
// 2000 and 10 bytes.
var bodyEchoLen = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/raise":
		if err := SetMaxRequestBodySize(r, 2000); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	case "/lower":
		if err := SetMaxRequestBodySize(r, 10); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return // the server answers the limit's status
	}
	fmt.Fprintf(w, "read %d", len(b))
})

// checkEdge checks one answer at a limit's edge: want 200 (and the
// connection kept) or the limit's status; then that the connection
// serves a plain GET unless it was closed, as it must be over HTTP/1.1
// after a request refused for a limit (Kestrel closes it: the rest of
// the request cannot be trusted), and must not be over HTTP/2 and
// HTTP/3, where the refusal is the stream's.
func checkEdge(t *testing.T, c edgeConn, proto, what string, got edgeAnswer, want int) {
	t.Helper()
	if got.status != want {
		t.Errorf("%s, %s: %v, want status %d", proto, what, got, want)
		return
	}
	wantClosed := want != 200 && proto == "HTTP/1.1"
	if closed := got.closed != ""; closed != wantClosed {
		t.Errorf("%s, %s: %v; connection closed %v, want %v", proto, what, got, closed, wantClosed)
		return
	}
	if wantClosed {
		return
	}
	if next := c.do(probeReq{method: "GET", target: "/", authority: "h"}); next.status != 200 {
		t.Errorf("%s, after %s: the next request on the connection got %v, want 200", proto, what, next)
	}
}

// TestLimitEdgesRequestHead puts the request line, the header fields'
// total size and their count at limit-1, the limit and limit+1 bytes or
// fields, over HTTP/1.1, h2c, h2 and HTTP/3: up to the limit the request
// is served, past it answered with 414 or 431; HTTP/1.1 then closes the
// connection, HTTP/2 and HTTP/3 serve the connection's next request.
// Over HTTP/1.1 the request line counts its CRLF and the header fields
// each line's CRLF; over HTTP/2 and HTTP/3 the line is :method, :scheme,
// :authority (or the Host header that stands for it, as Kestrel takes
// it) and :path together, and each field, pseudo-header fields included,
// counts its name and value plus 32 (RFC 9113, 6.5.2). HTTP/3's
// MaxRequestHeaderFieldSize bounds a field's name and its value. Each
// refusal, and no request at its limit, is logged as ConnectionBadRequest;
// HTTP/1.1's connections end with the limit's error.type.
func TestLimitEdgesRequestHead(t *testing.T) {
	t.Parallel()
	const line, total, count, field3 = headEdgeLine, headEdgeTotal, headEdgeCount, headEdgeField3
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	protos := limitEdgeServer(t, &Server{Handler: bodyEchoLen, Logger: log, MeterProvider: mp, Limits: Limits{
		MaxRequestLineSize: line, MaxRequestHeadersTotalSize: total, MaxRequestHeaderCount: count,
		Http3: Http3Limits{MaxRequestHeaderFieldSize: field3}}})
	var refused atomic.Int64
	t.Run("protocols", func(t *testing.T) { testLimitEdgesRequestHead(t, protos, &refused) })
	// Each refusal, and only they, logged as a bad request; HTTP/1.1's
	// connections end with the limit's error.type.
	waitFor(t, "a ConnectionBadRequest per refused request", func() bool { return len(rec.events("ConnectionBadRequest")) == int(refused.Load()) })
	for _, reason := range []string{"invalid_request_line", "max_request_headers_total_size_exceeded", "max_request_header_count_exceeded"} {
		waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": reason, "network.protocol.version": "1.1"}, 1)
	}
}

// The limits of TestLimitEdgesRequestHead: MaxRequestLineSize,
// MaxRequestHeadersTotalSize, MaxRequestHeaderCount and
// Http3.MaxRequestHeaderFieldSize.
const headEdgeLine, headEdgeTotal, headEdgeCount, headEdgeField3 = 100, 1000, 10, 500

// testLimitEdgesRequestHead sends TestLimitEdgesRequestHead's requests
// and counts those refused.
func testLimitEdgesRequestHead(t *testing.T, protos []edgeProto, refused *atomic.Int64) {
	const line, total, count, field3 = headEdgeLine, headEdgeTotal, headEdgeCount, headEdgeField3
	for _, proto := range protos {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			h1 := proto.name == "HTTP/1.1"
			lineReq := func(n int) probeReq {
				if h1 {
					return probeReq{h1raw: requestLine(n) + "Host: h\r\n\r\n"}
				}
				fill := len("GET") + len(proto.scheme) + len("h") + len("/")
				return probeReq{method: "GET", target: "/" + strings.Repeat("a", n-fill), authority: "h"}
			}
			totalReq := func(n int) probeReq {
				if h1 {
					return probeReq{h1raw: "GET / HTTP/1.1\r\n" + paddedHeaders(n)}
				}
				// Three fields (each under Http3.MaxRequestHeaderFieldSize).
				p := probeReq{method: "GET", target: "/", authority: "h"}
				pad := n - h2FieldSize(p.pseudo(proto.scheme)) - 3*(len("x-p0")+32)
				for i, v := range []int{pad / 3, pad / 3, pad - 2*(pad/3)} {
					p.fields = append(p.fields, [2]string{fmt.Sprintf("x-p%d", i), strings.Repeat("p", v)})
				}
				return p
			}
			countReq := func(n int) probeReq {
				p := probeReq{method: "GET", target: "/", authority: "h"}
				have := 1 // Host
				if !h1 {
					have = len(p.pseudo(proto.scheme))
				}
				for i := have; i < n; i++ {
					p.fields = append(p.fields, [2]string{fmt.Sprintf("x-h%d", i), "v"})
				}
				return p
			}
			// hostLineReq is lineReq with a Host header in place of
			// :authority, which Kestrel measures in its place.
			hostLineReq := func(n int) probeReq {
				fill := len("GET") + len(proto.scheme) + len("/")
				return probeReq{method: "GET", target: "/", noAuth: true, fields: [][2]string{{"host", strings.Repeat("h", n-fill)}}}
			}
			fieldValueReq := func(n int) probeReq {
				return probeReq{method: "GET", target: "/", authority: "h", fields: [][2]string{{"x-v", strings.Repeat("v", n)}}}
			}
			fieldNameReq := func(n int) probeReq {
				return probeReq{method: "GET", target: "/", authority: "h", fields: [][2]string{{"x-" + strings.Repeat("n", n-2), "v"}}}
			}
			c := proto.dial(t)
			for _, tc := range []struct {
				what  string
				limit int
				req   func(int) probeReq
				over  int
				only  string // the protocols the row applies to: "" all, "h2h3", "h3"
			}{
				{"request line", line, lineReq, http.StatusRequestURITooLong, ""},
				{"request line with Host for :authority", line, hostLineReq, http.StatusRequestURITooLong, "h2h3"},
				{"header fields' size", total, totalReq, http.StatusRequestHeaderFieldsTooLarge, ""},
				{"header field count", count, countReq, http.StatusRequestHeaderFieldsTooLarge, ""},
				{"header field value (Http3.MaxRequestHeaderFieldSize)", field3, fieldValueReq, http.StatusRequestHeaderFieldsTooLarge, "h3"},
				{"header field name (Http3.MaxRequestHeaderFieldSize)", field3, fieldNameReq, http.StatusRequestHeaderFieldsTooLarge, "h3"},
			} {
				if tc.only == "h2h3" && h1 || tc.only == "h3" && proto.name != "HTTP/3" {
					continue
				}
				for _, n := range []int{tc.limit - 1, tc.limit, tc.limit + 1} {
					want := 200
					if n > tc.limit {
						want = tc.over
					}
					what := fmt.Sprintf("%s %d (limit %d)", tc.what, n, tc.limit)
					checkEdge(t, c, proto.name, what, c.do(tc.req(n)), want)
					if want != 200 {
						refused.Add(1)
						if h1 {
							c = proto.dial(t)
						}
					}
				}
			}
		})
	}
}

// TestLimitEdgesRequestBody sends bodies of limit-1, limit and limit+1
// bytes against MaxRequestBodySize, a request's own limit set through
// SetMaxRequestBodySize above and below it, and NoRequestBody's limit of
// 0, each with a Content-Length and without (chunked over HTTP/1.1, DATA
// without a content-length over HTTP/2 and HTTP/3), over HTTP/1.1, h2c,
// h2 and HTTP/3: the handler reads the body whole up to the limit, and
// past it the request is answered 413 and logged as ConnectionBadRequest;
// HTTP/1.1 then closes the connection (error.type
// max_request_body_size_exceeded), HTTP/2 and HTTP/3 serve the
// connection's next request.
func TestLimitEdgesRequestBody(t *testing.T) {
	t.Parallel()
	for _, lim := range []struct {
		name  string
		max   int64 // Limits.MaxRequestBodySize
		path  string
		limit int // the request's limit
	}{
		{"MaxRequestBodySize", 1000, "/", 1000},
		{"raised per request", 1000, "/raise", 2000},
		{"lowered per request", 1000, "/lower", 10},
		{"NoRequestBody", NoRequestBody, "/", 0},
	} {
		t.Run(lim.name, func(t *testing.T) {
			t.Parallel()
			reader, mp := metricstest.New()
			rec, log := newLogRecorder(slog.LevelDebug)
			protos := limitEdgeServer(t, &Server{Handler: bodyEchoLen, Logger: log, MeterProvider: mp, Limits: Limits{MaxRequestBodySize: lim.max}})
			t.Run("protocols", func(t *testing.T) {
				for _, proto := range protos {
					t.Run(proto.name, func(t *testing.T) {
						t.Parallel()
						testLimitEdgesRequestBody(t, proto, lim.path, lim.limit)
					})
				}
			})
			// Two refused per protocol (with a length and without), each
			// logged as a bad request; HTTP/1.1's connections end with the
			// limit's error.type.
			waitFor(t, "a ConnectionBadRequest per refused request", func() bool { return len(rec.events("ConnectionBadRequest")) == 2*len(protos) })
			waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "max_request_body_size_exceeded", "network.protocol.version": "1.1"}, 2)
		})
	}
}

// testLimitEdgesRequestBody sends TestLimitEdgesRequestBody's requests
// over proto to path, whose body limit is limit bytes.
func testLimitEdgesRequestBody(t *testing.T, proto edgeProto, path string, limit int) {
	c := proto.dial(t)
	for _, withLength := range []bool{true, false} {
		for _, n := range []int{limit - 1, limit, limit + 1} {
			if n < 0 {
				continue
			}
			body := strings.Repeat("b", n)
			p := probeReq{method: "POST", target: path, authority: "h", body: &body}
			if withLength {
				p.fields = [][2]string{{"Content-Length", strconv.Itoa(n)}}
			}
			want := 200
			if n > limit {
				want = http.StatusRequestEntityTooLarge
			}
			what := fmt.Sprintf("a body of %d bytes (limit %d, Content-Length %v)", n, limit, withLength)
			got := c.do(p)
			if want == 200 && got.body != fmt.Sprintf("read %d", n) {
				t.Errorf("%s, %s: %v, want the handler to read it whole", proto.name, what, got)
			}
			checkEdge(t, c, proto.name, what, got, want)
			if want != 200 && proto.name == "HTTP/1.1" {
				c = proto.dial(t)
			}
		}
	}
}

// TestLimitEdgesStreams holds MaxStreamsPerConnection streams open on
// one connection, over h2c and h2: each of them runs, one more is refused
// with REFUSED_STREAM and the connection goes on; a stream the client
// resets counts until its handler returns, a stream whose response has
// ended does not, so the next one is served. Over HTTP/3 the limit is
// QUIC's, 100 streams: the 100 run, the client is granted no 101st while
// they do (not even once it reset one), and is granted one when a
// response ends.
func TestLimitEdgesStreams(t *testing.T) {
	t.Parallel()
	const limit = 3
	var mu sync.Mutex
	releases := map[string]chan struct{}{}
	release := func(path string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if releases[path] == nil {
			releases[path] = make(chan struct{})
		}
		return releases[path]
	}
	started, cancelled := make(chan string, 256), make(chan string, 256)
	protos := limitEdgeServer(t, &Server{Limits: Limits{Http2: Http2Limits{MaxStreamsPerConnection: limit}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Proto + " " + r.URL.Path
			started <- key
			select {
			case <-release(key):
			case <-r.Context().Done():
				cancelled <- key
				<-release(key) // a handler that does not stop at once
			}
			io.WriteString(w, "done")
		})})
	wait := func(t *testing.T, want string) {
		t.Helper()
		select {
		case got := <-started:
			if got != want {
				t.Fatalf("handler of %s started, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the handler of %s did not start in 10 s", want)
		}
	}
	for _, proto := range protos[1:3] { // h2c, h2
		t.Run(proto.name, func(t *testing.T) {
			c := proto.dial(t).(*h2Edge)
			c.nc.SetDeadline(time.Now().Add(20 * time.Second))
			key := func(id uint32) string { return fmt.Sprintf("HTTP/2.0 /%s/%d", proto.name, id) }
			open := func(id uint32) {
				c.headers(id, probeReq{method: "GET", target: fmt.Sprintf("/%s/%d", proto.name, id), authority: "h"}.pseudo(proto.scheme), true)
			}
			// next reads until stream id ends or is reset, answering
			// SETTINGS and PINGs; it returns the reset code or "".
			next := func(id uint32) string {
				t.Helper()
				for {
					f, err := c.fr.ReadFrame()
					if err != nil {
						t.Fatalf("stream %d: %v", id, err)
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if !f.IsAck() {
							c.fr.WriteSettingsAck()
						}
					case *http2.GoAwayFrame:
						t.Fatalf("stream %d: GOAWAY %v", id, f.ErrCode)
					case *http2.RSTStreamFrame:
						if f.StreamID == id {
							return f.ErrCode.String()
						}
						t.Fatalf("stream %d reset with %v, waiting for stream %d", f.StreamID, f.ErrCode, id)
					case *http2.HeadersFrame:
						if f.StreamID == id && f.StreamEnded() {
							return ""
						}
					case *http2.DataFrame:
						if f.StreamID == id && f.StreamEnded() {
							return ""
						}
					case *http2.PingFrame:
						if f.IsAck() && id == 0 {
							return ""
						}
					}
				}
			}
			for id := uint32(1); id < 2*limit; id += 2 { // 1, 3, 5
				open(id)
				wait(t, key(id))
			}
			open(7) // one over
			if got := next(7); got != "REFUSED_STREAM" {
				t.Fatalf("stream %d, over %d open streams: reset %q, want REFUSED_STREAM", 7, limit, got)
			}
			c.fr.WritePing(false, [8]byte{1})
			next(0) // the connection goes on
			// A stream reset by the client counts while its handler runs.
			c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			select {
			case got := <-cancelled:
				if got != key(1) {
					t.Fatalf("the request of %s was cancelled, want %s", got, key(1))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler of the stream the client reset was not cancelled in 10 s")
			}
			open(9)
			if got := next(9); got != "REFUSED_STREAM" {
				t.Fatalf("stream 9, with %d handlers running (one of a reset stream): reset %q, want REFUSED_STREAM", limit, got)
			}
			// A stream whose response ended does not.
			close(release(key(3)))
			if got := next(3); got != "" {
				t.Fatalf("stream 3 reset with %s", got)
			}
			open(11)
			wait(t, key(11))
			open(13)
			if got := next(13); got != "REFUSED_STREAM" {
				t.Fatalf("stream 13, with %d handlers running: reset %q, want REFUSED_STREAM", limit, got)
			}
			close(release(key(1)))
			close(release(key(5)))
			close(release(key(11)))
			for ended := map[uint32]bool{}; !ended[5] || !ended[11]; {
				f, err := c.fr.ReadFrame()
				if err != nil {
					t.Fatalf("streams 5 and 11 (ended: %v): %v", ended, err)
				}
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					t.Fatalf("stream %d reset with %v", f.StreamID, f.ErrCode)
				case *http2.DataFrame:
					ended[f.StreamID] = f.StreamEnded()
				}
			}
		})
	}
	t.Run("HTTP/3", func(t *testing.T) {
		const limit = 100
		c := protos[3].dial(t).(*h3Edge)
		key := func(i int) string { return fmt.Sprintf("HTTP/3.0 /h3/%d", i) }
		streams := make([]*quic.Stream, limit+1)
		open := func(i int, st *quic.Stream) {
			streams[i] = st
			st.SetDeadline(time.Now().Add(20 * time.Second))
			st.Write(h3Headers(probeReq{method: "GET", target: fmt.Sprintf("/h3/%d", i), authority: "h"}.pseudo("https")))
			st.Close()
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		for i := range limit {
			st, err := c.qc.OpenStreamSync(ctx)
			if err != nil {
				t.Fatalf("stream %d of %d: %v", i+1, limit, err)
			}
			open(i, st)
		}
		running := map[string]bool{}
		for range limit {
			select {
			case got := <-started:
				running[got] = true
			case <-ctx.Done():
				t.Fatalf("%d of %d handlers started in 10 s", len(running), limit)
			}
		}
		for i := range limit {
			if !running[key(i)] {
				t.Fatalf("the handler of %s did not start", key(i))
			}
		}
		if _, err := c.qc.OpenStream(); err == nil {
			t.Fatalf("the client was granted stream %d with %d open", limit+1, limit)
		}
		// A reset stream counts until its handler returns.
		streams[0].CancelRead(0x10c) // H3_REQUEST_CANCELLED
		streams[0].CancelWrite(0x10c)
		select {
		case got := <-cancelled:
			if got != key(0) {
				t.Fatalf("the request of %s was cancelled, want %s", got, key(0))
			}
		case <-ctx.Done():
			t.Fatal("the handler of the stream the client reset was not cancelled in 10 s")
		}
		short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancelShort()
		if st, err := c.qc.OpenStreamSync(short); err == nil {
			st.CancelWrite(0x10c)
			t.Fatalf("the client was granted stream %d with %d handlers running (one of a reset stream)", limit+1, limit)
		}
		// A stream whose response ended does not.
		close(release(key(1)))
		if b, err := io.ReadAll(streams[1]); err != nil || len(b) == 0 {
			t.Fatalf("stream 2: %q, %v", b, err)
		}
		st, err := c.qc.OpenStreamSync(ctx)
		if err != nil {
			t.Fatalf("no stream granted once a response ended: %v", err)
		}
		open(limit, st)
		wait(t, key(limit))
		for i := range limit + 1 {
			if i != 1 {
				close(release(key(i)))
			}
		}
		if b, err := io.ReadAll(streams[limit]); err != nil || len(b) == 0 {
			t.Fatalf("stream %d: %q, %v", limit+1, b, err)
		}
	})
}

// TestLimitEdgesHTTP2 puts Limits.Http2's per-frame and per-field limits
// at limit-1, the limit and limit+1 over h2c and h2, each on a new
// connection after a first request (so that the client has the server's
// SETTINGS and has acknowledged them): a DATA, a HEADERS and a
// CONTINUATION frame of MaxFrameSize bytes are read, one byte more is a
// FRAME_SIZE_ERROR; a
// header field name or value of MaxRequestHeaderFieldSize bytes is
// served, one byte more is a COMPRESSION_ERROR, as in Kestrel; a dynamic
// table size update to HeaderTableSize is taken, one byte more is a
// COMPRESSION_ERROR (RFC 7541, 4.2). The connection goes on after each
// request under its limit.
func TestLimitEdgesHTTP2(t *testing.T) {
	t.Parallel()
	const frameSize, fieldSize, tableSize = 20000, 1000, 100
	protos := limitEdgeServer(t, &Server{Handler: bodyEchoLen, Limits: Limits{Http2: Http2Limits{
		MaxFrameSize: frameSize, MaxRequestHeaderFieldSize: fieldSize, HeaderTableSize: tableSize}}})
	get := probeReq{method: "GET", target: "/", authority: "h"}
	// send sends a request in its own way on the connection's next
	// stream and returns the answer.
	type send func(c *h2Edge, id uint32, n int) edgeAnswer
	dataFrame := func(c *h2Edge, id uint32, n int) edgeAnswer {
		p := probeReq{method: "POST", target: "/", authority: "h"}
		c.headers(id, p.pseudo(c.scheme), false)
		c.fr.WriteData(id, true, make([]byte, n))
		return c.read(id)
	}
	headersFrame := func(c *h2Edge, id uint32, n int) edgeAnswer {
		// Fields of 400 bytes (under MaxRequestHeaderFieldSize) up to
		// about n-100 bytes of block, then padding to make the frame's
		// payload exactly n bytes.
		p := get
		for i := 0; c.encode(p.pseudo(c.scheme)) < n-600; i++ {
			p.fields = append(p.fields, [2]string{fmt.Sprintf("x-f%d", i), strings.Repeat("#", 400)})
		}
		// "#" takes more than a byte in Huffman's code, so the encoder
		// sends values as they are: a field of v bytes adds about v+8.
		p.fields = append(p.fields, [2]string{"x-last", strings.Repeat("#", n-100-c.block.Len())})
		block := c.block.Bytes()[:c.encode(p.pseudo(c.scheme))]
		pad := n - 1 - len(block)
		if pad < 0 || pad > 255 {
			return edgeAnswer{closed: fmt.Sprintf("the test's block of %d bytes cannot be padded to %d", len(block), n)}
		}
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true, PadLength: uint8(pad)})
		return c.read(id)
	}
	fieldValue := func(c *h2Edge, id uint32, n int) edgeAnswer {
		p := get
		p.fields = [][2]string{{"x-v", strings.Repeat("v", n)}}
		c.encode(p.pseudo(c.scheme))
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block.Bytes(), EndStream: true, EndHeaders: true})
		return c.read(id)
	}
	fieldName := func(c *h2Edge, id uint32, n int) edgeAnswer {
		p := get
		p.fields = [][2]string{{"x-" + strings.Repeat("n", n-2), "v"}}
		c.encode(p.pseudo(c.scheme))
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block.Bytes(), EndStream: true, EndHeaders: true})
		return c.read(id)
	}
	continuation := func(c *h2Edge, id uint32, n int) edgeAnswer {
		// A block of exactly 100+n bytes: the first 100 in HEADERS, n in
		// one CONTINUATION.
		p := get
		for i := 0; c.encode(p.pseudo(c.scheme)) < n-600; i++ {
			p.fields = append(p.fields, [2]string{fmt.Sprintf("x-f%d", i), strings.Repeat("#", 400)})
		}
		fields := p.fields
		for v := max(n+100-c.block.Len()-20, 1); ; v++ {
			p.fields = append(fields[:len(fields):len(fields)], [2]string{"x-last", strings.Repeat("#", v)})
			if got := c.encode(p.pseudo(c.scheme)); got == n+100 {
				break
			} else if got > n+100 {
				return edgeAnswer{closed: fmt.Sprintf("the test found no block of %d bytes", n+100)}
			}
		}
		block := c.block.Bytes()
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:100], EndStream: true})
		c.fr.WriteContinuation(id, true, block[100:])
		return c.read(id)
	}
	tableUpdate := func(c *h2Edge, id uint32, n int) edgeAnswer {
		c.enc.SetMaxDynamicTableSizeLimit(uint32(n))
		c.enc.SetMaxDynamicTableSize(uint32(n))
		c.encode(get.pseudo(c.scheme)) // begins with the size update
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block.Bytes(), EndStream: true, EndHeaders: true})
		return c.read(id)
	}
	for _, proto := range protos[1:3] { // h2c, h2
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				what  string
				limit int
				send  send
				over  string // the GOAWAY past the limit
			}{
				{"DATA frame", frameSize, dataFrame, "FRAME_SIZE_ERROR"},
				{"HEADERS frame", frameSize, headersFrame, "FRAME_SIZE_ERROR"},
				{"header field value", fieldSize, fieldValue, "COMPRESSION_ERROR"},
				{"header field name", fieldSize, fieldName, "COMPRESSION_ERROR"},
				{"CONTINUATION frame", frameSize, continuation, "FRAME_SIZE_ERROR"},
				{"dynamic table size update", tableSize, tableUpdate, "COMPRESSION_ERROR"},
			} {
				for _, n := range []int{tc.limit - 1, tc.limit, tc.limit + 1} {
					what := fmt.Sprintf("%s of %d bytes (limit %d)", tc.what, n, tc.limit)
					c := proto.dial(t).(*h2Edge)
					if got := c.do(get); got.status != 200 {
						t.Fatalf("%s: the first request: %v", what, got)
					}
					c.nc.SetDeadline(time.Now().Add(10 * time.Second))
					got := tc.send(c, c.next, n)
					c.next += 2
					if n > tc.limit {
						if got.closed != "GOAWAY "+tc.over {
							t.Errorf("%s: %v, want GOAWAY %s", what, got, tc.over)
						}
						continue
					}
					checkEdge(t, c, proto.name, what, got, 200)
				}
			}
		})
	}
}

// encode encodes fields into c.block and returns its length.
func (c *h2Edge) encode(fields [][2]string) int {
	c.block.Reset()
	for _, f := range fields {
		c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return c.block.Len()
}

// TestLimitEdgesConnections holds MaxConcurrentConnections-1 and then
// MaxConcurrentConnections connections open on an endpoint, over
// HTTP/1.1, h2c, h2 and HTTP/3 in turn: each is served and stays served;
// one more is closed before any response (HTTP/3: refused before its
// handshake), counted in kestrel.rejected_connections with its endpoint's
// port and transport and logged as ConnectionRejected; once one of the
// open connections closes, a new one is served.
func TestLimitEdgesConnections(t *testing.T) {
	t.Parallel()
	const limit = 2
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	protos := limitEdgeServer(t, &Server{Handler: bodyEchoLen, MeterProvider: mp, Logger: log, Limits: Limits{MaxConcurrentConnections: limit}})
	get := probeReq{method: "GET", target: "/", authority: "h"}
	rejected := 0
	for _, proto := range protos {
		endpoint := map[string]string{"server.port": portOf(proto.addr), "network.transport": proto.transport}
		var open []edgeConn
		for n := 1; n <= limit; n++ {
			c := proto.dial(t)
			if got := c.do(get); got.status != 200 {
				t.Fatalf("%s, connection %d of %d: %v", proto.name, n, limit, got)
			}
			open = append(open, c)
			for i, c := range open {
				if got := c.do(get); got.status != 200 || got.closed != "" {
					t.Fatalf("%s, connection %d with %d open: %v", proto.name, i+1, n, got)
				}
			}
		}
		before := metricTotal(t, reader, "kestrel.rejected_connections", endpoint)
		c, err := proto.try(t)
		if err == nil {
			if got := c.do(get); got.status != 0 || got.closed == "" {
				t.Fatalf("%s, connection %d over a limit of %d: %v, want it closed without a response", proto.name, limit+1, limit, got)
			}
		}
		rejected++
		waitMetric(t, reader, "kestrel.rejected_connections", endpoint, before+1)
		waitFor(t, "ConnectionRejected logged", func() bool { return len(rec.events("ConnectionRejected")) == rejected })
		// One closes: a new connection is served.
		open[0].close()
		waitMetric(t, reader, "kestrel.active_connections", endpoint, limit-1)
		c = proto.dial(t)
		if got := c.do(get); got.status != 200 {
			t.Fatalf("%s, a connection once one of %d closed: %v", proto.name, limit, got)
		}
		c.close()
		open[1].close()
		waitMetric(t, reader, "kestrel.active_connections", endpoint, 0)
	}
	if got := metricTotal(t, reader, "kestrel.rejected_connections", nil); got != float64(rejected) {
		t.Errorf("kestrel.rejected_connections %v, want %d", got, rejected)
	}
}

// TestLimitEdgesReload reloads the header count and body size limits,
// and Http2's and Http3's MaxRequestHeaderFieldSize, upwards while
// connections of each protocol are open: the connections open keep their
// old limits at their edges (the old limit served, one more refused), and
// new ones get the new limits at theirs, over HTTP/1.1, h2c, h2 and
// HTTP/3, as Reload documents.
func TestLimitEdgesReload(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	type limits struct{ count, body, field int }
	cfg := func(l limits) string {
		return fmt.Sprintf(`{"Kestrel": {"Limits": {"MaxRequestHeaderCount": %d, "MaxRequestBodySize": %d,
			"Http2": {"MaxRequestHeaderFieldSize": %d}, "Http3": {"MaxRequestHeaderFieldSize": %d}}, "Endpoints": {
			"A": {"Url": "http://127.0.0.1:0"},
			"Q": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3", "Certificate": {"Path": %q, "KeyPath": %q}}}}}`,
			l.count, l.body, l.field, l.field, cert, key)
	}
	before, after := limits{10, 1000, 500}, limits{20, 2000, 800}
	s, _ := startConfigured(t, bodyEchoLen, cfg(before))
	protos := edgeProtos(s, pki.pool)
	get := probeReq{method: "GET", target: "/", authority: "h"}
	// check sends, on connections of proto, requests at and over the
	// limits l: the header count on c[0], the body size on c[1], and over
	// HTTP/2 and HTTP/3 the field size on c[2] (its last: over HTTP/2 it
	// ends the connection).
	check := func(t *testing.T, proto edgeProto, c [3]edgeConn, l limits, when string) {
		countReq := func(n int) probeReq {
			p := get
			have := 1 // Host
			if proto.name != "HTTP/1.1" {
				have = len(p.pseudo(proto.scheme))
			}
			for i := have; i < n; i++ {
				p.fields = append(p.fields, [2]string{fmt.Sprintf("x-h%d", i), "v"})
			}
			return p
		}
		bodyReq := func(n int) probeReq {
			body := strings.Repeat("b", n)
			return probeReq{method: "POST", target: "/", authority: "h", body: &body, fields: [][2]string{{"Content-Length", strconv.Itoa(n)}}}
		}
		fieldReq := func(n int) probeReq {
			p := get
			p.fields = [][2]string{{"x-v", strings.Repeat("v", n)}}
			return p
		}
		checkEdge(t, c[0], proto.name, when+fmt.Sprintf(", %d header fields", l.count), c[0].do(countReq(l.count)), 200)
		checkEdge(t, c[0], proto.name, when+fmt.Sprintf(", %d header fields", l.count+1), c[0].do(countReq(l.count+1)), http.StatusRequestHeaderFieldsTooLarge)
		checkEdge(t, c[1], proto.name, when+fmt.Sprintf(", a body of %d bytes", l.body), c[1].do(bodyReq(l.body)), 200)
		checkEdge(t, c[1], proto.name, when+fmt.Sprintf(", a body of %d bytes", l.body+1), c[1].do(bodyReq(l.body+1)), http.StatusRequestEntityTooLarge)
		switch proto.name {
		case "HTTP/3":
			checkEdge(t, c[2], proto.name, when+fmt.Sprintf(", a field of %d bytes", l.field), c[2].do(fieldReq(l.field)), 200)
			checkEdge(t, c[2], proto.name, when+fmt.Sprintf(", a field of %d bytes", l.field+1), c[2].do(fieldReq(l.field+1)), http.StatusRequestHeaderFieldsTooLarge)
		case "h2c", "h2":
			checkEdge(t, c[2], proto.name, when+fmt.Sprintf(", a field of %d bytes", l.field), c[2].do(fieldReq(l.field)), 200)
			if got := c[2].do(fieldReq(l.field + 1)); got.closed != "GOAWAY COMPRESSION_ERROR" {
				t.Errorf("%s, %s, a field of %d bytes: %v, want GOAWAY COMPRESSION_ERROR", proto.name, when, l.field+1, got)
			}
		}
	}
	old := make([][3]edgeConn, len(protos))
	for i, proto := range protos {
		for j := range old[i] {
			old[i][j] = proto.dial(t)
			if got := old[i][j].do(get); got.status != 200 {
				t.Fatalf("%s: %v", proto.name, got)
			}
		}
	}
	reloadJSON(t, s, cfg(after))
	for i, proto := range protos {
		t.Run(proto.name, func(t *testing.T) {
			check(t, proto, old[i], before, "a connection opened before the reload")
			check(t, proto, [3]edgeConn{proto.dial(t), proto.dial(t), proto.dial(t)}, after, "a connection opened after it")
		})
	}
}

// TestLimitEdgesUpgrades opens upgraded connections up to
// MaxConcurrentUpgradedConnections, one of each protocol (an HTTP/1.1
// upgrade, extended CONNECT over h2c, h2 and HTTP/3), which count
// together: at limit-1 and at the limit each is accepted, and
// kestrel.upgraded_connections says how many are open; one more of any
// protocol is answered 503 and its connection goes on; once one tunnel
// ends, the next upgrade is accepted. With NoUpgrades, the first of each
// protocol is answered 503.
func TestLimitEdgesUpgrades(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{4, NoUpgrades} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			testLimitEdgesUpgrades(t, limit)
		})
	}
}

// testLimitEdgesUpgrades is TestLimitEdgesUpgrades at a limit of 4
// (opened one per protocol) or NoUpgrades.
func testLimitEdgesUpgrades(t *testing.T, limit int64) {
	allowed := int(limit) // as many as protos
	if limit == NoUpgrades {
		allowed = 0
	}
	reader, mp := metricstest.New()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: tunnelEcho(), Logger: quietLogger, MeterProvider: mp, Limits: Limits{MaxConcurrentUpgradedConnections: limit}}
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", EnableWebSocketsOverHTTP2: true})
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, EnableWebSocketsOverHTTP2: true, HTTPS: &HTTPS{Certificate: cert}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	protos := edgeProtos(s, testClientTLS(t).RootCAs)
	// tunnel is an upgraded connection: its close ends it.
	type tunnel struct {
		status int
		close  func()
	}
	// open upgrades on c, a connection of proto.
	open := func(proto edgeProto, c edgeConn) tunnel {
		t.Helper()
		switch c := c.(type) {
		case *h1Edge:
			c.nc.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c.nc, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatalf("%s: %v", proto.name, err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				io.Copy(io.Discard, resp.Body)
			}
			return tunnel{resp.StatusCode, c.close}
		case *h2Edge:
			id := c.next
			c.next += 2
			c.nc.SetDeadline(time.Now().Add(10 * time.Second))
			c.headers(id, [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", proto.scheme}, {":path", "/ws"}, {":authority", "h"}}, false)
			got := c.readTo(id, true)
			if got.closed != "" {
				t.Fatalf("%s: %v", proto.name, got)
			}
			return tunnel{got.status, func() { c.fr.WriteRSTStream(id, http2.ErrCodeCancel) }}
		case *h3Edge:
			st, err := c.qc.OpenStream()
			if err != nil {
				t.Fatalf("%s: %v", proto.name, err)
			}
			st.SetDeadline(time.Now().Add(10 * time.Second))
			st.Write(h3Headers([][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"}, {":path", "/ws"}, {":authority", "h"}}))
			br := bufio.NewReader(st)
			for {
				typ, err := quicvarint.Read(br)
				var n uint64
				if err == nil {
					n, err = quicvarint.Read(br)
				}
				buf := make([]byte, n)
				if err == nil {
					_, err = io.ReadFull(br, buf)
				}
				if err != nil {
					t.Fatalf("%s: %v", proto.name, err)
				}
				if typ != 0x01 {
					continue
				}
				next := qpack.NewDecoder().Decode(buf)
				for hf, err := next(); err == nil; hf, err = next() {
					if hf.Name == ":status" {
						status, _ := strconv.Atoi(hf.Value)
						return tunnel{status, func() { st.CancelRead(0x10c); st.CancelWrite(0x10c) }}
					}
				}
			}
		}
		panic("unknown connection")
	}
	conns := make([]edgeConn, len(protos))
	var tunnels []tunnel
	for i, proto := range protos[:allowed] {
		conns[i] = proto.dial(t)
		if tn := open(proto, conns[i]); tn.status != 101 && tn.status != 200 {
			t.Fatalf("%s, upgrade %d of %d: status %d", proto.name, i+1, limit, tn.status)
		} else {
			tunnels = append(tunnels, tn)
		}
		waitMetric(t, reader, "kestrel.upgraded_connections", nil, float64(i+1))
	}
	for _, proto := range protos {
		c := proto.dial(t)
		if tn := open(proto, c); tn.status != http.StatusServiceUnavailable {
			t.Errorf("%s, an upgrade over the limit of %d: status %d, want 503", proto.name, limit, tn.status)
		}
		if proto.name != "HTTP/1.1" {
			if got := c.do(probeReq{method: "GET", target: "/", authority: "h"}); got.status != 200 {
				t.Errorf("%s, the request after the refused upgrade: %v", proto.name, got)
			}
		}
	}
	waitMetric(t, reader, "kestrel.upgraded_connections", nil, float64(allowed))
	if allowed == 0 {
		return
	}
	// The HTTP/3 tunnel ends: an upgrade is accepted again, and only one.
	tunnels[3].close()
	waitMetric(t, reader, "kestrel.upgraded_connections", nil, float64(allowed-1))
	if tn := open(protos[1], conns[1]); tn.status != 200 {
		t.Errorf("h2c, an upgrade once a tunnel ended: status %d, want 200", tn.status)
	}
	if tn := open(protos[0], protos[0].dial(t)); tn.status != http.StatusServiceUnavailable {
		t.Errorf("HTTP/1.1, an upgrade over the limit again: status %d, want 503", tn.status)
	}
}

// TestLimitEdgesHeaderListRealClients sends, with net/http's and
// x/net/http2's clients over h2c and h2 and quic-go's over HTTP/3,
// requests whose header list is limit-1, the limit and limit+1 bytes of
// MaxRequestHeadersTotalSize by RFC 9113, 6.5.2's count (each field's
// name and value plus 32, pseudo-header fields included), which the
// HTTP/2 clients make against the server's SETTINGS_MAX_HEADER_LIST_SIZE:
// up to the limit the request is served; one more the HTTP/2 clients do
// not send, and HTTP/3's is answered 431.
func TestLimitEdgesHeaderListRealClients(t *testing.T) {
	t.Parallel()
	const limit = 4000
	// listSize answers the size of the request's header list.
	listSize := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		n := h2FieldSize([][2]string{{":method", r.Method}, {":scheme", scheme}, {":authority", r.Host}, {":path", r.RequestURI}})
		for k, vs := range r.Header {
			for _, v := range vs {
				n += len(k) + len(v) + 32
			}
		}
		fmt.Fprint(w, n)
	})
	s := startH2(t, &Server{Handler: listSize, Limits: Limits{MaxRequestHeadersTotalSize: limit}})
	_, addr3 := h3Server(t, &Server{Handler: listSize, Logger: quietLogger, Limits: Limits{MaxRequestHeadersTotalSize: limit}}, HTTP3)
	type client struct {
		name, base string
		c          *http.Client
	}
	clients := []client{{"HTTP/3", "https://" + addr3, h3Client(t)}}
	for _, c := range s.clients(t) {
		clients = append(clients, client{c.name, c.base, c.c})
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			do := func(pad int) (int, string, error) {
				req := newReq(t, "GET", c.base+"/", nil)
				req.Header.Set("X-Pad", strings.Repeat("p", pad))
				resp, err := c.c.Do(req)
				if err != nil {
					return 0, "", err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b), err
			}
			status, body, err := do(1)
			base, _ := strconv.Atoi(body)
			if status != 200 || base == 0 || err != nil {
				t.Fatalf("a request with a pad of 1 byte: %d %q %v", status, body, err)
			}
			for _, n := range []int{limit - 1, limit, limit + 1} {
				status, body, err := do(n - base + 1)
				switch {
				case n <= limit && (status != 200 || body != strconv.Itoa(n) || err != nil):
					t.Errorf("a header list of %d bytes (limit %d): %d %q %v, want 200 %d", n, limit, status, body, err, n)
				case n > limit && c.name == "HTTP/3" && status != http.StatusRequestHeaderFieldsTooLarge:
					t.Errorf("a header list of %d bytes (limit %d): %d %q %v, want 431", n, limit, status, body, err)
				case n > limit && c.name != "HTTP/3" && err == nil:
					t.Errorf("a header list of %d bytes (limit %d): %d %q, want the client to refuse to send it", n, limit, status, body)
				}
			}
		})
	}
}

// TestLimitEdgesReloadConnections lowers MaxConcurrentConnections by
// Reload to the number of connections open on an endpoint, then raises
// it by one, over HTTP/1.1, h2c, h2 and HTTP/3 in turn: the connection
// open is kept and served, a new one is refused at the lowered limit
// (counted in kestrel.rejected_connections) and served at the raised one.
func TestLimitEdgesReloadConnections(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	cfg := func(n int) *Config {
		return parseTestConfig(t, fmt.Sprintf(`{"Kestrel": {"Limits": {"MaxConcurrentConnections": %d}, "Endpoints": {
			"A": {"Url": "http://127.0.0.1:0"},
			"Q": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3", "Certificate": {"Path": %q, "KeyPath": %q}}}}}`, n, cert, key))
	}
	reader, mp := metricstest.New()
	s := &Server{Handler: bodyEchoLen, Logger: quietLogger, MeterProvider: mp}
	if err := cfg(3).Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reload := func(n int) {
		t.Helper()
		if err := s.Reload(cfg(n)); err != nil {
			t.Fatal(err)
		}
	}
	get := probeReq{method: "GET", target: "/", authority: "h"}
	for _, proto := range edgeProtos(s, pki.pool) {
		endpoint := map[string]string{"server.port": portOf(proto.addr), "network.transport": proto.transport}
		open := proto.dial(t)
		if got := open.do(get); got.status != 200 {
			t.Fatalf("%s: %v", proto.name, got)
		}
		reload(1)
		before := metricTotal(t, reader, "kestrel.rejected_connections", endpoint)
		if c, err := proto.try(t); err == nil {
			if got := c.do(get); got.status != 0 || got.closed == "" {
				t.Errorf("%s, a new connection once the limit was lowered to the one open: %v, want it closed", proto.name, got)
			}
		}
		waitMetric(t, reader, "kestrel.rejected_connections", endpoint, before+1)
		if got := open.do(get); got.status != 200 || got.closed != "" {
			t.Errorf("%s, the connection open when the limit was lowered: %v", proto.name, got)
		}
		reload(2)
		c := proto.dial(t)
		if got := c.do(get); got.status != 200 {
			t.Errorf("%s, a new connection once the limit was raised to 2: %v", proto.name, got)
		}
		c.close()
		open.close()
		waitMetric(t, reader, "kestrel.active_connections", endpoint, 0)
		reload(3)
	}
}
