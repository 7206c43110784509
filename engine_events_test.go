package kestrel

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
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
