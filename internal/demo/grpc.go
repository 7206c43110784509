package demo

import (
	"net/http"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/grpcserver"
)

// The demo's gRPC services, on package grpcserver beside the web pages:
// grpc-go's interop grpc.testing.TestService (so grpc-go's interop client
// and ghz have something to call), grpc.health.v1.Health, and server
// reflection (so grpcurl and ghz need no .proto files). gRPC and gRPC-Web
// requests are told from the rest by their Content-Type.

// newGRPC returns the demo's gRPC server and its health service.
func newGRPC() (*grpcserver.Server, *health.Server) {
	gs := grpcserver.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	return gs, hs
}

// Draining turns the demo's gRPC health service to NOT_SERVING for good,
// as the server's readiness turns to 503: give it to
// kestrel.Server.RegisterOnDraining.
func (a *App) Draining() {
	a.health.Shutdown()
}

// serveGRPCNative serves c with the gRPC server when it is a gRPC or
// gRPC-Web call, and reports whether it was.
func (a *App) serveGRPCNative(c *kestrel.Context) bool {
	if string(c.Method()) != http.MethodPost || !grpcserver.IsGRPCContentType(string(c.Header("Content-Type"))) {
		return false
	}
	a.grpc.ServeKestrel(c)
	return true
}

// serveGRPC is serveGRPCNative for net/http's types.
func (a *App) serveGRPC(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || !grpcserver.IsGRPCContentType(r.Header.Get("Content-Type")) {
		return false
	}
	a.grpc.ServeHTTP(w, r)
	return true
}
