package tlsconn

import (
	"bytes"
	"testing"
)

// FuzzClientHelloMessage checks the ClientHello reassembly against the
// record layer's model (RFC 8446, 5.1): the fragments of the leading
// handshake records, concatenated, up to the first whole handshake
// message, which must be a ClientHello; nil when a record of another
// type or the end of the bytes comes first.
func FuzzClientHelloMessage(f *testing.F) {
	f.Add([]byte{22, 3, 1, 0, 8, 1, 0, 0, 4, 'a', 'b', 'c', 'd'})
	f.Add([]byte{22, 3, 1, 0, 3, 1, 0, 0, 22, 3, 1, 0, 3, 2, 'a', 'b'})
	f.Add([]byte{22, 3, 1, 0, 0, 22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Add([]byte{22, 3, 1, 0, 2, 1, 0, 21, 3, 1, 0, 2, 0, 0})
	f.Add([]byte{22, 3, 1, 0, 4, 2, 0, 0, 0})
	f.Add([]byte{22, 3, 1, 0, 5, 1, 0, 0, 0, 9, 23, 3, 3, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		got := ClientHelloMessage(b)
		if !bytes.Equal(in, b) {
			t.Fatal("the input was changed")
		}
		var want, msg []byte
		for rest := b; len(rest) >= 5 && rest[0] == 22; {
			n := int(rest[3])<<8 | int(rest[4])
			if len(rest) < 5+n {
				break
			}
			msg = append(msg, rest[5:5+n]...)
			rest = rest[5+n:]
			if len(msg) >= 4 {
				if l := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])); len(msg) >= l {
					if msg[0] == 1 {
						want = msg[:l]
					}
					break
				}
				if msg[0] != 1 {
					break
				}
			}
		}
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("ClientHelloMessage(%x) = %x, want %x", b, got, want)
		}
		if got != nil && cap(got) != len(got) {
			t.Fatalf("ClientHelloMessage(%x): capacity %d beyond the message (%d): an append would write over the input", b, cap(got), len(got))
		}
	})
}
