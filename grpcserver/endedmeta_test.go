package grpcserver

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestMetadataAfterCallEnded: once a call has ended for its client (a
// RecvMsg failed, which ended it with that status; the client cancelled
// it), grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer fail, as on
// grpc-go's server, rather than report success for metadata that is
// never sent.
func TestMetadataAfterCallEnded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		sends  []int // payload lengths, over MaxRecvMsgSize fails
		cancel bool
	}{
		{"recv failed", []int{2000}, false},
		{"client cancelled", []int{10}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			errs := make(chan [3]error, 1)
			gs := NewServer(MaxRecvMsgSize(1000), Logger(quietLogger))
			gs.RegisterService(&grpc.ServiceDesc{
				ServiceName: "ended.Svc", HandlerType: (*any)(nil),
				Streams: []grpc.StreamDesc{{StreamName: "Bidi", ClientStreams: true, ServerStreams: true,
					Handler: func(_ any, ss grpc.ServerStream) error {
						ctx := ss.Context()
						ss.RecvMsg(new(wrapperspb.BytesValue))
						<-ctx.Done()
						md := metadata.Pairs("k", "v")
						errs <- [3]error{grpc.SetHeader(ctx, md), grpc.SendHeader(ctx, md), grpc.SetTrailer(ctx, md)}
						return nil
					}}},
			}, nil)
			ts := startKestrel(t, gs)
			conn := dialPlain(t, ts.plain)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/ended.Svc/Bidi")
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.sends {
				cs.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, n)})
			}
			if tc.cancel {
				cancel()
			} else {
				cs.CloseSend()
				cs.RecvMsg(new(wrapperspb.BytesValue))
			}
			select {
			case got := <-errs:
				for i, name := range []string{"SetHeader", "SendHeader", "SetTrailer"} {
					if got[i] == nil {
						t.Errorf("%s after the call ended: nil error", name)
					}
				}
			case <-time.After(5 * time.Second):
				t.Fatal("handler did not finish")
			}
		})
	}
}
