package grpcserver

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kestrel-go/kestrel"
)

// blockingService's methods block in SendMsg (Flood sends until a send
// fails, to a client that does not read) and in RecvMsg (Drain reads until
// the client's quiet stream ends); each tells ended how its handler ended.
type blockingService struct {
	ended chan error
}

func (b *blockingService) desc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "grpcserver.Blocking",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{
			{StreamName: "Flood", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				var in wrapperspb.Int64Value
				if err := ss.RecvMsg(&in); err != nil {
					return err
				}
				out := &wrapperspb.BytesValue{Value: make([]byte, in.Value)}
				for {
					if err := ss.SendMsg(out); err != nil {
						b.ended <- err
						return err
					}
				}
			}},
			{StreamName: "Drain", ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				for {
					var in wrapperspb.BytesValue
					if err := ss.RecvMsg(&in); err != nil {
						b.ended <- err
						return err
					}
				}
			}},
		},
	}
}

// waitEnded returns how a blocked handler ended, or fails the test when
// it is still blocked after a second: well before the server's minimum
// response data rate (240 bytes/s after a 5 s grace period) would end it.
func (b *blockingService) waitEnded(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-b.ended:
		return err
	case <-time.After(time.Second):
		t.Fatalf("%s: the handler is still blocked", what)
		return nil
	}
}

// blockedServer serves a blockingService on one of the package's paths:
// the native path over h2c ("native") or HTTP/3 ("http3"), or net/http's
// server over h2c through ServeHTTP ("net/http"). It returns the
// address (a URL for HTTP/3) and the HTTP/3 client to use.
func blockedServer(t *testing.T, path string, gs *Server) (addr string, h3 *http.Client) {
	t.Helper()
	switch path {
	case "net/http":
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		hs := &http.Server{Handler: gs, Protocols: p}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		return ln.Addr().String(), nil
	case "http3":
		base, tr := startHTTP3(t, gs)
		return base, &http.Client{Transport: tr}
	}
	s := &kestrel.Server{Handler: gs, Logger: quietLogger}
	if err := s.ListenEndpoint(kestrel.Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "http://"), nil
}

// startBlocked starts a call of method whose client sends body, ends its
// request if end, and then reads nothing: over HTTP/2 by hand (no
// WINDOW_UPDATE ever goes out), over HTTP/3 with a response body nobody
// reads.
func startBlocked(t *testing.T, addr string, h3 *http.Client, method string, body []byte, end bool, header ...string) {
	t.Helper()
	if h3 == nil {
		c := dialRawH2(t, addr)
		id := c.headers("/grpcserver.Blocking/"+method, header...)
		if err := c.fr.WriteData(id, end, body); err != nil {
			t.Fatal(err)
		}
		return
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() {
		pw.Write(body)
		if end {
			pw.Close()
		}
	}()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", addr+"/grpcserver.Blocking/"+method, pr)
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// The response's head may not come before the handler ends (Drain
	// sends none).
	go func() {
		if resp, err := h3.Do(req); err == nil {
			<-req.Context().Done()
			resp.Body.Close()
		}
	}()
}

// TestDeadlineEndsBlockedSend: a handler blocked in SendMsg, its client
// reading nothing (no flow-control window), ends at the call's deadline
// with DEADLINE_EXCEEDED, as grpc-go's server ends it, on each of the
// package's paths, rather than when the server's minimum response data
// rate gives up on the client seconds later (or never, over HTTP/3).
func TestDeadlineEndsBlockedSend(t *testing.T) {
	t.Parallel()
	flood, _ := proto.Marshal(&wrapperspb.Int64Value{Value: 64 << 10})
	for _, path := range []string{"native", "net/http", "http3"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			svc := &blockingService{ended: make(chan error, 4)}
			gs := NewServer()
			gs.RegisterService(svc.desc(), svc)
			addr, h3 := blockedServer(t, path, gs)
			startBlocked(t, addr, h3, "Flood", frame(0, flood), true, "grpc-timeout", "200m")
			if err := svc.waitEnded(t, "SendMsg at the deadline"); status.Code(err) != codes.DeadlineExceeded {
				t.Errorf("SendMsg at the deadline failed with %v, want DEADLINE_EXCEEDED", err)
			}
		})
	}
}

// TestStopEndsBlockedCalls: Stop ends the calls blocked in SendMsg (a
// client that does not read) and in RecvMsg (a client streaming nothing)
// at once, with CANCELLED, and returns, as grpc-go's Stop, which closes
// their connections, does, rather than waiting for the clients.
func TestStopEndsBlockedCalls(t *testing.T) {
	t.Parallel()
	flood, _ := proto.Marshal(&wrapperspb.Int64Value{Value: 64 << 10})
	for _, path := range []string{"native", "net/http", "http3"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			svc := &blockingService{ended: make(chan error, 4)}
			gs := NewServer()
			gs.RegisterService(svc.desc(), svc)
			addr, h3 := blockedServer(t, path, gs)
			startBlocked(t, addr, h3, "Flood", frame(0, flood), true)
			startBlocked(t, addr, h3, "Drain", frame(0, nil), false)
			time.Sleep(100 * time.Millisecond) // both handlers block
			stopped := make(chan struct{})
			go func() { gs.Stop(); close(stopped) }()
			for range 2 {
				if err := svc.waitEnded(t, "Stop"); status.Code(err) != codes.Canceled {
					t.Errorf("a blocked call ended with %v after Stop, want CANCELLED", err)
				}
			}
			select {
			case <-stopped:
			case <-time.After(time.Second):
				t.Fatal("Stop did not return")
			}
		})
	}
}

// headers opens a stream with a gRPC request's head for path, with the
// extra fields given as name, value pairs, and returns its id.
func (c *rawH2) headers(path string, extra ...string) uint32 {
	c.t.Helper()
	c.hbuf.Reset()
	fields := [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path},
		{":authority", "test"}, {"content-type", "application/grpc"}, {"te", "trailers"}}
	for i := 0; i+1 < len(extra); i += 2 {
		fields = append(fields, [2]string{extra[i], extra[i+1]})
	}
	for _, f := range fields {
		c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	id := c.next
	c.next += 2
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
	return id
}
