package grpcserver

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kestrel-go/kestrel"
)

// The generated call scripts run against a Server on kestrel.Server and
// against grpc-go's own server, with the same options: these are the
// limits both have.
const (
	gfMaxRecv    = 20000
	gfMaxSend    = 20000
	gfMaxStreams = 50
)

// gfShort is the deadline of a call whose handler blocks until it (or
// waits for a half-close that does not come): long enough that what the
// handler does before it is done first on a loaded machine under -race,
// so that only what happens at the deadline races with it.
const gfShort = 3 * time.Second

// gfOp is one thing a handler does.
type gfOp struct {
	op   string // recv, recvAll, send, setHeader, sendHeader, setTrailer
	size int    // send: the payload's length
	md   metadata.MD
}

// gfScript is one generated call: what the client does and what the
// handler does.
type gfScript struct {
	id     int
	method string // Unary, Client, Server, Bidi

	// The client.
	md        metadata.MD
	sends     []int // payload lengths
	closeSend bool
	gzip      bool
	timeout   time.Duration // 0: none
	cancel    bool          // cancel once the handler blocks

	// The handler.
	ops     []gfOp
	end     string // ok, error, block
	reply   int    // a unary call's reply payload length
	code    codes.Code
	msg     string
	details bool
}

// gfSizes are payload lengths around the interesting edges: empty, one
// byte, the 16 KiB frame, and the message limits (a BytesValue of n
// bytes encodes in n+1+len(varint(n)) bytes).
var gfSizes = []int{0, 1, 2, 100, 4090, 16380, 16381, 16383, 16384, 16385, 16389,
	gfMaxRecv - 5, gfMaxRecv - 4, gfMaxRecv - 3, gfMaxRecv - 2, 30000}

func gfSize(r *rand.Rand) int {
	if r.IntN(3) == 0 {
		return r.IntN(300)
	}
	return gfSizes[r.IntN(len(gfSizes))]
}

// gfMD makes random metadata: plain and -bin keys, repeated keys, some
// large values; prefix keeps request and response keys apart.
func gfMD(r *rand.Rand, prefix string, maxKeys int) metadata.MD {
	md := metadata.MD{}
	n := r.IntN(maxKeys + 1)
	for i := 0; i < n; i++ {
		k := prefix + strconv.Itoa(r.IntN(maxKeys+1))
		var v string
		if r.IntN(3) == 0 {
			k += "-bin"
			b := make([]byte, r.IntN(40))
			for j := range b {
				b[j] = byte(r.UintN(256))
			}
			v = string(b)
		} else {
			l := r.IntN(30)
			if r.IntN(10) == 0 {
				l = r.IntN(4000)
			}
			b := make([]byte, l)
			for j := range b {
				b[j] = byte(' ' + r.IntN(95))
			}
			v = strings.TrimSpace(string(b))
		}
		md[k] = append(md[k], v)
	}
	return md
}

var gfMessages = []string{"", "plain", "with spaces and % percent", "naïve ünïcode", "line\nbreak", "tab\there"}

