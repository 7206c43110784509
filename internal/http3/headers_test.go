package http3

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/quic-go/qpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
)

func testConfig() *Config {
	cfg := &Config{App: &app.Config{Logger: slog.New(slog.DiscardHandler), Heartbeat: heartbeat.New(nil), ServerHeader: true, MaxRequestBodySize: -1}}
	cfg.init()
	return cfg
}

// testStream is a stream that decodes heads without a connection.
func testStream(cfg *Config) *stream {
	st := &stream{c: &Conn{cfg: cfg}}
	st.Init(cfg.App, st)
	st.enc = qpack.NewEncoder(blockWriter{st})
	return st
}

// encode encodes fields ("name", "value", ...) as a QPACK field section.
func encode(fields ...string) []byte {
	var b bytes.Buffer
	enc := qpack.NewEncoder(&b)
	for i := 0; i < len(fields); i += 2 {
		enc.WriteField(qpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

func get(extra ...string) []string {
	return append([]string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/p?q=1"}, extra...)
}

func TestDecodeRequest(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRequestHeaderCount = 10
	cfg.MaxRequestHeaderFieldSize = 100
	cases := []struct {
		name      string
		fields    []string
		ended     bool
		malformed string // "" for a valid request
		tooLarge  bool
		check     func(t *testing.T, st *stream)
	}{
		{name: "GET", fields: get("accept", "*/*"), ended: true, check: func(t *testing.T, st *stream) {
			h := &st.Req
			if string(st.Method()) != "GET" || string(st.Target()) != "/p?q=1" || string(st.Host()) != "example.com" ||
				h.ProtoMajor != 3 || h.Form != app.OriginForm || h.HasBody() || string(st.Header("Accept")) != "*/*" {
				t.Errorf("head %+v", h)
			}
		}},
		{name: "body of unknown length", fields: get(), check: func(t *testing.T, st *stream) {
			if !st.Req.UnknownLength || st.Req.ContentLength != -1 {
				t.Errorf("head %+v", st.Req)
			}
		}},
		{name: "content-length", fields: get("content-length", "5"), check: func(t *testing.T, st *stream) {
			if st.Req.UnknownLength || st.Req.ContentLength != 5 {
				t.Errorf("head %+v", st.Req)
			}
		}},
		{name: "cookies joined", fields: get("cookie", "a=1", "x", "y", "cookie", "b=2"), check: func(t *testing.T, st *stream) {
			if got := string(st.Header("cookie")); got != "a=1; b=2" || len(st.Req.Fields) != 2 || string(st.Header("x")) != "y" {
				t.Errorf("cookie %q, fields %d", got, len(st.Req.Fields))
			}
		}},
		{name: "host without :authority", fields: []string{":method", "GET", ":scheme", "https", ":path", "/", "host", "h.test"}, ended: true, check: func(t *testing.T, st *stream) {
			if string(st.Host()) != "h.test" {
				t.Errorf("host %q", st.Host())
			}
		}},
		{name: "CONNECT", fields: []string{":method", "CONNECT", ":authority", "example.com:443"}, check: func(t *testing.T, st *stream) {
			if st.Req.Form != app.AuthorityForm || string(st.Target()) != "example.com:443" {
				t.Errorf("head %+v", st.Req)
			}
		}},
		{name: "OPTIONS *", fields: []string{":method", "OPTIONS", ":scheme", "https", ":authority", "a", ":path", "*"}, ended: true, check: func(t *testing.T, st *stream) {
			if st.Req.Form != app.AsteriskForm {
				t.Errorf("form %v", st.Req.Form)
			}
		}},
		{name: "te trailers", fields: get("te", "trailers"), ended: true},
		{name: "missing :method", fields: []string{":scheme", "https", ":path", "/"}, malformed: "missing :method"},
		{name: "missing :path", fields: []string{":method", "GET", ":scheme", "https"}, malformed: "missing :scheme or :path"},
		{name: "empty :path", fields: []string{":method", "GET", ":scheme", "https", ":path", ""}, malformed: "empty :path"},
		{name: "relative :path", fields: []string{":method", "GET", ":scheme", "https", ":path", "p"}, malformed: "invalid :path"},
		{name: "space in :path", fields: []string{":method", "GET", ":scheme", "https", ":path", "/a?x HTTP/1.0 y"}, malformed: "invalid :path"},
		{name: "tab in :path", fields: []string{":method", "GET", ":scheme", "https", ":path", "/a\tb"}, malformed: "invalid :path"},
		{name: "* for GET", fields: []string{":method", "GET", ":scheme", "https", ":path", "*"}, malformed: "invalid :path"},
		{name: "CONNECT with :path", fields: []string{":method", "CONNECT", ":authority", "a:1", ":path", "/"}, malformed: "CONNECT needs :authority and no :scheme or :path"},
		{name: "duplicate :path", fields: get(":path", "/again"), malformed: "duplicate :path"},
		{name: "duplicate pseudo-header", fields: []string{":method", "GET", ":method", "GET", ":scheme", "https", ":path", "/"}, malformed: "duplicate :method"},
		{name: "pseudo-header after a regular one", fields: []string{":method", "GET", "a", "b", ":scheme", "https", ":path", "/"}, malformed: "pseudo-header after a regular header"},
		{name: "unknown pseudo-header", fields: []string{":x", "y", ":method", "GET", ":scheme", "https", ":path", "/"}, malformed: "unknown pseudo-header :x"},
		{name: ":protocol (no extended CONNECT)", fields: []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "a"}, malformed: ":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL"},
		{name: "upper-case name", fields: get("Accept", "x"), malformed: "upper-case header name"},
		{name: "connection header", fields: get("connection", "close"), malformed: "connection-specific header connection"},
		{name: "transfer-encoding", fields: get("transfer-encoding", "chunked"), malformed: "connection-specific header transfer-encoding"},
		{name: "te other than trailers", fields: get("te", "gzip"), malformed: "te other than trailers"},
		{name: "bad content-length", fields: get("content-length", "1x"), malformed: "invalid content-length"},
		{name: "content-lengths differ", fields: get("content-length", "1", "content-length", "2"), malformed: "invalid content-length"},
		{name: "content-length with an empty body", fields: get("content-length", "3"), ended: true, malformed: "content-length with an empty body"},
		{name: "two hosts", fields: []string{":method", "GET", ":scheme", "https", ":path", "/", "host", "a.test", "host", "b.test"}, malformed: "more than one host"},
		{name: "a second host after the one :authority has", fields: get("host", "example.com", "host", "other.test"), malformed: "more than one host"},
		{name: "authority and host differ", fields: get("host", "other.test"), malformed: ":authority and host differ"},
		// As over HTTP/2: a host name's case does not matter, and a
		// declared Trailer is known up front.
		{name: "authority and host differ in case", fields: get("host", "EXAMPLE.com"), ended: true},
		{name: "trailer declared", fields: get("trailer", "x-t"), check: func(t *testing.T, st *stream) {
			if !st.Req.TrailerDeclared {
				t.Error("Trailer not seen")
			}
		}},
		{name: "authority with user information", fields: []string{":method", "GET", ":scheme", "https", ":authority", "u@h", ":path", "/"}, malformed: "invalid :authority"},
		{name: "invalid method", fields: []string{":method", "G T", ":scheme", "https", ":path", "/"}, malformed: "invalid :method"},
		{name: "authority not a host", fields: []string{":method", "GET", ":scheme", "https", ":authority", "a<b>.test", ":path", "/"}, malformed: "invalid :authority"},
		// RFC 9114, 4.3.1: an http or https request names its authority.
		{name: "neither :authority nor host", fields: []string{":method", "GET", ":scheme", "https", ":path", "/"}, ended: true, malformed: "missing :authority and host"},
		{name: "empty host", fields: []string{":method", "GET", ":scheme", "https", ":path", "/", "host", ""}, ended: true, malformed: "empty host"},
		{name: "no authority for another scheme", fields: []string{":method", "GET", ":scheme", "urn", ":path", "/"}, ended: true},
		{name: "host not a host", fields: []string{":method", "GET", ":scheme", "https", ":path", "/", "host", "a\tb.test:1"}, malformed: "invalid host"},
		{name: "value with a control byte", fields: get("x", "a\x01b"), malformed: "invalid header value"},
		{name: "value with DEL", fields: get("x", "a\x7fb"), malformed: "invalid header value"},
		{name: "value with an escape", fields: get("x", "\x1b[31m"), malformed: "invalid header value"},
		{name: "value with a newline", fields: get("x", "a\nb"), malformed: "invalid header value"},
		{name: "value with leading space", fields: get("x", " a"), malformed: "header value with leading or trailing whitespace"},
		{name: "field at the size limit", fields: get("x", strings.Repeat("v", 100))},
		{name: "field over the size limit", fields: get("x", strings.Repeat("v", 101)), tooLarge: true},
		{name: "name over the size limit", fields: get(strings.Repeat("n", 101), "v"), tooLarge: true},
		{name: "too many fields", fields: get("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7"), tooLarge: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := testStream(cfg)
			st.headBuf = st.headBuf[:0]
			st.Req = app.Head{}
			if err := st.decodeRequest(encode(tc.fields...), &st.hb); err != nil {
				t.Fatal(err)
			}
			if st.hb.tooLarge != tc.tooLarge {
				t.Fatalf("too large: %v, want %v", st.hb.tooLarge, tc.tooLarge)
			}
			if tc.tooLarge {
				return
			}
			if got := st.buildHead(&st.hb, tc.ended); got != tc.malformed {
				t.Fatalf("malformed %q, want %q", got, tc.malformed)
			}
			if tc.malformed == "" && tc.check != nil {
				st.Start()
				tc.check(t, st)
			}
		})
	}
}

// TestDecodeExtendedConnect: with SETTINGS_ENABLE_CONNECT_PROTOCOL sent,
// an extended CONNECT (RFC 9220) is a tunnel whose target is :path and
// whose :protocol the handler sees as a header; one without :scheme,
// :path or :authority, or :protocol on another method, is malformed.
func TestDecodeExtendedConnect(t *testing.T) {
	cfg := testConfig()
	cfg.ConnectProtocol = true
	full := []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/ws?x=1", ":authority", "a", "sec-websocket-version", "13"}
	without := func(name string) []string {
		for i := 0; i < len(full); i += 2 {
			if full[i] == name {
				return append(full[:i:i], full[i+2:]...)
			}
		}
		panic(name)
	}
	for _, tc := range []struct {
		name      string
		fields    []string
		malformed string
	}{
		{"extended CONNECT", full, ""},
		{"without :scheme", without(":scheme"), "extended CONNECT needs :scheme, :path and :authority"},
		{"without :path", without(":path"), "extended CONNECT needs :scheme, :path and :authority"},
		{"without :authority", without(":authority"), "extended CONNECT needs :scheme, :path and :authority"},
		{"without :protocol", without(":protocol"), "CONNECT needs :authority and no :scheme or :path"},
		{":protocol on GET", []string{":method", "GET", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "a"}, ":protocol on a request other than CONNECT"},
	} {
		st := testStream(cfg)
		st.headBuf = st.headBuf[:0]
		st.Req = app.Head{}
		if err := st.decodeRequest(encode(tc.fields...), &st.hb); err != nil {
			t.Fatal(err)
		}
		if got := st.buildHead(&st.hb, false); got != tc.malformed {
			t.Errorf("%s: malformed %q, want %q", tc.name, got, tc.malformed)
			continue
		}
		if tc.malformed != "" {
			continue
		}
		st.Start()
		if !st.Req.Tunnel || st.Req.Form != app.OriginForm || string(st.Target()) != "/ws?x=1" || string(st.Header(":protocol")) != "websocket" || string(st.Header("sec-websocket-version")) != "13" {
			t.Errorf("%s: head %+v, :protocol %q", tc.name, st.Req, st.Header(":protocol"))
		}
	}
}

func TestDecodeRequestQPACKErrors(t *testing.T) {
	st := testStream(testConfig())
	for _, block := range [][]byte{
		{0x01, 0x00},              // a Required Insert Count: the dynamic table, which the server's SETTINGS leave at 0
		{0x00, 0x00, 0x80 | 0x3f}, // an indexed field referring to the dynamic table
		{0x00, 0x00, 0xff, 0xff},  // an index past the static table
		{0x00},                    // a truncated prefix
	} {
		var ce *connError
		if err := st.decodeRequest(block, &st.hb); !errors.As(err, &ce) || ce.code != errQPACKDecompression {
			t.Errorf("block %x: %v, want QPACK_DECOMPRESSION_FAILED", block, err)
		}
	}
}

func TestResponseHeaders(t *testing.T) {
	cfg := testConfig()
	st := testStream(cfg)
	ex := &st.Exchange
	ex.Req = app.Head{Buf: []byte("GET"), Method: app.Span{Start: 0, End: 3}, ProtoMajor: 3}
	ex.Start()
	ex.SetStatus(404)
	ex.AddHeader("Content-Type", "text/plain")
	ex.AddHeader("Connection", "close") // interpreted, not sent
	ex.AddHeader("Keep-Alive", "timeout=5")
	ex.AddHeader("X-Custom", "v")
	st.appendHeaders(ex.Status(), ex, 12, nil)
	var rd reader
	rd.reset(bytes.NewReader(st.out), make([]byte, 256))
	typ, n, err := rd.frameHeader()
	if err != nil || typ != frameHeaders {
		t.Fatalf("%#x %v", typ, err)
	}
	block, _ := rd.payload(int(n))
	next := qpack.NewDecoder().Decode(block)
	var got []string
	for {
		hf, err := next()
		if err != nil {
			break
		}
		if hf.Name != "date" {
			got = append(got, hf.Name+"="+hf.Value)
		}
	}
	want := "[:status=404 content-type=text/plain x-custom=v content-length=12 server=Kestrel]"
	if s := strings.Join(got, " "); "["+s+"]" != want {
		t.Errorf("fields %v, want %s", got, want)
	}
}

// FuzzDecodeRequest decodes arbitrary field sections as request heads: no
// panic, and a valid head's spans stay within its buffer.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(encode(get("cookie", "a", "cookie", "b")...), true)
	f.Add(encode(":method", "CONNECT", ":authority", "a:1"), false)
	f.Add(encode(get("content-length", "7", "te", "trailers")...), false)
	f.Add([]byte{0x00, 0x00, 0x51, 0x01, 0x2f}, true)
	cfg := testConfig()
	f.Fuzz(func(t *testing.T, block []byte, ended bool) {
		st := testStream(cfg)
		if err := st.decodeRequest(block, &st.hb); err != nil || st.hb.tooLarge {
			return
		}
		if st.buildHead(&st.hb, ended) != "" {
			return
		}
		h := &st.Req
		for _, sp := range append([]app.Span{h.Method, h.Target, h.Host}, fieldSpans(h.Fields)...) {
			if sp.Start < 0 || sp.Start > sp.End || int(sp.End) > len(h.Buf) {
				t.Fatalf("span %+v outside a buffer of %d bytes", sp, len(h.Buf))
			}
		}
		st.Start()
		if len(st.Method()) == 0 {
			t.Fatal("a valid request without a method")
		}
		// What HTTP/1.1 would refuse in a request line or Host, HTTP/3
		// refuses too.
		if !httpsyntax.ValidToken(st.Method()) || !httpsyntax.ValidHost(st.Host()) {
			t.Fatalf("accepted method %q, host %q", st.Method(), st.Host())
		}
	})
}

func fieldSpans(fs []app.Field) []app.Span {
	var out []app.Span
	for _, f := range fs {
		out = append(out, f.Name, f.Value)
	}
	return out
}
