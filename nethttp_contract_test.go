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
	"strings"
	"testing"
	"time"
)

// What ecosystem code relies on in net/http's observable behaviour.

// TestContextCancelledPromptly checks that a handler waiting on its
// request context sees the client's close at once, as with net/http, over
// plain TCP and TLS, after it read a body and with no body at all.
func TestContextCancelledPromptly(t *testing.T) {
	t.Parallel()
	type result struct {
		err error
		at  time.Time
	}
	results := make(chan result, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			results <- result{r.Context().Err(), time.Now()}
		case <-time.After(5 * time.Second):
			results <- result{errors.New("not cancelled"), time.Now()}
		}
	})
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	plain := startHandler(t, h)
	secure := startHTTPS(t, &HTTPS{CertificateFile: cert, KeyFile: key}, h)
	for _, tc := range []struct {
		name string
		addr string
		tls  bool
		body string
	}{
		{"plain, no body", plain, false, ""},
		{"plain, body read", plain, false, "hello"},
		{"TLS, no body", secure, true, ""},
		{"TLS, body read", secure, true, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c net.Conn = dial(t, tc.addr)
			if tc.tls {
				tc := tls.Client(c, &tls.Config{RootCAs: pki.pool, ServerName: "localhost"})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
			if tc.body != "" {
				req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n" + tc.body
			}
			io.WriteString(c, req)
			br := bufio.NewReader(c)
			if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
				t.Fatalf("status line %q, %v", line, err)
			}
			time.Sleep(50 * time.Millisecond) // the handler waits on its context
			closedAt := time.Now()
			c.Close()
			r := <-results
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("context error %v, want context.Canceled", r.err)
			}
			if after := r.at.Sub(closedAt); after > 300*time.Millisecond {
				t.Errorf("the context was cancelled %v after the client closed; net/http takes a few milliseconds", after)
			}
		})
	}
}

// TestCloseNotifier checks the deprecated http.CloseNotifier that gin's
// c.Stream type-asserts: it fires when the client goes away.
func TestCloseNotifier(t *testing.T) {
	t.Parallel()
	fired := make(chan bool, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		//lint:ignore SA1019 the test is of the deprecated interface frameworks still use
		cn, ok := w.(http.CloseNotifier)
		if !ok {
			http.Error(w, "no CloseNotifier", 500)
			fired <- false
			return
		}
		ch := cn.CloseNotify()
		if cn.CloseNotify() != ch {
			t.Error("CloseNotify returned a new channel on its second call")
		}
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case v := <-ch:
			fired <- v
		case <-time.After(5 * time.Second):
			fired <- false
		}
	}))
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !<-fired {
		t.Fatal("CloseNotify did not fire when the client closed")
	}

	// A request that ends normally does not fire it.
	notified := make(chan bool, 1)
	addr = startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		//lint:ignore SA1019 the test is of the deprecated interface frameworks still use
		ch := w.(http.CloseNotifier).CloseNotify()
		go func() {
			select {
			case <-ch:
				notified <- true
			case <-time.After(300 * time.Millisecond):
				notified <- false
			}
		}()
	}))
	get(t, newClient(t), "http://"+addr+"/")
	if <-notified {
		t.Error("CloseNotify fired for a request that ended normally")
	}
}

// TestWriteAfterHijack checks that writes after Hijack fail with
// http.ErrHijacked, which callers test with errors.Is.
func TestWriteAfterHijack(t *testing.T) {
	t.Parallel()
	errs := make(chan []error, 1)
	addr := startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			errs <- []error{err}
			return
		}
		defer c.Close()
		_, werr := w.Write([]byte("x"))
		_, wserr := io.WriteString(w, "x")
		ferr := http.NewResponseController(w).Flush()
		_, _, herr := w.(http.Hijacker).Hijack()
		errs <- []error{werr, wserr, ferr, herr}
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	}))
	resp, _ := roundTrip(t, addr, "GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 204 {
		t.Errorf("status %d", resp.StatusCode)
	}
	for i, err := range <-errs {
		if !errors.Is(err, http.ErrHijacked) {
			t.Errorf("call %d after Hijack: %v, want http.ErrHijacked", i, err)
		}
	}
}

// TestSuperfluousWriteHeaderWarns checks that a second WriteHeader is
// logged at warning level with the handler's function and line, as
// net/http logs "superfluous response.WriteHeader call from ...".
func TestSuperfluousWriteHeaderWarns(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	s := &Server{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			w.WriteHeader(500) // superfluous
		}),
	}
	addr := startServer(t, s)
	resp, _ := get(t, newClient(t), "http://"+addr+"/")
	if resp.StatusCode != 201 {
		t.Errorf("status %d, want the first one, 201", resp.StatusCode)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "superfluous response.WriteHeader call") ||
		!strings.Contains(out, "TestSuperfluousWriteHeaderWarns") || !strings.Contains(out, "nethttp_contract_test.go:") {
		t.Errorf("log %q: want a warning naming the handler's function and line", out)
	}
}

// TestContextErrPolledSeesClientGone checks that a handler that polls
// r.Context().Err() between writes, never asking for Done, learns that the
// client went away, as with net/http, over each protocol: the client
// closes the connection (HTTP/1.1) or cancels the stream (HTTP/2, HTTP/3)
// in the middle of the response. Over HTTP/3 Err stayed nil, and the
// handler ran on, an active request, until it gave up by itself.
func TestContextErrPolledSeesClientGone(t *testing.T) {
	t.Parallel()
	const giveUp = 3 * time.Second
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for deadline := time.Now().Add(giveUp); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			w.Write(make([]byte, 16<<10))
			w.(http.Flusher).Flush()
			if err := r.Context().Err(); err != nil {
				done <- err
				return
			}
		}
		done <- errors.New("r.Context().Err() still nil after the client went away")
	})
	addr := startServer(t, &Server{Handler: h})
	_, h3addr := h3Server(t, &Server{Handler: h}, HTTP3)
	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"HTTP/1.1", newClient(t), "http://" + addr + "/"},
		{"h2c", h2cClient(t), "http://" + addr + "/"},
		{"HTTP/3", h3Client(t), "https://" + h3addr + "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", tc.url, nil)
			resp, err := tc.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("handler: %v, want context.Canceled", err)
			}
		})
	}
}