func gfGenerate(r *rand.Rand, id int) gfScript {
	s := gfScript{id: id}
	s.method = []string{"Unary", "Client", "Server", "Bidi"}[r.IntN(4)]
	s.md = gfMD(r, "q", 12)
	s.gzip = r.IntN(3) == 0
	clientStreams := s.method == "Client" || s.method == "Bidi"
	if clientStreams {
		// At most 60,000 bytes in all: within the 64 KiB stream window
		// grpc-go's server starts with (a Server's is 768 KiB), so that
		// the client sends them all whether the handler reads them or not.
		n, total := r.IntN(5), 0
		for range n {
			if size := gfSize(r); total+size+10 <= 60000 {
				s.sends = append(s.sends, size)
				total += size + 10
			}
		}
	} else {
		s.sends = []int{gfSize(r)}
	}
	s.closeSend = true
	if r.IntN(4) == 0 {
		s.timeout = 10 * time.Second
	}
	// The handler.
	nops := r.IntN(6)
	for range nops {
		var o gfOp
		switch k := r.IntN(10); {
		case k < 3 && clientStreams:
			o.op = "recv"
		case k == 3 && clientStreams:
			o.op = "recvAll"
		case k < 6 && s.method != "Unary" && s.method != "Client":
			o.op, o.size = "send", gfSize(r)
		case k == 6 || k == 3:
			o.op, o.md = "setHeader", gfMD(r, "h", 5)
		case k == 7 || k == 4:
			o.op, o.md = "sendHeader", gfMD(r, "h", 5)
		default:
			o.op, o.md = "setTrailer", gfMD(r, "t", 5)
		}
		s.ops = append(s.ops, o)
	}
	if s.method == "Client" && r.IntN(2) == 0 {
		s.ops = append(s.ops, gfOp{op: "send", size: gfSize(r)}) // SendAndClose's message
	}
	switch k := r.IntN(10); {
	case k < 5:
		s.end = "ok"
		s.reply = gfSize(r)
	case k < 8:
		s.end = "error"
		s.code = codes.Code(1 + r.IntN(16))
		s.msg = gfMessages[r.IntN(len(gfMessages))]
		s.details = r.IntN(2) == 0
	default:
		s.end = "block"
		if r.IntN(2) == 0 {
			s.timeout = gfShort
		} else {
			s.cancel = true
		}
	}
	if s.timeout == 0 && !s.cancel && clientStreams && r.IntN(6) == 0 {
		// The client does not half-close; the handler must not wait for it.
		s.closeSend = false
		s.timeout = gfShort
	}
	return s
}

func (s *gfScript) String() string {
	var ops []string
	for _, o := range s.ops {
		switch o.op {
		case "send":
			ops = append(ops, fmt.Sprintf("send(%d)", o.size))
		case "recv", "recvAll":
			ops = append(ops, o.op)
		default:
			ops = append(ops, fmt.Sprintf("%s(%d keys)", o.op, o.md.Len()))
		}
	}
	return fmt.Sprintf("%s md=%d keys sends=%v closeSend=%v gzip=%v timeout=%v cancel=%v ops=%v end=%s reply=%d code=%v msg=%q details=%v",
		s.method, s.md.Len(), s.sends, s.closeSend, s.gzip, s.timeout, s.cancel, ops, s.end, s.reply, s.code, s.msg, s.details)
}

// gfObs is what one side of a call saw.
type gfObs struct {
	server []string // the handler's observations, in order
	stats  []string // the stats handler's events, in order
}

// gfSvc is the test service: each call finds its script by the x-gfuzz
// request metadata, and records what the handler saw.
type gfSvc struct {
	scripts map[int]*gfScript
	mu      sync.Mutex
	obs     map[int]*gfObs
	// live counts what has begun and not ended: handlers (entered, not
	// returned) and calls the stats handler saw (InHeader, not End), so
	// that the test reads obs only once every one has ended (idle).
	live int
	idle *sync.Cond
	// blocked is closed by a call's handler that blocks until the call's
	// context ends, when it does; sent is what it sent before (the head,
	// messages), which its client waits to see before it cancels.
	blocked map[int]chan struct{}
	sent    map[int]*gfSent
	// late records the calls with a short deadline whose handlers did
	// something that should not wait with less than gfShort/2 left before
	// it (see gfLate).
	late map[int]bool
}

// gfSent is what a handler sent before it blocked.
type gfSent struct {
	header bool
	msgs   int
}

// sentOne records that the handler of call id sent the head, and a
// message when msg.
func (f *gfSvc) sentOne(id int, msg bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.sent[id]
	if st == nil {
		st = &gfSent{}
		f.sent[id] = st
	}
	st.header = true
	if msg {
		st.msgs++
	}
}

// sentBefore is what the handler of call id sent before it blocked.
func (f *gfSvc) sentBefore(id int) gfSent {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.sent[id]; st != nil {
		return *st
	}
	return gfSent{}
}

func newGFSvc(scripts map[int]*gfScript) *gfSvc {
	f := &gfSvc{scripts: scripts, obs: map[int]*gfObs{}, blocked: map[int]chan struct{}{}, sent: map[int]*gfSent{}, late: map[int]bool{}}
	f.idle = sync.NewCond(&f.mu)
	for id := range scripts {
		f.blocked[id] = make(chan struct{})
	}
	return f
}

// enter and leave count one handler or one call's stats.
func (f *gfSvc) enter() {
	f.mu.Lock()
	f.live++
	f.mu.Unlock()
}

