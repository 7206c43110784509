package http2

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// responseFor is the response the handler of TestResponseFieldEncodings
// gives to request n: a status, fields drawn from a small pool (so that
// most repeat and some are new, some large enough to evict), a body and,
// now and then, trailers.
func responseFor(n int) (status int, fields [][2]string, body string, trailers [][2]string) {
	if (n-1)%120 == 0 {
		// The first response after a change of the table's size: fields
		// the connection remembers, then a new one, as the size update
		// must come first in the block all the same.
		return 200, [][2]string{{"content-type", "text/plain"}, {"x-request-id", strconv.Itoa(n)}}, "first", nil
	}
	r := rand.New(rand.NewPCG(uint64(n), 7))
	status = []int{200, 200, 200, 204, 404, 500, 206}[r.IntN(7)]
	pool := [][2]string{
		{"content-type", "text/plain"},
		{"content-type", "application/json"},
		{"cache-control", "no-store"},
		{"x-request-id", strconv.Itoa(n)},                        // new every time: always added to the table
		{"x-large", strings.Repeat(string(rune('a'+n%26)), 300)}, // evicts the others from a small table
		{"vary", "accept-encoding"},
		{"etag", `"v1"`},
		{"x-flag", "on"},
		// Larger than any dynamic table the encoder has: written
		// without it, Huffman-coded, and as it is (Huffman would be longer).
		{"x-huge", strings.Repeat("h", 5000)},
		{"x-raw", strings.Repeat("~{", 2100)},
	}
	for _, f := range pool {
		if r.IntN(3) > 0 {
			fields = append(fields, f)
		}
	}
	if status != 204 {
		body = strings.Repeat("b", []int{0, 13, 13, 13, 100}[r.IntN(5)])
	}
	if r.IntN(4) == 0 {
		trailers = [][2]string{{"grpc-status", "0"}, {"grpc-message", []string{"", "ok", "x" + strconv.Itoa(n), strings.Repeat("m", 5000)}[r.IntN(4)]}}
		if r.IntN(2) == 0 {
			// A large first field, which the encoder writes: it may
			// have a table size update to write before it.
			trailers = slices.Insert(trailers, 0, [2]string{"x-trailer", strings.Repeat("t", 5000)})
		}
	}
	return
}

// TestResponseFieldEncodings: the encodings a connection remembers for the
// fields responses repeat give, response after response, exactly the
// fields each response set, as a client's HPACK decoder reads them, while
// new fields are added to the dynamic table, large ones evict the rest,
// and the client changes SETTINGS_HEADER_TABLE_SIZE (down to 0 and up
// again) between responses.
func TestResponseFieldEncodings(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(ex *app.Exchange) {
		n, _ := strconv.Atoi(string(ex.Path()[1:]))
		status, fields, body, trailers := responseFor(n)
		for _, f := range fields {
			ex.AddHeader(f[0], f[1])
		}
		for _, f := range trailers {
			ex.AddTrailer(f[0], f[1])
		}
		ex.SetStatus(status)
		ex.WriteString(body)
	}, nil)
	c := dialRaw(t, s.addr)
	// The encoder's table only shrinks (x/net's encoder never grows it
	// past the smallest size a client allowed): each step down comes with
	// a size update.
	sizes := []uint32{4096, 2048, 1024, 300, 64, 0, 4096}
	id := uint32(1)
	for round, size := range sizes {
		if round > 0 {
			// A smaller table is the client's to announce; its decoder
			// accepts the server's size update once it sent the setting.
			c.fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: size})
			c.dec.SetAllowedMaxDynamicTableSize(max(size, sizes[round-1]))
			c.waitFor("SETTINGS ack", func(f http2.Frame) bool {
				sf, ok := f.(*http2.SettingsFrame)
				return ok && sf.IsAck()
			})
		}
		for range 60 { // the first one: (n-1)%120 == 0
			n := int(id)
			c.request(id, "GET", "/"+strconv.Itoa(n), true)
			wantStatus, wantFields, wantBody, wantTrailers := responseFor(n)
			var got [][2]string
			var gotTrailers [][2]string
			var gotBody []byte
			for ended := false; !ended; {
				switch f := c.read().(type) {
				case *http2.MetaHeadersFrame:
					if f.StreamID != id {
						t.Fatalf("HEADERS on stream %d, want %d", f.StreamID, id)
					}
					var fs [][2]string
					for _, hf := range f.Fields {
						fs = append(fs, [2]string{hf.Name, hf.Value})
					}
					if got == nil {
						got = fs
					} else {
						gotTrailers = fs
					}
					ended = f.StreamEnded()
				case *http2.DataFrame:
					gotBody = append(gotBody, f.Data()...)
					ended = f.StreamEnded()
				case *http2.RSTStreamFrame, *http2.GoAwayFrame:
					t.Fatalf("response %d: %v", n, f)
				}
			}
			// The server adds :status, Content-Length (when it knows it),
			// Date and Server.
			want := [][2]string{{":status", strconv.Itoa(wantStatus)}}
			want = append(want, wantFields...)
			if wantStatus != 204 && len(wantTrailers) == 0 {
				want = append(want, [2]string{"content-length", strconv.Itoa(len(wantBody))})
			}
			var date string
			got = slices.DeleteFunc(got, func(f [2]string) bool {
				if f[0] == "date" {
					date = f[1]
					return true
				}
				return false
			})
			want = append(want, [2]string{"server", "Kestrel"})
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("table size %d, response %d:\n got %q\nwant %q", size, n, got, want)
			}
			if !strings.HasSuffix(date, " GMT") {
				t.Fatalf("response %d: Date %q", n, date)
			}
			if string(gotBody) != wantBody {
				t.Fatalf("response %d: body %q, want %q", n, gotBody, wantBody)
			}
			if fmt.Sprint(gotTrailers) != fmt.Sprint(wantTrailers) && !(len(gotTrailers) == 0 && len(wantTrailers) == 0) {
				t.Fatalf("response %d: trailers %q, want %q", n, gotTrailers, wantTrailers)
			}
			id += 2
		}
	}
}

// BenchmarkEncodeHeaders: the response head of a plaintext answer, as a
// connection encodes it again and again.
func BenchmarkEncodeHeaders(b *testing.B) {
	c := &Conn{cfg: &Config{App: &app.Config{ServerHeader: true, Heartbeat: heartbeat.New(nil)}}}
	c.enc = hpack.NewEncoder(encWriter{c})
	ex := new(app.Exchange)
	ex.SetHeader("Content-Type", "text/plain")
	b.ReportAllocs()
	for b.Loop() {
		c.encodeHeaders(200, ex, 13, nil)
	}
}
