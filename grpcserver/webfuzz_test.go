package grpcserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/improbable-eng/grpc-web/go/grpcweb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the grpc-encoding the calls use
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// wfCase is one generated gRPC-Web call: what the client sends and what
// the handler does.
type wfCase struct {
	id       int
	stream   bool     // server streaming, else unary
	ctype    string   // the request's Content-Type
	reqSize  int      // the request message's size
	reqMD    []string // request metadata, name and value pairs (-bin values in base64)
	gzip     bool     // the request message compressed, grpc-encoding gzip
	timeout  string   // grpc-timeout, with a handler that waits for the deadline
	cancel   bool     // the client cancels after the first message of an endless stream
	hdr, trl metadata.MD
	sizes    []int          // the response messages' sizes
	err      *status.Status // the handler's error
}

func (c *wfCase) String() string {
	e := "nil"
	if c.err != nil {
		e = fmt.Sprintf("%v %q details=%d", c.err.Code(), c.err.Message(), len(c.err.Details()))
	}
	return fmt.Sprintf("case %d: stream=%v ctype=%q req=%d md=%q gzip=%v timeout=%q cancel=%v hdr=%v trl=%v sizes=%v err=%s",
		c.id, c.stream, c.ctype, c.reqSize, c.reqMD, c.gzip, c.timeout, c.cancel, c.hdr, c.trl, c.sizes, e)
}

const wfLimit = 4 << 20 // grpc-go's default MaxRecvMsgSize, and the Server's

// wfSize is a message size: empty, one byte, around a 16 KiB HTTP/2
// frame, or (rarely) at the receive limit.
func wfSize(r *rand.Rand, big bool) int {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return 1
	case 2, 3:
		return 16384 - 10 + r.IntN(20)
	case 4:
		if big {
			return wfLimit - 10 - r.IntN(4) // the message and its protobuf tag within the limit
		}
	}
	return r.IntN(300)
}

// wfValue is a metadata value: ASCII, with spaces, or empty.
func wfValue(r *rand.Rand) string {
	return []string{"v", "a b", "", "x=1;y", "%41", strings.Repeat("z", 100)}[r.IntN(6)]
}

