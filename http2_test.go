package kestrel

//lint:file-ignore SA1019 golang.org/x/net/http2's Transport is deprecated in favour of net/http's, but many clients still use it, so the tests talk to the server with both.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// h2Server is a server with a cleartext endpoint (the default protocols,
// HTTP/1.1 and h2c) and an HTTPS one (h2 and http/1.1 by ALPN).
type h2Server struct {
	plain, secure string // 127.0.0.1:port
	roots         *x509.CertPool
}

func startH2(t *testing.T, s *Server) *h2Server {
	t.Helper()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	if s.Logger == nil {
		s.Logger = quietLogger
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := &h2Server{roots: pki.pool}
	for _, a := range s.Addresses() {
		if rest, ok := strings.CutPrefix(a, "https://"); ok {
			h.secure = rest
		} else {
			h.plain = strings.TrimPrefix(a, "http://")
		}
	}
	return h
}

// h2Client is an HTTP/2-only client and the base URL it talks to.
type h2Client struct {
	name string
	base string
	tls  bool
	c    *http.Client
	rt   http.RoundTripper
}

// clients returns the HTTP/2 clients the tests run with: net/http's
// transport (h2c with prior knowledge, and h2 over TLS) and
// golang.org/x/net/http2's (the same two).
func (s *h2Server) clients(t *testing.T) []h2Client {
	tlsConfig := func() *tls.Config { return &tls.Config{RootCAs: s.roots} }
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: tlsConfig()}
	h2.Protocols.SetHTTP2(true)
	xh2c := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	xh2 := &http2.Transport{TLSClientConfig: tlsConfig()}
	cs := []h2Client{
		{name: "nethttp-h2c", base: "http://" + s.plain, rt: h2c},
		{name: "nethttp-tls", base: "https://" + s.secure, tls: true, rt: h2},
		{name: "xnet-h2c", base: "http://" + s.plain, rt: xh2c},
		{name: "xnet-tls", base: "https://" + s.secure, tls: true, rt: xh2},
	}
	for i := range cs {
		cs[i].c = &http.Client{Transport: cs[i].rt, Timeout: 20 * time.Second}
		t.Cleanup(cs[i].c.CloseIdleConnections)
	}
	return cs
}

// forEachClient runs f as a parallel subtest with each HTTP/2 client.
func forEachClient(t *testing.T, s *h2Server, f func(t *testing.T, c h2Client)) {
	for _, c := range s.clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f(t, c)
		})
	}
}

