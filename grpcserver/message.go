package grpcserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// codec marshals messages: the registered encoding.CodecV2, or, for the
// proto codec grpc-go registers itself, the protobuf runtime directly
// into the call's pooled buffers.
type codec struct {
	c    encoding.CodecV2
	fast bool // c is grpc-go's own proto codec
}

// builtinProto is grpc-go's proto codec as registered when this package
// started; a program that registers another "proto" codec later gets its
// own.
var builtinProto = encoding.GetCodecV2(grpcproto.Name)

var defaultCodec = codec{c: builtinProto, fast: true}

// codecFor returns the codec of a content-subtype; like grpc-go, an
// unknown subtype falls back to proto.
func codecFor(sub string) codec {
	if sub != "" && sub != grpcproto.Name {
		if c := encoding.GetCodecV2(sub); c != nil {
			return codec{c: c}
		}
	}
	c := encoding.GetCodecV2(grpcproto.Name)
	if c == builtinProto {
		return defaultCodec
	}
	return codec{c: c}
}

// marshal appends v's encoding to b.
func (cd codec) marshal(b []byte, v any) ([]byte, error) {
	if m, ok := v.(proto.Message); ok && cd.fast {
		return proto.MarshalOptions{}.MarshalAppend(b, m)
	}
	out, err := cd.c.Marshal(v)
	if err != nil {
		return b, err
	}
	for _, buf := range out {
		b = append(b, buf.ReadOnlyData()...)
	}
	out.Free()
	return b, nil
}

// unmarshal decodes data into v. The codec must not keep data.
func (cd codec) unmarshal(data []byte, v any) error {
	if m, ok := v.(proto.Message); ok && cd.fast {
		return proto.Unmarshal(data, m)
	}
	// A codec other than grpc-go's may keep what it is given: give it a
	// copy, not the pooled buffer.
	return cd.c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(data))}, v)
}

// Message buffers are pooled in two sizes; larger ones are not kept.
var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}
	largeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
)

func getBuf(n int) *[]byte {
	if n <= 4<<10 {
		return smallBufs.Get().(*[]byte)
	}
	if n <= 64<<10 {
		return largeBufs.Get().(*[]byte)
	}
	b := make([]byte, 0, n)
	return &b
}

func putBuf(b *[]byte) {
	switch cap(*b) {
	case 4 << 10:
		*b = (*b)[:0]
		smallBufs.Put(b)
	case 64 << 10:
		*b = (*b)[:0]
		largeBufs.Put(b)
	}
}

// RecvMsg receives the next request message into m; io.EOF when the
// client has sent them all. A call whose client does not stream must
// send exactly one message, as grpc-go's server checks. A failure ends
// the call (see fail).
func (c *call) RecvMsg(m any) error {
	// reading is set before failed is looked at, and fail sets failed
	// before it looks at reading (halt): a failure in another goroutine
	// either is seen here or wakes the read.
	c.reading.Store(true)
	if c.failed.Load() != nil {
		c.reading.Store(false)
		return status.FromContextError(c.cctx.Err()).Err()
	}
	err := c.recvMsgOnce(m)
	c.reading.Store(false)
	return c.fail(err)
}

// recvMsgOnce is RecvMsg's read, with the cardinality checks.
func (c *call) recvMsgOnce(m any) error {
	if c.m == nil || c.m.stream != nil && c.m.stream.ClientStreams {
		return c.recvMsg(m)
	}
	first := !c.recvFirst
	c.recvFirst = true
	err := c.recvMsg(m)
	switch {
	case err == io.EOF && first:
		return status.Error(codes.Internal, "cardinality violation: received no request message from non-client-streaming RPC")
	case err != nil || !first:
		return err
	}
	switch err := c.recvMsg(m); err {
	case io.EOF:
		return nil
	case nil:
		return status.Error(codes.Internal, "cardinality violation: received multiple request messages for non-client-streaming RPC")
	default:
		return err
	}
}

// recvMsg reads one request message into m.
func (c *call) recvMsg(m any) error {
	if c.recvEOF {
		return io.EOF
	}
	in := &c.body
	if err := in.fill(5); err != nil {
		if err == io.EOF && len(in.buf) == 0 {
			c.recvEOF = true
			return io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return c.readError(err)
	}
	flag, n := in.buf[0], binary.BigEndian.Uint32(in.buf[1:5])
	in.buf = in.buf[5:]
	// grpc-go's order: the length against the limit, then the message's
	// bytes, then its flag.
	if int64(n) > int64(c.s.maxRecv) {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, c.s.maxRecv)
	}
	var data []byte
	if int(n) <= len(in.buf) {
		// The whole message came with the read-ahead: decoded in place,
		// valid until the next read.
		data, in.buf = in.buf[:n:n], in.buf[n:]
	} else if n <= 64<<10 {
		bp := getBuf(int(n))
		defer putBuf(bp)
		data = (*bp)[:n]
		if err := in.readFull(data); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return c.readError(err)
		}
	} else {
		var err error
		if data, err = in.readGrowing(int(n)); err != nil {
			return c.readError(err)
		}
	}
	switch {
	case flag == 1 && c.recvComp == nil:
		return status.Error(codes.Internal, "grpc: compressed flag set with identity or empty encoding")
	case flag > 1:
		return status.Errorf(codes.Internal, "grpc: received unexpected payload format %d", flag)
	}
	wire := len(data)
	if flag == 1 {
		var err error
		if data, err = c.decompress(data); err != nil {
			return err
		}
	}
	if err := c.codec.unmarshal(data, m); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	if len(c.statsHs) > 0 {
		in := &stats.InPayload{RecvTime: now(), Payload: m, Length: len(data), CompressedLength: wire, WireLength: wire + 5}
		for _, h := range c.statsHs {
			h.HandleRPC(c.ctx, in)
		}
	}
	return nil
}

