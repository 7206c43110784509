package http3

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/quic-go/quic-go/quicvarint"

	"github.com/kestrel-go/kestrel/internal/metrics"
)

// Frame types (RFC 9114, 7.2).
const (
	frameData        = 0x00
	frameHeaders     = 0x01
	frameCancelPush  = 0x03
	frameSettings    = 0x04
	framePushPromise = 0x05
	frameGoAway      = 0x07
	frameMaxPushID   = 0x0d
)

// reservedHTTP2Frame reports the frame types HTTP/2 has and HTTP/3 does not
// (RFC 9114, 7.2.8): receiving one is a connection error.
func reservedHTTP2Frame(t uint64) bool {
	return t == 0x02 || t == 0x06 || t == 0x08 || t == 0x09
}

// Unidirectional stream types (RFC 9114, 6.2; RFC 9204, 4.2).
const (
	streamControl      = 0x00
	streamPush         = 0x01
	streamQPACKEncoder = 0x02
	streamQPACKDecoder = 0x03
)

// Settings (RFC 9114, 7.2.4.1; RFC 9204, 5).
const (
	settingQPACKMaxTableCapacity = 0x01
	settingMaxFieldSectionSize   = 0x06
	settingQPACKBlockedStreams   = 0x07
	settingEnableConnectProtocol = 0x08 // RFC 9220, 3
)

// reservedHTTP2Setting reports the setting identifiers HTTP/2 has and
// HTTP/3 does not (RFC 9114, 7.2.4.1).
func reservedHTTP2Setting(id uint64) bool { return id >= 0x02 && id <= 0x05 }

// errCode is an HTTP/3 error code (RFC 9114, 8.1; RFC 9204, 6).
type errCode uint64

// Error codes.
const (
	errNoError              errCode = 0x100
	errGeneralProtocol      errCode = 0x101
	errInternal             errCode = 0x102
	errStreamCreation       errCode = 0x103
	errClosedCriticalStream errCode = 0x104
	errFrameUnexpected      errCode = 0x105
	errFrame                errCode = 0x106
	errExcessiveLoad        errCode = 0x107
	errID                   errCode = 0x108
	errSettings             errCode = 0x109
	errMissingSettings      errCode = 0x10a
	errRequestRejected      errCode = 0x10b
	errRequestCancelled     errCode = 0x10c
	errRequestIncomplete    errCode = 0x10d
	errMessage              errCode = 0x10e
	errQPACKDecompression   errCode = 0x200
	errQPACKEncoderStream   errCode = 0x201
	errQPACKDecoderStream   errCode = 0x202
)

var errCodeNames = map[errCode]string{
	errNoError:              "H3_NO_ERROR",
	errGeneralProtocol:      "H3_GENERAL_PROTOCOL_ERROR",
	errInternal:             "H3_INTERNAL_ERROR",
	errStreamCreation:       "H3_STREAM_CREATION_ERROR",
	errClosedCriticalStream: "H3_CLOSED_CRITICAL_STREAM",
	errFrameUnexpected:      "H3_FRAME_UNEXPECTED",
	errFrame:                "H3_FRAME_ERROR",
	errExcessiveLoad:        "H3_EXCESSIVE_LOAD",
	errID:                   "H3_ID_ERROR",
	errSettings:             "H3_SETTINGS_ERROR",
	errMissingSettings:      "H3_MISSING_SETTINGS",
	errRequestRejected:      "H3_REQUEST_REJECTED",
	errRequestCancelled:     "H3_REQUEST_CANCELLED",
	errRequestIncomplete:    "H3_REQUEST_INCOMPLETE",
	errMessage:              "H3_MESSAGE_ERROR",
	errQPACKDecompression:   "QPACK_DECOMPRESSION_FAILED",
	errQPACKEncoderStream:   "QPACK_ENCODER_STREAM_ERROR",
	errQPACKDecoderStream:   "QPACK_DECODER_STREAM_ERROR",
}

