package http3

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/kestrel-go/kestrel/internal/app"
)

func TestMain(m *testing.M) {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true") // loopback needs no large UDP buffers
	os.Exit(m.Run())
}

// testServer serves HTTP/3 connections with cfg on a loopback QUIC
// listener and keeps them, so that a test can drive them.
type testServer struct {
	addr  string
	mu    sync.Mutex
	conns []*Conn
}

func (s *testServer) conn(t *testing.T) *Conn {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		if len(s.conns) > 0 {
			c := s.conns[len(s.conns)-1]
			s.mu.Unlock()
			return c
		}
		s.mu.Unlock()
	}
	t.Fatal("no connection")
	return nil
}

// testTLSConfig is a QUIC listener's TLS configuration with a
// self-signed certificate for 127.0.0.1.
func testTLSConfig() *tls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	base := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return TLSConfig(base, nil)
}

func startTestServer(t *testing.T, cfg *Config) *testServer {
	t.Helper()
	ln, err := quic.ListenAddr("127.0.0.1:0", testTLSConfig(), cfg.QUICConfig(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	accepting := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-accepting // no wg.Go after this
		wg.Wait()
	})
	go func() {
		defer close(accepting)
		for {
			qc, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			c := NewConn(cfg, qc, Options{})
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			wg.Go(c.Serve)
		}
	}()
	return s
}

// dial opens a raw client connection, with its control stream and
// SETTINGS unless bare.
func dial(t *testing.T, addr string, bare bool) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{NextProto}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	if !bare {
		uni(t, qc, streamControl, frames(frameSettings, []byte{}))
	}
	return qc
}

// uni opens a unidirectional stream of type typ and writes b on it.
func uni(t *testing.T, qc *quic.Conn, typ uint64, b []byte) *quic.SendStream {
	t.Helper()
	s, err := qc.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	s.Write(append(quicvarint.Append(nil, typ), b...))
	return s
}

// request sends b on a new request stream, and ends it when fin is set.
func request(t *testing.T, qc *quic.Conn, b []byte, fin bool) *quic.Stream {
	t.Helper()
	s, err := qc.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	s.Write(b)
	if fin {
		s.Close()
	}
	return s
}

// response reads a response: its final status and body.
func response(s *quic.Stream) (int, string, error) {
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var rd reader
	rd.reset(s, make([]byte, 1024))
	status, body := 0, ""
	for {
		typ, n, err := rd.frameHeader()
		if err == io.EOF {
			return status, body, nil
		}
		if err != nil {
			return status, body, err
		}
		p, err := rd.payload(int(n))
		if err != nil {
			return status, body, err
		}
		switch typ {
		case frameHeaders:
			next := qpack.NewDecoder().Decode(p)
			for hf, err := next(); err == nil; hf, err = next() {
				if hf.Name == ":status" {
					if code, _ := strconv.Atoi(hf.Value); code >= 200 || status == 0 {
						status = code
					}
				}
			}
		case frameData:
			body += string(p)
		}
	}
}

// closedWith waits for the connection to be closed by the server and
// returns the code.
func closedWith(t *testing.T, qc *quic.Conn) errCode {
	t.Helper()
	select {
	case <-qc.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the connection")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(qc.Context()); !errors.As(err, &ae) || !ae.Remote {
		t.Fatalf("connection ended with %v", err)
	}
	return errCode(ae.ErrorCode)
}

// resetWith reads the stream until it fails and returns the reset's code.
func resetWith(t *testing.T, s *quic.Stream) errCode {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, s)
	var se *quic.StreamError
	if !errors.As(err, &se) || !se.Remote {
		t.Fatalf("stream ended with %v, want a reset", err)
	}
	return errCode(se.ErrorCode)
}

func okHandler(cfg *Config) {
	cfg.App.Handler = func(ex *app.Exchange) { ex.WriteString("ok " + string(ex.Path())) }
}