func (f *gfSvc) leave() {
	f.mu.Lock()
	f.live--
	if f.live == 0 {
		f.idle.Broadcast()
	}
	f.mu.Unlock()
}

// wait waits until every handler has returned and every call's stats
// have ended, or fails after d.
func (f *gfSvc) wait(t *testing.T, name string, d time.Duration) {
	t.Helper()
	timer := time.AfterFunc(d, func() {
		f.mu.Lock()
		f.idle.Broadcast()
		f.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.live > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d handlers or calls' stats have not ended", name, f.live)
		}
		f.idle.Wait()
	}
}

func (f *gfSvc) note(id int, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.obs[id]
	if o == nil {
		o = &gfObs{}
		f.obs[id] = o
	}
	o.server = append(o.server, fmt.Sprintf(format, args...))
}

func (f *gfSvc) noteStats(id int, ev string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.obs[id]
	if o == nil {
		o = &gfObs{}
		f.obs[id] = o
	}
	o.stats = append(o.stats, ev)
}

func gfErr(err error) string {
	if err == nil {
		return "nil"
	}
	if err == io.EOF {
		return "EOF"
	}
	st, ok := status.FromError(err)
	if !ok {
		return "non-status " + err.Error()
	}
	return st.Code().String() + " " + st.Message()
}

// gfMDString is metadata with the keys left out that differ by transport
// (and by port), sorted.
func gfMDString(md metadata.MD) string {
	var parts []string
	for k, vs := range md {
		switch k {
		case ":authority", "user-agent", "date", "server", "content-length":
			// The HTTP server's own fields (Kestrel's Date and Server, the
			// length of a trailers-only response), or the connection's.
			continue
		}
		parts = append(parts, k+"="+gfValues(vs))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// gfValues shortens metadata values for the failure messages: a long
// value is its length and a hash.
func gfValues(vs []string) string {
	short := make([]string, len(vs))
	for i, v := range vs {
		if len(v) > 24 {
			h := fnv.New32a()
			h.Write([]byte(v))
			v = fmt.Sprintf("%s...(%d bytes, %08x)", v[:8], len(v), h.Sum32())
		}
		short[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(short, " ") + "]"
}

func (f *gfSvc) script(ctx context.Context) (*gfScript, int) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("x-gfuzz")
	if len(v) == 0 {
		return nil, -1
	}
	id, _ := strconv.Atoi(v[0])
	return f.scripts[id], id
}

func (f *gfSvc) begin(ctx context.Context, id int) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.note(id, "md %s", gfMDString(md))
	d, ok := ctx.Deadline()
	f.note(id, "deadline %v %v", ok, ok && time.Until(d) > 0 && time.Until(d) <= 10*time.Second)
	p, ok := peer.FromContext(ctx)
	f.note(id, "peer %v %v", ok, ok && p.Addr != nil && p.LocalAddr != nil)
	m, ok := grpc.Method(ctx)
	f.note(id, "method %v %s", ok, m)
}

func (f *gfSvc) desc() *grpc.ServiceDesc {
	stream := func(_ any, ss grpc.ServerStream) error {
		f.enter()
		defer f.leave()
		return f.stream(ss)
	}
	return &grpc.ServiceDesc{
		ServiceName: "gfuzz.Svc",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			f.enter()
			defer f.leave()
			s, id := f.script(ctx)
			req := new(wrapperspb.BytesValue)
			err := dec(req)
			f.note(id, "recv %d %s", len(req.Value), gfErr(err))
			if err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) { return f.unary(ctx, s, id) }
			if in == nil {
				return h(ctx, req)
			}
			return in(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/gfuzz.Svc/Unary"}, h)
		}}},
		Streams: []grpc.StreamDesc{
			{StreamName: "Client", Handler: stream, ClientStreams: true},
			{StreamName: "Server", Handler: stream, ServerStreams: true},
			{StreamName: "Bidi", Handler: stream, ClientStreams: true, ServerStreams: true},
		},
	}
}

func (f *gfSvc) metaOp(ctx context.Context, id int, o gfOp) {
	switch o.op {
	case "setHeader":
		f.note(id, "setHeader %v", grpc.SetHeader(ctx, o.md) != nil)
	case "sendHeader":
		err := grpc.SendHeader(ctx, o.md)
		if err == nil {
			f.sentOne(id, false)
		}
		f.note(id, "sendHeader %v", err != nil)
	case "setTrailer":
		f.note(id, "setTrailer %v", grpc.SetTrailer(ctx, o.md) != nil)
	}
}

