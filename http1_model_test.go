package kestrel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The HTTP/1.1 model: a seeded client writes pipelined sequences of
// requests on several raw TCP connections at once, its bytes cut in random
// pieces with random pauses, against handlers that behave in different
// ways, and checks invariants of RFC 9112 (and Kestrel's documented
// behaviour) on what comes back rather than comparing with another
// server: every request before the first one that ends the connection
// gets exactly one final response, in order, framed exactly (a
// Content-Length or chunks, no body for HEAD); 100 Continue comes only
// when asked for, once, before the final response, and when the handler
// reads the body; a malformed request gets its 400, 413, 414 or 431 and
// nothing after it is served; Connection: close is honoured both ways, and
// the server closes only when a request or its handler ends the
// connection (or a body it was not asked to take is left unread); the
// body limit holds at its exact edge; requests behind the end reach no
// handler; every handler returns, and every connection closes and its
// goroutines end.
//
// TestHTTP1ModelRandomPipelines runs 40 seeds of 4 connections (up to 12
// requests each); H1MODEL_SEEDS runs more (from H1MODEL_FIRST) and
// H1MODEL_SEED one;
// H1MODEL_LOG=1 logs each connection's requests and what came back, and
// H1MODEL_DUMP=prefix writes the bytes a failing connection sent to
// prefix-seed-conn, to replay them.

// h1ModelLimit is the model server's MaxRequestBodySize.
const h1ModelLimit = 2000

// h1ModelReq is one request the client sends and what it expects.
type h1ModelReq struct {
	id        string
	kind      string // the handler: echo, part, noread, large, early, cl, status, panic, close, hijack, upgrade
	arg       int    // part: bytes read; large, cl: bytes written; status: the status
	method    string
	minor     int  // HTTP/1.minor
	keepAlive bool // HTTP/1.0: Connection: keep-alive
	connClose bool // Connection: close
	expect    bool // Expect: 100-continue
	chunked   bool
	length    bool   // Content-Length
	body      []byte // the body's content
	trailer   bool   // a trailer field (chunked)
	h2c       bool   // Upgrade: h2c (served as HTTP/1.1)
	malformed string // "", "chunk", "lengths", "line", "header", "count", "fold"
	raw       []byte
}

func (q *h1ModelReq) String() string {
	s := fmt.Sprintf("%s %s %s HTTP/1.%d", q.id, q.method, q.kind, q.minor)
	if q.arg > 0 {
		s += " arg=" + strconv.Itoa(q.arg)
	}
	if q.length {
		s += " cl=" + strconv.Itoa(len(q.body))
	}
	if q.chunked {
		s += " chunked=" + strconv.Itoa(len(q.body))
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{q.keepAlive, "keep-alive"}, {q.connClose, "close"}, {q.expect, "expect"}, {q.trailer, "trailer"}, {q.h2c, "h2c"}, {q.malformed != "", "malformed=" + q.malformed}} {
		if f.on {
			s += " " + f.name
		}
	}
	return s
}

// overLimit reports whether the body is over the server's body limit.
func (q *h1ModelReq) overLimit() bool { return len(q.body) > h1ModelLimit }

// readsAll reports whether the handler reads the body to its end.
func (q *h1ModelReq) readsAll() bool {
	return q.kind == "echo" || q.kind == "part" && q.arg >= len(q.body) || q.kind == "large" && q.arg%2 == 1 || q.kind == "early"
}

// reads reports whether the handler reads the body at all.
func (q *h1ModelReq) reads() bool { return q.readsAll() || q.kind == "part" }

// ends reports whether the connection must end after this request.
func (q *h1ModelReq) ends() bool {
	switch {
	case q.connClose, q.minor == 0 && !q.keepAlive, q.malformed != "", q.overLimit():
		return true
	}
	switch q.kind {
	case "close", "panic", "hijack", "upgrade":
		return true
	}
	return false
}

// mayEnd reports whether the server may end the connection after this
// request: it must; or the client sent a body, asking for 100 Continue,
// that the handler left unread (the server did not take it); or the
// handler streamed its response leaving a chunked body unread (whose end
// the head cannot wait for); or the response has no length (HTTP/1.0 and
// a streamed response). The early handler starts its response before it
// reads the body: unread then.
func (q *h1ModelReq) mayEnd() bool {
	unread := (len(q.body) > 0 || q.chunked) && (!q.readsAll() || q.kind == "early")
	streams := q.kind == "large" || q.kind == "early" || q.kind == "cl"
	return q.ends() || q.expect && unread || streams && q.chunked && unread ||
		streams && q.kind != "cl" && q.minor == 0 && q.method != "HEAD"
}

