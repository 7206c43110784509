package accesslog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/accesslog"
)

// lockedBuffer collects lines from concurrent requests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSuffix(l.b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// startKestrel serves h on a kestrel.Server and returns its address.
func startKestrel(t *testing.T, h http.Handler, limits kestrel.Limits) string {
	t.Helper()
	s := &kestrel.Server{Handler: h, Logger: slog.New(slog.DiscardHandler), Limits: limits}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "http://")
}

// send writes raw bytes on a new connection and reads one response.
func send(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, raw)
	// The request's method, so that a HEAD response is read without a body.
	req := &http.Request{Method: raw[:strings.IndexByte(raw, ' ')]}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp
}

var lineRE = regexp.MustCompile(`^(\S+) - (\S+) \[(\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)" (\d+\.\d{6}) (\S+)$`)

func TestLines(t *testing.T) {
	var out lockedBuffer
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Hello, World!") })
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := kestrel.Upgrade(w, r)
		if err == nil {
			c.Close()
		}
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	// Panics with a status and a body still buffered: the client gets a
	// 500 with no body, and so does the line.
	mux.HandleFunc("/panic-after-status", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		panic("boom")
	})
	mux.HandleFunc("/panic-after-write", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		panic("boom")
	})
	addr := startKestrel(t, accesslog.Handler(mux, accesslog.Options{Writer: &out}), kestrel.Limits{MaxRequestBodySize: 10})

	before := time.Now()
	// A line is written when the handler returns, which may be just after
	// the client has its response: wait for each before the next request.
	for i, raw := range []string{
		"GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8.5.0\r\nReferer: http://r/\r\n\r\n",
		"HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /missing HTTP/1.0\r\nUser-Agent: evil\"\r\n\r\n",
		"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100),
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
		"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /panic-after-status HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /panic-after-write HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		if resp := send(t, addr, raw); strings.Contains(raw, "/panic") && resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("%q answered %d, want 500", raw, resp.StatusCode)
		}
		for deadline := time.Now().Add(5 * time.Second); len(out.lines()) <= i && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	lines := out.lines()
	want := []struct {
		request, status, bytes, referer, agent string
	}{
		{"GET /hello?x=1 HTTP/1.1", "200", "13", "http://r/", "curl/8.5.0"},
		{"HEAD /hello HTTP/1.1", "200", "-", "-", "-"}, // the body written is not sent
		{"GET /missing HTTP/1.0", "404", "19", "-", `evil\x22`},
		{"POST /upload HTTP/1.1", "413", "-", "-", "-"},
		{"GET /ws HTTP/1.1", "101", "-", "-", "-"},
		{"GET /panic HTTP/1.1", "500", "-", "-", "-"},
		{"GET /panic-after-status HTTP/1.1", "500", "-", "-", "-"},
		{"GET /panic-after-write HTTP/1.1", "500", "-", "-", "-"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, w := range want {
		m := lineRE.FindStringSubmatch(lines[i])
		if m == nil {
			t.Errorf("line %q is not in the combined format with a duration", lines[i])
			continue
		}
		if m[1] != "127.0.0.1" || m[2] != "-" || m[4] != w.request || m[5] != w.status || m[6] != w.bytes || m[7] != w.referer || m[8] != w.agent ||
			!regexp.MustCompile(`^[0-9A-V]{13}:[0-9A-F]{8}$`).MatchString(m[10]) {
			t.Errorf("line %q: want %+v", lines[i], w)
		}
		at, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[3])
		if err != nil || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
			t.Errorf("time %q (%v)", m[3], err)
		}
	}
}

// TestEscapes checks that a client cannot forge a line.
func TestEscapes(t *testing.T) {
	var out bytes.Buffer
	h := accesslog.Handler(http.NotFoundHandler(), accesslog.Options{Writer: &out})
	r := httptest.NewRequest("GET", "/x", nil)
	r.RequestURI = "/a\"b\n127.0.0.1 - - [forged]"
	r.Header.Set("User-Agent", "ü\\")
	h.ServeHTTP(httptest.NewRecorder(), r)
	got := out.String()
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, `"GET /a\x22b\x0a127.0.0.1 - - [forged] HTTP/1.1"`) || !strings.Contains(got, `"\xc3\xbc\x5c"`) {
		t.Errorf("line %q", got)
	}
	// The client's address may come from a forwarded header: escaped, and
	// its spaces too, it stays the line's first field.
	out.Reset()
	r = httptest.NewRequest("GET", "/x", nil)
	r.RemoteAddr = "[fe80::1%x\" 200 1 \"-\" \"forged\n]:80"
	h.ServeHTTP(httptest.NewRecorder(), r)
	got = out.String()
	if strings.Count(got, "\n") != 1 || strings.Count(got, `"`) != 6 || !strings.HasPrefix(got, `fe80::1%x\x22\x20200\x201\x20\x22-\x22\x20\x22forged\x0a - - [`) {
		t.Errorf("line %q", got)
	}
}