func TestConnServes(t *testing.T) {
	cfg := testConfig()
	okHandler(cfg)
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	// Grease: an unknown stream type, unknown frames before HEADERS and in
	// the body.
	uni(t, qc, 0x21, []byte("ignored"))
	req := frames(0x21, []byte("x"), frameHeaders, encode(get()...), 0x40, []byte("yy"))
	status, body, err := response(request(t, qc, req, true))
	if err != nil || status != 200 || body != "ok /p" {
		t.Fatalf("%d %q %v", status, body, err)
	}
	// The server's control stream starts with SETTINGS.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := qc.AcceptUniStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rd reader
	rd.reset(rs, make([]byte, 64))
	if typ, _ := rd.varint(); typ != streamControl {
		t.Fatalf("stream type %d", typ)
	}
	typ, n, _ := rd.frameHeader()
	p, _ := rd.payload(int(n))
	set, err := parseSettings(p)
	if typ != frameSettings || err != nil || set.maxFieldSectionSize != uint64(cfg.MaxRequestHeadersTotalSize) {
		t.Fatalf("first frame %#x %+v %v", typ, set, err)
	}
}

func TestConnProtocolErrors(t *testing.T) {
	cfg := testConfig()
	cfg.App.Handler = func(ex *app.Exchange) {
		io.Copy(io.Discard, ex.Body())
		ex.WriteString("ok")
	}
	s := startTestServer(t, cfg)
	conn := []struct {
		name string
		act  func(qc *quic.Conn)
		want errCode
	}{
		{"DATA before HEADERS", func(qc *quic.Conn) { request(t, qc, frames(frameData, []byte("x")), false) }, errFrameUnexpected},
		{"SETTINGS on a request stream", func(qc *quic.Conn) { request(t, qc, frames(frameSettings, []byte{}), false) }, errFrameUnexpected},
		{"HTTP/2 frame type", func(qc *quic.Conn) { request(t, qc, frames(0x06, []byte("12345678")), false) }, errFrameUnexpected},
		{"PUSH_PROMISE from a client", func(qc *quic.Conn) {
			request(t, qc, frames(frameHeaders, encode(get()...), framePushPromise, []byte{0}), false)
		}, errFrameUnexpected},
		{"truncated HEADERS", func(qc *quic.Conn) { request(t, qc, frames(frameHeaders, encode(get()...))[:6], true) }, errFrame},
		{"dynamic table reference", func(qc *quic.Conn) { request(t, qc, frames(frameHeaders, []byte{0x02, 0x00, 0x80}), true) }, errQPACKDecompression},
		{"control stream without SETTINGS", func(qc *quic.Conn) { uni(t, qc, streamControl, frames(frameGoAway, []byte{0})) }, errMissingSettings},
		{"second control stream", func(qc *quic.Conn) {
			uni(t, qc, streamControl, frames(frameSettings, []byte{}))
			time.Sleep(20 * time.Millisecond)
			uni(t, qc, streamControl, frames(frameSettings, []byte{}))
		}, errStreamCreation},
		{"control stream closed", func(qc *quic.Conn) { uni(t, qc, streamControl, frames(frameSettings, []byte{})).Close() }, errClosedCriticalStream},
		{"second SETTINGS", func(qc *quic.Conn) {
			uni(t, qc, streamControl, frames(frameSettings, []byte{}, frameSettings, []byte{}))
		}, errFrameUnexpected},
		{"DATA on the control stream", func(qc *quic.Conn) {
			uni(t, qc, streamControl, frames(frameSettings, []byte{}, frameData, []byte("x")))
		}, errFrameUnexpected},
		{"HTTP/2 setting", func(qc *quic.Conn) { uni(t, qc, streamControl, frames(frameSettings, []byte{0x04, 0x01})) }, errSettings},
		{"CANCEL_PUSH", func(qc *quic.Conn) {
			uni(t, qc, streamControl, frames(frameSettings, []byte{}, frameCancelPush, []byte{0}))
		}, errID},
		{"malformed GOAWAY", func(qc *quic.Conn) {
			uni(t, qc, streamControl, frames(frameSettings, []byte{}, frameGoAway, []byte{0x40}))
		}, errFrame},
		{"GOAWAY raising the ID", func(qc *quic.Conn) {
			uni(t, qc, streamControl, frames(frameSettings, []byte{}, frameGoAway, []byte{4}, frameGoAway, []byte{5}))
		}, errID},
		{"MAX_PUSH_ID lowered", func(qc *quic.Conn) {
			uni(t, qc, streamControl, frames(frameSettings, []byte{}, frameMaxPushID, []byte{8}, frameMaxPushID, []byte{7}))
		}, errID},
		{"push stream from a client", func(qc *quic.Conn) { uni(t, qc, streamPush, []byte{0}) }, errStreamCreation},
		{"QPACK encoder instruction", func(qc *quic.Conn) { uni(t, qc, streamQPACKEncoder, []byte{0x3f, 0x01}) }, errQPACKEncoderStream},
		{"QPACK encoder stream closed", func(qc *quic.Conn) { uni(t, qc, streamQPACKEncoder, nil).Close() }, errClosedCriticalStream},
		{"QPACK decoder stream closed", func(qc *quic.Conn) { uni(t, qc, streamQPACKDecoder, []byte{0x41}).Close() }, errClosedCriticalStream},
		{"QPACK Section Acknowledgment", func(qc *quic.Conn) { uni(t, qc, streamQPACKDecoder, []byte{0x80}) }, errQPACKDecoderStream},
		{"QPACK Insert Count Increment", func(qc *quic.Conn) { uni(t, qc, streamQPACKDecoder, []byte{0x41, 0x01}) }, errQPACKDecoderStream},
		{"second QPACK decoder stream", func(qc *quic.Conn) {
			uni(t, qc, streamQPACKDecoder, nil)
			time.Sleep(20 * time.Millisecond)
			uni(t, qc, streamQPACKDecoder, nil)
		}, errStreamCreation},
	}
	for _, tc := range conn {
		t.Run(tc.name, func(t *testing.T) {
			qc := dial(t, s.addr, true)
			tc.act(qc)
			if got := closedWith(t, qc); got != tc.want {
				t.Fatalf("connection closed with %v, want %v", got, tc.want)
			}
		})
	}

	streams := []struct {
		name string
		req  []byte
		fin  bool
		want errCode
	}{
		{"upper-case field name", frames(frameHeaders, encode(get("Accept", "x")...)), true, errMessage},
		{"connection header", frames(frameHeaders, encode(get("connection", "close")...)), true, errMessage},
		{"missing :path", frames(frameHeaders, encode(":method", "GET", ":scheme", "https")), true, errMessage},
		{"body longer than content-length", frames(frameHeaders, encode(get("content-length", "1")...), frameData, []byte("12")), true, errMessage},
		{"body shorter than content-length", frames(frameHeaders, encode(get("content-length", "3")...), frameData, []byte("12")), true, errMessage},
		{"no HEADERS", nil, true, errRequestIncomplete},
		{"connection header in trailers", frames(frameHeaders, encode(get()...), frameData, []byte("x"), frameHeaders, encode("connection", "close")), true, errMessage},
		{"te other than trailers in trailers", frames(frameHeaders, encode(get()...), frameData, []byte("x"), frameHeaders, encode("te", "gzip")), true, errMessage},
	}
	qc := dial(t, s.addr, false)
	for _, tc := range streams {
		t.Run(tc.name, func(t *testing.T) {
			if got := resetWith(t, request(t, qc, tc.req, tc.fin)); got != tc.want {
				t.Fatalf("stream reset with %v, want %v", got, tc.want)
			}
		})
	}
	// The connection serves on after stream errors.
	if status, _, err := response(request(t, qc, frames(frameHeaders, encode(get()...)), true)); status != 200 || err != nil {
		t.Fatalf("after the stream errors: %d %v", status, err)
	}
	// A HEADERS frame over the limit is answered with 431 unread.
	big := frames(frameHeaders, make([]byte, cfg.maxHeadersFrame()+1))
	if status, _, err := response(request(t, qc, big[:16], false)); status != 431 {
		t.Fatalf("oversized HEADERS frame: %d %v", status, err)
	}
}