// bodyReader reads a call's request body ahead, into a pooled buffer taken
// at its first read: a read takes whatever the client has sent, up to the
// buffer's 4 KiB, so that small messages, and the end of the body with
// them, come in one read of the stream rather than two or three each.
type bodyReader struct {
	r   io.Reader
	bp  *[]byte // the buffer; nil until the first read and after release
	buf []byte  // the bytes read and not yet consumed, in *bp
	err error   // the error that ended the last read, returned once buf is consumed
}

// fill reads until at least n bytes are buffered, n at most the buffer's
// size; it returns the error that stopped it short.
func (r *bodyReader) fill(n int) error {
	for len(r.buf) < n {
		if r.err != nil {
			return r.err
		}
		if r.bp == nil {
			r.bp = getBuf(0)
		}
		b := (*r.bp)[:cap(*r.bp)]
		off := copy(b, r.buf) // what is left of the last read moves to the front
		m, err := r.r.Read(b[off:])
		r.buf, r.err = b[:off+m], err
	}
	return nil
}

// readFull reads len(p) bytes into p: first what is buffered, then straight
// from the body.
func (r *bodyReader) readFull(p []byte) error {
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	if k == len(p) {
		return nil
	}
	if r.err != nil {
		return r.err
	}
	_, err := io.ReadFull(r.r, p[k:])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readGrowing reads a message of n bytes, more than the pooled buffers
// hold, into a buffer that grows as its bytes arrive rather than one of n
// bytes at once, so that a length prefix costs the server memory for the
// bytes the client has sent (which flow control bounds), not for the
// size it claims, as grpc-go's server reads a message. A body that ends
// short is io.ErrUnexpectedEOF.
func (r *bodyReader) readGrowing(n int) ([]byte, error) {
	data := make([]byte, 0, max(64<<10, len(r.buf)))
	data = append(data, r.buf...)
	r.buf = r.buf[len(r.buf):]
	if r.err != nil {
		return nil, unexpected(r.err)
	}
	for len(data) < n {
		if len(data) == cap(data) {
			data = slices.Grow(data, min(n, 2*cap(data))-len(data))
		}
		m, err := r.r.Read(data[len(data):min(cap(data), n)])
		data = data[:len(data)+m]
		if err != nil && len(data) < n {
			return nil, unexpected(err)
		}
	}
	return data, nil
}

// unexpected is err, or io.ErrUnexpectedEOF for io.EOF: the body ended
// inside a message.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// release gives the buffer back to the pool once the call has ended.
func (r *bodyReader) release() {
	if r.bp != nil {
		putBuf(r.bp)
		r.bp, r.buf = nil, nil
	}
}

// readError is the status of a failed read of the request body: the
// context's end when the client went away, grpc-go's INTERNAL otherwise.
func (c *call) readError(err error) error {
	if cerr := c.ctx.Err(); cerr != nil {
		return status.FromContextError(cerr).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// decompress decompresses a message, within the receive limit.
func (c *call) decompress(data []byte) ([]byte, error) {
	r, err := c.recvComp.Decompress(bytes.NewReader(data))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: failed to decompress the message: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(c.s.maxRecv)+1))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: failed to read decompressed data: %v", err)
	}
	if len(out) > c.s.maxRecv {
		return nil, status.Errorf(codes.ResourceExhausted, "grpc: received message after decompression larger than max %d", c.s.maxRecv)
	}
	return out, nil
}

