package grpcserver

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kestrel-go/kestrel"
)

// TestMaxConnectionAge: behind a kestrel.Server with MaxConnectionAge,
// grpc-go's client moves to a new connection at each GOAWAY without a
// failed call, and a streaming call open across the age goes on to its
// end on the old connection.
func TestMaxConnectionAge(t *testing.T) {
	t.Parallel()
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	var conns atomic.Int32
	s := &kestrel.Server{Handler: gs, Logger: quietLogger, Limits: kestrel.Limits{MaxConnectionAge: 300 * time.Millisecond},
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tsc := testgrpc.NewTestServiceClient(dialPlain(t, strings.TrimPrefix(s.Addresses()[0], "http://")))
	ctx := t.Context()

	fd, err := tsc.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ping := &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 4}}}
	exchange := func(when string) {
		t.Helper()
		if err := fd.Send(ping); err != nil {
			t.Fatalf("the stream %s: %v", when, err)
		}
		if _, err := fd.Recv(); err != nil {
			t.Fatalf("the stream %s: %v", when, err)
		}
	}
	exchange("before the age")

	// The heartbeat retires a connection at its first tick past the age:
	// in 2.5 s, the first connection at 1 s, the second at 2 s.
	n := 0
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); n++ {
		if _, err := tsc.EmptyCall(ctx, &testgrpc.Empty{}); err != nil {
			t.Fatalf("call %d: %v", n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := conns.Load(); got < 3 {
		t.Errorf("%d calls over 2.5 s went on %d connections, want at least 3", n, got)
	}
	exchange("after its connection's GOAWAY")
	if err := fd.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Recv(); err == nil {
		t.Error("a reply to no request")
	}
}
