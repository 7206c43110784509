package grpcclient

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// fakeResponse is a RoundTripper that answers every request with a fixed
// response: status, header fields, body and trailer fields.
type fakeResponse struct {
	status  int
	header  http.Header
	body    []byte
	trailer http.Header
	err     error
}

func (f *fakeResponse) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if f.err != nil {
		return nil, f.err
	}
	return &http.Response{
		StatusCode: f.status, Header: f.header.Clone(), Trailer: f.trailer.Clone(),
		Body: io.NopCloser(bytes.NewReader(f.body)), ProtoMajor: 2,
	}, nil
}

func grpcHeader() http.Header { return http.Header{"Content-Type": {"application/grpc"}} }

func ok() http.Header { return http.Header{"Grpc-Status": {"0"}} }

// frame is one length-prefixed message.
func frame(flag byte, msg []byte) []byte {
	n := len(msg)
	return append([]byte{flag, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, msg...)
}

func marshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestResponses: how the client reads what a server sends, good and bad:
// each response gives the reply or the status grpc-go's client gives.
func TestResponses(t *testing.T) {
	reply := marshal(t, &testgrpc.SimpleResponse{Username: "u"})
	details, _ := anypb.New(&testgrpc.Empty{})
	detailed := marshal(t, &spb.Status{Code: int32(codes.InvalidArgument), Message: "bad arg", Details: []*anypb.Any{details}})
	gz := func(h http.Header) http.Header { h.Set("Grpc-Encoding", "gzip"); return h }
	for _, tc := range []struct {
		name     string
		resp     fakeResponse
		opts     []grpc.CallOption
		wantCode codes.Code
		wantMsg  string // a part of the status message
	}{
		{"ok", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: ok()}, nil, codes.OK, ""},
		{"gzip reply", fakeResponse{status: 200, header: gz(grpcHeader()), body: frame(1, gzipped(t, reply)), trailer: ok()}, nil, codes.OK, ""},
		{"content-type with subtype", fakeResponse{status: 200, header: http.Header{"Content-Type": {"application/grpc+proto"}}, body: frame(0, reply), trailer: ok()}, nil, codes.OK, ""},
		{"status and message", fakeResponse{status: 200, header: grpcHeader(), trailer: http.Header{"Grpc-Status": {"5"}, "Grpc-Message": {"no %E2%98%BA here%"}}}, nil, codes.NotFound, "no ☺ here%"},
		{"trailers-only", fakeResponse{status: 200, header: http.Header{"Content-Type": {"application/grpc"}, "Grpc-Status": {"7"}, "Grpc-Message": {"denied"}}}, nil, codes.PermissionDenied, "denied"},
		{"details", fakeResponse{status: 200, header: grpcHeader(), trailer: http.Header{"Grpc-Status": {"3"}, "Grpc-Message": {"bad arg"}, "Grpc-Status-Details-Bin": {base64.RawStdEncoding.EncodeToString(detailed)}}}, nil, codes.InvalidArgument, "bad arg"},
		{"details with padding", fakeResponse{status: 200, header: grpcHeader(), trailer: http.Header{"Grpc-Status": {"3"}, "Grpc-Status-Details-Bin": {base64.StdEncoding.EncodeToString(detailed)}}}, nil, codes.InvalidArgument, "bad arg"},
		{"details of another code", fakeResponse{status: 200, header: grpcHeader(), trailer: http.Header{"Grpc-Status": {"4"}, "Grpc-Status-Details-Bin": {base64.RawStdEncoding.EncodeToString(detailed)}}}, nil, codes.Internal, "grpc-status-details-bin"},
		{"HTTP 404", fakeResponse{status: 404, header: http.Header{"Content-Type": {"text/plain"}}}, nil, codes.Unimplemented, "404"},
		{"HTTP 503", fakeResponse{status: 503, header: http.Header{}}, nil, codes.Unavailable, "503"},
		{"HTTP 401", fakeResponse{status: 401, header: http.Header{}}, nil, codes.Unauthenticated, "401"},
		{"HTTP 500", fakeResponse{status: 500, header: http.Header{}}, nil, codes.Unknown, "500"},
		{"not gRPC", fakeResponse{status: 200, header: http.Header{"Content-Type": {"text/html"}}, body: []byte("<html>")}, nil, codes.Unknown, "content-type"},
		{"no trailers", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply)}, nil, codes.Internal, "without sending trailers"},
		{"malformed grpc-status", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: http.Header{"Grpc-Status": {"x"}}}, nil, codes.Internal, "malformed grpc-status"},
		{"truncated prefix", fakeResponse{status: 200, header: grpcHeader(), body: []byte{0, 0, 0}, trailer: ok()}, nil, codes.Internal, "prefix"},
		{"truncated message", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply)[:7], trailer: ok()}, nil, codes.Internal, "inside a message"},
		{"compressed without encoding", fakeResponse{status: 200, header: grpcHeader(), body: frame(1, gzipped(t, reply)), trailer: ok()}, nil, codes.Internal, "identity or empty encoding"},
		{"unknown encoding", fakeResponse{status: 200, header: func() http.Header { h := grpcHeader(); h.Set("Grpc-Encoding", "zstd-x"); return h }(), body: frame(1, reply), trailer: ok()}, nil, codes.Unimplemented, "zstd-x"},
		{"bad flag", fakeResponse{status: 200, header: grpcHeader(), body: frame(2, reply), trailer: ok()}, nil, codes.Internal, "payload format 2"},
		{"not gzip", fakeResponse{status: 200, header: gz(grpcHeader()), body: frame(1, reply), trailer: ok()}, nil, codes.Internal, "decompress"},
		{"over the receive limit", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: ok()}, []grpc.CallOption{grpc.MaxCallRecvMsgSize(len(reply) - 1)}, codes.ResourceExhausted, "larger than max"},
		{"at the receive limit", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: ok()}, []grpc.CallOption{grpc.MaxCallRecvMsgSize(len(reply))}, codes.OK, ""},
		{"over the limit once decompressed", fakeResponse{status: 200, header: gz(grpcHeader()), body: frame(1, gzipped(t, make([]byte, 1000))), trailer: ok()}, []grpc.CallOption{grpc.MaxCallRecvMsgSize(999)}, codes.ResourceExhausted, "after decompression"},
		{"default receive limit", fakeResponse{status: 200, header: grpcHeader(), body: []byte{0, 0, 0x40, 0, 1}, trailer: ok()}, nil, codes.ResourceExhausted, "4194305 vs. 4194304"},
		{"no message", fakeResponse{status: 200, header: grpcHeader(), trailer: ok()}, nil, codes.Internal, "no response message"},
		{"two messages", fakeResponse{status: 200, header: grpcHeader(), body: append(frame(0, reply), frame(0, reply)...), trailer: ok()}, nil, codes.Internal, "another message"},
		{"garbage message", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, []byte{0xff, 0xff}), trailer: ok()}, nil, codes.Internal, "unmarshal"},
		{"bad binary trailer", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: http.Header{"Grpc-Status": {"0"}, "X-Bin": {"!!"}}}, nil, codes.Internal, "binary metadata"},
		{"connection refused", fakeResponse{err: errors.New("dial tcp: connection refused")}, nil, codes.Unavailable, "connection refused"},
		{"unsupported option", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: ok()}, []grpc.CallOption{grpc.PerRPCCredentials(nil)}, codes.Internal, "not supported"},
		{"send limit", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: ok()}, []grpc.CallOption{grpc.MaxCallSendMsgSize(1)}, codes.ResourceExhausted, "send message larger"},
		{"unregistered compressor", fakeResponse{status: 200, header: grpcHeader(), body: frame(0, reply), trailer: ok()}, []grpc.CallOption{grpc.UseCompressor("nope")}, codes.Internal, "not registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &Conn{Target: "http://example.test", Transport: &tc.resp}
			var got testgrpc.SimpleResponse
			var finished error = errors.New("OnFinish not called")
			opts := append(tc.opts, grpc.OnFinish(func(err error) { finished = err }))
			err := conn.Invoke(t.Context(), "/grpc.testing.TestService/UnaryCall", &testgrpc.SimpleRequest{ResponseSize: 10}, &got, opts...)
			st, isStatus := status.FromError(err)
			if !isStatus || st.Code() != tc.wantCode || !strings.Contains(st.Message(), tc.wantMsg) {
				t.Fatalf("error %v (a status: %v); want code %v with %q", err, isStatus, tc.wantCode, tc.wantMsg)
			}
			if finished != err {
				t.Errorf("OnFinish got %v, Invoke returned %v", finished, err)
			}
			if tc.wantCode == codes.OK && got.Username != "u" {
				t.Errorf("reply %v", &got)
			}
			if tc.name == "details" && len(st.Details()) != 1 {
				t.Errorf("details %v, want the Empty sent", st.Details())
			}
		})
	}
}