// send sends a response message. last tells that it is a unary call's
// reply, which goes out with the trailers rather than at once. A message
// that does not marshal, or is over MaxSendMsgSize, fails with its own
// status whatever the call's state, as grpc-go's server checks the
// message first; once the call's context has ended (the deadline passed,
// the client went away, Stop, a failed message) another fails with the
// context's status and is not sent, as grpc-go's server has reset the
// stream by then.
func (c *call) send(m any, last bool) error {
	bp := getBuf(0)
	defer putBuf(bp)
	b := append((*bp)[:0], 0, 0, 0, 0, 0)
	var err error
	if m != nil { // a nil message is sent empty, as grpc-go sends it
		b, err = c.codec.marshal(b, m)
	}
	if err != nil {
		*bp = b[:0]
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	*bp = b[:0]
	size := len(b) - 5
	// An empty message goes out uncompressed, as grpc-go sends it: a
	// compressed one would be a stream of some twenty bytes.
	if c.sendComp != nil && size > 0 {
		cp := getBuf(size)
		defer putBuf(cp)
		z := append((*cp)[:0], 1, 0, 0, 0, 0)
		w := &appendWriter{b: z}
		zw, err := c.sendComp.Compress(w)
		if err == nil {
			_, err = zw.Write(b[5:])
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return status.Errorf(codes.Internal, "grpc: error while compressing: %v", err)
		}
		b = w.b
		*cp = b[:0]
	}
	// The length prefix says at most 4 GiB - 1, whatever the limit.
	if limit := c.s.maxSend; len(b)-5 > limit || int64(len(b)-5) > math.MaxUint32 {
		return status.Errorf(codes.ResourceExhausted, "trying to send message larger than max (%d vs. %d)", len(b)-5, min(int64(limit), math.MaxUint32))
	}
	if err := c.cctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	binary.BigEndian.PutUint32(b[1:5], uint32(len(b)-5))
	c.mu.Lock()
	c.sendHeaderLocked()
	c.mu.Unlock()
	// A write that waits for the client is abandoned when the call is
	// halted; one that would start after is not made.
	if !c.startWrite() {
		return status.FromContextError(c.cctx.Err()).Err()
	}
	if c.text {
		err = c.writeText(b)
	} else {
		err = c.t.write(b)
	}
	if err == nil && !last {
		err = c.t.flush()
	}
	c.endWrite()
	if err != nil {
		if cerr := c.ctx.Err(); cerr != nil {
			return status.FromContextError(cerr).Err()
		}
		return status.Error(codes.Unavailable, err.Error())
	}
	if len(c.statsHs) > 0 {
		out := &stats.OutPayload{SentTime: now(), Payload: m, Length: size, CompressedLength: len(b) - 5, WireLength: len(b)}
		for _, h := range c.statsHs {
			h.HandleRPC(c.ctx, out)
		}
	}
	return nil
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// registeredCompressors lists the compressors a client may use, for
// grpc-accept-encoding.
func registeredCompressors() string {
	names := []string{"identity"}
	for _, n := range []string{"gzip", "deflate", "snappy", "zstd"} {
		if encoding.GetCompressor(n) != nil {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// decodeTimeout parses a grpc-timeout value: at most 8 digits and a unit
// (H, M, S, m, u, n).
func decodeTimeout(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("transport: timeout string is too short: %q", s)
	}
	if len(s) > 9 {
		return 0, fmt.Errorf("transport: timeout string is too long: %q", s)
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("transport: timeout unit is not recognized: %q", s)
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
	if err != nil {
		return 0, err // grpc-go's words: strconv's
	}
	if unit == time.Hour && n > math.MaxInt64/uint64(time.Hour) {
		return time.Duration(math.MaxInt64), nil
	}
	return unit * time.Duration(n), nil
}

// encodeGrpcMessage percent-encodes a status message for grpc-message, as
// the gRPC spec asks: bytes outside ' '..'~', and '%', become %XX, after
// invalid UTF-8 is replaced.
func encodeGrpcMessage(msg string) string {
	plain := true
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < ' ' || c > '~' || c == '%' {
			plain = false
			break
		}
	}
	if plain {
		return msg
	}
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// parseContentType reads a request's Content-Type: gRPC
// ("application/grpc", "+subtype") or gRPC-Web ("application/grpc-web",
// "application/grpc-web-text", each with "+subtype").
func parseContentType(ct []byte) (sub string, web, text, ok bool) {
	const base = "application/grpc"
	if len(ct) < len(base) || string(ct[:len(base)]) != base {
		return "", false, false, false
	}
	rest := ct[len(base):]
	switch {
	case len(rest) >= 9 && string(rest[:9]) == "-web-text":
		web, text = true, true
		rest = rest[9:]
	case len(rest) >= 4 && string(rest[:4]) == "-web":
		web = true
		rest = rest[4:]
	}
	switch {
	case len(rest) == 0 || rest[0] == ';':
		return "", web, text, true
	case rest[0] == '+':
		sb := rest[1:]
		if i := bytes.IndexByte(sb, ';'); i >= 0 {
			sb = sb[:i]
		}
		if string(sb) == "proto" {
			return "proto", web, text, true
		}
		return strings.ToLower(string(sb)), web, text, true
	}
	return "", false, false, false
}

// responseContentType is the response's Content-Type: gRPC's as grpc-go
// writes it, gRPC-Web's as the request named it.
func responseContentType(ct []byte, sub string, web bool) string {
	if web {
		s := string(ct)
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		return s
	}
	switch sub {
	case "":
		return "application/grpc"
	case "proto":
		return "application/grpc+proto"
	}
	return "application/grpc+" + sub
}

var errBase64 = errors.New("grpcserver: malformed base64 in a grpc-web-text request")