// h1ModelHandlers runs the model's handlers and remembers which ran.
type h1ModelHandlers struct {
	mu      sync.Mutex
	ran     map[string]bool // request id → its handler started
	running map[string]bool
	cond    *sync.Cond // broadcast as a handler returns
}

func newH1ModelHandlers() *h1ModelHandlers {
	h := &h1ModelHandlers{ran: map[string]bool{}, running: map[string]bool{}}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *h1ModelHandlers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(r.URL.Path, "/") // "", "m", kind, id, arg
	if len(parts) != 5 {
		w.WriteHeader(404)
		return
	}
	kind, id := parts[2], parts[3]
	arg, _ := strconv.Atoi(parts[4])
	h.mu.Lock()
	h.ran[id] = true
	h.running[id] = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.running, id)
		h.cond.Broadcast()
		h.mu.Unlock()
	}()
	w.Header().Set("X-Id", id)
	switch kind {
	case "echo":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return // the server answers 400 or 413
		}
		w.Header().Set("X-Trailer", r.Trailer.Get("X-T"))
		w.Write(b)
	case "part":
		if _, err := io.CopyN(io.Discard, r.Body, int64(arg)); err != nil && err != io.EOF {
			return
		}
		io.WriteString(w, "part")
	case "noread":
		io.WriteString(w, "noread")
	case "early":
		// The response starts before the body is read: no 100 Continue.
		io.WriteString(w, "early:")
		w.(http.Flusher).Flush()
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "done")
	case "cl":
		w.Header().Set("Content-Length", strconv.Itoa(arg))
		io.WriteString(w, strings.Repeat("C", arg/2))
		w.(http.Flusher).Flush()
		io.WriteString(w, strings.Repeat("C", arg-arg/2))
	case "status":
		w.WriteHeader(arg)
		io.WriteString(w, "no body allowed") // fails: http.ErrBodyNotAllowed
	case "large":
		if arg%2 == 1 {
			io.Copy(io.Discard, r.Body) // an odd size reads the body first
		}
		chunk := bytes.Repeat([]byte{'L'}, 700)
		for n := 0; n < arg; n += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), arg-n)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(time.Duration(arg%3) * time.Millisecond) // slowly: a behaviour, not a synchronisation
		}
	case "panic":
		io.WriteString(w, "before the panic")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case "close":
		w.Header().Set("Connection", "close")
		io.WriteString(w, "close")
	case "hijack":
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			w.WriteHeader(599)
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nX-Id: " + id + "\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		brw.Flush()
	case "upgrade":
		w.Header().Set("X-Id", id)
		c, err := Upgrade(w, r)
		if err != nil {
			w.WriteHeader(598)
			return
		}
		defer c.Close()
		var ping [4]byte
		if _, err := io.ReadFull(c, ping[:]); err != nil {
			return
		}
		c.Write(append([]byte("pong:"), ping[:]...))
	default:
		w.WriteHeader(404)
	}
}