// lateCheck returns the check a handler makes after each thing it does in
// a call with a short deadline: whether it was done with less than
// gfShort/2 left before the deadline (a loaded machine stalled the
// handler, the client or the connection), which makes the rest of the
// call race with the deadline, or (wait) it was a read that waits for the
// deadline. The call is late then (see gfLate), unless the deadline had
// ended it as expected before. It checks once at once.
func (f *gfSvc) lateCheck(ctx context.Context, s *gfScript, id int) func(wait bool) {
	d, ok := ctx.Deadline()
	if s.timeout != gfShort || !ok {
		return func(bool) {}
	}
	ended := false
	check := func(wait bool) {
		switch {
		case ended:
		case wait && ctx.Err() != nil:
			ended = true
		case time.Until(d) < gfShort/2:
			f.mu.Lock()
			f.late[id] = true
			f.mu.Unlock()
			ended = true
		}
	}
	check(false)
	return check
}

func (f *gfSvc) finish(ctx context.Context, s *gfScript, id int) error {
	switch s.end {
	case "block":
		if ctx.Err() == nil {
			// A call that has ended (a failed message) is not blocked on:
			// its client gets its status.
			close(f.blocked[id])
		}
		<-ctx.Done()
		f.note(id, "done")
		return ctx.Err()
	case "error":
		st := status.New(s.code, s.msg)
		if s.details {
			st, _ = st.WithDetails(wrapperspb.String("detail"), wrapperspb.Int64(int64(s.id)))
		}
		return st.Err()
	}
	return nil
}

func (f *gfSvc) unary(ctx context.Context, s *gfScript, id int) (any, error) {
	f.begin(ctx, id)
	late := f.lateCheck(ctx, s, id)
	for _, o := range s.ops {
		f.metaOp(ctx, id, o)
		late(false)
	}
	if err := f.finish(ctx, s, id); err != nil {
		return nil, err
	}
	return &wrapperspb.BytesValue{Value: make([]byte, s.reply)}, nil
}

func (f *gfSvc) stream(ss grpc.ServerStream) error {
	ctx := ss.Context()
	s, id := f.script(ctx)
	f.begin(ctx, id)
	late := f.lateCheck(ctx, s, id)
	recvs := 0
	recv := func() error {
		m := new(wrapperspb.BytesValue)
		// A read once the client's messages are all in waits for the
		// half-close, or for the deadline when none comes.
		wait := recvs == len(s.sends)
		err := ss.RecvMsg(m)
		if err == nil {
			recvs++
		}
		f.note(id, "recv %d %s", len(m.Value), gfErr(err))
		late(wait)
		return err
	}
	if s.method == "Server" {
		if err := recv(); err != nil {
			return err
		}
	}
	for _, o := range s.ops {
		switch o.op {
		case "recv":
			recv()
		case "recvAll":
			for recv() == nil {
			}
		case "send":
			err := ss.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, o.size)})
			if err == nil {
				f.sentOne(id, true)
			}
			f.note(id, "send %d %s", o.size, gfErr(err))
			late(false)
		default:
			f.metaOp(ctx, id, o)
			late(false)
		}
	}
	return f.finish(ctx, s, id)
}

// gfStats records the stats events' kinds by call.
type gfStats struct{ f *gfSvc }

type gfStatsKey struct{}