// doH2 sends req and reads the whole response, which must come over
// HTTP/2; it stops the test when the exchange fails.
func doH2(t *testing.T, c h2Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, body, err := tryH2(c, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// tryH2 is doH2 for goroutines other than the test's: it returns the
// failure.
func tryH2(c h2Client, req *http.Request) (*http.Response, string, error) {
	resp, err := c.c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: reading the body: %w", req.Method, req.URL, err)
	}
	if resp.ProtoMajor != 2 {
		return nil, "", fmt.Errorf("%s %s: answered over %s, want HTTP/2.0", req.Method, req.URL, resp.Proto)
	}
	return resp, string(b), nil
}

// newReq makes a request that ends with the test.
func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestHTTP2GetHeadPost: GET and HEAD see the request as net/http's HTTP/2
// server describes it (Proto, TLS, Host); a 10 MiB POST arrives whole.
func TestHTTP2GetHeadPost(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s %d.%d tls=%v host=%s", r.Method, r.URL.Path, r.Proto, r.ProtoMajor, r.ProtoMinor,
			r.TLS != nil && r.TLS.NegotiatedProtocol == "h2", r.Host)
	})
	mux.HandleFunc("POST /sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x cl=%d", n, h.Sum(nil), r.ContentLength)
	})
	s := startH2(t, &Server{Handler: mux})
	body := make([]byte, 10<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		host := strings.TrimPrefix(strings.TrimPrefix(c.base, "http://"), "https://")
		resp, got := doH2(t, c, newReq(t, "GET", c.base+"/info", nil))
		want := fmt.Sprintf("GET /info HTTP/2.0 2.0 tls=%v host=%s", c.tls, host)
		if resp.StatusCode != 200 || got != want {
			t.Errorf("GET: %d %q, want %q", resp.StatusCode, got, want)
		}
		if resp.Header.Get("Server") != "Kestrel" || resp.Header.Get("Date") == "" || resp.ContentLength != int64(len(want)) {
			t.Errorf("GET: Server %q Date %q Content-Length %d", resp.Header.Get("Server"), resp.Header.Get("Date"), resp.ContentLength)
		}

		resp, got = doH2(t, c, newReq(t, "HEAD", c.base+"/info", nil))
		want = fmt.Sprintf("HEAD /info HTTP/2.0 2.0 tls=%v host=%s", c.tls, host)
		if resp.StatusCode != 200 || got != "" || resp.ContentLength != int64(len(want)) || resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("HEAD: %d body %q Content-Length %d Content-Type %q, want 200, no body, %d", resp.StatusCode, got, resp.ContentLength, resp.Header.Get("Content-Type"), len(want))
		}

		// With a Content-Length, and streamed (no length).
		for _, r := range []io.Reader{bytes.NewReader(body), io.MultiReader(bytes.NewReader(body))} {
			req := newReq(t, "POST", c.base+"/sum", r)
			_, got = doH2(t, c, req)
			cl := req.ContentLength
			if cl == 0 {
				cl = -1 // streamed
			}
			if want := fmt.Sprintf("%d %x cl=%d", len(body), sum, cl); got != want {
				t.Errorf("POST of 10 MiB (Content-Length %d): %q, want %q", req.ContentLength, got, want)
			}
		}
	})
}

// TestHTTP2FullDuplex: the handler echoes each line of the request body
// as it arrives while the client is still sending, and the client reads
// each echo before it sends the next line.
func TestHTTP2FullDuplex(t *testing.T) {
	t.Parallel()
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		w.WriteHeader(200)
		rc.Flush()
		br := bufio.NewReader(r.Body)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				io.WriteString(w, "echo "+line)
				if err := rc.Flush(); err != nil {
					t.Errorf("Flush: %v", err)
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					t.Errorf("reading the body: %v", err)
				}
				io.WriteString(w, "done\n")
				return
			}
		}
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		pr, pw := io.Pipe()
		resp, err := c.c.Do(newReq(t, "POST", c.base+"/", pr))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for i := range 20 {
			line := fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", i*1000))
			if _, err := io.WriteString(pw, line); err != nil {
				t.Fatal(err)
			}
			got, err := br.ReadString('\n')
			if err != nil || got != "echo "+line {
				t.Fatalf("line %d: read %q, %v", i, got, err)
			}
		}
		pw.Close()
		if rest, err := io.ReadAll(br); err != nil || string(rest) != "done\n" {
			t.Errorf("after the request ended: %q, %v", rest, err)
		}
	})
}

// TestHTTP2Trailers: response trailers declared with the Trailer header
// and set with http.TrailerPrefix reach the client; the client's request
// trailers reach r.Trailer once the body is read.
func TestHTTP2Trailers(t *testing.T) {
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		declared := fmt.Sprint(r.Trailer)
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			t.Errorf("reading the body: %v", err)
		}
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("X-Before", "head")
		fmt.Fprintf(w, "read %d; declared %s; trailer %q; Trailer header %q", n, declared, r.Trailer.Get("X-Req-Sum"), r.Header.Get("Trailer"))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", hex.EncodeToString(h.Sum(nil)))
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "late")
	})})
	body := bytes.Repeat([]byte("trailers "), 10000)
	sum := sha256.Sum256(body)
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		pr, pw := io.Pipe()
		req := newReq(t, "POST", c.base+"/", pr)
		req.Trailer = http.Header{"X-Req-Sum": nil}
		go func() {
			pw.Write(body)
			req.Trailer.Set("X-Req-Sum", "abc123")
			pw.Close()
		}()
		resp, got := doH2(t, c, req)
		want := fmt.Sprintf("read %d; declared map[X-Req-Sum:[]]; trailer \"abc123\"; Trailer header \"\"", len(body))
		if got != want {
			t.Errorf("the handler saw %q,\nwant %q", got, want)
		}
		if resp.Header.Get("X-Before") != "head" {
			t.Errorf("X-Before %q", resp.Header.Get("X-Before"))
		}
		if g := resp.Trailer.Get("X-Sum"); g != hex.EncodeToString(sum[:]) {
			t.Errorf("trailer X-Sum %q, want the body's SHA-256", g)
		}
		if g := resp.Trailer.Get("X-Undeclared"); g != "late" {
			t.Errorf("trailer X-Undeclared (http.TrailerPrefix) %q, want late; trailers %v", g, resp.Trailer)
		}
	})
}

