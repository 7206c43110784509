package kestrel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// TestContextCancelledByFailedWrite: a handler streaming events that
// never waited on its request context learns that the client went away
// from a failed Write or Flush, and r.Context().Err() says so at once
// (context.Canceled), over each protocol, as net/http's server cancels
// the context when a write to the connection fails and as an HTTP/2
// stream reset or quic-go's STOP_SENDING does. HTTP/1.1 and HTTP/3 said
// nil until the heartbeat or a watch noticed the close.
func TestContextCancelledByFailedWrite(t *testing.T) {
	t.Parallel()
	type result struct {
		writeErr, ctxErr error
	}
	newHandler := func(res chan<- result) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			for i := 0; i < 500; i++ {
				_, err := fmt.Fprintf(w, "data: %d\n\n", i)
				if err == nil {
					err = rc.Flush()
				}
				if err != nil {
					res <- result{err, r.Context().Err()}
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			res <- result{}
		})
	}
	// Each case opens a stream, reads its first event and returns what
	// makes the client go away.
	cases := []struct {
		name string
		open func(t *testing.T, h http.Handler) (gone func())
	}{
		{"HTTP/1.1 close", func(t *testing.T, h http.Handler) func() {
			nc := dial(t, startHandler(t, h))
			io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			bufio.NewReader(resp.Body).ReadString('\n')
			return func() { nc.Close() }
		}},
		{"h2c reset", func(t *testing.T, h http.Handler) func() {
			s := startH2(t, &Server{Handler: h})
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tr.Protocols.SetUnencryptedHTTP2(true)
			t.Cleanup(tr.CloseIdleConnections)
			return openStream(t, tr, "http://"+s.plain+"/")
		}},
		{"HTTP/3 reset", func(t *testing.T, h http.Handler) func() {
			_, addr := h3Server(t, &Server{Handler: h}, HTTP1AndHTTP2AndHTTP3)
			tr := &http3.Transport{TLSClientConfig: testClientTLS(t)}
			t.Cleanup(func() { tr.Close() })
			return openStream(t, tr, "https://"+addr+"/")
		}},
		{"HTTP/3 connection close", func(t *testing.T, h http.Handler) func() {
			_, addr := h3Server(t, &Server{Handler: h}, HTTP1AndHTTP2AndHTTP3)
			tr := &http3.Transport{TLSClientConfig: testClientTLS(t)}
			t.Cleanup(func() { tr.Close() })
			openStream(t, tr, "https://"+addr+"/")
			return func() { tr.Close() }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := make(chan result, 1)
			gone := c.open(t, newHandler(res))
			gone()
			select {
			case r := <-res:
				if r.writeErr == nil {
					t.Fatal("the handler's writes went on succeeding after the client went away")
				}
				if r.ctxErr != context.Canceled {
					t.Errorf("after a write failed with %q, r.Context().Err() = %v, want context.Canceled", r.writeErr, r.ctxErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the handler's writes went on after the client went away")
			}
		})
	}
}

// openStream sends a GET to url with rt, reads the response's first line
// and returns a function that cancels the request (a stream reset).
func openStream(t *testing.T, rt http.RoundTripper, url string) (cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return cancel
}
