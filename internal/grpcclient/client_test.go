//lint:file-ignore SA1019 golang.org/x/net/http2's Transport is deprecated in favour of net/http's, but many clients still use it, so the tests run the client on both.

package grpcclient_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/grpcclient"
	"github.com/kestrel-go/kestrel/internal/grpctest"
)

func TestMain(m *testing.M) {
	// quic-go warns once when the kernel caps the UDP buffers below what it
	// asks for, as on most test machines; the warning is about throughput
	// on real networks, not loopback.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Exit(m.Run())
}

// asHTTP2 presents a request to grpc-go's ServeHTTP as HTTP/2, which it
// insists on by ProtoMajor: it lets this package's tests run the client's
// HTTP/3 side against grpc-go's own server code. It is a test fixture for
// the client, not a way to serve gRPC over HTTP/3.
func asHTTP2(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 3 {
			r2 := *r
			r2.ProtoMajor, r2.ProtoMinor, r2.Proto = 2, 0, "HTTP/2.0"
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// encodingRecorder is a RoundTripper that records the grpc-encoding of the
// requests it sends and of the responses it receives.
type encodingRecorder struct {
	rt       http.RoundTripper
	mu       sync.Mutex
	req, res map[string]int
}

func (e *encodingRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := e.rt.RoundTrip(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.req == nil {
		e.req, e.res = map[string]int{}, map[string]int{}
	}
	e.req[r.Header.Get("Grpc-Encoding")]++
	if err == nil {
		e.res[resp.Header.Get("Grpc-Encoding")]++
	}
	return resp, err
}

func (e *encodingRecorder) counts() (req, res map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.req, e.res
}

// transports are the HTTP/2 and HTTP/3 transports the client runs on, each
// with its base URL.
func transports(t *testing.T, e *grpctest.Endpoints) []struct {
	name, target string
	rt           func() http.RoundTripper
} {
	return []struct {
		name, target string
		rt           func() http.RoundTripper
	}{
		{"h2c-xnet", "http://" + e.Plain, func() http.RoundTripper {
			return &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}}
		}},
		{"h2c-nethttp", "http://" + e.Plain, func() http.RoundTripper {
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tr.Protocols.SetUnencryptedHTTP2(true)
			return tr
		}},
		{"h2-xnet", "https://" + e.Secure, func() http.RoundTripper {
			return &http2.Transport{TLSClientConfig: e.ClientTLS()}
		}},
		{"h3", "https://" + e.Secure, func() http.RoundTripper {
			return &http3.Transport{TLSClientConfig: e.ClientTLS()}
		}},
	}
}

func closeTransport(rt http.RoundTripper) {
	switch rt := rt.(type) {
	case *http3.Transport:
		rt.Close()
	case interface{ CloseIdleConnections() }:
		rt.CloseIdleConnections()
	}
}

// TestInterop runs grpc-go's interop client cases through the client
// against grpc-go's interop server (grpc.Server.ServeHTTP) on this server,
// over h2c, h2 and HTTP/3, once plainly and once with gzip both ways: the
// client compressing its messages, the server its responses.
func TestInterop(t *testing.T) {
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	t.Cleanup(gs.Stop)
	e := grpctest.Start(t, &kestrel.Server{Handler: asHTTP2(gs)})

	for _, tr := range transports(t, e) {
		for _, compress := range []bool{false, true} {
			name := tr.name
			var opts []grpc.CallOption
			if compress {
				name += "-gzip"
				opts = append(opts, grpc.UseCompressor(gzip.Name))
			}
			t.Run(name, func(t *testing.T) {
				rec := &encodingRecorder{rt: tr.rt()}
				defer closeTransport(rec.rt)
				conn := &grpcclient.Conn{Target: tr.target, Transport: rec}
				dial := func() (grpc.ClientConnInterface, func(), error) {
					rt := tr.rt()
					return &grpcclient.Conn{Target: tr.target, Transport: rt}, func() { closeTransport(rt) }, nil
				}
				grpctest.RunAll(t, append(grpctest.Cases(conn, opts...),
					grpctest.SoakCases(grpctest.SoakConfig{Target: tr.target, Conn: conn, Dial: dial, Options: opts})...))
				req, res := rec.counts()
				// grpc-go's unimplemented_service case takes no call
				// options: its one request is uncompressed.
				if compress && (req[""] != 1 || req["gzip"] == 0 || res["gzip"] == 0) {
					t.Errorf("with gzip: requests by grpc-encoding %v, responses %v; want every request but one and some responses gzip", req, res)
				}
				if !compress && (req[""] == 0 || len(req) != 1 || len(res) != 1 || res[""] == 0) {
					t.Errorf("without compression: requests by grpc-encoding %v, responses %v; want none", req, res)
				}
			})
		}
	}
}

// TestServerCompresses: a client that offers gzip (AcceptCompressors) but
// sends its messages uncompressed gets responses the server compressed, and
// reads them. grpc-go's ServeHTTP does not read grpc-accept-encoding, so
// the server is grpc-go's own, on h2c.
func TestServerCompresses(t *testing.T) {
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := grpc.SetSendCompressor(ctx, gzip.Name); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}))
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	e := &grpctest.Endpoints{Plain: ln.Addr().String()}
	for _, tr := range transports(t, e)[:2] {
		t.Run(tr.name, func(t *testing.T) {
			rec := &encodingRecorder{rt: tr.rt()}
			defer closeTransport(rec.rt)
			conn := &grpcclient.Conn{Target: tr.target, Transport: rec, AcceptCompressors: []string{gzip.Name}}
			for _, c := range grpctest.Cases(conn) {
				if c.Name == "large_unary" || c.Name == "custom_metadata" {
					grpctest.Run(t, c)
				}
			}
			// Three calls: two unary ones the interceptor compresses, and
			// custom_metadata's stream.
			if req, res := rec.counts(); req[""] != 3 || res["gzip"] != 2 || res[""] != 1 {
				t.Errorf("requests by grpc-encoding %v, responses %v; want 3 uncompressed requests and 2 gzip responses", req, res)
			}
		})
	}
}