// TestHTTP2Flush: a flushed part of the response reaches the client while
// the handler is still running.
func TestHTTP2Flush(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	release := map[string]chan struct{}{}
	gate := func(id string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if release[id] == nil {
			release[id] = make(chan struct{})
		}
		return release[id]
	}
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-gate(r.URL.Query().Get("id")):
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "second\n")
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		resp, err := c.c.Do(newReq(t, "GET", c.base+"/?id="+c.name, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		start := time.Now()
		if line, err := br.ReadString('\n'); line != "first\n" || err != nil {
			t.Fatalf("first line %q, %v", line, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the flushed line took %v", d)
		}
		close(gate(c.name))
		if rest, err := io.ReadAll(br); string(rest) != "second\n" || err != nil {
			t.Errorf("rest %q, %v", rest, err)
		}
	})
}

// TestHTTP2ResponseControllerDeadlines: a read deadline fails a read that
// waits for body bytes with os.ErrDeadlineExceeded, and so does one set
// to now, from another goroutine, while the read waits; a write deadline
// abandons a response the client does not read, and the client sees the
// stream end in an error; one already past fails the next write.
func TestHTTP2ResponseControllerDeadlines(t *testing.T) {
	t.Parallel()
	// Each client's handlers report on its own channels (?c=name): the
	// clients run in parallel, and a handler of one that ends late must
	// not answer for another.
	var mu sync.Mutex
	reports := map[string][2]chan error{}
	chans := func(name string) (readErr, writeErr chan error) {
		mu.Lock()
		defer mu.Unlock()
		ch, ok := reports[name]
		if !ok {
			ch = [2]chan error{make(chan error, 8), make(chan error, 8)}
			reports[name] = ch
		}
		return ch[0], ch[1]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		readErr, _ := chans(r.URL.Query().Get("c"))
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		_, err := io.ReadAll(r.Body)
		readErr <- err
		rc.SetReadDeadline(time.Time{})
		w.WriteHeader(http.StatusRequestTimeout)
	})
	mux.HandleFunc("/readnow", func(w http.ResponseWriter, r *http.Request) {
		readErr, _ := chans(r.URL.Query().Get("c"))
		rc := http.NewResponseController(w)
		go func() {
			time.Sleep(100 * time.Millisecond) // the read below waits by now
			rc.SetReadDeadline(time.Now())
		}()
		_, err := io.ReadAll(r.Body)
		readErr <- err
		rc.SetReadDeadline(time.Time{})
		w.WriteHeader(http.StatusRequestTimeout)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		_, writeErr := chans(r.URL.Query().Get("c"))
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		chunk := make([]byte, 64<<10)
		for start := time.Now(); time.Since(start) < 10*time.Second; {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- errors.New("writes never failed")
	})
	mux.HandleFunc("/writepast", func(w http.ResponseWriter, r *http.Request) {
		_, writeErr := chans(r.URL.Query().Get("c"))
		// A deadline already past fails the writes after it at once, as
		// with net/http's HTTP/2 server.
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Now().Add(-time.Second))
		_, err := io.WriteString(w, "after the deadline")
		if err == nil {
			err = rc.Flush()
		}
		writeErr <- err
	})
	s := startH2(t, &Server{Handler: mux})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		readErr, writeErr := chans(c.name)
		q := "?c=" + url.QueryEscape(c.name)
		for i := range 20 {
			resp, err := c.c.Do(newReq(t, "GET", c.base+"/writepast"+q, nil))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err := <-writeErr; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("request %d: write after a deadline in the past: %v, want os.ErrDeadlineExceeded", i, err)
			}
		}
		for _, path := range []string{"/read", "/readnow"} {
			pr, pw := io.Pipe()
			defer pw.Close()
			go pw.Write([]byte("some, but not all of the body"))
			start := time.Now()
			resp, err := c.c.Do(newReq(t, "POST", c.base+path+q, pr))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("%s: read past the deadline: %v, want os.ErrDeadlineExceeded", path, err)
			}
			if resp.StatusCode != http.StatusRequestTimeout || time.Since(start) > 3*time.Second {
				t.Errorf("%s: read deadline: %d after %v", path, resp.StatusCode, time.Since(start))
			}
		}

		resp, err := c.c.Do(newReq(t, "GET", c.base+"/write"+q, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		// Not reading: the client's window fills and the writes wait.
		select {
		case err := <-writeErr:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("write past the deadline: %v, want os.ErrDeadlineExceeded", err)
			}
		case <-time.After(8 * time.Second):
			t.Fatal("the write deadline did not stop the handler")
		}
		if _, err := io.Copy(io.Discard, resp.Body); err == nil {
			t.Error("the client read the abandoned response to its end without an error")
		}
	})
}

