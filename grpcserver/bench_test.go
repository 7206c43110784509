package grpcserver

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// BenchmarkUnary: unary calls from grpc-go's client on one h2c
// connection, to grpc-go's interop service on this package's server
// (native path on kestrel.Server) and on grpc-go's own (Serve). Both run
// in the benchmark's process, so the allocations and time per call count
// the client's as well; the difference between the two is the servers'.
func BenchmarkUnary(b *testing.B) {
	req := &testgrpc.SimpleRequest{ResponseSize: 13, Payload: &testgrpc.Payload{Body: []byte("Hello, World!")}}
	run := func(b *testing.B, addr string) {
		conn := dialPlainB(b, addr)
		tsc := testgrpc.NewTestServiceClient(conn)
		b.ReportAllocs()
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tsc.UnaryCall(b.Context(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("grpcserver", func(b *testing.B) {
		gs := NewServer()
		testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
		run(b, startKestrelB(b, gs))
	})
	b.Run("grpc-go", func(b *testing.B) {
		gs := grpc.NewServer()
		testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go gs.Serve(ln)
		b.Cleanup(gs.Stop)
		run(b, ln.Addr().String())
	})
}
