package kestrel

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestNativeContextAndTrailers: the native Context's request context ends
// when the handler returns, its trailers reach HTTP/2 clients (in the
// trailing HEADERS) and HTTP/1.1 clients (in the last chunk) with no
// Content-Length, and TLS tells the connection's TLS state.
func TestNativeContextAndTrailers(t *testing.T) {
	ctxs := make(chan context.Context, 16)
	s := startH2(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		ctx := c.Context()
		if ctx != c.Context() {
			t.Error("Context returned a new context")
		}
		if ctx.Err() != nil {
			t.Errorf("the request context ended early: %v", ctx.Err())
		}
		ctxs <- ctx
		tlsState := "no"
		if c.TLS() != nil {
			tlsState = "yes"
		}
		c.SetHeader("X-TLS", tlsState)
		c.WriteString("body")
		c.AddTrailer("X-Checksum", "abc")
		c.AddTrailer("Bad Name", "dropped")
		c.AddTrailer("X-Multi", "line\r\nbreak")
	})})
	check := func(t *testing.T, resp *http.Response, body string, wantTLS string) {
		t.Helper()
		if body != "body" || resp.Header.Get("X-TLS") != wantTLS {
			t.Errorf("body %q, X-TLS %q", body, resp.Header.Get("X-TLS"))
		}
		if resp.ContentLength != -1 {
			t.Errorf("Content-Length %d with trailers", resp.ContentLength)
		}
		if resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("X-Multi") != "line  break" || len(resp.Trailer) != 2 {
			t.Errorf("trailers %v", resp.Trailer)
		}
		select {
		case ctx := <-ctxs:
			deadline := time.Now().Add(5 * time.Second)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Errorf("the request context after the handler returned: %v", ctx.Err())
			}
		default:
			t.Error("the handler did not run")
		}
	}
	for _, c := range s.clients(t) {
		t.Run(c.name, func(t *testing.T) {
			resp, body := doH2(t, c, newReq(t, "GET", c.base+"/", nil))
			want := "no"
			if c.tls {
				want = "yes"
			}
			check(t, resp, body, want)
		})
	}
	t.Run("http1", func(t *testing.T) {
		h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}, Timeout: 10 * time.Second}
		defer h1.CloseIdleConnections()
		for _, u := range []struct{ url, tls string }{{"http://" + s.plain + "/", "no"}, {"https://" + s.secure + "/", "yes"}} {
			resp, err := h1.Get(u.url)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 1 {
				t.Errorf("%s answered over %s", u.url, resp.Proto)
			}
			check(t, resp, string(b), u.tls)
		}
	})
}