// TestHTTP2RequestContext: r.Context() ends when the client cancels the
// request (RST_STREAM) and when the connection is lost.
func TestHTTP2RequestContext(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	ended := map[string]chan error{}
	result := func(id string) chan error {
		mu.Lock()
		defer mu.Unlock()
		if ended[id] == nil {
			ended[id] = make(chan error, 1)
		}
		return ended[id]
	}
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			result(r.URL.Query().Get("id")) <- r.Context().Err()
		case <-time.After(10 * time.Second):
			result(r.URL.Query().Get("id")) <- errors.New("the request context was not cancelled")
		}
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/?id="+c.name, nil)
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		if err := <-result(c.name); !errors.Is(err, context.Canceled) {
			t.Errorf("after the client cancelled: %v", err)
		}
	})
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("connection-lost-tls-%v", secure), func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("lost-%v", secure)
			var nc net.Conn
			var err error
			if secure {
				nc, err = tls.Dial("tcp", s.secure, &tls.Config{RootCAs: s.roots, NextProtos: []string{"h2"}})
			} else {
				nc, err = net.Dial("tcp", s.plain)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			cc, err := (&http2.Transport{}).NewClientConn(nc)
			if err != nil {
				t.Fatal(err)
			}
			scheme := map[bool]string{false: "http", true: "https"}[secure]
			resp, err := cc.RoundTrip(newReq(t, "GET", scheme+"://localhost/?id="+id, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			nc.Close()
			if err := <-result(id); !errors.Is(err, context.Canceled) {
				t.Errorf("after the connection was lost: %v", err)
			}
		})
	}
}

// TestHTTP2EarlyHints: a 103 with Link headers reaches the client before
// the final response.
func TestHTTP2EarlyHints(t *testing.T) {
	t.Parallel()
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "final")
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		var got []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
			return nil
		}}
		req := newReq(t, "GET", c.base+"/", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, body := doH2(t, c, req)
		if len(got) != 1 || got[0] != "103 </style.css>; rel=preload; as=style" {
			t.Errorf("1xx responses: %q", got)
		}
		if resp.StatusCode != 200 || body != "final" {
			t.Errorf("final response: %d %q", resp.StatusCode, body)
		}
	})
}

