package grpctest_test

import (
	"context"
	"encoding/json"
	"go/build"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/grpcserver"
	"github.com/kestrel-go/kestrel/internal/grpcclient"
	"github.com/kestrel-go/kestrel/internal/grpctest"
)

// nativeServer is grpc-go's interop test service on package grpcserver,
// with health and reflection, as the kestrel command's demo serves it.
func nativeServer(opts ...grpcserver.Option) (*grpcserver.Server, *health.Server) {
	gs := grpcserver.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	return gs, hs
}

// h3Conn is a gRPC connection over HTTP/3 (quic-go) to e's HTTPS endpoint,
// closed when the test ends.
func h3Conn(t *testing.T, e *grpctest.Endpoints) *grpcclient.Conn {
	tr := &http3.Transport{TLSClientConfig: e.ClientTLS()}
	t.Cleanup(func() { tr.Close() })
	return &grpcclient.Conn{Target: "https://" + e.Secure, Transport: &onlyHTTP3{t: t, rt: tr}, AcceptCompressors: []string{gzip.Name}}
}

// onlyHTTP3 fails the test on a response that did not come over HTTP/3.
type onlyHTTP3 struct {
	t  *testing.T
	rt http.RoundTripper
}

func (o *onlyHTTP3) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.rt.RoundTrip(r)
	if err == nil && resp.ProtoMajor != 3 {
		o.t.Errorf("%s answered over %s", r.URL.Path, resp.Proto)
	}
	return resp, err
}

// TestNativeInteropHTTP3 runs grpc-go's interop client cases against
// package grpcserver on this server over HTTP/3 (grpc-go has no HTTP/3
// client; the cases run on internal/grpcclient with quic-go's transport):
// plainly, with the client compressing its messages (and the server its
// responses, as grpc-go's does when the request was compressed), and with
// only the server compressing (SendCompressor).
func TestNativeInteropHTTP3(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server []grpcserver.Option
		call   []grpc.CallOption
	}{
		{"plain", nil, nil},
		{"client-gzip", nil, []grpc.CallOption{grpc.UseCompressor(gzip.Name)}},
		{"server-gzip", []grpcserver.Option{grpcserver.SendCompressor(gzip.Name)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs, _ := nativeServer(tc.server...)
			e := grpctest.Start(t, &kestrel.Server{Handler: gs})
			rec := &encodingCount{rt: h3Conn(t, e).Transport}
			conn := &grpcclient.Conn{Target: "https://" + e.Secure, Transport: rec, AcceptCompressors: []string{gzip.Name}}
			dial := func() (grpc.ClientConnInterface, func(), error) {
				c := h3Conn(t, e)
				return c, func() { c.Transport.(*onlyHTTP3).rt.(*http3.Transport).Close() }, nil
			}
			grpctest.RunAll(t, append(grpctest.Cases(conn, tc.call...),
				grpctest.SoakCases(grpctest.SoakConfig{Target: e.Secure, Conn: conn, Dial: dial, Options: tc.call})...))
			if tc.name != "plain" && rec.gzipResponses.Load() == 0 {
				t.Errorf("no response was compressed")
			}
			if tc.name == "plain" && rec.gzipResponses.Load() != 0 {
				t.Errorf("%d responses compressed, none asked for", rec.gzipResponses.Load())
			}
		})
	}
}

// encodingCount counts the responses compressed with gzip.
type encodingCount struct {
	rt            http.RoundTripper
	gzipResponses atomic.Int64 // the soak cases make calls at once
}

func (e *encodingCount) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := e.rt.RoundTrip(r)
	if err == nil && resp.Header.Get("Grpc-Encoding") == "gzip" {
		e.gzipResponses.Add(1)
	}
	return resp, err
}

// TestNativeBehindNginx: grpc-go's interop cases through nginx's
// grpc_pass to package grpcserver on this server, over a Unix socket (an
// Http2 endpoint) and over TCP (the default Http1AndHttp2 endpoint),
// plainly and with gzip both ways.
func TestNativeBehindNginx(t *testing.T) {
	gs, _ := nativeServer()
	sock := filepath.Join(t.TempDir(), "grpc.sock")
	s := &kestrel.Server{Handler: gs, Logger: quietLogger}
	s.ListenEndpoint(kestrel.Endpoint{UnixPath: sock, Protocols: kestrel.HTTP2})
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tcp := strings.TrimPrefix(s.Addresses()[1], "http://")
	t.Run("plain", func(t *testing.T) { grpcBehindNginx(t, nil, "unix:"+sock, tcp) })
	t.Run("gzip", func(t *testing.T) {
		grpcBehindNginx(t, []grpc.CallOption{grpc.UseCompressor(gzip.Name)}, "unix:"+sock, tcp)
	})
}