func (e errCode) String() string {
	if s, ok := errCodeNames[e]; ok {
		return s
	}
	return fmt.Sprintf("H3_ERROR(%#x)", uint64(e))
}

// connError is a connection error: the connection closes with the code.
type connError struct {
	code   errCode
	reason string
}

func (e *connError) Error() string {
	return "http3: connection error " + e.code.String() + ": " + e.reason
}

func connErr(code errCode, format string, args ...any) *connError {
	return &connError{code, fmt.Sprintf(format, args...)}
}

// endReason is why the connection ends, in Kestrel's terms, for metrics.
func (e *connError) endReason() metrics.Reason {
	switch e.code {
	case errFrameUnexpected:
		return metrics.UnexpectedFrame
	case errFrame:
		return metrics.InvalidFrameLength
	case errClosedCriticalStream:
		return metrics.ClosedCriticalStream
	case errStreamCreation:
		return metrics.StreamCreationError
	case errSettings, errMissingSettings:
		return metrics.InvalidSettings
	case errQPACKDecompression, errQPACKEncoderStream, errQPACKDecoderStream:
		return metrics.ErrorReadingHeaders
	case errID:
		return metrics.InvalidStreamID
	}
	return metrics.OtherError
}

// errTruncated is a stream that ended inside a frame (RFC 9114, 7.1).
var errTruncated = connErr(errFrame, "a stream ended inside a frame")

// appendFrameHeader appends a frame's type and payload length.
func appendFrameHeader(b []byte, typ uint64, length int) []byte {
	b = quicvarint.Append(b, typ)
	return quicvarint.Append(b, uint64(length))
}

// settings are the peer's SETTINGS that the server heeds.
type settings struct {
	maxFieldSectionSize uint64 // 0: unlimited
}

// maxSettingsPayload bounds a SETTINGS frame's payload.
const maxSettingsPayload = 4096

// parseSettings parses a SETTINGS frame's payload (RFC 9114, 7.2.4):
// duplicate identifiers (unknown ones too), HTTP/2's, and a
// SETTINGS_ENABLE_CONNECT_PROTOCOL other than 0 or 1 (RFC 9220, 3, as
// RFC 8441, 3) are errors; unknown identifiers are otherwise ignored.
func parseSettings(b []byte) (settings, error) {
	var s settings
	var seen [16]bool
	var seenOther map[uint64]struct{} // identifiers past seen's, made for the first
	for len(b) > 0 {
		id, n, err := quicvarint.Parse(b)
		if err != nil {
			return s, connErr(errFrame, "malformed SETTINGS frame")
		}
		b = b[n:]
		v, n, err := quicvarint.Parse(b)
		if err != nil {
			return s, connErr(errFrame, "malformed SETTINGS frame")
		}
		b = b[n:]
		if reservedHTTP2Setting(id) {
			return s, connErr(errSettings, "HTTP/2 setting %#x in SETTINGS", id)
		}
		if id < uint64(len(seen)) {
			if seen[id] {
				return s, connErr(errSettings, "duplicate setting %#x", id)
			}
			seen[id] = true
		} else {
			if _, dup := seenOther[id]; dup {
				return s, connErr(errSettings, "duplicate setting %#x", id)
			}
			if seenOther == nil {
				seenOther = make(map[uint64]struct{})
			}
			seenOther[id] = struct{}{}
		}
		switch id {
		case settingMaxFieldSectionSize:
			s.maxFieldSectionSize = v
		case settingEnableConnectProtocol:
			if v > 1 {
				return s, connErr(errSettings, "SETTINGS_ENABLE_CONNECT_PROTOCOL of %d", v)
			}
		}
	}
	return s, nil
}

// reader reads a stream's frames through a small buffer, so that frame
// headers do not cost a stream read each, while large DATA payloads go
// straight into the caller's slice.
type reader struct {
	src  io.Reader
	buf  []byte
	r, w int
	err  error // the source's error (io.EOF at its end), once the buffer is drained
}

func (rd *reader) reset(src io.Reader, buf []byte) {
	rd.src, rd.buf, rd.r, rd.w, rd.err = src, buf, 0, 0, nil
}

