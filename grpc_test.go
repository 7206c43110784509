package kestrel

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kestrel-go/kestrel/internal/nginxtest"
)

// The interop cases report a failure with grpclog's Fatal, which would end
// the test binary (os.Exit). This logger records the message and ends
// only the goroutine running the case, which runInteropCase waits for.
func init() { grpclog.SetLoggerV2(&interopLog) }

var interopLog interopLogger

type interopLogger struct {
	mu    sync.Mutex
	fatal string
}

func (l *interopLogger) fail(args ...any) {
	l.mu.Lock()
	l.fatal = fmt.Sprint(args...)
	l.mu.Unlock()
	runtime.Goexit()
}

func (l *interopLogger) takeFatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fatal
	l.fatal = ""
	return f
}

func (l *interopLogger) Info(...any)                       {}
func (l *interopLogger) Infoln(...any)                     {}
func (l *interopLogger) Infof(string, ...any)              {}
func (l *interopLogger) Warning(...any)                    {}
func (l *interopLogger) Warningln(...any)                  {}
func (l *interopLogger) Warningf(string, ...any)           {}
func (l *interopLogger) Error(...any)                      {}
func (l *interopLogger) Errorln(...any)                    {}
func (l *interopLogger) Errorf(string, ...any)             {}
func (l *interopLogger) Fatal(args ...any)                 { l.fail(args...) }
func (l *interopLogger) Fatalln(args ...any)               { l.fail(args...) }
func (l *interopLogger) Fatalf(format string, args ...any) { l.fail(fmt.Sprintf(format, args...)) }
func (l *interopLogger) V(int) bool                        { return false }

// interopMu runs one interop case at a time: the logger is global.
var interopMu sync.Mutex

// runInteropCase runs one of grpc-go's interop client cases with a
// 15-second deadline and fails the test with the message the case
// reported.
func runInteropCase(t *testing.T, name string, f func(ctx context.Context)) {
	t.Helper()
	interopMu.Lock()
	defer interopMu.Unlock()
	interopLog.takeFatal()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ctx)
	}()
	<-done
	if msg := interopLog.takeFatal(); msg != "" {
		t.Errorf("%s failed: %s", name, msg)
	} else if ctx.Err() != nil {
		t.Errorf("%s did not finish in 15 s", name)
	}
}

// interopCase is one of grpc-go's interop client cases.
type interopCase struct {
	name string
	f    func(context.Context)
}

// interopCases are grpc-go's interop client cases that need only a
// connection (the soak cases need their configuration too).
func interopCases(conn *grpc.ClientConn) []interopCase {
	tsc := testgrpc.NewTestServiceClient(conn)
	return []interopCase{
		{"empty_unary", func(ctx context.Context) { interop.DoEmptyUnaryCall(ctx, tsc) }},
		{"large_unary", func(ctx context.Context) { interop.DoLargeUnaryCall(ctx, tsc) }},
		{"client_streaming", func(ctx context.Context) { interop.DoClientStreaming(ctx, tsc) }},
		{"server_streaming", func(ctx context.Context) { interop.DoServerStreaming(ctx, tsc) }},
		{"ping_pong", func(ctx context.Context) { interop.DoPingPong(ctx, tsc) }},
		{"empty_stream", func(ctx context.Context) { interop.DoEmptyStream(ctx, tsc) }},
		{"timeout_on_sleeping_server", func(ctx context.Context) { interop.DoTimeoutOnSleepingServer(ctx, tsc) }},
		{"cancel_after_begin", func(ctx context.Context) { interop.DoCancelAfterBegin(ctx, tsc) }},
		{"cancel_after_first_response", func(ctx context.Context) { interop.DoCancelAfterFirstResponse(ctx, tsc) }},
		{"status_code_and_message", func(ctx context.Context) { interop.DoStatusCodeAndMessage(ctx, tsc) }},
		{"special_status_message", func(ctx context.Context) { interop.DoSpecialStatusMessage(ctx, tsc) }},
		{"custom_metadata", func(ctx context.Context) { interop.DoCustomMetadata(ctx, tsc) }},
		{"unimplemented_method", func(ctx context.Context) { interop.DoUnimplementedMethod(ctx, conn) }},
		{"unimplemented_service", func(ctx context.Context) {
			interop.DoUnimplementedService(ctx, testgrpc.NewUnimplementedServiceClient(conn))
		}},
	}
}

