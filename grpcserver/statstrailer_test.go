package grpcserver

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// eventKinds is a stats.Handler that records the kinds of a call's
// events, and closes ended at End.
type eventKinds struct {
	mu    sync.Mutex
	kinds []string
	ended chan struct{}
}

func (h *eventKinds) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h *eventKinds) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (h *eventKinds) HandleConn(context.Context, stats.ConnStats) {}
func (h *eventKinds) HandleRPC(_ context.Context, s stats.RPCStats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kinds = append(h.kinds, reflect.TypeOf(s).Elem().Name())
	if _, ok := s.(*stats.End); ok {
		close(h.ended)
	}
}

// TestStatsOutTrailerOnlyWhenSent: a stats.Handler is told of OutHeader
// and OutTrailer when the call's head and status go out, not for a call
// its client cancelled (the stream reset, nothing sent), as grpc-go's
// server reports them.
func TestStatsOutTrailerOnlyWhenSent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cancel bool
		want   []string
	}{
		{"answered", false, []string{"InHeader", "Begin", "InPayload", "OutHeader", "OutTrailer", "End"}},
		{"cancelled by the client", true, []string{"InHeader", "Begin", "InPayload", "End"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := &eventKinds{ended: make(chan struct{})}
			gs := NewServer(StatsHandler(h), Logger(quietLogger))
			started := make(chan struct{})
			gs.RegisterService(&grpc.ServiceDesc{
				ServiceName: "statstrailer.Svc", HandlerType: (*any)(nil),
				Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
					var in wrapperspb.BytesValue
					if err := dec(&in); err != nil {
						return nil, err
					}
					grpc.SetHeader(ctx, metadata.Pairs("set", "1")) // sent with the status
					close(started)
					if tc.cancel {
						<-ctx.Done()
						return nil, ctx.Err()
					}
					return nil, status.Error(codes.NotFound, "no")
				}}},
			}, nil)
			ts := startKestrel(t, gs)
			conn := dialPlain(t, ts.plain)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-started
				if tc.cancel {
					cancel()
				}
			}()
			conn.Invoke(ctx, "/statstrailer.Svc/Call", &wrapperspb.BytesValue{}, new(wrapperspb.BytesValue))
			select {
			case <-h.ended:
			case <-time.After(5 * time.Second):
				t.Fatal("no End")
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if !reflect.DeepEqual(h.kinds, tc.want) {
				t.Errorf("events %q, want %q", h.kinds, tc.want)
			}
		})
	}
}
