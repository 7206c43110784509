package grpcserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/kestrel-go/kestrel"
)

// testService is a hand-written service: its methods panic, return a
// status with details, and wait for their context to end.
type testService struct {
	ended chan error // what Wait's context ended with
}

func (s *testService) desc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "grpcserver.Test",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Panic", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				panic("boom")
			}},
			{MethodName: "Details", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				st, err := status.New(codes.FailedPrecondition, "not now").WithDetails(&testgrpc.SimpleResponse{Username: "detail"})
				if err != nil {
					return nil, err
				}
				return nil, st.Err()
			}},
			{MethodName: "Wait", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var in testgrpc.Empty
				if err := dec(&in); err != nil {
					return nil, err
				}
				<-ctx.Done()
				s.ended <- ctx.Err()
				return nil, ctx.Err()
			}},
			{MethodName: "Peer", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				p, ok := peer.FromContext(ctx)
				if !ok || p.Addr == nil {
					return nil, status.Error(codes.Internal, "no peer")
				}
				md, _ := metadata.FromIncomingContext(ctx)
				return &testgrpc.SimpleResponse{Username: p.Addr.String() + " " + strings.Join(md[":authority"], ",")}, nil
			}},
		},
	}
}

func dialPlain(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestFeatures: panics become INTERNAL, status details reach the client,
// a deadline and a client's cancellation (RST_STREAM) end the handler's
// context, the peer and :authority are in the context, the send limit is
// enforced, and interceptors run chained in order.
func TestFeatures(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, before) })
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	unary := func(name string) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			note(name + " " + info.FullMethod)
			return h(ctx, req)
		}
	}
	stream := func(name string) grpc.StreamServerInterceptor {
		return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			note(name + " " + info.FullMethod)
			return h(srv, ss)
		}
	}
	gs := NewServer(UnaryInterceptor(unary("u1"), unary("u2")), UnaryInterceptor(unary("u3")),
		StreamInterceptor(stream("s1"), stream("s2")), MaxSendMsgSize(1000), Logger(quietLogger))
	svc := &testService{ended: make(chan error, 1)}
	gs.RegisterService(svc.desc(), svc)
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ts := startKestrel(t, gs)
	conn := dialPlain(t, ts.plain)
	ctx := t.Context()
	var reply testgrpc.SimpleResponse

	err := conn.Invoke(ctx, "/grpcserver.Test/Panic", &testgrpc.Empty{}, &reply)
	if st := status.Convert(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "boom") {
		t.Errorf("panic: %v", err)
	}
	err = conn.Invoke(ctx, "/grpcserver.Test/Details", &testgrpc.Empty{}, &reply)
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || st.Message() != "not now" || len(st.Details()) != 1 {
		t.Errorf("details: %v %v", err, st.Details())
	} else if d, ok := st.Details()[0].(*testgrpc.SimpleResponse); !ok || d.Username != "detail" {
		t.Errorf("detail: %v", st.Details()[0])
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = conn.Invoke(tctx, "/grpcserver.Test/Wait", &testgrpc.Empty{}, &reply)
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("deadline: %v", err)
	}
	if err := <-svc.ended; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.Errorf("the handler's context ended with %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	err = conn.Invoke(cctx, "/grpcserver.Test/Wait", &testgrpc.Empty{}, &reply)
	if status.Code(err) != codes.Canceled {
		t.Errorf("cancel: %v", err)
	}
	select {
	case err := <-svc.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the handler's context ended with %v after RST_STREAM", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("RST_STREAM did not cancel the handler's context")
	}
	if err := conn.Invoke(ctx, "/grpcserver.Test/Peer", &testgrpc.Empty{}, &reply); err != nil {
		t.Error(err)
	} else if host, _, _ := net.SplitHostPort(strings.Fields(reply.Username)[0]); host != "127.0.0.1" || !strings.HasSuffix(reply.Username, ts.plain) {
		t.Errorf("peer and authority: %q", reply.Username)
	}

	tsc := testgrpc.NewTestServiceClient(conn)
	if _, err := tsc.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: 2000}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("reply over MaxSendMsgSize: %v", err)
	}
	order = nil
	if _, err := tsc.EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	fd, err := tsc.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fd.CloseSend()
	if _, err := fd.Recv(); err == nil {
		t.Error("FullDuplexCall: a reply to no request")
	}
	want := []string{"u1 /grpc.testing.TestService/EmptyCall", "u2 /grpc.testing.TestService/EmptyCall", "u3 /grpc.testing.TestService/EmptyCall",
		"s1 /grpc.testing.TestService/FullDuplexCall", "s2 /grpc.testing.TestService/FullDuplexCall"}
	mu.Lock()
	if !slices.Equal(order, want) {
		t.Errorf("interceptors ran %q, want %q", order, want)
	}
	mu.Unlock()
}

