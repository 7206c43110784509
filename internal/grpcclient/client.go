// Package grpcclient is a gRPC client over an http.RoundTripper: quic-go's
// http3.Transport for gRPC over HTTP/3, which grpc-go's own client does not
// speak, or golang.org/x/net/http2's or net/http's Transport for h2 and
// h2c. A *Conn is a grpc.ClientConnInterface, so generated clients
// (pb.NewXClient(conn)) and grpc-go's interop cases run on it unchanged.
//
// It speaks gRPC's wire format (PROTOCOL-HTTP2.md in grpc/grpc) on the
// requests and responses the transport carries: length-prefixed messages
// with the compressed flag, grpc-timeout from the context's deadline,
// metadata from the outgoing context (binary values in base64), the status
// from grpc-status, grpc-message and grpc-status-details-bin in the
// trailers or in a trailers-only response, and message compression with
// any compressor in grpc-go's encoding registry (import
// google.golang.org/grpc/encoding/gzip for gzip).
//
// Call options: grpc.Header, grpc.Trailer, grpc.Peer, grpc.UseCompressor,
// grpc.MaxCallRecvMsgSize, grpc.MaxCallSendMsgSize, grpc.CallContentSubtype,
// grpc.ForceCodec, grpc.ForceCodecV2, grpc.OnFinish and
// grpc.CallAuthority take effect; grpc.WaitForReady and the static-method
// marker have no meaning here (every call is one request) and are ignored.
// A call with any other option (per-call credentials, for example) fails
// with codes.Internal rather than running without it.
package grpcclient

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Defaults of a call's message sizes, grpc-go's client's.
const (
	DefaultMaxRecvMsgSize = 4 << 20
	DefaultMaxSendMsgSize = 1<<31 - 1
)

// Conn makes gRPC calls as HTTP requests through Transport. Its fields must
// not change once calls start; a Conn is safe for concurrent calls.
type Conn struct {
	// Target is the server's base URL, "https://host:port" or, for h2c,
	// "http://host:port"; the call's method ("/package.Service/Method")
	// is its path.
	Target string

	// Transport makes the requests. It must speak HTTP/2 or HTTP/3: a
	// streaming call needs the request body and the response to flow at
	// the same time, and the status comes in the response's trailers.
	Transport http.RoundTripper

	// CallOptions apply to every call, before the call's own.
	CallOptions []grpc.CallOption

	// AcceptCompressors names the compressors of grpc-go's encoding
	// registry the client offers the server for its responses
	// (grpc-accept-encoding), beside the call's own compressor.
	AcceptCompressors []string

	// UserAgent is sent as the user-agent; empty means
	// "kestrel-grpcclient".
	UserAgent string
}

var _ grpc.ClientConnInterface = (*Conn)(nil)

// Invoke makes a unary call: it sends args and receives reply.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	ci, err := c.callInfo(opts)
	if err != nil {
		ci.finish(err)
		return err
	}
	frame, err := ci.encode(args)
	if err != nil {
		ci.finish(err)
		return err
	}
	s, err := c.start(ctx, &grpc.StreamDesc{}, method, ci, frame)
	if err != nil {
		return err
	}
	return s.RecvMsg(reply)
}

// NewStream starts a streaming call described by desc; generated clients
// call it for their streaming methods.
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ci, err := c.callInfo(opts)
	if err != nil {
		ci.finish(err)
		return nil, err
	}
	return c.start(ctx, desc, method, ci, nil)
}

// callInfo is what a call's options set.
type callInfo struct {
	header, trailer *metadata.MD
	peer            *peer.Peer
	compressor      string
	subtype         string
	codec           encoding.CodecV2
	maxRecv         int
	maxSend         int
	authority       string
	onFinish        []func(error)
}

