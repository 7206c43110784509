package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConsole(t *testing.T) {
	for _, c := range []struct {
		name string
		opts *Options
		log  func(l *slog.Logger)
		want string
	}{
		{"event", nil, func(l *slog.Logger) {
			l.Info("Now listening on: http://localhost:5000", Category("Microsoft.Hosting.Lifetime"), EventID(14),
				slog.String(EventNameKey, "ListeningOnAddress"), slog.String("address", "http://localhost:5000"))
		}, "info: Microsoft.Hosting.Lifetime[14]\n      Now listening on: http://localhost:5000\n"},
		{"plain record gets its attributes", &Options{Category: "MyApp"}, func(l *slog.Logger) {
			l.Warn("disk almost full", "free", "1 GiB", "path", "/var", "err", errors.New("boom"), "n", 3)
		}, "warn: MyApp[0]\n      disk almost full free=\"1 GiB\" path=/var err=boom n=3\n"},
		{"default category", nil, func(l *slog.Logger) { l.Error("x") }, "fail: Application[0]\n      x\n"},
		{"levels", &Options{Level: LevelTrace}, func(l *slog.Logger) {
			l.Log(context.Background(), LevelTrace, "t")
			l.Debug("d")
			l.Log(context.Background(), LevelCritical, "c")
		}, "trce: Application[0]\n      t\ndbug: Application[0]\n      d\ncrit: Application[0]\n      c\n"},
		{"below the level", &Options{Level: slog.LevelWarn}, func(l *slog.Logger) { l.Info("hidden") }, ""},
		{"multi-line message and exception", nil, func(l *slog.Logger) {
			l.Error("line one\nline two", Category("C"), EventID(13), slog.String(EventNameKey, "ApplicationError"),
				slog.String("ConnectionId", "0HN1"), slog.String(ExceptionKey, "panic: boom\n\ngoroutine 1:\nmain.f()\n"))
		}, "fail: C[13]\n      line one\n      line two\n      panic: boom\n\n      goroutine 1:\n      main.f()\n"},
		{"with attrs set category and id", nil, func(l *slog.Logger) {
			l.With(Category("Orders"), EventID(7), "tenant", "a").Info("placed", "id", 42)
		}, "info: Orders[7]\n      placed tenant=a id=42\n"},
		{"groups", nil, func(l *slog.Logger) {
			l.WithGroup("req").Info("done", "status", 200, slog.Group("client", "ip", "::1"), Category("not special in a group"))
		}, "info: Application[0]\n      done req.status=200 req.client.ip=::1 req.Category=\"not special in a group\"\n"},
		{"single line", &Options{SingleLine: true}, func(l *slog.Logger) {
			l.Info("a\nb", "k", "v", slog.String(ExceptionKey, "e1\ne2"))
		}, "info: Application[0] a b k=v e1 e2\n"},
		{"color", &Options{Color: true}, func(l *slog.Logger) { l.Warn("w") }, "\x1b[1m\x1b[33m\x1b[40mwarn\x1b[0m: Application[0]\n      w\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			c.log(slog.New(NewConsoleHandler(&b, c.opts)))
			if got := b.String(); got != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestConsoleTimestamp(t *testing.T) {
	var b bytes.Buffer
	h := NewConsoleHandler(&b, &Options{TimestampFormat: "2006-01-02 15:04:05 ", UTC: true})
	r := slog.NewRecord(time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600)), slog.LevelInfo, "m", 0)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if want := "2026-03-04 04:06:07  info: Application[0]\n      m\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	l := slog.New(NewJSONHandler(&b, &Options{Level: slog.LevelDebug, TimestampFormat: time.RFC3339, UTC: true}))
	l.Info("Now listening on: http://localhost:5000", Category("Microsoft.Hosting.Lifetime"), EventID(14),
		slog.String(EventNameKey, "ListeningOnAddress"), slog.String("address", "http://localhost:5000"))
	l.With("tenant", "a").Debug("quote \" and \n newline \x01 \xff", "n", 1.5, "ok", true, "d", time.Second,
		"err", errors.New("e"), "list", []int{1, 2}, slog.String(ExceptionKey, "stack\ntrace"))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), b.String())
	}
	var first, second map[string]any
	for i, v := range []*map[string]any{&first, &second} {
		if err := json.Unmarshal([]byte(lines[i]), v); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, lines[i])
		}
	}
	if !strings.HasPrefix(lines[0], `{"Timestamp":"`) || !strings.Contains(lines[0], `"EventId":14,"EventName":"ListeningOnAddress","LogLevel":"Information","Category":"Microsoft.Hosting.Lifetime","Message":"Now listening on: http://localhost:5000","State":{"address":"http://localhost:5000"}}`) {
		t.Errorf("first line: %s", lines[0])
	}
	if _, err := time.Parse(time.RFC3339, first["Timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	want := map[string]any{
		"EventId": 0.0, "LogLevel": "Debug", "Category": "Application", "Message": "quote \" and \n newline \x01 \ufffd",
		"Exception": "stack\ntrace",
		"State":     map[string]any{"tenant": "a", "n": 1.5, "ok": true, "d": "1s", "err": "e", "list": []any{1.0, 2.0}},
	}
	delete(second, "Timestamp")
	if got, _ := json.Marshal(second); string(got) != mustJSON(want) {
		t.Errorf("second line\n got %s\nwant %s", got, mustJSON(want))
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestLevelNames(t *testing.T) {
	for l, want := range map[slog.Level]string{
		LevelTrace: "Trace", slog.LevelDebug: "Debug", slog.LevelInfo: "Information", slog.LevelInfo + 2: "Information",
		slog.LevelWarn: "Warning", slog.LevelError: "Error", LevelCritical: "Critical", LevelCritical + 4: "Critical",
	} {
		if got := LevelName(l); got != want {
			t.Errorf("LevelName(%v) = %q, want %q", l, got, want)
		}
	}
}

// TestConcurrentWrites checks that entries from loggers sharing a writer
// never interleave.
func TestConcurrentWrites(t *testing.T) {
	var b bytes.Buffer
	base := slog.New(NewConsoleHandler(&b, nil))
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			l := base.With("g", g)
			for range 200 {
				l.Info("entry")
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines", len(lines))
	}
	for i := 0; i < len(lines); i += 2 {
		if lines[i] != "info: Application[0]" || !strings.HasPrefix(lines[i+1], "      entry g=") {
			t.Fatalf("interleaved entry at line %d: %q %q", i, lines[i], lines[i+1])
		}
	}
}
