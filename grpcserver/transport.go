package grpcserver

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kestrel-go/kestrel"
)

// transport is the HTTP side of one call: the request's head and body,
// and the response's head, body and trailers. The native path and the
// http.Handler path each implement it.
type transport interface {
	protoMajor() int
	method() []byte
	// path is the request's :path, query included, as grpc-go takes a
	// call's method name from it.
	path() []byte
	// header is the first request header called name (lower case), or
	// nil; the slice is valid until the handler returns.
	header(name string) []byte
	// visitHeaders gives v each request header, names in lower case.
	visitHeaders(v headerVisitor)
	authority() []byte
	body() io.Reader
	context() context.Context
	remoteAddr() net.Addr
	localAddr() net.Addr
	tls() *tls.ConnectionState

	setStatus(code int)
	addHeader(name, value string)
	write(p []byte) error
	flush() error
	addTrailer(name, value string)
	// relaxLimits turns off the server's request body size limit (gRPC
	// limits each message instead) and, for a call whose client streams,
	// the minimum body data rate, as ASP.NET Core's gRPC does: a stream
	// may be quiet for as long as the application wants.
	relaxLimits(clientStreams bool)
	// finish sends the head of a response that wrote no body, if not
	// sent yet, before the call returns.
	finish()
	// expire makes a read of the request body that waits for the client
	// fail now: the call's deadline passed. It is called from another
	// goroutine while the handler runs.
	expire()
	// abandonWrite makes a write of the response that waits for the
	// client (for flow-control window) fail now, resetting the stream: the
	// call's deadline passed, or Stop ended it. It is called from another
	// goroutine while a write is under way.
	abandonWrite()
	// refuse refuses the call unprocessed after Stop or GracefulStop,
	// when the protocol can, and sends the client's next calls to a new
	// connection (kestrel.Context.RefuseStream); false when it cannot,
	// and the call is answered UNAVAILABLE.
	refuse() bool
}

// nativeTransport serves a call on this module's native path.
type nativeTransport struct {
	c *kestrel.Context
	// lower holds a field name in lower case (HTTP/1.1 keeps the client's).
	lower []byte
}

func (t *nativeTransport) protoMajor() int {
	switch t.c.Proto() {
	case "HTTP/2.0":
		return 2
	case "HTTP/3.0":
		return 3
	}
	return 1
}

func (t *nativeTransport) method() []byte                { return t.c.Method() }
func (t *nativeTransport) header(name string) []byte     { return t.c.Header(name) }
func (t *nativeTransport) visitHeaders(v headerVisitor)  { t.visitLowerCase(v) }
func (t *nativeTransport) authority() []byte             { return t.c.Host() }
func (t *nativeTransport) body() io.Reader               { return t.c.Body() }
func (t *nativeTransport) context() context.Context      { return t.c.Context() }
func (t *nativeTransport) remoteAddr() net.Addr          { return t.c.RemoteAddr() }
func (t *nativeTransport) localAddr() net.Addr           { return t.c.LocalAddr() }
func (t *nativeTransport) tls() *tls.ConnectionState     { return t.c.TLS() }
func (t *nativeTransport) setStatus(code int)            { t.c.SetStatus(code) }
func (t *nativeTransport) addHeader(name, value string)  { t.c.AddHeader(name, value) }
func (t *nativeTransport) flush() error                  { return t.c.Flush() }
func (t *nativeTransport) addTrailer(name, value string) { t.c.AddTrailer(name, value) }
func (t *nativeTransport) finish()                       {}
func (t *nativeTransport) expire()                       { t.c.SetReadDeadline(time.Now()) }
func (t *nativeTransport) abandonWrite()                 { t.c.SetWriteDeadline(time.Now()) }
func (t *nativeTransport) refuse() bool                  { return t.c.RefuseStream() }

func (t *nativeTransport) path() []byte {
	if tg := t.c.Target(); len(tg) > 0 && tg[0] == '/' {
		return tg // the :path, query included
	}
	// An HTTP/1.1 absolute-form target (gRPC-Web through a proxy): its
	// path and query, as the origin form would have them.
	p := t.c.Path()
	if q := t.c.Query(); len(q) > 0 {
		p = append(append(append([]byte(nil), p...), '?'), q...)
	}
	return p
}

func (t *nativeTransport) relaxLimits(clientStreams bool) {
	t.c.SetMaxRequestBodySize(kestrel.Unlimited)
	if clientStreams {
		t.c.SetMinRequestBodyDataRate(kestrel.DataRate{})
	}
}
func (t *nativeTransport) write(p []byte) error {
	_, err := t.c.Write(p)
	return err
}

// visitLowerCase gives v each request field, the name in lower case as
// gRPC's metadata has it: HTTP/2 and HTTP/3 require lower-case names, but
// an HTTP/1.1 request (gRPC-Web) has them as the client wrote them.
func (t *nativeTransport) visitLowerCase(v headerVisitor) {
	if t.protoMajor() >= 2 {
		t.c.VisitHeaders(v.visit)
		return
	}
	t.c.VisitHeaders(func(n, val []byte) {
		for _, b := range n {
			if 'A' <= b && b <= 'Z' {
				t.lower = append(t.lower[:0], n...)
				for i, b := range t.lower {
					if 'A' <= b && b <= 'Z' {
						t.lower[i] = b + 'a' - 'A'
					}
				}
				n = t.lower
				break
			}
		}
		v.visit(n, val)
	})
}

