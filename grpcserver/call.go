package grpcserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// call is one RPC in progress: the grpc.ServerStream its handler drives.
type call struct {
	s  *Server
	t  transport
	m  *method
	ts transportStream // the grpc.ServerTransportStream view

	ctx  context.Context
	cctx callContext // the cancellable layer of ctx
	path string

	codec    codec
	ctype    string // the response's Content-Type
	web      bool   // gRPC-Web: trailers in the body
	text     bool   // gRPC-Web text: bodies in base64
	recvComp encoding.Compressor
	recvName string
	sendComp encoding.Compressor
	sendName string

	body      bodyReader // the request body, read ahead
	recvEOF   bool
	recvFirst bool // RecvMsg was called
	answered  bool // setUp answered the request

	// wmu guards writing and halted: a message being written, and
	// whether the call's deadline or Stop has ended it (so that a write
	// waiting for the client is abandoned).
	wmu     sync.Mutex
	writing bool
	halted  bool

	mu         sync.Mutex // guards the response metadata and headerSent
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
	// failed is the status of the call's first failed RecvMsg or SendMsg
	// (a message over a limit, one that does not decode, the client gone):
	// as grpc-go's server writes it at once, it is the call's status
	// whatever the handler returns, and the metadata the handler sets
	// after it is not sent. An atomic, so that RecvMsg, which looks at it
	// for every message, takes no lock.
	failed atomic.Pointer[status.Status]

	// reading: a RecvMsg is under way, which a failure in another
	// goroutine (halt) wakes if it waits for the client.
	reading atomic.Bool

	// stopped: Stop ended the call, whose client then gets UNAVAILABLE
	// whatever its handler returns, as grpc-go's Stop, which closes the
	// connections, gives.
	stopped atomic.Bool

	begin   time.Time
	statsHs []stats.Handler
	inMD    metadata.MD
}

// serve answers one request.
func (s *Server) serve(t transport) {
	c := &call{s: s, t: t}
	c.ts.c = c
	defer t.finish()
	if st, httpStatus := c.setUp(); st != nil {
		c.earlyAbort(st, httpStatus)
		return
	}
	if c.answered {
		return
	}
	if !s.begin(c) {
		// As grpc-go's server, stopped, sends its connections a GOAWAY,
		// and the calls that cross it are retried by the client: the
		// call is refused unprocessed, or fails with UNAVAILABLE.
		c.cancel()
		if !t.refuse() {
			c.writeStatus(errStopped)
		}
		return
	}
	defer s.end(c)
	defer c.cancel()
	st := c.run()
	failed := c.failed.Load()
	switch {
	case c.stopped.Load():
		st = errStopped
	case failed != nil:
		st = failed
	case st.Code() == codes.OK && c.cctx.Err() == context.DeadlineExceeded:
		// Too late: grpc-go's server has reset the stream at the deadline.
		st = statusDeadline
	}
	c.body.release()
	c.writeStatus(st)
	c.finishStats(st)
	if s.metrics != nil {
		s.metrics.record(c, st)
	}
}