// callInfo applies the call's options. On error, it returns the call's
// info too, for OnFinish.
func (c *Conn) callInfo(opts []grpc.CallOption) (*callInfo, error) {
	ci := &callInfo{maxRecv: DefaultMaxRecvMsgSize, maxSend: DefaultMaxSendMsgSize}
	var bad error
	for _, lists := range [][]grpc.CallOption{c.CallOptions, opts} {
		for _, o := range lists {
			switch o := o.(type) {
			case grpc.HeaderCallOption:
				ci.header = o.HeaderAddr
			case grpc.TrailerCallOption:
				ci.trailer = o.TrailerAddr
			case grpc.PeerCallOption:
				ci.peer = o.PeerAddr
			case grpc.CompressorCallOption:
				ci.compressor = o.CompressorType
			case grpc.ContentSubtypeCallOption:
				ci.subtype = strings.ToLower(o.ContentSubtype)
			case grpc.ForceCodecCallOption:
				ci.codec = codecV1{o.Codec}
				ci.subtype = strings.ToLower(o.Codec.Name())
			case grpc.ForceCodecV2CallOption:
				ci.codec = o.CodecV2
				ci.subtype = strings.ToLower(o.CodecV2.Name())
			case grpc.MaxRecvMsgSizeCallOption:
				ci.maxRecv = o.MaxRecvMsgSize
			case grpc.MaxSendMsgSizeCallOption:
				ci.maxSend = o.MaxSendMsgSize
			case grpc.AuthorityOverrideCallOption:
				ci.authority = o.Authority
			case grpc.OnFinishCallOption:
				ci.onFinish = append(ci.onFinish, o.OnFinish)
			case grpc.FailFastCallOption, grpc.StaticMethodCallOption, grpc.EmptyCallOption:
			default:
				if bad == nil {
					bad = status.Errorf(codes.Internal, "grpcclient: call option %T is not supported", o)
				}
			}
		}
	}
	if bad != nil {
		return ci, bad
	}
	if ci.codec == nil {
		name := ci.subtype
		if name == "" {
			name = "proto"
		}
		if ci.codec = encoding.GetCodecV2(name); ci.codec == nil {
			return ci, status.Errorf(codes.Internal, "grpcclient: no codec registered for content-subtype %q", name)
		}
	}
	if ci.compressor != "" && ci.compressor != "identity" && encoding.GetCompressor(ci.compressor) == nil {
		return ci, status.Errorf(codes.Internal, "grpcclient: compressor %q is not registered (import its package, e.g. google.golang.org/grpc/encoding/gzip)", ci.compressor)
	}
	return ci, nil
}

// finish calls the OnFinish functions with the call's outcome.
func (ci *callInfo) finish(err error) {
	if err == io.EOF {
		err = nil
	}
	for _, f := range ci.onFinish {
		f(err)
	}
}

// codecV1 adapts a grpc-go encoding.Codec to encoding.CodecV2.
type codecV1 struct{ c encoding.Codec }

func (c codecV1) Marshal(v any) (mem.BufferSlice, error) {
	b, err := c.c.Marshal(v)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (c codecV1) Unmarshal(data mem.BufferSlice, v any) error {
	return c.c.Unmarshal(data.Materialize(), v)
}

func (c codecV1) Name() string { return c.c.Name() }

// start sends the call's request: body is the whole request (a unary
// call's one message) or nil for a stream whose messages SendMsg writes.
// A unary call waits for the response's headers; a stream does not, as a
// server may send none before the client's messages.
func (c *Conn) start(ctx context.Context, desc *grpc.StreamDesc, method string, ci *callInfo, body []byte) (*clientStream, error) {
	if c.Transport == nil {
		err := status.Error(codes.Internal, "grpcclient: Conn has no Transport")
		ci.finish(err)
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		err = status.FromContextError(err).Err()
		ci.finish(err)
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &clientStream{
		parent:    ctx,
		ctx:       sctx,
		cancel:    cancel,
		desc:      desc,
		ci:        ci,
		headerSet: make(chan struct{}),
	}
	var reqBody io.ReadCloser
	if body != nil {
		reqBody = io.NopCloser(bytes.NewReader(body))
		s.sendClosed = true
	} else {
		pr, pw := io.Pipe()
		s.pw = pw
		reqBody = pr
		// A transport closes the request body when the exchange ends,
		// but not necessarily before RoundTrip returns; a blocked SendMsg
		// must end with the call.
		context.AfterFunc(sctx, func() { pr.CloseWithError(io.EOF) })
	}
	req, err := c.newRequest(sctx, method, ci, reqBody)
	if err != nil {
		reqBody.Close()
		cancel()
		ci.finish(err)
		return nil, err
	}
	if ci.peer != nil {
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				s.peerMu.Lock()
				s.peerAddr = info.Conn.RemoteAddr()
				s.peerMu.Unlock()
			},
		}))
		s.target = req.URL.Host
	}
	if body != nil {
		s.roundTrip(c.Transport, req)
		return s, nil
	}
	go s.roundTrip(c.Transport, req)
	return s, nil
}

