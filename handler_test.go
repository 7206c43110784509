package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandlerServeMuxRouting(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "item %s", r.PathValue("id"))
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "created %s", b)
	})
	mux.HandleFunc("GET /files/{path...}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "file %s", r.PathValue("path"))
	})
	addr := startHandler(t, mux)
	client := newClient(t)
	base := "http://" + addr

	if resp, body := get(t, client, base+"/items/42"); resp.StatusCode != 200 || body != "item 42" {
		t.Errorf("GET /items/42: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, client, base+"/files/a/b/c.txt"); resp.StatusCode != 200 || body != "file a/b/c.txt" {
		t.Errorf("GET /files/a/b/c.txt: %d %q", resp.StatusCode, body)
	}
	resp, err := client.Post(base+"/items", "text/plain", strings.NewReader("thing"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || string(b) != "created thing" {
		t.Errorf("POST /items: %d %q", resp.StatusCode, b)
	}
	// The mux's own answers: 405 with Allow, 404.
	req, _ := http.NewRequest("DELETE", base+"/items/42", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Errorf("DELETE /items/42: %d Allow %q, want 405 with GET allowed", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp, _ := get(t, client, base+"/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", resp.StatusCode)
	}
}

func TestHandlerRequestFields(t *testing.T) {
	t.Parallel()
	type seen struct {
		Method, Path, RawQuery, Proto, Host, RemoteAddr, RequestURI string
		ProtoMajor, ProtoMinor                                      int
		Header                                                      http.Header
		ContentLength                                               int64
		TransferEncoding                                            []string
		Body                                                        string
		LocalAddr                                                   string
	}
	got := make(chan seen, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		local, _ := r.Context().Value(http.LocalAddrContextKey).(interface{ String() string })
		s := seen{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Proto: r.Proto,
			Host: r.Host, RemoteAddr: r.RemoteAddr, RequestURI: r.RequestURI,
			ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor, Header: r.Header,
			ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Body: string(b),
		}
		if local != nil {
			s.LocalAddr = local.String()
		}
		got <- s
	}))

	c := dial(t, addr)
	io.WriteString(c, "PUT /a/b%20c?x=1&y=two HTTP/1.1\r\n"+
		"Host: example.com:8080\r\n"+
		"x-lower-case: v1\r\n"+
		"X-MULTI: a\r\n"+
		"x-multi: b\r\n"+
		"Content-Length: 5\r\n"+
		"\r\nhello")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	if s.Method != "PUT" || s.Path != "/a/b c" || s.RawQuery != "x=1&y=two" || s.RequestURI != "/a/b%20c?x=1&y=two" {
		t.Errorf("method %q path %q query %q RequestURI %q", s.Method, s.Path, s.RawQuery, s.RequestURI)
	}
	if s.Proto != "HTTP/1.1" || s.ProtoMajor != 1 || s.ProtoMinor != 1 {
		t.Errorf("proto %q %d.%d", s.Proto, s.ProtoMajor, s.ProtoMinor)
	}
	if s.Host != "example.com:8080" {
		t.Errorf("Host %q", s.Host)
	}
	if _, ok := s.Header["Host"]; ok {
		t.Error("Host is in the header map; net/http moves it to Request.Host")
	}
	if s.RemoteAddr != c.LocalAddr().String() {
		t.Errorf("RemoteAddr %q, want the client's %q", s.RemoteAddr, c.LocalAddr())
	}
	if s.LocalAddr != c.RemoteAddr().String() {
		t.Errorf("LocalAddrContextKey %q, want %q", s.LocalAddr, c.RemoteAddr())
	}
	if v := s.Header["X-Lower-Case"]; len(v) != 1 || v[0] != "v1" {
		t.Errorf("X-Lower-Case = %q; header keys must be canonical (%v)", v, s.Header)
	}
	if v := s.Header["X-Multi"]; len(v) != 2 || v[0] != "a" || v[1] != "b" {
		t.Errorf("X-Multi = %q, want [a b]", v)
	}
	if s.ContentLength != 5 || s.TransferEncoding != nil || s.Body != "hello" {
		t.Errorf("ContentLength %d TransferEncoding %q body %q", s.ContentLength, s.TransferEncoding, s.Body)
	}

	// Chunked: ContentLength -1 and TransferEncoding [chunked].
	c = dial(t, addr)
	io.WriteString(c, "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	s = <-got
	if s.ContentLength != -1 || len(s.TransferEncoding) != 1 || s.TransferEncoding[0] != "chunked" || s.Body != "hello world" {
		t.Errorf("chunked: ContentLength %d TransferEncoding %q body %q", s.ContentLength, s.TransferEncoding, s.Body)
	}
	if _, ok := s.Header["Transfer-Encoding"]; ok {
		t.Error("Transfer-Encoding is in the header map; net/http moves it to Request.TransferEncoding")
	}

	// HTTP/1.0 and the absolute form.
	c = dial(t, addr)
	io.WriteString(c, "GET http://other.example/p?q HTTP/1.0\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	s = <-got
	if s.Proto != "HTTP/1.0" || s.ProtoMinor != 0 || s.Host != "other.example" || s.Path != "/p" || s.RawQuery != "q" ||
		s.RequestURI != "http://other.example/p?q" {
		t.Errorf("absolute form in HTTP/1.0: %+v", s)
	}
	if s.ContentLength != 0 || s.Body != "" {
		t.Errorf("no body: ContentLength %d body %q", s.ContentLength, s.Body)
	}
}

func TestHandlerNoBodyIsNoBody(t *testing.T) {
	t.Parallel()
	bodies := make(chan io.ReadCloser, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bodies <- r.Body
	}))
	get(t, newClient(t), "http://"+addr+"/")
	if b := <-bodies; b != http.NoBody {
		t.Errorf("a request without a body has Body %T, want http.NoBody", b)
	}
}

func TestHandlerRequestTrailers(t *testing.T) {
	t.Parallel()
	type result struct {
		before, after http.Header
		body          string
	}
	got := make(chan result, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header["Trailer"]; ok {
			t.Error("Trailer is in the header map; net/http moves it to Request.Trailer")
		}
		before := r.Trailer.Clone()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		got <- result{before, r.Trailer.Clone(), string(b)}
	}))
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, x-count\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nX-Count: 5\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	if r.body != "hello" {
		t.Errorf("body %q", r.body)
	}
	if v, ok := r.before["X-Checksum"]; !ok || v != nil {
		t.Errorf("before the body: Trailer = %v, want the declared keys with nil values", r.before)
	}
	if _, ok := r.before["X-Count"]; !ok {
		t.Errorf("before the body: Trailer = %v, want X-Count declared", r.before)
	}
	if r.after.Get("X-Checksum") != "abc123" || r.after.Get("X-Count") != "5" {
		t.Errorf("after the body: Trailer = %v", r.after)
	}
}

