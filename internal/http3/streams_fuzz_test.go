package http3

import (
	"errors"
	"io"
	"testing"
)

// FuzzInstructionStreams checks the QPACK encoder and decoder streams'
// readers against RFC 9204's instruction grammar, with a dynamic table of
// capacity 0: the encoder stream may only set that capacity (0x20), the
// decoder stream may only cancel streams (01, a 6-bit prefixed integer);
// anything else is the stream's connection error, at the first
// offending instruction, and a valid stream's end is io.EOF (whatever
// the read sizes).
func FuzzInstructionStreams(f *testing.F) {
	for _, b := range [][]byte{
		{}, {0x20}, {0x20, 0x20}, {0x21}, {0x3f, 0xe1, 0x1f}, {0x40}, {0x7f, 0x80, 0x80, 0x01}, {0x7f},
		{0x80}, {0x00}, {0x7f, 0xff}, {0x41, 0x01}, {0x41, 0x81},
	} {
		f.Add(b, uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, piece uint8) {
		read := func(fn func(*reader) error) error {
			var rd reader
			rd.reset(&pieces{b: append([]byte(nil), b...), n: int(piece%16) + 1}, make([]byte, 32))
			return fn(&rd)
		}
		wantEnc := io.EOF
		for _, c := range b {
			if c != 0x20 {
				wantEnc = connErr(errQPACKEncoderStream, "")
				break
			}
		}
		check := func(name string, got, want error) {
			var gc, wc *connError
			switch {
			case want == io.EOF && got != io.EOF,
				want != io.EOF && (!errors.As(got, &gc) || !errors.As(want, &wc) || gc.code != wc.code):
				t.Fatalf("%s stream %x: %v, want %v", name, b, got, want)
			}
		}
		check("encoder", read(readEncoderStream), wantEnc)
		// The decoder stream's instructions.
		var wantDec error = io.EOF
		for i := 0; i < len(b) && wantDec == io.EOF; {
			c := b[i]
			i++
			switch {
			case c&0x80 != 0, c&0x40 == 0:
				wantDec = connErr(errQPACKDecoderStream, "")
			case c&0x3f == 0x3f:
				for i < len(b) && b[i]&0x80 != 0 {
					i++
				}
				i++ // the integer's last byte
			}
		}
		check("decoder", read(readDecoderStream), wantDec)
	})
}

// FuzzControlStream drives the control stream's reader over arbitrary
// bytes in arbitrary pieces: it ends, with the end of the stream or a
// connection error, and a stream that is a valid SETTINGS frame and
// then GOAWAYs that never raise their ID ends with io.EOF.
func FuzzControlStream(f *testing.F) {
	settings := frames(frameSettings, []byte{0x01, 0x00, 0x07, 0x00})
	f.Add(settings, uint8(1))
	f.Add(append(append([]byte(nil), settings...), frames(frameGoAway, []byte{0x08}, frameGoAway, []byte{0x04})...), uint8(3))
	f.Add(append(append([]byte(nil), settings...), frames(frameGoAway, []byte{0x04}, frameGoAway, []byte{0x08})...), uint8(2))
	f.Add(append(append([]byte(nil), settings...), frames(frameMaxPushID, []byte{0x40, 0x10}, 0x21, []byte("x"))...), uint8(5))
	f.Add(frames(frameData, []byte{}), uint8(1))
	f.Add(append(append([]byte(nil), settings...), 0x07, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), uint8(4))
	f.Fuzz(func(t *testing.T, b []byte, piece uint8) {
		var rd reader
		rd.reset(&pieces{b: b, n: int(piece%16) + 1}, make([]byte, 32))
		err := (&Conn{}).readControl(&rd)
		var ce *connError
		if err != io.EOF && !errors.As(err, &ce) {
			t.Fatalf("%x: %v", b, err)
		}
	})
}