// reservedHeaders are the request and response fields gRPC itself uses,
// which metadata neither sets nor sees.
var reservedHeaders = map[string]bool{
	"content-type": true, "user-agent": true, "te": true, "grpc-timeout": true,
	"grpc-encoding": true, "grpc-accept-encoding": true, "grpc-message": true,
	"grpc-status": true, "grpc-status-details-bin": true, "grpc-message-type": true,
	"grpc-previous-rpc-attempts": true, "grpc-retry-pushback-ms": true,
	"connection": true, "host": true, "trailer": true, "content-length": true,
}

func (c *Conn) newRequest(ctx context.Context, method string, ci *callInfo, body io.ReadCloser) (*http.Request, error) {
	if !strings.HasPrefix(method, "/") {
		return nil, status.Errorf(codes.Internal, "grpcclient: method %q does not start with /", method)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Target, "/")+method, body)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpcclient: %v", err)
	}
	if ci.authority != "" {
		req.Host = ci.authority
	}
	h := req.Header
	ct := "application/grpc"
	if ci.subtype != "" && ci.subtype != "proto" {
		ct += "+" + ci.subtype
	}
	h["Content-Type"] = []string{ct}
	h["Te"] = []string{"trailers"}
	ua := c.UserAgent
	if ua == "" {
		ua = "kestrel-grpcclient"
	}
	h["User-Agent"] = []string{ua}
	if d, ok := ctx.Deadline(); ok {
		h["Grpc-Timeout"] = []string{encodeTimeout(time.Until(d))}
	}
	accept := make([]string, 0, len(c.AcceptCompressors)+1)
	if ci.compressor != "" && ci.compressor != "identity" {
		h["Grpc-Encoding"] = []string{ci.compressor}
		accept = append(accept, ci.compressor)
	}
	for _, name := range c.AcceptCompressors {
		if name != ci.compressor && encoding.GetCompressor(name) != nil {
			accept = append(accept, name)
		}
	}
	if len(accept) > 0 {
		h["Grpc-Accept-Encoding"] = []string{strings.Join(accept, ",")}
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	for k, vs := range md {
		k = strings.ToLower(k)
		if reservedHeaders[k] || strings.HasPrefix(k, ":") || len(vs) == 0 {
			continue
		}
		if strings.HasSuffix(k, "-bin") {
			for _, v := range vs {
				h[k] = append(h[k], encodeBinary(v))
			}
			continue
		}
		for _, v := range vs {
			if !printable(v) {
				return nil, status.Errorf(codes.Internal, "grpcclient: metadata %q has a value with a character outside printable ASCII; use a -bin key for binary values", k)
			}
			h[k] = append(h[k], v)
		}
	}
	return req, nil
}

func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// maxTimeoutValue is the most digits grpc-timeout may have (8).
const maxTimeoutValue = 1e8 - 1

// encodeTimeout writes d as grpc-timeout: at most eight digits and a unit,
// rounded up, so the server's deadline is never before the client's.
func encodeTimeout(d time.Duration) string {
	if d <= 0 {
		return "0n"
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Nanosecond, "n"}, {time.Microsecond, "u"}, {time.Millisecond, "m"}, {time.Second, "S"}, {time.Minute, "M"}} {
		if v := ceilDiv(d, u.unit); v <= maxTimeoutValue {
			return strconv.FormatInt(v, 10) + u.name
		}
	}
	return strconv.FormatInt(min(ceilDiv(d, time.Hour), maxTimeoutValue), 10) + "H"
}