func TestHandlerContextCancelledOnDisconnect(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(10 * time.Second):
			cancelled <- errors.New("the request context was not cancelled")
		}
	}))
	c := dial(t, addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	c.Close()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("context error %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the request context was not cancelled within 3s of the client disconnecting")
	}
}

func TestHandlerContextCancelledWhenHandlerReturns(t *testing.T) {
	t.Parallel()
	ctxs := make(chan context.Context, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Err() != nil {
			t.Error("the context is done while the handler runs")
		}
		ctxs <- r.Context()
	}))
	get(t, newClient(t), "http://"+addr+"/")
	ctx := <-ctxs
	select {
	case <-ctx.Done():
	case <-time.After(3 * time.Second):
		t.Error("the request context is not cancelled after the handler returned")
	}
}

func TestHandlerFlushStreams(t *testing.T) {
	t.Parallel()
	proceed := make(chan struct{})
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		select {
		case <-proceed:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "second")
	}))
	resp, err := newClient(t).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("TransferEncoding %q, want chunked for a flushed response", resp.TransferEncoding)
	}
	first := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		t.Fatalf("first chunk %q, %v", first, err)
	}
	close(proceed)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestHandlerResponseController(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		var errs []string
		check := func(name string, err error) {
			if err != nil {
				errs = append(errs, name+": "+err.Error())
			}
		}
		check("SetReadDeadline", rc.SetReadDeadline(time.Now().Add(time.Minute)))
		check("SetWriteDeadline", rc.SetWriteDeadline(time.Now().Add(time.Minute)))
		check("EnableFullDuplex", rc.EnableFullDuplex())
		b, err := io.ReadAll(r.Body)
		check("read", err)
		io.WriteString(w, "partial;")
		check("Flush", rc.Flush())
		check("SetReadDeadline(zero)", rc.SetReadDeadline(time.Time{}))
		check("SetWriteDeadline(zero)", rc.SetWriteDeadline(time.Time{}))
		fmt.Fprintf(w, "%s;%s", b, strings.Join(errs, ","))
	}))
	resp, err := newClient(t).Post("http://"+addr+"/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "partial;body;" {
		t.Errorf("got %q, want %q (no errors)", b, "partial;body;")
	}
}

// TestHandlerDeadlinesEndWithRequest: read and write deadlines a handler
// sets with http.ResponseController are the request's, as with net/http:
// the next request on the keep-alive connection is served after they
// passed, plain and over TLS.
func TestHandlerDeadlinesEndWithRequest(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/read":
			rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		case "/write":
			rc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		}
		io.WriteString(w, r.URL.Path)
	})
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	plain := startHandler(t, h)
	secure := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, h)
	for _, tc := range []struct {
		name, addr string
		tls        bool
	}{{"plain", plain, false}, {"TLS", secure, true}} {
		for _, path := range []string{"/read", "/write"} {
			t.Run(tc.name+path, func(t *testing.T) {
				t.Parallel()
				var c net.Conn = dial(t, tc.addr)
				if tc.tls {
					c = tls.Client(c, &tls.Config{RootCAs: pki.pool, ServerName: "localhost"})
				}
				get := keepAliveGetter(t, c, bufio.NewReader(c))
				if body := get(path); body != path {
					t.Fatalf("first request: %q", body)
				}
				time.Sleep(300 * time.Millisecond) // past the handler's deadline
				if body := get("/next"); body != "/next" {
					t.Errorf("the next request on the connection: %q", body)
				}
			})
		}
	}
}

// TestHandlerWriteDeadlineCoversResponseEnd: a write deadline that passed
// before the handler returned fails the rest of its response, the part
// the server writes after the handler (as net/http's server does, and
// this server over HTTP/2 and HTTP/3): the client gets no complete
// response, and the connection closes. One still ahead lets it through.
func TestHandlerWriteDeadlineCoversResponseEnd(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.URL.Path == "/passed" {
			rc.SetWriteDeadline(time.Now().Add(-time.Second))
		} else {
			rc.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		io.WriteString(w, "response")
	}))
	c := dial(t, addr)
	br := bufio.NewReader(c)
	if body := keepAliveGetter(t, c, br)("/ahead"); body != "response" {
		t.Fatalf("deadline ahead: %q", body)
	}
	io.WriteString(c, "GET /passed HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err == nil {
		b, err := io.ReadAll(resp.Body)
		t.Errorf("deadline passed: the client got %d %q, %v; want no response", resp.StatusCode, b, err)
	}
}

