package grpcserver

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"

	"github.com/kestrel-go/kestrel"
)

func init() {
	// quic-go warns once when the kernel caps UDP buffers below what it
	// asks for, as on most test machines.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
}

// readFrame reads one gRPC message from r.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
	_, err := io.ReadFull(r, p)
	return p, err
}

// TestHTTP3: gRPC calls made by hand with quic-go's HTTP/3 client (grpc-go
// has none): unary with the status in trailers, server streaming, an
// unknown method's trailers-only answer, and a bidirectional call whose
// messages go back and forth one at a time, which needs the body read and
// the replies flushed as they come.
func TestHTTP3(t *testing.T) {
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	base, tr := startHTTP3(t, gs)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	post := func(path string, body io.Reader) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, body)
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("TE", "trailers")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 3 {
			t.Fatalf("answered over %s", resp.Proto)
		}
		return resp
	}

	req, _ := proto.Marshal(&testgrpc.SimpleRequest{ResponseSize: 100})
	resp := post("/grpc.testing.TestService/UnaryCall", bytes.NewReader(frame(0, req)))
	msg, err := readFrame(resp.Body)
	var r testgrpc.SimpleResponse
	if err != nil || proto.Unmarshal(msg, &r) != nil || len(r.Payload.GetBody()) != 100 {
		t.Errorf("unary reply: %v %v", &r, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("unary trailers %v", resp.Trailer)
	}

	sreq, _ := proto.Marshal(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}, {Size: 3}}})
	resp = post("/grpc.testing.TestService/StreamingOutputCall", bytes.NewReader(frame(0, sreq)))
	n := 0
	for {
		if _, err := readFrame(resp.Body); err != nil {
			break
		}
		n++
	}
	resp.Body.Close()
	if n != 3 || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("server streaming: %d messages, trailers %v", n, resp.Trailer)
	}

	resp = post("/grpc.testing.TestService/Nope", bytes.NewReader(frame(0, req)))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Grpc-Status") != "12" {
		t.Errorf("unknown method: header %v trailer %v", resp.Header, resp.Trailer)
	}

	// gRPC-Web over HTTP/3: the trailers are in the body.
	wreq, _ := http.NewRequest("POST", base+"/grpc.testing.TestService/UnaryCall", bytes.NewReader(frame(0, req)))
	wreq.Header.Set("Content-Type", "application/grpc-web+proto")
	wresp, err := c.Do(wreq)
	if err != nil {
		t.Fatal(err)
	}
	wbody, _ := io.ReadAll(wresp.Body)
	wresp.Body.Close()
	if msgs, trailer := webFrames(t, wbody); wresp.ProtoMajor != 3 || len(msgs) != 1 || trailer != "grpc-status: 0\r\n" {
		t.Errorf("gRPC-Web over %s: %d messages, trailer %q", wresp.Proto, len(msgs), trailer)
	}

	// The client sends each message once it has the reply to the last;
	// the response's head comes with the first reply.
	pr, pw := io.Pipe()
	next := make(chan int, 1)
	go func() {
		for i := range next {
			m, _ := proto.Marshal(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: int32(i)}}})
			pw.Write(frame(0, m))
		}
		pw.Close()
	}()
	next <- 1
	resp = post("/grpc.testing.TestService/FullDuplexCall", pr)
	for i := 1; i <= 3; i++ {
		if i > 1 {
			next <- i
		}
		msg, err := readFrame(resp.Body)
		var out testgrpc.StreamingOutputCallResponse
		if err != nil || proto.Unmarshal(msg, &out) != nil || len(out.Payload.GetBody()) != i {
			io.Copy(io.Discard, resp.Body)
			t.Fatalf("ping-pong %d: %v %v; %s %v %v", i, &out, err, resp.Status, resp.Header, resp.Trailer)
		}
	}
	close(next)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("ping-pong trailers %v", resp.Trailer)
	}
}

// startHTTP3 serves h on this module's server over HTTPS with HTTP/3,
// closed when the test ends, and returns its base URL and an HTTP/3
// transport that trusts its certificate.
func startHTTP3(t *testing.T, h http.Handler) (string, *http3.Transport) {
	t.Helper()
	cert, key, roots := testCert(t)
	s := &kestrel.Server{Handler: h, Logger: quietLogger}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0", Protocols: kestrel.HTTP1AndHTTP2AndHTTP3,
		HTTPS: &kestrel.HTTPS{CertificateFile: cert, KeyFile: key}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tr := &http3.Transport{TLSClientConfig: (&testServer{roots: roots}).tlsConfig()}
	t.Cleanup(func() { tr.Close() })
	return s.Addresses()[0], tr
}
