package grpcserver

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
)

// rawH2 is a hand-driven HTTP/2 client connection.
type rawH2 struct {
	t    *testing.T
	nc   net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
	next uint32
}

func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawH2{t: t, nc: nc, fr: http2.NewFramer(nc, nc), next: 1}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	nc.Write([]byte(http2.ClientPreface))
	c.fr.WriteSettings()
	return c
}

// ping sends a PING and reads until its ACK; it returns the GOAWAY that
// came instead, if one did.
func (c *rawH2) ping(b byte) *http2.GoAwayFrame {
	c.t.Helper()
	data := [8]byte{b}
	if err := c.fr.WritePing(false, data); err != nil {
		c.t.Fatal(err)
	}
	var goAway *http2.GoAwayFrame
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if goAway != nil {
				return goAway
			}
			c.t.Fatalf("waiting for the PING's ACK: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if f.IsAck() && f.Data == data && goAway == nil {
				return nil
			}
		case *http2.GoAwayFrame:
			goAway = &http2.GoAwayFrame{ErrCode: f.ErrCode, LastStreamID: f.LastStreamID}
			goAway.FrameHeader = f.FrameHeader
			c.t.Logf("GOAWAY %v %q", f.ErrCode, f.DebugData())
			if string(f.DebugData()) != "too_many_pings" {
				c.t.Errorf("GOAWAY debug data %q", f.DebugData())
			}
		}
	}
}

// goAway reads the next frames until a GOAWAY, or nil when the
// connection ends or says nothing for a second.
func (c *rawH2) goAway() *http2.GoAwayFrame {
	c.nc.SetReadDeadline(time.Now().Add(time.Second))
	defer c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if f, ok := f.(*http2.GoAwayFrame); ok {
			if string(f.DebugData()) != "too_many_pings" {
				c.t.Errorf("GOAWAY debug data %q", f.DebugData())
			}
			return &http2.GoAwayFrame{ErrCode: f.ErrCode, LastStreamID: f.LastStreamID}
		}
	}
}

// call makes an EmptyCall and reads its response to the end.
func (c *rawH2) call() {
	c.t.Helper()
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/grpc.testing.TestService/EmptyCall"},
		{":authority", "test"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	id := c.next
	c.next += 2
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true})
	m, _ := proto.Marshal(&testgrpc.Empty{})
	c.fr.WriteData(id, true, frame(0, m))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				if f.PseudoValue("status") == "" && !strings.Contains(f.String(), "grpc-status") {
					c.t.Logf("trailers %v", f.Fields)
				}
				return
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v during a call", f.ErrCode)
		}
	}
}

// TestKeepaliveEnforcement: as grpc-go's server, a client pinging more
// often than the policy allows gets GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings" on its third offence; a response sent between PINGs
// forgives them; a zero policy allows any PINGs.
func TestKeepaliveEnforcement(t *testing.T) {
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ts := startKestrel(t, gs)

	c := dialRawH2(t, ts.plain)
	for i := range 3 {
		if ga := c.ping(byte(i)); ga != nil {
			t.Fatalf("GOAWAY after %d PINGs", i+1)
		}
	}
	ga := c.ping(3)
	if ga == nil {
		ga = c.goAway() // after the PING's ACK, as grpc-go sends them
	}
	if ga == nil || ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("the fourth PING in a row got %v, want GOAWAY ENHANCE_YOUR_CALM", ga)
	}

	c = dialRawH2(t, ts.plain)
	for i := range 8 {
		c.call() // the response forgives the PING after it
		if ga := c.ping(byte(i)); ga != nil {
			t.Fatalf("GOAWAY after a PING that followed a response")
		}
		if ga := c.ping(byte(i + 100)); ga != nil {
			t.Fatalf("GOAWAY after a second PING")
		}
	}

	free := NewServer(KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{}))
	ts = startKestrel(t, free)
	c = dialRawH2(t, ts.plain)
	for i := range 10 {
		if ga := c.ping(byte(i)); ga != nil {
			t.Fatalf("GOAWAY without a policy")
		}
	}
}