func wfGenerate(r *rand.Rand, id int) *wfCase {
	c := &wfCase{id: id, stream: r.IntN(2) == 0}
	c.ctype = []string{"application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text", "application/grpc-web-text+proto"}[r.IntN(4)]
	if r.IntN(8) == 0 { // a variant: parameters, another codec, an unknown suffix
		c.ctype = []string{"application/grpc-web; charset=utf-8", "application/grpc-web-text+proto; q=1", "application/grpc-web+json", "application/grpc-web-text+thrift", "application/grpc-webx", "application/grpc-web-textual"}[r.IntN(6)]
	}
	c.reqSize = wfSize(r, r.IntN(6) == 0)
	if r.IntN(16) == 0 {
		c.reqSize = wfLimit + r.IntN(8) // over the receive limit, with its protobuf tag
	}
	for i := range r.IntN(3) {
		if r.IntN(2) == 0 {
			b := make([]byte, r.IntN(6))
			for j := range b {
				b[j] = byte(r.IntN(256))
			}
			enc := base64.StdEncoding
			if r.IntN(2) == 0 {
				enc = base64.RawStdEncoding
			}
			c.reqMD = append(c.reqMD, fmt.Sprintf("x-r%d-bin", i), enc.EncodeToString(b))
		} else {
			c.reqMD = append(c.reqMD, fmt.Sprintf("x-r%d", i), wfValue(r))
		}
	}
	c.gzip = r.IntN(4) == 0
	if r.IntN(3) == 0 {
		c.hdr = metadata.Pairs("x-h", wfValue(r))
		if r.IntN(2) == 0 {
			c.hdr.Append("x-h-bin", string([]byte{0, 0xff, byte(r.IntN(256))}))
		}
	}
	if r.IntN(2) == 0 {
		c.trl = metadata.Pairs("x-t", wfValue(r))
		if r.IntN(2) == 0 {
			c.trl.Append("x-t-bin", string([]byte{1, byte(r.IntN(256))}))
		}
	}
	switch {
	case c.stream:
		n := []int{0, 1, 2, 3, 20}[r.IntN(5)]
		for range n {
			c.sizes = append(c.sizes, wfSize(r, n < 3 && r.IntN(8) == 0))
		}
	case r.IntN(3) > 0:
		c.sizes = []int{wfSize(r, r.IntN(8) == 0)}
	}
	if len(c.sizes) == 0 && !c.stream || r.IntN(4) == 0 {
		msg := []string{"", "plain", "100% sure", "é\r\nx", "tab\tand\x7f"}[r.IntN(5)]
		code := []codes.Code{codes.Unknown, codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.Internal}[r.IntN(5)]
		c.err = status.New(code, msg)
		if r.IntN(2) == 0 {
			c.err, _ = c.err.WithDetails(&errdetails.ErrorInfo{Reason: "r", Domain: "d", Metadata: map[string]string{"k": "v"}})
		}
		if !c.stream {
			c.sizes = nil
		}
	}
	if c.stream && r.IntN(10) == 0 {
		c.cancel, c.timeout, c.err, c.sizes = true, "", nil, nil
		c.reqSize = min(c.reqSize, 300) // the handler gets to its stream
		c.ctype = []string{"application/grpc-web", "application/grpc-web-text"}[r.IntN(2)]
		return c
	}
	if r.IntN(12) == 0 {
		// The request is small and the handler sends small messages, then
		// waits for the deadline: long enough that the messages are in and
		// out before it on a loaded machine.
		c.timeout = "250m"
		c.err = nil
		c.reqSize = min(c.reqSize, 300)
		for i := range c.sizes {
			c.sizes[i] = min(c.sizes[i], 300)
		}
	}
	return c
}

// wfSvc serves the generated cases on both servers; the client names the
// case in x-case.
type wfSvc struct {
	mu    sync.Mutex
	cases map[int]*wfCase
	ended map[string]chan error // by x-target and x-case: how a cancelled stream's handler ended
}

// endedChan is the channel a cancelled stream's handler reports its end on.
func (s *wfSvc) endedChan(key string) chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.ended[key]
	if ch == nil {
		ch = make(chan error, 1)
		s.ended[key] = ch
	}
	return ch
}

func (s *wfSvc) lookup(ctx context.Context) *wfCase {
	md, _ := metadata.FromIncomingContext(ctx)
	id, _ := strconv.Atoi(strings.Join(md.Get("x-case"), ""))
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cases[id]
}

// trailer is the case's trailer metadata and an echo of the request's.
func (s *wfSvc) trailer(ctx context.Context, c *wfCase) metadata.MD {
	md, _ := metadata.FromIncomingContext(ctx)
	t := c.trl.Copy()
	if t == nil {
		t = metadata.MD{}
	}
	for k, vs := range md {
		if strings.HasPrefix(k, "x-r") {
			t["x-echo-"+k] = vs
		}
	}
	return t
}