func TestHandlerFullDuplexEcho(t *testing.T) {
	t.Parallel()
	// The handler echoes each line as it arrives, while the body is still
	// being sent.
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		rc.Flush()
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			fmt.Fprintf(w, "echo %s\n", sc.Text())
			rc.Flush()
		}
	}))
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(resp.Body)
	for i := range 3 {
		line := fmt.Sprintf("line %d\n", i)
		fmt.Fprintf(c, "%x\r\n%s\r\n", len(line), line)
		got, err := lines.ReadString('\n')
		if err != nil || got != "echo "+line {
			t.Fatalf("got %q, %v; want %q", got, err, "echo "+line)
		}
	}
	io.WriteString(c, "0\r\n\r\n")
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Fatalf("after the body: %q, %v", rest, err)
	}
}

// TestHandlerFullDuplexKeepsConnection: a handler that enabled full duplex
// (http.ResponseController.EnableFullDuplex) and streams its response
// while it reads the request body to its end keeps the HTTP/1.1
// connection for the next request, as net/http does, whether the body is
// chunked or a Content-Length longer than what is drained after a
// handler (one that returns without reading it then ends the connection
// after its response); without full duplex, a streamed response whose chunked body
// is still unread says Connection: close, so that the client stops
// sending it.
func TestHandlerFullDuplexKeepsConnection(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.URL.Query().Has("duplex") {
			if err := rc.EnableFullDuplex(); err != nil {
				t.Error(err)
			}
		}
		io.WriteString(w, "started;")
		rc.Flush()
		if r.URL.Query().Has("noread") {
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "read %d, %v", n, err)
	}))
	big := strings.Repeat("x", 1<<20) // over what is drained once a handler returns
	for _, tc := range []struct {
		name, path string
		head, body string
		keep       bool
	}{
		{"chunked", "/?duplex", "Transfer-Encoding: chunked", "6\r\nabcdef\r\n0\r\n\r\n", true},
		{"length", "/?duplex", "Content-Length: 1048576", big, true},
		{"unread", "/?duplex&noread", "Content-Length: 1048576", big, true},
		{"chunked without full duplex", "/", "Transfer-Encoding: chunked", "6\r\nabcdef\r\n0\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr)
			io.WriteString(c, "POST "+tc.path+" HTTP/1.1\r\nHost: x\r\n"+tc.head+"\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			go io.WriteString(c, tc.body) // after the response started
			b, err := io.ReadAll(resp.Body)
			if err != nil || !strings.HasPrefix(string(b), "started;") || !strings.Contains(tc.path, "noread") && !strings.HasSuffix(string(b), ", <nil>") {
				t.Fatalf("response %q, %v", b, err)
			}
			if resp.Close == tc.keep {
				t.Fatalf("Connection: close is %v, want %v", resp.Close, !tc.keep)
			}
			if !tc.keep {
				return
			}
			if strings.Contains(tc.path, "noread") {
				if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
					t.Errorf("after a response that left 1 MiB unread: %d, %v; want the connection closed", n, err)
				}
				return
			}
			get := keepAliveGetter(t, c, br)
			if got := get("/"); !strings.HasPrefix(got, "started;read 0") {
				t.Errorf("the next request on the connection: %q", got)
			}
		})
	}
}

func TestHandlerEarlyHints(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Link", "</script.js>; rel=preload; as=script")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "final")
	}))

	// net/http's client reports 1xx responses to the trace.
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+addr+"/", nil)
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "final" || resp.Header.Get("Link") != "" {
		t.Errorf("final response: %d %q Link %q", resp.StatusCode, b, resp.Header.Get("Link"))
	}
	want := []string{"103 </style.css>; rel=preload; as=style", "103 </script.js>; rel=preload; as=script"}
	if fmt.Sprint(hints) != fmt.Sprint(want) {
		t.Errorf("1xx responses %q, want %q", hints, want)
	}

	// On the wire: the 103 comes first, with its header.
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 103 Early Hints\r\n" {
		t.Errorf("first line %q, want the 103", line)
	}

	// HTTP/1.0 clients do not get 1xx responses.
	c = dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	line, _ = bufio.NewReader(c).ReadString('\n')
	if line != "HTTP/1.1 200 OK\r\n" {
		t.Errorf("HTTP/1.0: first line %q, want the 200", line)
	}
}

