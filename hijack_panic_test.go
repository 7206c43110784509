package kestrel

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPanicAfterHijack: a handler that panics after taking its connection
// (Hijack, or Upgrade over HTTP/1.1) has the panic logged as
// ApplicationError, as net/http logs it ("http: panic serving") and
// Kestrel an upgraded request's exception; the connection stays the
// handler's, as net/http leaves it. A panic with http.ErrAbortHandler is
// not logged, as before the connection was taken.
func TestPanicAfterHijack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value any
		take  func(http.ResponseWriter, *http.Request) (net.Conn, error)
		event bool
	}{
		{"Hijack", "handler bug", func(w http.ResponseWriter, _ *http.Request) (net.Conn, error) {
			c, _, err := http.NewResponseController(w).Hijack()
			return c, err
		}, true},
		{"Upgrade", "handler bug", Upgrade, true},
		{"Hijack ErrAbortHandler", http.ErrAbortHandler, func(w http.ResponseWriter, _ *http.Request) (net.Conn, error) {
			c, _, err := http.NewResponseController(w).Hijack()
			return c, err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, log := newLogRecorder(slog.LevelDebug)
			s := &Server{Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := tc.take(w, r)
				if err != nil {
					t.Error(err)
					return
				}
				io.WriteString(c, "taken\n")
				defer c.Close()
				panic(tc.value)
			})}
			if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			c, err := net.Dial("tcp", strings.TrimPrefix(s.Addresses()[0], "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
			b, err := io.ReadAll(bufio.NewReader(c)) // the handler's close ends it
			if err != nil || !strings.HasSuffix(string(b), "taken\n") {
				t.Fatalf("read %q, %v; want the handler's bytes, then its close", b, err)
			}
			if !tc.event {
				time.Sleep(20 * time.Millisecond)
				if e := rec.events("ApplicationError"); len(e) != 0 {
					t.Errorf("ApplicationError events %+v for http.ErrAbortHandler", e)
				}
				return
			}
			waitFor(t, "the ApplicationError event", func() bool { return len(rec.events("ApplicationError")) > 0 })
			if e := rec.events("ApplicationError")[0]; !strings.Contains(e.msg+e.attrs["Exception"], "handler bug") {
				t.Errorf("ApplicationError %q %q, want the panic", e.msg, e.attrs["Exception"])
			}
		})
	}
}