// setUp reads the request's head. A request that is not a well-formed
// gRPC call gets a status and an HTTP status, as grpc-go's server gives
// them; an unknown method gets a status and 200.
func (c *call) setUp() (*status.Status, int) {
	t := c.t
	ct := t.header("content-type")
	sub, web, text, ok := parseContentType(ct)
	if !ok {
		c.ctype = "application/grpc"
		return status.Newf(codes.InvalidArgument, "invalid gRPC request content-type %q", string(ct)), http.StatusUnsupportedMediaType
	}
	c.web, c.text = web, text
	c.ctype = responseContentType(ct, sub, web)
	if !web && t.protoMajor() < 2 {
		return status.New(codes.Internal, "gRPC requires HTTP/2"), http.StatusHTTPVersionNotSupported
	}
	// grpc-go's order: malformed headers, the authority, the method, an
	// expired deadline; then the method's lookup.
	var timeout time.Duration
	hasTimeout := false
	if v := t.header("grpc-timeout"); v != nil {
		d, err := decodeTimeout(string(v))
		if err != nil {
			return status.Newf(codes.Internal, "malformed grpc-timeout: %v", err), http.StatusBadRequest
		}
		timeout, hasTimeout = d, true
	}
	md, st := c.readMetadata()
	if st != nil {
		return st, http.StatusBadRequest
	}
	if len(t.authority()) == 0 {
		return status.New(codes.Internal, "no host or :authority header present"), http.StatusBadRequest
	}
	if m := t.method(); string(m) != http.MethodPost {
		return status.Newf(codes.Internal, "Received a HEADERS frame with :method %q which should be POST", m), http.StatusMethodNotAllowed
	}
	c.inMD = md
	c.codec = codecFor(sub)

	c.cctx.init(t.context(), timeout, hasTimeout, c)
	if c.cctx.Err() == context.DeadlineExceeded {
		return statusDeadline, http.StatusOK
	}
	ctx := metadata.NewIncomingContext(&c.cctx, md)
	p := &peer.Peer{Addr: t.remoteAddr(), LocalAddr: t.localAddr()}
	if cs := t.tls(); cs != nil {
		p.AuthInfo = credentials.TLSInfo{State: *cs, CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	}
	ctx = peer.NewContext(ctx, p)
	path := t.path()
	m, missing := c.s.lookup(path)
	if m != nil {
		c.path = m.path
	} else {
		c.path = string(path)
	}
	c.m = m
	ctx = grpc.NewContextWithServerTransportStream(ctx, &c.ts)
	c.begin = now()
	if hs := c.s.statsHandlers; len(hs) > 0 {
		c.statsHs = hs
		for _, h := range hs {
			ctx = h.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: c.path})
		}
	}
	c.ctx = ctx
	if missing != nil {
		c.writeStatus(missing)
		c.cancel()
		c.answered = true
		return nil, 0
	}

	if v := t.header("grpc-encoding"); len(v) > 0 && string(v) != "identity" {
		c.recvName = string(v)
		c.recvComp = encoding.GetCompressor(c.recvName)
		if c.recvComp == nil {
			c.cancel()
			c.answered = true
			c.trailersOnly(status.Newf(codes.Unimplemented, "grpc: Decompressor is not installed for grpc-encoding %q", c.recvName), true)
			return nil, 0
		}
	}
	c.pickSendCompressor()
	t.relaxLimits(m.stream != nil && m.stream.ClientStreams)
	c.body.r = t.body()
	if c.text {
		c.body.r = newBase64Reader(c.body.r)
	}
	if len(c.statsHs) > 0 {
		in := &stats.InHeader{FullMethod: c.path, RemoteAddr: p.Addr, LocalAddr: p.LocalAddr, Compression: c.recvName, Header: md}
		begin := &stats.Begin{BeginTime: c.begin, IsClientStream: m.stream != nil && m.stream.ClientStreams, IsServerStream: m.stream != nil && m.stream.ServerStreams}
		for _, h := range c.statsHs {
			h.HandleRPC(ctx, in)
			h.HandleRPC(ctx, begin)
		}
	}
	return nil, 0
}

// pickSendCompressor chooses how responses are compressed: with the
// server's SendCompressor when the client accepts it, otherwise as the
// request was.
func (c *call) pickSendCompressor() {
	if name := c.s.sendCompressor; name != "" && name != "identity" {
		if c.clientAccepts(name) {
			if comp := encoding.GetCompressor(name); comp != nil {
				c.sendComp, c.sendName = comp, name
				return
			}
		}
	}
	if c.recvComp != nil {
		c.sendComp, c.sendName = c.recvComp, c.recvName
	}
}

// clientAccepts reports whether the request's grpc-accept-encoding
// fields, which make one list however many there are (as grpc-go's server
// joins them), name the compressor name.
func (c *call) clientAccepts(name string) bool {
	v := c.t.header("grpc-accept-encoding")
	if v == nil {
		return false
	}
	if accepts(v, name) {
		return true
	}
	a := acceptScan{name: name}
	c.t.visitHeaders(&a)
	return a.found
}

// acceptScan looks for a compressor in every grpc-accept-encoding field.
type acceptScan struct {
	name  string
	found bool
}

func (a *acceptScan) visit(n, v []byte) {
	if !a.found && string(n) == "grpc-accept-encoding" && accepts(v, a.name) {
		a.found = true
	}
}

// accepts reports whether a grpc-accept-encoding list names name.
func accepts(list []byte, name string) bool {
	for _, v := range strings.Split(string(list), ",") {
		if strings.TrimSpace(v) == name {
			return true
		}
	}
	return false
}

