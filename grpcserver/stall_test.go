package grpcserver

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// pairEnd is how the two sides of a Pair call ended.
type pairEnd struct{ send, recv error }

// pairService's Pair method sends in the handler's goroutine and receives
// in another, as a bidirectional handler does: the handler floods its
// client with messages of the size the first request message asks for (a
// negative size: sends one message of that size, over the server's
// MaxSendMsgSize, and stops), while its reader receives until a RecvMsg
// fails; it returns once both have ended, and tells ended how each did.
type pairService struct{ ended chan pairEnd }

func (p *pairService) desc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "grpcserver.Blocking",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{
			{StreamName: "Pair", ServerStreams: true, ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				var in wrapperspb.Int64Value
				if err := ss.RecvMsg(&in); err != nil {
					return err
				}
				recvd := make(chan error, 1)
				go func() {
					for {
						var m wrapperspb.BytesValue
						if err := ss.RecvMsg(&m); err != nil {
							recvd <- err
							return
						}
					}
				}()
				var e pairEnd
				if in.Value < 0 {
					e.send = ss.SendMsg(&wrapperspb.BytesValue{Value: make([]byte, -in.Value)})
				} else {
					out := &wrapperspb.BytesValue{Value: make([]byte, in.Value)}
					for e.send == nil {
						e.send = ss.SendMsg(out)
					}
				}
				e.recv = <-recvd
				p.ended <- e
				return e.send
			}},
		},
	}
}

// grpcGoServer serves desc on grpc-go's own server over h2c, the
// reference the package's behaviour is compared with.
func grpcGoServer(t *testing.T, desc *grpc.ServiceDesc, impl any, opts ...grpc.ServerOption) string {
	t.Helper()
	g := grpc.NewServer(opts...)
	g.RegisterService(desc, impl)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	return ln.Addr().String()
}

// readStreamEnd reads c's frames until stream id ends, giving the
// connection and the stream all the window they want, and returns the
// grpc-status of its trailers, or "RST_STREAM" and its code.
func (c *rawH2) readStreamEnd(id uint32) string {
	c.t.Helper()
	c.fr.WriteWindowUpdate(0, 1<<30)
	c.fr.WriteWindowUpdate(id, 1<<30)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("waiting for the end of stream %d: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id && f.StreamEnded() {
				return "grpc-status " + headerValue(f, "grpc-status")
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return "RST_STREAM " + f.ErrCode.String()
			}
		}
	}
}

