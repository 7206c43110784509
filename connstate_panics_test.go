package kestrel

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// TestConnStatePanics: a ConnState hook that panics, in any state and
// over any protocol, ends that connection at most, with the panic in the
// ConnStateFailed event; the server goes on serving (net/http's
// connection goroutine recovers the panics of StateActive and StateIdle).
func TestConnStatePanics(t *testing.T) {
	t.Parallel()
	for _, state := range []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed} {
		for _, proto := range []string{"h1", "h2", "h3"} {
			t.Run(state.String()+"/"+proto, func(t *testing.T) {
				t.Parallel()
				cert, err := testCert()
				if err != nil {
					t.Fatal(err)
				}
				rec, log := newLogRecorder(slog.LevelError)
				var panicked atomic.Bool
				s := &Server{Handler: okHandler(), Logger: log, ConnState: func(_ net.Conn, st http.ConnState) {
					if st == state && panicked.CompareAndSwap(false, true) {
						panic("hook bug")
					}
				}}
				if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: &HTTPS{Certificate: cert}}); err != nil {
					t.Fatal(err)
				}
				if err := s.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				get := func() error {
					cfg := testClientTLS(t)
					var rt http.RoundTripper
					switch proto {
					case "h3":
						tr := &http3.Transport{TLSClientConfig: cfg}
						defer tr.Close()
						rt = tr
					default:
						tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: proto == "h2"}
						if proto == "h1" {
							tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
						}
						defer tr.CloseIdleConnections()
						rt = tr
					}
					resp, err := (&http.Client{Transport: rt, Timeout: 5 * time.Second}).Get(s.Addresses()[0] + "/")
					if err == nil {
						resp.Body.Close()
					}
					return err
				}
				get() // may fail: its connection is closed where the hook panicked
				waitFor(t, "the panic", panicked.Load)
				if err := get(); err != nil {
					t.Fatalf("after the hook's panic: %v", err)
				}
				waitFor(t, "the ConnStateFailed event", func() bool { return len(rec.events("ConnStateFailed")) > 0 })
				if e := rec.events("ConnStateFailed"); !strings.Contains(e[0].msg, "hook bug") {
					t.Errorf("ConnStateFailed %q, want the panic", e[0].msg)
				}
			})
		}
	}
}
