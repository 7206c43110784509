package http2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/httpsyntax"
)

// fuzzSeeds are frame sequences a client might send after the preface.
func fuzzSeeds() [][]byte {
	var out [][]byte
	frame := func(build func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) []byte {
		var b, hb bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		fr.AllowIllegalWrites = true
		fr.WriteSettings()
		build(fr, hpack.NewEncoder(&hb), &hb)
		return b.Bytes()
	}
	headers := func(enc *hpack.Encoder, hb *bytes.Buffer, fields ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	out = append(out, frame(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headers(enc, hb, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"), EndStream: true, EndHeaders: true})
	}))
	out = append(out, frame(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headers(enc, hb, ":method", "POST", ":scheme", "http", ":path", "/x", "content-length", "3"), EndHeaders: false})
		fr.WriteContinuation(1, true, headers(enc, hb, "x-a", "b"))
		fr.WriteData(1, false, []byte("ab"))
		fr.WriteData(1, true, []byte("c"))
		fr.WriteWindowUpdate(0, 100)
		fr.WritePing(false, [8]byte{1})
	}))
	out = append(out, frame(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: headers(enc, hb, ":method", "PUT", ":scheme", "https", ":path", "/t", "te", "trailers"), EndHeaders: true})
		fr.WriteData(3, false, []byte("body"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: headers(enc, hb, "x-trailer", "v"), EndStream: true, EndHeaders: true})
		fr.WriteRSTStream(3, http2.ErrCodeCancel)
		fr.WriteGoAway(3, http2.ErrCodeNo, nil)
	}))
	return out
}

// FuzzConn runs arbitrary frames through a connection, after the preface,
// with a handler that reads the body and answers: the engine never panics
// and always finishes, and what it sends is well-formed HTTP/2 that x/net's
// Framer reads, field blocks included, to the end.
func FuzzConn(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	var invalid atomic.Value // a request the handler should not have seen
	cfg := &Config{
		App: &app.Config{
			Logger:             slog.New(slog.DiscardHandler),
			Heartbeat:          heartbeat.New(nil),
			BaseContext:        context.Background(),
			MaxRequestBodySize: 1 << 16,
			Handler: func(ex *app.Exchange) {
				// What HTTP/1.1 would refuse in a request line or Host
				// does not reach a handler over HTTP/2 either.
				if !httpsyntax.ValidToken(ex.Method()) || !httpsyntax.ValidHost(ex.Host()) {
					invalid.Store(fmt.Sprintf("method %q, host %q", ex.Method(), ex.Host()))
				}
				io.Copy(io.Discard, ex.Body())
				ex.Write(ex.Target())
			},
		},
		HeaderTableSize:       4096,
		RequestHeadersTimeout: time.Second,
	}
	// A loopback TCP connection rather than a net.Pipe: the client closes
	// its sending side only, and reads what the server sends to the end.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := NewConn(cfg, server, Options{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Serve()
		}()
		go func() {
			client.Write([]byte(ClientPreface))
			client.Write(data)
			client.(*net.TCPConn).CloseWrite()
		}()
		var out bytes.Buffer
		read := make(chan error, 1)
		go func() {
			_, err := io.Copy(&out, client)
			read <- err
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not finish")
		}
		select {
		case err := <-read:
			if err != nil {
				return // reset: what was sent may be cut short
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the connection was not closed")
		}
		if v := invalid.Swap(""); v != nil && v != "" {
			t.Fatalf("the handler saw %s", v)
		}
		fr := http2.NewFramer(io.Discard, &out)
		fr.SetMaxReadFrameSize(1<<24 - 1)
		fr.ReadMetaHeaders = hpack.NewDecoder(1<<32-1, nil) // whatever table size the client allowed
		fr.MaxHeaderListSize = 1 << 20
		for n := 0; ; n++ {
			frame, err := fr.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("frame %d: %v\nsent %x", n, err, data)
			}
			if mh, ok := frame.(*http2.MetaHeadersFrame); ok && mh.Truncated {
				t.Fatalf("frame %d: field block truncated", n)
			}
		}
	})
}

// FuzzHeadersFrame compares the reader's own HEADERS frame parser with
// x/net's Framer: the same fragment and priority for a valid frame, an
// error for an invalid one.
func FuzzHeadersFrame(f *testing.F) {
	f.Add(uint8(http2.FlagHeadersEndHeaders), uint32(1), []byte("\x82\x86\x84"))
	f.Add(uint8(http2.FlagHeadersPadded|http2.FlagHeadersPriority), uint32(3), []byte("\x02\x80\x00\x00\x01\x10ab\x00\x00"))
	f.Add(uint8(http2.FlagHeadersPadded), uint32(5), []byte("\x05abc"))
	f.Add(uint8(http2.FlagHeadersPriority), uint32(7), []byte("\x00\x00"))
	f.Add(uint8(0), uint32(0), []byte("x"))
	f.Fuzz(func(t *testing.T, flags uint8, id uint32, payload []byte) {
		id &= 0x7fffffff
		if len(payload) > 1<<14 {
			return
		}
		var b bytes.Buffer
		b.Write([]byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), byte(http2.FrameHeaders), flags,
			byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)})
		b.Write(payload)
		fr := http2.NewFramer(io.Discard, bytes.NewReader(b.Bytes()))
		fh, err := fr.ReadFrameHeader()
		if err != nil {
			t.Fatal(err)
		}
		var got headersFrame
		gotErr := parseHeadersFrame(fh, payload, &got)
		want, wantErr := fr.ReadFrameForHeader(fh)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("error %v, x/net's %v", gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		hf := want.(*http2.HeadersFrame)
		if !bytes.Equal(got.frag, hf.HeaderBlockFragment()) || got.priority != hf.HasPriority() || got.priority && got.dep != hf.Priority.StreamDep ||
			got.StreamEnded() != hf.StreamEnded() || got.HeadersEnded() != hf.HeadersEnded() {
			t.Fatalf("parsed %+v, x/net's %+v", got, hf)
		}
	})
}
