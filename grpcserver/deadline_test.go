package grpcserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// edgeService's methods end the way grpc-go's server must be matched at
// its edges: past the deadline, with header metadata and an error, with a
// nil reply.
func edgeService() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "grpcserver.Edge",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Slow", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var in testgrpc.Empty
				if err := dec(&in); err != nil {
					return nil, err
				}
				time.Sleep(300 * time.Millisecond) // the context is not looked at
				return &testgrpc.Empty{}, nil
			}},
			{MethodName: "Read", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var in testgrpc.Empty
				if err := dec(&in); err != nil {
					return nil, err // the client never ends its request
				}
				return &in, nil
			}},
			{MethodName: "HeaderThenError", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				grpc.SetHeader(ctx, metadata.Pairs("x-hdr", "h1"))
				return nil, status.Error(codes.FailedPrecondition, "no")
			}},
			{MethodName: "Nil", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return nil, nil
			}},
			{MethodName: "DetailsMetadata", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				md, _ := metadata.FromIncomingContext(ctx)
				grpc.SetTrailer(ctx, metadata.Pairs("grpc-status-details-bin", "x"))
				return nil, status.Error(codes.Aborted, strings.Join(md["grpc-status-details-bin"], ",")+" "+strings.Join(md["content-length"], ","))
			}},
		},
		Streams: []grpc.StreamDesc{
			{StreamName: "SlowStream", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				var in testgrpc.Empty
				if err := ss.RecvMsg(&in); err != nil {
					return err
				}
				if err := ss.SendMsg(&testgrpc.Empty{}); err != nil {
					return err
				}
				time.Sleep(300 * time.Millisecond) // the context is not looked at
				return ss.SendMsg(&testgrpc.Empty{})
			}},
		},
	}
}