func (s *wfSvc) desc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "grpcserver.WebFuzz",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in wrapperspb.BytesValue
			if err := dec(&in); err != nil {
				return nil, err
			}
			c := s.lookup(ctx)
			if c == nil {
				return nil, status.Error(codes.NotFound, "no case")
			}
			if c.hdr != nil {
				grpc.SetHeader(ctx, c.hdr)
			}
			grpc.SetTrailer(ctx, s.trailer(ctx, c))
			if c.timeout != "" {
				<-ctx.Done()
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			if c.err != nil {
				return nil, c.err.Err()
			}
			return &wrapperspb.BytesValue{Value: bytes.Repeat([]byte{'u'}, c.sizes[0])}, nil
		}}},
		Streams: []grpc.StreamDesc{{StreamName: "Stream", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
			var in wrapperspb.BytesValue
			if err := ss.RecvMsg(&in); err != nil {
				return err
			}
			ctx := ss.Context()
			c := s.lookup(ctx)
			if c == nil {
				return status.Error(codes.NotFound, "no case")
			}
			if c.hdr != nil {
				ss.SetHeader(c.hdr)
			}
			ss.SetTrailer(s.trailer(ctx, c))
			if c.cancel {
				md, _ := metadata.FromIncomingContext(ctx)
				ch := s.endedChan(strings.Join(md.Get("x-target"), "") + "/" + strconv.Itoa(c.id))
				for {
					if err := ss.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, 16384)}); err != nil {
						ch <- err
						return err
					}
				}
			}
			for i, n := range c.sizes {
				if err := ss.SendMsg(&wrapperspb.BytesValue{Value: bytes.Repeat([]byte{byte('a' + i%26)}, n)}); err != nil {
					return err
				}
			}
			if c.timeout != "" {
				<-ctx.Done()
				return status.FromContextError(ctx.Err()).Err()
			}
			if c.err != nil {
				return c.err.Err()
			}
			return nil
		}}},
	}
}

// wfObs is what a raw gRPC-Web client saw.
type wfObs struct {
	httpStatus   int
	ctype        string
	header       []string // x- and grpc- fields of the head, lower-case, sorted
	trailersOnly bool     // grpc-status in the head
	msgs         []string // each message: flag, length, and a digest of the decoded payload
	trailer      []string // the trailer frame's lines, sorted
	problems     []string // violations of the trailer frame's syntax
	err          string
}

func (o *wfObs) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  http %d ctype %q trailersOnly=%v err=%q\n  header %q\n  trailer %q\n  problems %q\n  %d msgs", o.httpStatus, o.ctype, o.trailersOnly, o.err, o.header, o.trailer, o.problems, len(o.msgs))
	for i, m := range o.msgs {
		if i < 4 || i == len(o.msgs)-1 {
			fmt.Fprintf(&b, " [%d]%s", i, m)
		}
	}
	return b.String()
}

// wfTarget is a server and a client to reach it.
type wfTarget struct {
	name  string
	base  string
	c     *http.Client
	proto int
}

// wfBody is the request body: one message, framed, gzip-compressed when
// the case says; in base64 for the text variants, as several padded
// chunks at odd boundaries when chunked.
func wfBody(r *rand.Rand, c *wfCase, chunked bool) []byte {
	msg, _ := proto.Marshal(&wrapperspb.BytesValue{Value: bytes.Repeat([]byte{'q'}, c.reqSize)})
	flag := byte(0)
	if c.gzip {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(msg)
		zw.Close()
		msg, flag = z.Bytes(), 1
	}
	body := frame(flag, msg)
	if !strings.Contains(c.ctype, "-text") {
		return body
	}
	if !chunked {
		return []byte(base64.StdEncoding.EncodeToString(body))
	}
	var out []byte
	for len(body) > 0 {
		n := min(len(body), 1+2*r.IntN(8)) // an odd length: every chunk but the last (maybe) ends in padding
		out = base64.StdEncoding.AppendEncode(out, body[:n])
		body = body[n:]
	}
	return out
}

// wfWrites is a request body that arrives in several writes of odd sizes.
type wfWrites struct {
	b []byte
	r *rand.Rand
}

func (w *wfWrites) Read(p []byte) (int, error) {
	if len(w.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(w.b), 1+2*w.r.IntN(600))
	copy(p, w.b[:n])
	w.b = w.b[n:]
	return n, nil
}

