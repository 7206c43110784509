package kestrel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/logging"
)

// eventClients are a client of each protocol for a server started by
// h3Server with HTTP1AndHTTP2AndHTTP3.
func eventClients(t *testing.T) []struct {
	name   string
	client *http.Client
} {
	h1 := &http.Transport{TLSClientConfig: testClientTLS(t), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2 := &http.Transport{TLSClientConfig: testClientTLS(t), ForceAttemptHTTP2: true}
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	return []struct {
		name   string
		client *http.Client
	}{
		{"HTTP/1.1", &http.Client{Transport: h1, Timeout: 10 * time.Second}},
		{"HTTP/2", &http.Client{Transport: h2, Timeout: 10 * time.Second}},
		{"HTTP/3", h3Client(t)},
	}
}

// checkEvent checks that each of the records is the event e, with the
// attributes want.
func checkEvent(t *testing.T, what string, got []event, e *logevents.Event, want map[string]string) {
	t.Helper()
	if len(got) == 0 {
		t.Errorf("%s: no %s event", what, e.Name)
		return
	}
	for _, g := range got {
		if g.level != e.Level || g.attrs[logging.EventIDKey] != itoa(e.ID) || g.attrs[logging.CategoryKey] != e.Category {
			t.Errorf("%s: %s at %v, id %s, category %s; want %v, %d, %s", what, e.Name, g.level, g.attrs[logging.EventIDKey], g.attrs[logging.CategoryKey], e.Level, e.ID, e.Category)
		}
		for k, v := range want {
			if g.attrs[k] != v {
				t.Errorf("%s: %s attribute %s = %q, want %q (%+v)", what, e.Name, k, g.attrs[k], v, g)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestLogConnectionKeepAliveAndHeadBodyWrite: a response after which the
// connection stays open is logged as Kestrel's ConnectionKeepAlive (9),
// for each protocol (Kestrel's HTTP/2 and HTTP/3 streams keep their
// connection); one on a connection that closes is not; body bytes written
// to a HEAD response are logged as ConnectionHeadResponseBodyWrite (18)
// with their count, and not for a GET.
func TestLogConnectionKeepAliveAndHeadBodyWrite(t *testing.T) {
	t.Parallel()
	rec, log := newLogRecorder(slog.LevelDebug)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, world")
	})
	_, addr := h3Server(t, &Server{Logger: log, Handler: h}, HTTP1AndHTTP2AndHTTP3)
	for _, c := range eventClients(t) {
		for _, method := range []string{"GET", "HEAD"} {
			req, _ := http.NewRequest(method, "https://"+addr+"/", nil)
			resp, err := c.client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, method, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	// A request with Connection: close ends its connection.
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Close = true
	resp, err := eventClients(t)[0].client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitFor(t, "the responses' events", func() bool { return len(rec.events("ConnectionKeepAlive")) >= 6 })
	time.Sleep(50 * time.Millisecond) // the closed connection's would come now
	keep := rec.events("ConnectionKeepAlive")
	if len(keep) != 6 {
		t.Errorf("%d ConnectionKeepAlive events for 6 kept responses and one closing: %+v", len(keep), keep)
	}
	checkEvent(t, "keep-alive", keep, &logevents.ConnectionKeepAliveEvent, nil)
	for _, e := range keep {
		if id := e.attrs["ConnectionId"]; len(id) != 13 || !strings.Contains(e.msg, `Connection id "`+id+`" completed keep alive response.`) {
			t.Errorf("ConnectionKeepAlive: %+v", e)
		}
	}
	head := rec.events("ConnectionHeadResponseBodyWrite")
	if len(head) != 3 {
		t.Errorf("%d ConnectionHeadResponseBodyWrite events for 3 HEAD requests: %+v", len(head), head)
	}
	checkEvent(t, "HEAD", head, &logevents.ConnectionHeadResponseBodyWriteEvent, map[string]string{"count": "12"})
	for _, e := range head {
		if !strings.Contains(e.msg, `write of "12" body bytes to non-body HEAD response.`) {
			t.Errorf("ConnectionHeadResponseBodyWrite: %q", e.msg)
		}
	}
}

// TestLogNoKeepAliveAfterClientGone: an HTTP/1.1 client that shuts its
// side of the connection while its handler runs aborts the request (its
// context ends); the response still goes out, but the connection cannot
// serve another request, and it is not logged as ConnectionKeepAlive.
func TestLogNoKeepAliveAfterClientGone(t *testing.T) {
	t.Parallel()
	rec, log := newLogRecorder(slog.LevelDebug)
	addr := startServer(t, &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		io.WriteString(w, "late")
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "late" {
		t.Errorf("body %q, want the handler's", body)
	}
	waitFor(t, "ConnectionStop", func() bool { return len(rec.events("ConnectionStop")) == 1 })
	if keep := rec.events("ConnectionKeepAlive"); len(keep) != 0 {
		t.Errorf("ConnectionKeepAlive for a client that went away: %+v", keep)
	}
}

// TestLogConnectionDisconnect: an HTTP/1.1 connection the server closes
// is logged as Kestrel's ConnectionDisconnect (10), whether it closes
// after a response (Connection: close) or because the client closed it;
// HTTP/2 connections are not (Kestrel logs it from its HTTP/1.x output).
func TestLogConnectionDisconnect(t *testing.T) {
	t.Parallel()
	rec, log := newLogRecorder(slog.LevelDebug)
	_, addr := h3Server(t, &Server{Logger: log, Handler: okHandler()}, HTTP1AndHTTP2AndHTTP3)
	clients := eventClients(t)
	get := func(c *http.Client, close bool) {
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		req.Close = close
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get(clients[0].client, true) // the server closes after the response
	get(clients[0].client, false)
	get(clients[1].client, false)
	clients[0].client.CloseIdleConnections() // the client closes
	clients[1].client.CloseIdleConnections()
	waitFor(t, "two ConnectionStop", func() bool { return len(rec.events("ConnectionStop")) >= 3 })
	got := rec.events("ConnectionDisconnect")
	if len(got) != 2 {
		t.Errorf("%d ConnectionDisconnect events for two HTTP/1.1 connections (and one HTTP/2): %+v", len(got), got)
	}
	checkEvent(t, "disconnect", got, &logevents.ConnectionDisconnectEvent, nil)
	for _, e := range got {
		if id := e.attrs["ConnectionId"]; len(id) != 13 || e.msg != `Connection id "`+id+`" disconnecting.` {
			t.Errorf("ConnectionDisconnect: %+v", e)
		}
	}
}

// TestLogRequestBodyNotEntirelyReadHTTP1: a handler that returns without
// reading a body the client is still sending is logged as Kestrel's
// RequestBodyNotEntirelyRead (32) while the server drains the rest (at
// Debug: see its declaration), and a drain the client stalls as
// RequestBodyDrainTimedOut (33, Information) when RequestHeadersTimeout
// ends it; a rest of the body the server had already received, and a body
// the handler read, are not logged.
func TestLogRequestBodyNotEntirelyReadHTTP1(t *testing.T) {
	t.Parallel()
	rec, log := newLogRecorder(slog.LevelDebug)
	var read atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if read.Load() {
			io.Copy(io.Discard, r.Body)
		}
		io.WriteString(w, "ok")
	})
	addr := startServer(t, &Server{Logger: log, Handler: h, Limits: Limits{RequestHeadersTimeout: time.Second}})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	exchange := func(parts ...string) {
		t.Helper()
		for i, p := range parts {
			if i > 0 {
				time.Sleep(100 * time.Millisecond) // the handler has returned
			}
			if _, err := io.WriteString(nc, p); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatalf("the connection closes after %q", parts)
		}
	}
	const head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
	exchange(head + "0123456789") // all received: drained at once
	read.Store(true)
	exchange(head+"01234", "56789") // read by the handler
	read.Store(false)
	if e := rec.events("RequestBodyNotEntirelyRead"); len(e) != 0 {
		t.Fatalf("RequestBodyNotEntirelyRead for bodies received or read: %+v", e)
	}
	exchange(head+"01234", "56789") // the server waits for the rest
	got := rec.events("RequestBodyNotEntirelyRead")
	if len(got) != 1 {
		t.Fatalf("%d RequestBodyNotEntirelyRead events, want 1: %+v", len(got), got)
	}
	id := got[0].attrs["ConnectionId"]
	want := map[string]string{"ConnectionId": id, "TraceIdentifier": id + ":00000003"}
	checkEvent(t, "unread body", got, &logevents.RequestBodyNotEntirelyReadEvent, want)
	if msg := `Connection id "` + id + `", Request id "` + id + `:00000003": the application completed without reading the entire request body.`; got[0].msg != msg {
		t.Errorf("RequestBodyNotEntirelyRead: %q, want %q", got[0].msg, msg)
	}

	// The client stalls: the response comes at once, the drain after it
	// times out and the connection closes.
	io.WriteString(nc, head+"01234")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a drain that timed out: the connection is kept (read %d, %v)", n, err)
	}
	timedOut := rec.events("RequestBodyDrainTimedOut")
	want["TraceIdentifier"] = id + ":00000004"
	checkEvent(t, "drain timeout", timedOut, &logevents.RequestBodyDrainTimedOutEvent, want)
	if len(timedOut) == 1 && !strings.HasSuffix(timedOut[0].msg, "automatic draining of the request body timed out after taking over 1s.") {
		t.Errorf("RequestBodyDrainTimedOut: %q", timedOut[0].msg)
	}
	if e := rec.events("RequestBodyNotEntirelyRead"); len(e) != 2 {
		t.Errorf("%d RequestBodyNotEntirelyRead events, want 2", len(e))
	}
}

// TestLogRequestBodyNotEntirelyReadHTTP2And3: an HTTP/2 or HTTP/3
// handler that returns before the request stream ended is logged as
// RequestBodyNotEntirelyRead, as Kestrel's streams log it (that one whose
// end had arrived is not is TestLogRequestBodyNotEntirelyReadHTTP1's, where
// the order of the bytes is the test's).
func TestLogRequestBodyNotEntirelyReadHTTP2And3(t *testing.T) {
	t.Parallel()
	rec, log := newLogRecorder(slog.LevelDebug)
	// Whether the end of a body the client sent whole has reached the
	// server when the handler returns is a race (the client writes the
	// body on a goroutine of its own, and over HTTP/3 the end can travel
	// in a packet of its own), so only the request whose body never ends
	// is checked, by its id.
	open := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [1]byte
		r.Body.Read(b[:]) // as a JSON decoder that stops at the value's end
		io.WriteString(w, "ok")
		if r.URL.Path == "/open" {
			open <- RequestID(r)
		}
	})
	_, addr := h3Server(t, &Server{Logger: log, Handler: h}, HTTP1AndHTTP2AndHTTP3)
	for _, c := range eventClients(t)[1:] {
		resp, err := c.client.Post("https://"+addr+"/ended", "text/plain", strings.NewReader("0123456789"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		pr, pw := io.Pipe()
		go io.WriteString(pw, "01234") // and never ends
		resp, err = c.client.Post("https://"+addr+"/open", "text/plain", pr)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		id := <-open
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		pw.Close()
		waitFor(t, c.name+" RequestBodyNotEntirelyRead", func() bool {
			for _, e := range rec.events("RequestBodyNotEntirelyRead") {
				if e.attrs["TraceIdentifier"] == id {
					return true
				}
			}
			return false
		})
	}
	got := rec.events("RequestBodyNotEntirelyRead")
	checkEvent(t, "unread body", got, &logevents.RequestBodyNotEntirelyReadEvent, nil)
	for _, e := range got {
		if id := e.attrs["ConnectionId"]; len(id) != 13 || !strings.HasPrefix(e.attrs["TraceIdentifier"], id+":") {
			t.Errorf("RequestBodyNotEntirelyRead: %+v", e)
		}
	}
}

// TestLogNotAllConnectionsAborted: at Shutdown's deadline, the
// connections left are aborted (NotAllConnectionsClosedGracefully); those
// whose handler still runs a second later, ignoring its request's
// context, are logged as Kestrel's NotAllConnectionsAborted (21), and
// Shutdown returns then; a handler that returns when its context ends is
// not.
func TestLogNotAllConnectionsAborted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		ignore bool
	}{{"handler ignores its context", true}, {"handler returns", false}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec, log := newLogRecorder(slog.LevelDebug)
			release, started := make(chan struct{}), make(chan struct{})
			defer close(release)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				if c.ignore {
					<-release
				} else {
					<-r.Context().Done()
				}
			})
			s := &Server{Logger: log, Handler: h}
			addr := startServer(t, s)
			go http.Get("http://" + addr + "/")
			<-started
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := s.Shutdown(ctx); err == nil {
				t.Error("Shutdown: nil error past its deadline")
			}
			took := time.Since(start)
			if e := rec.events("NotAllConnectionsClosedGracefully"); len(e) != 1 {
				t.Errorf("NotAllConnectionsClosedGracefully: %+v", e)
			}
			got := rec.events("NotAllConnectionsAborted")
			if !c.ignore {
				if len(got) != 0 || took > 500*time.Millisecond {
					t.Errorf("Shutdown took %v and logged %+v for a handler that returned", took, got)
				}
				return
			}
			if len(got) != 1 || took < time.Second {
				t.Fatalf("Shutdown took %v and logged %d NotAllConnectionsAborted: %+v", took, len(got), got)
			}
			checkEvent(t, "shutdown", got, &logevents.NotAllConnectionsAbortedEvent, nil)
			if got[0].msg != "Some connections failed to abort during server shutdown." {
				t.Errorf("NotAllConnectionsAborted: %q", got[0].msg)
			}
		})
	}
}