// readMetadata collects the request's metadata, as grpc-go's server
// does: reserved headers left out, binary values decoded. The values
// share one string and one slice, and the usual names are constants, so
// that it costs a few allocations whatever the number of fields.
func (c *call) readMetadata() (metadata.MD, *status.Status) {
	sc := scratchPool.Get().(*mdScratch)
	defer func() {
		clear(sc.fields)
		sc.fields, sc.buf, sc.bad = sc.fields[:0], sc.buf[:0], nil
		if cap(sc.buf) <= 64<<10 && cap(sc.fields) <= 1024 {
			scratchPool.Put(sc)
		}
	}()
	c.t.visitHeaders(sc)
	if sc.bad != nil {
		return nil, sc.bad
	}
	a := c.t.authority()
	start := len(sc.buf)
	sc.buf = append(sc.buf, a...)
	if len(a) > 0 {
		sc.fields = append(sc.fields, mdField{":authority", start, len(sc.buf)})
	}
	all := string(sc.buf)
	vals := make([]string, len(sc.fields))
	md := make(metadata.MD, len(sc.fields))
	for i, f := range sc.fields {
		vals[i] = all[f.start:f.end]
		if vs, ok := md[f.name]; ok {
			md[f.name] = append(vs, vals[i])
		} else {
			md[f.name] = vals[i : i+1 : i+1]
		}
	}
	return md, nil
}

// visit takes one request header into the metadata being read.
func (sc *mdScratch) visit(name, value []byte) {
	if sc.bad != nil || len(name) == 0 {
		return
	}
	var n string
	switch string(name) {
	case "content-type":
		n = "content-type"
	case "user-agent":
		n = "user-agent"
	case "grpc-accept-encoding":
		n = "grpc-accept-encoding"
	case "host", "connection", "transfer-encoding":
		return
	default:
		if isReserved(string(name)) {
			return
		}
		n = string(name)
	}
	start := len(sc.buf)
	if strings.HasSuffix(n, "-bin") {
		b, err := decodeBinary(string(value))
		if err != nil {
			sc.bad = status.Newf(codes.Internal, "malformed binary metadata %q in header %q: %v", string(value), n, err)
			return
		}
		sc.buf = append(sc.buf, b...)
	} else {
		sc.buf = append(sc.buf, value...)
	}
	sc.fields = append(sc.fields, mdField{n, start, len(sc.buf)})
}

// mdScratch is readMetadata's working space, pooled.
type mdScratch struct {
	fields []mdField
	buf    []byte
	bad    *status.Status
}

type mdField struct {
	name       string
	start, end int
}

var scratchPool = sync.Pool{New: func() any {
	return &mdScratch{fields: make([]mdField, 0, 16), buf: make([]byte, 0, 512)}
}}

// isReserved reports the headers grpc-go keeps out of metadata (and
// out of the metadata it sends).
func isReserved(n string) bool {
	if n != "" && n[0] == ':' {
		return true
	}
	switch n {
	case "content-type", "user-agent", "grpc-message-type", "grpc-encoding", "grpc-message",
		"grpc-status", "grpc-timeout", "te":
		return true
	}
	return false
}

// decodeBinary decodes a -bin metadata value: base64, padded or not.
func decodeBinary(v string) ([]byte, error) {
	if len(v)%4 == 0 {
		return base64.StdEncoding.DecodeString(v)
	}
	return base64.RawStdEncoding.DecodeString(v)
}

// cancel ends the call's context.
func (c *call) cancel() { c.cctx.cancel(context.Canceled) }

// expire makes the call's reads and writes that wait for the client fail,
// now and from now on: its deadline passed, or Stop ended it. It is
// called from another goroutine while the handler runs.
func (c *call) expire() {
	c.t.expire()
	c.wmu.Lock()
	c.halted = true
	if c.writing {
		c.t.abandonWrite()
	}
	c.wmu.Unlock()
}

// halt is what a failed RecvMsg or SendMsg (fail) does to the call's other
// goroutine, as grpc-go's server, which writes the status and cancels
// the stream, wakes it: a SendMsg waiting for the client's flow-control
// window fails now, resetting the stream (the message it was writing is
// partly sent, and the status could follow only the rest of it, which the
// client's window lets out no sooner than the write itself), and one that
// would start later is not made; a RecvMsg waiting for the client fails
// now with the context's status. The read of the RecvMsg that failed, or
// of one in the goroutine that calls halt, has ended by then, and its
// request body is left as it is.
func (c *call) halt() {
	c.wmu.Lock()
	c.halted = true
	if c.writing {
		c.t.abandonWrite()
	}
	c.wmu.Unlock()
	if c.reading.Load() {
		c.t.expire()
	}
}

// startWrite records that a message is being written, unless the call
// has been halted; endWrite, that it has been.
func (c *call) startWrite() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.halted {
		return false
	}
	c.writing = true
	return true
}

func (c *call) endWrite() {
	c.wmu.Lock()
	c.writing = false
	c.wmu.Unlock()
}