// TestHTTP2AbortHandler: panicking with http.ErrAbortHandler resets the
// stream, before or after the response started; the connection serves on.
func TestHTTP2AbortHandler(t *testing.T) {
	t.Parallel()
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/after":
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/before":
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "fine")
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		resp, err := c.c.Do(newReq(t, "GET", c.base+"/after", nil))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
			t.Errorf("aborted after the head: read %q, %v; want a stream error INTERNAL_ERROR", b, err)
		}
		if resp, err := c.c.Do(newReq(t, "GET", c.base+"/before", nil)); err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
			if err == nil {
				resp.Body.Close()
			}
			t.Errorf("aborted before the head: %v; want a stream error INTERNAL_ERROR", err)
		}
		if _, body := doH2(t, c, newReq(t, "GET", c.base+"/", nil)); body != "fine" {
			t.Errorf("after the resets: %q", body)
		}
	})
}

// TestHTTP2NoHijack: the ResponseWriter of an HTTP/2 stream is not an
// http.Hijacker (as net/http's), and Upgrade fails with ErrNotUpgradable.
func TestHTTP2NoHijack(t *testing.T) {
	t.Parallel()
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, isHijacker := w.(http.Hijacker)
		_, _, rcErr := http.NewResponseController(w).Hijack()
		_, upErr := Upgrade(w, r)
		fmt.Fprintf(w, "hijacker=%v rc=%v upgradable=%v upgrade=%v", isHijacker, errors.Is(rcErr, http.ErrNotSupported), IsUpgradable(r), errors.Is(upErr, ErrNotUpgradable))
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		req := newReq(t, "GET", c.base+"/", nil)
		if _, body := doH2(t, c, req); body != "hijacker=false rc=true upgradable=false upgrade=true" {
			t.Errorf("got %q", body)
		}
	})
}

// TestHTTP2NativeHandler: the native API serves HTTP/2 streams: the
// request's fields and body, and a streamed response.
func TestHTTP2NativeHandler(t *testing.T) {
	t.Parallel()
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "std %s", r.Proto) })
	s := startH2(t, &Server{
		Handler: std,
		NativeHandler: NativeHandlerFunc(func(c *Context) {
			switch string(c.Path()) {
			case "/native":
				c.SetContentType("text/plain")
				fmt.Fprintf(c, "%s %s %s q=%s x=%s", c.Method(), c.Proto(), c.Path(), c.Query(), c.Header("x-test"))
			case "/echo":
				if err := c.SetMaxRequestBodySize(1 << 20); err != nil {
					c.SetStatus(500)
					return
				}
				b, err := io.ReadAll(c.Body())
				if err != nil {
					return // 413
				}
				c.Write(bytes.ToUpper(b))
			case "/stream":
				for i := range 3 {
					fmt.Fprintf(c, "chunk %d\n", i)
					c.Flush()
				}
			default:
				c.ServeHTTP(std)
			}
		}),
	})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		req := newReq(t, "GET", c.base+"/native?a=1", nil)
		req.Header.Set("X-Test", "yes")
		if resp, body := doH2(t, c, req); body != "GET HTTP/2.0 /native q=a=1 x=yes" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("native: %q %q", body, resp.Header.Get("Content-Type"))
		}
		if _, body := doH2(t, c, newReq(t, "POST", c.base+"/echo", strings.NewReader("shout"))); body != "SHOUT" {
			t.Errorf("native echo: %q", body)
		}
		if resp, _ := doH2(t, c, newReq(t, "POST", c.base+"/echo", bytes.NewReader(make([]byte, 1<<20+1)))); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("native body over its limit: %d, want 413", resp.StatusCode)
		}
		if _, body := doH2(t, c, newReq(t, "GET", c.base+"/stream", nil)); body != "chunk 0\nchunk 1\nchunk 2\n" {
			t.Errorf("native stream: %q", body)
		}
		if _, body := doH2(t, c, newReq(t, "GET", c.base+"/other", nil)); body != "std HTTP/2.0" {
			t.Errorf("fall-through to the http.Handler: %q", body)
		}
	})
}

