package http3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/kestrel-go/kestrel/internal/app"
)

// The model test drives one server with seeded random mixes of requests
// on several QUIC connections at once, written frame by frame with
// quic-go's API: bodies of random sizes around the body limit (one byte
// under it, at it, one past it), field sections and trailer sections at
// the header limits or one past them, unknown frames and stream types,
// resets (RESET_STREAM) and STOP_SENDING at random points, extended
// CONNECT tunnels, now and then a connection error or a close by the
// client, on some connections MaxStreams requests held open at once, on
// others a graceful shutdown by the server at a random point. It checks the invariants RFC 9114 gives: every request stream
// ends once (FIN with the status its handler and the limits give, or a
// reset with a code that fits), new streams open as old ones end and
// never more handlers run on a connection than MaxStreams, every handler
// returns and sees its request context end when its client resets the
// request, a connection ends only with the error the client caused or,
// shut down, with H3_NO_ERROR after its GOAWAY frames (whose IDs never
// rise, and only requests from the last one's on are refused), and the
// server's connections end. Each run logs what it did (-v).

const (
	modelBodyLimit   = 3000 // MaxRequestBodySize
	modelBigResponse = 40 << 10
	modelHeadersSize = 2048 // MaxRequestHeadersTotalSize
	modelFieldSize   = 1024 // MaxRequestHeaderFieldSize
	modelFieldCount  = 16   // MaxRequestHeaderCount
)

// modelServer is the handlers' side of a run: what they saw.
type modelServer struct {
	started, returned atomic.Int64
	notCancelled      atomic.Int64 // /block handlers whose request context never ended

	mu      sync.Mutex
	running map[*app.ConnInfo]int // handlers running, per connection
	peak    map[*app.ConnInfo]int // the most at once
	gates   map[string]*modelGate // /hold's, by the client's x-conn
	stats   map[string]int        // what the run did, for the log
}

// modelGate holds /hold handlers until the client lets them go.
type modelGate struct {
	arrived chan struct{} // a handler started
	release chan struct{} // a token lets one handler return
}

func (m *modelServer) gate(id string, n int) *modelGate {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gates == nil {
		m.gates = make(map[string]*modelGate)
	}
	g := m.gates[id]
	if g == nil {
		g = &modelGate{make(chan struct{}, n), make(chan struct{}, n)}
		m.gates[id] = g
	}
	return g
}

// note counts something the run did.
func (m *modelServer) note(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats == nil {
		m.stats = make(map[string]int)
	}
	m.stats[fmt.Sprintf(format, args...)]++
}

func (m *modelServer) enter(c *app.ConnInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == nil {
		m.running, m.peak = make(map[*app.ConnInfo]int), make(map[*app.ConnInfo]int)
	}
	m.running[c]++
	m.peak[c] = max(m.peak[c], m.running[c])
}

func (m *modelServer) leave(c *app.ConnInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running[c]--
}

func (m *modelServer) handler(ex *app.Exchange) {
	m.started.Add(1)
	defer m.returned.Add(1)
	m.enter(ex.Conn)
	defer m.leave(ex.Conn)
	path := string(ex.Path())
	switch path {
	case "/echo":
		b, err := io.ReadAll(ex.Body())
		if err != nil {
			return
		}
		ex.Write(b)
	case "/part":
		p := make([]byte, 100)
		io.ReadFull(ex.Body(), p)
		ex.WriteString("part")
	case "/noread", "/quick":
		ex.WriteString("quick")
	case "/big":
		chunk := bytes.Repeat([]byte("b"), 4<<10)
		for i := 0; i < modelBigResponse/len(chunk); i++ {
			if _, err := ex.Write(chunk); err != nil {
				return
			}
			if err := ex.Flush(); err != nil {
				return
			}
		}
	case "/panic":
		ex.WriteString("started")
		ex.Flush()
		panic("model: panic after the response started")
	case "/panic0":
		panic("model: panic before the response")
	case "/block":
		// Every /block request is reset or stopped by its client, which
		// must end its context.
		select {
		case <-ex.Context().Done():
		case <-time.After(4 * time.Second):
			m.notCancelled.Add(1)
			ex.WriteString("not cancelled")
		}
	case "/hold":
		g := m.gate(string(ex.Header("x-conn")), 0)
		g.arrived <- struct{}{}
		select {
		case <-g.release:
			ex.WriteString("held")
		case <-ex.Context().Done():
		}
	case "/trailers":
		io.Copy(io.Discard, ex.Body())
		ex.AddTrailer("x-model", "t")
		ex.WriteString("trailers")
	case "/ws":
		c, err := ex.Upgrade()
		if err != nil {
			return
		}
		io.Copy(c, c)
	}
}