// TestNativeHealth: grpc-go's health client checks and watches a service
// on package grpcserver, over h2c with grpc-go's client and over HTTP/3.
func TestNativeHealth(t *testing.T) {
	gs, hs := nativeServer()
	e := grpctest.Start(t, &kestrel.Server{Handler: gs})
	cc, err := grpc.NewClient(e.Plain, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, c := range []struct {
		name string
		cc   grpc.ClientConnInterface
	}{{"h2c", cc}, {"h3", h3Conn(t, e)}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			hc := healthpb.NewHealthClient(c.cc)
			hs.SetServingStatus("grpc.testing.TestService", healthpb.HealthCheckResponse_SERVING)
			for svc, want := range map[string]healthpb.HealthCheckResponse_ServingStatus{
				"":                         healthpb.HealthCheckResponse_SERVING,
				"grpc.testing.TestService": healthpb.HealthCheckResponse_SERVING,
			} {
				resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err != nil || resp.GetStatus() != want {
					t.Errorf("Check(%q) = %v, %v; want %v", svc, resp.GetStatus(), err, want)
				}
			}
			if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); status.Code(err) != codes.NotFound {
				t.Errorf("Check of an unknown service: %v, want NotFound", err)
			}
			// Watch sees the current status, then each change.
			w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Watch: first %v, %v; want SERVING", r.GetStatus(), err)
			}
			hs.SetServingStatus("grpc.testing.TestService", healthpb.HealthCheckResponse_NOT_SERVING)
			if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Fatalf("Watch: after the change %v, %v; want NOT_SERVING", r.GetStatus(), err)
			}
			if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "grpc.testing.TestService"}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("Check after the change: %v, %v", r.GetStatus(), err)
			}
		})
	}
}

// ghzPath finds ghz, installed by scripts/install-test-deps.sh with go
// install; the test fails without it.
func ghzPath(t *testing.T) string {
	if p, err := exec.LookPath("ghz"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "ghz")
	if _, err := os.Stat(p); err != nil {
		t.Fatal("ghz is not installed; run scripts/install-test-deps.sh (go install github.com/bojand/ghz/cmd/ghz@v0.93.0)")
	}
	return p
}

// runGHZ runs ghz with args and returns how many calls ended with each
// status.
func runGHZ(t *testing.T, args ...string) (count int64, byStatus map[string]int64) {
	t.Helper()
	out, err := exec.Command(ghzPath(t), append([]string{"-O", "json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("ghz %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var rep struct {
		Count                  int64
		StatusCodeDistribution map[string]int64
		ErrorDistribution      map[string]int64
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("ghz's report: %v\n%s", err, out)
	}
	if len(rep.ErrorDistribution) > 0 {
		t.Logf("ghz errors: %v", rep.ErrorDistribution)
	}
	return rep.Count, rep.StatusCodeDistribution
}

// TestNativeReflectionWithGHZ: ghz, given no .proto file, learns the
// service's methods and messages by server reflection from package
// grpcserver, then makes its calls: unary and server-streaming, over h2c
// and over h2 with TLS.
func TestNativeReflectionWithGHZ(t *testing.T) {
	gs, _ := nativeServer()
	e := grpctest.Start(t, &kestrel.Server{Handler: gs})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, e.RootsPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unary h2c", []string{"--insecure", "--call", "grpc.testing.TestService/UnaryCall", "-d", `{"response_size": 13, "payload": {"body": "SGVsbG8="}}`, e.Plain}},
		{"server streaming h2c", []string{"--insecure", "--call", "grpc.testing.TestService/StreamingOutputCall", "-d", `{"response_parameters": [{"size": 5}, {"size": 7}]}`, e.Plain}},
		{"unary h2", []string{"--cacert", ca, "--cname", "localhost", "--call", "grpc.testing.TestService/EmptyCall", "-d", `{}`, e.Secure}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, byStatus := runGHZ(t, append([]string{"-n", "50", "-c", "5"}, tc.args...)...)
			if n != 50 || byStatus["OK"] != 50 {
				t.Errorf("%d calls, by status %v; want 50 OK", n, byStatus)
			}
		})
	}
	// A method the reflected service does not have: ghz stops before
	// calling.
	out, err := exec.Command(ghzPath(t), "--insecure", "--call", "grpc.testing.TestService/NoSuchCall", "-n", "1", e.Plain).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "NoSuchCall") {
		t.Errorf("ghz calling a method reflection does not list: %v\n%s", err, out)
	}
}