// TestHealthAndReflection: grpc-go's health server and reflection service
// work on a Server, with their own clients.
func TestHealthAndReflection(t *testing.T) {
	gs := NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	reflection.Register(gs)
	hs.SetServingStatus("grpc.testing.TestService", healthpb.HealthCheckResponse_SERVING)
	ts := startKestrel(t, gs)
	conn := dialPlain(t, ts.plain)
	ctx := t.Context()

	hc := healthpb.NewHealthClient(conn)
	r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"})
	if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check: %v %v", r, err)
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("health check of an unknown service: %v", err)
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("watch: %v %v", r, err)
	}
	hs.SetServingStatus("grpc.testing.TestService", healthpb.HealthCheckResponse_NOT_SERVING)
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("watch after the change: %v %v", r, err)
	}

	rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	want := []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", "grpc.testing.TestService"}
	if !slices.Equal(names, want) {
		t.Errorf("reflection lists %q, want %q", names, want)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "grpc.testing.TestService"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := rc.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("file containing grpc.testing.TestService: %v %v", resp, err)
	}
	rc.CloseSend()
}

// TestNetHTTP: the Server as an http.Handler on net/http's server, over
// h2c and over TLS, passes grpc-go's interop cases.
func TestNetHTTP(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, before) })
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	cert, key, roots := testCert(t)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	plain := &http.Server{Handler: gs, Protocols: p}
	secure := &http.Server{Handler: gs}
	lp, _ := net.Listen("tcp", "127.0.0.1:0")
	ls, _ := net.Listen("tcp", "127.0.0.1:0")
	go plain.Serve(lp)
	go secure.ServeTLS(ls, cert, key)
	t.Cleanup(func() { plain.Close(); secure.Close() })
	ts := &testServer{plain: lp.Addr().String(), secure: ls.Addr().String(), roots: roots}
	runInterop(t, ts, nil)
}

// TestStatsAndMetrics: a stats.Handler sees each call's events in order,
// and the MeterProvider gets rpc.server.call.duration.
func TestStatsAndMetrics(t *testing.T) {
	sh := &recordingStats{}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	gs := NewServer(StatsHandler(sh), MeterProvider(mp))
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ts := startKestrel(t, gs)
	conn := dialPlain(t, ts.plain)
	tsc := testgrpc.NewTestServiceClient(conn)
	if _, err := tsc.UnaryCall(t.Context(), &testgrpc.SimpleRequest{ResponseSize: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := tsc.UnaryCall(t.Context(), &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: 5, Message: "x"}}); status.Code(err) != codes.NotFound {
		t.Fatal(err)
	}
	want := []string{"tag /grpc.testing.TestService/UnaryCall", "*stats.InHeader", "*stats.Begin", "*stats.InPayload", "*stats.OutHeader", "*stats.OutPayload", "*stats.OutTrailer", "*stats.End"}
	sh.mu.Lock()
	got := sh.events
	sh.mu.Unlock()
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Errorf("stats events %q, want %q first", got, want)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "rpc.server.call.duration" || m.Unit != "s" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				code, _ := dp.Attributes.Value(attribute.Key("rpc.response.status_code"))
				method, _ := dp.Attributes.Value(attribute.Key("rpc.method"))
				sys, _ := dp.Attributes.Value(attribute.Key("rpc.system.name"))
				counts[sys.AsString()+" "+method.AsString()+" "+code.AsString()] += dp.Count
			}
		}
	}
	if counts["grpc grpc.testing.TestService/UnaryCall OK"] != 1 || counts["grpc grpc.testing.TestService/UnaryCall NOT_FOUND"] != 1 {
		t.Errorf("rpc.server.call.duration counts: %v", counts)
	}
}

