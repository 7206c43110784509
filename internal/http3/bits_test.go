package http3

import (
	"testing"

	"github.com/quic-go/quic-go/quicvarint"
)

// TestHeadersFrameLimitAtLargeHeaderLimits: a HEADERS frame over the
// limit (twice MaxRequestHeadersTotalSize, plus a margin) is answered with
// 431 unread, at the largest header limit Limits allows (1 GiB for the
// line and headers). On 32-bit platforms, twice the limit wrapped an int
// to a negative bound that let any length through to be read.
func TestHeadersFrameLimitAtLargeHeaderLimits(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxRequestHeadersTotalSize = 1<<30 - 8<<10
	okHandler(cfg)
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	for _, length := range []uint64{1 << 31, 1<<31 + 16<<10, 1<<32 + 5, 1 << 40} {
		head := quicvarint.Append(quicvarint.Append(nil, frameHeaders), length)
		if status, _, err := response(request(t, qc, head, false)); status != 431 {
			t.Errorf("HEADERS frame of %d bytes: %d %v, want 431", length, status, err)
		}
	}
	if status, _, err := response(request(t, qc, frames(frameHeaders, encode(get()...)), true)); status != 200 || err != nil {
		t.Fatalf("after the oversized frames: %d %v", status, err)
	}
}