// wfCall makes the call and reads the response incrementally: the text
// variant's base64 is decoded a quantum at a time as it arrives.
func wfCall(ctx context.Context, tg wfTarget, c *wfCase, body []byte, seed uint64) *wfObs {
	o := &wfObs{}
	path := "/grpcserver.WebFuzz/Unary"
	if c.stream {
		path = "/grpcserver.WebFuzz/Stream"
	}
	var rd io.Reader = bytes.NewReader(body)
	if len(body) < 1<<20 {
		rd = &wfWrites{b: body, r: rand.New(rand.NewPCG(seed, uint64(c.id)))}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", tg.base+path, rd)
	req.Header.Set("X-Target", tg.name)
	req.Header.Set("Content-Type", c.ctype)
	req.Header.Set("X-Grpc-Web", "1")
	req.Header.Set("X-Case", strconv.Itoa(c.id))
	for i := 0; i < len(c.reqMD); i += 2 {
		req.Header.Add(c.reqMD[i], c.reqMD[i+1])
	}
	if c.gzip {
		req.Header.Set("Grpc-Encoding", "gzip")
		req.Header.Set("Grpc-Accept-Encoding", "gzip")
	}
	if c.timeout != "" {
		req.Header.Set("Grpc-Timeout", c.timeout)
	}
	resp, err := tg.c.Do(req)
	if err != nil {
		o.err = err.Error()
		return o
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != tg.proto {
		o.problems = append(o.problems, fmt.Sprintf("answered over HTTP/%d", resp.ProtoMajor))
	}
	o.httpStatus = resp.StatusCode
	o.ctype = resp.Header.Get("Content-Type")
	for k, vs := range resp.Header {
		k = strings.ToLower(k)
		if k == "grpc-status" {
			o.trailersOnly = true
		}
		if strings.HasPrefix(k, "x-") || strings.HasPrefix(k, "grpc-") && k != "grpc-accept-encoding" {
			for _, v := range vs {
				o.header = append(o.header, k+": "+v)
			}
		}
	}
	slices.Sort(o.header)
	text := strings.Contains(c.ctype, "-text")
	var raw bytes.Buffer // decoded response bytes
	var pend []byte      // base64 not yet decoded
	buf := make([]byte, 1+int(seed%7)*997)
	for {
		if c.cancel && wfFirstFrame(raw.Bytes()) > 0 {
			cancel()
			o.err = "cancelled"
			break
		}
		n, rerr := resp.Body.Read(buf)
		if text {
			pend = append(pend, buf[:n]...)
			for len(pend) >= 4 {
				q, derr := base64.StdEncoding.DecodeString(string(pend[:4]))
				if derr != nil {
					o.err = "response base64: " + derr.Error()
					return o
				}
				raw.Write(q)
				pend = pend[4:]
			}
		} else {
			raw.Write(buf[:n])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			o.err = "body: " + rerr.Error()
			break
		}
	}
	if len(pend) != 0 && !c.cancel {
		o.problems = append(o.problems, fmt.Sprintf("%d base64 characters left over", len(pend)))
	}
	b := raw.Bytes()
	if n := wfFirstFrame(b); c.cancel && n > 0 {
		b = b[:n]
	}
	for len(b) > 0 {
		if len(b) < 5 {
			o.problems = append(o.problems, fmt.Sprintf("truncated frame prefix %q", b))
			break
		}
		n := int(binary.BigEndian.Uint32(b[1:5]))
		if len(b) < 5+n {
			o.problems = append(o.problems, fmt.Sprintf("truncated frame: %d of %d bytes", len(b)-5, n))
			break
		}
		p := b[5 : 5+n]
		if b[0]&0x80 != 0 {
			if o.trailer != nil {
				o.problems = append(o.problems, "a second trailer frame")
			}
			if len(b) != 5+n {
				o.problems = append(o.problems, "bytes after the trailer frame")
			}
			o.trailer = []string{}
			s := string(p)
			if s != "" && !strings.HasSuffix(s, "\r\n") {
				o.problems = append(o.problems, "trailer frame does not end in CRLF")
			}
			for line := range strings.SplitSeq(strings.TrimSuffix(s, "\r\n"), "\r\n") {
				if line == "" && s == "" {
					continue
				}
				name, _, ok := strings.Cut(line, ": ")
				if !ok || name != strings.ToLower(name) || strings.ContainsAny(line, "\r\n") {
					o.problems = append(o.problems, fmt.Sprintf("trailer line %q", line))
				}
				o.trailer = append(o.trailer, line)
			}
			slices.Sort(o.trailer)
		} else {
			if o.trailer != nil {
				o.problems = append(o.problems, "a message after the trailer frame")
			}
			if b[0] == 1 {
				zr, err := gzip.NewReader(bytes.NewReader(p))
				if err == nil {
					p, err = io.ReadAll(zr)
				}
				if err != nil {
					o.problems = append(o.problems, "gzip: "+err.Error())
				}
			}
			var m wrapperspb.BytesValue
			if err := proto.Unmarshal(p, &m); err != nil {
				o.problems = append(o.problems, "message: "+err.Error())
			}
			v := m.GetValue()
			d := ""
			if len(v) > 0 {
				d = string(v[:1]) + strconv.Itoa(bytes.Count(v, v[:1]))
			}
			o.msgs = append(o.msgs, fmt.Sprintf("flag%d:%d:%s", b[0], len(v), d))
		}
		b = b[5+n:]
	}
	return o
}

// wfNormalize turns what the model (grpc-go's ServeHTTP under
// improbable-eng's wrapper) saw into what this server should answer,
// where the two differ by design:
//   - an answer with no message but header metadata the handler set: the
//     wrapper sends one head with the header metadata, the status and the
//     trailer metadata (grpc-go's handler transport never wrote its head);
//     this server, as grpc-go's own server, sends the header metadata in a
//     head and the status in a trailer frame. A handler on ASP.NET Core
//     that sends its headers (WriteResponseHeadersAsync) starts the
//     response too; a client sees the same metadata either way;
//   - a trailers-only answer: the wrapper adds grpc-encoding when the
//     request was compressed; this server, as grpc-go's own server, sends
//     none in a trailers-only answer (it does in a head of its own);
//   - an error before anything was sent (a message over the receive
//     limit): the wrapper sends a head, then the status in a trailer
//     frame; this server answers trailers-only, as grpc-go's own server
//     and ASP.NET Core's gRPC do;
//   - the response's Content-Type: the wrapper keeps the request's
//     parameters (charset=utf-8); this server answers the media type
//     without them, as grpc-go's own server does;
//   - a Content-Type that is not gRPC-Web's (application/grpc-web-textual):
//     grpc-go answers text/plain through the wrapper, this server a gRPC
//     status in the head, both with the HTTP status 415;
//   - the wrapper's Access-Control-Expose-Headers is CORS, not gRPC-Web.
func wfNormalize(c *wfCase, m *wfObs) *wfObs {
	n := *m
	if i := strings.IndexByte(n.ctype, ';'); i >= 0 {
		n.ctype = strings.TrimSpace(n.ctype[:i])
	}
	if m.httpStatus != http.StatusOK {
		// Not a gRPC-Web call (grpc-go's text/plain answer, which the
		// wrapper passed through): only the HTTP status is compared.
		return &wfObs{httpStatus: m.httpStatus}
	}
	hasX := slices.ContainsFunc(m.header, func(f string) bool { return strings.HasPrefix(f, "x-") })
	if !m.trailersOnly && len(m.msgs) == 0 && m.trailer != nil && !hasX {
		n.trailersOnly = true
		n.header = append(slices.Clone(m.trailer), m.header...)
		slices.Sort(n.header)
		n.trailer = nil
		return &n
	}
	if !m.trailersOnly {
		return &n
	}
	split := false
	for _, f := range m.header {
		if name, _, _ := strings.Cut(f, ": "); c.hdr[name] != nil {
			split = true
		}
	}
	n.header = nil
	for _, f := range m.header {
		switch name, _, _ := strings.Cut(f, ": "); {
		case name == "grpc-encoding" && !split:
		case split && (c.hdr[name] != nil || name == "grpc-encoding"):
			n.header = append(n.header, f)
		case split:
			n.trailer = append(n.trailer, f)
		default:
			n.header = append(n.header, f)
		}
	}
	if split {
		n.trailersOnly = false
		slices.Sort(n.trailer)
	}
	return &n
}

// wfFirstFrame is the length of b's first frame when b holds all of it,
// else 0.
func wfFirstFrame(b []byte) int {
	if len(b) < 5 || len(b) < 5+int(binary.BigEndian.Uint32(b[1:5])) {
		return 0
	}
	return 5 + int(binary.BigEndian.Uint32(b[1:5]))
}

// wfCancelled reports how the handler of a stream the client cancelled
// ended on tg, against the model: both must see the cancellation (their
// SendMsg fails) and end, the error a status.
func wfCancelled(svc *wfSvc, tg wfTarget, c *wfCase, model wfTarget) []string {
	var errs [2]error
	for i, name := range []string{tg.name, model.name} {
		select {
		case errs[i] = <-svc.endedChan(name + "/" + strconv.Itoa(c.id)):
			svc.endedChan(name + "/" + strconv.Itoa(c.id)) <- errs[i] // for the next target's comparison
		case <-time.After(10 * time.Second):
			return []string{name + ": the handler of the cancelled stream did not end"}
		}
	}
	// The model's SendMsg fails with UNAVAILABLE (grpc-go's handler
	// transport), or CANCELLED; this server's with CANCELLED, as grpc-go's
	// own server's.
	if got := status.Code(errs[0]); got != codes.Canceled && got != status.Code(errs[1]) {
		return []string{fmt.Sprintf("cancelled stream's SendMsg failed with %v, the model's with %v", errs[0], errs[1])}
	}
	return nil
}

// wfCompare reports how got differs from want.
func wfCompare(got, want *wfObs) []string {
	var d []string
	if want.httpStatus != http.StatusOK {
		if got.httpStatus != want.httpStatus || got.err != "" {
			d = append(d, fmt.Sprintf("HTTP status %d (%q), want %d", got.httpStatus, got.err, want.httpStatus))
		}
		return d
	}
	if got.err != want.err {
		d = append(d, fmt.Sprintf("client error %q, want %q", got.err, want.err))
	}
	if got.httpStatus != want.httpStatus {
		d = append(d, fmt.Sprintf("HTTP status %d, want %d", got.httpStatus, want.httpStatus))
	}
	if got.ctype != want.ctype {
		d = append(d, fmt.Sprintf("Content-Type %q, want %q", got.ctype, want.ctype))
	}
	if got.trailersOnly != want.trailersOnly {
		d = append(d, fmt.Sprintf("trailers-only %v, want %v", got.trailersOnly, want.trailersOnly))
	}
	if !slices.Equal(got.header, want.header) {
		d = append(d, fmt.Sprintf("head fields %q, want %q", got.header, want.header))
	}
	if !slices.Equal(got.msgs, want.msgs) {
		d = append(d, fmt.Sprintf("%d messages %.300q, want %d %.300q", len(got.msgs), got.msgs, len(want.msgs), want.msgs))
	}
	if !slices.Equal(got.trailer, want.trailer) {
		d = append(d, fmt.Sprintf("trailer frame %q, want %q", got.trailer, want.trailer))
	}
	if len(got.problems) > 0 {
		d = append(d, fmt.Sprintf("problems %q", got.problems))
	}
	return d
}

// wfServers starts the Server on this module's server (native path:
// HTTP/1.1, h2c, h2, HTTP/3) and on net/http (HTTP/1.1, h2c), and the
// model, grpc-go's server wrapped by improbable-eng's grpcweb, on
// net/http.
func wfServers(t *testing.T, svc *wfSvc) (ours []wfTarget, model wfTarget) {
	gs := NewServer()
	gs.RegisterService(svc.desc(), nil)
	ks := startKestrel(t, gs)
	h3base, h3tr := startHTTP3(t, gs)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: gs, Protocols: p}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	g := grpc.NewServer()
	g.RegisterService(svc.desc(), nil)
	ws := &http.Server{Handler: grpcweb.WrapServer(g), Protocols: p}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ws.Serve(mln)
	t.Cleanup(func() { ws.Close(); g.Stop() })

	h1 := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	h2c := h2cClient()
	h2c.Timeout = 20 * time.Second
	p2 := new(http.Protocols)
	p2.SetHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: p2, TLSClientConfig: ks.tlsConfig(), ForceAttemptHTTP2: true}, Timeout: 20 * time.Second}
	h3 := &http.Client{Transport: h3tr, Timeout: 20 * time.Second}
	for _, c := range []*http.Client{h1, h2c, h2} {
		t.Cleanup(c.CloseIdleConnections)
	}
	ours = []wfTarget{
		{"native/http1", "http://" + ks.plain, h1, 1},
		{"native/h2c", "http://" + ks.plain, h2c, 2},
		{"native/h2", "https://" + ks.secure, h2, 2},
		{"native/h3", h3base, h3, 3},
		{"nethttp/http1", "http://" + ln.Addr().String(), h1, 1},
		{"nethttp/h2c", "http://" + ln.Addr().String(), h2c, 2},
	}
	return ours, wfTarget{"model/http1", "http://" + mln.Addr().String(), h1, 1}
}

