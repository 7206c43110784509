package grpcserver

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestSendMsgErrorAfterCallEnded: once a call has ended (a RecvMsg
// failed, the client cancelled), SendMsg still reports a message it
// could not send whatever the call's state, a message over
// MaxSendMsgSize (RESOURCE_EXHAUSTED) or one that does not marshal
// (INTERNAL), as grpc-go's server, which checks the message before the
// stream; only a message it could send fails with the call's end. The
// same table runs against grpc-go's server, the model.
func TestSendMsgErrorAfterCallEnded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		send   int // the client's message's length: over MaxRecvMsgSize fails
		cancel bool
	}{
		{"recv failed", 2000, false},
		{"client cancelled", 10, true},
	}
	want := []string{
		"ResourceExhausted trying to send message larger than max (2003 vs. 1000)",
		"Internal grpc: error while marshaling: string field contains invalid UTF-8",
		"Canceled context canceled",
	}
	servers := []struct {
		name  string
		start func(t *testing.T, desc *grpc.ServiceDesc) string
	}{
		{"grpcserver", func(t *testing.T, desc *grpc.ServiceDesc) string {
			gs := NewServer(MaxRecvMsgSize(1000), MaxSendMsgSize(1000), Logger(quietLogger))
			gs.RegisterService(desc, nil)
			return startKestrel(t, gs).plain
		}},
		{"grpc-go", func(t *testing.T, desc *grpc.ServiceDesc) string {
			g := grpc.NewServer(grpc.MaxRecvMsgSize(1000), grpc.MaxSendMsgSize(1000))
			g.RegisterService(desc, nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go g.Serve(ln)
			t.Cleanup(g.Stop)
			return ln.Addr().String()
		}},
	}
	for _, srv := range servers {
		for _, tc := range cases {
			t.Run(srv.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				blocked := make(chan struct{})
				errs := make(chan []string, 1)
				addr := srv.start(t, &grpc.ServiceDesc{
					ServiceName: "sendended.Svc", HandlerType: (*any)(nil),
					Streams: []grpc.StreamDesc{{StreamName: "Bidi", ClientStreams: true, ServerStreams: true,
						Handler: func(_ any, ss grpc.ServerStream) error {
							ctx := ss.Context()
							ss.RecvMsg(new(wrapperspb.BytesValue))
							close(blocked)
							<-ctx.Done()
							var got []string
							for _, m := range []any{
								&wrapperspb.BytesValue{Value: make([]byte, 2000)},
								wrapperspb.String("\xff"),
								&wrapperspb.BytesValue{Value: []byte("fits")},
							} {
								st := status.Convert(ss.SendMsg(m))
								got = append(got, st.Code().String()+" "+st.Message())
							}
							errs <- got
							return nil
						}}},
				})
				conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/sendended.Svc/Bidi")
				if err != nil {
					t.Fatal(err)
				}
				cs.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, tc.send)})
				<-blocked
				if tc.cancel {
					cancel()
				}
				got := <-errs
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("SendMsg %d: %q, want %q", i, got[i], want[i])
					}
				}
			})
		}
	}
}