func ceilDiv(d, unit time.Duration) int64 {
	v := int64(d / unit)
	if d%unit != 0 {
		v++
	}
	return v
}

// clientStream is one call: grpc.ClientStream over one HTTP exchange.
type clientStream struct {
	parent context.Context // the caller's
	ctx    context.Context // the request's, cancelled when the call ends
	cancel context.CancelFunc
	desc   *grpc.StreamDesc
	ci     *callInfo

	sendMu     sync.Mutex
	pw         *io.PipeWriter // the request body of a stream
	sendClosed bool

	headerSet chan struct{} // closed once the response's headers are in
	resp      *http.Response
	header    metadata.MD
	recvComp  string // the response's grpc-encoding

	peerMu   sync.Mutex
	peerAddr net.Addr
	target   string

	recvMu   sync.Mutex
	received int    // messages received
	hdr      []byte // reused message prefix buffer
	done     bool
	final    error // io.EOF for OK, or the status error
	trailer  metadata.MD
}

// roundTrip sends the request and takes in the response's headers.
func (s *clientStream) roundTrip(rt http.RoundTripper, req *http.Request) {
	defer close(s.headerSet)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		s.end(s.transportError(err), nil)
		return
	}
	s.resp = resp
	if err := checkResponse(resp); err != nil {
		s.end(err, nil)
		return
	}
	md, err := metadataFrom(resp.Header)
	if err != nil {
		s.end(err, nil)
		return
	}
	s.header = md
	if s.ci.header != nil {
		*s.ci.header = md
	}
	s.recvComp = resp.Header.Get("Grpc-Encoding")
	if resp.Header.Get("Grpc-Status") != "" {
		// A trailers-only response: the status is in the headers.
		s.end(statusFrom(resp.Header), md)
	}
}

// checkResponse maps a response that is not gRPC to the status gRPC's
// HTTP/2 protocol gives it.
func checkResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		if resp.Header.Get("Grpc-Status") != "" {
			return nil // a trailers-only status speaks for itself
		}
		return status.Errorf(httpStatusCode(resp.StatusCode), "unexpected HTTP status code received from server: %d (%s)", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	ct := resp.Header.Get("Content-Type")
	if ct != "application/grpc" && !strings.HasPrefix(ct, "application/grpc+") && !strings.HasPrefix(ct, "application/grpc;") {
		if resp.Header.Get("Grpc-Status") != "" {
			return nil
		}
		return status.Errorf(codes.Unknown, "unexpected content-type %q received from server, want application/grpc", ct)
	}
	return nil
}

// httpStatusCode is gRPC's mapping of an HTTP status to a code
// (http-grpc-status-mapping.md in grpc/grpc).
func httpStatusCode(s int) codes.Code {
	switch s {
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}

// end records the call's outcome (io.EOF for OK) and releases the
// exchange. The first outcome stands.
func (s *clientStream) end(final error, trailer metadata.MD) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	s.endLocked(final, trailer)
}

func (s *clientStream) endLocked(final error, trailer metadata.MD) {
	if s.done {
		return
	}
	s.done = true
	if final != io.EOF {
		// A failure seen once the caller's context ended is the
		// context's: ending the call resets the request's stream, and a
		// server may answer that reset before the transport reports it.
		if cerr := s.parent.Err(); cerr != nil {
			final = status.FromContextError(cerr).Err()
		}
	}
	s.final = final
	s.trailer = trailer
	if s.ci.trailer != nil {
		*s.ci.trailer = trailer
	}
	if s.ci.peer != nil {
		s.peerMu.Lock()
		addr := s.peerAddr
		s.peerMu.Unlock()
		if addr == nil {
			addr = targetAddr(s.target)
		}
		*s.ci.peer = peer.Peer{Addr: addr}
	}
	s.cancel()
	if s.resp != nil {
		s.resp.Body.Close()
	}
	s.ci.finish(final)
}