// headerValue is the value of f's first field called name.
func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.Fields {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

// TestFailureWakesOtherGoroutine: a RecvMsg or SendMsg that fails (a
// message over MaxRecvMsgSize or MaxSendMsgSize) ends the call for the
// handler's other goroutine too, as on grpc-go's server (compared here
// over h2c), which writes the status and cancels the stream: a SendMsg
// blocked on a client that reads nothing returns CANCELLED at once,
// resetting the stream (its message is partly sent), and a RecvMsg
// waiting for a client that sends nothing more returns CANCELLED, the
// client getting the failure's status. Before, the other goroutine
// stayed blocked, and with it a handler that waits for it, until the
// client read or sent again. On each of the package's paths and HTTP/3;
// no goroutine is left.
func TestFailureWakesOtherGoroutine(t *testing.T) {
	flood, _ := proto.Marshal(&wrapperspb.Int64Value{Value: 64 << 10})
	bigFlood, _ := proto.Marshal(&wrapperspb.Int64Value{Value: 8 << 20})
	overSend, _ := proto.Marshal(&wrapperspb.Int64Value{Value: -(5 << 20)})
	overRecv := []byte{0, 0, 0x80, 0, 0} // a message of 8 MiB, over 4 MiB
	cases := []struct {
		name               string
		maxSend            int
		send, recv         codes.Code
		client, clientGrpc string // how the stream ends on this package's paths, and on grpc-go's
	}{
		// grpc-go's client, given window, gets the queued messages and the
		// status; here the partly sent message's stream is reset.
		{"recv fails while send blocked", DefaultMaxSendMsgSize, codes.Canceled, codes.ResourceExhausted, "RST_STREAM CANCEL", "grpc-status 8"},
		{"send fails while recv blocked", 4<<20 + 100, codes.ResourceExhausted, codes.Canceled, "grpc-status 8", "grpc-status 8"},
	}
	for _, tc := range cases {
		recvFails := tc.recv == codes.ResourceExhausted
		for _, path := range []string{"grpc-go", "native", "net/http", "http3"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				// Checked once the servers and clients, closed by the
				// cleanups registered after this one, are gone.
				before := runtime.NumGoroutine()
				t.Cleanup(func() { checkGoroutines(t, before) })
				svc := &pairService{ended: make(chan pairEnd, 1)}
				var addr string
				var h3 *http.Client
				if path == "grpc-go" {
					addr = grpcGoServer(t, svc.desc(), svc, grpc.MaxSendMsgSize(tc.maxSend))
				} else {
					gs := NewServer(MaxSendMsgSize(tc.maxSend))
					gs.RegisterService(svc.desc(), svc)
					addr, h3 = blockedServer(t, path, gs)
				}
				var c *rawH2
				var id uint32
				switch {
				case h3 == nil:
					c = dialRawH2(t, addr)
					id = c.headers("/grpcserver.Blocking/Pair")
					if !recvFails {
						c.fr.WriteData(id, false, frame(0, overSend))
						break
					}
					c.fr.WriteData(id, false, frame(0, flood))
					// The first message, 65,545 bytes with its prefix, is
					// one write: once the stream's 65,535 bytes of window
					// have come, the server's SendMsg waits in it.
					for got := 0; got < 65535; {
						f, err := c.fr.ReadFrame()
						if err != nil {
							t.Fatal(err)
						}
						switch f := f.(type) {
						case *http2.SettingsFrame:
							if !f.IsAck() {
								c.fr.WriteSettingsAck()
							}
						case *http2.DataFrame:
							got += len(f.Data())
						}
					}
					c.fr.WriteData(id, false, overRecv)
				default:
					pr, pw := io.Pipe()
					t.Cleanup(func() { pw.Close() })
					go func() {
						if recvFails {
							pw.Write(frame(0, bigFlood))
						} else {
							pw.Write(frame(0, overSend))
						}
					}()
					req, _ := http.NewRequestWithContext(t.Context(), "POST", addr+"/grpcserver.Blocking/Pair", pr)
					req.Header.Set("Content-Type", "application/grpc")
					req.Header.Set("TE", "trailers")
					go func() {
						resp, err := h3.Do(req)
						if err != nil {
							return
						}
						defer resp.Body.Close()
						if recvFails {
							// Bytes of the first message, 8 MiB, over
							// quic-go's largest stream window: the server's
							// SendMsg is in the write that waits.
							io.ReadFull(resp.Body, make([]byte, 64<<10))
							pw.Write(overRecv)
						}
						<-req.Context().Done()
					}()
				}
				var e pairEnd
				select {
				case e = <-svc.ended:
				case <-time.After(2 * time.Second):
					t.Fatal("a goroutine of the handler is still blocked")
				}
				if status.Code(e.send) != tc.send || status.Code(e.recv) != tc.recv {
					t.Errorf("SendMsg failed with %v, RecvMsg with %v; want %v and %v", e.send, e.recv, tc.send, tc.recv)
				}
				if c != nil {
					want := tc.client
					if path == "grpc-go" {
						want = tc.clientGrpc
					}
					// net/http's server resets a stream whose write deadline
					// passed with INTERNAL_ERROR, this module's with CANCEL.
					if got := c.readStreamEnd(id); got != want && !(path == "net/http" && want == "RST_STREAM CANCEL" && got == "RST_STREAM INTERNAL_ERROR") {
						t.Errorf("the stream ended with %q, want %q", got, want)
					}
					c.nc.Close()
				}
			})
		}
	}
}