// run calls the method's handler and returns the call's status.
func (c *call) run() (st *status.Status) {
	defer func() {
		if v := recover(); v != nil {
			c.s.logger.Error("grpcserver: panic in handler", "method", c.path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			st = status.Newf(codes.Internal, "grpc: panic in handler: %v", v)
		}
	}()
	m := c.m
	var err error
	if m.unary != nil {
		var reply any
		reply, err = m.unary.Handler(m.impl, c.ctx, c.recvUnary, c.s.unaryInt)
		if err == nil {
			// A reply that cannot be sent once the call has ended leaves
			// its status that end's (see fail).
			err = c.fail(c.send(reply, true))
		}
	} else if c.s.streamInt != nil {
		info := &grpc.StreamServerInfo{FullMethod: c.path, IsClientStream: m.stream.ClientStreams, IsServerStream: m.stream.ServerStreams}
		err = c.s.streamInt(m.impl, c, info, m.stream.Handler)
	} else {
		err = m.stream.Handler(m.impl, c)
	}
	if err == nil {
		return statusOK
	}
	if s, ok := status.FromError(err); ok {
		return s
	}
	return status.FromContextError(err)
}

var (
	statusOK       = status.New(codes.OK, "")
	statusDeadline = status.New(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
)

// recvUnary decodes a unary call's request message.
func (c *call) recvUnary(v any) error { return c.RecvMsg(v) }

// earlyAbort answers a request that is not a gRPC call it can serve.
func (c *call) earlyAbort(st *status.Status, httpStatus int) {
	c.cancel()
	c.t.setStatus(httpStatus)
	c.trailersOnly(st, false)
}

// trailersOnly answers with a head that carries the status.
func (c *call) trailersOnly(st *status.Status, acceptEncoding bool) {
	t := c.t
	c.headerSent = true
	t.addHeader("content-type", c.ctype)
	if acceptEncoding {
		t.addHeader("grpc-accept-encoding", registeredCompressors())
	}
	c.statusFields(st, t.addHeader)
}

// statusFields calls add with the fields that carry a status.
func (c *call) statusFields(st *status.Status, add func(name, value string)) {
	add("grpc-status", codeString(st.Code()))
	if msg := st.Message(); msg != "" {
		add("grpc-message", encodeGrpcMessage(msg))
	}
	if p := st.Proto(); len(p.GetDetails()) > 0 {
		if b, err := proto.Marshal(p); err == nil {
			add("grpc-status-details-bin", base64.RawStdEncoding.EncodeToString(b))
		}
	}
}

func codeString(c codes.Code) string {
	if c == codes.OK {
		return "0"
	}
	return strconv.Itoa(int(c))
}

// writeStatus ends the response with the call's status and trailer
// metadata: in trailers, or in the head when nothing was sent.
func (c *call) writeStatus(st *status.Status) {
	if st == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(st.Proto().GetDetails()) > 0 {
		// The status's details win over the handler's own trailer, as
		// grpc-go has it.
		delete(c.trailer, "grpc-status-details-bin")
	}
	if !c.headerSent {
		if c.header.Len() == 0 {
			c.trailersOnly(st, false)
			appendMD(c.trailer, c.t.addHeader)
			c.headerSent = true
			return
		}
		// Header metadata the handler set goes out in a head of its own
		// before the status, as grpc-go sends it.
		c.sendHeaderLocked()
	}
	if c.web {
		c.writeWebTrailers(st)
		return
	}
	c.statusFields(st, c.t.addTrailer)
	appendMD(c.trailer, c.t.addTrailer)
}

// appendMD calls add with each metadata field, as grpc-go sends them:
// reserved keys left out, binary values in base64.
func appendMD(md metadata.MD, add func(name, value string)) {
	for k, vs := range md {
		k = strings.ToLower(k)
		if isReserved(k) || k == "connection" {
			continue
		}
		bin := strings.HasSuffix(k, "-bin")
		for _, v := range vs {
			if bin {
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			add(k, v)
		}
	}
}

// sendHeaderLocked writes the response head; c.mu is held.
func (c *call) sendHeaderLocked() {
	if c.headerSent {
		return
	}
	c.headerSent = true
	t := c.t
	t.addHeader("content-type", c.ctype)
	if c.sendComp != nil {
		t.addHeader("grpc-encoding", c.sendName)
	}
	appendMD(c.header, t.addHeader)
	// As OutTrailer (finishStats), OutHeader is reported only when the
	// head can go out: not once the client has reset the stream.
	if len(c.statsHs) > 0 && t.context().Err() == nil {
		out := &stats.OutHeader{Header: c.header.Copy(), Compression: c.sendName, FullMethod: c.path}
		for _, h := range c.statsHs {
			h.HandleRPC(c.ctx, out)
		}
	}
}

// finishStats reports the call's trailer and end to the stats handlers.
// OutTrailer is reported only when the status could go out: not when
// the client reset the stream or went away (the request's context
// ended), as grpc-go's server, whose status write then fails, reports
// no OutTrailer. End's Error is st, the status the call ended with: after
// a failed RecvMsg or SendMsg (fail), that failure's, where grpc-go's
// server reports what the handler returned, so that a handler that
// ignores the failure and returns nil is not reported OK for a call whose
// client got the failure.
func (c *call) finishStats(st *status.Status) {
	if len(c.statsHs) == 0 || c.ctx == nil {
		return
	}
	var err error
	if st != nil && st.Code() != codes.OK {
		err = st.Err()
	}
	var tr *stats.OutTrailer
	if c.t.context().Err() == nil {
		tr = &stats.OutTrailer{Trailer: c.trailer.Copy()}
	}
	end := &stats.End{BeginTime: c.begin, EndTime: now(), Trailer: c.trailer.Copy(), Error: err}
	for _, h := range c.statsHs {
		if tr != nil {
			h.HandleRPC(c.ctx, tr)
		}
		h.HandleRPC(c.ctx, end)
	}
}

// errHeaderSent is what setting headers after they went out fails with.
var errHeaderSent = errors.New("grpcserver: the response headers were already sent")

// Context is the call's context.
func (c *call) Context() context.Context { return c.ctx }

// SetHeader adds metadata sent in the response head.
func (c *call) SetHeader(md metadata.MD) error {
	if md.Len() == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.headerSent:
		return errHeaderSent
	case c.endedLocked():
		return errCallEnded
	}
	c.header = metadata.Join(c.header, md)
	return nil
}

// errCallEnded is what setting metadata fails with once the call has
// ended for its client.
var errCallEnded = errors.New("grpcserver: the call has ended: its status was sent or its client reset the stream")

// endedLocked reports whether the call has ended for its client, so that
// metadata set now is not sent: a RecvMsg or SendMsg failed (fail), or
// the client reset the stream or went away. c.mu is held.
func (c *call) endedLocked() bool {
	return c.failed.Load() != nil || c.t.context().Err() != nil
}

// SendHeader sends the response head with md added.
func (c *call) SendHeader(md metadata.MD) error {
	c.mu.Lock()
	if c.headerSent || c.endedLocked() {
		err := errHeaderSent
		if !c.headerSent {
			err = errCallEnded
		}
		c.mu.Unlock()
		return err
	}
	c.header = metadata.Join(c.header, md)
	c.sendHeaderLocked()
	c.mu.Unlock()
	return c.t.flush()
}

// SetTrailer adds metadata sent with the status.
func (c *call) SetTrailer(md metadata.MD) { c.setTrailer(md) }

// setTrailer is SetTrailer, failing once the call has ended for its
// client, as grpc.SetTrailer does on grpc-go's server.
func (c *call) setTrailer(md metadata.MD) error {
	if md.Len() == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endedLocked() {
		return errCallEnded
	}
	c.trailer = metadata.Join(c.trailer, md)
	return nil
}

// SendMsg sends a response message. A failure ends the call (see fail).
func (c *call) SendMsg(m any) error { return c.fail(c.send(m, false)) }

// fail ends the call when one of its messages could not be received or
// sent (err, neither nil nor io.EOF), as grpc-go's server does: the
// call's status is err's, whatever the handler returns after, and its
// context is cancelled, so that its later reads and writes fail. A
// handler that ignores the error (a message over MaxRecvMsgSize it did
// not get, one over MaxSendMsgSize it did not send) does not end the
// call with OK. It returns err.
func (c *call) fail(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	st := status.Convert(err)
	if cerr := c.cctx.Err(); cerr != nil {
		// The call had ended already (its deadline, its client, an
		// earlier failure): its status stays that end's, as grpc-go's
		// server, which has reset the stream or sent the status by then,
		// sends no other.
		st = status.FromContextError(cerr)
	}
	c.failed.CompareAndSwap(nil, st)
	c.cancel()
	c.halt()
	return err
}

// transportStream is the call as grpc.ServerTransportStream, which
// grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer find in the
// handler's context.
type transportStream struct{ c *call }

func (ts *transportStream) Method() string                  { return ts.c.path }
func (ts *transportStream) SetHeader(md metadata.MD) error  { return ts.c.SetHeader(md) }
func (ts *transportStream) SendHeader(md metadata.MD) error { return ts.c.SendHeader(md) }
func (ts *transportStream) SetTrailer(md metadata.MD) error { return ts.c.setTrailer(md) }