// targetAddr is the server's host:port when the transport does not say
// which address it connected to (HTTP/3 transports do not).
type targetAddr string

func (a targetAddr) Network() string { return "grpcclient" }
func (a targetAddr) String() string  { return string(a) }

// transportError is the status of a failed exchange: the caller's
// context's when it ended, otherwise what the transport reported.
func (s *clientStream) transportError(err error) error {
	if cerr := s.parent.Err(); cerr != nil {
		return status.FromContextError(cerr).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(resetCode(err), "grpcclient: "+err.Error())
}

// Context returns the call's context, cancelled when the call ends.
func (s *clientStream) Context() context.Context { return s.ctx }

// Header waits for the response's headers and returns their metadata.
func (s *clientStream) Header() (metadata.MD, error) {
	<-s.headerSet
	if s.header == nil {
		s.recvMu.Lock()
		defer s.recvMu.Unlock()
		if s.final != nil && s.final != io.EOF {
			return nil, s.final
		}
	}
	return s.header, nil
}

// Trailer returns the trailers' metadata once RecvMsg has returned an
// error (io.EOF included).
func (s *clientStream) Trailer() metadata.MD {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	return s.trailer
}

// CloseSend ends the request's body.
func (s *clientStream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.sendClosed {
		return nil
	}
	s.sendClosed = true
	return s.pw.Close()
}

// SendMsg sends m. When the call has ended it returns io.EOF; RecvMsg
// then returns the call's status.
func (s *clientStream) SendMsg(m any) error {
	frame, err := s.ci.encode(m)
	if err != nil {
		return err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.sendClosed {
		return status.Error(codes.Internal, "grpcclient: SendMsg called after CloseSend")
	}
	if _, err := s.pw.Write(frame); err != nil {
		return io.EOF
	}
	if !s.desc.ClientStreams {
		s.sendClosed = true
		s.pw.Close()
	}
	return nil
}

// encode marshals m as one length-prefixed message, compressed with the
// call's compressor.
func (ci *callInfo) encode(m any) ([]byte, error) {
	data, err := ci.codec.Marshal(m)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpcclient: error while marshaling: %v", err)
	}
	defer data.Free()
	flag := byte(0)
	size := data.Len()
	var frame []byte
	if comp := ci.compressor; comp != "" && comp != "identity" {
		flag = 1
		var buf bytesWriter
		buf.b = make([]byte, 5, 5+size/2)
		w, err := encoding.GetCompressor(comp).Compress(&buf)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "grpcclient: compressing with %s: %v", comp, err)
		}
		for _, b := range data {
			if _, err := w.Write(b.ReadOnlyData()); err != nil {
				return nil, status.Errorf(codes.Internal, "grpcclient: compressing with %s: %v", comp, err)
			}
		}
		if err := w.Close(); err != nil {
			return nil, status.Errorf(codes.Internal, "grpcclient: compressing with %s: %v", comp, err)
		}
		frame = buf.b
	} else {
		frame = make([]byte, 5, 5+size)
		for _, b := range data {
			frame = append(frame, b.ReadOnlyData()...)
		}
	}
	n := len(frame) - 5
	if size > ci.maxSend || n > ci.maxSend {
		return nil, status.Errorf(codes.ResourceExhausted, "grpcclient: trying to send message larger than max (%d vs. %d)", max(size, n), ci.maxSend)
	}
	if uint64(n) > 1<<32-1 {
		return nil, status.Errorf(codes.ResourceExhausted, "grpcclient: message of %d bytes is too large for gRPC's length prefix", n)
	}
	frame[0] = flag
	frame[1], frame[2], frame[3], frame[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return frame, nil
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// RecvMsg receives the next message into m. At the end of a call that
// succeeded it returns io.EOF; otherwise the call's status error. A call
// whose server sends one message (unary and client-streaming) reads to
// the end of the response, so the status is known when RecvMsg returns.
func (s *clientStream) RecvMsg(m any) error {
	<-s.headerSet
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if s.done {
		return s.final
	}
	data, err := s.readMessage()
	if err == io.EOF {
		md, final := s.trailerStatus()
		if final == io.EOF && !s.desc.ServerStreams && s.received == 0 {
			final = status.Error(codes.Internal, "grpcclient: cardinality violation: received no response message from non-streaming RPC")
		}
		s.endLocked(final, md)
		return s.final
	}
	if err != nil {
		s.endLocked(err, nil)
		return err
	}
	s.received++
	if err := s.ci.codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, m); err != nil {
		err = status.Errorf(codes.Internal, "grpcclient: failed to unmarshal the received message: %v", err)
		s.endLocked(err, nil)
		return err
	}
	if s.desc.ServerStreams {
		return nil
	}
	// One message: the response must end here, with the status.
	if _, err := s.readMessage(); err != io.EOF {
		if err == nil {
			err = status.Error(codes.Internal, "grpcclient: cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message")
		}
		s.endLocked(err, nil)
		return err
	}
	md, final := s.trailerStatus()
	s.endLocked(final, md)
	if s.final != io.EOF {
		return s.final
	}
	return nil
}

