//lint:file-ignore SA1019 golang.org/x/net/http2's Transport is deprecated in favour of net/http's, but many clients still use it, so the tests talk to the server with both.

package grpctest_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/grpctest"
	"github.com/kestrel-go/kestrel/internal/nginxtest"
)

func TestMain(m *testing.M) {
	// quic-go warns once when the kernel caps the UDP buffers below what it
	// asks for, as on most test machines; the warning is about throughput
	// on real networks, not loopback.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Exit(m.Run())
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

// interopServer is grpc-go's interop test server.
func interopServer(t *testing.T) *grpc.Server {
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	t.Cleanup(gs.Stop)
	return gs
}

// TestGRPCInterop runs grpc-go's own interop client cases against its
// interop test server mounted as a handler (grpc.Server.ServeHTTP), over
// h2c on the default cleartext endpoint and over TLS, with plain HTTP
// served on the same ports.
func TestGRPCInterop(t *testing.T) {
	gs := interopServer(t)
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "plain %s", r.Proto) })
	e := grpctest.Start(t, &kestrel.Server{Handler: grpcOrHTTP(gs, plain)})

	for _, tc := range []struct {
		name  string
		addr  string
		creds credentials.TransportCredentials
	}{
		{"h2c", e.Plain, insecure.NewCredentials()},
		{"tls", e.Secure, credentials.NewTLS(e.ClientTLS())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial := func() (grpc.ClientConnInterface, func(), error) {
				cc, err := grpc.NewClient(tc.addr, grpc.WithTransportCredentials(tc.creds))
				if err != nil {
					return nil, nil, err
				}
				return cc, func() { cc.Close() }, nil
			}
			conn, closeConn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer closeConn()
			grpctest.RunAll(t, append(grpctest.Cases(conn),
				grpctest.SoakCases(grpctest.SoakConfig{Target: tc.addr, Conn: conn, Dial: dial})...))
		})
	}

	// Plain HTTP shares the ports: HTTP/1.1, and HTTP/2 with net/http's
	// and golang.org/x/net/http2's transports.
	h1 := &http.Transport{TLSClientConfig: e.ClientTLS()}
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: e.ClientTLS()}
	h2.Protocols.SetHTTP2(true)
	xh2c := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	xh2 := &http2.Transport{TLSClientConfig: e.ClientTLS()}
	for _, c := range []struct {
		name, url, want string
		rt              http.RoundTripper
	}{
		{"http1", "http://" + e.Plain + "/", "plain HTTP/1.1", h1},
		{"http1-tls", "https://" + e.Secure + "/", "plain HTTP/1.1", h1},
		{"nethttp-h2c", "http://" + e.Plain + "/", "plain HTTP/2.0", h2c},
		{"nethttp-tls", "https://" + e.Secure + "/", "plain HTTP/2.0", h2},
		{"xnet-h2c", "http://" + e.Plain + "/", "plain HTTP/2.0", xh2c},
		{"xnet-tls", "https://" + e.Secure + "/", "plain HTTP/2.0", xh2},
	} {
		client := &http.Client{Transport: c.rt, Timeout: 10 * time.Second}
		resp, err := client.Get(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, body, err, c.want)
		}
		client.CloseIdleConnections()
	}
}

// TestGRPCBehindNginx: nginx's grpc_pass, as deployed in front of a gRPC
// service, speaks h2c to this server over a Unix socket (an Http2
// endpoint) and over TCP (the default Http1AndHttp2 endpoint), and
// grpc-go's interop cases pass through it.
func TestGRPCBehindNginx(t *testing.T) {
	gs := interopServer(t)
	sock := filepath.Join(t.TempDir(), "grpc.sock")
	s := &kestrel.Server{Handler: gs, Logger: quietLogger}
	s.ListenEndpoint(kestrel.Endpoint{UnixPath: sock, Protocols: kestrel.HTTP2})
	s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tcp := strings.TrimPrefix(s.Addresses()[1], "http://")
	grpcBehindNginx(t, nil, "unix:"+sock, tcp)
}

// grpcBehindNginx runs the interop cases, the soak cases included,
// through nginx's grpc_pass to the server at each of upstreams (nginx's
// server syntax: host:port or unix:path), each call with opts.
func grpcBehindNginx(t *testing.T, opts []grpc.CallOption, upstreams ...string) {
	for _, upstream := range upstreams {
		name := "tcp"
		if strings.HasPrefix(upstream, "unix:") {
			name = "unix"
		}
		t.Run(name, func(t *testing.T) {
			front := nginxtest.Start(t, func(listen string) string {
				return `upstream grpcapp { server ` + upstream + `; keepalive 8; }
	server {
		listen ` + listen + ` http2;
		location / { grpc_pass grpc://grpcapp; }
	}`
			})
			dial := func() (grpc.ClientConnInterface, func(), error) {
				cc, err := grpc.NewClient(front, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					return nil, nil, err
				}
				return cc, func() { cc.Close() }, nil
			}
			conn, closeConn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer closeConn()
			grpctest.RunAll(t, append(grpctest.Cases(conn, opts...),
				grpctest.SoakCases(grpctest.SoakConfig{Target: front, Conn: conn, Dial: dial, Options: opts})...))
		})
	}
}

var quietLogger = slog.New(slog.DiscardHandler)