// TestCallEdges: the server enforces a call's deadline itself, for a
// client that does not (a proxy passing the timeout on): expired on
// arrival, the handler does not run (DEADLINE_EXCEEDED, before even the
// method's lookup); a handler that returns after it, or waits for a
// request that never ends, answers DEADLINE_EXCEEDED at once, not OK late
// nor a body timeout seconds later. Header metadata set before an error
// goes out in a head of its own; a nil reply is an empty message. All as
// grpc-go's own server answers.
func TestCallEdges(t *testing.T) {
	gs := NewServer(Logger(quietLogger))
	gs.RegisterService(edgeService(), nil)
	ts := startKestrel(t, gs)
	c := h2cClient()
	base := "http://" + ts.plain
	empty := frame(0, nil)

	for _, tc := range []struct {
		name, path, timeout string
		status, message     string
		atMost              time.Duration
	}{
		{"expired on arrival", "/grpcserver.Edge/Slow", "0n", "4", "context deadline exceeded", 200 * time.Millisecond},
		{"expired on arrival, unknown method", "/grpcserver.Edge/Nope", "0S", "4", "context deadline exceeded", 200 * time.Millisecond},
		{"handler returns after the deadline", "/grpcserver.Edge/Slow", "100m", "4", "context deadline exceeded", 2 * time.Second},
		{"no deadline", "/grpcserver.Edge/Slow", "", "0", "", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.timeout != "" {
				h["grpc-timeout"] = tc.timeout
			}
			start := time.Now()
			res := rawCall(t, c, base+tc.path, h, empty)
			if res.status != tc.status || res.message != tc.message {
				t.Errorf("grpc-status %q %q, want %q %q", res.status, res.message, tc.status, tc.message)
			}
			if d := time.Since(start); d > tc.atMost {
				t.Errorf("answered after %v", d)
			}
		})
	}

	t.Run("waiting for the request past the deadline", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequest("POST", base+"/grpcserver.Edge/Read", pr)
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("grpc-timeout", "100m")
		go pw.Write([]byte{0, 0, 0}) // part of a message prefix, then nothing
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		st := resp.Trailer.Get("Grpc-Status") + resp.Header.Get("Grpc-Status")
		if st != "4" || time.Since(start) > 2*time.Second {
			t.Errorf("HTTP %d, grpc-status %q after %v; want DEADLINE_EXCEEDED at 100 ms", resp.StatusCode, st, time.Since(start))
		}
	})

	t.Run("header metadata, then an error", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/grpcserver.Edge/HeaderThenError", nil)
		req.Header.Set("Content-Type", "application/grpc")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Hdr") != "h1" || resp.Header.Get("Grpc-Status") != "" || resp.Trailer.Get("Grpc-Status") != "9" {
			t.Errorf("head %v, trailers %v; want x-hdr in the head, grpc-status 9 in the trailers", resp.Header, resp.Trailer)
		}
	})

	t.Run("nil reply", func(t *testing.T) {
		res := rawCall(t, c, base+"/grpcserver.Edge/Nil", nil, empty)
		if res.status != "0" || string(res.body) != string(frame(0, nil)) {
			t.Errorf("grpc-status %q %q, body %x; want OK and one empty message", res.status, res.message, res.body)
		}
	})

	t.Run("grpc-status-details-bin and content-length are metadata", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/grpcserver.Edge/DetailsMetadata", bytes.NewReader(empty))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Grpc-Status-Details-Bin", "aW4") // "in"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		// A trailers-only answer: the status and the trailer in the head.
		if m, d := resp.Header.Get("Grpc-Message"), resp.Header.Get("Grpc-Status-Details-Bin"); m != "in 5" || d != "eA" {
			t.Errorf("grpc-message %q, grpc-status-details-bin %q; want \"in 5\" and \"eA\", as grpc-go passes both ways", m, d)
		}
	})

	// grpc-go's server resets the stream at the deadline: a message sent
	// after it never reaches the client, whatever the transport.
	t.Run("sending past the deadline", func(t *testing.T) {
		hs := &http.Server{Handler: gs}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go hs.Serve(ln)
		defer hs.Close()
		for _, tr := range []struct {
			name, base, ct string
			c              *http.Client
		}{
			{"h2c", base, "application/grpc", c},
			{"grpc-web", base, "application/grpc-web", http.DefaultClient},
			{"grpc-web on net/http", "http://" + ln.Addr().String(), "application/grpc-web", http.DefaultClient},
		} {
			req, _ := http.NewRequest("POST", tr.base+"/grpcserver.Edge/SlowStream", bytes.NewReader(empty))
			req.Header.Set("Content-Type", tr.ct)
			req.Header.Set("grpc-timeout", "100m")
			resp, err := tr.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			msgs := string(empty)
			if tr.ct == "application/grpc-web" {
				msgs += "\x80\x00\x00\x00\x39grpc-status: 4\r\ngrpc-message: context deadline exceeded\r\n"
			} else if st := resp.Trailer.Get("Grpc-Status"); st != "4" {
				t.Errorf("%s: grpc-status %q, want 4", tr.name, st)
			}
			if string(b) != msgs {
				t.Errorf("%s: body %q, want %q: the message sent after the deadline went out", tr.name, b, msgs)
			}
		}
	})

	// The deadline of one call ends that call only: the next call on the
	// same HTTP/1.1 connection (gRPC-Web) runs, on net/http's server too,
	// whose connection a read deadline set while it waits for the next
	// request would cancel the contexts of all its later requests.
	t.Run("keep-alive after a deadline", func(t *testing.T) {
		hs := &http.Server{Handler: gs}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go hs.Serve(ln)
		defer hs.Close()
		for _, srv := range []struct{ name, addr string }{{"kestrel", ts.plain}, {"nethttp", ln.Addr().String()}} {
			conn, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			for i, want := range []string{"4", "0"} {
				timeout := ""
				if i == 0 {
					timeout = "grpc-timeout: 100m\r\n"
				}
				fmt.Fprintf(conn, "POST /grpcserver.Edge/Slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web\r\n%sContent-Length: 5\r\n\r\n%s", timeout, empty)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("%s: call %d: %v", srv.name, i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := resp.Header.Get("Grpc-Status")
				if _, tr := webFrames(t, b); got == "" {
					got = strings.TrimSuffix(strings.TrimPrefix(tr, "grpc-status: "), "\r\n")
				}
				if got != want {
					t.Errorf("%s: call %d: grpc-status %q, want %q", srv.name, i, got, want)
				}
			}
			conn.Close()
		}
	})

	t.Run("query in the path", func(t *testing.T) {
		res := rawCall(t, c, base+"/grpcserver.Edge/Nil?x=1", nil, empty)
		if res.status != "12" || res.message != "unknown method Nil?x=1 for service grpcserver.Edge" {
			t.Errorf("grpc-status %q %q, want 12, as grpc-go takes the method from the whole :path", res.status, res.message)
		}
	})
}
