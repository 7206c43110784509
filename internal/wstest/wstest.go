// Package wstest lets github.com/coder/websocket's client, which speaks
// the HTTP/1.1 handshake only, open WebSockets over HTTP/2 (RFC 8441) and
// HTTP/3 (RFC 9220) streams in tests.
package wstest

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"sync/atomic"
)

// ExtendedConnect is an http.RoundTripper that carries the WebSocket
// handshake of github.com/coder/websocket's Dial (an HTTP/1.1 GET with
// Upgrade) as an extended CONNECT with :protocol websocket over RT (x/net's
// HTTP/2 transport, or quic-go's HTTP/3 one with H3 set), and answers Dial
// with the 101 it expects, whose body is the stream: the response body to
// read, the request body to write.
type ExtendedConnect struct {
	RT http.RoundTripper
	H3 bool // quic-go takes :protocol from Request.Proto; x/net from the ":protocol" header

	status atomic.Int64
}

// Status is the status of the last extended CONNECT's response.
func (x *ExtendedConnect) Status() int { return int(x.status.Load()) }

// Client returns an http.Client for DialOptions.HTTPClient.
func (x *ExtendedConnect) Client() *http.Client { return &http.Client{Transport: x} }

// RoundTrip sends req's WebSocket handshake as an extended CONNECT.
func (x *ExtendedConnect) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Header.Get("Sec-WebSocket-Key")
	pr, pw := io.Pipe()
	// The stream outlives Dial's context, which bounds the handshake only.
	creq, err := http.NewRequestWithContext(context.WithoutCancel(req.Context()), http.MethodConnect, req.URL.String(), pr)
	if err != nil {
		return nil, err
	}
	creq.Header = req.Header.Clone()
	for _, h := range []string{"Connection", "Upgrade", "Sec-Websocket-Key"} {
		creq.Header.Del(h)
	}
	if x.H3 {
		creq.Proto = "websocket"
	} else {
		creq.Header.Set(":protocol", "websocket")
	}
	resp, err := x.RT.RoundTrip(creq)
	if err != nil {
		pw.Close()
		return nil, err
	}
	x.status.Store(int64(resp.StatusCode))
	if resp.StatusCode != http.StatusOK {
		pw.Close()
		return resp, nil
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp.StatusCode = http.StatusSwitchingProtocols
	resp.Header.Set("Connection", "Upgrade")
	resp.Header.Set("Upgrade", "websocket")
	resp.Header.Set("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(sum[:]))
	resp.Body = &streamBody{ReadCloser: resp.Body, w: pw}
	return resp, nil
}

// streamBody is an extended CONNECT's stream as the client sees it.
type streamBody struct {
	io.ReadCloser
	w *io.PipeWriter
}

func (b *streamBody) Write(p []byte) (int, error) { return b.w.Write(p) }

func (b *streamBody) Close() error {
	b.w.Close()
	return b.ReadCloser.Close()
}