func TestConnRequestHeadersTimeout(t *testing.T) {
	cfg := testConfig()
	okHandler(cfg)
	cfg.RequestHeadersTimeout = 200 * time.Millisecond
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	st := request(t, qc, frames(frameHeaders, encode(get()...))[:5], false) // half a HEADERS frame
	c := s.conn(t)
	for c.idle() {
		time.Sleep(5 * time.Millisecond)
	}
	c.Tick(cfg.App.Heartbeat.Now() + int64(100*time.Millisecond)) // within the timeout
	st.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := st.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("within the timeout: %v", err)
	}
	c.Tick(cfg.App.Heartbeat.Now() + int64(2*time.Second)) // past the timeout and a tick of grace
	if got := resetWith(t, st); got != errRequestRejected {
		t.Fatalf("reset with %v", got)
	}
}

// TestConnGracefulShutdown checks the GOAWAY sequence: the largest stream
// ID, then, a heartbeat later, the first stream refused; the request in
// flight finishes, a later one is refused, then the connection closes.
func TestConnGracefulShutdown(t *testing.T) {
	cfg := testConfig()
	release := make(chan struct{})
	cfg.App.Handler = func(ex *app.Exchange) {
		if string(ex.Path()) == "/block" {
			<-release
		}
		ex.WriteString("done")
	}
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctrl, err := qc.AcceptUniStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rd reader
	rd.reset(ctrl, make([]byte, 64))
	rd.varint()
	if typ, n, _ := rd.frameHeader(); typ == frameSettings {
		rd.payload(int(n))
	}
	goAway := func() uint64 {
		t.Helper()
		ctrl.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, n, err := rd.frameHeader()
		if err != nil || typ != frameGoAway {
			t.Fatalf("frame %#x %v, want GOAWAY", typ, err)
		}
		p, _ := rd.payload(int(n))
		id, _, _ := quicvarint.Parse(p)
		return id
	}

	inFlight := request(t, qc, frames(frameHeaders, encode(":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/block")), true)
	c := s.conn(t)
	for c.idle() {
		time.Sleep(5 * time.Millisecond)
	}
	if c.CloseIfIdle() {
		t.Fatal("a connection with a request in flight reported idle")
	}
	if id := goAway(); id != largestStreamID {
		t.Fatalf("first GOAWAY %d, want %d", id, uint64(largestStreamID))
	}
	c.Tick(0)
	c.Tick(0)
	if id := goAway(); id != 4 {
		t.Fatalf("second GOAWAY %d, want 4 (stream 0 was accepted)", id)
	}
	if got := resetWith(t, request(t, qc, frames(frameHeaders, encode(get()...)), true)); got != errRequestRejected {
		t.Fatalf("a request after GOAWAY: reset with %v", got)
	}
	close(release)
	if status, body, err := response(inFlight); status != 200 || body != "done" || err != nil {
		t.Fatalf("the request in flight: %d %q %v", status, body, err)
	}
	if got := closedWith(t, qc); got != errNoError {
		t.Fatalf("closed with %v", got)
	}
}