// buffered are the bytes read from the source but not yet consumed.
func (rd *reader) buffered() []byte { return rd.buf[rd.r:rd.w] }

// fill reads more bytes from the source, moving the unread ones to the
// front of the buffer, and reports the source's error when nothing came.
// A deadline's error is not kept: the read may be tried again.
func (rd *reader) fill() error {
	if rd.err != nil {
		return rd.err
	}
	if rd.r > 0 {
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r = 0
	}
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	if err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			rd.err = err
		}
		if n == 0 {
			return err
		}
	}
	return nil
}

// ended reports whether the source has ended and every byte was consumed;
// it does not wait.
func (rd *reader) ended() bool { return rd.r == rd.w && rd.err == io.EOF }

// varintLen is the length of the variable-length integer starting with b.
func varintLen(b byte) int { return 1 << (b >> 6) }

// varint reads one variable-length integer.
func (rd *reader) varint() (uint64, error) {
	for {
		if b := rd.buffered(); len(b) > 0 && len(b) >= varintLen(b[0]) {
			v, n, _ := quicvarint.Parse(b)
			rd.r += n
			return v, nil
		}
		if err := rd.fill(); err != nil {
			return 0, truncated(err)
		}
	}
}

// frameHeader reads a frame's type and payload length; nothing is
// consumed unless both are read. At the stream's clean end it returns
// io.EOF; a stream that ends inside the header returns errTruncated.
func (rd *reader) frameHeader() (typ, length uint64, err error) {
	for {
		if b := rd.buffered(); len(b) > 0 {
			if n := varintLen(b[0]); len(b) > n {
				if m := varintLen(b[n]); len(b) >= n+m {
					typ, _, _ = quicvarint.Parse(b)
					length, _, _ = quicvarint.Parse(b[n:])
					rd.r += n + m
					return typ, length, nil
				}
			}
		}
		if err := rd.fill(); err != nil {
			if err == io.EOF && rd.r == rd.w {
				return 0, 0, io.EOF
			}
			return 0, 0, truncated(err)
		}
	}
}

// truncated turns the end of a stream inside a frame into errTruncated.
func truncated(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

// payload reads a whole payload of n bytes, which is valid until the next
// read; n may exceed the buffer, which then grows, doubling as the bytes
// arrive rather than to n at once: a frame's announced length costs no
// memory until the client sends it. Nothing is consumed unless it is all
// read.
func (rd *reader) payload(n int) ([]byte, error) {
	for rd.w-rd.r < n {
		if rd.w-rd.r == len(rd.buf) {
			bigger := make([]byte, min(n, max(2*len(rd.buf), 512)))
			rd.w = copy(bigger, rd.buf[rd.r:rd.w])
			rd.r, rd.buf = 0, bigger
		}
		if err := rd.fill(); err != nil {
			return nil, truncated(err)
		}
	}
	p := rd.buf[rd.r : rd.r+n]
	rd.r += n
	return p, nil
}

// skip discards n payload bytes and returns how many are left to skip
// when it fails.
func (rd *reader) skip(n uint64) (uint64, error) {
	for n > 0 {
		if rd.r == rd.w {
			if err := rd.fill(); err != nil {
				return n, truncated(err)
			}
		}
		k := min(uint64(rd.w-rd.r), n)
		rd.r += int(k)
		n -= k
	}
	return 0, nil
}

// read reads up to len(p) payload bytes: buffered ones first, otherwise
// straight from the source. It returns errTruncated at the stream's end.
func (rd *reader) read(p []byte) (int, error) {
	if rd.r < rd.w {
		n := copy(p, rd.buf[rd.r:rd.w])
		rd.r += n
		return n, nil
	}
	if rd.err != nil {
		return 0, truncated(rd.err)
	}
	n, err := rd.src.Read(p)
	if err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			rd.err = err
		}
		if n == 0 {
			return 0, truncated(err)
		}
	}
	return n, nil
}