// TestMetadata: header and trailer metadata reach grpc.Header and
// grpc.Trailer, names in lower case, binary values decoded, gRPC's own
// fields left out.
func TestMetadata(t *testing.T) {
	reply := marshal(t, &testgrpc.SimpleResponse{})
	h := grpcHeader()
	h.Set("X-Init", "a")
	h.Set("X-Init-Bin", base64.RawStdEncoding.EncodeToString([]byte{0, 1}))
	tr := http.Header{"Grpc-Status": {"0"}, "Grpc-Message": {""}, "X-Trail-Bin": {base64.StdEncoding.EncodeToString([]byte{9}) + "," + base64.RawStdEncoding.EncodeToString([]byte{8})}}
	conn := &Conn{Target: "http://example.test", Transport: &fakeResponse{status: 200, header: h, body: frame(0, reply), trailer: tr}}
	var header, trailer metadata.MD
	if err := conn.Invoke(t.Context(), "/m/m", &testgrpc.SimpleRequest{}, &testgrpc.SimpleResponse{}, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		t.Fatal(err)
	}
	if want := (metadata.MD{"x-init": {"a"}, "x-init-bin": {"\x00\x01"}}); !equalMD(header, want) {
		t.Errorf("header %v, want %v", header, want)
	}
	if want := (metadata.MD{"x-trail-bin": {"\x09", "\x08"}}); !equalMD(trailer, want) {
		t.Errorf("trailer %v, want %v", trailer, want)
	}
}

