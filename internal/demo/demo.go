// Package demo is the application the kestrel command serves by default:
// a home page describing the server and the request that tries every
// route from the browser (see home.go), the TechEmpower plaintext
// and JSON tests on the native handler API, and endpoints that exercise
// request bodies (compressed ones decoded), headers, streaming and
// WebSockets.
package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/grpcserver"
	"github.com/kestrel-go/kestrel/requestdecompression"
	"github.com/kestrel-go/kestrel/websocket"
)

// Limits of GET /stream, so that one request cannot hold the server
// forever or make it write without end.
const (
	MaxStreamChunks = 100_000
	MaxStreamSize   = 1 << 20
	MaxStreamDelay  = 60_000 // milliseconds
)

// App serves the demo. It is both a kestrel.NativeHandler (the hot paths)
// and an http.Handler (everything).
type App struct {
	addresses func() []string
	mux       *http.ServeMux
	metrics   atomic.Pointer[func() (map[string]float64, error)] // see SetMetrics
	grpc      *grpcserver.Server                                 // gRPC and gRPC-Web calls (grpc.go)
	health    *health.Server                                     // the gRPC health service; see Draining
}

// New returns the demo app; addresses reports the server's bound addresses
// for the index page.
func New(addresses func() []string) *App {
	a := &App{addresses: addresses, mux: http.NewServeMux()}
	a.grpc, a.health = newGRPC()
	a.mux.HandleFunc("GET /{$}", a.index)
	a.mux.HandleFunc("GET /stats", a.stats)
	a.mux.HandleFunc("GET /plaintext", plaintext)
	a.mux.HandleFunc("GET /json", jsonHandler)
	// Bodies sent with Content-Encoding gzip, br, deflate or zstd are
	// decoded, under the request's body size limit.
	a.mux.Handle("POST /echo", requestdecompression.Handler(http.HandlerFunc(echo), requestdecompression.Options{}))
	a.mux.HandleFunc("GET /headers", headers)
	a.mux.HandleFunc("GET /stream", stream)
	// A WebSocket is a GET with Upgrade over HTTP/1.1 and an extended
	// CONNECT over HTTP/2 and HTTP/3.
	ws := websocket.Echo(nil)
	a.mux.Handle("GET /ws", ws)
	a.mux.Handle("CONNECT /ws", ws)
	return a
}

// ServeHTTP serves every demo endpoint through net/http's types.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.serveGRPC(w, r) {
		a.mux.ServeHTTP(w, r)
	}
}

// ServeKestrel serves GET /plaintext and GET /json without allocating and
// hands every other request to ServeHTTP.
func (a *App) ServeKestrel(c *kestrel.Context) { a.serveNative(c, a) }

// Native returns the native handler for the hot paths that hands every
// other request to next (the app wrapped in middleware).
func (a *App) Native(next http.Handler) kestrel.NativeHandler {
	return kestrel.NativeHandlerFunc(func(c *kestrel.Context) { a.serveNative(c, next) })
}

func (a *App) serveNative(c *kestrel.Context, next http.Handler) {
	if a.serveGRPCNative(c) {
		return
	}
	if string(c.Method()) == "GET" {
		switch string(c.Path()) {
		case "/plaintext":
			c.SetContentType("text/plain")
			c.WriteString(helloWorld)
			return
		case "/json":
			c.SetContentType("application/json")
			WriteMessageJSON(c, helloWorld)
			return
		}
	}
	c.ServeHTTP(next)
}

const helloWorld = "Hello, World!"

// message is the TechEmpower JSON test's object.
type message struct {
	Message string `json:"message"`
}

func plaintext(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, helloWorld)
}

func jsonHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(message{Message: helloWorld})
	w.Write(b)
}

// WriteMessageJSON serializes {"message": s} as encoding/json would, piece
// by piece, so that nothing is allocated (the TechEmpower JSON test).
func WriteMessageJSON(w io.StringWriter, s string) {
	w.WriteString(`{"message":"`)
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '\r':
			esc = `\r`
		case c == '\t':
			esc = `\t`
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			esc = `\u00` + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&0xf])
		default:
			continue
		}
		w.WriteString(s[start:i])
		w.WriteString(esc)
		start = i + 1
	}
	w.WriteString(s[start:])
	w.WriteString(`"}`)
}

// echoBuffer is how much of a request body echo reads before answering.
const echoBuffer = 1 << 20

// echo returns the request body (decoded, if it came compressed: see
// New); ?maxBodySize=N sets the request's body size limit first, which
// then holds for the decoded bytes.
func echo(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("maxBodySize"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < kestrel.Unlimited {
			http.Error(w, "maxBodySize must be a number of bytes, or -1 for no limit", http.StatusBadRequest)
			return
		}
		if err := kestrel.SetMaxRequestBodySize(r, n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	// Up to echoBuffer bytes are read before answering, so that a proxy
	// that reads the response only after it has sent the whole request
	// (nginx) gets bodies of that size without both sides waiting on full
	// socket buffers; the rest is streamed.
	head, err := io.ReadAll(io.LimitReader(r.Body, echoBuffer))
	if err == nil {
		_, err = w.Write(head)
	}
	if err == nil && len(head) == echoBuffer {
		var buf [32 << 10]byte
		_, err = io.CopyBuffer(w, struct{ io.Reader }{r.Body}, buf[:])
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		// The server answers 413 if nothing was sent yet.
		http.Error(w, fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit), http.StatusRequestEntityTooLarge)
	}
}

// headers reports the request as the server saw it: behind a proxy, the
// client's address and scheme its forwarded headers give (the scheme in
// r.URL.Scheme, where forwardedheaders puts it).
func headers(w http.ResponseWriter, r *http.Request) {
	scheme := r.URL.Scheme
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(struct {
		Method        string              `json:"method"`
		Target        string              `json:"target"`
		Protocol      string              `json:"protocol"`
		Host          string              `json:"host"`
		Scheme        string              `json:"scheme"`
		RemoteAddress string              `json:"remoteAddress"`
		Headers       map[string][]string `json:"headers"`
	}{r.Method, r.RequestURI, r.Proto, r.Host, scheme, r.RemoteAddr, r.Header})
}

// stream writes chunks=N chunks of size=B bytes, flushing each and waiting
// delayMs=D milliseconds between them.
func stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	chunks, err1 := intParam(q, "chunks", 10, MaxStreamChunks)
	size, err2 := intParam(q, "size", 1024, MaxStreamSize)
	delay, err3 := intParam(q, "delayMs", 0, MaxStreamDelay)
	if err := errors.Join(err1, err2, err3); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	chunk := make([]byte, size)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	rc := http.NewResponseController(w)
	for i := range chunks {
		if i > 0 && delay > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Duration(delay) * time.Millisecond):
			}
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func intParam(q url.Values, name string, def, max int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("%s=%q: want a whole number from 0 to %d", name, v, max)
	}
	return n, nil
}
