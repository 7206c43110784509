package grpcserver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestDecodeTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1S", time.Second, true},
		{"100m", 100 * time.Millisecond, true},
		{"5u", 5 * time.Microsecond, true},
		{"7n", 7, true},
		{"2M", 2 * time.Minute, true},
		{"3H", 3 * time.Hour, true},
		{"99999999S", 99999999 * time.Second, true},
		{"99999999H", time.Duration(math.MaxInt64), true},
		{"2562047H", 2562047 * time.Hour, true},
		{"", 0, false},
		{"S", 0, false},
		{"1", 0, false},
		{"1x", 0, false},
		{"123456789S", 0, false},
		{"-1S", 0, false},
		{"+1S", 0, false},
		{"1.5S", 0, false},
	} {
		got, err := decodeTimeout(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("decodeTimeout(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseContentType(t *testing.T) {
	for _, tc := range []struct {
		in             string
		sub            string
		web, text, ok  bool
		responseHeader string
	}{
		{"application/grpc", "", false, false, true, "application/grpc"},
		{"application/grpc+proto", "proto", false, false, true, "application/grpc+proto"},
		{"application/grpc+JSON", "json", false, false, true, "application/grpc+json"},
		{"application/grpc; charset=utf-8", "", false, false, true, "application/grpc"},
		{"application/grpc-web", "", true, false, true, "application/grpc-web"},
		{"application/grpc-web+proto", "proto", true, false, true, "application/grpc-web+proto"},
		{"application/grpc-web-text", "", true, true, true, "application/grpc-web-text"},
		{"application/grpc-web-text+proto", "proto", true, true, true, "application/grpc-web-text+proto"},
		{"application/grpcx", "", false, false, false, ""},
		{"application/grpc-webx", "", false, false, false, ""},
		{"application/json", "", false, false, false, ""},
		{"", "", false, false, false, ""},
	} {
		sub, web, text, ok := parseContentType([]byte(tc.in))
		if sub != tc.sub || web != tc.web || text != tc.text || ok != tc.ok {
			t.Errorf("parseContentType(%q) = %q %v %v %v", tc.in, sub, web, text, ok)
			continue
		}
		if ok {
			if got := responseContentType([]byte(tc.in), sub, web); got != tc.responseHeader {
				t.Errorf("responseContentType(%q) = %q, want %q", tc.in, got, tc.responseHeader)
			}
		}
		if IsGRPCContentType(tc.in) != ok && tc.in != "application/grpc-webx" {
			t.Errorf("IsGRPCContentType(%q) = %v", tc.in, !ok)
		}
	}
}

func TestEncodeGrpcMessage(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"plain message": "plain message",
		"100%":          "100%25",
		"a\nb":          "a%0Ab",
		"\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n": "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and non-BMP %F0%9F%98%88%09%0A",
		"bad \xff utf8": "bad %EF%BF%BD utf8",
	} {
		if got := encodeGrpcMessage(in); got != want {
			t.Errorf("encodeGrpcMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzDecodeTimeout(f *testing.F) {
	for _, s := range []string{"1S", "100m", "99999999H", "1x", ""} {
		f.Add(s)
	}
	units := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := decodeTimeout(s)
		// The gRPC spec: TimeoutValue is at most 8 ASCII digits, then
		// one of the units; what is beyond a Duration is its largest, as
		// grpc-go has it.
		valid := len(s) >= 2 && len(s) <= 9 && units[s[len(s)-1]] != 0 && strings.Trim(s[:len(s)-1], "0123456789") == ""
		if (err == nil) != valid {
			t.Fatalf("decodeTimeout(%q) = %v, %v", s, d, err)
		}
		if valid {
			n, _ := strconv.ParseInt(s[:len(s)-1], 10, 64) // int64: 99999999H overflows a 32-bit int's nanoseconds
			want := time.Duration(math.MaxInt64)
			if u := units[s[len(s)-1]]; n <= math.MaxInt64/int64(u) {
				want = time.Duration(n) * u
			}
			if d != want {
				t.Fatalf("decodeTimeout(%q) = %v, want %v", s, d, want)
			}
		}
	})
}

func FuzzParseContentType(f *testing.F) {
	for _, s := range []string{"application/grpc", "application/grpc-web-text+proto;x", "application/grpc+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sub, web, _, ok := parseContentType([]byte(s))
		if ok && !strings.HasPrefix(s, "application/grpc") {
			t.Errorf("%q accepted", s)
		}
		if ok {
			responseContentType([]byte(s), sub, web)
		}
	})
}

// FuzzBase64Reader: what the reader decodes is what a decoder of whole
// quanta gives, for any input and any read sizes.
func FuzzBase64Reader(f *testing.F) {
	f.Add([]byte("aGVsbG8="), 3)
	f.Add([]byte("aA==aGk="), 1)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 || chunk > 64 {
			chunk = 1
		}
		var out []byte
		r := newBase64Reader(bytes.NewReader(in))
		buf := make([]byte, chunk)
		var err error
		for {
			var n int
			n, err = r.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, string(in))
		want, werr := decodeQuanta(clean)
		if (err == io.EOF) != (werr == nil) || werr == nil && !bytes.Equal(out, want) {
			t.Errorf("%q: %q %v; quanta give %q %v", in, out, err, want, werr)
		}
	})
}