// TestHTTP2BodyLimits: SetMaxRequestBodySize and Limits.MaxRequestBodySize
// answer 413 on a stream; a Content-Length over the limit is refused
// before the handler reads a byte and before the client finished sending.
func TestHTTP2BodyLimits(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	readErrs := map[string]chan error{}
	readErr := func(client string) chan error {
		mu.Lock()
		defer mu.Unlock()
		if readErrs[client] == nil {
			readErrs[client] = make(chan error, 1)
		}
		return readErrs[client]
	}
	s := startH2(t, &Server{Limits: Limits{MaxRequestBodySize: 64 << 10}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ten" {
			if err := SetMaxRequestBodySize(r, 10); err != nil {
				t.Errorf("SetMaxRequestBodySize: %v", err)
			}
		}
		n, err := io.Copy(io.Discard, r.Body)
		readErr(r.URL.Query().Get("client")) <- err
		if err != nil {
			return // the server answers 413
		}
		fmt.Fprintf(w, "%d", n)
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		check := func(what string, req *http.Request, wantStatus int, wantBody string) {
			t.Helper()
			resp, body := doH2(t, c, req)
			err := <-readErr(c.name)
			var mbe *http.MaxBytesError
			if resp.StatusCode != wantStatus || wantBody != "" && body != wantBody || (wantStatus == 413) != errors.As(err, &mbe) {
				t.Errorf("%s: %d %q, read error %v; want %d %q", what, resp.StatusCode, body, err, wantStatus, wantBody)
			}
		}
		check("10 bytes, limit 10", newReq(t, "POST", c.base+"/ten?client="+c.name, strings.NewReader("0123456789")), 200, "10")
		check("11 bytes, limit 10", newReq(t, "POST", c.base+"/ten?client="+c.name, strings.NewReader("0123456789A")), 413, "")
		check("11 bytes streamed, limit 10", newReq(t, "POST", c.base+"/ten?client="+c.name, io.MultiReader(strings.NewReader("0123456789A"))), 413, "")
		check("64 KiB, server limit", newReq(t, "POST", c.base+"/?client="+c.name, bytes.NewReader(make([]byte, 64<<10))), 200, "65536")
		check("64 KiB + 1 streamed, server limit", newReq(t, "POST", c.base+"/?client="+c.name, io.MultiReader(bytes.NewReader(make([]byte, 64<<10+1)))), 413, "")

		// A declared length over the limit: the answer comes while the
		// client still holds most of its body back.
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write(make([]byte, 1024))
		req := newReq(t, "POST", c.base+"/?client="+c.name, pr)
		req.ContentLength = 100 << 20
		check("Content-Length 100 MiB, server limit", req, 413, "")
	})
}