func equalMD(a, b metadata.MD) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestBadRequests: calls the client refuses before sending anything.
func TestBadRequests(t *testing.T) {
	conn := &Conn{Target: "http://example.test", Transport: &fakeResponse{err: errors.New("must not be called")}}
	for _, tc := range []struct {
		name   string
		ctx    func() context.Context
		method string
		conn   *Conn
		want   codes.Code
	}{
		{"no slash", t.Context, "grpc.testing.TestService/UnaryCall", conn, codes.Internal},
		{"binary in a text value", func() context.Context {
			return metadata.AppendToOutgoingContext(t.Context(), "x-text", "a\nb")
		}, "/a/b", conn, codes.Internal},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, "/a/b", conn, codes.Canceled},
		{"expired", func() context.Context {
			ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}, "/a/b", conn, codes.DeadlineExceeded},
		{"no transport", t.Context, "/a/b", &Conn{Target: "http://example.test"}, codes.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.conn.Invoke(tc.ctx(), tc.method, &testgrpc.Empty{}, &testgrpc.Empty{})
			if status.Code(err) != tc.want {
				t.Errorf("%v, want code %v", err, tc.want)
			}
		})
	}
}

func TestEncodeTimeout(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0n"},
		{0, "0n"},
		{1, "1n"},
		{99999999, "99999999n"},
		{100000000, "100000u"},
		{100000001, "100001u"},
		{time.Second, "1000000u"},
		{100 * time.Second, "100000m"},
		{100000 * time.Second, "100000S"},
		{100000001 * time.Second, "1666667M"},
		{1<<63 - 1, "2562048H"},
	} {
		if got := encodeTimeout(tc.d); got != tc.want {
			t.Errorf("encodeTimeout(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"plain":                "plain",
		"%09tab%0D%0A":         "\ttab\r\n",
		"%E2%98%BA":            "☺",
		"100%":                 "100%",
		"%zz":                  "%zz",
		"%4":                   "%4",
		"%25 is a percent-%25": "% is a percent-%",
	} {
		if got := decodeMessage(in); got != want {
			t.Errorf("decodeMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzResponse feeds the client arbitrary response bodies and status
// fields: it must return the reply or a status error, never panic.
func FuzzResponse(f *testing.F) {
	reply, _ := proto.Marshal(&testgrpc.SimpleResponse{Username: "u"})
	f.Add(frame(0, reply), "0", "", "", "")
	f.Add(frame(1, reply), "0", "", "gzip", "")
	f.Add([]byte{0, 0, 0, 0}, "13", "%41%", "", "CAM")
	f.Add(append(frame(0, reply), frame(0, nil)...), "2", "m", "identity", "!")
	f.Fuzz(func(t *testing.T, body []byte, code, msg, enc, details string) {
		h := grpcHeader()
		if enc != "" {
			h.Set("Grpc-Encoding", enc)
		}
		tr := http.Header{"Grpc-Status": {code}, "Grpc-Message": {msg}}
		if details != "" {
			tr.Set("Grpc-Status-Details-Bin", details)
		}
		conn := &Conn{Target: "http://example.test", Transport: &fakeResponse{status: 200, header: h, body: body, trailer: tr}}
		err := conn.Invoke(t.Context(), "/a/b", &testgrpc.Empty{}, &testgrpc.SimpleResponse{}, grpc.MaxCallRecvMsgSize(1<<16))
		if _, ok := status.FromError(err); !ok {
			t.Fatalf("%v is not a status", err)
		}
		stream, err := conn.NewStream(t.Context(), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/a/b")
		if err != nil {
			t.Fatal(err)
		}
		stream.CloseSend()
		for range 10 {
			if err := stream.RecvMsg(&testgrpc.SimpleResponse{}); err != nil {
				if _, ok := status.FromError(err); !ok && err != io.EOF {
					t.Fatalf("%v is neither a status nor io.EOF", err)
				}
				break
			}
		}
	})
}