// genH1ModelRequest returns request i of a connection's sequence; last is set
// for the sequence's last request, which alone may hijack or upgrade.
func genH1ModelRequest(r *rand.Rand, id string, last bool) *h1ModelReq {
	q := &h1ModelReq{id: id, method: "GET", minor: 1}
	kinds := []string{"echo", "echo", "echo", "part", "part", "noread", "noread", "large", "early", "cl", "status"}
	switch n := r.IntN(40); {
	case n < 2:
		q.kind = "close"
	case n < 4:
		q.kind = "panic"
	case n < 8 && last:
		q.kind = []string{"hijack", "upgrade"}[n%2]
	default:
		q.kind = kinds[r.IntN(len(kinds))]
	}
	if r.IntN(10) == 0 {
		q.minor = 0
		q.keepAlive = r.IntN(2) == 0
	}
	if q.kind == "upgrade" {
		q.minor = 1
	}
	// The body.
	if q.kind != "upgrade" && q.kind != "hijack" && r.IntN(3) > 0 {
		q.method = "POST"
		var n int
		switch r.IntN(4) {
		case 0:
			n = h1ModelLimit - 1 + r.IntN(3) // limit-1, limit, limit+1
		case 1:
			n = 0
		default:
			n = 1 + r.IntN(300)
		}
		q.body = make([]byte, n)
		for i := range q.body {
			q.body[i] = 'a' + byte(r.IntN(26))
		}
		if q.minor == 1 && r.IntN(2) == 0 {
			q.chunked = true
			q.trailer = r.IntN(2) == 0
		} else {
			q.length = true
		}
		if r.IntN(3) == 0 {
			q.expect = true // over HTTP/1.0 too, which gets no 100 Continue
		}
	} else if q.kind != "upgrade" && q.kind != "hijack" && r.IntN(4) == 0 {
		q.method = "HEAD"
	}
	switch q.kind {
	case "part":
		q.arg = 1 + r.IntN(max(1, len(q.body)+10))
	case "large":
		q.arg = 1 + r.IntN(20_000)
	case "cl":
		q.arg = r.IntN(5000)
	case "status":
		q.arg = []int{204, 304}[r.IntN(2)]
	}
	if q.kind != "upgrade" && q.kind != "hijack" && r.IntN(20) == 0 {
		q.connClose = true
	}
	if q.kind != "upgrade" && q.minor == 1 && !q.connClose && r.IntN(10) == 0 {
		q.h2c = true
	}
	if r.IntN(20) == 0 {
		q.malformed = []string{"chunk", "lengths", "line", "header", "count", "fold"}[r.IntN(6)]
		if q.malformed == "chunk" {
			q.kind, q.method, q.minor, q.chunked, q.length, q.body = "echo", "POST", 1, true, false, []byte("abc")
			if r.IntN(3) == 0 {
				q.kind = "noread" // answered 200, the connection closes as the drain fails
			}
			q.trailer, q.expect = false, false
		}
		if q.malformed == "lengths" {
			q.length, q.chunked, q.trailer = true, false, false
		}
	}
	q.raw = q.encode(r)
	return q
}

// encode writes the request's bytes.
func (q *h1ModelReq) encode(r *rand.Rand) []byte {
	var b bytes.Buffer
	target := "/m/" + q.kind + "/" + q.id + "/" + strconv.Itoa(q.arg)
	if q.malformed == "line" {
		target += "?" + strings.Repeat("p", 1100)
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.%d\r\nHost: model\r\n", q.method, target, q.minor)
	if q.minor == 0 && q.keepAlive {
		b.WriteString("Connection: keep-alive\r\n")
	}
	if q.connClose {
		b.WriteString("Connection: close\r\n")
	}
	if q.h2c {
		b.WriteString("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")
	}
	if q.kind == "upgrade" {
		b.WriteString("Connection: Upgrade\r\nUpgrade: websocket\r\n")
	}
	if q.expect {
		b.WriteString("Expect: 100-continue\r\n")
	}
	if q.length {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.body))
	}
	if q.chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch q.malformed {
	case "lengths":
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.body)+1)
	case "header":
		b.WriteString("X-Pad: " + strings.Repeat("h", 4200) + "\r\n")
	case "count":
		for i := range 100 { // 101 with Host, over MaxRequestHeaderCount
			fmt.Fprintf(&b, "X-%d: v\r\n", i)
		}
	case "fold":
		b.WriteString("X-Folded: a\r\n b\r\n") // obsolete line folding (RFC 9112, 5.2)
	}
	b.WriteString("\r\n")
	switch {
	case q.malformed == "chunk":
		b.WriteString("zz\r\nabc\r\n0\r\n\r\n")
	case q.chunked:
		rest := q.body
		for len(rest) > 0 {
			n := min(len(rest), 1+r.IntN(700))
			fmt.Fprintf(&b, "%x", n)
			if r.IntN(3) == 0 {
				b.WriteString(`;ext=1;q="v"`)
			}
			b.WriteString("\r\n")
			b.Write(rest[:n])
			b.WriteString("\r\n")
			rest = rest[n:]
		}
		b.WriteString("0\r\n")
		if q.trailer {
			b.WriteString("X-T: tv\r\n")
		}
		b.WriteString("\r\n")
	default:
		b.Write(q.body)
	}
	if q.kind == "upgrade" {
		b.WriteString("ping")
	}
	return b.Bytes()
}