// TestEarlyHintsLeaveOutFraming: a 1xx response sent after the handler
// set Content-Length or Transfer-Encoding carries neither (RFC 9110, 8.6;
// RFC 9112, 6.1), over HTTP/1.1, HTTP/2 and HTTP/3, as net/http leaves
// them out; the final response keeps them.
func TestEarlyHintsLeaveOutFraming(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Header().Set("Transfer-Encoding", "chunked")
		} else {
			w.Header().Set("Content-Length", "5")
		}
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	h1 := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: testClientTLS(t)}
	h1.Protocols.SetHTTP1(true)
	h2 := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: testClientTLS(t)}
	h2.Protocols.SetHTTP2(true)
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	for _, c := range []struct {
		name string
		c    *http.Client
	}{
		{"HTTP/1.1", &http.Client{Transport: h1, Timeout: 10 * time.Second}},
		{"HTTP/2", &http.Client{Transport: h2, Timeout: 10 * time.Second}},
		{"HTTP/3", h3Client(t)},
	} {
		for _, path := range []string{"/length", "/chunked"} {
			var hints []textproto.MIMEHeader
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				hints = append(hints, h)
				return nil
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "https://"+addr+path, nil)
			resp, err := c.c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "final" || path == "/length" && resp.ContentLength != 5 {
				t.Errorf("%s %s: final response %q, length %d", c.name, path, b, resp.ContentLength)
			}
			if len(hints) != 1 || hints[0].Get("Link") == "" {
				t.Fatalf("%s %s: 1xx responses %v, want one 103 with its Link", c.name, path, hints)
			}
			for _, name := range []string{"Content-Length", "Transfer-Encoding"} {
				if v, ok := hints[0][name]; ok {
					t.Errorf("%s %s: the 103 has %s %q", c.name, path, name, v)
				}
			}
		}
	}

	// net/http's client drops a 1xx's Transfer-Encoding: on the wire.
	conf := testClientTLS(t)
	conf.NextProtos = []string{"http/1.1"}
	tc, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
	tp := textproto.NewReader(bufio.NewReader(tc))
	if line, err := tp.ReadLine(); line != "HTTP/1.1 103 Early Hints" {
		t.Fatalf("first line %q, %v; want the 103", line, err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil || h.Get("Link") == "" || h["Transfer-Encoding"] != nil {
		t.Errorf("the 103's header %v, %v: want its Link and no Transfer-Encoding", h, err)
	}
}

func TestHandlerResponseTrailers(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum, X-Count")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "sum")
		w.Header().Set("X-Count", "4")
	})
	mux.HandleFunc("/prefix", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	mux.HandleFunc("/prefix-flushed", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	addr := startHandler(t, mux)
	client := newClient(t)
	for _, tc := range []struct {
		path string
		want map[string]string
	}{
		{"/declared", map[string]string{"X-Checksum": "sum", "X-Count": "4"}},
		{"/prefix", map[string]string{"X-Late": "late"}},
		{"/prefix-flushed", map[string]string{"X-Late": "late"}},
	} {
		resp, body := get(t, client, "http://"+addr+tc.path)
		if body != "body" {
			t.Errorf("%s: body %q", tc.path, body)
		}
		for k, v := range tc.want {
			if got := resp.Trailer.Get(k); got != v {
				t.Errorf("%s: trailer %s = %q, want %q (trailers %v, header %v)", tc.path, k, got, v, resp.Trailer, resp.Header)
			}
			if resp.Header.Get(k) != "" {
				t.Errorf("%s: %s sent as a header", tc.path, k)
			}
		}
	}
}

func TestHandlerHead(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 100_000))
		default:
			io.WriteString(w, "hello")
		}
	}))
	resp, body := roundTrip(t, addr, "HEAD", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 5 {
		t.Errorf("HEAD: %d Content-Length %d body %q", resp.StatusCode, resp.ContentLength, body)
	}

	// No body bytes on the wire: a HEAD then a GET, pipelined, both parse.
	c := dial(t, addr)
	io.WriteString(c, "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	for i, method := range []string{"HEAD", "HEAD", "GET"} {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if method == "GET" && string(b) != "hello" {
			t.Errorf("GET after HEADs: %q", b)
		}
		if method == "HEAD" && resp.Header.Get("Transfer-Encoding") != "" {
			t.Errorf("HEAD response %d declares Transfer-Encoding without a body", i)
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("extra bytes after the responses: %q", rest)
	}
}

func TestHandlerContentTypeSniffing(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\x0D\x0A\x1A\x0A rest of the image")
	// A file larger than ReadFrom's copy buffer goes out with sendfile.
	largeHTML := filepath.Join(t.TempDir(), "large.html")
	if err := os.WriteFile(largeHTML, []byte("<html><body>"+strings.Repeat("x", 100_000)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			io.WriteString(w, "<!DOCTYPE html><html><body>hi</body></html>")
		case "/png":
			w.Write(png)
		case "/text":
			io.WriteString(w, "plain words")
		case "/set":
			w.Header().Set("Content-Type", "application/x-custom")
			io.WriteString(w, "<html>")
		case "/suppressed":
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "<html>")
		case "/large-html":
			w.Write([]byte("<html><body>" + strings.Repeat("x", 10_000) + "</body></html>"))
		case "/large-html-string":
			io.WriteString(w, "<html><body>"+strings.Repeat("x", 10_000)+"</body></html>")
		case "/buffered-then-large":
			io.WriteString(w, "<html>")
			w.Write(bytes.Repeat([]byte("y"), 10_000))
		case "/gzip":
			// An encoded body is not sniffed, as net/http does (golang.org/issue/31753):
			// its Content-Type would be the encoding's (application/x-gzip).
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"))
		case "/br-html":
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, "<html>")
		case "/large-file", "/large-file-section":
			f, err := os.Open(largeHTML)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			var body io.Reader = f
			if r.URL.Path == "/large-file-section" {
				body = io.NewSectionReader(f, 0, 90_000)
			}
			io.Copy(w, body)
		case "/empty":
		}
	}))
	client := newClient(t)
	for _, tc := range []struct{ path, want string }{
		{"/html", "text/html; charset=utf-8"},
		{"/png", "image/png"},
		{"/text", "text/plain; charset=utf-8"},
		{"/set", "application/x-custom"},
		{"/suppressed", ""},
		{"/large-html", "text/html; charset=utf-8"},
		{"/large-html-string", "text/html; charset=utf-8"},
		{"/buffered-then-large", "text/html; charset=utf-8"},
		{"/gzip", ""},
		{"/br-html", ""},
		{"/large-file", "text/html; charset=utf-8"},
		{"/large-file-section", "text/html; charset=utf-8"},
		{"/empty", ""},
	} {
		resp, _ := get(t, client, "http://"+addr+tc.path)
		if got := resp.Header.Get("Content-Type"); got != tc.want {
			t.Errorf("%s: Content-Type %q, want %q", tc.path, got, tc.want)
		}
		if n := len(resp.Header["Content-Type"]); n > 1 {
			t.Errorf("%s: %d Content-Type headers", tc.path, n)
		}
	}
}