// grpcOrHTTP serves gRPC and plain HTTP on one port, as the README shows:
// gRPC requests are HTTP/2 with a Content-Type of application/grpc.
func grpcOrHTTP(gs *grpc.Server, other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
}

// TestGRPCInterop runs grpc-go's own interop client cases against its
// interop test server mounted as a handler (grpc.Server.ServeHTTP), over
// h2c on the default cleartext endpoint and over TLS, with plain HTTP
// served on the same ports.
func TestGRPCInterop(t *testing.T) {
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	t.Cleanup(gs.Stop)
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "plain %s", r.Proto) })
	s := startH2(t, &Server{Handler: grpcOrHTTP(gs, plain)})

	for _, tc := range []struct {
		name  string
		addr  string
		creds credentials.TransportCredentials
	}{
		{"h2c", s.plain, insecure.NewCredentials()},
		{"tls", s.secure, credentials.NewTLS(&tls.Config{RootCAs: s.roots, ServerName: "localhost"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []grpc.DialOption{grpc.WithTransportCredentials(tc.creds)}
			conn, err := grpc.NewClient(tc.addr, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			soak := func(channel bool) interop.SoakTestConfig {
				cfg := interop.SoakTestConfig{
					RequestSize: 271828, ResponseSize: 314159,
					PerIterationMaxAcceptableLatency: 5 * time.Second,
					OverallTimeout:                   10 * time.Second,
					ServerAddr:                       tc.addr,
					NumWorkers:                       2,
					Iterations:                       10,
					ChannelForTest:                   func() (*grpc.ClientConn, func()) { return conn, func() {} },
				}
				if channel {
					cfg.ChannelForTest = func() (*grpc.ClientConn, func()) {
						cc, err := grpc.NewClient(tc.addr, opts...)
						if err != nil {
							t.Errorf("channel soak: %v", err)
							runtime.Goexit()
						}
						return cc, func() { cc.Close() }
					}
				}
				return cfg
			}
			cases := append(interopCases(conn),
				interopCase{"rpc_soak", func(ctx context.Context) { interop.DoSoakTest(ctx, soak(false)) }},
				interopCase{"channel_soak", func(ctx context.Context) { interop.DoSoakTest(ctx, soak(true)) }},
			)
			for _, c := range cases {
				runInteropCase(t, c.name, c.f)
			}
		})
	}

	// Plain HTTP shares the ports: HTTP/1.1 and HTTP/2.
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}, Timeout: 10 * time.Second}
	t.Cleanup(h1.CloseIdleConnections)
	for _, base := range []string{"http://" + s.plain, "https://" + s.secure} {
		if _, body := get(t, h1, base+"/"); body != "plain HTTP/1.1" {
			t.Errorf("%s over HTTP/1.1: %q", base, body)
		}
	}
	for _, c := range s.clients(t) {
		if _, body := doH2(t, c, newReq(t, "GET", c.base+"/", nil)); body != "plain HTTP/2.0" {
			t.Errorf("%s: %q", c.name, body)
		}
	}
}

// TestGRPCBehindNginx: nginx's grpc_pass, as deployed in front of a gRPC
// service, speaks h2c to this server over a Unix socket (an Http2
// endpoint) and over TCP (the default Http1AndHttp2 endpoint), and
// grpc-go's interop cases pass through it.
func TestGRPCBehindNginx(t *testing.T) {
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	t.Cleanup(gs.Stop)
	sock := filepath.Join(t.TempDir(), "grpc.sock")
	s := &Server{Handler: gs, Logger: quietLogger}
	s.ListenEndpoint(Endpoint{UnixPath: sock, Protocols: HTTP2})
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tcp := strings.TrimPrefix(s.Addresses()[1], "http://")

	for _, upstream := range []struct{ name, server string }{{"unix", "unix:" + sock}, {"tcp", tcp}} {
		front := nginxtest.Start(t, func(listen string) string {
			return `upstream grpcapp { server ` + upstream.server + `; keepalive 8; }
	server {
		listen ` + listen + ` http2;
		location / { grpc_pass grpc://grpcapp; }
	}`
		})
		conn, err := grpc.NewClient(front, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(upstream.name, func(t *testing.T) {
			for _, c := range interopCases(conn) {
				runInteropCase(t, c.name, c.f)
			}
		})
		conn.Close()
	}
}