// TestGRPCWebAgainstImprobable: a seeded differential test of generated
// gRPC-Web calls (unary and server streaming, binary and text, messages
// empty, of one byte, around an HTTP/2 frame and at the receive limit,
// request metadata with -bin values, handlers that set headers and
// trailers, fail with details, send no message or many, gzip, deadlines,
// Content-Type variants, requests over the receive limit, a client that
// cancels mid-stream) sent by a raw client that writes a text body as
// padded base64 chunks in odd-sized writes and reads responses
// incrementally, to this server (native path over HTTP/1.1, h2c, h2 and
// HTTP/3; ServeHTTP on net/http over HTTP/1.1 and h2c) and to grpc-go's
// server under improbable-eng's grpcweb wrapper, comparing the HTTP
// status, Content-Type, head fields, each message and the trailer frame's
// lines (lower-case names, CRLF); wfNormalize lists the differences by
// design (WEBFUZZ_SEED, WEBFUZZ_N for longer runs).
func TestGRPCWebAgainstImprobable(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("WEBFUZZ_SEED"), 10, 64); err == nil {
		seed = v
	}
	n := 40
	if v, err := strconv.Atoi(os.Getenv("WEBFUZZ_N")); err == nil {
		n = v
	}
	t.Logf("WEBFUZZ_SEED=%d WEBFUZZ_N=%d", seed, n)
	r := rand.New(rand.NewPCG(seed, 1))
	svc := &wfSvc{cases: map[int]*wfCase{}, ended: map[string]chan error{}}
	var cases []*wfCase
	for i := range n {
		c := wfGenerate(r, i)
		cases = append(cases, c)
		svc.cases[i] = c
	}
	ours, model := wfServers(t, svc)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	failures := 0
	for _, c := range cases {
		// The model decodes a text body with one base64 decoder, which
		// stops at the first padding: it gets the body in one chunk.
		want := wfNormalize(c, wfCall(ctx, model, c, wfBody(rand.New(rand.NewPCG(seed, uint64(c.id))), c, false), seed))
		if want.err != "" && !c.cancel || len(want.problems) > 0 && want.httpStatus == http.StatusOK {
			t.Fatalf("%v\nmodel: %v", c, want)
		}
		var wg sync.WaitGroup
		got := make([]*wfObs, len(ours))
		for i, tg := range ours {
			wg.Go(func() {
				got[i] = wfCall(ctx, tg, c, wfBody(rand.New(rand.NewPCG(seed, uint64(c.id))), c, true), seed+uint64(i))
			})
		}
		wg.Wait()
		for i, tg := range ours {
			d := wfCompare(got[i], want)
			if c.cancel {
				d = append(d, wfCancelled(svc, tg, c, model)...)
			}
			if len(d) > 0 {
				failures++
				t.Errorf("%s: %v\n  %s\ngot:\n%v\nwant:\n%v", tg.name, c, strings.Join(d, "\n  "), got[i], want)
			}
		}
		if failures > 10 {
			t.Fatal("too many failures")
		}
	}
}