// A write refused for running past the handler's Content-Length sends
// nothing, so its bytes are not sniffed for the Content-Type either (a
// large one was, before the length check): the type comes from the bytes
// that go out, as net/http's comes. Over every protocol.
func TestNoSniffOfRefusedWrite(t *testing.T) {
	t.Parallel()
	writeErr := make(chan error, 3)
	_, addr := h3Server(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		_, err := w.Write([]byte("<html><body>" + strings.Repeat("x", 100_000)))
		writeErr <- err
		io.WriteString(w, "hello")
	})}, HTTP1AndHTTP2AndHTTP3)
	var h1, h2 http.Protocols
	h1.SetHTTP1(true)
	h2.SetHTTP2(true)
	for _, tc := range []struct {
		name   string
		client *http.Client
	}{
		{"HTTP/1.1", &http.Client{Transport: &http.Transport{TLSClientConfig: testClientTLS(t), Protocols: &h1}, Timeout: 10 * time.Second}},
		{"HTTP/2", &http.Client{Transport: &http.Transport{TLSClientConfig: testClientTLS(t), Protocols: &h2}, Timeout: 10 * time.Second}},
		{"HTTP/3", h3Client(t)},
	} {
		resp, err := tc.client.Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "hello" {
			t.Errorf("%s: body %q, %v; want hello", tc.name, body, err)
		}
		if got, want := resp.Header.Get("Content-Type"), "text/plain; charset=utf-8"; got != want {
			t.Errorf("%s: Content-Type %q, want %q (sniffed from the bytes sent)", tc.name, got, want)
		}
		if err := <-writeErr; !errors.Is(err, http.ErrContentLength) {
			t.Errorf("%s: the long write returned %v, want http.ErrContentLength", tc.name, err)
		}
		if c, ok := tc.client.Transport.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

func TestHandlerDateAndServerHeaders(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/custom":
			w.Header().Set("Date", "Tue, 01 Jan 2030 00:00:00 GMT")
			w.Header().Set("Server", "mine/1.0")
		case "/suppressed":
			// A nil value suppresses an automatic header, as in net/http.
			w.Header()["Date"] = nil
			w.Header()["Server"] = nil
		}
		io.WriteString(w, "ok")
	})
	addr := startHandler(t, h)
	client := newClient(t)

	resp, _ := get(t, client, "http://"+addr+"/")
	if resp.Header.Get("Server") != "Kestrel" {
		t.Errorf("Server %q, want Kestrel", resp.Header.Get("Server"))
	}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d).Abs() > time.Minute {
		t.Errorf("Date %q (%v), want now", resp.Header.Get("Date"), err)
	}

	resp, _ = get(t, client, "http://"+addr+"/custom")
	if v := resp.Header["Server"]; len(v) != 1 || v[0] != "mine/1.0" {
		t.Errorf("Server %q, want only the handler's", v)
	}
	if v := resp.Header["Date"]; len(v) != 1 || v[0] != "Tue, 01 Jan 2030 00:00:00 GMT" {
		t.Errorf("Date %q, want only the handler's", v)
	}

	resp, _ = get(t, client, "http://"+addr+"/suppressed")
	if v, ok := resp.Header["Date"]; ok {
		t.Errorf("Date %q sent; the handler suppressed it", v)
	}
	if v, ok := resp.Header["Server"]; ok {
		t.Errorf("Server %q sent; the handler suppressed it", v)
	}

	addr = startServer(t, &Server{Handler: h, DisableServerHeader: true})
	resp, _ = get(t, client, "http://"+addr+"/")
	if v, ok := resp.Header["Server"]; ok {
		t.Errorf("DisableServerHeader: Server %q sent", v)
	}
	if resp.Header.Get("Date") == "" {
		t.Error("DisableServerHeader: no Date")
	}
	resp, _ = get(t, client, "http://"+addr+"/custom")
	if resp.Header.Get("Server") != "mine/1.0" {
		t.Errorf("DisableServerHeader: the handler's Server %q was dropped", resp.Header.Get("Server"))
	}
}

func TestHandlerStatusCodes(t *testing.T) {
	t.Parallel()
	writeErrs := make(chan error, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			_, err := io.WriteString(w, "must not be sent")
			writeErrs <- err
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/418":
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "short and stout")
		case "/299":
			w.WriteHeader(299)
			io.WriteString(w, "custom")
		case "/599":
			w.WriteHeader(599)
		case "/twice":
			w.WriteHeader(http.StatusAccepted)
			w.WriteHeader(http.StatusInternalServerError) // superfluous: ignored
		case "/error":
			http.Error(w, "nope", http.StatusForbidden)
		}
	}))
	c := dial(t, addr)
	io.WriteString(c, "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /304 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /418 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /299 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /599 HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /twice HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /error HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []struct {
		code int
		body string
	}{
		{204, ""}, {304, ""}, {418, "short and stout"}, {299, "custom"}, {599, ""}, {202, ""}, {403, "nope\n"},
	} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("want %d: %v", want.code, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want.code || string(b) != want.body {
			t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, want.code, want.body)
		}
		if (want.code == 204 || want.code == 304) && (resp.Header.Get("Content-Length") != "" || len(resp.TransferEncoding) > 0) {
			t.Errorf("%d carries framing headers: %v", want.code, resp.Header)
		}
		if want.code == 403 && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("http.Error headers lost: %v", resp.Header)
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("extra bytes after the responses: %q", rest)
	}
	if err := <-writeErrs; !errors.Is(err, http.ErrBodyNotAllowed) {
		t.Errorf("writing a 204 body: %v, want http.ErrBodyNotAllowed", err)
	}
}