// TestConnShutdownServesFirstRequest: a connection that Shutdown (or a
// drain delay's pass) finds before its first request arrived is told to go
// away, and serves the request its client sent as the handshake completed,
// as an HTTP/1.1 connection is left a moment to send its first request: a
// CONNECTION_CLOSE at once lost that request. Once served, the connection
// closes as idle ones do.
func TestConnShutdownServesFirstRequest(t *testing.T) {
	cfg := testConfig()
	okHandler(cfg)
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	c := s.conn(t)
	if c.CloseIfIdle() {
		t.Fatal("a connection accepted a moment ago, before its first request, was closed as idle")
	}
	// The client sent its request before it could see the GOAWAY.
	req := request(t, qc, frames(frameHeaders, encode(get()...)), true)
	if status, body, err := response(req); status != 200 || body != "ok /p" || err != nil {
		t.Fatalf("the first request, sent as Shutdown began: %d %q %v", status, body, err)
	}
	for !c.CloseIfIdle() {
		time.Sleep(5 * time.Millisecond)
	}
	if got := closedWith(t, qc); got != errNoError {
		t.Fatalf("closed with %v", got)
	}
}

// TestConnShutdownNewConnWithoutRequest: a new connection told to go away
// that brings no request is closed once the GOAWAY naming its last
// stream has gone out (a heartbeat or two later), not left open until its
// keep-alive timeout when nothing calls CloseIfIdle again
// (SetKeepAlivesEnabled(false) calls it once).
func TestConnShutdownNewConnWithoutRequest(t *testing.T) {
	cfg := testConfig()
	okHandler(cfg)
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	c := s.conn(t)
	if c.CloseIfIdle() {
		t.Fatal("a connection accepted a moment ago was closed as idle")
	}
	c.Tick(0)
	c.Tick(0)
	if got := closedWith(t, qc); got != errNoError {
		t.Fatalf("closed with %v", got)
	}
}