// modelConfig is the run's server configuration.
func modelConfig(r *rand.Rand, m *modelServer) *Config {
	cfg := testConfig()
	cfg.MaxStreams = 4 + r.IntN(5)
	cfg.MaxRequestHeadersTotalSize = modelHeadersSize
	cfg.MaxRequestHeaderFieldSize = modelFieldSize
	cfg.MaxRequestHeaderCount = modelFieldCount
	cfg.ConnectProtocol = true
	cfg.App.MaxRequestBodySize = modelBodyLimit
	cfg.App.BaseContext = context.Background()
	cfg.App.Handler = m.handler
	return cfg
}

var modelPaths = []string{"/echo", "/part", "/noread", "/quick", "/big", "/panic", "/panic0", "/block", "/trailers", "/ws"}

// outcome is how a request stream ended, seen by the client.
type outcome struct {
	id      quic.StreamID
	status  int
	body    []byte
	trailer bool
	fin     bool    // the stream ended cleanly
	reset   errCode // else the server's reset code, if any
	connErr error   // else the connection's end
}

// parseResponse splits a response stream's bytes into its status, body and
// trailer section.
func parseResponse(b []byte) (status int, body []byte, trailer bool, err error) {
	for len(b) > 0 {
		typ, n, err := quicvarint.Parse(b)
		if err != nil {
			return status, body, trailer, err
		}
		b = b[n:]
		length, n, err := quicvarint.Parse(b)
		if err != nil || uint64(len(b)-n) < length {
			return status, body, trailer, fmt.Errorf("truncated frame %#x", typ)
		}
		p := b[n : n+int(length)]
		b = b[n+int(length):]
		switch typ {
		case frameHeaders:
			s := -1
			next := qpack.NewDecoder().Decode(p)
			for {
				f, err := next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return status, body, trailer, err
				}
				if f.Name == ":status" {
					s, _ = strconv.Atoi(f.Value)
				}
			}
			switch {
			case s < 0 && status >= 200:
				trailer = true
			case s >= 200:
				status = s
			}
		case frameData:
			body = append(body, p...)
		}
	}
	return status, body, trailer, nil
}

// readOutcome reads a response to its end.
func readOutcome(s *quic.Stream, wait time.Duration) (outcome, error) {
	s.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(s)
	o := outcome{id: s.StreamID()}
	var se *quic.StreamError
	switch {
	case err == nil:
		o.fin = true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return o, fmt.Errorf("stream %d: no end within %v (%d bytes read)", s.StreamID(), wait, len(b))
	case errors.As(err, &se) && se.Remote:
		o.reset = errCode(se.ErrorCode)
	default:
		o.connErr = err
	}
	var perr error
	o.status, o.body, o.trailer, perr = parseResponse(b)
	if perr != nil && o.fin {
		return o, fmt.Errorf("stream %d: %v", s.StreamID(), perr)
	}
	return o, nil
}

// modelClient drives one connection.
type modelClient struct {
	m       *modelServer
	id      int
	r       *rand.Rand
	qc      *quic.Conn
	ctrl    *quic.SendStream
	dec     *quic.SendStream
	mu      sync.Mutex // guards r, dec, fault, closed, errs and refused
	maxStr  int
	fault   errCode // the connection error the client provoked, or 0
	closed  bool    // the client closed the connection
	errs    []string
	refused []rejection // requests reset with H3_REQUEST_REJECTED

	shutdown bool           // the server was told to shut the connection down gracefully
	goAways  []uint64       // the server's GOAWAY frames' stream IDs
	ctrlWG   sync.WaitGroup // readServerStreams and its readers
}

// rejection is a request the server refused.
type rejection struct {
	desc string
	id   quic.StreamID
}

// readServerStreams reads the server's unidirectional streams and keeps
// the stream IDs of its control stream's GOAWAY frames, until the
// connection ends.
func (mc *modelClient) readServerStreams() {
	defer mc.ctrlWG.Done()
	for {
		rs, err := mc.qc.AcceptUniStream(context.Background())
		if err != nil {
			return
		}
		mc.ctrlWG.Go(func() {
			var rd reader
			rd.reset(rs, make([]byte, 256))
			if typ, err := rd.varint(); err != nil || typ != streamControl {
				return
			}
			for {
				typ, length, err := rd.frameHeader()
				if err != nil {
					return
				}
				p, err := rd.payload(int(length))
				if err != nil {
					return
				}
				if typ == frameGoAway {
					id, _, _ := quicvarint.Parse(p)
					mc.mu.Lock()
					mc.goAways = append(mc.goAways, id)
					mc.mu.Unlock()
				}
			}
		})
	}
}