func TestHandlerContentLengthSetByHandler(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/exact":
			w.Header().Set("Content-Length", "10000")
			w.Write(bytes.Repeat([]byte("a"), 10000))
		case "/over":
			w.Header().Set("Content-Length", "3")
			_, err := io.WriteString(w, "four")
			errs <- err
		}
	}))
	client := newClient(t)
	resp, body := get(t, client, "http://"+addr+"/exact")
	if resp.ContentLength != 10000 || len(body) != 10000 || len(resp.TransferEncoding) != 0 {
		t.Errorf("/exact: Content-Length %d, %d bytes, TE %q", resp.ContentLength, len(body), resp.TransferEncoding)
	}
	resp, err := client.Get("http://" + addr + "/over")
	if err == nil {
		resp.Body.Close()
	}
	if err := <-errs; !errors.Is(err, http.ErrContentLength) {
		t.Errorf("writing past Content-Length: %v, want http.ErrContentLength", err)
	}
}

func TestNativeHandler(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/std/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "std %s %s", r.PathValue("name"), r.Header.Get("X-Test"))
	})
	s := &Server{
		Handler: mux,
		NativeHandler: NativeHandlerFunc(func(c *Context) {
			path := string(c.Path())
			if strings.HasPrefix(path, "/std/") {
				c.ServeHTTP(mux)
				return
			}
			switch path {
			case "/info":
				var headers []string
				c.VisitHeaders(func(name, value []byte) {
					headers = append(headers, string(name)+"="+string(value))
				})
				body, err := io.ReadAll(c.Body())
				if err != nil {
					t.Error(err)
				}
				c.SetStatus(http.StatusAccepted)
				c.SetContentType("text/plain")
				c.SetHeader("X-One", "1")
				c.AddHeader("X-Many", "a")
				c.AddHeader("X-Many", "b")
				c.SetHeader("X-Replaced", "old")
				c.SetHeader("X-Replaced", "new")
				c.SetHeader("Bad Name", "ignored")
				c.SetHeader("X-Sanitized", "a\r\nInjected: yes")
				fmt.Fprintf(c, "method=%s target=%s path=%s query=%s host=%s proto=%s cl=%d x-test=%s body=%s remote=%v local=%v headers=%s",
					c.Method(), c.Target(), c.Path(), c.Query(), c.Host(), c.Proto(), c.ContentLength(),
					c.Header("x-TEST"), body, c.RemoteAddr() != nil, c.LocalAddr() != nil, strings.Join(headers, ","))
			case "/stream":
				c.WriteString("one;")
				if err := c.Flush(); err != nil {
					t.Error(err)
				}
				c.WriteString("two")
			case "/missing":
				if c.Header("X-Absent") != nil {
					t.Error("Header of an absent field is not nil")
				}
				c.SetStatus(http.StatusNotFound)
			}
		}),
	}
	addr := startServer(t, s)
	client := newClient(t)

	req, _ := http.NewRequest("POST", "http://"+addr+"/info?a=b", strings.NewReader("payload"))
	req.Header.Set("X-Test", "yes")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{"method=POST ", "target=/info?a=b ", "path=/info ", "query=a=b ", "host=" + addr + " ",
		"proto=HTTP/1.1 ", "cl=7 ", "x-test=yes ", "body=payload ", "remote=true ", "local=true ", "X-Test=yes"} {
		if !strings.Contains(body, want) {
			t.Errorf("body %q lacks %q", body, want)
		}
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("X-One") != "1" ||
		strings.Join(resp.Header["X-Many"], ",") != "a,b" || strings.Join(resp.Header["X-Replaced"], ",") != "new" {
		t.Errorf("status %d header %v", resp.StatusCode, resp.Header)
	}
	if resp.Header.Get("Injected") != "" || resp.Header.Get("X-Sanitized") != "a  Injected: yes" {
		t.Errorf("header injection: X-Sanitized %q Injected %q", resp.Header.Get("X-Sanitized"), resp.Header.Get("Injected"))
	}
	if resp.ContentLength != int64(len(b)) {
		t.Errorf("Content-Length %d for a %d-byte buffered body", resp.ContentLength, len(b))
	}

	resp, body = get(t, client, "http://"+addr+"/stream")
	if body != "one;two" || len(resp.TransferEncoding) != 1 {
		t.Errorf("/stream: %q TE %q", body, resp.TransferEncoding)
	}
	req, _ = http.NewRequest("GET", "http://"+addr+"/std/gopher", nil)
	req.Header.Set("X-Test", "fallback")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "std gopher fallback" {
		t.Errorf("Context.ServeHTTP: %q", b)
	}
	if resp, _ := get(t, client, "http://"+addr+"/missing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/missing: %d", resp.StatusCode)
	}
}

func TestNativeHandlerHTTP10(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.WriteString(c.Proto())
		c.Flush()
		c.WriteString(" streamed")
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	// HTTP/1.0 has no chunked coding: the body ends with the connection.
	if !strings.HasSuffix(string(all), "\r\n\r\nHTTP/1.0 streamed") || strings.Contains(string(all), "chunked") {
		t.Errorf("got %q", all)
	}
}