// TestHTTP2ManyStreams: many concurrent requests share one connection.
func TestHTTP2ManyStreams(t *testing.T) {
	t.Parallel()
	const n = 64
	var mu sync.Mutex
	remotes := map[string]bool{}
	var arrived atomic.Int32
	all := make(chan struct{})
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes[r.RemoteAddr] = true
		mu.Unlock()
		if r.URL.Path == "/barrier" {
			// Every request waits for all the others: they run at once.
			if arrived.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				http.Error(w, "not all requests arrived", 500)
				return
			}
		}
		fmt.Fprintf(w, "%s %s", r.URL.Query().Get("i"), r.Proto)
	})})
	c := s.clients(t)[2] // x/net over h2c: one connection, made by a first request
	doH2(t, c, newReq(t, "GET", c.base+"/", nil))
	var wg sync.WaitGroup
	for i := range n {
		req := newReq(t, "GET", fmt.Sprintf("%s/barrier?i=%d", c.base, i), nil)
		wg.Go(func() {
			resp, body, err := tryH2(c, req)
			if err != nil {
				t.Error(err)
			} else if resp.StatusCode != 200 || body != fmt.Sprintf("%d HTTP/2.0", i) {
				t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(remotes) != 1 {
		t.Errorf("%d concurrent requests used %d connections, want 1", n, len(remotes))
	}
}

// TestHTTP2MaxStreamsPerConnection: Limits.Http2.MaxStreamsPerConnection
// bounds the handlers running at once on a connection; a client that
// opens more connections gets every answer.
func TestHTTP2MaxStreamsPerConnection(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	running, peak := map[string]int{}, 0
	s := startH2(t, &Server{Limits: Limits{Http2: Http2Limits{MaxStreamsPerConnection: 4}}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		running[r.RemoteAddr]++
		peak = max(peak, running[r.RemoteAddr])
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running[r.RemoteAddr]--
		mu.Unlock()
		io.WriteString(w, r.URL.Query().Get("i"))
	})})
	forEachClient(t, s, func(t *testing.T, c h2Client) {
		// A first request, so that the client knows the limit (the server's
		// SETTINGS) before it opens streams at once.
		doH2(t, c, newReq(t, "GET", c.base+"/?i=first", nil))
		var wg sync.WaitGroup
		for i := range 40 {
			req := newReq(t, "GET", fmt.Sprintf("%s/?i=%d", c.base, i), nil)
			wg.Go(func() {
				resp, body, err := tryH2(c, req)
				if err != nil {
					t.Error(err)
				} else if resp.StatusCode != 200 || body != fmt.Sprint(i) {
					t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
	})
	t.Cleanup(func() {
		if peak > 4 {
			t.Errorf("%d handlers ran at once on one connection, want at most 4 (MaxStreamsPerConnection)", peak)
		}
	})
}

// TestHTTP2StreamLimitCountsOpenStreams: a stream whose response has ended
// (END_STREAM both ways) no longer counts against MAX_CONCURRENT_STREAMS
// (RFC 9113, 5.1.2), so a client that waits for each response before it
// sends the next request is never refused, even at a limit of one.
// net/http's server refuses none of these.
func TestHTTP2StreamLimitCountsOpenStreams(t *testing.T) {
	t.Parallel()
	s := startH2(t, &Server{Limits: Limits{Http2: Http2Limits{MaxStreamsPerConnection: 1}}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})})
	nc, err := net.Dial("tcp", s.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cc, err := (&http2.Transport{}).NewClientConn(nc)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var failed []string
	for i := range n {
		resp, err := cc.RoundTrip(newReq(t, "GET", "http://localhost/", nil))
		if err != nil {
			failed = append(failed, fmt.Sprintf("request %d: %v", i, err))
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d sequential requests on one connection failed; the first: %s", len(failed), n, failed[0])
	}
}

// TestHTTP1AndH2cOnOnePort: the default cleartext endpoint serves HTTP/1.1
// and h2c with prior knowledge; the HTTPS one serves http/1.1 and h2 by
// ALPN.
func TestHTTP1AndH2cOnOnePort(t *testing.T) {
	t.Parallel()
	s := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})})
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}, Timeout: 10 * time.Second}
	t.Cleanup(h1.CloseIdleConnections)
	for _, base := range []string{"http://" + s.plain, "https://" + s.secure} {
		for i := range 2 { // interleaved on the same port
			if _, body := get(t, h1, base+"/"); body != "HTTP/1.1" {
				t.Errorf("%s HTTP/1.1 client, round %d: %q", base, i, body)
			}
			for _, c := range s.clients(t) {
				if strings.HasPrefix(c.base, strings.SplitN(base, ":", 2)[0]+":") {
					if _, body := doH2(t, c, newReq(t, "GET", base+"/", nil)); body != "HTTP/2.0" {
						t.Errorf("%s %s, round %d: %q", base, c.name, i, body)
					}
				}
			}
		}
	}
	// Protocols: HTTP1 on a cleartext endpoint refuses h2c; HTTP2 serves
	// it and answers HTTP/1.1 with Kestrel's 400.
	for _, p := range []Protocols{HTTP1, HTTP2} {
		srv := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}
		srv.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: p})
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		base := srv.Addresses()[0]
		h2c := (&h2Server{plain: strings.TrimPrefix(base, "http://")}).clients(t)[0]
		resp, err := h2c.c.Get(base + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if p == HTTP1 {
				t.Errorf("h2c on an Http1 endpoint: %q, want the connection refused (GOAWAY)", b)
			} else if string(b) != "HTTP/2.0" {
				t.Errorf("h2c on an Http2 endpoint: %q", b)
			}
		} else if p == HTTP2 {
			t.Errorf("h2c on an Http2 endpoint: %v", err)
		}
		resp, err = h1.Get(base + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if p == HTTP2 {
				// Kestrel's readable refusal (TestHTTP1RequestToHTTP2Endpoint).
				if resp.StatusCode != http.StatusBadRequest || string(b) != "An HTTP/1.x request was sent to an HTTP/2 only endpoint." {
					t.Errorf("HTTP/1.1 on an Http2 endpoint: %d %q, want Kestrel's 400", resp.StatusCode, b)
				}
			} else if string(b) != "HTTP/1.1" {
				t.Errorf("HTTP/1.1 on an Http1 endpoint: %q", b)
			}
		} else if p == HTTP1 {
			t.Errorf("HTTP/1.1 on an Http1 endpoint: %v", err)
		}
	}
}

