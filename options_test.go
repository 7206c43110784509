package kestrel

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// optionsStar is an "OPTIONS *" request for the server at addr.
func optionsStar(scheme, addr string) *http.Request {
	return &http.Request{
		Method: "OPTIONS",
		URL:    &url.URL{Scheme: scheme, Host: addr, Opaque: "*"},
		Host:   addr,
		Header: http.Header{},
	}
}

// TestGeneralOptionsHandler: "OPTIONS *" is answered by the server with
// 200 and Content-Length: 0 over HTTP/1.1, HTTP/2 and HTTP/3, as net/http
// answers it, unless DisableGeneralOptionsHandler passes it to the handler.
func TestGeneralOptionsHandler(t *testing.T) {
	t.Parallel()
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("disable=%v", disable), func(t *testing.T) {
			t.Parallel()
			var served atomic.Int64
			s := &Server{DisableGeneralOptionsHandler: disable, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				// What the demo's ServeMux does with "*".
				http.Error(w, "handler saw "+r.Method+" "+r.RequestURI+" "+r.Proto, http.StatusBadRequest)
			})}
			_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
			h1 := &http.Transport{TLSClientConfig: testClientTLS(t), Protocols: new(http.Protocols)}
			h1.Protocols.SetHTTP1(true)
			h2 := &http.Transport{TLSClientConfig: testClientTLS(t), Protocols: new(http.Protocols)}
			h2.Protocols.SetHTTP2(true)
			t.Cleanup(h1.CloseIdleConnections)
			t.Cleanup(h2.CloseIdleConnections)
			for _, tc := range []struct {
				proto string
				c     *http.Client
			}{
				{"HTTP/1.1", &http.Client{Transport: h1, Timeout: 20 * time.Second}},
				{"HTTP/2.0", &http.Client{Transport: h2, Timeout: 20 * time.Second}},
				{"HTTP/3.0", h3Client(t)},
			} {
				before := served.Load()
				resp, err := tc.c.Do(optionsStar("https", addr))
				if err != nil {
					t.Fatalf("%s: %v", tc.proto, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("%s: reading the body: %v", tc.proto, err)
				}
				if resp.Proto != tc.proto {
					t.Fatalf("answered over %s, want %s", resp.Proto, tc.proto)
				}
				handled := served.Load() - before
				if disable {
					want := "handler saw OPTIONS * " + tc.proto + "\n"
					if resp.StatusCode != 400 || string(body) != want || handled != 1 {
						t.Errorf("%s: %d %q (handler called %d times), want 400 %q from the handler", tc.proto, resp.StatusCode, body, handled, want)
					}
					continue
				}
				if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 0 || handled != 0 {
					t.Errorf("%s: %d %q, length %d (handler called %d times), want 200 with no body from the server", tc.proto, resp.StatusCode, body, resp.ContentLength, handled)
				}
				if resp.Header.Get("Date") == "" || resp.Header.Get("Server") != "Kestrel" {
					t.Errorf("%s: headers %v, want Date and Server", tc.proto, resp.Header)
				}
			}
		})
	}
}

// TestGeneralOptionsHandlerLikeNetHTTP sends the same raw HTTP/1.1
// requests to net/http's server and to this one: "OPTIONS *" without and
// with a small body keeps the connection, and a body over 4 KiB closes it
// after the answer, as net/http does; the native handler does not see the
// request either.
func TestGeneralOptionsHandlerLikeNetHTTP(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusTeapot)
	})
	ref := httptest.NewServer(h)
	t.Cleanup(ref.Close)
	addrs := map[string]string{
		"net/http": strings.TrimPrefix(ref.URL, "http://"),
		"kestrel":  startHandler(t, h),
		"native": startServer(t, &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
			served.Add(1)
			c.SetStatus(http.StatusTeapot)
		})}),
	}
	for _, tc := range []struct {
		name      string
		body      int
		keepAlive bool
	}{
		{"no body", 0, true},
		{"small body", 100, true},
		{"4 KiB body", 4 << 10, true},
		{"body over 4 KiB", 4<<10 + 1, false},
	} {
		for server, addr := range addrs {
			t.Run(tc.name+"/"+server, func(t *testing.T) {
				before := served.Load()
				c := dial(t, addr)
				req := "OPTIONS * HTTP/1.1\r\nHost: x\r\n"
				if tc.body > 0 {
					req += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", tc.body, strings.Repeat("b", tc.body))
				} else {
					req += "\r\n"
				}
				req += "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, &http.Request{Method: "OPTIONS"})
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "0" || len(body) != 0 {
					t.Errorf("%d, Content-Length %q, body %q: want 200 with Content-Length 0", resp.StatusCode, resp.Header.Get("Content-Length"), body)
				}
				next, err := http.ReadResponse(br, &http.Request{Method: "GET"})
				want := int64(0)
				if tc.keepAlive {
					want = 1
					if err != nil || next.StatusCode != http.StatusTeapot {
						t.Errorf("the next request on the connection: %v %v, want 418", next, err)
					}
				} else if err == nil {
					t.Errorf("the next request was answered (%d); want the connection closed", next.StatusCode)
				}
				if n := served.Load() - before; n != want {
					t.Errorf("the handler served %d requests, want %d (only GET /next)", n, want)
				}
			})
		}
	}
}
