package kestrel

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nativeEdgeClient is a client of one protocol and the URL of the server
// it talks to.
type nativeEdgeClient struct {
	name, base string
	c          *http.Client
}

// nativeEdgeClients starts s with one HTTPS endpoint serving HTTP/1.1,
// HTTP/2 and HTTP/3, and returns a client of each protocol: net/http's
// (HTTP/1.1 and HTTP/2) and quic-go's.
func nativeEdgeClients(t *testing.T, s *Server) []nativeEdgeClient {
	t.Helper()
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	h1 := &http.Transport{TLSClientConfig: testClientTLS(t), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2 := &http.Transport{TLSClientConfig: testClientTLS(t), Protocols: new(http.Protocols)}
	h2.Protocols.SetHTTP2(true)
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	return []nativeEdgeClient{
		{"http1", "https://" + addr, &http.Client{Transport: h1, Timeout: 5 * time.Second}},
		{"http2", "https://" + addr, &http.Client{Transport: h2, Timeout: 5 * time.Second}},
		{"http3", "https://" + addr, h3Client(t)},
	}
}

// get sends a GET for path twice (the second on the kept-alive
// connection) and returns the first response and its body, read whole.
func (c nativeEdgeClient) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	var first *http.Response
	var firstBody string
	for i := range 2 {
		resp, err := c.c.Get(c.base + path)
		if err != nil {
			t.Fatalf("%s GET %s (request %d): %v", c.name, path, i+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s GET %s (request %d): reading the body: %v", c.name, path, i+1, err)
		}
		if i == 0 {
			first, firstBody = resp, string(b)
		}
	}
	return first, firstBody
}

// TestNativeSetStatusInformational: SetStatus with a 1xx code (103, or a
// 101 without Upgrade) does not make the response's final status a 1xx,
// which HTTP/1.1 clients take for an interim response (pairing the next
// response with the request) and HTTP/2 and HTTP/3 clients reject: it is
// ignored, as an invalid code is, and the response is the handler's
// body with the status it had.
func TestNativeSetStatusInformational(t *testing.T) {
	clients := nativeEdgeClients(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		switch string(c.Path()) {
		case "/103":
			c.SetStatus(103)
		case "/101":
			c.SetStatus(http.StatusAccepted)
			c.SetStatus(101)
		}
		c.WriteString("body")
	})})
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range []struct {
				path   string
				status int
			}{{"/103", http.StatusOK}, {"/101", http.StatusAccepted}} {
				resp, body := c.get(t, tc.path)
				if resp.StatusCode != tc.status || body != "body" {
					t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, "body")
				}
			}
		})
	}
}

// TestResponseTrailerForbiddenNames: trailers named for fields a trailer
// section must not carry (framing, routing, authentication, controls and
// the like: those net/http refuses as trailers,
// httpguts.ValidTrailerHeader) are left out of the response, from the
// native AddTrailer as from an http.Handler's (http.TrailerPrefix), so that
// the others arrive: quic-go's HTTP/3 client drops every trailer of a
// response with one of them, and nghttp2 fails the stream.
func TestResponseTrailerForbiddenNames(t *testing.T) {
	forbidden := []string{"Content-Length", "Transfer-Encoding", "Host", "Trailer", "Connection", "Keep-Alive", "TE", "content-type", "Authorization", "Cache-Control", "If-Match"}
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Ok")
		w.Write([]byte("body"))
		for _, name := range forbidden {
			w.Header().Set(http.TrailerPrefix+name, "1")
		}
		w.Header().Set("X-Ok", "ok")
	})
	clients := nativeEdgeClients(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/std" {
			c.ServeHTTP(std)
			return
		}
		c.WriteString("body")
		for _, name := range forbidden {
			c.AddTrailer(name, "1")
		}
		c.AddTrailer("X-Ok", "ok")
	})})
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/native", "/std"} {
				resp, body := c.get(t, path)
				if body != "body" || len(resp.Trailer) != 1 || resp.Trailer.Get("X-Ok") != "ok" {
					t.Errorf("GET %s: body %q, trailers %v; want %q and X-Ok alone", path, body, resp.Trailer, "body")
				}
			}
		})
	}
}

// TestResponseTEOverHTTP2And3: a TE response header, which HTTP/2 and
// HTTP/3 allow in requests only (RFC 9113, 8.2.2; RFC 9114, 4.2), is left
// out of their responses with the other connection-specific fields, from
// the native path as from an http.Handler: quic-go's client refused the
// response and nghttp2 (curl) failed the HTTP/2 stream.
func TestResponseTEOverHTTP2And3(t *testing.T) {
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("TE", "gzip")
		w.Header().Set("X-Other", "kept")
		w.Write([]byte("body"))
	})
	clients := nativeEdgeClients(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/std" {
			c.ServeHTTP(std)
			return
		}
		c.SetHeader("TE", "gzip")
		c.SetHeader("X-Other", "kept")
		c.WriteString("body")
	})})
	for _, c := range clients[1:] {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/native", "/std"} {
				resp, body := c.get(t, path)
				if body != "body" || resp.Header.Get("X-Other") != "kept" || resp.Header["Te"] != nil {
					t.Errorf("GET %s: body %q, header %v; want %q, X-Other and no TE", path, body, resp.Header, "body")
				}
			}
		})
	}
}