// h1Response is one response as the client parsed it.
type h1Response struct {
	status   int
	header   map[string][]string // lower-case names
	body     []byte
	trailer  map[string][]string
	complete bool // the framing ended (not cut by the connection's end)
	toClose  bool // delimited by the connection's close
}

func (p *h1Response) get(name string) string {
	if v := p.header[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// hasToken reports whether a list field holds token.
func (p *h1Response) hasToken(name, token string) bool {
	for _, v := range p.header[name] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

var errH1Framing = errors.New("framing")

// readH1Line reads a CRLF-terminated line.
func readH1Line(br *bufio.Reader) (string, error) {
	s, err := br.ReadString('\n')
	if err != nil {
		return s, err
	}
	if !strings.HasSuffix(s, "\r\n") {
		return s, fmt.Errorf("%w: line %q without CR", errH1Framing, s)
	}
	return s[:len(s)-2], nil
}

// readH1Fields reads header or trailer fields up to the empty line.
func readH1Fields(br *bufio.Reader) (map[string][]string, error) {
	h := map[string][]string{}
	for {
		line, err := readH1Line(br)
		if err != nil {
			return h, err
		}
		if line == "" {
			return h, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return h, fmt.Errorf("%w: field line %q", errH1Framing, line)
		}
		name = strings.ToLower(name)
		h[name] = append(h[name], strings.TrimSpace(value))
	}
}

// readH1Response reads one response, interim or final. An error with
// the response's status set is a cut response.
func readH1Response(br *bufio.Reader, head bool) (*h1Response, error) {
	p := &h1Response{}
	line, err := readH1Line(br)
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	if proto != "HTTP/1.1" || len(code) != 3 {
		return nil, fmt.Errorf("%w: status line %q", errH1Framing, line)
	}
	p.status, err = strconv.Atoi(code)
	if err != nil {
		return nil, fmt.Errorf("%w: status line %q", errH1Framing, line)
	}
	if p.header, err = readH1Fields(br); err != nil {
		return p, err
	}
	if p.status < 200 {
		p.complete = true
		return p, nil
	}
	cls := p.header["content-length"]
	te := p.header["transfer-encoding"]
	if len(cls) > 1 || len(cls) == 1 && len(te) > 0 {
		return p, fmt.Errorf("%w: Content-Length %q, Transfer-Encoding %q", errH1Framing, cls, te)
	}
	switch {
	case head || p.status == 204 || p.status == 304:
	case len(te) > 0:
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return p, fmt.Errorf("%w: Transfer-Encoding %q", errH1Framing, te)
		}
		for {
			line, err := readH1Line(br)
			if err != nil {
				return p, err
			}
			size, _, _ := strings.Cut(line, ";")
			n, err := strconv.ParseUint(size, 16, 32)
			if err != nil {
				return p, fmt.Errorf("%w: chunk size %q", errH1Framing, line)
			}
			if n == 0 {
				if p.trailer, err = readH1Fields(br); err != nil {
					return p, err
				}
				break
			}
			start := len(p.body)
			p.body = append(p.body, make([]byte, n)...)
			if _, err := io.ReadFull(br, p.body[start:]); err != nil {
				return p, err
			}
			if line, err := readH1Line(br); err != nil || line != "" {
				return p, fmt.Errorf("%w: chunk not followed by CRLF (%v)", errH1Framing, err)
			}
		}
	case len(cls) == 1:
		n, err := strconv.ParseUint(cls[0], 10, 31)
		if err != nil {
			return p, fmt.Errorf("%w: Content-Length %q", errH1Framing, cls[0])
		}
		p.body = make([]byte, n)
		if _, err := io.ReadFull(br, p.body); err != nil {
			return p, err
		}
	default:
		p.toClose = true
		if p.body, err = io.ReadAll(br); err != nil {
			return p, err
		}
	}
	p.complete = true
	return p, nil
}

// h1ModelConn is one of the client's connections.
type h1ModelConn struct {
	name  string
	reqs  []*h1ModelReq
	half  bool // CloseWrite after the last request
	log   strings.Builder
	fails []string
}

func (mc *h1ModelConn) violation(format string, args ...any) {
	mc.fails = append(mc.fails, fmt.Sprintf(format, args...))
}

// run sends the requests and checks the responses; it returns the index
// of the request that ended the connection (len(reqs) if none did).
func (mc *h1ModelConn) run(r *rand.Rand, addr string) int {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		mc.violation("dial: %v", err)
		return 0
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	var all []byte
	for _, q := range mc.reqs {
		all = append(all, q.raw...)
	}
	// The writer: random pieces with random pauses; the server may close
	// before it is done, so its errors are expected.
	wseed := r.Uint64()
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		wr := rand.New(rand.NewPCG(wseed, 7))
		for rest := all; len(rest) > 0; {
			n := min(len(rest), 1+wr.IntN(1500))
			if wr.IntN(4) == 0 {
				n = min(len(rest), 1+wr.IntN(8))
			}
			if _, err := nc.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
			if wr.IntN(3) == 0 {
				time.Sleep(time.Duration(wr.IntN(300)) * time.Microsecond) // a pause in the client's writing, not a synchronisation
			}
		}
		if mc.half {
			nc.(*net.TCPConn).CloseWrite()
		}
	}()
	defer func() { <-wdone }()

	br := bufio.NewReader(nc)
	end := len(mc.reqs)
	for i, q := range mc.reqs {
		fmt.Fprintf(&mc.log, "  > %s\n", q)
		ended := mc.check(br, q)
		if ended {
			end = i
			break
		}
	}
	// Nothing follows the end (or the last response): the server closes
	// a connection it ended, and one the client half-closed.
	if end < len(mc.reqs) || mc.half {
		b, err := io.ReadAll(br)
		if len(b) > 0 {
			mc.violation("%d bytes after the connection's last response: %.80q", len(b), b)
		}
		if err != nil && !(end < len(mc.reqs) && mc.reqs[end].kind == "panic") {
			mc.violation("the connection ended with %v, not an orderly close", err)
		}
	} else {
		// Still open: nothing more arrives.
		nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if b, err := br.Peek(1); len(b) > 0 || err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			mc.violation("after every response, the connection has %q, %v", b, err)
		}
	}
	return end
}

