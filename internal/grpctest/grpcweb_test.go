package grpctest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/quic-go/quic-go/http3"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/grpctest"
)

// TestConnectGRPCWeb: connect-go's client with its gRPC-Web protocol
// (connect.WithGRPCWeb) calls grpc-go's interop service on package
// grpcserver: a unary call, a server-streaming call, a status error and
// metadata echoed in headers and trailers, over HTTP/1.1 (cleartext and
// TLS), h2 and HTTP/3. The clients are connect.NewClient with the interop
// messages: no generated code.
func TestConnectGRPCWeb(t *testing.T) {
	gs, _ := nativeServer()
	e := grpctest.Start(t, &kestrel.Server{Handler: gs})
	h1 := &http.Transport{TLSClientConfig: e.ClientTLS()}
	h2 := &http.Transport{TLSClientConfig: e.ClientTLS(), Protocols: new(http.Protocols)}
	h2.Protocols.SetHTTP2(true)
	h3 := &http3.Transport{TLSClientConfig: e.ClientTLS()}
	t.Cleanup(func() { h1.CloseIdleConnections(); h2.CloseIdleConnections(); h3.Close() })
	for _, tc := range []struct {
		name, base string
		rt         http.RoundTripper
		proto      int
	}{
		{"http1", "http://" + e.Plain, h1, 1},
		{"http1-tls", "https://" + e.Secure, h1, 1},
		{"h2", "https://" + e.Secure, h2, 2},
		{"h3", "https://" + e.Secure, h3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Transport: &protoCheck{t: t, rt: tc.rt, want: tc.proto}, Timeout: 10 * time.Second}
			unary := connect.NewClient[testgrpc.SimpleRequest, testgrpc.SimpleResponse](hc, tc.base+"/grpc.testing.TestService/UnaryCall", connect.WithGRPCWeb())
			stream := connect.NewClient[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse](hc, tc.base+"/grpc.testing.TestService/StreamingOutputCall", connect.WithGRPCWeb())
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()

			// Unary, with metadata the service echoes: the initial value
			// in the headers, the binary trailing value in the trailers.
			req := connect.NewRequest(&testgrpc.SimpleRequest{ResponseSize: 13, Payload: &testgrpc.Payload{Body: []byte("Hello, World!")}})
			req.Header().Set("x-grpc-test-echo-initial", "first")
			req.Header().Set("x-grpc-test-echo-trailing-bin", connect.EncodeBinaryHeader([]byte{0, 1, 2}))
			resp, err := unary.CallUnary(ctx, req)
			if err != nil {
				t.Fatalf("UnaryCall: %v", err)
			}
			if n := len(resp.Msg.GetPayload().GetBody()); n != 13 {
				t.Errorf("UnaryCall: a payload of %d bytes, want 13", n)
			}
			if v := resp.Header().Get("x-grpc-test-echo-initial"); v != "first" {
				t.Errorf("UnaryCall: echoed header %q", v)
			}
			if b, err := connect.DecodeBinaryHeader(resp.Trailer().Get("x-grpc-test-echo-trailing-bin")); err != nil || !bytes.Equal(b, []byte{0, 1, 2}) {
				t.Errorf("UnaryCall: echoed trailer %v, %v; want [0 1 2]", b, err)
			}

			// A status the service is asked to return.
			_, err = unary.CallUnary(ctx, connect.NewRequest(&testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: 3, Message: "bad ☺ argument"}}))
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument || ce.Message() != "bad ☺ argument" {
				t.Errorf("UnaryCall asked for INVALID_ARGUMENT: %v", err)
			}

			// Server streaming: every message, in order, then the end.
			sizes := []int32{1, 10, 100, 1000, 10000}
			sreq := &testgrpc.StreamingOutputCallRequest{}
			for _, n := range sizes {
				sreq.ResponseParameters = append(sreq.ResponseParameters, &testgrpc.ResponseParameters{Size: n})
			}
			ss, err := stream.CallServerStream(ctx, connect.NewRequest(sreq))
			if err != nil {
				t.Fatalf("StreamingOutputCall: %v", err)
			}
			var got []int32
			for ss.Receive() {
				got = append(got, int32(len(ss.Msg().GetPayload().GetBody())))
			}
			if err := ss.Err(); err != nil {
				t.Errorf("StreamingOutputCall: %v", err)
			}
			ss.Close()
			if len(got) != len(sizes) {
				t.Fatalf("StreamingOutputCall: %v, want %v", got, sizes)
			}
			for i := range got {
				if got[i] != sizes[i] {
					t.Fatalf("StreamingOutputCall: %v, want %v", got, sizes)
				}
			}

			// A stream that ends with an error after a message: the
			// service cannot make a payload of a negative size.
			ss, err = stream.CallServerStream(ctx, connect.NewRequest(&testgrpc.StreamingOutputCallRequest{
				ResponseParameters: []*testgrpc.ResponseParameters{{Size: 10}, {Size: -1}},
			}))
			if err != nil {
				t.Fatalf("StreamingOutputCall: %v", err)
			}
			got = got[:0]
			for ss.Receive() {
				got = append(got, int32(len(ss.Msg().GetPayload().GetBody())))
			}
			err = ss.Err()
			ss.Close()
			if len(got) != 1 || got[0] != 10 || !errors.As(err, &ce) || ce.Code() != connect.CodeUnknown || !strings.Contains(ce.Message(), "invalid length -1") {
				t.Errorf("StreamingOutputCall of sizes 10 and -1: messages %v, error %v; want one of 10 bytes, then UNKNOWN", got, err)
			}
		})
	}
}

// protoCheck is a RoundTripper that fails the test on a response over
// another HTTP version than want.
type protoCheck struct {
	t    *testing.T
	rt   http.RoundTripper
	want int
}

func (p *protoCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.rt.RoundTrip(r)
	if err == nil && resp.ProtoMajor != p.want {
		p.t.Errorf("%s answered over %s, want HTTP/%d", r.URL.Path, resp.Proto, p.want)
	}
	return resp, err
}
