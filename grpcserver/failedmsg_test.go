package grpcserver

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestFailedMessageEndsCall: a RecvMsg or SendMsg that fails (a message
// over MaxRecvMsgSize, over it once decompressed, over MaxSendMsgSize)
// ends the call with its status, as grpc-go's server writes it at once,
// whatever the handler does after: one that ignores the error and
// returns nil does not answer OK, its later messages are not sent, and
// its later metadata is not either.
func TestFailedMessageEndsCall(t *testing.T) {
	t.Parallel()
	type handler func(ss grpc.ServerStream) error
	ignore := func(ss grpc.ServerStream) error { // reads all, ignoring errors
		for {
			err := ss.RecvMsg(new(wrapperspb.BytesValue))
			if err == io.EOF || errors.Is(ss.Context().Err(), context.Canceled) {
				break
			}
		}
		ss.SetTrailer(metadata.Pairs("late", "1"))
		return nil
	}
	sendBig := func(ss grpc.ServerStream) error {
		ss.RecvMsg(new(wrapperspb.BytesValue))
		ss.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, 2000)}) // over MaxSendMsgSize
		ss.SendMsg(&wrapperspb.BytesValue{Value: []byte("after")})
		ss.SetTrailer(metadata.Pairs("late", "1"))
		return nil
	}
	cases := []struct {
		name    string
		h       handler
		sends   []int
		gzip    bool
		want    codes.Code
		wantMsg string
	}{
		{"recv over the limit", ignore, []int{10, 1500, 10}, false, codes.ResourceExhausted, "grpc: received message larger than max (1503 vs. 1000)"},
		{"recv over the limit decompressed", ignore, []int{10, 1500}, true, codes.ResourceExhausted, "grpc: received message after decompression larger than max 1000"},
		{"send over the limit", sendBig, []int{10}, false, codes.ResourceExhausted, "trying to send message larger than max (2003 vs. 1000)"},
		{"within the limits", ignore, []int{10, 990}, false, codes.OK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gs := NewServer(MaxRecvMsgSize(1000), MaxSendMsgSize(1000), Logger(quietLogger))
			gs.RegisterService(&grpc.ServiceDesc{
				ServiceName: "failed.Svc", HandlerType: (*any)(nil),
				Streams: []grpc.StreamDesc{{StreamName: "Bidi", ClientStreams: true, ServerStreams: true,
					Handler: func(_ any, ss grpc.ServerStream) error { return tc.h(ss) }}},
			}, nil)
			ts := startKestrel(t, gs)
			conn := dialPlain(t, ts.plain)
			var opts []grpc.CallOption
			if tc.gzip {
				opts = append(opts, grpc.UseCompressor(gzip.Name))
			}
			cs, err := conn.NewStream(context.Background(), &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/failed.Svc/Bidi", opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.sends {
				if cs.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, n)}) != nil {
					break
				}
			}
			cs.CloseSend()
			var got int
			for {
				if err = cs.RecvMsg(new(wrapperspb.BytesValue)); err != nil {
					break
				}
				got++
			}
			st := status.Convert(err)
			if err == io.EOF {
				st = status.New(codes.OK, "")
			}
			if st.Code() != tc.want || st.Message() != tc.wantMsg {
				t.Errorf("status %v %q, want %v %q", st.Code(), st.Message(), tc.want, tc.wantMsg)
			}
			if got != 0 {
				t.Errorf("%d messages after the failed one", got)
			}
			if late := cs.Trailer().Get("late"); tc.want != codes.OK && len(late) > 0 {
				t.Errorf("trailer set after the failure sent: %q", late)
			}
		})
	}
}