type recordingStats struct {
	mu     sync.Mutex
	events []string
}

func (r *recordingStats) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recordingStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	r.add("tag " + info.FullMethodName)
	return ctx
}
func (r *recordingStats) HandleRPC(_ context.Context, s stats.RPCStats) {
	r.add(strings.Replace(fmtType(s), "stats.", "stats.", 1))
}
func (r *recordingStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (r *recordingStats) HandleConn(context.Context, stats.ConnStats) {}

func fmtType(v any) string {
	switch v.(type) {
	case *stats.InHeader:
		return "*stats.InHeader"
	case *stats.Begin:
		return "*stats.Begin"
	case *stats.InPayload:
		return "*stats.InPayload"
	case *stats.OutHeader:
		return "*stats.OutHeader"
	case *stats.OutPayload:
		return "*stats.OutPayload"
	case *stats.OutTrailer:
		return "*stats.OutTrailer"
	case *stats.End:
		return "*stats.End"
	}
	return "other"
}

// TestGracefulStop: GracefulStop waits for a call in progress, which
// completes; calls after it fail with UNAVAILABLE; Stop cancels the calls
// in progress, which end with UNAVAILABLE.
func TestGracefulStop(t *testing.T) {
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ts := startKestrel(t, gs)
	conn := dialPlain(t, ts.plain)
	tsc := testgrpc.NewTestServiceClient(conn)
	ctx := t.Context()
	fd, err := tsc.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ping := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 4}}}
	if err := fd.Send(ping); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Recv(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("GracefulStop returned with a call in progress")
	default:
	}
	if _, err := tsc.EmptyCall(ctx, &testgrpc.Empty{}); status.Code(err) != codes.Unavailable {
		t.Errorf("a call after GracefulStop: %v", err)
	}
	if err := fd.Send(ping); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Recv(); err != nil {
		t.Errorf("the call in progress after GracefulStop: %v", err)
	}
	fd.CloseSend()
	if _, err := fd.Recv(); err == nil {
		t.Error("a reply to no request")
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop did not return once the call ended")
	}

	gs2 := NewServer()
	svc := &testService{ended: make(chan error, 1)}
	gs2.RegisterService(svc.desc(), svc)
	ts2 := startKestrel(t, gs2)
	conn2 := dialPlain(t, ts2.plain)
	errc := make(chan error, 1)
	go func() {
		errc <- conn2.Invoke(ctx, "/grpcserver.Test/Wait", &testgrpc.Empty{}, &testgrpc.SimpleResponse{})
	}()
	time.Sleep(100 * time.Millisecond)
	gs2.Stop()
	if err := <-svc.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("Stop: the handler's context ended with %v", err)
	}
	if code := status.Code(<-errc); code != codes.Unavailable { // as grpc-go's Stop, which closes the connection
		t.Errorf("Stop: the call ended with %v", code)
	}
}