func (h gfStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, gfStatsKey{}, new(int))
}
func (h gfStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	id := -1
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("x-gfuzz")) > 0 {
		id, _ = strconv.Atoi(md.Get("x-gfuzz")[0])
	}
	ev := reflect.TypeOf(s).Elem().Name()
	switch s := s.(type) {
	case *stats.InHeader:
		id, _ = strconv.Atoi(s.Header.Get("x-gfuzz")[0])
		ev += " " + s.Compression
	case *stats.InPayload:
		ev += fmt.Sprintf(" %d", s.Length)
	case *stats.OutPayload:
		ev += fmt.Sprintf(" %d", s.Length)
	case *stats.OutHeader:
		ev += " " + gfMDString(s.Header) + " " + s.Compression
	case *stats.OutTrailer:
		ev += " " + gfMDString(s.Trailer)
	case *stats.End:
		ev += " " + gfErr(s.Error)
	}
	if id < 0 {
		return
	}
	if _, ok := s.(*stats.InHeader); ok {
		h.f.enter()
	}
	h.f.noteStats(id, ev)
	if _, ok := s.(*stats.End); ok {
		h.f.leave()
	}
}
func (h gfStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (h gfStats) HandleConn(context.Context, stats.ConnStats)                       {}

// gfInterceptors each add a trailer, so that the chain's order shows in
// what the client gets.
func gfInterceptors() (grpc.UnaryServerInterceptor, grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor, grpc.StreamServerInterceptor) {
	u := func(name string) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			grpc.SetTrailer(ctx, metadata.Pairs("x-chain", name+" "+info.FullMethod))
			return h(ctx, req)
		}
	}
	s := func(name string) grpc.StreamServerInterceptor {
		return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ss.SetTrailer(metadata.Pairs("x-chain", fmt.Sprintf("%s %s %v %v", name, info.FullMethod, info.IsClientStream, info.IsServerStream)))
			return h(srv, ss)
		}
	}
	return u("u1"), u("u2"), s("s1"), s("s2")
}

// gfRun makes one call of s on e and returns what the client saw.
func gfRun(e *gfEnv, s *gfScript) []string {
	conn := e.conn
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	seen := make(chan bool, 16) // for gfCancelWhenBlocked
	ctx := context.Background()
	var cancel context.CancelFunc
	if s.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	if s.cancel {
		// Cancelled once the handler blocks, after what it does first, and
		// once this client has seen what it sent (the head, messages), so
		// that the reset does not race with them (a handler that fails
		// before never blocks: the call ends with its status first).
		go gfCancelWhenBlocked(ctx, cancel, e.svc, s, seen)
	}
	md := s.md.Copy()
	md.Set("x-gfuzz", strconv.Itoa(s.id))
	ctx = metadata.NewOutgoingContext(ctx, md)
	var opts []grpc.CallOption
	if s.gzip {
		opts = append(opts, grpc.UseCompressor(gzip.Name))
	}
	var header, trailer metadata.MD
	if s.method == "Unary" && !s.cancel {
		opts = append(opts, grpc.Header(&header), grpc.Trailer(&trailer))
		reply := new(wrapperspb.BytesValue)
		err := conn.Invoke(ctx, "/gfuzz.Svc/Unary", &wrapperspb.BytesValue{Value: make([]byte, s.sends[0])}, reply, opts...)
		note("reply %d", len(reply.Value))
		gfNoteStatus(note, err, header, trailer)
		return out
	}
	// A unary call cancelled is made as a stream of one message each way,
	// as Invoke makes it, so that its client sees the head as it comes.
	desc := &grpc.StreamDesc{StreamName: s.method, ClientStreams: s.method == "Client" || s.method == "Bidi", ServerStreams: s.method == "Server" || s.method == "Bidi"}
	cs, err := conn.NewStream(ctx, desc, "/gfuzz.Svc/"+s.method, opts...)
	if err != nil {
		note("newStream %s", gfErr(err))
		return out
	}
	for _, n := range s.sends {
		if err := cs.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, n)}); err != nil {
			// io.EOF: the call ended; when depends on timing, so not noted.
			break
		}
	}
	if s.closeSend {
		cs.CloseSend()
	}
	header, herr := cs.Header()
	note("header err %v", herr != nil)
	if herr == nil {
		seen <- true
	}
	for {
		m := new(wrapperspb.BytesValue)
		if err = cs.RecvMsg(m); err != nil {
			break
		}
		note("msg %d", len(m.Value))
		select {
		case seen <- false:
		default: // more messages than the handler sent before it blocked
		}
	}
	if err == io.EOF {
		err = nil
	}
	gfNoteStatus(note, err, header, cs.Trailer())
	return out
}