// FuzzRecvMsg: any request body gives messages, the end, or an error
// status, never a panic; and the same ones however the body's bytes arrive
// (whole, a byte at a time, in halves), so the read-ahead is invisible.
func FuzzRecvMsg(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 2, 8, 1}, false)
	f.Add([]byte{1, 0, 0, 0, 1, 0}, true)
	f.Add([]byte{0, 0, 0x40, 0, 1}, false)
	f.Add([]byte{0, 0, 0, 0, 2, 8, 1, 0, 0, 0, 0, 2, 8, 2, 0, 0}, false)
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		transcript := func(r io.Reader) string {
			c := &call{s: NewServer(), body: bodyReader{r: r}, codec: defaultCodec}
			defer c.body.release()
			c.cctx.init(t.Context(), 0, false, nil)
			c.ctx = &c.cctx
			if gzipped {
				c.recvName = "gzip"
				c.recvComp = encoding.GetCompressor(gzip.Name)
			}
			var out strings.Builder
			for range 4 {
				m := new(testgrpc.SimpleRequest)
				if err := c.RecvMsg(m); err != nil {
					fmt.Fprintf(&out, "error %v", err)
					break
				}
				b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
				fmt.Fprintf(&out, "message %x; ", b)
			}
			return out.String()
		}
		whole := transcript(bytes.NewReader(body))
		for name, r := range map[string]io.Reader{
			"a byte at a time": iotest.OneByteReader(bytes.NewReader(body)),
			"in halves":        iotest.HalfReader(bytes.NewReader(body)),
		} {
			if got := transcript(r); got != whole {
				t.Fatalf("read %s: %s\nread whole: %s", name, got, whole)
			}
		}
	})
}

