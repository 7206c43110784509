package http2

import (
	"io"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/metrics"
)

// headersFrame is a HEADERS frame (RFC 9113, 6.2) as the reader parses it
// itself, into the connection's buffer: x/net's Framer allocates a
// HeadersFrame for each one it reads (it reuses DATA frames only), which
// would be the one allocation a request costs. The Framer still reads
// the frame's header, checking its size and that CONTINUATION frames
// follow it.
type headersFrame struct {
	http2.FrameHeader
	priority bool   // the PRIORITY flag was set
	dep      uint32 // the stream it depends on, with priority
	frag     []byte // the header block fragment, without padding
}

func (f *headersFrame) StreamEnded() bool  { return f.Flags.Has(http2.FlagHeadersEndStream) }
func (f *headersFrame) HeadersEnded() bool { return f.Flags.Has(http2.FlagHeadersEndHeaders) }

// maxKeptHeaders is the HEADERS payload buffer a busy connection keeps.
const maxKeptHeaders = 4 << 10

// readHeaders reads the payload of the HEADERS frame whose header is fh
// into c.hf.
func (c *Conn) readHeaders(fh http2.FrameHeader) error {
	n := int(fh.Length)
	var p []byte
	switch {
	case n <= cap(c.hfBuf):
		p = c.hfBuf[:n]
	case n <= maxKeptHeaders:
		c.hfBuf = make([]byte, maxKeptHeaders)
		p = c.hfBuf[:n]
	default:
		p = make([]byte, n) // rare: not kept
	}
	if _, err := io.ReadFull(&c.in, p); err != nil {
		return err
	}
	return parseHeadersFrame(fh, p, &c.hf)
}

// parseHeadersFrame parses the payload p of the HEADERS frame whose
// header is fh into f. Its errors are connection errors: a HEADERS frame
// carries a header block, and one that is malformed leaves the HPACK
// state unknown (RFC 9113, 4.2 and 6.2).
func parseHeadersFrame(fh http2.FrameHeader, p []byte, f *headersFrame) error {
	*f = headersFrame{FrameHeader: fh}
	if fh.StreamID == 0 {
		return connErrFor(http2.ErrCodeProtocol, metrics.InvalidStreamID, "HEADERS frame with stream ID 0")
	}
	pad := 0
	if fh.Flags.Has(http2.FlagHeadersPadded) {
		if len(p) < 1 {
			return connErrFor(http2.ErrCodeFrameSize, metrics.InvalidDataPadding, "HEADERS frame too short for its padding length")
		}
		pad, p = int(p[0]), p[1:]
	}
	if fh.Flags.Has(http2.FlagHeadersPriority) {
		if len(p) < 5 {
			return connErr(http2.ErrCodeFrameSize, "HEADERS frame too short for its priority")
		}
		f.priority = true
		f.dep = (uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])) & 0x7fffffff
		p = p[5:]
	}
	if pad > len(p) {
		return connErrFor(http2.ErrCodeProtocol, metrics.InvalidDataPadding, "HEADERS frame padding longer than its payload")
	}
	f.frag = p[:len(p)-pad]
	return nil
}