// gfCancelWhenBlocked cancels a call (cancel, its context ctx) once its
// handler has blocked (svc.blocked) and the client has seen (seen: true
// for the head, false for a message) what the handler sent before.
func gfCancelWhenBlocked(ctx context.Context, cancel context.CancelFunc, svc *gfSvc, s *gfScript, seen <-chan bool) {
	select {
	case <-svc.blocked[s.id]:
	case <-ctx.Done():
		return
	}
	want := svc.sentBefore(s.id)
	if s.method != "Server" && s.method != "Bidi" {
		want.msgs = 0 // the client reads its one message with the status
	}
	for header, msgs := false, 0; want.header && !header || msgs < want.msgs; {
		select {
		case h := <-seen:
			if h {
				header = true
			} else {
				msgs++
			}
		case <-ctx.Done():
			return
		}
	}
	cancel()
}

func gfNoteStatus(note func(string, ...any), err error, header, trailer metadata.MD) {
	st := status.Convert(err)
	note("status %s %q", st.Code(), st.Message())
	for _, d := range st.Details() {
		note("detail %v", d)
	}
	note("header %s", gfMDString(header))
	note("trailer %s", gfMDString(trailer))
}

// gfFailed reports whether a handler's observations show a failed RecvMsg
// or SendMsg (neither nil nor io.EOF), and how many messages RecvMsg
// received before the first failure.
func gfFailed(handler []string) (failed bool, recvs int) {
	for _, h := range handler {
		if !strings.HasPrefix(h, "recv ") && !strings.HasPrefix(h, "send ") {
			continue
		}
		if !strings.HasSuffix(h, " nil") && !strings.HasSuffix(h, " EOF") {
			return true, recvs
		}
		if strings.HasPrefix(h, "recv ") && strings.HasSuffix(h, " nil") {
			recvs++
		}
	}
	return false, recvs
}

// gfHeaderSent reports whether a handler's observations show the response
// head sent: by SendHeader or with a message.
func gfHeaderSent(handler []string) bool {
	for _, h := range handler {
		if h == "sendHeader false" || strings.HasPrefix(h, "send ") && strings.HasSuffix(h, " nil") {
			return true
		}
	}
	return false
}

// gfNormalize takes out of what a handler (handler nil) or a stats handler
// (handler, the handler's observations) saw of a call what depends on
// timing or is a known difference:
//
//   - At a short deadline the call ends by the server's deadline or by
//     the client's reset (its deadline, or its cancellation once the
//     handler blocked), whichever comes first: DEADLINE_EXCEEDED or
//     CANCELLED. At its deadline grpc-go's server both ends the context
//     and resets the stream, on two timers; whether the status (and the
//     head with it, OutHeader, OutTrailer) goes out depends on which
//     runs first. A Server always sends the status, unless the client
//     reset the stream first.
//   - Once a RecvMsg or SendMsg failed, the call has ended for its
//     client. grpc-go's RecvMsg then goes on reading what the client
//     sent after the failed message (a length from its middle, or the
//     next message), as many times as it is called and for as long as it
//     gets bytes (InPayload); a Server's fails with the context's error
//     (a deliberate difference: what grpc-go reads is what it did not
//     skip of the failed message). stats.End's error is then the
//     handler's return on grpc-go and the status sent on a Server (a
//     deliberate difference: the status the client got, which a
//     handler that ignores the failure does not return).
func gfNormalize(s *gfScript, obs, handler []string) []string {
	failed, recvs := gfFailed(handler)
	short := s.timeout == gfShort
	headerSent := gfHeaderSent(handler)
	var out []string
	ended := false // a read or write failed: the call ended for its client
	inPayloads := 0
	for _, o := range obs {
		if handler == nil {
			if ended && strings.HasPrefix(o, "recv ") {
				o = "recv (after the end)"
				if len(out) > 0 && out[len(out)-1] == o {
					continue // grpc-go's reads after the end, one or many
				}
			}
			if (strings.HasPrefix(o, "recv ") || strings.HasPrefix(o, "send ")) && !strings.HasSuffix(o, " nil") && !strings.HasSuffix(o, " EOF") {
				ended = true
			}
		}
		if short || s.cancel {
			o = strings.ReplaceAll(o, "DeadlineExceeded context deadline exceeded", "(context ended)")
			o = strings.ReplaceAll(o, "Canceled context canceled", "(context ended)")
		}
		if short && (strings.HasPrefix(o, "OutTrailer") || !headerSent && strings.HasPrefix(o, "OutHeader")) {
			continue // sent with the status at the deadline, or not
		}
		if failed && strings.HasPrefix(o, "InPayload") {
			if inPayloads++; inPayloads > recvs {
				continue // grpc-go's reads after the end
			}
		}
		if failed && strings.HasPrefix(o, "End ") {
			o = "End (failed)"
		}
		out = append(out, o)
	}
	return out
}

