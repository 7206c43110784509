package kestrel

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// lateUse is what a goroutine that kept a request's Body and
// ResponseWriter past its handler's return saw when it used them.
type lateUse struct {
	read                string
	readErr, writeErr   error
	flushErr, hijackErr error
	deadlineErr         error
}

// keptHandler serves /keep by handing its request and writer to a
// goroutine that uses them once /victim's handler runs (on the same
// connection or another), and /victim by echoing its body once that
// goroutine is done.
type keptHandler struct {
	kept   chan func() lateUse
	result chan lateUse
}

func newKeptHandler() *keptHandler {
	return &keptHandler{kept: make(chan func() lateUse, 1), result: make(chan lateUse, 1)}
}

func (h *keptHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/keep":
		hdr := w.Header()
		h.kept <- func() lateUse {
			var u lateUse
			buf := make([]byte, 64)
			n, err := r.Body.Read(buf)
			u.read, u.readErr = string(buf[:n]), err
			hdr.Set("X-Leak", "kept map")
			w.Header().Set("X-Leak2", "late map")
			w.WriteHeader(http.StatusTeapot)
			_, u.writeErr = io.WriteString(w, "LEAK")
			rc := http.NewResponseController(w)
			u.flushErr = rc.Flush()
			u.deadlineErr = rc.SetWriteDeadline(time.Now())
			_, _, u.hijackErr = rc.Hijack()
			return u
		}
		io.WriteString(w, "kept")
	case "/victim":
		select {
		case use := <-h.kept:
			h.result <- use()
		case <-time.After(5 * time.Second):
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}
}

