package grpcserver_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/grpcserver"
)

// A gRPC service registered as on grpc.Server, served by kestrel.Server's
// own HTTP/2 engine: the Server is the kestrel.Server's Handler.
func ExampleServer() {
	gs := grpcserver.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer()) // pb.RegisterXServer(gs, impl) for your services
	reflection.Register(gs)

	srv := &kestrel.Server{Handler: gs, Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	defer gs.GracefulStop() // before srv.Close: lets the calls in progress finish

	addr := strings.TrimPrefix(srv.Addresses()[0], "http://")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	r, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Status)
	// Output: SERVING
}

// A gRPC health service that tells its watchers and Kubernetes' grpc
// probes NOT_SERVING as soon as Shutdown begins its DrainDelay, while the
// server still serves, as the kestrel.Server's ReadinessHandler does.
func Example_healthWhileDraining() {
	gs := grpcserver.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)

	srv := &kestrel.Server{Handler: gs, DrainDelay: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	srv.RegisterOnDraining(hs.Shutdown)
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	conn, err := grpc.NewClient(strings.TrimPrefix(srv.Addresses()[0], "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		r, err := watch.Recv()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.Status)
		if r.Status == healthpb.HealthCheckResponse_SERVING {
			go srv.Shutdown(context.Background()) // as SIGTERM does under kestrel.Service
		}
	}
	// Output:
	// SERVING
	// NOT_SERVING
}

// One port serving gRPC, gRPC-Web and web pages: requests with a gRPC
// Content-Type go to the gRPC server on the native path, the others to
// an http.ServeMux.
func Example_onePort() {
	gs := grpcserver.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home page") })

	srv := &kestrel.Server{
		Handler: mux,
		NativeHandler: kestrel.NativeHandlerFunc(func(c *kestrel.Context) {
			if grpcserver.IsGRPCContentType(string(c.Header("Content-Type"))) {
				gs.ServeKestrel(c) // gRPC and gRPC-Web
				return
			}
			c.ServeHTTP(mux)
		}),
		Logger: slog.New(slog.DiscardHandler),
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	base := srv.Addresses()[0]

	resp, err := http.Get(base + "/")
	if err != nil {
		log.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(page))

	conn, err := grpc.NewClient(strings.TrimPrefix(base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	r, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Status)

	// gRPC-Web, as a browser sends it: an empty HealthCheckRequest.
	resp, err = http.Post(base+"/grpc.health.v1.Health/Check", "application/grpc-web+proto", strings.NewReader("\x00\x00\x00\x00\x00"))
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%s %q\n", resp.Header.Get("Content-Type"), body)
	// Output:
	// home page
	// SERVING
	// application/grpc-web+proto "\x00\x00\x00\x00\x02\b\x01\x80\x00\x00\x00\x10grpc-status: 0\r\n"
}
