package grpcserver

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kestrel-go/kestrel/internal/grpctest"
)

// interopCases are grpc-go's interop client cases that need only a
// server, and its two soak cases.
func interopCases(t *testing.T, conn *grpc.ClientConn, addr string, opts []grpc.DialOption, callOpts ...grpc.CallOption) map[string]func(context.Context) {
	tsc := testgrpc.NewTestServiceClient(conn)
	soak := func(channel bool) interop.SoakTestConfig {
		cfg := interop.SoakTestConfig{
			RequestSize: 271828, ResponseSize: 314159,
			PerIterationMaxAcceptableLatency: 5 * time.Second,
			OverallTimeout:                   15 * time.Second,
			ServerAddr:                       addr,
			NumWorkers:                       2,
			Iterations:                       10,
			ChannelForTest:                   func() (*grpc.ClientConn, func()) { return conn, func() {} },
		}
		if channel {
			cfg.ChannelForTest = func() (*grpc.ClientConn, func()) {
				cc, err := grpc.NewClient(addr, opts...)
				if err != nil {
					t.Errorf("channel soak: %v", err)
					runtime.Goexit()
				}
				return cc, func() { cc.Close() }
			}
		}
		return cfg
	}
	return map[string]func(context.Context){
		"empty_unary":                 func(ctx context.Context) { interop.DoEmptyUnaryCall(ctx, tsc, callOpts...) },
		"large_unary":                 func(ctx context.Context) { interop.DoLargeUnaryCall(ctx, tsc, callOpts...) },
		"client_streaming":            func(ctx context.Context) { interop.DoClientStreaming(ctx, tsc, callOpts...) },
		"server_streaming":            func(ctx context.Context) { interop.DoServerStreaming(ctx, tsc, callOpts...) },
		"ping_pong":                   func(ctx context.Context) { interop.DoPingPong(ctx, tsc, callOpts...) },
		"empty_stream":                func(ctx context.Context) { interop.DoEmptyStream(ctx, tsc, callOpts...) },
		"timeout_on_sleeping_server":  func(ctx context.Context) { interop.DoTimeoutOnSleepingServer(ctx, tsc, callOpts...) },
		"cancel_after_begin":          func(ctx context.Context) { interop.DoCancelAfterBegin(ctx, tsc, callOpts...) },
		"cancel_after_first_response": func(ctx context.Context) { interop.DoCancelAfterFirstResponse(ctx, tsc, callOpts...) },
		"status_code_and_message":     func(ctx context.Context) { interop.DoStatusCodeAndMessage(ctx, tsc, callOpts...) },
		"special_status_message":      func(ctx context.Context) { interop.DoSpecialStatusMessage(ctx, tsc, callOpts...) },
		"custom_metadata":             func(ctx context.Context) { interop.DoCustomMetadata(ctx, tsc, callOpts...) },
		"unimplemented_method":        func(ctx context.Context) { interop.DoUnimplementedMethod(ctx, conn) },
		"unimplemented_service": func(ctx context.Context) {
			interop.DoUnimplementedService(ctx, testgrpc.NewUnimplementedServiceClient(conn))
		},
		"rpc_soak":     func(ctx context.Context) { interop.DoSoakTest(ctx, soak(false)) },
		"channel_soak": func(ctx context.Context) { interop.DoSoakTest(ctx, soak(true)) },
	}
}

var caseOrder = []string{"empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
	"empty_stream", "timeout_on_sleeping_server", "cancel_after_begin", "cancel_after_first_response",
	"status_code_and_message", "special_status_message", "custom_metadata", "unimplemented_method",
	"unimplemented_service", "rpc_soak", "channel_soak"}

// TestInterop runs grpc-go's interop client cases against its interop
// test service registered on a Server, served by kestrel.Server (the
// native path) over h2c and h2, with the client compressing, with the
// server compressing, and with neither; then checks nothing leaked.
func TestInterop(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, before) }) // after the server closes
	for _, comp := range []struct {
		name   string
		server []Option
		call   []grpc.CallOption
	}{
		{"plain", nil, nil},
		{"client-gzip", nil, []grpc.CallOption{grpc.UseCompressor(gzip.Name)}},
		{"server-gzip", []Option{SendCompressor(gzip.Name)}, nil},
	} {
		t.Run(comp.name, func(t *testing.T) {
			gs := NewServer(comp.server...)
			testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
			runInterop(t, startKestrel(t, gs), comp.call)
		})
	}
}

// runInterop runs the interop cases over h2c and h2 against ts.
func runInterop(t *testing.T, ts *testServer, callOpts []grpc.CallOption) {
	for _, tr := range []struct {
		name  string
		addr  string
		creds credentials.TransportCredentials
	}{
		{"h2c", ts.plain, insecure.NewCredentials()},
		{"h2", ts.secure, credentials.NewTLS(ts.tlsConfig())},
	} {
		t.Run(tr.name, func(t *testing.T) {
			opts := []grpc.DialOption{grpc.WithTransportCredentials(tr.creds)}
			conn, err := grpc.NewClient(tr.addr, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cases := interopCases(t, conn, tr.addr, opts, callOpts...)
			for _, name := range caseOrder {
				grpctest.Run(t, grpctest.Case{Name: name, Run: cases[name]})
			}
		})
	}
}