func TestSetMaxRequestBodySize(t *testing.T) {
	t.Parallel()
	type result struct {
		setBefore, setAfter error
		n                   int
		readErr             error
	}
	results := make(chan result, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var res result
		res.setBefore = SetMaxRequestBodySize(r, 10)
		b, err := io.ReadAll(r.Body)
		res.n, res.readErr = len(b), err
		res.setAfter = SetMaxRequestBodySize(r, 1000)
		results <- res
		if err == nil {
			fmt.Fprintf(w, "read %d", len(b))
		}
	}))
	client := newClient(t)

	// Within the limit.
	resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader("0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	res := <-results
	if resp.StatusCode != 200 || string(b) != "read 10" || res.setBefore != nil || res.readErr != nil {
		t.Errorf("within the limit: %d %q %+v", resp.StatusCode, b, res)
	}
	if res.setAfter == nil {
		t.Error("SetMaxRequestBodySize succeeded after the body was read")
	}

	// Over the limit, with a Content-Length and chunked.
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader("0123456789A")
		if chunked {
			body = io.MultiReader(body) // unknown length: chunked
		}
		resp, err = client.Post("http://"+addr+"/", "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		res = <-results
		var mbe *http.MaxBytesError
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !errors.As(res.readErr, &mbe) || mbe.Limit != 10 {
			t.Errorf("over the limit (chunked %v): %d, read error %v", chunked, resp.StatusCode, res.readErr)
		}
	}

	if err := SetMaxRequestBodySize(&http.Request{}, 5); !errors.Is(err, ErrNotKestrel) {
		t.Errorf("on a request of another server: %v, want ErrNotKestrel", err)
	}
	if err := SetMaxRequestBodySize(&http.Request{}, -2); err == nil {
		t.Error("a negative limit other than Unlimited was accepted")
	}
}

func TestSetMaxRequestBodySizeUnlimited(t *testing.T) {
	t.Parallel()
	s := &Server{Limits: Limits{MaxRequestBodySize: 100}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/unlimited" {
			if err := SetMaxRequestBodySize(r, Unlimited); err != nil {
				t.Error(err)
			}
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	})}
	addr := startServer(t, s)
	client := newClient(t)
	big := strings.Repeat("z", 1000)
	resp, err := client.Post("http://"+addr+"/limited", "text/plain", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("server limit: %d, want 413", resp.StatusCode)
	}
	resp, err = client.Post("http://"+addr+"/unlimited", "text/plain", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "1000" {
		t.Errorf("Unlimited: %d %q", resp.StatusCode, b)
	}
}

func TestNativeSetMaxRequestBodySize(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if err := c.SetMaxRequestBodySize(4); err != nil {
			t.Error(err)
		}
		if _, err := io.ReadAll(c.Body()); err == nil {
			c.WriteString("fits")
		}
		if err := c.SetMaxRequestBodySize(100); err == nil {
			t.Error("Context.SetMaxRequestBodySize succeeded after the body was read")
		}
	})})
	client := newClient(t)
	for _, tc := range []struct {
		body string
		code int
	}{{"abcd", 200}, {"abcde", 413}} {
		resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("body %q: %d, want %d", tc.body, resp.StatusCode, tc.code)
		}
	}
}

func TestHandlerExpectContinue(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	}))
	// The 100 Continue comes when the handler reads.
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "data")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "got data" {
		t.Errorf("got %q", b)
	}

	// A handler that does not read: no 100 Continue, and the connection
	// closes since the body was never sent.
	c = dial(t, addr)
	io.WriteString(c, "POST /reject HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	all, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(all), "HTTP/1.1 401 ") || strings.Contains(string(all), "100 Continue") {
		t.Errorf("got %q, want a 401 and no 100 Continue", all)
	}

	// net/http's client waits for the 100 before it sends the body.
	tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader("from net/http"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	resp, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "got from net/http" || time.Since(start) > 4*time.Second {
		t.Errorf("got %q after %v", b, time.Since(start))
	}
}

func TestHandlerUnreadBody(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	// A small unread body is drained: the connection is kept.
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"/a", "/b"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
	}
	// A huge unread body closes the connection instead.
	c = dial(t, addr)
	io.WriteString(c, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nstart")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Close {
		t.Error("a response that leaves 100 MB unread keeps the connection")
	}
}

// TestHandlerUnreadBodyResponseNotHeld: the response of a handler that
// returned without reading a body of known length goes out at once,
// though the rest of the body has not arrived (a client may wait for the
// response before it sends more), as Kestrel sends it before it drains;
// the rest that then comes is drained and the next request on the
// connection served. The server held the response until the rest came or
// RequestHeadersTimeout (30 s) passed.
func TestHandlerUnreadBodyResponseNotHeld(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, r.URL.Path)
	})
	limited := startServer(t, &Server{Limits: Limits{MaxRequestBodySize: 100_000}, Handler: h})
	unlimited := startServer(t, &Server{Limits: Limits{MaxRequestBodySize: Unlimited}, Handler: h})
	rest := func(n int) string { return strings.Repeat("x", n-5) }
	for _, tc := range []struct {
		name, addr string
		length     int
		kept       bool
	}{
		{"small", limited, 10, true},
		{"at MaxRequestBodySize", limited, 100_000, true},
		{"one over MaxRequestBodySize", limited, 100_001, false},
		{"at the drain limit", unlimited, 256 << 10, true},
		{"one over the drain limit", unlimited, 256<<10 + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, tc.addr)
			br := bufio.NewReader(c)
			fmt.Fprintf(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n01234", tc.length)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no response while the rest of the body is to come: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || resp.Close == tc.kept {
				t.Fatalf("got %d, Connection: close %v; want 401, close %v", resp.StatusCode, resp.Close, !tc.kept)
			}
			go io.WriteString(c, rest(tc.length)+"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err = http.ReadResponse(br, nil)
			if !tc.kept {
				if err == nil {
					t.Fatalf("/b was served after Connection: close: %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("the next request after the drained body: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(b) != "/b" {
				t.Fatalf("the next request: %d %q, want 200 \"/b\"", resp.StatusCode, b)
			}
		})
	}
}

// TestHandlerUnreadBodyOverLimit: the server reads an unread body to keep
// the connection only within the request's MaxRequestBodySize, as Kestrel
// does: a body of exactly the limit is drained and the pipelined request
// after it served; one byte more, with Content-Length or chunked, closes
// the connection after the response instead.
func TestHandlerUnreadBodyOverLimit(t *testing.T) {
	t.Parallel()
	const limit = 100
	addr := startServer(t, &Server{Limits: Limits{MaxRequestBodySize: limit}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})})
	chunked := func(n int) string {
		return fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", n, strings.Repeat("a", n))
	}
	length := func(n int) string {
		return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", n, strings.Repeat("a", n))
	}
	for _, tc := range []struct {
		name string
		body string
		kept bool
	}{
		{"Content-Length at the limit", length(limit), true},
		{"Content-Length one over", length(limit + 1), false},
		{"chunked at the limit", chunked(limit), true},
		{"chunked one over", chunked(limit + 1), false},
		{"chunked far over", chunked(200_000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			go io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\n"+tc.body+"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != "/a" || resp.Close == tc.kept {
				t.Fatalf("/a: %d %q, Connection: close %v; want 200 \"/a\", close %v", resp.StatusCode, b, resp.Close, !tc.kept)
			}
			resp, err = http.ReadResponse(br, nil)
			switch {
			case tc.kept && err != nil:
				t.Fatalf("/b after a drained body: %v", err)
			case !tc.kept && err == nil:
				t.Fatalf("/b was served after an unread body over the limit: %d", resp.StatusCode)
			}
		})
	}
}