// TestQuietClientStream: a client-streaming call may be quiet for longer
// than the server's minimum request body data rate allows (ASP.NET Core's
// gRPC turns the rate off for such calls too), and a message larger than
// the server's request body size limit is still received.
func TestQuietClientStream(t *testing.T) {
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	s := &kestrel.Server{Handler: gs, Logger: quietLogger, Limits: kestrel.Limits{
		MinRequestBodyDataRate: &kestrel.DataRate{BytesPerSecond: 1000, GracePeriod: 2 * time.Second},
		MaxRequestBodySize:     1000,
	}}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn := dialPlain(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
	tsc := testgrpc.NewTestServiceClient(conn)
	fd, err := tsc.FullDuplexCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if i > 0 {
			time.Sleep(3500 * time.Millisecond)
		}
		req := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 4}}, Payload: &testgrpc.Payload{Body: make([]byte, 3000)}}
		if err := fd.Send(req); err != nil {
			t.Fatal(err)
		}
		if _, err := fd.Recv(); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	fd.CloseSend()
	if _, err := fd.Recv(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

func dialPlainB(b *testing.B, addr string) *grpc.ClientConn { return dialPlain(b, addr) }

// reflection.Register takes a Server.
var _ reflection.GRPCServer = (*Server)(nil)

// TestSendCompressorAcceptList: a client may list the compressors it
// accepts in several grpc-accept-encoding fields, which together make one
// list (as grpc-go's server joins them); SendCompressor's compressor
// named in the second field is used, on both paths, over h2c and
// HTTP/1.1 (gRPC-Web).
func TestSendCompressorAcceptList(t *testing.T) {
	gs := NewServer(SendCompressor("gzip"))
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ks := startKestrel(t, gs)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: gs, Protocols: p}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	h2 := h2cClient()
	t.Cleanup(h2.CloseIdleConnections)

	for _, srv := range []struct{ name, addr string }{{"kestrel", ks.plain}, {"nethttp", ln.Addr().String()}} {
		for _, tr := range []struct {
			name, ct string
			c        *http.Client
		}{{"h2c", "application/grpc", h2}, {"http1", "application/grpc-web", http.DefaultClient}} {
			req, _ := http.NewRequest("POST", "http://"+srv.addr+"/grpc.testing.TestService/EmptyCall", strings.NewReader(string(frame(0, nil))))
			req.Header.Set("Content-Type", tr.ct)
			req.Header["Grpc-Accept-Encoding"] = []string{"identity", "deflate, gzip"}
			resp, err := tr.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := resp.Header.Get("Grpc-Encoding"); got != "gzip" {
				t.Errorf("%s/%s: grpc-encoding %q, want gzip", srv.name, tr.name, got)
			}
		}
	}
}

// TestEmptyMessageUncompressed: an empty response message goes out
// uncompressed (flag 0, length 0) even when the call's responses are
// compressed, as grpc-go's server sends it, rather than as a gzip stream
// of about twenty bytes; whether the compressor is the request's or the
// server's SendCompressor, over gRPC and gRPC-Web, on this server's
// native path and on net/http's.
func TestEmptyMessageUncompressed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []Option
		header map[string]string
	}{
		{"request-gzip", nil, map[string]string{"Grpc-Encoding": "gzip", "Grpc-Accept-Encoding": "gzip"}},
		{"send-compressor", []Option{SendCompressor("gzip")}, map[string]string{"Grpc-Accept-Encoding": "gzip"}},
	} {
		gs := NewServer(tc.opts...)
		testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
		ks := startKestrel(t, gs)
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		hs := &http.Server{Handler: gs, Protocols: p}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		h2 := h2cClient()
		t.Cleanup(h2.CloseIdleConnections)
		for _, srv := range []struct{ name, addr string }{{"kestrel", ks.plain}, {"nethttp", ln.Addr().String()}} {
			for _, tr := range []struct {
				name, ct string
				c        *http.Client
			}{{"h2c", "application/grpc", h2}, {"http1", "application/grpc-web", http.DefaultClient}} {
				h := map[string]string{"Content-Type": tr.ct}
				for k, v := range tc.header {
					h[k] = v
				}
				res := rawCall(t, tr.c, "http://"+srv.addr+"/grpc.testing.TestService/EmptyCall", h, frame(0, nil))
				// gRPC-Web: the message, then the trailer frame.
				body := res.body
				if tr.ct == "application/grpc-web" && len(body) > 5 && body[5]&0x80 != 0 {
					body = body[:5]
				}
				if string(body) != string(frame(0, nil)) {
					t.Errorf("%s/%s/%s: response body %x, want one empty uncompressed message", tc.name, srv.name, tr.name, res.body)
				}
			}
		}
	}
}
