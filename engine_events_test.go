package kestrel

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// TestEngineEndReasons provokes, on HTTP/1.1, the reasons a connection ends
// that only the engine knows, and reads each in kestrel.connection.duration
// (error.type, Kestrel's names) and in the log (Kestrel's events, with the
// connection id).
func TestEngineEndReasons(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{MeterProvider: mp, Logger: log,
		Limits: Limits{MaxRequestBodySize: 10, RequestHeadersTimeout: 2 * time.Second},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				return
			}
			if r.URL.Path == "/panic" {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				panic("boom")
			}
			io.WriteString(w, "ok")
		})}
	addr := startServer(t, s)
	send := func(raw string) {
		c := dial(t, addr)
		io.WriteString(c, raw)
		io.ReadAll(c)
	}
	send("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
	send("GET  / HTTP/1.1\r\nHost: x\r\n\r\n")
	send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("b", 100))
	send("\x16\x03\x01\x00\x05hello")
	send("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\n") // and never the rest
	io.ReadAll(c)                           // 408 after the headers timeout
	for reason, n := range map[string]float64{
		"invalid_request_headers":        1,
		"invalid_request_line":           1,
		"max_request_body_size_exceeded": 1,
		"tls_not_supported":              1,
		"error_after_starting_response":  1,
		"request_headers_timeout":        1,
	} {
		waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": reason}, n)
	}
	id := regexp.MustCompile(`^[0-9A-V]{13}$`)
	bad := rec.events("ConnectionBadRequest")
	if len(bad) < 4 {
		t.Errorf("%d ConnectionBadRequest events, want one per rejected request: %+v", len(bad), bad)
	}
	for _, e := range bad {
		if e.level != slog.LevelDebug || !id.MatchString(e.attrs["ConnectionId"]) {
			t.Errorf("ConnectionBadRequest event: %+v", e)
		}
	}
	appErr := rec.events("ApplicationError")
	if len(appErr) != 1 || appErr[0].level != slog.LevelError || !strings.Contains(appErr[0].attrs["TraceIdentifier"], ":00000001") ||
		!strings.Contains(appErr[0].attrs["Exception"], "boom") {
		t.Errorf("ApplicationError events: %+v", appErr)
	}
}

// TestRequestID checks the request ids handlers read: the connection id
// and the request's number on it (HTTP/1.1) or its stream (HTTP/2), as
// Kestrel's TraceIdentifier.
func TestRequestID(t *testing.T) {
	t.Parallel()
	ids := make(chan string, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids <- RequestID(r)
		io.WriteString(w, "ok")
	})
	addr := startHandler(t, h)
	c := dial(t, addr)
	br := bufio.NewReader(c)
	for range 2 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
	}
	first, second := <-ids, <-ids
	re := regexp.MustCompile(`^([0-9A-V]{13}):([0-9A-F]{8})$`)
	m1, m2 := re.FindStringSubmatch(first), re.FindStringSubmatch(second)
	if m1 == nil || m2 == nil || m1[1] != m2[1] || m1[2] != "00000001" || m2[2] != "00000002" {
		t.Errorf("request ids %q and %q, want one connection id and :00000001, :00000002", first, second)
	}

	// HTTP/2 (h2c): the stream id.
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := <-ids; resp.ProtoMajor != 2 || !strings.HasSuffix(id, ":00000001") || re.FindStringSubmatch(id) == nil {
		t.Errorf("HTTP/2 request id %q (proto %s)", id, resp.Proto)
	}
	if RequestID(httptestRequest()) != "" {
		t.Error("a request not served by kestrel has an id")
	}
}

func httptestRequest() *http.Request {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	return r
}

// TestClientGoneMidResponse: a client that goes away in the middle of a
// long response (a cancelled download, a closed tab) ends the handler's
// writes with an error and is no fault of the application, so nothing is
// logged at Warning: on HTTP/1.1 (plain, where files go out with
// sendfile, and over TLS) and on HTTP/2 (the stream reset, the connection
// lost). A handler that really writes less than its Content-Length is
// still a Warning.
func TestClientGoneMidResponse(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	path := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	handlers := map[string]http.HandlerFunc{
		"/file": func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) },
		"/write": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			for range size / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"/short": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		},
	}
	done := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		handlers[r.URL.Path](w, r)
	})
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	rec, log := newLogRecorder(slog.LevelWarn)
	s := &Server{Handler: h, Logger: log}
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0"})
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	plain := strings.TrimPrefix(s.Addresses()[0], "http://")
	secure := strings.TrimPrefix(s.Addresses()[1], "https://")

	// ended waits for the handler's end and for anything the engine logs
	// after it.
	ended := func(what string) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the handler did not return", what)
		}
		time.Sleep(100 * time.Millisecond)
		if e := rec.events(""); len(e) != 0 {
			t.Errorf("%s: logged %+v", what, e)
		}
	}
	for _, c := range []struct {
		name, path string
		tls        bool
	}{
		{"HTTP/1.1 file (sendfile)", "/file", false},
		{"HTTP/1.1 writes", "/write", false},
		{"HTTP/1.1 over TLS, file", "/file", true},
		{"HTTP/1.1 over TLS, writes", "/write", true},
	} {
		var nc net.Conn
		var err error
		if c.tls {
			nc, err = tls.Dial("tcp", secure, &tls.Config{RootCAs: pki.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		} else {
			nc, err = net.Dial("tcp", plain)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(nc, "GET "+c.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := io.ReadFull(nc, make([]byte, 256<<10)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		nc.Close()
		ended(c.name)
	}

	// HTTP/2: the client resets the stream, then loses the connection.
	var conns []net.Conn
	var mu sync.Mutex
	tr := &http.Transport{Protocols: new(http.Protocols), DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		mu.Lock()
		conns = append(conns, nc)
		mu.Unlock()
		return nc, err
	}}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	for _, lose := range []bool{false, true} {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + plain + "/write")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 256<<10)); err != nil || resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/2: %s, %v", resp.Proto, err)
		}
		if lose {
			mu.Lock()
			for _, nc := range conns {
				nc.Close()
			}
			mu.Unlock()
		}
		resp.Body.Close()
		ended(fmt.Sprintf("HTTP/2, connection lost %v", lose))
	}

	// A handler at fault is still reported.
	nc := dial(t, plain)
	io.WriteString(nc, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
	<-done
	waitFor(t, "the short response's warning", func() bool { return len(rec.events("")) == 1 })
	if e := rec.events(""); !strings.Contains(e[0].msg, "shorter than its Content-Length") {
		t.Errorf("logged %+v", e)
	}
}
