package grpcserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// webFrames splits a gRPC-Web response body into its messages and its
// trailer block.
func webFrames(t *testing.T, body []byte) (msgs [][]byte, trailer string) {
	t.Helper()
	for len(body) > 0 {
		if len(body) < 5 {
			t.Fatalf("truncated frame prefix %q", body)
		}
		n := int(binary.BigEndian.Uint32(body[1:5]))
		if len(body) < 5+n {
			t.Fatalf("truncated frame: %d of %d bytes", len(body)-5, n)
		}
		p := body[5 : 5+n]
		if body[0]&0x80 != 0 {
			if len(body) != 5+n {
				t.Errorf("%d bytes after the trailer frame", len(body)-5-n)
			}
			trailer = string(p)
		} else {
			msgs = append(msgs, p)
		}
		body = body[5+n:]
	}
	return msgs, trailer
}

// TestGRPCWeb: hand-made gRPC-Web calls, binary and text, unary and
// server streaming, and an error, over HTTP/1.1 and HTTP/2, on this
// module's server (native path) and on net/http's (the handler path).
func TestGRPCWeb(t *testing.T) {
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ks := startKestrel(t, gs)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: gs, Protocols: p}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	h1 := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(h1.CloseIdleConnections)
	h2 := h2cClient()
	t.Cleanup(h2.CloseIdleConnections)

	unaryReq, _ := proto.Marshal(&testgrpc.SimpleRequest{ResponseSize: 7, Payload: &testgrpc.Payload{Body: []byte("hi")}})
	streamReq, _ := proto.Marshal(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}, {Size: 3}}})

	for _, srv := range []struct{ name, addr string }{{"kestrel", ks.plain}, {"nethttp", ln.Addr().String()}} {
		for _, cl := range []struct {
			name  string
			c     *http.Client
			proto int
		}{{"http1", h1, 1}, {"h2c", h2, 2}} {
			for _, ct := range []string{"application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text", "application/grpc-web-text+proto"} {
				text := strings.Contains(ct, "text")
				call := func(path string, msg []byte) (*http.Response, [][]byte, string) {
					t.Helper()
					body := frame(0, msg)
					if text {
						// Two base64 chunks, each padded, as a browser
						// client may send them.
						body = []byte(base64.StdEncoding.EncodeToString(body[:4]) + base64.StdEncoding.EncodeToString(body[4:]))
					}
					req, _ := http.NewRequest("POST", "http://"+srv.addr+path, iotest.HalfReader(bytes.NewReader(body)))
					req.Header.Set("Content-Type", ct)
					req.Header.Set("X-Grpc-Web", "1")
					resp, err := cl.c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					if resp.ProtoMajor != cl.proto {
						t.Errorf("%s: answered over HTTP/%d", cl.name, resp.ProtoMajor)
					}
					b, err := io.ReadAll(resp.Body)
					if err != nil {
						t.Fatal(err)
					}
					if text {
						if b, err = decodeQuanta(string(b)); err != nil {
							t.Fatalf("response body is not base64: %v", err)
						}
					}
					if got := resp.Header.Get("Content-Type"); got != ct {
						t.Errorf("Content-Type %q, want %q", got, ct)
					}
					msgs, trailer := webFrames(t, b)
					return resp, msgs, trailer
				}
				t.Run(srv.name+"/"+cl.name+"/"+ct, func(t *testing.T) {
					_, msgs, trailer := call("/grpc.testing.TestService/UnaryCall", unaryReq)
					var r testgrpc.SimpleResponse
					if len(msgs) != 1 || proto.Unmarshal(msgs[0], &r) != nil || len(r.Payload.GetBody()) != 7 {
						t.Errorf("unary: %d messages %q", len(msgs), msgs)
					}
					if trailer != "grpc-status: 0\r\n" {
						t.Errorf("unary trailer %q", trailer)
					}
					_, msgs, trailer = call("/grpc.testing.TestService/StreamingOutputCall", streamReq)
					if len(msgs) != 3 || trailer != "grpc-status: 0\r\n" {
						t.Errorf("server streaming: %d messages, trailer %q", len(msgs), trailer)
					}
					resp, msgs, trailer := call("/grpc.testing.TestService/Nope", unaryReq)
					if len(msgs) != 0 || trailer != "" || resp.Header.Get("Grpc-Status") != "12" {
						t.Errorf("unknown method: %d messages, trailer %q, grpc-status %q", len(msgs), trailer, resp.Header.Get("Grpc-Status"))
					}
				})
			}
		}
	}
}