// gfNormalizeClient takes out of what the client saw of a call what
// depends on timing (see gfNormalize): at a short deadline, whether its
// own deadline or the server's ended the call, which grpc-go's server
// ends with a reset (its client says why) or with the status (and the
// trailer, and the head when it had not been sent), and a Server with
// the status. headerSent: the handler sent the head before.
func gfNormalizeClient(s *gfScript, obs []string, headerSent bool) []string {
	if s.timeout != gfShort {
		return obs
	}
	deadline := false
	var out []string
	for _, o := range obs {
		switch {
		case strings.HasPrefix(o, "status DeadlineExceeded "):
			o, deadline = "status DeadlineExceeded (the deadline)", true
		case deadline && strings.HasPrefix(o, "trailer "):
			o = "trailer (the deadline)"
		case deadline && !headerSent && strings.HasPrefix(o, "header "):
			o = "header (the deadline)"
		}
		out = append(out, o)
	}
	return out
}

// gfLate is what is compared of a late call, one whose handler, on
// either server, did something that should not wait with less than
// gfShort/2 left before the call's deadline (see lateCheck): only the
// head the handler saw (its first notes, from begin). When a loaded
// machine stalls a handler, its client or its connection for a second or
// more, what each side sees after depends on when the deadline comes.
func gfLate(handler []string) []string {
	return handler[:min(len(handler), 4)]
}

// gfEnv is one server under test with its client connection.
type gfEnv struct {
	name string
	svc  *gfSvc
	conn *grpc.ClientConn
	stop func()
}

func gfServers(t *testing.T, scripts map[int]*gfScript) (ours, model *gfEnv) {
	t.Helper()
	u1, u2, s1, s2 := gfInterceptors()
	ours = &gfEnv{name: "grpcserver", svc: newGFSvc(scripts)}
	gs := NewServer(MaxRecvMsgSize(gfMaxRecv), MaxSendMsgSize(gfMaxSend),
		UnaryInterceptor(u1, u2), StreamInterceptor(s1, s2), StatsHandler(gfStats{ours.svc}), Logger(quietLogger))
	gs.RegisterService(ours.svc.desc(), nil)
	// A connection's window holds the request bytes its streams have not
	// read (Kestrel's flow control, documented at
	// InitialConnectionWindowSize), where grpc-go's server gives it back as
	// bytes arrive: one that holds what all the calls at once may leave
	// unread (gfMaxStreams x 60,000 bytes), so that calls whose handlers
	// do not read hold up no other's bytes, as on grpc-go's server.
	h2 := kestrel.Http2Limits{MaxStreamsPerConnection: gfMaxStreams, InitialConnectionWindowSize: 4 << 20}
	ks := &kestrel.Server{Handler: gs, Logger: quietLogger, Limits: kestrel.Limits{Http2: h2}}
	if err := ks.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := ks.Start(); err != nil {
		t.Fatal(err)
	}
	ours.conn = gfDial(t, strings.TrimPrefix(ks.Addresses()[0], "http://"))
	ours.stop = func() {
		// The client gone, Shutdown waits for the calls in progress.
		ours.conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ks.Shutdown(ctx)
	}

	model = &gfEnv{name: "grpc-go", svc: newGFSvc(scripts)}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(gfMaxRecv), grpc.MaxSendMsgSize(gfMaxSend), grpc.MaxConcurrentStreams(gfMaxStreams),
		grpc.ChainUnaryInterceptor(u1, u2), grpc.ChainStreamInterceptor(s1, s2), grpc.StatsHandler(gfStats{model.svc}))
	g.RegisterService(model.svc.desc(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	model.conn = gfDial(t, ln.Addr().String())
	model.stop = func() {
		// The client gone, GracefulStop waits for the calls in progress.
		model.conn.Close()
		g.GracefulStop()
	}
	return ours, model
}

// gfDial connects to addr, and waits for the connection, so that no call's
// deadline runs while it is made.
func gfDial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Connect()
	for st := conn.GetState(); st != connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(ctx, st) {
			t.Fatalf("connecting to %s: %v", addr, st)
		}
	}
	return conn
}