// trailerStatus is the status and metadata in the trailers of a response
// whose body ended.
func (s *clientStream) trailerStatus() (metadata.MD, error) {
	md, err := metadataFrom(s.resp.Trailer)
	if err != nil {
		return nil, err
	}
	if s.resp.Trailer.Get("Grpc-Status") == "" {
		if cerr := s.parent.Err(); cerr != nil {
			return md, status.FromContextError(cerr).Err()
		}
		return md, status.Error(codes.Internal, "grpcclient: server closed the stream without sending trailers")
	}
	return md, statusFrom(s.resp.Trailer)
}

// readMessage reads one length-prefixed message, decompressed; io.EOF
// means the body ended cleanly between messages.
func (s *clientStream) readMessage() ([]byte, error) {
	if s.hdr == nil {
		s.hdr = make([]byte, 5)
	}
	if _, err := io.ReadFull(s.resp.Body, s.hdr); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return nil, status.Error(codes.Internal, "grpcclient: the response ended inside a message's prefix")
		}
		return nil, s.transportError(err)
	}
	flag := s.hdr[0]
	n := uint64(s.hdr[1])<<24 | uint64(s.hdr[2])<<16 | uint64(s.hdr[3])<<8 | uint64(s.hdr[4])
	if n > uint64(s.ci.maxRecv) {
		return nil, status.Errorf(codes.ResourceExhausted, "grpcclient: received message larger than max (%d vs. %d)", n, s.ci.maxRecv)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(s.resp.Body, data); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, status.Errorf(codes.Internal, "grpcclient: the response ended inside a message of %d bytes", n)
		}
		return nil, s.transportError(err)
	}
	switch flag {
	case 0:
		return data, nil
	case 1:
	default:
		return nil, status.Errorf(codes.Internal, "grpcclient: received unexpected payload format %d", flag)
	}
	if s.recvComp == "" || s.recvComp == "identity" {
		return nil, status.Error(codes.Internal, "grpcclient: compressed flag set with identity or empty encoding")
	}
	comp := encoding.GetCompressor(s.recvComp)
	if comp == nil {
		return nil, status.Errorf(codes.Unimplemented, "grpcclient: Decompressor is not installed for grpc-encoding %q", s.recvComp)
	}
	r, err := comp.Decompress(bytes.NewReader(data))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpcclient: failed to decompress the received message: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(s.ci.maxRecv)+1))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpcclient: failed to decompress the received message: %v", err)
	}
	if len(out) > s.ci.maxRecv {
		return nil, status.Errorf(codes.ResourceExhausted, "grpcclient: received message after decompression larger than max (%d vs. %d)", len(out), s.ci.maxRecv)
	}
	return out, nil
}