// TestHTTP1RequestToHTTP2Endpoint sends HTTP/1.x requests to a cleartext
// HTTP/2-only endpoint: they get Kestrel's readable 400 (not frames an
// HTTP/1.x client cannot read), the connection ends as
// invalid_http_version with PossibleInvalidHttpVersionDetected; bytes that
// are neither the preface nor a request line still get GOAWAY
// (PROTOCOL_ERROR), and the preface still works.
func TestHTTP1RequestToHTTP2Endpoint(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{MeterProvider: mp, Logger: log, Handler: okHandler()}
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2})
	const badRequest = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 56\r\n\r\n" +
		"An HTTP/1.x request was sent to an HTTP/2 only endpoint."
	longPath := "/" + strings.Repeat("a", 3000)
	ended := 0
	for _, tc := range []struct {
		name   string
		writes []string // with a pause between them
		http1  bool
	}{
		{"HTTP/1.1", []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, true},
		{"HTTP/1.0", []string{"HEAD /x HTTP/1.0\r\n\r\n"}, true},
		{"a long line in pieces", []string{"POST " + longPath[:1000], longPath[1000:] + " HTTP/1.1\r", "\nHost: x\r\nContent-Length: 0\r\n\r\n"}, true},
		{"a bare LF", []string{"GET / HTTP/1.1\nHost: x\n\n"}, true},
		{"HTTP/2.0 line", []string{"GET / HTTP/2.0\r\n\r\n"}, false},
		{"no method", []string{" / HTTP/1.1\r\n\r\n"}, false},
		{"binary", []string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 abcdefghijklmnopqrstuvwxyz"}, false},
	} {
		c := dial(t, addr)
		for i, w := range tc.writes {
			if i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			io.WriteString(c, w)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		all, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Errorf("%s: reading to EOF: %v (read %q)", tc.name, err, all)
			continue
		}
		ended++
		waitMetric(t, reader, "kestrel.connection.duration", nil, float64(ended))
		if tc.http1 {
			if string(all) != badRequest {
				t.Errorf("%s: got %q, want Kestrel's 400", tc.name, all)
			}
			continue
		}
		// SETTINGS, then GOAWAY with PROTOCOL_ERROR.
		fr := http2.NewFramer(nil, bytes.NewReader(all))
		var goAway *http2.GoAwayFrame
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				break
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				goAway = g
			}
		}
		if goAway == nil || goAway.ErrCode != http2.ErrCodeProtocol {
			t.Errorf("%s: got %q, want GOAWAY (PROTOCOL_ERROR)", tc.name, all)
		}
	}
	if got := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "invalid_http_version"}); got != 4 {
		t.Errorf("%v connections ended as invalid_http_version, want 4: %+v", got, metricstest.Points(t, reader, "kestrel.connection.duration"))
	}
	if got := metricTotal(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "invalid_handshake"}); got != 3 {
		t.Errorf("%v connections ended as invalid_handshake, want 3", got)
	}
	if e := rec.events("PossibleInvalidHttpVersionDetected"); len(e) != 7 {
		t.Errorf("%d PossibleInvalidHttpVersionDetected events, want 7", len(e))
	}

	// The preface still starts HTTP/2.
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, network, a)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("with the preface: %s %d", resp.Proto, resp.StatusCode)
	}
}