// TestRecvMsgReadAhead: messages of every size around the read-ahead
// buffer's, sent in one piece, a byte at a time, in halves and with the
// end of the body on the last read, come out whole and in order, then
// io.EOF; a body cut anywhere inside a message is an INTERNAL error, not
// the end.
func TestRecvMsgReadAhead(t *testing.T) {
	sizes := []int{0, 1, 13, 4089, 4090, 4091, 4096, 5000, 70000, 2, 300000, 0}
	var body []byte
	var starts []int // where each message begins in body
	for _, n := range sizes {
		starts = append(starts, len(body))
		b, err := proto.Marshal(&testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: bytes.Repeat([]byte{byte(n)}, n)}})
		if err != nil {
			t.Fatal(err)
		}
		body = append(binary.BigEndian.AppendUint32(append(body, 0), uint32(len(b))), b...)
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":       func(r io.Reader) io.Reader { return r },
		"byte a time": iotest.OneByteReader,
		"halves":      iotest.HalfReader,
		"EOF on data": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			c := &call{s: NewServer(), body: bodyReader{r: wrap(bytes.NewReader(body))}, codec: defaultCodec}
			c.cctx.init(t.Context(), 0, false, nil)
			c.ctx = &c.cctx
			defer c.body.release()
			for i, n := range sizes {
				var m testgrpc.SimpleRequest
				if err := c.recvMsg(&m); err != nil {
					t.Fatalf("message %d (%d bytes): %v", i, n, err)
				}
				if got := m.GetPayload().GetBody(); len(got) != n || n > 0 && got[n-1] != byte(n) {
					t.Fatalf("message %d: %d bytes, want %d", i, len(got), n)
				}
			}
			if err := c.recvMsg(new(testgrpc.SimpleRequest)); err != io.EOF {
				t.Fatalf("after the last message: %v, want io.EOF", err)
			}
		})
	}
	// Cut inside the third message (13 bytes of payload), the fifth (4090)
	// and the ninth (70000): in the prefix, just after it, in the middle,
	// a byte short.
	for _, i := range []int{2, 4, 8} {
		for _, cut := range []int{starts[i] + 1, starts[i] + 4, starts[i] + 5, (starts[i] + starts[i+1]) / 2, starts[i+1] - 1} {
			for name, wrap := range readers {
				c := &call{s: NewServer(), body: bodyReader{r: wrap(bytes.NewReader(body[:cut]))}, codec: defaultCodec}
				c.cctx.init(t.Context(), 0, false, nil)
				c.ctx = &c.cctx
				var err error
				n := 0
				for ; err == nil; n++ {
					err = c.recvMsg(new(testgrpc.SimpleRequest))
				}
				if n != i+1 || status.Code(err) != codes.Internal {
					t.Errorf("%s, body cut %d bytes into message %d: message %d failed with %v, want message %d INTERNAL", name, cut-starts[i], i, n-1, err, i)
				}
				c.body.release()
			}
		}
	}
}

// TestRecvMsgClaimedLength: a length prefix claiming a message of the
// largest size allowed, followed by a few bytes and the body's end, costs
// the server memory for the bytes that came, not for the size claimed (as
// grpc-go's server reads a message as its bytes arrive): otherwise a
// client could make each of its streams hold 4 MiB for a few bytes sent.
// It fails with INTERNAL, as a message cut short does.
func TestRecvMsgClaimedLength(t *testing.T) {
	body := append([]byte{0, 0, 0, 0, 0}, make([]byte, 100)...)
	binary.BigEndian.PutUint32(body[1:], DefaultMaxRecvMsgSize)
	c := &call{s: NewServer(), body: bodyReader{r: iotest.HalfReader(bytes.NewReader(body))}, codec: defaultCodec}
	c.cctx.init(t.Context(), 0, false, nil)
	c.ctx = &c.cctx
	defer c.body.release()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := c.recvMsg(new(testgrpc.SimpleRequest))
	runtime.ReadMemStats(&after)
	if status.Code(err) != codes.Internal {
		t.Errorf("a message cut short: %v, want INTERNAL", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("reading 100 bytes of a message claiming %d allocated %d bytes", DefaultMaxRecvMsgSize, n)
	}
}

// TestSendLimitDefault: without MaxSendMsgSize, the server sends messages
// up to grpc-go's server's default limit, math.MaxInt32 bytes, and fails
// a larger one with RESOURCE_EXHAUSTED rather than sending it (past 4 GiB
// its 32-bit length prefix would wrap). A message that size is too large
// to make in a test.
func TestSendLimitDefault(t *testing.T) {
	if got := NewServer().maxSend; got != math.MaxInt32 {
		t.Errorf("default send limit %d, want %d", got, math.MaxInt32)
	}
}
