package http3

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"github.com/quic-go/quic-go/quicvarint"
)

// frames builds a stream of frames: each pair is a type and a payload.
func frames(pairs ...any) []byte {
	var b []byte
	for i := 0; i < len(pairs); i += 2 {
		p := pairs[i+1].([]byte)
		b = appendFrameHeader(b, uint64(pairs[i].(int)), len(p))
		b = append(b, p...)
	}
	return b
}

func TestReaderFrames(t *testing.T) {
	big := bytes.Repeat([]byte("h"), 10000) // larger than the reader's buffer
	stream := frames(frameHeaders, []byte("head"), 0x21, []byte("unknown"), frameData, []byte("body"), frameHeaders, big)
	for name, src := range map[string]io.Reader{
		"whole":         bytes.NewReader(stream),
		"byte by byte":  iotest.OneByteReader(bytes.NewReader(stream)),
		"with deadline": &deadlineOnce{r: iotest.HalfReader(bytes.NewReader(stream))},
	} {
		t.Run(name, func(t *testing.T) {
			var rd reader
			rd.reset(src, make([]byte, 64))
			next := func() (uint64, uint64) {
				for {
					typ, n, err := rd.frameHeader()
					if isDeadline(err) {
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					return typ, n
				}
			}
			if typ, n := next(); typ != frameHeaders || n != 4 {
				t.Fatalf("first frame %#x/%d", typ, n)
			}
			if p, err := rd.payload(4); err != nil || string(p) != "head" {
				t.Fatalf("payload %q %v", p, err)
			}
			typ, n := next()
			if typ != 0x21 {
				t.Fatalf("second frame %#x", typ)
			}
			for n > 0 {
				var err error
				if n, err = rd.skip(n); err != nil && !isDeadline(err) {
					t.Fatal(err)
				}
			}
			if typ, n := next(); typ != frameData || n != 4 {
				t.Fatalf("third frame %#x/%d", typ, n)
			}
			var body []byte
			for len(body) < 4 {
				buf := make([]byte, 4-len(body))
				k, err := rd.read(buf)
				if err != nil && !isDeadline(err) {
					t.Fatal(err)
				}
				body = append(body, buf[:k]...)
			}
			if string(body) != "body" {
				t.Fatalf("body %q", body)
			}
			if typ, n := next(); typ != frameHeaders || n != uint64(len(big)) {
				t.Fatalf("fourth frame %#x/%d", typ, n)
			}
			for {
				p, err := rd.payload(len(big))
				if isDeadline(err) {
					continue
				}
				if err != nil || !bytes.Equal(p, big) {
					t.Fatalf("large payload: %d bytes, %v", len(p), err)
				}
				break
			}
			_, _, err := rd.frameHeader()
			for isDeadline(err) {
				_, _, err = rd.frameHeader()
			}
			if err != io.EOF || !rd.ended() {
				t.Fatalf("at the end: %v, ended %v", err, rd.ended())
			}
		})
	}
}

// deadlineOnce fails every other read with a deadline error, which the
// reader must not keep.
type deadlineOnce struct {
	r    io.Reader
	fail bool
}

func (d *deadlineOnce) Read(p []byte) (int, error) {
	d.fail = !d.fail
	if d.fail {
		return 0, errDeadlineTest
	}
	return d.r.Read(p)
}

var errDeadlineTest = deadlineErr{}

type deadlineErr struct{}

func (deadlineErr) Error() string { return "deadline" }
func (deadlineErr) Is(target error) bool {
	return target == os.ErrDeadlineExceeded
}

func isDeadline(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func TestReaderTruncated(t *testing.T) {
	whole := frames(frameData, []byte("0123456789"))
	for cut := 1; cut < len(whole); cut++ {
		var rd reader
		rd.reset(bytes.NewReader(whole[:cut]), make([]byte, 64))
		typ, n, err := rd.frameHeader()
		if err != nil {
			if err != errTruncated {
				t.Fatalf("cut at %d: header: %v", cut, err)
			}
			continue
		}
		if typ != frameData || n != 10 {
			t.Fatalf("cut at %d: %#x/%d", cut, typ, n)
		}
		if _, err := rd.payload(int(n)); err != errTruncated {
			t.Fatalf("cut at %d: payload: %v, want errTruncated", cut, err)
		}
	}
}

// TestReaderPayloadGrowsAsItArrives: a payload longer than the buffer
// grows it as its bytes come, not to the length the frame announces, so a
// client that announces a large HEADERS frame and sends a few bytes of it
// costs the server no more than those bytes.
func TestReaderPayloadGrowsAsItArrives(t *testing.T) {
	const announced = 64 << 10
	var rd reader
	rd.reset(bytes.NewReader(make([]byte, 100)), make([]byte, 64))
	if _, err := rd.payload(announced); err != errTruncated {
		t.Fatalf("payload: %v, want errTruncated", err)
	}
	if len(rd.buf) > 1024 {
		t.Fatalf("the buffer grew to %d bytes for 100 received of %d announced", len(rd.buf), announced)
	}
}

func TestParseSettings(t *testing.T) {
	setting := func(kv ...uint64) []byte {
		var b []byte
		for _, v := range kv {
			b = quicvarint.Append(b, v)
		}
		return b
	}
	cases := []struct {
		name    string
		payload []byte
		code    errCode // 0: valid
		max     uint64
	}{
		{"empty", nil, 0, 0},
		{"field section size", setting(settingMaxFieldSectionSize, 16384), 0, 16384},
		{"QPACK settings and grease", setting(settingQPACKMaxTableCapacity, 4096, settingQPACKBlockedStreams, 16, 0x21, 7), 0, 0},
		{"duplicate", setting(settingMaxFieldSectionSize, 1, settingMaxFieldSectionSize, 2), errSettings, 0},
		{"duplicate SETTINGS_ENABLE_CONNECT_PROTOCOL", setting(settingEnableConnectProtocol, 1, settingEnableConnectProtocol, 1), errSettings, 0},
		{"duplicate unknown setting", setting(0x21, 1, settingMaxFieldSectionSize, 9, 0x21, 1), errSettings, 0},
		{"duplicate large unknown setting", setting(1<<40, 0, 1<<40, 0), errSettings, 0},
		{"SETTINGS_ENABLE_CONNECT_PROTOCOL 0 and grease", setting(settingEnableConnectProtocol, 0, 0x21, 1, 0x40, 1), 0, 0},
		{"SETTINGS_ENABLE_CONNECT_PROTOCOL 2", setting(settingEnableConnectProtocol, 2), errSettings, 0},
		{"HTTP/2 setting", setting(0x02, 1), errSettings, 0},
		{"HTTP/2 setting 5", setting(0x05, 16384), errSettings, 0},
		{"value missing", setting(settingMaxFieldSectionSize), errFrame, 0},
		{"truncated varint", []byte{0x40}, errFrame, 0},
	}
	for _, tc := range cases {
		s, err := parseSettings(tc.payload)
		var ce *connError
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.code != 0 && (!errors.As(err, &ce) || ce.code != tc.code):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		case tc.code == 0 && s.maxFieldSectionSize != tc.max:
			t.Errorf("%s: max field section size %d, want %d", tc.name, s.maxFieldSectionSize, tc.max)
		}
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte{0x06, 0x44, 0x00})
	f.Add([]byte{0x01, 0x00, 0x07, 0x00, 0x21, 0x05})
	f.Add([]byte{0x06, 0x01, 0x06, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSettings(b)
		var ce *connError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("not a connection error: %v", err)
		}
		// The model (RFC 9114, 7.2.4; RFC 9220, 3): pairs of varints, in
		// order; the first fault decides the error.
		var want settings
		var code errCode
		seen := map[uint64]bool{}
		for rest := b; len(rest) > 0 && code == 0; {
			id, n, err1 := quicvarint.Parse(rest)
			v, m, err2 := quicvarint.Parse(rest[n:])
			rest = rest[n+m:]
			switch {
			case err1 != nil || err2 != nil:
				code = errFrame
			case id >= 2 && id <= 5, seen[id], id == settingEnableConnectProtocol && v > 1:
				code = errSettings
			case id == settingMaxFieldSectionSize:
				want.maxFieldSectionSize = v
			}
			seen[id] = true
		}
		switch {
		case code == 0 && err != nil:
			t.Fatalf("%x: %v", b, err)
		case code != 0 && (ce == nil || ce.code != code):
			t.Fatalf("%x: %v, want error %v", b, err, code)
		case code == 0 && s != want:
			t.Fatalf("%x: %+v, want %+v", b, s, want)
		}
	})
}

