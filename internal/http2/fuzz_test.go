package http2

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
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
// and always finishes.
func FuzzConn(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	cfg := &Config{
		App: &app.Config{
			Logger:             slog.New(slog.DiscardHandler),
			Heartbeat:          heartbeat.New(nil),
			BaseContext:        context.Background(),
			MaxRequestBodySize: 1 << 16,
			Handler: func(ex *app.Exchange) {
				io.Copy(io.Discard, ex.Body())
				ex.Write(ex.Target())
			},
		},
		HeaderTableSize:       4096,
		RequestHeadersTimeout: time.Second,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		c := NewConn(cfg, server, Options{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Serve()
		}()
		go func() {
			client.Write([]byte(ClientPreface))
			client.Write(data)
			client.Close()
		}()
		go io.Copy(io.Discard, client)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not finish")
		}
		client.Close()
	})
}
