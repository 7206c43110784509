package grpcserver

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// FuzzDecodeBinary checks -bin metadata decoding against its model,
// grpc-go's: base64 with padding when the length is a multiple of four,
// without it otherwise; and that what a client encodes either way comes
// back whole.
func FuzzDecodeBinary(f *testing.F) {
	for _, s := range []string{"", "AA", "AA==", "AAA=", "AAAA", "A", "AA=", "_-", "AB\n", "QUJD", "QUJDRA", "QUJDRA=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := decodeBinary(v)
		enc := base64.RawStdEncoding
		if len(v)%4 == 0 {
			enc = base64.StdEncoding
		}
		want, werr := enc.DecodeString(v)
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("decodeBinary(%q) = %q, %v; grpc-go's: %q, %v", v, got, err, want, werr)
		}
		raw := []byte(v)
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if back, err := decodeBinary(e.EncodeToString(raw)); err != nil || !bytes.Equal(back, raw) {
				t.Fatalf("decodeBinary of %q encoded = %q, %v", raw, back, err)
			}
		}
	})
}