// check reads the responses to q and reports whether the connection ended.
func (mc *h1ModelConn) check(br *bufio.Reader, q *h1ModelReq) bool {
	continues := 0
	var p *h1Response
	for {
		var err error
		p, err = readH1Response(br, q.method == "HEAD")
		if p != nil {
			fmt.Fprintf(&mc.log, "  < %d %v complete=%v toClose=%v body=%d\n", p.status, p.header, p.complete, p.toClose, len(p.body))
		}
		if err != nil {
			if q.kind == "panic" && p != nil && p.status == 200 && !errors.Is(err, errH1Framing) {
				if !bytes.HasPrefix([]byte("before the panic"), p.body) {
					mc.violation("%s: a panicking handler's cut response has %q", q, p.body)
				}
				return true
			}
			mc.violation("%s: reading its response: %v", q, err)
			return true
		}
		if p.status >= 200 || p.status == 101 {
			break
		}
		if p.status != 100 {
			mc.violation("%s: interim response %d", q, p.status)
			continue
		}
		continues++
	}
	// 100 Continue: only when asked for, once, and when the handler reads.
	switch {
	case continues > 1:
		mc.violation("%s: %d 100 Continue", q, continues)
	case continues == 1 && (!q.expect || q.minor == 0):
		mc.violation("%s: 100 Continue not asked for", q)
	case continues == 1 && (!q.reads() || q.kind == "early"):
		mc.violation("%s: 100 Continue for a handler that does not read before it answers", q)
	case continues == 0 && q.expect && q.minor == 1 && q.reads() && q.kind != "early" && len(q.body) > 0 && !q.overLimit() && p.status < 400:
		mc.violation("%s: no 100 Continue for a handler that reads", q)
	}
	closes := p.hasToken("connection", "close")
	id := p.get("x-id")
	want := 200
	switch {
	case q.malformed == "chunk" && q.kind == "noread":
	case q.malformed == "lengths", q.malformed == "chunk", q.malformed == "fold":
		want = 400
	case q.malformed == "line":
		want = 414
	case q.malformed == "header", q.malformed == "count":
		want = 431
	case q.kind == "upgrade":
		want = 101
	case q.kind == "status" && q.malformed == "":
		want = q.arg
		if q.overLimit() && q.length && p.status == 413 {
			want = 413
		}
	case q.overLimit() && (q.kind == "large" || q.kind == "early") && p.status == 200:
		// It ignores its failed read and streams its response: the
		// server's 413 replaces only a response not yet started.
	case q.overLimit() && q.readsAll():
		want = 413
	case q.overLimit() && q.length && p.status == 413:
		want = 413 // answered before the handler ran, or when it returned
	}
	if p.status != want {
		mc.violation("%s: status %d, want %d", q, p.status, want)
		return true
	}
	if want < 400 {
		if id != q.id {
			mc.violation("%s: the response of %q", q, id)
			return true
		}
	}
	if want >= 400 && !closes {
		mc.violation("%s: %d without Connection: close", q, p.status)
	}
	var body string
	switch q.kind {
	case "echo":
		body = string(q.body)
		if q.trailer && p.get("x-trailer") != "tv" && want == 200 {
			mc.violation("%s: the handler saw trailer %q", q, p.get("x-trailer"))
		}
	case "part", "noread", "close":
		body = q.kind
	case "large":
		body = strings.Repeat("L", q.arg)
	case "early":
		body = "early:done"
	case "cl":
		body = strings.Repeat("C", q.arg)
	case "hijack":
		body = "hijacked"
	case "upgrade":
		body = ""
	}
	if q.method == "HEAD" || want != 200 {
		body = ""
	}
	// No framing on 204, nor on a 304 whose handler set no length (RFC
	// 9110, 8.6: a 304's length is the 200's); a HEAD response keeps the
	// length its handler set.
	if (want == 204 || want == 304) && (len(p.header["content-length"]) > 0 || len(p.header["transfer-encoding"]) > 0) {
		mc.violation("%s: %d with %v", q, want, p.header)
	}
	if q.method == "HEAD" && q.kind == "cl" && want == 200 && p.get("content-length") != strconv.Itoa(q.arg) {
		mc.violation("%s: HEAD answered with Content-Length %q, its handler set %d", q, p.get("content-length"), q.arg)
	}
	if q.kind == "panic" && p.toClose {
		// A response delimited by the close that the panic cut looks
		// whole (RFC 9112, 8): only a prefix of what was written comes.
		if !bytes.HasPrefix([]byte("before the panic"), p.body) {
			mc.violation("%s: a panicking handler's cut response has %q", q, p.body)
		}
		return true
	}
	if want < 400 && string(p.body) != body {
		mc.violation("%s: body %d bytes %.40q, want %d bytes %.40q", q, len(p.body), p.body, len(body), body)
	}
	if want == 101 {
		if !p.hasToken("upgrade", "websocket") || !p.hasToken("connection", "upgrade") {
			mc.violation("%s: 101 with %v", q, p.header)
		}
		pong, err := io.ReadAll(br)
		if string(pong) != "pong:ping" || err != nil {
			mc.violation("%s: the upgraded connection read %q, %v", q, pong, err)
		}
		return true
	}
	if q.minor == 0 && q.keepAlive && !closes && !p.hasToken("connection", "keep-alive") {
		mc.violation("%s: HTTP/1.0 keep-alive answered without Connection: keep-alive", q)
	}
	switch {
	case q.kind == "panic" && want == 200:
		// The head went out before the panic, which ends the connection
		// without a word: a HEAD response looks whole.
		return true
	case q.ends() && !closes:
		mc.violation("%s: the connection ends without Connection: close (%v)", q, p.header)
		return true
	case closes && !q.mayEnd():
		mc.violation("%s: Connection: close for a request that keeps the connection", q)
		return true
	case p.toClose && !closes:
		mc.violation("%s: a response delimited by the close without Connection: close", q)
		return true
	}
	return closes
}