// httpTransport serves a call through the standard handler interface.
type httpTransport struct {
	w       http.ResponseWriter
	r       *http.Request
	rc      *http.ResponseController
	reqBody expiringBody
	status  int
	started bool
}

func (t *httpTransport) protoMajor() int { return t.r.ProtoMajor }
func (t *httpTransport) method() []byte  { return []byte(t.r.Method) }

func (t *httpTransport) path() []byte {
	if u := t.r.RequestURI; u != "" && u[0] == '/' {
		return []byte(u)
	}
	// An HTTP/1.1 absolute-form target (gRPC-Web through a proxy), or a
	// request made by hand: its path and query.
	return []byte(t.r.URL.RequestURI())
}

func (t *httpTransport) header(name string) []byte {
	vs := t.r.Header[http.CanonicalHeaderKey(name)]
	if len(vs) == 0 {
		return nil
	}
	return []byte(vs[0])
}

func (t *httpTransport) visitHeaders(hv headerVisitor) {
	for k, vs := range t.r.Header {
		name := []byte(strings.ToLower(k))
		for _, v := range vs {
			hv.visit(name, []byte(v))
		}
	}
}

// headerVisitor is given request headers one at a time.
type headerVisitor interface{ visit(name, value []byte) }

func (t *httpTransport) authority() []byte            { return []byte(t.r.Host) }
func (t *httpTransport) body() io.Reader              { return &t.reqBody }
func (t *httpTransport) context() context.Context     { return t.r.Context() }
func (t *httpTransport) tls() *tls.ConnectionState    { return t.r.TLS }
func (t *httpTransport) setStatus(code int)           { t.status = code }
func (t *httpTransport) addHeader(name, value string) { t.w.Header().Add(name, value) }

func (t *httpTransport) remoteAddr() net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", t.r.RemoteAddr); err == nil {
		return a
	}
	return stringAddr(t.r.RemoteAddr)
}

func (t *httpTransport) localAddr() net.Addr {
	if a, ok := t.r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a
	}
	return nil
}

func (t *httpTransport) start() {
	if !t.started {
		t.started = true
		if t.status == 0 {
			t.status = http.StatusOK
		}
		t.w.WriteHeader(t.status)
	}
}

func (t *httpTransport) write(p []byte) error {
	t.start()
	_, err := t.w.Write(p)
	return err
}

func (t *httpTransport) flush() error {
	t.start()
	return t.rc.Flush()
}

func (t *httpTransport) addTrailer(name, value string) {
	t.w.Header().Add(http.TrailerPrefix+name, value)
}

// relaxLimits does nothing: an http.Handler cannot reach the server's
// limits.
func (t *httpTransport) relaxLimits(bool) {}

// finish sends the head of a response that wrote nothing (a
// trailers-only response).
func (t *httpTransport) finish() { t.start() }

// expire fails the reads of the request body from now on, and one in
// progress through the read deadline. The deadline is set only while a
// read waits: on net/http's HTTP/1.1 server, a read deadline that ends
// the connection's own read, which runs once the body has been read
// (looking for the client's going away), cancels the contexts of that
// request and of every later one on the connection.
func (t *httpTransport) expire() {
	b := &t.reqBody
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expired = true
	if b.reading {
		t.rc.SetReadDeadline(time.Now())
	}
}

// abandonWrite fails the write in progress through the write deadline.
// On net/http's HTTP/1.1 server the deadline stays on the connection,
// which then closes: the response it was writing cannot be finished.
func (t *httpTransport) abandonWrite() { t.rc.SetWriteDeadline(time.Now()) }

// refuse cannot refuse a call through http.Handler: the call is answered
// UNAVAILABLE, with Connection: close, on which net/http's HTTP/2 server
// sends GOAWAY (and HTTP/1.1 closes), so that the client's next calls
// take a new connection.
func (t *httpTransport) refuse() bool {
	t.w.Header().Set("Connection", "close")
	return false
}

// expiringBody is the request body of a call served through the standard
// handler interface, which its deadline can end without a read deadline
// left on the connection.
type expiringBody struct {
	r io.Reader

	mu      sync.Mutex
	reading bool // a Read of r is in progress
	eof     bool // r returned io.EOF: the connection reads on its own now
	expired bool // the call's deadline passed
}

func (b *expiringBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	switch {
	case b.eof:
		b.mu.Unlock()
		return 0, io.EOF
	case b.expired:
		b.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	b.reading = true
	b.mu.Unlock()
	n, err := b.r.Read(p)
	b.mu.Lock()
	b.reading = false
	if err == io.EOF {
		b.eof = true
	}
	b.mu.Unlock()
	return n, err
}

// stringAddr is an address known only as a string.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