// shutdownServer starts the server's graceful shutdown of the
// connection, as Shutdown does, and the heartbeat's ticks that send the
// final GOAWAY: requests below its stream ID are served, those from it
// on refused (H3_REQUEST_REJECTED), then the server closes the
// connection with H3_NO_ERROR.
func (mc *modelClient) shutdownServer(s *testServer, hb interface{ Now() int64 }) {
	// The client's socket is bound to [::]: its port names it.
	_, local, _ := net.SplitHostPort(mc.qc.LocalAddr().String())
	var sc *Conn
	for deadline := time.Now().Add(3 * time.Second); sc == nil && time.Now().Before(deadline); {
		s.mu.Lock()
		for _, c := range s.conns {
			if _, port, _ := net.SplitHostPort(c.remote); port == local {
				sc = c
			}
		}
		s.mu.Unlock()
		if sc == nil {
			time.Sleep(time.Millisecond) // the accept loop has not listed it yet
		}
	}
	if sc == nil {
		mc.violation("shutdown: no server connection from %s", local)
		return
	}
	mc.mu.Lock()
	mc.shutdown = true
	mc.mu.Unlock()
	mc.m.note("server shutdown")
	sc.CloseIfIdle()
	sc.Tick(hb.Now())
	sc.Tick(hb.Now())
}

func (mc *modelClient) violation(format string, args ...any) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.errs = append(mc.errs, fmt.Sprintf(format, args...))
}

func (mc *modelClient) ended() bool { return mc.qc.Context().Err() != nil }

// causedEnd reports whether err, a stream's or the connection's, is the
// end of the connection the client caused: its own close, or the
// connection error it provoked. Requests in flight meet it before the
// connection's context is done, or while the client provokes it.
func (mc *modelClient) causedEnd(err error) bool {
	mc.mu.Lock()
	fault, closed, shutdown := mc.fault, mc.closed, mc.shutdown
	mc.mu.Unlock()
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) {
		return false
	}
	return closed && !ae.Remote || fault != 0 && ae.Remote && errCode(ae.ErrorCode) == fault ||
		shutdown && ae.Remote && errCode(ae.ErrorCode) == errNoError
}

// cancelled tells the server's QPACK decoder that the stream is gone, as
// clients do (RFC 9204, 4.4.2).
func (mc *modelClient) cancelled(id quic.StreamID) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.dec == nil {
		return
	}
	b := appendPrefixed(nil, 0x40, 6, uint64(id))
	mc.dec.Write(b)
}

