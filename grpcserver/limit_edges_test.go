package grpcserver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// sizedRequest returns a request whose encoding is exactly n bytes,
// asking for a response whose encoding is exactly respSize bytes (0: an
// empty one).
func sizedRequest(t *testing.T, n, respSize int) *testgrpc.SimpleRequest {
	t.Helper()
	req := &testgrpc.SimpleRequest{}
	if respSize > 0 {
		for k := max(respSize-10, 1); k <= respSize; k++ {
			if proto.Size(&testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: make([]byte, k)}}) == respSize {
				req.ResponseSize = int32(k)
				break
			}
		}
		if req.ResponseSize == 0 {
			t.Fatalf("no response of exactly %d bytes", respSize)
		}
	}
	for k := 0; k <= n; k++ {
		req.Payload = &testgrpc.Payload{Body: make([]byte, k)}
		if proto.Size(req) == n {
			return req
		}
	}
	t.Fatalf("no request of exactly %d bytes", n)
	return nil
}

// TestLimitEdgesMessageSize sends and asks for messages of limit-1, the
// limit and limit+1 bytes against MaxRecvMsgSize and MaxSendMsgSize, over
// h2c and h2 with grpc-go's client and over HTTP/3 by hand, a received
// message also gzip-compressed (the limit bounding it decompressed) and,
// over HTTP/2, as a full-duplex call's second message: up
// to the limit the call succeeds, past it it fails with
// RESOURCE_EXHAUSTED, as grpc-go's server has it, and the next call on
// the connection succeeds.
func TestLimitEdgesMessageSize(t *testing.T) {
	const limit = 1000
	gs := NewServer(MaxRecvMsgSize(limit), MaxSendMsgSize(limit), Logger(quietLogger))
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ts := startKestrel(t, gs)
	base3, tr3 := startHTTP3(t, gs)
	// unary makes a call and returns its code.
	type unary func(req *testgrpc.SimpleRequest, compress bool) codes.Code
	viaClient := func(conn *grpc.ClientConn) unary {
		c := testgrpc.NewTestServiceClient(conn)
		return func(req *testgrpc.SimpleRequest, compress bool) codes.Code {
			var opts []grpc.CallOption
			if compress {
				opts = append(opts, grpc.UseCompressor(grpcgzip.Name))
			}
			_, err := c.UnaryCall(t.Context(), req, opts...)
			return status.Code(err)
		}
	}
	// streamed sends, on a full-duplex call, a first message of 10
	// bytes and a second of n, and returns the call's code.
	streamed := func(conn *grpc.ClientConn, n int) codes.Code {
		fd, err := testgrpc.NewTestServiceClient(conn).FullDuplexCall(t.Context())
		if err != nil {
			return status.Code(err)
		}
		for _, size := range []int{10, n} {
			var req *testgrpc.StreamingOutputCallRequest
			for k := 0; k <= size; k++ {
				req = &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, k)}}
				if proto.Size(req) == size {
					break
				}
			}
			if proto.Size(req) != size {
				t.Fatalf("no streamed request of exactly %d bytes", size)
			}
			if err := fd.Send(req); err != nil {
				break // the call ended: Recv says how
			}
		}
		fd.CloseSend()
		for {
			if _, err := fd.Recv(); err != nil {
				if err == io.EOF {
					return codes.OK
				}
				return status.Code(err)
			}
		}
	}
	secure, err := grpc.NewClient(ts.secure, grpc.WithTransportCredentials(credentials.NewTLS(ts.tlsConfig())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { secure.Close() })
	h3 := &http.Client{Transport: tr3}
	viaHTTP3 := func(req *testgrpc.SimpleRequest, compress bool) codes.Code {
		msg, _ := proto.Marshal(req)
		flag := byte(0)
		if compress {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(msg)
			zw.Close()
			msg, flag = b.Bytes(), 1
		}
		hr, _ := http.NewRequestWithContext(t.Context(), "POST", base3+"/grpc.testing.TestService/UnaryCall", bytes.NewReader(frame(flag, msg)))
		hr.Header.Set("Content-Type", "application/grpc")
		hr.Header.Set("TE", "trailers")
		if compress {
			hr.Header.Set("Grpc-Encoding", "gzip")
		}
		resp, err := h3.Do(hr)
		if err != nil {
			t.Errorf("HTTP/3: %v", err)
			return codes.Unknown
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		st := resp.Trailer.Get("Grpc-Status")
		if st == "" {
			st = resp.Header.Get("Grpc-Status") // a trailers-only answer
		}
		n, err := strconv.Atoi(st)
		if err != nil {
			t.Errorf("HTTP/3: grpc-status %q", st)
			return codes.Unknown
		}
		return codes.Code(n)
	}
	plain := dialPlain(t, ts.plain)
	for _, tr := range []struct {
		name string
		call unary
		conn *grpc.ClientConn // for a streamed call; nil: none
	}{
		{"h2c", viaClient(plain), plain},
		{"h2", viaClient(secure), secure},
		{"HTTP/3", viaHTTP3, nil},
	} {
		t.Run(tr.name, func(t *testing.T) {
			for _, n := range []int{limit - 1, limit, limit + 1} {
				want := codes.OK
				if n > limit {
					want = codes.ResourceExhausted
				}
				for _, tc := range []struct {
					what     string
					req      *testgrpc.SimpleRequest
					compress bool
				}{
					{"a request", sizedRequest(t, n, 0), false},
					{"a gzip-compressed request", sizedRequest(t, n, 0), true},
					{"a response", sizedRequest(t, 10, n), false},
				} {
					what := fmt.Sprintf("%s of %d bytes (limit %d)", tc.what, n, limit)
					if got := tr.call(tc.req, tc.compress); got != want {
						t.Errorf("%s: %v, want %v", what, got, want)
					}
					if got := tr.call(sizedRequest(t, 10, 10), false); got != codes.OK {
						t.Errorf("the call after %s: %v, want OK", what, got)
					}
				}
				if tr.conn != nil {
					if got := streamed(tr.conn, n); got != want {
						t.Errorf("a full-duplex call's second message of %d bytes (limit %d): %v, want %v", n, limit, got, want)
					}
				}
			}
		})
	}
}