// idle reports whether the connection serves no request.
func (c *Conn) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running == 0
}

// TestConnStreamLimitReplaceOnEnd keeps exactly MaxStreams requests open
// and opens a new one as soon as one ends, as HTTP/2's
// TestStreamLimitReplaceOnEnd does: none may be rejected. In HTTP/3 the
// count lives in QUIC: quic-go grants the client a new stream (MAX_STREAMS)
// only once one is complete, so a client at the limit waits rather than
// being refused, and the server's admit has no count of its own to race.
func TestConnStreamLimitReplaceOnEnd(t *testing.T) {
	cfg := testConfig()
	cfg.App.Handler = func(ex *app.Exchange) { ex.WriteString("Hello, World!") }
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	req := frames(frameHeaders, encode(get()...))
	const perSlot = 20
	var wg sync.WaitGroup
	errs := make(chan error, cfg.MaxStreams)
	for range cfg.MaxStreams {
		wg.Go(func() {
			for range perSlot {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				st, err := qc.OpenStreamSync(ctx)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				st.Write(req)
				st.Close()
				status, body, err := response(st)
				if err != nil || status != 200 || body != "Hello, World!" {
					errs <- fmt.Errorf("stream %d: %d %q %v", st.StreamID(), status, body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConnClientResetCancelsContext: a client that resets its request
// stream (RESET_STREAM alone, no STOP_SENDING) fails the handler's read
// and ends the request's context, as RST_STREAM does over HTTP/2: seen by
// Err without Done having been asked for, and by Done.
func TestConnClientResetCancelsContext(t *testing.T) {
	for _, viaDone := range []bool{false, true} {
		t.Run(fmt.Sprintf("Done %v", viaDone), func(t *testing.T) {
			cfg := testConfig()
			ended := make(chan error, 1)
			cfg.App.BaseContext = context.Background()
			cfg.App.Handler = func(ex *app.Exchange) {
				ex.ServeHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if _, err := io.ReadAll(r.Body); err == nil {
						ended <- errors.New("the read did not fail")
						return
					}
					if viaDone {
						select {
						case <-r.Context().Done():
						case <-time.After(5 * time.Second):
						}
					}
					ended <- r.Context().Err()
				}))
			}
			s := startTestServer(t, cfg)
			qc := dial(t, s.addr, false)
			st := request(t, qc, frames(frameHeaders, encode(get()...), frameData, []byte("abc")), false)
			time.Sleep(50 * time.Millisecond) // the handler reads
			st.CancelWrite(quic.StreamErrorCode(errRequestCancelled))
			select {
			case err := <-ended:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("the request's context after the client's reset: %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler did not end")
			}
		})
	}
}

// TestConnClientGoAwayAndMaxPushID: a client's GOAWAY frames may repeat or
// lower their push ID and its MAX_PUSH_ID frames may repeat or raise
// theirs; the connection serves on (the opposite cases are in
// TestConnProtocolErrors).
func TestConnClientGoAwayAndMaxPushID(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	okHandler(cfg)
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, true)
	uni(t, qc, streamControl, frames(frameSettings, []byte{},
		frameMaxPushID, []byte{1}, frameMaxPushID, []byte{1}, frameMaxPushID, []byte{5},
		frameGoAway, []byte{8}, frameGoAway, []byte{8}, frameGoAway, []byte{4}, frameGoAway, []byte{0}))
	time.Sleep(20 * time.Millisecond) // the control stream is read first
	if status, body, err := response(request(t, qc, frames(frameHeaders, encode(get()...)), true)); status != 200 || body != "ok /p" || err != nil {
		t.Fatalf("%d %q %v", status, body, err)
	}
	if err := qc.Context().Err(); err != nil {
		t.Fatalf("the connection ended: %v", context.Cause(qc.Context()))
	}
}

// TestConnQPACKStreamCancellation: Stream Cancellation instructions on
// the client's QPACK decoder stream (RFC 9204, 4.4.2), which a client may
// send for any stream it resets, are read and need no action; the other
// decoder instructions refer to a dynamic table the server never uses
// (see TestConnProtocolErrors).
func TestConnQPACKStreamCancellation(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	okHandler(cfg)
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	// Streams 0, 318 (63+127+128: a prefixed integer continued over two
	// bytes, split across reads) and 4.
	dec := uni(t, qc, streamQPACKDecoder, []byte{0x40, 0x7f, 0xff})
	time.Sleep(10 * time.Millisecond) // the continuation comes in a later read
	dec.Write([]byte{0x01, 0x44})
	time.Sleep(20 * time.Millisecond)
	if status, body, err := response(request(t, qc, frames(frameHeaders, encode(get()...)), true)); status != 200 || body != "ok /p" || err != nil {
		t.Fatalf("%d %q %v", status, body, err)
	}
	if err := qc.Context().Err(); err != nil {
		t.Fatalf("the connection ended: %v", context.Cause(qc.Context()))
	}
}

// TestConnFramesAfterTrailers: frames of unknown types (grease among
// them) may follow a request's trailer section and are ignored
// (RFC 9114, 4.1, 9); a DATA or HEADERS frame there is a connection error
// (H3_FRAME_UNEXPECTED).
func TestConnFramesAfterTrailers(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.App.Handler = func(ex *app.Exchange) {
		if _, err := io.Copy(io.Discard, ex.Body()); err != nil {
			return
		}
		ex.WriteString("read")
	}
	s := startTestServer(t, cfg)
	served := []struct {
		name string
		req  []byte
	}{
		{"unknown frame", frames(frameHeaders, encode(get()...), frameData, []byte("x"), frameHeaders, encode("a", "b"), 0x21, []byte("zz"))},
		{"grease frame, no body", frames(frameHeaders, encode(get()...), frameHeaders, encode("a", "b"), 0x1f*3+0x21, []byte{})},
	}
	qc := dial(t, s.addr, false)
	for _, tc := range served {
		t.Run(tc.name, func(t *testing.T) {
			if status, body, err := response(request(t, qc, tc.req, true)); status != 200 || body != "read" || err != nil {
				t.Fatalf("%d %q %v", status, body, err)
			}
		})
	}
	refused := []struct {
		name string
		req  []byte
	}{
		{"DATA", frames(frameHeaders, encode(get()...), frameHeaders, encode("a", "b"), 0x21, []byte{}, frameData, []byte("x"))},
		{"HEADERS", frames(frameHeaders, encode(get()...), frameHeaders, encode("a", "b"), frameHeaders, encode("c", "d"))},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			qc := dial(t, s.addr, false)
			request(t, qc, tc.req, true)
			if got := closedWith(t, qc); got != errFrameUnexpected {
				t.Fatalf("connection closed with %v, want %v", got, errFrameUnexpected)
			}
		})
	}
}

// TestConnStreamLimitCountsHandlers: a request stream the server resets
// while its handler runs (here a body longer than its content-length, a
// malformed request) keeps counting against MaxStreams until the handler
// returns, as HTTP/2 counts the handlers of reset streams. quic-go gave
// the client a new stream as soon as the reset stream was complete in
// QUIC, so a client that sent such requests had any number of handlers
// running on one connection.
func TestConnStreamLimitCountsHandlers(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxStreams = 2
	var running, peak atomic.Int64
	release := make(chan struct{})
	cfg.App.Handler = func(ex *app.Exchange) {
		io.Copy(io.Discard, ex.Body()) // fails: the stream is reset
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release // a handler that does not stop at once
		running.Add(-1)
	}
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	req := frames(frameHeaders, encode(":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "content-length", "1"), frameData, []byte("xx"))
	open := func(wait time.Duration) *quic.Stream {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		st, err := qc.OpenStreamSync(ctx)
		if err != nil {
			return nil
		}
		st.Write(req)
		st.Close()
		return st
	}
	var streams []*quic.Stream
	for range cfg.MaxStreams {
		st := open(5 * time.Second)
		if st == nil {
			t.Fatal("the client could not open a stream under the limit")
		}
		streams = append(streams, st)
	}
	for _, st := range streams {
		if got := resetWith(t, st); got != errMessage {
			t.Fatalf("reset with %v, want H3_MESSAGE_ERROR", got)
		}
	}
	if st := open(200 * time.Millisecond); st != nil {
		resetWith(t, st)
		t.Errorf("a stream beyond MaxStreams %d was granted while the handlers of the reset streams ran (%d handlers running)", cfg.MaxStreams, running.Load())
	}
	close(release)
	// Once the handlers return, their streams are given back.
	if st := open(5 * time.Second); st == nil {
		t.Fatal("no stream granted after the handlers returned")
	} else if got := resetWith(t, st); got != errMessage {
		t.Fatalf("reset with %v, want H3_MESSAGE_ERROR", got)
	}
	if p := peak.Load(); p > int64(cfg.MaxStreams) {
		t.Errorf("%d handlers ran at once, MaxStreams %d", p, cfg.MaxStreams)
	}
}

// TestConnDataPastContentLength: a DATA frame that runs past the
// request's content-length makes the request malformed (RFC 9114, 4.1.2)
// as soon as its header is read: the handler gets none of its bytes, even
// when it reads exactly content-length of them, as a proxy that forwards
// the body reads (io.LimitReader). It got the first content-length bytes
// and the error only on the next read, and httputil.ReverseProxy sent its
// backend a complete request the client had framed differently. A body
// whose frames add up to content-length is served.
func TestConnDataPastContentLength(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	type read struct {
		body string
		err  error
	}
	got := make(chan read, 1)
	cfg.App.Handler = func(ex *app.Exchange) {
		p := make([]byte, 3)
		n, err := io.ReadFull(ex.Body(), p)
		got <- read{string(p[:n]), err}
		ex.WriteString("ok")
	}
	s := startTestServer(t, cfg)
	qc := dial(t, s.addr, false)
	head := encode(":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "content-length", "3")
	for _, tc := range []struct {
		name string
		req  []byte
		read string // what the handler reads; the request is malformed unless it is all of the body
	}{
		{"one frame past", frames(frameHeaders, head, frameData, []byte("abcde")), ""},
		{"the second frame past", frames(frameHeaders, head, frameData, []byte("ab"), frameData, []byte("cd")), "ab"},
		{"frames adding up", frames(frameHeaders, head, frameData, []byte("ab"), frameData, []byte("c")), "abc"},
	} {
		st := request(t, qc, tc.req, true)
		status, _, err := response(st)
		r := <-got
		ok := tc.read == "abc"
		switch {
		case r.body != tc.read || ok != (r.err == nil):
			t.Errorf("%s: the handler read %q (%v), want %q", tc.name, r.body, r.err, tc.read)
		case ok && (status != 200 || err != nil):
			t.Errorf("%s: status %d, %v; want 200", tc.name, status, err)
		case !ok && err == nil:
			t.Errorf("%s: answered %d, want the stream reset", tc.name, status)
		}
	}
}

// TestConnShutdownIdleSendsGoAway: a connection that a graceful shutdown
// closes at once, as it is idle (no request yet, or its last response long
// delivered), sends its GOAWAY frames before CONNECTION_CLOSE, so that its
// client learns which requests were not served: a close right after the
// frames were queued discarded them.
func TestConnShutdownIdleSendsGoAway(t *testing.T) {
	for _, tc := range []struct {
		name     string
		requests int
	}{
		{"no request", 0},
		{"last response delivered", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			okHandler(cfg)
			s := startTestServer(t, cfg)
			qc := dial(t, s.addr, false)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ctrl, err := qc.AcceptUniStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for range tc.requests {
				if status, _, err := response(request(t, qc, frames(frameHeaders, encode(get()...)), true)); status != 200 || err != nil {
					t.Fatalf("request: %d %v", status, err)
				}
			}
			c := s.conn(t)
			for !c.idle() {
				time.Sleep(time.Millisecond)
			}
			// The client reads its control stream as the server shuts down.
			var ids []uint64
			read := make(chan struct{})
			go func() {
				defer close(read)
				var rd reader
				rd.reset(ctrl, make([]byte, 64))
				rd.varint()
				for {
					typ, n, err := rd.frameHeader()
					if err != nil {
						return
					}
					p, err := rd.payload(int(n))
					if err != nil {
						return
					}
					if typ == frameGoAway {
						id, _, _ := quicvarint.Parse(p)
						ids = append(ids, id)
					}
				}
			}()
			c.mu.Lock()
			c.lastDone = time.Now().Add(-time.Minute) // long delivered
			c.mu.Unlock()
			c.CloseIfIdle()
			c.Tick(0)
			c.Tick(0)
			if got := closedWith(t, qc); got != errNoError {
				t.Fatalf("closed with %v", got)
			}
			<-read
			want := uint64(4 * tc.requests)
			if len(ids) != 2 || ids[1] != want {
				t.Fatalf("GOAWAY frames before the close: %v, want [%d %d]", ids, uint64(largestStreamID), want)
			}
		})
	}
}

// TestConnShutdownBeforeServe: a connection that a graceful shutdown
// reaches before its Serve has opened the control stream (accepted a
// moment ago) still sends its GOAWAY frames, after SETTINGS, before it
// closes: they were dropped, as there was no control stream to queue them
// on, and the connection closed without a GOAWAY.
func TestConnShutdownBeforeServe(t *testing.T) {
	cfg := testConfig()
	okHandler(cfg)
	s := &testServer{}
	ln, err := quic.ListenAddr("127.0.0.1:0", testTLSConfig(), cfg.QUICConfig(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s.addr = ln.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		qc, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		c := NewConn(cfg, qc, Options{})
		c.CloseIfIdle()
		c.Tick(0)
		c.Tick(0)
		c.Serve()
	}()
	qc := dial(t, s.addr, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctrl, err := qc.AcceptUniStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var types []uint64
	var rd reader
	rd.reset(ctrl, make([]byte, 64))
	rd.varint()
	for {
		typ, n, err := rd.frameHeader()
		if err != nil {
			break
		}
		if _, err := rd.payload(int(n)); err != nil {
			break
		}
		types = append(types, typ)
	}
	if got := closedWith(t, qc); got != errNoError {
		t.Fatalf("closed with %v", got)
	}
	<-served
	if want := []uint64{frameSettings, frameGoAway, frameGoAway}; !slices.Equal(types, want) {
		t.Fatalf("control stream frames %#x, want %#x", types, want)
	}
}