func TestHandlerBodyTooLargeAnswer(t *testing.T) {
	t.Parallel()
	addr := startServer(t, &Server{Limits: Limits{MaxRequestBodySize: 1000}, Handler: echoHandler(nil)})
	for _, chunked := range []bool{false, true} {
		c := dial(t, addr)
		go func() {
			if chunked {
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
				chunk := fmt.Sprintf("4000\r\n%s\r\n", strings.Repeat("c", 0x4000))
				for range 64 {
					if _, err := io.WriteString(c, chunk); err != nil {
						return
					}
				}
				io.WriteString(c, "0\r\n\r\n")
				return
			}
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
			c.Write(bytes.Repeat([]byte("b"), 1<<20))
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("chunked %v: reading the answer: %v", chunked, err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
			t.Errorf("chunked %v: %d close=%v, want 413 and close", chunked, resp.StatusCode, resp.Close)
		}
	}
}

func TestHandlerResponseHeaders(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20/16*10) // 10 MiB
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/multi":
			h.Add("Set-Cookie", "a=1")
			h.Add("Set-Cookie", "b=2")
			h.Set("X-Injected", "v\r\nEvil: yes")
			h.Set("Bad Name", "dropped")
			io.WriteString(w, "multi")
		case "/close":
			h.Set("Connection", "close")
			io.WriteString(w, "closing")
		case "/chunked":
			h.Set("Transfer-Encoding", "chunked")
			io.WriteString(w, "small but chunked")
		case "/big":
			w.Write(big)
		case "/big-length":
			h.Set("Content-Length", fmt.Sprint(len(big)))
			for p := big; len(p) > 0; p = p[min(len(p), 100_000):] {
				w.Write(p[:min(len(p), 100_000)])
			}
		case "/late-header":
			io.WriteString(w, "body")
			h.Set("X-Late", "ignored, as in net/http")
		}
	}))
	client := newClient(t)

	resp, body := get(t, client, "http://"+addr+"/multi")
	if body != "multi" || strings.Join(resp.Header["Set-Cookie"], ";") != "a=1;b=2" {
		t.Errorf("/multi: %q %v", body, resp.Header)
	}
	if resp.Header.Get("Evil") != "" || !strings.HasPrefix(resp.Header.Get("X-Injected"), "v") {
		t.Errorf("/multi: header injection: %v", resp.Header)
	}

	c := dial(t, addr)
	io.WriteString(c, "GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /multi HTTP/1.1\r\nHost: x\r\n\r\n")
	all, _ := io.ReadAll(c)
	if strings.Count(string(all), "HTTP/1.1 ") != 1 || !strings.Contains(string(all), "\r\nConnection: close\r\n") {
		t.Errorf("/close: %q, want one response with Connection: close, then EOF", all)
	}

	resp, body = get(t, client, "http://"+addr+"/chunked")
	if body != "small but chunked" || len(resp.TransferEncoding) != 1 || resp.ContentLength != -1 {
		t.Errorf("/chunked: %q TE %q CL %d", body, resp.TransferEncoding, resp.ContentLength)
	}

	for _, path := range []string{"/big", "/big-length"} {
		resp, body = get(t, client, "http://"+addr+path)
		if body != string(big) {
			t.Errorf("%s: %d bytes, want %d identical", path, len(body), len(big))
		}
		if path == "/big-length" && resp.ContentLength != int64(len(big)) {
			t.Errorf("%s: Content-Length %d", path, resp.ContentLength)
		}
	}

	resp, body = get(t, client, "http://"+addr+"/late-header")
	if body != "body" || resp.Header.Get("X-Late") != "" {
		t.Errorf("/late-header: %q %v", body, resp.Header)
	}
}

func TestHandlerRequestClose(t *testing.T) {
	t.Parallel()
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "close=%v", r.Close)
	}))
	_, body := roundTrip(t, addr, "GET", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if string(body) != "close=true" {
		t.Errorf("Connection: close: %q", body)
	}
	_, body = roundTrip(t, addr, "GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if string(body) != "close=false" {
		t.Errorf("keep-alive: %q", body)
	}
}