// TestHandlerLateUseAfterReturn: the Body and ResponseWriter of a request
// whose handler has returned belong to no other request. Reads fail with
// http.ErrBodyReadAfterClose (as net/http's), writes, Flush and the
// ResponseController's calls fail, and the next request served (on the
// same connection, on another, over each protocol) gets neither its body
// read nor anything written into its response.
func TestHandlerLateUseAfterReturn(t *testing.T) {
	t.Parallel()
	type post func(t *testing.T, path, body string) (*http.Response, string)
	clientPost := func(c *http.Client, base string) post {
		return func(t *testing.T, path, body string) (*http.Response, string) {
			t.Helper()
			resp, err := c.Post(base+path, "text/plain", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, string(b)
		}
	}
	cases := []struct {
		name  string
		start func(t *testing.T, h http.Handler) (keep, victim post)
	}{
		{"HTTP/1.1 same connection", func(t *testing.T, h http.Handler) (post, post) {
			p := clientPost(newClient(t), "http://"+startHandler(t, h))
			return p, p
		}},
		{"HTTP/1.1 other connection", func(t *testing.T, h http.Handler) (post, post) {
			base := "http://" + startHandler(t, h)
			return clientPost(newClient(t), base), clientPost(newClient(t), base)
		}},
		{"h2c", func(t *testing.T, h http.Handler) (post, post) {
			s := startH2(t, &Server{Handler: h})
			c := s.clients(t)[0]
			return clientPost(c.c, c.base), clientPost(s.clients(t)[2].c, c.base)
		}},
		{"HTTP/3", func(t *testing.T, h http.Handler) (post, post) {
			_, addr := h3Server(t, &Server{Handler: h}, HTTP3)
			return clientPost(h3Client(t), "https://"+addr), clientPost(h3Client(t), "https://"+addr)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newKeptHandler()
			keep, victim := tc.start(t, h)
			keep(t, "/keep", "first body")
			resp, body := victim(t, "/victim", "SECRET of the victim")
			var u lateUse
			select {
			case u = <-h.result:
			case <-time.After(5 * time.Second):
				t.Fatal("the kept request was not used")
			}
			if u.read != "" || !errors.Is(u.readErr, http.ErrBodyReadAfterClose) {
				t.Errorf("Body.Read after the handler returned: %q, %v; want nothing, http.ErrBodyReadAfterClose", u.read, u.readErr)
			}
			for name, err := range map[string]error{"Write": u.writeErr, "Flush": u.flushErr, "SetWriteDeadline": u.deadlineErr, "Hijack": u.hijackErr} {
				if err == nil {
					t.Errorf("%s after the handler returned succeeded", name)
				}
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Leak") != "" || resp.Header.Get("X-Leak2") != "" || body != "SECRET of the victim" {
				t.Errorf("the next request's response: %d %v %q; want 200, its own body, no X-Leak", resp.StatusCode, resp.Header, body)
			}
		})
	}
}

// TestHandlerReturnsWhileBodyReadWaits: a goroutine left waiting in
// r.Body.Read when its handler returns gets an error at once, and never
// the bytes that follow on the connection (the rest of the body, the next
// pipelined request).
func TestHandlerReturnsWhileBodyReadWaits(t *testing.T) {
	t.Parallel()
	type result struct {
		got string
		err error
	}
	results := make(chan result, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/wait" {
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
			return
		}
		first := make(chan struct{})
		go func() {
			buf := make([]byte, 64)
			n, _ := r.Body.Read(buf) // the part sent
			got := string(buf[:n])
			close(first)
			var err error
			for err == nil {
				n, err = r.Body.Read(buf) // waits for the rest
				got += string(buf[:n])
			}
			results <- result{got, err}
		}()
		<-first
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde")
	var res result
	select {
	case res = <-results:
	case <-time.After(2 * time.Second):
		// The read still waits: what the client sends next must not reach it.
		io.WriteString(c, "fghijPOST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nSECRET")
		select {
		case res = <-results:
		case <-time.After(5 * time.Second):
			t.Fatal("the read never ended")
		}
		t.Errorf("the read did not end as the handler returned; it went on to get %q, %v", res.got, res.err)
		return
	}
	if res.got != "abcde" || res.err == nil || res.err == io.EOF {
		t.Errorf("the waiting read: %q, %v; want abcde and an error", res.got, res.err)
	}
	// The connection is left in a known state: the response to /wait
	// comes, whatever happens to the connection after it.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestHandlerContextAfterReturn: a request and its context may be kept
// after the handler returns (net/http's contract), but the server's
// exchange goes on to serve other requests. The context's local address
// and RequestID stay the kept request's, and the functions that act on a
// request's exchange fail rather than act on the next request served (an
// HTTP/3 stream put back in the pool made them crash).
func TestHandlerContextAfterReturn(t *testing.T) {
	t.Parallel()
	type seen struct {
		id    string
		local any
	}
	for _, proto := range []string{"HTTP/1.1", "HTTP/3"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			kept := make(chan *http.Request, 1)
			during := make(chan seen, 1)
			after := make(chan seen, 1)
			limitErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/keep":
					during <- seen{RequestID(r), r.Context().Value(http.LocalAddrContextKey)}
					kept <- r
				case "/victim":
					k := <-kept
					limitErr <- SetMaxRequestBodySize(k, 1)
					after <- seen{RequestID(k), k.Context().Value(http.LocalAddrContextKey)}
					b, err := io.ReadAll(r.Body)
					if err != nil {
						return
					}
					w.Write(b)
				}
			})
			var keepC, victimC *http.Client
			var base string
			if proto == "HTTP/3" {
				_, addr := h3Server(t, &Server{Handler: h}, HTTP3)
				base, keepC, victimC = "https://"+addr, h3Client(t), h3Client(t)
			} else {
				base, keepC, victimC = "http://"+startHandler(t, h), newClient(t), newClient(t)
			}
			resp, err := keepC.Get(base + "/keep")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			resp, err = victimC.Post(base+"/victim", "text/plain", strings.NewReader("the victim's body"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != "the victim's body" {
				t.Errorf("the next request: %d %q, want 200 and its body", resp.StatusCode, b)
			}
			if err := <-limitErr; err == nil {
				t.Error("SetMaxRequestBodySize on a request whose handler returned succeeded")
			}
			d, a := <-during, <-after
			if d.id == "" || a.id != d.id {
				t.Errorf("RequestID after the handler returned: %q, want %q", a.id, d.id)
			}
			if d.local == nil || a.local == nil || a.local.(net.Addr).String() != d.local.(net.Addr).String() {
				t.Errorf("LocalAddrContextKey after the handler returned: %v, want %v", a.local, d.local)
			}
		})
	}
}

// TestHandlerMultipartTempFilesRemoved: the temporary files of a form the
// handler parsed are removed once it returns, as net/http's server
// removes them.
func TestHandlerMultipartTempFilesRemoved(t *testing.T) {
	t.Parallel()
	names := make(chan string, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1024); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := r.MultipartForm.File["upload"][0].Open()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		if of, ok := f.(*os.File); ok {
			names <- of.Name()
		}
	}))
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("upload", "big.bin")
	fw.Write(bytes.Repeat([]byte("x"), 64<<10))
	mw.Close()
	resp, err := newClient(t).Post("http://"+addr+"/", mw.FormDataContentType(), strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var name string
	select {
	case name = <-names:
	default:
		t.Fatalf("the upload was not written to a temporary file (%d)", resp.StatusCode)
	}
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		os.Remove(name)
		t.Errorf("the form's temporary file %s is left after the handler returned (%v)", name, err)
	}
}