// TestLogRequestAborted: a handler that panics with its context's error
// once the client aborted the request (closed the connection, reset the
// stream) is logged as Kestrel's RequestAborted (66, Debug), as Kestrel
// logs an OperationCanceledException thrown after the abort, not as an
// ApplicationError; the same panic without an abort, and a bug's panic
// after one, are ApplicationErrors.
func TestLogRequestAborted(t *testing.T) {
	t.Parallel()
	rec, log := newLogRecorder(slog.LevelDebug)
	started := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/canceled": // without an abort
			panic(context.Canceled)
		case "/bug":
			started <- struct{}{}
			<-r.Context().Done()
			var s []byte
			_ = s[len(r.URL.Path)] // a runtime error
		}
		started <- struct{}{}
		<-r.Context().Done()
		panic(r.Context().Err())
	})
	_, addr := h3Server(t, &Server{Logger: log, Handler: h}, HTTP1AndHTTP2AndHTTP3)
	for i, c := range eventClients(t) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/", nil)
		go func() {
			<-started
			cancel()
		}()
		if _, err := c.client.Do(req); err == nil {
			t.Fatalf("%s: no error for a cancelled request", c.name)
		}
		waitFor(t, c.name+" RequestAborted", func() bool { return len(rec.events("RequestAborted")) == i+1 })
	}
	got := rec.events("RequestAborted")
	checkEvent(t, "aborted", got, &logevents.RequestAbortedEvent, nil)
	for _, e := range got {
		id := e.attrs["ConnectionId"]
		if len(id) != 13 || !strings.HasPrefix(e.attrs["TraceIdentifier"], id+":") ||
			e.msg != `Connection id "`+id+`", Request id "`+e.attrs["TraceIdentifier"]+`": The request was aborted by the client.` {
			t.Errorf("RequestAborted: %+v", e)
		}
	}
	if e := rec.events("ApplicationError"); len(e) != 0 {
		t.Errorf("ApplicationError for aborted requests: %+v", e)
	}

	client := eventClients(t)[0].client
	if resp, err := client.Get("https://" + addr + "/canceled"); err != nil || resp.StatusCode != 500 {
		t.Fatalf("/canceled: %v, %v", resp, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/bug", nil)
	go func() {
		<-started
		cancel()
	}()
	client.Do(req)
	waitFor(t, "two ApplicationError", func() bool { return len(rec.events("ApplicationError")) == 2 })
	if e := rec.events("RequestAborted"); len(e) != 3 {
		t.Errorf("%d RequestAborted events, want 3", len(e))
	}
}