// TestHeaderNames: what the client sends: the method as the path, gRPC's
// content type, TE: trailers, a grpc-timeout from the deadline, the call's
// compressor and those it accepts, metadata with binary values in base64.
func TestHeaderNames(t *testing.T) {
	got := make(chan http.Header, 1)
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	t.Cleanup(gs.Stop)
	e := grpctest.Start(t, &kestrel.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set(":path", r.URL.Path)
		select {
		case got <- h:
		default:
		}
		gs.ServeHTTP(w, r)
	})})
	tr := transports(t, e)[0]
	rt := tr.rt()
	defer closeTransport(rt)
	conn := &grpcclient.Conn{Target: tr.target, Transport: rt, AcceptCompressors: []string{gzip.Name, "not-registered"}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("x-plain", "v1", "x-data-bin", "\x00\x01\xff"))
	if _, err := testgrpc.NewTestServiceClient(conn).EmptyCall(ctx, &testgrpc.Empty{}, grpc.UseCompressor(gzip.Name)); err != nil {
		t.Fatal(err)
	}
	h := <-got
	for k, want := range map[string]string{
		":path":                "/grpc.testing.TestService/EmptyCall",
		"Content-Type":         "application/grpc",
		"Te":                   "trailers",
		"Grpc-Encoding":        "gzip",
		"Grpc-Accept-Encoding": "gzip",
		"X-Plain":              "v1",
		"X-Data-Bin":           "AAH/",
		"User-Agent":           "kestrel-grpcclient",
	} {
		if v := h.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if to := h.Get("Grpc-Timeout"); !strings.HasSuffix(to, "u") && !strings.HasSuffix(to, "m") {
		t.Errorf("Grpc-Timeout %q: want about 10 s in micro- or milliseconds", to)
	}
}
