package grpctest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// The soak cases' settings: grpc-go's interop client's sizes, fewer
// iterations than its defaults (which run for minutes) and no failure
// allowed.
const (
	soakRequestSize  = 271828
	soakResponseSize = 314159
	soakIterations   = 10
	soakWorkers      = 2
	soakMaxLatency   = 5 * time.Second
	soakTimeout      = 15 * time.Second
)

// SoakConfig is what grpc-go's rpc_soak and channel_soak cases need.
type SoakConfig struct {
	// Target names the server in grpc-go's soak messages.
	Target string
	// Conn is the connection rpc_soak makes all its calls on.
	Conn grpc.ClientConnInterface
	// Dial makes the new connection channel_soak makes each call on, and
	// returns the function that closes it.
	Dial func() (grpc.ClientConnInterface, func(), error)
	// Options are the call options of every call.
	Options []grpc.CallOption
}

// SoakCases returns grpc-go's rpc_soak (every large unary call on one
// connection) and channel_soak (each on a new connection), 10 calls of
// 271,828 bytes answered with 314,159 by 2 workers, none slower than 5 s
// nor failing. With grpc-go's own ClientConn and no call options they are
// grpc-go's interop.DoSoakTest; otherwise the same calls and checks are
// made here, as DoSoakTest takes only grpc-go's ClientConn and no call
// options.
func SoakCases(cfg SoakConfig) []Case {
	return []Case{
		{"rpc_soak", func(ctx context.Context) { soak(ctx, cfg, false) }},
		{"channel_soak", func(ctx context.Context) { soak(ctx, cfg, true) }},
	}
}

func soak(ctx context.Context, cfg SoakConfig, newChannel bool) {
	channel := func() (grpc.ClientConnInterface, func()) {
		if !newChannel {
			return cfg.Conn, func() {}
		}
		cc, closeConn, err := cfg.Dial()
		if err != nil {
			grpclog.Fatalf("channel_soak: connecting to %s: %v", cfg.Target, err)
		}
		return cc, closeConn
	}
	if conn, ok := cfg.Conn.(*grpc.ClientConn); ok && len(cfg.Options) == 0 {
		interop.DoSoakTest(ctx, interop.SoakTestConfig{
			RequestSize:                      soakRequestSize,
			ResponseSize:                     soakResponseSize,
			PerIterationMaxAcceptableLatency: soakMaxLatency,
			OverallTimeout:                   soakTimeout,
			ServerAddr:                       cfg.Target,
			NumWorkers:                       soakWorkers,
			Iterations:                       soakIterations,
			ChannelForTest: func() (*grpc.ClientConn, func()) {
				if !newChannel {
					return conn, func() {}
				}
				cc, closeConn := channel()
				c, ok := cc.(*grpc.ClientConn)
				if !ok {
					closeConn()
					grpclog.Fatalf("channel_soak: Dial made a %T, not a *grpc.ClientConn as Conn is", cc)
				}
				return c, closeConn
			},
		})
		return
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	start := time.Now()
	for w := range soakWorkers {
		wg.Go(func() {
			for i := range soakIterations / soakWorkers {
				if time.Since(start) > soakTimeout {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("worker %d: overall timeout of %v reached before iteration %d", w, soakTimeout, i))
					mu.Unlock()
					return
				}
				if err := soakIteration(ctx, channel, cfg.Options); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("worker %d iteration %d: %v", w, i, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		grpclog.Fatalf("soak test against %s: %d of %d iterations failed: %v", cfg.Target, len(failures), soakIterations, failures)
	}
}

func soakIteration(ctx context.Context, channel func() (grpc.ClientConnInterface, func()), opts []grpc.CallOption) error {
	begin := time.Now()
	cc, closeConn := channel()
	defer closeConn()
	reply, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{
		ResponseType: testgrpc.PayloadType_COMPRESSABLE,
		ResponseSize: soakResponseSize,
		Payload:      &testgrpc.Payload{Type: testgrpc.PayloadType_COMPRESSABLE, Body: make([]byte, soakRequestSize)},
	}, opts...)
	if err != nil {
		return fmt.Errorf("/TestService/UnaryCall RPC failed: %w", err)
	}
	if typ, n := reply.GetPayload().GetType(), len(reply.GetPayload().GetBody()); typ != testgrpc.PayloadType_COMPRESSABLE || n != soakResponseSize {
		return fmt.Errorf("got the reply with type %v len %d; want %v, %d", typ, n, testgrpc.PayloadType_COMPRESSABLE, soakResponseSize)
	}
	if d := time.Since(begin); d > soakMaxLatency {
		return fmt.Errorf("took %v, more than the acceptable %v", d, soakMaxLatency)
	}
	return nil
}
