package logevents

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/logging"
)

// recorder keeps the records logged through it.
type recorder struct {
	mu      sync.Mutex
	level   slog.Level
	records []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func attrsOf(rec slog.Record) map[string]string {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

func TestEvents(t *testing.T) {
	boom := errors.New("boom")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		event *Event
		log   func(*slog.Logger)
		msg   string
		attrs map[string]string
	}{
		{&ConnectionStartEvent, func(l *slog.Logger) { ConnectionStart(l, "0HN1") }, `Connection id "0HN1" started.`, map[string]string{"ConnectionId": "0HN1"}},
		{&ConnectionStopEvent, func(l *slog.Logger) { ConnectionStop(l, "0HN1") }, `Connection id "0HN1" stopped.`, map[string]string{"ConnectionId": "0HN1"}},
		{&ConnectionKeepAliveEvent, func(l *slog.Logger) { ConnectionKeepAlive(l, "0HN1") }, `Connection id "0HN1" completed keep alive response.`, nil},
		{&ConnectionDisconnectEvent, func(l *slog.Logger) { ConnectionDisconnect(l, "0HN1") }, `Connection id "0HN1" disconnecting.`, nil},
		{&NotAllConnectionsClosedGracefullyEvent, func(l *slog.Logger) { NotAllConnectionsClosedGracefully(l, 3) },
			"Some connections failed to close gracefully during server shutdown (3 aborted).", map[string]string{"count": "3"}},
		{&NotAllConnectionsAbortedEvent, NotAllConnectionsAborted, "Some connections failed to abort during server shutdown.", nil},
		{&ConnectionRejectedEvent, func(l *slog.Logger) { ConnectionRejected(l, "0HN2") },
			`Connection id "0HN2" rejected because the maximum number of concurrent connections has been reached.`, map[string]string{"ConnectionId": "0HN2"}},
		{&ConnectionsRejectedEvent, func(l *slog.Logger) { ConnectionsRejected(l, 120, 100, 10*time.Second) },
			"120 connection(s) rejected in the last 10s because the maximum number of concurrent connections (100) has been reached.",
			map[string]string{"count": "120", "limit": "100", "interval": "10s"}},
		{&ProxyProtocolRefusedEvent, func(l *slog.Logger) { ProxyProtocolRefused(l, "0HN1", "10.0.0.1:4000", "no PROXY header") },
			`Connection id "0HN1" refused: no PROXY header.`, map[string]string{"ConnectionId": "0HN1", "RemoteAddress": "10.0.0.1:4000"}},
		{&ApplicationAbortedConnectionEvent, func(l *slog.Logger) { ApplicationAbortedConnection(l, "0HN1", "0HN1:00000002") },
			`Connection id "0HN1", Request id "0HN1:00000002": the application aborted the connection.`, map[string]string{"TraceIdentifier": "0HN1:00000002"}},
		{&Http2ConnectionErrorEvent, func(l *slog.Logger) { ConnectionError(l, 2, "0HN1", "PROTOCOL_ERROR", "HEADERS on even stream 2") },
			`Connection id "0HN1": HTTP/2 connection error (PROTOCOL_ERROR): HEADERS on even stream 2`,
			map[string]string{"ConnectionId": "0HN1", "error": "PROTOCOL_ERROR"}},
		{&Http3ConnectionErrorEvent, func(l *slog.Logger) { ConnectionError(l, 3, "0HN1", "H3_FRAME_UNEXPECTED", "DATA before HEADERS") },
			`Connection id "0HN1": HTTP/3 connection error (H3_FRAME_UNEXPECTED): DATA before HEADERS`,
			map[string]string{"ConnectionId": "0HN1", "error": "H3_FRAME_UNEXPECTED"}},
		{&Http2StreamResetAbortEvent, func(l *slog.Logger) { StreamResetAbort(l, 2, "0HN1:00000003", "INTERNAL_ERROR", "aborted") },
			`Trace id "0HN1:00000003": HTTP/2 stream error "INTERNAL_ERROR". A Reset is being sent to the stream.`,
			map[string]string{"TraceIdentifier": "0HN1:00000003", "error": "INTERNAL_ERROR", logging.ExceptionKey: "aborted"}},
		{&Http3StreamAbortEvent, func(l *slog.Logger) { StreamResetAbort(l, 3, "0HN1:00000004", "H3_INTERNAL_ERROR", "aborted") },
			`Trace id "0HN1:00000004": HTTP/3 stream error "H3_INTERNAL_ERROR". An abort is being sent to the stream.`,
			map[string]string{"TraceIdentifier": "0HN1:00000004", "error": "H3_INTERNAL_ERROR"}},
		{&ApplicationErrorEvent, func(l *slog.Logger) { ApplicationError(l, "0HN1", "0HN1:00000001", "boom\nstack") },
			`Connection id "0HN1", Request id "0HN1:00000001": An unhandled exception was thrown by the application.`,
			map[string]string{"ConnectionId": "0HN1", "TraceIdentifier": "0HN1:00000001", logging.ExceptionKey: "boom\nstack"}},
		{&ConnectionHeadResponseBodyWriteEvent, func(l *slog.Logger) { ConnectionHeadResponseBodyWrite(l, "0HN1", 12) },
			`Connection id "0HN1" write of "12" body bytes to non-body HEAD response.`, map[string]string{"count": "12"}},
		{&HeartbeatSlowEvent, func(l *slog.Logger) { HeartbeatSlow(l, 1500*time.Millisecond, time.Second, at) },
			`As of "2026-01-02T03:04:05Z", the heartbeat has been running for "1.5s" which is longer than "1s".`,
			map[string]string{"heartbeatDuration": "1.5s", "interval": "1s"}},
		{&RequestBodyNotEntirelyReadEvent, func(l *slog.Logger) { RequestBodyNotEntirelyRead(l, "0HN1", "0HN1:00000001") },
			`Connection id "0HN1", Request id "0HN1:00000001": the application completed without reading the entire request body.`, nil},
		{&RequestBodyDrainTimedOutEvent, func(l *slog.Logger) { RequestBodyDrainTimedOut(l, "0HN1", "0HN1:00000001", time.Second) },
			`Connection id "0HN1", Request id "0HN1:00000001": automatic draining of the request body timed out after taking over 1s.`, nil},
		{&RequestAbortedEvent, func(l *slog.Logger) { RequestAborted(l, "0HN1", "0HN1:00000001") },
			`Connection id "0HN1", Request id "0HN1:00000001": The request was aborted by the client.`, nil},
		{&ConnectionBadRequestEvent, func(l *slog.Logger) { ConnectionBadRequest(l, "0HN1", "Invalid request line", 400) },
			`Connection id "0HN1" bad request data: "Invalid request line"`, map[string]string{"message": "Invalid request line", "status": "400"}},
		{&RequestProcessingErrorEvent, func(l *slog.Logger) { RequestProcessingError(l, "0HN1", boom) },
			`Connection id "0HN1" request processing ended abnormally.`, map[string]string{logging.ExceptionKey: "boom"}},
		{&RequestBodyMinimumDataRateNotSatisfiedEvent, func(l *slog.Logger) { RequestBodyMinimumDataRateNotSatisfied(l, "0HN1", "0HN1:00000001", 240) },
			`Connection id "0HN1", Request id "0HN1:00000001": the request timed out because it was not sent by the client at a minimum of 240 bytes/second.`,
			map[string]string{"Rate": "240"}},
		{&ResponseMinimumDataRateNotSatisfiedEvent, func(l *slog.Logger) { ResponseMinimumDataRateNotSatisfied(l, "0HN1", "0HN1:00000001") },
			`Connection id "0HN1", Request id "0HN1:00000001": the connection was closed because the response was not read by the client at the specified minimum data rate.`, nil},
		{&PossibleInvalidHTTPVersionDetectedEvent, func(l *slog.Logger) { PossibleInvalidHTTPVersionDetected(l, "0HN1", "HTTP/1.1", "HTTP/2") },
			`Connection id "0HN1": Invalid content received on connection. Possible incorrect HTTP version detected. Expected HTTP/1.1 but received HTTP/2.`, nil},
		{&AuthenticationFailedEvent, func(l *slog.Logger) { AuthenticationFailed(l, "0HN1", boom) },
			`Connection id "0HN1": Failed to authenticate HTTPS connection.`, map[string]string{logging.ExceptionKey: "boom"}},
		{&AuthenticationTimedOutEvent, func(l *slog.Logger) { AuthenticationTimedOut(l, "0HN1") }, `Connection id "0HN1": Authentication of the HTTPS connection timed out.`, nil},
		{&HTTPSConnectionEstablishedEvent, func(l *slog.Logger) { HTTPSConnectionEstablished(l, "0HN1", "Tls13") },
			"Connection 0HN1 established using the following protocol: Tls13", map[string]string{"Protocol": "Tls13"}},
		{&ListeningOnEvent, func(l *slog.Logger) { ListeningOn(l, "http://localhost:5000") }, "Now listening on: http://localhost:5000", map[string]string{"address": "http://localhost:5000"}},
		{&PortsOverridenByUrlsEvent, func(l *slog.Logger) { PortsOverridenByUrls(l, "8080", "", "http://+:80") },
			"Overriding HTTP_PORTS '8080' and HTTPS_PORTS ''. Binding to values defined by URLS instead 'http://+:80'.",
			map[string]string{"http": "8080", "https": "", "urls": "http://+:80"}},
		{&ApplicationStartedEvent, ApplicationStarted, "Application started. Press Ctrl+C to shut down.", nil},
		{&ApplicationStoppingEvent, ApplicationStopping, "Application is shutting down...", nil},
	} {
		t.Run(c.event.Name, func(t *testing.T) {
			rec := &recorder{level: logging.LevelTrace}
			c.log(slog.New(rec))
			if len(rec.records) != 1 {
				t.Fatalf("%d records", len(rec.records))
			}
			r := rec.records[0]
			if r.Level != c.event.Level {
				t.Errorf("level %v, want %v", r.Level, c.event.Level)
			}
			if !strings.HasPrefix(r.Message, c.msg) {
				t.Errorf("message %q, want %q", r.Message, c.msg)
			}
			got := attrsOf(r)
			want := map[string]string{
				logging.CategoryKey:  c.event.Category,
				logging.EventIDKey:   itoa(c.event.ID),
				logging.EventNameKey: c.event.Name,
			}
			for k, v := range c.attrs {
				want[k] = v
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			// Disabled: nothing is written.
			quiet := &recorder{level: logging.LevelCritical + 1}
			c.log(slog.New(quiet))
			if len(quiet.records) != 0 {
				t.Errorf("an event below the level was written")
			}
		})
	}
}

func itoa(n int) string { return slog.IntValue(n).String() }

func TestLevelsFollowKestrel(t *testing.T) {
	// The events a client can trigger at will are at Debug, so that it
	// cannot flood the log; the rejection summary is what warns.
	for _, e := range []*Event{&ConnectionRejectedEvent, &AuthenticationFailedEvent, &AuthenticationTimedOutEvent,
		&ConnectionBadRequestEvent, &RequestBodyMinimumDataRateNotSatisfiedEvent, &ResponseMinimumDataRateNotSatisfiedEvent,
		&ConnectionStartEvent, &ConnectionStopEvent} {
		if e.Level != slog.LevelDebug {
			t.Errorf("%s is at %v, want Debug", e.Name, e.Level)
		}
	}
	if ConnectionsRejectedEvent.Level != slog.LevelWarn || HeartbeatSlowEvent.Level != slog.LevelWarn || ApplicationErrorEvent.Level != slog.LevelError {
		t.Error("summary, heartbeat or application error level changed")
	}
}

func TestConnectionIDs(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-V]{13}$`)
	seen := map[string]bool{}
	var prev string
	for range 1000 {
		id := NewConnectionID()
		if !re.MatchString(id) {
			t.Fatalf("id %q is not 13 base-32 characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		if id <= prev {
			t.Fatalf("id %q not after %q", id, prev)
		}
		seen[id], prev = true, id
	}
	// Seeded by the time, as Kestrel's: ids made now start with "0H".
	if !strings.HasPrefix(prev, "0H") {
		t.Errorf("id %q does not start as Kestrel's do in this era", prev)
	}
	if got := string(appendID(nil, 0x0123456789ABCDEF)); got != "028Q5CU4QNJFF" {
		t.Errorf("encoding: %q", got)
	}
}

func TestRequestID(t *testing.T) {
	for _, c := range []struct {
		seq  uint32
		want string
	}{
		{1, "0HN1DEKO6S5QK:00000001"},
		{0xabc, "0HN1DEKO6S5QK:00000ABC"},
		{0xffffffff, "0HN1DEKO6S5QK:FFFFFFFF"},
	} {
		if got := RequestID("0HN1DEKO6S5QK", c.seq); got != c.want {
			t.Errorf("RequestID(%d) = %q, want %q", c.seq, got, c.want)
		}
	}
	b := make([]byte, 0, 32)
	if n := testing.AllocsPerRun(100, func() { b = AppendRequestID(b[:0], "0HN1DEKO6S5QK", 7) }); n != 0 {
		t.Errorf("AppendRequestID allocates %v times", n)
	}
}

func TestTally(t *testing.T) {
	var ty Tally
	start := time.Unix(1000, 0)
	if _, _, ok := ty.Due(start, 10*time.Second); ok {
		t.Fatal("due with nothing counted")
	}
	ty.Add()
	ty.Add()
	n, over, ok := ty.Due(start.Add(time.Second), 10*time.Second)
	if !ok || n != 2 || over != 11*time.Second {
		t.Fatalf("first summary: %d over %v, %v", n, over, ok)
	}
	ty.Add()
	if _, _, ok := ty.Due(start.Add(5*time.Second), 10*time.Second); ok {
		t.Fatal("a second summary within the interval")
	}
	n, over, ok = ty.Due(start.Add(11*time.Second), 10*time.Second)
	if !ok || n != 1 || over != 10*time.Second {
		t.Fatalf("second summary: %d over %v, %v", n, over, ok)
	}
}