// TestExtendedConnectTunnelAfterReturn: the connection Upgrade returns for
// an extended CONNECT is the request's stream and ends with its handler;
// a goroutine that kept it fails to read and write, and reaches neither
// the body nor the response of the next request served.
func TestExtendedConnectTunnelAfterReturn(t *testing.T) {
	t.Parallel()
	kept := make(chan net.Conn, 1)
	type lateTunnel struct{ readErr, writeErr, deadlineErr error }
	late := make(chan lateTunnel, 1)
	s := &Server{Logger: quietLogger}
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			conn, err := Upgrade(w, r)
			if err != nil {
				t.Errorf("Upgrade: %v", err)
				return
			}
			kept <- conn
			return
		}
		conn := <-kept
		buf := make([]byte, 64)
		var u lateTunnel
		_, u.readErr = conn.Read(buf)
		_, u.writeErr = conn.Write([]byte("LEAK"))
		u.deadlineErr = conn.SetReadDeadline(time.Now().Add(time.Hour))
		conn.LocalAddr()
		late <- u
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2, EnableWebSocketsOverHTTP2: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := dialTunnelH2(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
	c.send(1, false, extendedConnect("websocket")...)
	if status, _, _, _ := c.answer(1, false); status != 200 {
		t.Fatalf("extended CONNECT: %d", status)
	}
	c.send(3, false, ":method", "POST", ":scheme", "http", ":path", "/victim", ":authority", "localhost")
	c.fr.WriteData(3, true, []byte("SECRET of the victim"))
	status, _, code, body := c.answer(3, true)
	if status != 200 || body != "SECRET of the victim" {
		t.Errorf("the next request: %d (%v) %q, want 200 and its own body", status, code, body)
	}
	u := <-late
	if u.readErr == nil || u.writeErr == nil || u.deadlineErr == nil {
		t.Errorf("the tunnel after its handler returned: read %v, write %v, SetReadDeadline %v; want errors", u.readErr, u.writeErr, u.deadlineErr)
	}
}

// TestHandlerRequestTrailerAfterReturn: a request's Trailer map is the
// handler's to keep, and the server no longer writes into it once the
// handler has returned (draining a body it did not read), which raced
// with a goroutine reading it.
func TestHandlerRequestTrailerAfterReturn(t *testing.T) {
	t.Parallel()
	kept := make(chan *http.Request, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kept <- r // the body is left unread: the server drains it
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: v\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-kept
	if v, ok := r.Trailer["X-T"]; !ok || v != nil {
		t.Errorf("Request.Trailer after the handler returned: %q, want the declared name with no value", r.Trailer)
	}
}

// TestTimeoutHandlerLateBodyRead: http.TimeoutHandler returns while its
// inner handler still runs with the request's Body; when the inner handler
// reads it after the timeout, it gets an error, not the body of the next
// request on the keep-alive connection, which reaches its own handler whole.
func TestTimeoutHandlerLateBodyRead(t *testing.T) {
	t.Parallel()
	late := make(chan string, 1)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/slow", http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // past the timeout: TimeoutHandler has answered 503
		b, err := io.ReadAll(r.Body)
		late <- string(b) + "|" + errString(err)
	}), 20*time.Millisecond, "timed out"))
	mux.HandleFunc("/next", func(w http.ResponseWriter, r *http.Request) {
		close(release)
		time.Sleep(50 * time.Millisecond) // the late read runs now
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	base := "http://" + startServer(t, &Server{Logger: quietLogger, Handler: mux})
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	resp, err := c.Post(base+"/slow", "text/plain", strings.NewReader("first client's body"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/slow: %d, want TimeoutHandler's 503", resp.StatusCode)
	}
	resp, err = c.Post(base+"/next", "text/plain", strings.NewReader("SECOND CLIENT'S SECRET"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "SECOND CLIENT'S SECRET" {
		t.Errorf("/next's handler read %q, want its whole body", got)
	}
	select {
	case s := <-late:
		if strings.Contains(s, "SECRET") {
			t.Errorf("the timed-out handler's late read got the next request's body: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the timed-out handler's late read never returned")
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
