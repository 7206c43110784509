package logging

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	for _, c := range []struct {
		name string
		opts *Options
		log  func(l *slog.Logger)
		want string
	}{
		{"event: values, then name, id and category", nil, func(l *slog.Logger) {
			l.Info("Now listening on: http://localhost:5000", Category("Microsoft.Hosting.Lifetime"), EventID(14),
				slog.String(EventNameKey, "ServerListeningOnAddresses"), slog.String("address", "http://localhost:5000"))
		}, "INFO Now listening on: http://localhost:5000 address=http://localhost:5000 EventName=ServerListeningOnAddresses EventId=14 Category=Microsoft.Hosting.Lifetime\n"},
		{"plain record: no category, no id", nil, func(l *slog.Logger) {
			l.Warn("disk almost full", "free", "1 GiB", "path", "/var", "err", errors.New("boom"), "n", 3)
		}, "WARN disk almost full free=\"1 GiB\" path=/var err=boom n=3\n"},
		{"category from the options", &Options{Category: "MyApp"}, func(l *slog.Logger) { l.Error("x") }, "ERROR x Category=MyApp\n"},
		{"id without a name", nil, func(l *slog.Logger) { l.Info("x", EventID(7)) }, "INFO x EventId=7\n"},
		{"levels as slog names them", &Options{Level: LevelTrace}, func(l *slog.Logger) {
			l.Log(context.Background(), LevelTrace, "t")
			l.Debug("d")
			l.Log(context.Background(), LevelCritical, "c")
		}, "DEBUG-4 t\nDEBUG d\nERROR+4 c\n"},
		{"below the level", &Options{Level: slog.LevelWarn}, func(l *slog.Logger) { l.Info("hidden") }, ""},
		{"a stack is printed as lines", nil, func(l *slog.Logger) {
			l.Error("Connection id \"0HN1\": An unhandled exception was thrown by the application.", Category("Microsoft.AspNetCore.Server.Kestrel"), EventID(13),
				slog.String(EventNameKey, "ApplicationError"), slog.String("ConnectionId", "0HN1"),
				slog.String(ExceptionKey, "panic: boom [GET / from 127.0.0.1:4]\ngoroutine 7 [running]:\nmain.f()\n\t/src/main.go:12 +0x1d\n"))
		}, "ERROR Connection id \"0HN1\": An unhandled exception was thrown by the application. ConnectionId=0HN1 EventName=ApplicationError EventId=13 Category=Microsoft.AspNetCore.Server.Kestrel\n" +
			"\tpanic: boom [GET / from 127.0.0.1:4]\n\tgoroutine 7 [running]:\n\tmain.f()\n\t\t/src/main.go:12 +0x1d\n"},
		{"multi-line message", nil, func(l *slog.Logger) { l.Info("one\ntwo", "k", "v") }, "INFO one\n\ttwo k=v\n"},
		{"with attrs set category and id", nil, func(l *slog.Logger) {
			l.With(Category("Orders"), EventID(7), "tenant", "a").Info("placed", "id", 42)
		}, "INFO placed tenant=a id=42 EventId=7 Category=Orders\n"},
		{"groups", nil, func(l *slog.Logger) {
			l.WithGroup("req").Info("done", "status", 200, slog.Group("client", "ip", "::1"))
		}, "INFO done req.status=200 req.client.ip=::1\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			c.log(slog.New(NewTextHandler(&b, c.opts)))
			if got := b.String(); got != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestTextTimestamp(t *testing.T) {
	var b bytes.Buffer
	h := NewTextHandler(&b, &Options{TimestampFormat: "2006/01/02 15:04:05", UTC: true})
	r := slog.NewRecord(time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC), slog.LevelInfo, "hello", 0)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "2026/12/06 09:30:00 INFO hello\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