// FuzzReader drives the frame reader over arbitrary bytes, delivered in
// arbitrary pieces, as the request stream reads them.
func FuzzReader(f *testing.F) {
	f.Add(frames(frameHeaders, []byte("x"), frameData, []byte("yz")), uint8(3))
	f.Add([]byte{0x40}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, piece uint8) {
		var rd reader
		rd.reset(&pieces{b: b, n: int(piece%16) + 1}, make([]byte, 32))
		consumed := 0
		for range 64 {
			typ, n, err := rd.frameHeader()
			if err != nil {
				if err != io.EOF && err != errTruncated {
					t.Fatalf("frame header: %v", err)
				}
				return
			}
			l := varintLen(b[consumed])
			consumed += l + varintLen(b[consumed+l])
			switch {
			case typ == frameHeaders && n <= 1<<16:
				p, err := rd.payload(int(n))
				if err != nil {
					return
				}
				if !bytes.Equal(p, b[consumed:consumed+len(p)]) {
					t.Fatal("payload differs from the input")
				}
				consumed += len(p)
			case typ == frameData && n <= 1<<16:
				buf := make([]byte, n)
				for got := 0; got < int(n); {
					k, err := rd.read(buf[got:])
					if err != nil {
						return
					}
					got += k
				}
				if !bytes.Equal(buf, b[consumed:consumed+int(n)]) {
					t.Fatal("data differs from the input")
				}
				consumed += int(n)
			default:
				if _, err := rd.skip(n); err != nil {
					return
				}
				consumed += int(n)
			}
		}
	})
}

// pieces delivers b n bytes at a time.
type pieces struct {
	b []byte
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	k := copy(b[:min(len(b), p.n)], p.b)
	p.b = p.b[k:]
	return k, nil
}