// appendPrefixed appends a QPACK prefixed integer (RFC 9204, 4.1.1).
func appendPrefixed(b []byte, first byte, bits uint, v uint64) []byte {
	max := uint64(1)<<bits - 1
	if v < max {
		return append(b, first|byte(v))
	}
	b = append(b, first|byte(max))
	v -= max
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// grease is an unknown frame, sometimes of a reserved type (0x1f*N+0x21).
func grease(r *rand.Rand) []byte {
	typ := uint64(0x21 + 0x1f*r.IntN(1000))
	if r.IntN(2) == 0 {
		typ = 0x40 + uint64(r.IntN(0x100))
		if notOnRequestStream(typ) || typ == frameData || typ == frameHeaders {
			typ = 0x21
		}
	}
	return frames(int(typ), bytes.Repeat([]byte{'g'}, r.IntN(20)))
}

// request plans and sends one request, then checks how it ended.
func (mc *modelClient) request(n int) {
	mc.mu.Lock()
	r := rand.New(rand.NewPCG(mc.r.Uint64(), uint64(n)))
	mc.mu.Unlock()
	if r.IntN(8) == 0 {
		mc.headerLimit(r, n)
		return
	}
	path := modelPaths[r.IntN(len(modelPaths))]
	size := []int{0, 1, 100, modelBodyLimit - 1, modelBodyLimit, modelBodyLimit + 1, 9000}[r.IntN(7)]
	withLength := r.IntN(2) == 0
	greaseN := r.IntN(3)
	// A trailer section's size: none, small, at the limit, one past it.
	trailers := []int{0, 0, 0, 0, 100, 100, modelHeadersSize, modelHeadersSize + 1}[r.IntN(8)]
	// 0: reset the request, 1: STOP_SENDING, 2: both; else complete it.
	action := r.IntN(10)
	cutAt := r.IntN(size + 1)
	chunks := 1 + r.IntN(3)
	if path == "/block" && action != 1 {
		// RESET_STREAM alone is not seen by a handler that does not
		// read: clients that cancel a request abort both directions
		// (RFC 9114, 4.1.2).
		action = 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	s, err := mc.qc.OpenStreamSync(ctx)
	cancel()
	if err != nil {
		if !mc.causedEnd(err) {
			mc.violation("request %d: no stream granted within 3 s (MaxStreams %d): %v", n, mc.maxStr, err)
		}
		return
	}
	method := "POST"
	fields := []string{":method", method, ":scheme", "https", ":authority", "a", ":path", path}
	tunnel := path == "/ws"
	if tunnel {
		fields = []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a", ":path", path}
		withLength, trailers = false, 0
	}
	// Now and then /echo's content-length is one byte off its body: a
	// malformed request (RFC 9114, 4.1.2), reset with H3_MESSAGE_ERROR
	// as its handler reads it (a trailer section past the limit would be
	// answered 431 first: it ends a body that is one byte short).
	lie := 0
	if path == "/echo" && withLength && action > 2 && size < modelBodyLimit && trailers <= modelHeadersSize && r.IntN(3) == 0 {
		if lie = 1; size > 0 && r.IntN(2) == 0 {
			lie = -1
		}
	}
	if withLength {
		fields = append(fields, "content-length", strconv.Itoa(size+lie))
	}
	var head []byte
	for range greaseN {
		head = append(head, grease(r)...)
	}
	head = append(head, frames(frameHeaders, encode(fields...))...)
	if r.IntN(20) == 0 {
		// Reset inside the HEADERS frame: no handler runs.
		s.Write(head[:r.IntN(len(head)-1)+1])
		s.CancelWrite(quic.StreamErrorCode(errRequestCancelled))
		mc.cancelled(s.StreamID())
		o, err := readOutcome(s, 3*time.Second)
		switch {
		case err != nil:
			mc.violation("request %d %s (reset inside its head): %v", n, path, err)
		case o.connErr != nil:
			if !mc.causedEnd(o.connErr) {
				mc.violation("request %d %s (reset inside its head): %v on a connection still open", n, path, o.connErr)
			}
		case !o.fin && o.reset == errRequestRejected:
			mc.reject(fmt.Sprintf("request %d %s (reset inside its head)", n, path), o.id)
		case o.fin || o.reset != errRequestCancelled:
			mc.violation("request %d %s (reset inside its head): fin %v, reset %v, status %d; want H3_REQUEST_CANCELLED", n, path, o.fin, o.reset, o.status)
		default:
			mc.m.note("reset inside the head: %v", o.reset)
		}
		return
	}
	if _, err := s.Write(head); err != nil {
		return
	}
	body := bytes.Repeat([]byte{'q'}, size)
	sent := 0
	for i := range chunks {
		end := size * (i + 1) / chunks
		if action <= 2 && end > cutAt {
			end = cutAt
		}
		if end > sent {
			s.Write(frames(frameData, body[sent:end]))
			if r2 := end - sent; r2 > 0 && i%2 == 1 {
				s.Write(grease(r))
			}
			sent = end
		}
	}
	if action <= 2 {
		mc.m.note("%s: %s at %d/%d", path, []string{"reset", "STOP_SENDING", "reset and STOP_SENDING"}[action], sent, size)
		if path == "/block" || tunnel {
			// Not a synchronisation: it varies whether the reset comes
			// before the handler runs or while it waits; both must hold.
			time.Sleep(time.Duration(1+sent%5) * time.Millisecond)
		}
		if action == 0 || action == 2 {
			s.CancelWrite(quic.StreamErrorCode(errRequestCancelled))
			mc.cancelled(s.StreamID())
		}
		if action == 1 || action == 2 {
			s.CancelRead(quic.StreamErrorCode(errRequestCancelled))
		}
		if action == 1 {
			s.Close()
		}
		if action == 0 {
			// The response may still come, or a reset.
			o, err := readOutcome(s, 3*time.Second)
			if err != nil {
				mc.violation("request %d %s (reset by the client at %d/%d): %v", n, path, sent, size, err)
				return
			}
			mc.checkCancelled(n, path, o)
		}
		return
	}
	if trailers > 0 {
		s.Write(frames(frameHeaders, encode(padFields(trailers)...)))
	}
	if r.IntN(3) == 0 {
		s.Write(grease(r))
	}
	s.Close() // a tunnel's handler echoes what was sent, then ends at its end
	o, err := readOutcome(s, 3*time.Second)
	if err != nil {
		if !mc.ended() {
			mc.violation("request %d %s (%d bytes, length %v): %v", n, path, size, withLength, err)
		}
		return
	}
	if lie != 0 {
		if o.connErr != nil && mc.causedEnd(o.connErr) {
			return
		}
		mc.m.note("/echo with content-length %+d off: fin %v, reset %v", lie, o.fin, o.reset)
		if !o.fin && o.reset == errRequestRejected {
			mc.reject(fmt.Sprintf("request %d /echo (content-length %+d off)", n, lie), o.id)
			return
		}
		if o.fin || o.reset != errMessage {
			mc.violation("request %d /echo (%d body bytes, content-length %d, trailers %d): fin %v, status %d, reset %v, connection %v; want H3_MESSAGE_ERROR", n, size, size+lie, trailers, o.fin, o.status, o.reset, o.connErr)
		}
		return
	}
	mc.check(n, path, size, withLength, trailers, o)
}

// padFields returns fields of the given size as the limits count it
// (name, value and 32 bytes each), each value within modelFieldSize.
func padFields(size int) []string {
	var f []string
	for i := 0; size > 0; i++ {
		l := min(size-37, modelFieldSize)
		if rest := size - 37 - l; rest > 0 && rest < 38 {
			l -= 38 - rest
		}
		f = append(f, fmt.Sprintf("x-p%02d", i), strings.Repeat("p", l))
		size -= 37 + l
	}
	return f
}

// fieldsSize is the size of fields as the limits count it.
func fieldsSize(fields []string) int {
	n := 0
	for i := 0; i < len(fields); i += 2 {
		n += len(fields[i]) + len(fields[i+1]) + fieldOverhead
	}
	return n
}

// headerLimit sends a request whose field section is exactly at one of
// the header limits, or one past it, and checks the server answers it
// (200), or refuses it with 431.
func (mc *modelClient) headerLimit(r *rand.Rand, n int) {
	fields := []string{":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/quick"}
	over := r.IntN(2)
	kind := []string{"total size", "field size", "field count"}[r.IntN(3)]
	switch kind {
	case "total size":
		fields = append(fields, padFields(modelHeadersSize-fieldsSize(fields)+over)...)
	case "field size":
		fields = append(fields, "x-big", strings.Repeat("v", modelFieldSize+over))
	case "field count":
		for i := len(fields) / 2; i < modelFieldCount+over; i++ {
			fields = append(fields, fmt.Sprintf("x-c%02d", i), "v")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	s, err := mc.qc.OpenStreamSync(ctx)
	cancel()
	if err != nil {
		if !mc.causedEnd(err) {
			mc.violation("request %d: no stream granted within 3 s (MaxStreams %d): %v", n, mc.maxStr, err)
		}
		return
	}
	s.Write(frames(frameHeaders, encode(fields...)))
	s.Close()
	o, err := readOutcome(s, 3*time.Second)
	if err != nil {
		if !mc.ended() {
			mc.violation("request %d, %s at the limit + %d: %v", n, kind, over, err)
		}
		return
	}
	if o.connErr != nil {
		if !mc.causedEnd(o.connErr) {
			mc.violation("request %d: %v on a connection still open", n, o.connErr)
		}
		return
	}
	want, wantBody := 200, "quick"
	if over == 1 {
		want, wantBody = 431, ""
	}
	mc.m.note("header %s at the limit + %d: status %d", kind, over, o.status)
	if !o.fin && o.reset == errRequestRejected {
		mc.reject(fmt.Sprintf("request %d, %s at the limit + %d", n, kind, over), o.id)
		return
	}
	if !o.fin || o.status != want || string(o.body) != wantBody {
		mc.violation("request %d, %s at the limit + %d: status %d %q (fin %v, reset %v), want %d", n, kind, over, o.status, o.body, o.fin, o.reset, want)
	}
}

// reject records a request the server refused (H3_REQUEST_REJECTED): it
// may only do that to a connection that is going away, and in the model
// only the connection error the client provoked makes it go away (the
// server may refuse a stream it accepts after it found the error, and
// the reset may arrive before the connection's close); runModel judges
// once the connection has ended.
func (mc *modelClient) reject(desc string, id quic.StreamID) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.refused = append(mc.refused, rejection{desc, id})
}

// checkCancelled checks a request the client reset: the server may have
// answered it, or reset the stream.
func (mc *modelClient) checkCancelled(n int, path string, o outcome) {
	if o.connErr != nil || o.fin {
		mc.m.note("%s, reset by the client: status %d", path, o.status)
		return
	}
	mc.m.note("%s, reset by the client: reset %v", path, o.reset)
	switch o.reset {
	case errRequestCancelled, errNoError, errInternal, errRequestIncomplete:
	case errRequestRejected:
		mc.reject(fmt.Sprintf("request %d %s, reset by the client", n, path), o.id)
	default:
		mc.violation("request %d %s, reset by the client: the server reset it with %v", n, path, o.reset)
	}
}

// check checks a complete request's outcome against the handler's.
func (mc *modelClient) check(n int, path string, size int, withLength bool, trailers int, o outcome) {
	if o.connErr != nil {
		if !mc.causedEnd(o.connErr) {
			mc.violation("request %d %s: %v on a connection still open", n, path, o.connErr)
		}
		return
	}
	desc := fmt.Sprintf("request %d %s (%d body bytes, length %v, trailers %d)", n, path, size, withLength, trailers)
	if o.fin {
		mc.m.note("%s, %d body bytes: status %d", path, size, o.status)
	} else {
		mc.m.note("%s: reset %v", path, o.reset)
	}
	if !o.fin {
		switch {
		case path == "/panic" && o.reset == errInternal:
		case o.reset == errRequestRejected:
			mc.reject(desc, o.id)
		default:
			mc.violation("%s: reset with %v (status %d, %d bytes)", desc, o.reset, o.status, len(o.body))
		}
		return
	}
	over := size > modelBodyLimit
	bigTrailers := trailers > modelHeadersSize
	want, wantBody := 200, ""
	switch path {
	case "/echo":
		wantBody = strings.Repeat("q", size)
		if over {
			want, wantBody = 413, ""
		} else if bigTrailers {
			want, wantBody = 431, ""
		}
	case "/part":
		wantBody = "part"
		if over && withLength {
			want = 413 // refused from its content-length
		} else if bigTrailers && size < 100 {
			want, wantBody = 431, "" // the handler read to the trailers
		}
	case "/noread", "/quick":
		wantBody = "quick"
	case "/big":
		wantBody = strings.Repeat("b", modelBigResponse)
	case "/panic":
		mc.violation("%s: ended cleanly after a panic", desc)
		return
	case "/panic0":
		want = 500
	case "/trailers":
		wantBody = "trailers"
		if over {
			want, wantBody = 413, ""
		} else if bigTrailers {
			want, wantBody = 431, ""
		}
	case "/ws":
		wantBody = strings.Repeat("q", size)
	}
	if o.status != want || (want == 200 && string(o.body) != wantBody) {
		mc.violation("%s: status %d with %d body bytes (%.20q), want %d with %d", desc, o.status, len(o.body), o.body, want, len(wantBody))
	}
	if path == "/trailers" && want == 200 && !o.trailer {
		mc.violation("%s: no trailers", desc)
	}
}

// fill takes every stream the connection may have open at once with
// requests whose handlers wait: MaxStreams handlers must run, the client
// may open no stream more, and one handler's return lets it open one.
func (mc *modelClient) fill() {
	id := strconv.Itoa(mc.id)
	g := mc.m.gate(id, mc.maxStr)
	head := frames(frameHeaders, encode(":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/hold", "x-conn", id))
	var held []*quic.Stream
	for range mc.maxStr {
		s, err := mc.qc.OpenStream()
		if err != nil {
			mc.violation("fill: stream %d of MaxStreams %d not granted: %v", len(held)+1, mc.maxStr, err)
			return
		}
		s.Write(head)
		s.Close()
		held = append(held, s)
	}
	for i := range mc.maxStr {
		select {
		case <-g.arrived:
		case <-time.After(3 * time.Second):
			mc.violation("fill: %d of %d handlers started", i, mc.maxStr)
			return
		}
	}
	if _, err := mc.qc.OpenStream(); err == nil {
		mc.violation("fill: a stream past MaxStreams %d was granted", mc.maxStr)
		return
	}
	g.release <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	s, err := mc.qc.OpenStreamSync(ctx)
	cancel()
	if err != nil {
		mc.violation("fill: no stream granted within 3 s after a handler returned: %v", err)
		return
	}
	s.Write(frames(frameHeaders, encode(get()...)))
	s.Close()
	s.CancelRead(quic.StreamErrorCode(errNoError))
	for range mc.maxStr - 1 {
		g.release <- struct{}{}
	}
	for _, s := range held {
		o, err := readOutcome(s, 3*time.Second)
		if err != nil || !o.fin || o.status != 200 || string(o.body) != "held" {
			mc.violation("fill: a held request ended with status %d %q (fin %v, reset %v, %v), want 200 held", o.status, o.body, o.fin, o.reset, err)
		}
	}
	mc.m.note("fill: %d streams held", mc.maxStr)
}

// provoke makes a connection error, or closes the connection, and
// records what the server should close it with.
func (mc *modelClient) provoke() {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	echo := encode(":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/echo")
	onRequest := func(b []byte, fin bool) bool {
		s, err := mc.qc.OpenStream()
		if err != nil {
			return false
		}
		s.Write(b)
		if fin {
			s.Close()
		}
		return true
	}
	onUni := func(typ uint64, b []byte) bool {
		s, err := mc.qc.OpenUniStream()
		if err != nil {
			return false
		}
		s.Write(append(quicvarint.Append(nil, typ), b...))
		return true
	}
	faults := []struct {
		name string
		code errCode
		do   func() bool
	}{
		{"DATA before HEADERS", errFrameUnexpected, func() bool { return onRequest(frames(frameData, []byte("x")), false) }},
		// An HTTP/2 frame type on a request stream whose handler reads
		// its body: a server need not read what comes after a request's
		// head that it does not want.
		{"HTTP/2 PRIORITY in a body", errFrameUnexpected, func() bool { return onRequest(frames(frameHeaders, echo, 0x02, []byte("prio")), false) }},
		{"HEADERS cut by the stream's end", errFrame, func() bool { return onRequest(frames(frameHeaders, echo)[:5], true) }},
		{"DATA cut by the stream's end", errFrame, func() bool {
			return onRequest(frames(frameHeaders, echo, frameData, []byte("body"))[:len(echo)+6], true)
		}},
		{"undecodable field section", errQPACKDecompression, func() bool { return onRequest(frames(frameHeaders, []byte{0x02, 0x00, 0xc1}), true) }},
		{"a second SETTINGS", errFrameUnexpected, func() bool { _, err := mc.ctrl.Write(frames(frameSettings, []byte{})); return err == nil }},
		{"CANCEL_PUSH", errID, func() bool { _, err := mc.ctrl.Write(frames(frameCancelPush, []byte{0})); return err == nil }},
		{"control stream closed", errClosedCriticalStream, func() bool { return mc.ctrl.Close() == nil }},
		{"a second control stream", errStreamCreation, func() bool { return onUni(streamControl, frames(frameSettings, []byte{})) }},
		{"a push stream", errStreamCreation, func() bool { return onUni(streamPush, []byte{0}) }},
		{"Section Acknowledgment", errQPACKDecoderStream, func() bool { _, err := mc.dec.Write([]byte{0x80}); return err == nil }},
	}
	i := mc.r.IntN(len(faults) + 2)
	if i >= len(faults) {
		mc.m.note("fault: the client closes the connection")
		mc.closed = true
		mc.qc.CloseWithError(0, "")
		return
	}
	f := faults[i]
	if f.do() {
		mc.m.note("fault: %s", f.name)
		mc.fault = f.code
	}
}

// runModel runs one seeded mix: conns connections with perConn requests
// each, against a server of its own.
func runModel(t *testing.T, seed uint64, conns, perConn int) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &modelServer{}
	cfg := modelConfig(r, m)
	s := startTestServer(t, cfg)
	var clients []*modelClient
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		qc, err := quic.DialAddr(ctx, s.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{NextProto}}, nil)
		cancel()
		if err != nil {
			t.Fatalf("seed %d: dialling connection %d: %v", seed, i, err)
		}
		t.Cleanup(func() { qc.CloseWithError(0, "") }) // before the server's, on a Fatal too
		mc := &modelClient{m: m, id: i, r: rand.New(rand.NewPCG(seed, uint64(i))), qc: qc, maxStr: cfg.MaxStreams}
		mc.ctrl = uni(t, qc, streamControl, frames(frameSettings, []byte{0x33, 0x01}, 0x21, []byte("g")))
		mc.dec = uni(t, qc, streamQPACKDecoder, nil)
		uni(t, qc, streamQPACKEncoder, []byte{0x20})
		if mc.r.IntN(2) == 0 {
			uni(t, qc, 0x21+0x1f*uint64(mc.r.IntN(100)), []byte("grease"))
		}
		mc.ctrlWG.Add(1)
		go mc.readServerStreams()
		clients = append(clients, mc)
	}
	var wg sync.WaitGroup
	for _, mc := range clients {
		faultAt := -1
		if mc.r.IntN(3) == 0 {
			faultAt = mc.r.IntN(perConn)
		}
		shutdownAt := -1
		if faultAt < 0 && mc.r.IntN(3) == 0 {
			shutdownAt = mc.r.IntN(perConn)
		}
		par := 1 + mc.r.IntN(mc.maxStr+2) // sometimes more than the limit
		fill := mc.r.IntN(2) == 0
		next := atomic.Int64{}
		wg.Go(func() {
			if fill {
				mc.fill()
			}
			for range par {
				wg.Go(func() {
					for {
						n := int(next.Add(1)) - 1
						if n >= perConn || mc.ended() {
							return
						}
						if n == faultAt {
							mc.provoke()
							continue
						}
						if n == shutdownAt {
							mc.shutdownServer(s, cfg.App.Heartbeat)
							continue
						}
						mc.request(n)
					}
				})
			}
		})
	}
	wg.Wait()
	for _, mc := range clients {
		if mc.fault != 0 {
			select {
			case <-mc.qc.Context().Done():
			case <-time.After(3 * time.Second):
				mc.violation("the connection was not closed after a %v fault", mc.fault)
				continue
			}
			var ae *quic.ApplicationError
			if err := context.Cause(mc.qc.Context()); !errors.As(err, &ae) || !ae.Remote || errCode(ae.ErrorCode) != mc.fault {
				if !(errors.As(err, &ae) && !ae.Remote && mc.closed) {
					mc.violation("connection ended with %v, want %v", err, mc.fault)
				}
			}
		} else if mc.shutdown {
			// The requests are done: the server closes the connection
			// once their responses had time to arrive.
			select {
			case <-mc.qc.Context().Done():
				var ae *quic.ApplicationError
				if err := context.Cause(mc.qc.Context()); !errors.As(err, &ae) || !ae.Remote || errCode(ae.ErrorCode) != errNoError {
					mc.violation("connection shut down by the server ended with %v, want H3_NO_ERROR", err)
				}
			case <-time.After(3 * time.Second):
				mc.violation("the server did not close the connection it shut down (GOAWAYs %v)", mc.goAways)
			}
		} else if !mc.closed && mc.ended() {
			mc.violation("connection ended without a fault: %v", context.Cause(mc.qc.Context()))
		}
		mc.qc.CloseWithError(0, "")
		mc.ctrlWG.Wait()
		switch {
		case mc.fault != 0:
			if len(mc.refused) > 0 {
				m.note("requests refused (H3_REQUEST_REJECTED) as the connection failed: %d", len(mc.refused))
			}
		case mc.shutdown:
			// GOAWAY IDs never rise (RFC 9114, 5.2); requests from the last
			// one on are refused, and only those.
			for i := 1; i < len(mc.goAways); i++ {
				if mc.goAways[i] > mc.goAways[i-1] {
					mc.violation("GOAWAY raised the stream ID: %v", mc.goAways)
				}
			}
			if len(mc.goAways) == 0 {
				mc.violation("the server shut the connection down without GOAWAY")
				break
			}
			last := quic.StreamID(mc.goAways[len(mc.goAways)-1])
			for _, rj := range mc.refused {
				if rj.id < last {
					mc.violation("%s: refused (H3_REQUEST_REJECTED) on stream %d, below the final GOAWAY's %d", rj.desc, rj.id, last)
				}
			}
			m.note("server shutdown: %d GOAWAYs, %d requests refused", len(mc.goAways), len(mc.refused))
		default:
			for _, rj := range mc.refused {
				mc.violation("%s: refused (H3_REQUEST_REJECTED) on a connection that was not going away", rj.desc)
			}
		}
	}
	// Every handler returns, and every connection's Serve.
	deadline := time.Now().Add(5 * time.Second)
	for m.returned.Load() != m.started.Load() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if st, ret := m.started.Load(), m.returned.Load(); st != ret {
		t.Errorf("seed %d: %d handlers started, %d returned; their goroutines:%s", seed, st, ret, handlerStacks())
	}
	if n := m.notCancelled.Load(); n > 0 {
		t.Errorf("seed %d: %d /block handlers kept their context after the client reset or stopped the request", seed, n)
	}
	m.mu.Lock()
	for _, p := range m.peak {
		if p > cfg.MaxStreams {
			t.Errorf("seed %d: %d handlers ran at once on a connection, past MaxStreams %d", seed, p, cfg.MaxStreams)
		}
		m.stats[fmt.Sprintf("peak handlers on a connection: %d of %d", p, cfg.MaxStreams)]++
	}
	m.stats[fmt.Sprintf("handlers: %d", m.started.Load())]++
	keys := make([]string, 0, len(m.stats))
	for k := range m.stats {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var log strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&log, "\n  %s: %d", k, m.stats[k])
	}
	m.mu.Unlock()
	t.Logf("seed %d: %d connections, MaxStreams %d:%s", seed, conns, cfg.MaxStreams, log.String())
	s.mu.Lock()
	served := append([]*Conn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range served {
		for !c.isClosed() && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		if !c.isClosed() {
			c.mu.Lock()
			t.Errorf("seed %d: a server connection is still open after its client closed (closed %v, running %d, GOAWAYs %d, QUIC: %v)",
				seed, c.closed, c.running, c.goAwaySent, context.Cause(c.qc.Context()))
			c.mu.Unlock()
		}
	}
	for i, mc := range clients {
		for _, e := range mc.errs {
			t.Errorf("seed %d conn %d: %s", seed, i, e)
		}
	}
}

// handlerStacks returns the stacks of the goroutines in a model handler.
func handlerStacks() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out strings.Builder
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "modelServer).handler") {
			out.WriteString("\n" + g)
		}
	}
	return out.String()
}

// isClosed reports whether the connection's Serve has seen its end and
// its handlers returned.
func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed && c.running == 0 && c.qc.Context().Err() != nil
}

// TestConnRandomInterleavings runs seeded random mixes of requests
// against the invariants above: 8 seeds by default, H3MODEL_SEEDS=N runs
// N seeds from H3MODEL_SEED (default 1).
func TestConnRandomInterleavings(t *testing.T) {
	t.Parallel()
	first, seeds := uint64(1), 8
	if v, err := strconv.ParseUint(os.Getenv("H3MODEL_SEED"), 10, 64); err == nil {
		first = v
	}
	if v, err := strconv.Atoi(os.Getenv("H3MODEL_SEEDS")); err == nil {
		seeds = v
	}
	for seed := first; seed < first+uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runModel(t, seed, 3, 40) })
	}
}