func TestSlog(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	h := accesslog.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}), accesslog.Options{Logger: log})
	r := httptest.NewRequest("PUT", "/items/1", nil)
	r.Header.Set("User-Agent", "test")
	h.ServeHTTP(httptest.NewRecorder(), r)
	for _, want := range []string{`"msg":"PUT /items/1 HTTP/1.1 201"`, `"Category":"AccessLog"`, `"RemoteAddr":"192.0.2.1:1234"`,
		`"Method":"PUT"`, `"Target":"/items/1"`, `"Protocol":"HTTP/1.1"`, `"StatusCode":201`, `"ResponseBytes":4`, `"DurationMs":`, `"UserAgent":"test"`,
		`"Referer":""`, `"RemoteUser":""`, `"RequestId":""`, `"StartTime":"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("record %s lacks %s", out.String(), want)
		}
	}
}

// TestOptionalInterfaces checks that handlers see what the server's
// ResponseWriter offers through the middleware.
func TestOptionalInterfaces(t *testing.T) {
	type seen struct {
		flusher, hijacker, readerFrom, closeNotifier bool
		deadline                                     error
	}
	probe := func(got chan<- seen) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var s seen
			_, s.flusher = w.(http.Flusher)
			_, s.hijacker = w.(http.Hijacker)
			_, s.readerFrom = w.(io.ReaderFrom)
			_, s.closeNotifier = w.(http.CloseNotifier) //lint:ignore SA1019 checking that it is passed through
			s.deadline = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
			io.Copy(w, strings.NewReader("body")) // through ReadFrom
			got <- s
		})
	}
	var out lockedBuffer

	// net/http's writer has every interface, CloseNotifier included.
	got := make(chan seen, 1)
	srv := httptest.NewServer(accesslog.Handler(probe(got), accesslog.Options{Writer: &out}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if s := <-got; !s.flusher || !s.hijacker || !s.readerFrom || !s.closeNotifier || s.deadline != nil || string(body) != "body" {
		t.Errorf("net/http: %+v, body %q", s, body)
	}

	// kestrel's.
	got = make(chan seen, 1)
	addr := startKestrel(t, accesslog.Handler(probe(got), accesslog.Options{Writer: &out}), kestrel.Limits{})
	send(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if s := <-got; !s.flusher || !s.hijacker || !s.readerFrom || s.deadline != nil {
		t.Errorf("kestrel: %+v", s)
	}

	// A recorder has no CloseNotifier: the middleware does not invent one.
	got = make(chan seen, 1)
	accesslog.Handler(probe(got), accesslog.Options{Writer: io.Discard}).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if s := <-got; s.closeNotifier || !s.hijacker || s.deadline == nil {
		t.Errorf("recorder: %+v", s)
	}
	for _, l := range out.lines() {
		if !lineRE.MatchString(l) || !strings.Contains(l, `" 200 4 "`) {
			t.Errorf("line %q", l)
		}
	}
}

// TestFlushError: http.ResponseController's Flush through the middleware
// returns the server's error, as without it: a handler streaming to a
// client it can no longer reach (here, past its write deadline) learns of
// it from Flush.
func TestFlushError(t *testing.T) {
	flushErr := make(chan error, 1)
	addr := startKestrel(t, accesslog.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Now().Add(-time.Second))
		io.WriteString(w, "event")
		flushErr <- rc.Flush()
	}), accesslog.Options{Writer: io.Discard}), kestrel.Limits{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if err := <-flushErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Flush past the write deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

// TestHijack logs a connection taken over with Hijack as 101.
func TestHijack(t *testing.T) {
	var out lockedBuffer
	addr := startKestrel(t, accesslog.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		c.Close()
	}), accesslog.Options{Writer: &out}), kestrel.Limits{})
	send(t, addr, "GET /raw HTTP/1.1\r\nHost: a\r\n\r\n")
	deadline := time.Now().Add(5 * time.Second)
	for len(out.lines()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := out.lines(); len(l) != 1 || !strings.Contains(l[0], `"GET /raw HTTP/1.1" 101 -`) {
		t.Errorf("lines %q", l)
	}
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	var out lockedBuffer
	h := accesslog.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), accesslog.Options{Writer: &out})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(context.Background()))
			}
		}()
	}
	wg.Wait()
	lines := out.lines()
	if len(lines) != 400 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if !lineRE.MatchString(l) {
			t.Fatalf("broken line %q", l)
		}
	}
}

// TestTextAndJSONSameFields: a request logged as a line and as a JSON
// record gives the same values for every field of the line.
func TestTextAndJSONSameFields(t *testing.T) {
	var text lockedBuffer
	var records lockedBuffer
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	h := accesslog.Handler(accesslog.Handler(app, accesslog.Options{Writer: &text}),
		accesslog.Options{Logger: slog.New(slog.NewJSONHandler(&records, nil))})
	addr := startKestrel(t, h, kestrel.Limits{})
	send(t, addr, "GET /page?q=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n"+
		"Referer: https://example.com/from\r\nUser-Agent: agent/1.0\r\n\r\n")
	for deadline := time.Now().Add(5 * time.Second); (len(text.lines()) == 0 || len(records.lines()) == 0) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if len(text.lines()) != 1 || len(records.lines()) != 1 {
		t.Fatalf("text %q, records %q: want one each", text.lines(), records.lines())
	}
	m := lineRE.FindStringSubmatch(text.lines()[0])
	if m == nil {
		t.Fatalf("line %q is not in the combined format with a duration and a request id", text.lines()[0])
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(records.lines()[0]), &rec); err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(fmt.Sprint(rec["RemoteAddr"]))
	start, err := time.Parse(time.RFC3339Nano, fmt.Sprint(rec["StartTime"]))
	if err != nil {
		t.Fatalf("StartTime: %v", err)
	}
	for _, f := range []struct{ name, line, record string }{
		{"address", m[1], host},
		{"user", m[2], fmt.Sprint(rec["RemoteUser"])},
		{"time", m[3], start.Format("02/Jan/2006:15:04:05 -0700")},
		{"request", m[4], fmt.Sprintf("%v %v %v", rec["Method"], rec["Target"], rec["Protocol"])},
		{"status", m[5], fmt.Sprint(rec["StatusCode"])},
		{"bytes", m[6], fmt.Sprint(rec["ResponseBytes"])},
		{"referer", m[7], fmt.Sprint(rec["Referer"])},
		{"user agent", m[8], fmt.Sprint(rec["UserAgent"])},
		{"request id", m[10], fmt.Sprint(rec["RequestId"])},
	} {
		if f.line != f.record {
			t.Errorf("%s: %q in the line, %q in the record", f.name, f.line, f.record)
		}
	}
	if m[2] != "alice" || m[7] != "https://example.com/from" || m[10] == "-" {
		t.Errorf("line %q: want the Basic user alice, the Referer and the request id", m[0])
	}
	if _, ok := rec["DurationMs"].(float64); !ok {
		t.Errorf("record %v: DurationMs is not a number", rec)
	}
}

// TestInformational logs the final status after 1xx responses on each
// server: a 103 is not the response, and the status the client gets after
// it is the one written next, or 200 when the body or the handler's return
// comes first.
func TestInformational(t *testing.T) {
	var out lockedBuffer
	mux := http.NewServeMux()
	mux.HandleFunc("/then-body", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "body")
	})
	mux.HandleFunc("/then-return", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusEarlyHints) })
	mux.HandleFunc("/then-201", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
	})
	h := accesslog.Handler(mux, accesslog.Options{Writer: &out})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, base := range []string{srv.URL, "http://" + startKestrel(t, h, kestrel.Limits{})} {
		for _, c := range []struct{ path, status, bytes string }{
			{"/then-body", "200", "4"},
			{"/then-return", "200", "-"},
			{"/then-201", "201", "-"},
		} {
			out.mu.Lock()
			out.b.Reset()
			out.mu.Unlock()
			resp, err := http.Get(base + c.path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			for deadline := time.Now().Add(5 * time.Second); len(out.lines()) == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			lines := out.lines()
			if len(lines) != 1 {
				t.Fatalf("%s%s: lines %q", base, c.path, lines)
			}
			m := lineRE.FindStringSubmatch(lines[0])
			if m == nil || m[5] != strconv.Itoa(resp.StatusCode) || m[5] != c.status || m[6] != c.bytes {
				t.Errorf("%s%s: client got %d, line %q; want %s %s", base, c.path, resp.StatusCode, lines[0], c.status, c.bytes)
			}
		}
	}
}
