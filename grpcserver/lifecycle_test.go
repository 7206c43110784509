package grpcserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// holdService has Hold, a unary method that waits until release is
// closed, Quick, which answers at once, and Ticks, which streams a
// message every 10 ms until release is closed.
type holdService struct {
	release chan struct{}
	held    chan struct{} // one value per Hold that started
	quick   atomic.Int32  // Quick calls answered
}

func newHoldService() *holdService {
	return &holdService{release: make(chan struct{}), held: make(chan struct{}, 16)}
}

func (s *holdService) desc() *grpc.ServiceDesc {
	handler := func(hold bool) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
		return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(testgrpc.Empty)); err != nil {
				return nil, err
			}
			if !hold {
				s.quick.Add(1)
			}
			if hold {
				s.held <- struct{}{}
				select {
				case <-s.release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return &testgrpc.Empty{}, nil
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: "grpcserver.Hold",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Hold", Handler: handler(true)},
			{MethodName: "Quick", Handler: handler(false)},
		},
		Streams: []grpc.StreamDesc{{StreamName: "Ticks", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
			if err := ss.RecvMsg(new(testgrpc.Empty)); err != nil {
				return err
			}
			s.held <- struct{}{}
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-s.release:
					return nil
				case <-ss.Context().Done():
					return ss.Context().Err()
				case <-tick.C:
					if err := ss.SendMsg(&testgrpc.Empty{}); err != nil {
						return err
					}
				}
			}
		}}},
	}
}

// TestGracefulStopSendsCallsElsewhere: as with grpc-go's GracefulStop, a
// client of two servers whose first is stopping gracefully (a call still
// in progress there) loses no call: the calls it sends the first one are
// refused unprocessed (REFUSED_STREAM) after a GOAWAY, and grpc-go's
// client retries them on the other server; the call in progress finishes.
// The first server's port refuses new connections from GracefulStop on,
// as grpc-go's GracefulStop closes its listener (here the kestrel.Server's
// Shutdown would, after the GracefulStop): a connection the client opened
// to it again would get the retried call refused a second time, which
// grpc-go's client does not retry.
func TestGracefulStopSendsCallsElsewhere(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "h2"}[tls], func(t *testing.T) {
			t.Parallel()
			svcA, svcB := newHoldService(), newHoldService()
			gsA, gsB := NewServer(), NewServer()
			gsA.RegisterService(svcA.desc(), svcA)
			gsB.RegisterService(svcB.desc(), svcB)
			cert, key, roots := testCert(t)
			tsA, tsB := startKestrelCert(t, gsA, cert, key, roots), startKestrelCert(t, gsB, cert, key, roots)
			addrA, addrB, creds := tsA.plain, tsB.plain, insecure.NewCredentials()
			if tls {
				addrA, addrB, creds = tsA.secure, tsB.secure, credentials.NewTLS(tsA.tlsConfig())
			}
			r := manual.NewBuilderWithScheme("gs")
			r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: addrA}, {Addr: addrB}}})
			var closedA atomic.Bool
			dial := func(ctx context.Context, addr string) (net.Conn, error) {
				if addr == addrA && closedA.Load() {
					return nil, errors.New("connection refused")
				}
				return new(net.Dialer).DialContext(ctx, "tcp", addr)
			}
			conn, err := grpc.NewClient("gs:///two", grpc.WithResolvers(r), grpc.WithTransportCredentials(creds),
				grpc.WithContextDialer(dial), grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := t.Context()
			call := func(method string) error {
				return conn.Invoke(ctx, "/grpcserver.Hold/"+method, &testgrpc.Empty{}, &testgrpc.Empty{})
			}
			// The client is connected to both (round robin uses the
			// connections that are ready), and a call is in progress on
			// the first, made on a connection of its own.
			for svcA.quick.Load() == 0 || svcB.quick.Load() == 0 {
				if err := call("Quick"); err != nil {
					t.Fatal(err)
				}
			}
			direct, err := grpc.NewClient(addrA, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close()
			held := make(chan error, 1)
			go func() { held <- direct.Invoke(ctx, "/grpcserver.Hold/Hold", &testgrpc.Empty{}, &testgrpc.Empty{}) }()
			<-svcA.held
			stopped := make(chan struct{})
			closedA.Store(true)
			go func() {
				gsA.GracefulStop()
				close(stopped)
			}()
			for !gsA.isStopped() {
				time.Sleep(time.Millisecond)
			}
			for i := range 20 {
				if err := call("Quick"); err != nil {
					t.Fatalf("call %d after the first server's GracefulStop: %v", i, err)
				}
			}
			select {
			case <-stopped:
				t.Fatal("GracefulStop returned with a call in progress")
			default:
			}
			if n := svcB.quick.Load(); n < 20 {
				t.Errorf("the second server answered %d calls", n)
			}
			close(svcA.release)
			if err := <-held; err != nil {
				t.Errorf("the call in progress: %v", err)
			}
			<-stopped
		})
	}
}

// TestStopEndsCallsUnavailable: the calls in progress that Stop ends, a
// unary and a server-streaming one, end with UNAVAILABLE, as with
// grpc-go's Stop (which closes the connections), not with the CANCELLED
// their handlers return for their cancelled context.
func TestStopEndsCallsUnavailable(t *testing.T) {
	t.Parallel()
	gs := NewServer()
	svc := newHoldService()
	gs.RegisterService(svc.desc(), svc)
	conn := dialPlain(t, startKestrel(t, gs).plain)
	ctx := t.Context()
	unary := make(chan error, 1)
	go func() { unary <- conn.Invoke(ctx, "/grpcserver.Hold/Hold", &testgrpc.Empty{}, &testgrpc.Empty{}) }()
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/grpcserver.Hold/Ticks")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	<-svc.held
	<-svc.held
	streamed := make(chan error, 1)
	go func() {
		for {
			if err := stream.RecvMsg(new(testgrpc.Empty)); err != nil {
				streamed <- err
				return
			}
		}
	}()
	gs.Stop()
	if err := <-unary; status.Code(err) != codes.Unavailable {
		t.Errorf("the unary call: %v, want UNAVAILABLE", err)
	}
	if err := <-streamed; status.Code(err) != codes.Unavailable {
		t.Errorf("the streaming call: %v, want UNAVAILABLE", err)
	}
}

// isStopped reports whether Stop or GracefulStop was called.
func (s *Server) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// TestStoppedRefusesHTTP3: over HTTP/3, a call after GracefulStop is
// refused unprocessed (H3_REQUEST_REJECTED), which a client may retry
// elsewhere, rather than failed with UNAVAILABLE.
func TestStoppedRefusesHTTP3(t *testing.T) {
	t.Parallel()
	gs := NewServer()
	svc := newHoldService()
	gs.RegisterService(svc.desc(), svc)
	base, tr := startHTTP3(t, gs)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	post := func() (*http.Response, error) {
		req, _ := http.NewRequest("POST", base+"/grpcserver.Hold/Quick", bytes.NewReader(frame(0, nil)))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("TE", "trailers")
		return c.Do(req)
	}
	resp, err := post()
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("before GracefulStop: %v %v", resp.Status, resp.Trailer)
	}
	gs.GracefulStop()
	resp, err = post()
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("a call after GracefulStop was answered: %v %q %v", resp.Status, b, resp.Trailer)
	}
	var he *http3.Error
	if !errors.As(err, &he) || he.ErrorCode != http3.ErrCodeRequestRejected || !he.Remote {
		t.Errorf("a call after GracefulStop: %v, want the stream reset with H3_REQUEST_REJECTED", err)
	}
}