// TestGRPCRandomCallsAgainstGRPCGo runs seeded random call scripts
// (unary and streaming calls, message sizes at the frame and limit edges,
// metadata, gzip, handlers that set headers and trailers at random
// points, fail with details, block until the deadline or the client's
// cancellation) on a Server and on grpc-go's own server, with the same
// options, and compares what grpc-go's client, the handlers and a
// stats.Handler saw, once every handler and every call's stats have
// ended. What depends on timing, or differs by design, is normalised
// (gfNormalize, gfNormalizeClient). GFUZZ_SEED and GFUZZ_N run others
// (GFUZZ_N=300 for seeds 1 to 20 under -race is the longer run).
func TestGRPCRandomCallsAgainstGRPCGo(t *testing.T) {
	seed, n := uint64(1), 60
	if v, err := strconv.ParseUint(os.Getenv("GFUZZ_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("GFUZZ_N")); err == nil {
		n = v
	}
	before := runtime.NumGoroutine()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	scripts := map[int]*gfScript{}
	for i := range n {
		s := gfGenerate(r, i)
		scripts[i] = &s
	}
	ours, model := gfServers(t, scripts)
	run := func(e *gfEnv) map[int][]string {
		out := make(map[int][]string, n)
		var mu sync.Mutex
		var wg sync.WaitGroup
		// Many calls at once on one connection, half its stream limit (past
		// it, a call waits for a stream, and its deadline runs meanwhile):
		// on a machine that -race and other processes load, a call takes
		// about as long as the work of the calls alongside it, so more at
		// once would make the calls with short deadlines late (gfLate).
		sem := make(chan struct{}, gfMaxStreams/2)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				got := gfRun(e, scripts[i])
				mu.Lock()
				out[i] = got
				mu.Unlock()
			}()
		}
		wg.Wait()
		return out
	}
	var gotOurs, gotModel map[int][]string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); gotOurs = run(ours) }()
	go func() { defer wg.Done(); gotModel = run(model) }()
	wg.Wait()
	// The handlers' and stats handlers' last notes come after the
	// client saw the status, and a call the client gave up on may reach
	// its server after: once the servers have stopped, every call that
	// began there has ended.
	ours.stop()
	model.stop()
	ours.svc.wait(t, ours.name, 10*time.Second)
	model.svc.wait(t, model.name, 10*time.Second)
	bad := 0
	var lateOurs, lateModel []int
	for i := range n {
		s := scripts[i]
		diff := func(what string, a, b []string) {
			if slices.Equal(a, b) {
				return
			}
			bad++
			if bad > 20 {
				return
			}
			t.Errorf("seed %d script %d %s (%s)\n grpcserver: %q\n grpc-go:    %q", seed, i, what, s, a, b)
		}
		ob, mb := ours.svc.obs[i], model.svc.obs[i]
		if ob == nil {
			ob = &gfObs{}
		}
		if mb == nil {
			mb = &gfObs{}
		}
		headerSent := gfHeaderSent(ob.server) || gfHeaderSent(mb.server)
		if ours.svc.late[i] || model.svc.late[i] {
			// See gfLate.
			if ours.svc.late[i] {
				lateOurs = append(lateOurs, i)
			}
			if model.svc.late[i] {
				lateModel = append(lateModel, i)
			}
			diff("handler", gfLate(ob.server), gfLate(mb.server))
			continue
		}
		diff("client", gfNormalizeClient(s, gotOurs[i], headerSent), gfNormalizeClient(s, gotModel[i], headerSent))
		diff("handler", gfNormalize(s, ob.server, nil), gfNormalize(s, mb.server, nil))
		diff("stats", gfNormalize(s, ob.stats, ob.server), gfNormalize(s, mb.stats, mb.server))
	}
	if len(lateOurs)+len(lateModel) > 0 {
		// Only their heads compared; a Server late far more often than
		// grpc-go's would be worth a look.
		t.Logf("calls that ran late (gfLate) of %d: on grpcserver %v, on grpc-go %v", n, lateOurs, lateModel)
	}
	if bad > 0 {
		t.Errorf("%d differences", bad)
	}
	checkGoroutines(t, before)
}