// TestResponseHeaderControlBytes: control bytes in a response header or
// trailer value (other than the horizontal tab: RFC 9110, 5.5, whose
// grammar has none) become spaces, as CR, LF and NUL already did, on
// every protocol and from both handler APIs: HTTP/2 and HTTP/3 clients
// (net/http's, quic-go's, nghttp2) refused the whole response for one
// such byte, and net/http's HTTP/1.1 client the head.
func TestResponseHeaderControlBytes(t *testing.T) {
	const value = "a\x01b\x1fc\x7fd\te"
	const want = "a b c d\te"
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-T")
		w.Header().Set("X-C", value)
		w.Write([]byte("body"))
		w.Header().Set("X-T", value)
	})
	clients := nativeEdgeClients(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/std" {
			c.ServeHTTP(std)
			return
		}
		c.SetHeader("X-C", value)
		c.WriteString("body")
		c.AddTrailer("X-T", value)
	})})
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/native", "/std"} {
				resp, body := c.get(t, path)
				if body != "body" || resp.Header.Get("X-C") != want || resp.Trailer.Get("X-T") != want {
					t.Errorf("GET %s: body %q, X-C %q, trailer X-T %q; want %q, and %q in both", path, body, resp.Header.Get("X-C"), resp.Trailer.Get("X-T"), "body", want)
				}
			}
		})
	}
}

// TestResponseLongerThanContentLengthLog: a handler that writes more than
// the Content-Length it set, ignoring the http.ErrContentLength its write
// returns, ends with a response shorter than the length (the refused
// bytes are not sent), and the warning the protocol logs says what the
// handler did, writes past the length, rather than that it wrote too
// little; with the refused count.
func TestResponseLongerThanContentLengthLog(t *testing.T) {
	rec, logger := newLogRecorder(slog.LevelWarn)
	writeErrs := make(chan error, 8)
	clients := nativeEdgeClients(t, &Server{Logger: logger, NativeHandler: NativeHandlerFunc(func(c *Context) {
		c.SetHeader("Content-Length", "3")
		_, err := c.WriteString("abcdef")
		writeErrs <- err
	})})
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			n := len(rec.events(""))
			if resp, err := c.c.Get(c.base + "/"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err := <-writeErrs; !errors.Is(err, http.ErrContentLength) {
				t.Errorf("the write past the Content-Length: %v, want http.ErrContentLength", err)
			}
			waitFor(t, "the warning", func() bool { return len(rec.events("")) > n })
			e := rec.events("")[n]
			if !strings.Contains(e.msg, "longer than its Content-Length") || e.attrs["refused"] != "6" {
				t.Errorf("logged %q %v; want a response longer than its Content-Length, 6 bytes refused", e.msg, e.attrs)
			}
		})
	}
}

// TestResetContentHasNoBody: a 205 Reset Content response carries no
// content (RFC 9110, 15.3.6: a server must not generate any; Kestrel
// refuses the writes), from the native API as from an http.Handler: the
// handler's writes fail with http.ErrBodyNotAllowed, as for a 204, and
// the response says its empty length, so the connection goes on.
func TestResetContentHasNoBody(t *testing.T) {
	writeErrs := make(chan error, 16)
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusResetContent)
		_, err := w.Write([]byte("body"))
		writeErrs <- err
	})
	clients := nativeEdgeClients(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/std" {
			c.ServeHTTP(std)
			return
		}
		c.SetStatus(http.StatusResetContent)
		_, err := c.WriteString("body")
		writeErrs <- err
	})})
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/native", "/std"} {
				resp, body := c.get(t, path) // twice: the connection goes on
				if resp.StatusCode != http.StatusResetContent || body != "" {
					t.Errorf("GET %s: %d %q, want 205 and no content", path, resp.StatusCode, body)
				}
				for range 2 {
					if err := <-writeErrs; !errors.Is(err, http.ErrBodyNotAllowed) {
						t.Errorf("GET %s: the write: %v, want http.ErrBodyNotAllowed", path, err)
					}
				}
			}
		})
	}
}

// TestResetContentHasNoBodySendfile: a file copied into a 205 response
// over cleartext HTTP/1.1, where large files go with sendfile, is refused
// as other writes are, not sent.
func TestResetContentHasNoBodySendfile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(name, bytes.Repeat([]byte("x"), 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	copyErr := make(chan error, 1)
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(name)
		if err != nil {
			copyErr <- err
			return
		}
		defer f.Close()
		w.WriteHeader(http.StatusResetContent)
		_, err = io.Copy(w, f)
		copyErr <- err
	})}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(s.Addresses()[0] + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusResetContent || len(body) != 0 {
		t.Errorf("%d with %d bytes, want 205 and no content", resp.StatusCode, len(body))
	}
	if err := <-copyErr; !errors.Is(err, http.ErrBodyNotAllowed) {
		t.Errorf("io.Copy: %v, want http.ErrBodyNotAllowed", err)
	}
}

// TestResetContentIgnoresContentLength: a 205 Reset Content whose handler
// set a Content-Length (its writes refused) says Content-Length: 0 and
// keeps its connection, native or http.Handler, over every protocol. It
// sent the handler's length, which no content followed: HTTP/1.1 closed
// the connection short of it, HTTP/2 and HTTP/3 reset the stream.
func TestResetContentIgnoresContentLength(t *testing.T) {
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4")
		w.WriteHeader(http.StatusResetContent)
		w.Write([]byte("body"))
	})
	clients := nativeEdgeClients(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/std" {
			c.ServeHTTP(std)
			return
		}
		c.SetStatus(http.StatusResetContent)
		c.SetHeader("Content-Length", "4")
		c.WriteString("body")
	})})
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/native", "/std"} {
				resp, body := c.get(t, path) // twice: the connection goes on
				if resp.StatusCode != http.StatusResetContent || body != "" || resp.Header.Get("Content-Length") != "0" {
					t.Errorf("GET %s: %d, Content-Length %q, %q; want 205, Content-Length 0, no content",
						path, resp.StatusCode, resp.Header.Get("Content-Length"), body)
				}
			}
		})
	}
}