// TestBase64Reader: grpc-web-text bodies in chunks, padded or not, with
// line breaks; malformed ones fail.
func TestBase64Reader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"aGVsbG8=", "hello", true},
		{"aGVs" + "bG8=", "hello", true},
		{"aA==" + "aGk=", "hhi", true},
		{"aGVs\r\nbG8=", "hello", true},
		{"", "", true},
		{"aGVsbG8", "", false},
		{"aG!s", "", false},
	} {
		got, err := io.ReadAll(iotest.OneByteReader(newBase64Reader(strings.NewReader(tc.in))))
		if (err == nil) != tc.ok || tc.ok && string(got) != tc.want {
			t.Errorf("%q: %q, %v; want %q (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// decodeQuanta decodes base64 four characters at a time, as gRPC-Web
// clients do with a text response made of padded chunks.
func decodeQuanta(s string) ([]byte, error) {
	var out []byte
	for len(s) >= 4 {
		b, err := base64.StdEncoding.DecodeString(s[:4])
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		s = s[4:]
	}
	if s != "" {
		return nil, io.ErrUnexpectedEOF
	}
	return out, nil
}

// TestGRPCWebTrailerFields: trailer metadata goes into a gRPC-Web
// trailer frame as the server puts fields into an HTTP head: a name that
// is not a token is left out and control bytes in a value become spaces,
// so that a value carrying CR LF cannot add lines (a forged grpc-status)
// to the frame, on this server's native path and on net/http's.
func TestGRPCWebTrailerFields(t *testing.T) {
	gs := NewServer()
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "grpcserver.Trailers",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Fail", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			grpc.SetHeader(ctx, metadata.Pairs("x-head", "1")) // the status then goes in the trailer frame
			grpc.SetTrailer(ctx, metadata.MD{"x-t": {"a\r\ngrpc-status: 0"}, "bad name": {"v"}, "x-ok": {"b\tc"}})
			return nil, status.Error(codes.FailedPrecondition, "no")
		}}},
	}, nil)
	ks := startKestrel(t, gs)
	hs := &http.Server{Handler: gs}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	for _, srv := range []struct{ name, addr string }{{"kestrel", ks.plain}, {"nethttp", ln.Addr().String()}} {
		t.Run(srv.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+srv.addr+"/grpcserver.Trailers/Fail", bytes.NewReader(frame(0, nil)))
			req.Header.Set("Content-Type", "application/grpc-web")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			_, trailer := webFrames(t, b)
			lines := strings.Split(strings.TrimSuffix(trailer, "\r\n"), "\r\n")
			slices.Sort(lines)
			want := []string{"grpc-message: no", "grpc-status: 9", "x-ok: b\tc", "x-t: a  grpc-status: 0"}
			if !slices.Equal(lines, want) {
				t.Errorf("trailer frame %q, want the lines %q", trailer, want)
			}
		})
	}
}

// TestGRPCWebAbsoluteForm: a gRPC-Web call sent through a forward proxy
// names its method in an absolute-form request-target; the method is the
// target's path and query, as in the origin form (which grpc-go takes
// whole, query included), on this server's native path and on net/http's.
func TestGRPCWebAbsoluteForm(t *testing.T) {
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ks := startKestrel(t, gs)
	hs := &http.Server{Handler: gs}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	for _, srv := range []struct{ name, addr string }{{"kestrel", ks.plain}, {"nethttp", ln.Addr().String()}} {
		for _, tc := range []struct{ target, status, message string }{
			{"http://" + srv.addr + "/grpc.testing.TestService/EmptyCall", "0", ""},
			{"/grpc.testing.TestService/EmptyCall?x=1", "12", "unknown method EmptyCall?x=1 for service grpc.testing.TestService"},
			{"http://" + srv.addr + "/grpc.testing.TestService/EmptyCall?x=1", "12", "unknown method EmptyCall?x=1 for service grpc.testing.TestService"},
		} {
			conn, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/grpc-web\r\nContent-Length: 5\r\n\r\n%s", tc.target, srv.addr, frame(0, nil))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%s %s: %v", srv.name, tc.target, err)
			}
			b, _ := io.ReadAll(resp.Body)
			conn.Close()
			st, msg := resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
			if _, tr := webFrames(t, b); st == "" {
				st = strings.TrimSuffix(strings.TrimPrefix(tr, "grpc-status: "), "\r\n")
			}
			if st != tc.status || msg != tc.message {
				t.Errorf("%s %s: grpc-status %q %q, want %q %q", srv.name, tc.target, st, msg, tc.status, tc.message)
			}
		}
	}
}
