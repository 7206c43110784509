package requestdecompression_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/kestrel-go/kestrel/requestdecompression"
)

// FuzzHandler feeds arbitrary bytes to the middleware as each coding's
// body, under a small limit: it must never panic, and must answer 200
// with at most the limit decoded, 413 with exactly the limit read, or 400
// with ErrCorrupt. The same bytes, compressed, must come back unchanged
// when they fit the limit. The seeds run in every plain go test.
func FuzzHandler(f *testing.F) {
	const limit = 64 << 10
	for coding := range encoders {
		f.Add(coding, compress(f, coding, []byte("hello, hello, hello")))
		f.Add(coding, compress(f, coding, make([]byte, 100_000))) // over the limit
		f.Add(coding, []byte("not compressed"))
	}
	f.Add("gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})  // a header, then nothing
	f.Add("deflate", []byte{0x78, 0x9c})                          // a zlib header, then nothing
	f.Add("zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58})     // a frame header, cut short
	f.Add("br", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // reserved bits
	f.Fuzz(func(t *testing.T, coding string, data []byte) {
		enc, ok := encoders[coding]
		if !ok {
			return
		}
		var got []byte
		var readErr error
		h := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, readErr = io.ReadAll(r.Body)
			if readErr != nil {
				http.Error(w, readErr.Error(), 500)
			}
		}), requestdecompression.Options{MaxBodySize: limit})
		w := post(h, header(coding), bytes.NewReader(data))
		var tooLarge *http.MaxBytesError
		switch {
		case w.Code == 200 && readErr == nil && len(got) <= limit:
		case w.Code == 413 && errors.As(readErr, &tooLarge) && len(got) == limit:
		case w.Code == 400 && errors.Is(readErr, requestdecompression.ErrCorrupt):
		default:
			t.Fatalf("%s body %x: %d, %d bytes read, error %v", coding, data, w.Code, len(got), readErr)
		}

		// Round trip: data, compressed, decodes to itself.
		var buf bytes.Buffer
		cw := enc(&buf)
		cw.Write(data)
		cw.Close()
		got, readErr = nil, nil
		w = post(h, header(coding), &buf)
		if len(data) <= limit && (w.Code != 200 || !bytes.Equal(got, data)) {
			t.Fatalf("%s round trip of %d bytes: %d, %d bytes back, error %v", coding, len(data), w.Code, len(got), readErr)
		}
	})
}