// runH1Model runs one seed.
func runH1Model(t *testing.T, seed uint64, conns int) {
	r := rand.New(rand.NewPCG(seed, 1))
	h := newH1ModelHandlers()
	var stMu sync.Mutex
	open := map[net.Conn]http.ConnState{}
	stCond := sync.NewCond(&stMu)
	s := &Server{
		Handler: h,
		Limits: Limits{
			MaxRequestBodySize:         h1ModelLimit,
			MaxRequestLineSize:         1024,
			MaxRequestHeadersTotalSize: 4096,
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			stMu.Lock()
			defer stMu.Unlock()
			if st == http.StateClosed || st == http.StateHijacked {
				delete(open, c)
				stCond.Broadcast()
			} else {
				open[c] = st
			}
		},
	}
	addr := startServer(t, s)
	baseline := runtime.NumGoroutine()

	cs := make([]*h1ModelConn, conns)
	ends := make([]int, conns)
	var wg sync.WaitGroup
	for i := range cs {
		mc := &h1ModelConn{name: fmt.Sprintf("%d-%d", seed, i), half: r.IntN(3) == 0}
		n := 1 + r.IntN(12)
		for j := range n {
			mc.reqs = append(mc.reqs, genH1ModelRequest(r, fmt.Sprintf("%d-%d-%d", seed, i, j), j == n-1))
		}
		cs[i] = mc
		cr := rand.New(rand.NewPCG(r.Uint64(), 2))
		wg.Go(func() { ends[i] = mc.run(cr, addr) })
	}
	wg.Wait()

	// Every handler returns.
	deadline := time.AfterFunc(10*time.Second, func() {
		h.mu.Lock()
		h.cond.Broadcast()
		h.mu.Unlock()
		stMu.Lock()
		stCond.Broadcast()
		stMu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	h.mu.Lock()
	for len(h.running) > 0 && time.Since(start) < 10*time.Second {
		h.cond.Wait()
	}
	if len(h.running) > 0 {
		t.Errorf("seed %d: handlers still running: %v\n%s", seed, h.running, handlerStacksH1())
	}
	ran := h.ran
	h.mu.Unlock()
	// Requests behind the end reach no handler; those before it all do.
	for i, mc := range cs {
		for j, q := range mc.reqs {
			rejected := q.malformed != "" && q.malformed != "chunk"
			head := rejected || q.overLimit() && q.length
			switch {
			case rejected && ran[q.id]:
				mc.violation("%s: a rejected request reached its handler", q)
			case j > ends[i] && ran[q.id]:
				mc.violation("%s: served behind the connection's end (request %d)", q, ends[i])
			case j <= ends[i] && !head && !ran[q.id]:
				mc.violation("%s: its handler never ran", q)
			}
		}
	}
	// Every connection closes (the client closed them all by now).
	stMu.Lock()
	for len(open) > 0 && time.Since(start) < 10*time.Second {
		stCond.Wait()
	}
	if len(open) > 0 {
		t.Errorf("seed %d: %d connections still open: %v", seed, len(open), open)
	}
	stMu.Unlock()
	// And their goroutines end (no signal exists for that: poll).
	for time.Since(start) < 10*time.Second && runtime.NumGoroutine() > baseline {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		t.Errorf("seed %d: %d goroutines, %d before the connections\n%s", seed, n, baseline, handlerStacksH1())
	}
	for i, mc := range cs {
		if len(mc.fails) > 0 || os.Getenv("H1MODEL_LOG") != "" {
			t.Logf("connection %s (half-close %v, ended at %d):\n%s", mc.name, mc.half, ends[i], mc.log.String())
		}
		if len(mc.fails) > 0 && os.Getenv("H1MODEL_DUMP") != "" {
			var all []byte
			for _, q := range mc.reqs {
				all = append(all, q.raw...)
			}
			os.WriteFile(os.Getenv("H1MODEL_DUMP")+"-"+mc.name, all, 0o644)
		}
		for _, f := range mc.fails {
			t.Errorf("seed %d: %s", seed, f)
		}
	}
}

// handlerStacksH1 returns the stacks of the goroutines running now.
func handlerStacksH1() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestHTTP1ModelRandomPipelines runs the HTTP/1.1 model (see above).
func TestHTTP1ModelRandomPipelines(t *testing.T) {
	seeds, first := 40, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("H1MODEL_SEEDS")); err == nil {
		seeds = v
	}
	if v, err := strconv.ParseUint(os.Getenv("H1MODEL_FIRST"), 10, 64); err == nil {
		first = v
	}
	if v, err := strconv.ParseUint(os.Getenv("H1MODEL_SEED"), 10, 64); err == nil {
		seeds, first = 1, v
	}
	for seed := first; seed < first+uint64(seeds); seed++ {
		if !t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) { runH1Model(t, seed, 4) }) {
			t.Fatalf("seed %d failed (H1MODEL_SEED=%d to run it alone)", seed, seed)
		}
	}
}
