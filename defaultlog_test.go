package kestrel

import (
	"context"
	"log"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startDefaultLogged starts a server without Logger or ErrorLog whose
// handler panics on /panic, sends it one request there, stops it, and
// returns what it logged.
func startDefaultLogged(t *testing.T, out func() string) string {
	t.Helper()
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
	})}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err := newClient(t).Get(s.Addresses()[0] + "/panic")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return out()
}

// captureLogOutput sends log's output (where Go's default slog handler
// writes) to a buffer until the test ends.
func captureLogOutput(t *testing.T) *lockedBuffer {
	b := new(lockedBuffer)
	w, flags := log.Writer(), log.Flags()
	log.SetOutput(b)
	t.Cleanup(func() { log.SetOutput(w); log.SetFlags(flags) })
	return b
}

// TestDefaultLoggerText: a server without a logger writes Go-style lines
// to log's output, the event's name, id and category as attributes, a
// panic's stack on lines of their own; debug events are off.
func TestDefaultLoggerText(t *testing.T) {
	b := captureLogOutput(t)
	got := startDefaultLogged(t, b.String)
	t.Logf("output:\n%s", got)
	line := regexp.MustCompile(`(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ERROR Connection id "(\w{13})", Request id "(\w{13}:00000001)": An unhandled exception was thrown by the application\. ConnectionId=(\w{13}) TraceIdentifier=(\S+) EventName=ApplicationError EventId=13 Category=Microsoft\.AspNetCore\.Server\.Kestrel$`)
	m := line.FindStringSubmatchIndex(got)
	if m == nil {
		t.Fatalf("no ApplicationError line in the Go text format")
	}
	rest := got[m[1]+1:]
	stack := regexp.MustCompile(`^\tpanic: boom \[GET /panic from 127\.0\.0\.1:\d+\]\n\tgoroutine \d+ \[running\]:\n(\t.*\n)+`)
	if !stack.MatchString(rest) {
		t.Errorf("the stack does not follow as tab-indented lines:\n%s", rest)
	}
	if !strings.Contains(rest, "\n\tpanic(") || !strings.Contains(rest, "defaultlog_test.go:") {
		t.Errorf("the stack lacks the panic and the handler's frame:\n%s", rest)
	}
	for _, bad := range []string{`\n\t`, "ConnectionStart", "Category=Microsoft.AspNetCore.Server.Kestrel EventId"} {
		if strings.Contains(got, bad) {
			t.Errorf("output holds %q", bad)
		}
	}
}

// TestDefaultLoggerLevel: slog.SetLogLoggerLevel, which sets the level of
// Go's default handler, sets the default output's level too.
func TestDefaultLoggerLevel(t *testing.T) {
	b := captureLogOutput(t)
	old := slog.SetLogLoggerLevel(slog.LevelDebug)
	defer slog.SetLogLoggerLevel(old)
	got := startDefaultLogged(t, b.String)
	if !regexp.MustCompile(`(?m)^\S+ \S+ DEBUG Connection id "\w{13}" started\. ConnectionId=\w{13} EventName=ConnectionStart EventId=1 Category=Microsoft\.AspNetCore\.Server\.Kestrel\.Connections$`).MatchString(got) {
		t.Errorf("no ConnectionStart line at Debug:\n%s", got)
	}
}

// TestDefaultLoggerSetDefault: a program that set slog.Default gets the
// server's logs there, with the events' attributes.
func TestDefaultLoggerSetDefault(t *testing.T) {
	var b lockedBuffer
	old := slog.Default()
	w, flags := log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&b, nil)))
	t.Cleanup(func() {
		slog.SetDefault(old) // leaves log writing to the JSON handler
		log.SetOutput(w)
		log.SetFlags(flags)
	})
	got := startDefaultLogged(t, b.String)
	if !strings.Contains(got, `"EventName":"ApplicationError","ConnectionId":`) || !strings.Contains(got, `"Exception":"panic: boom`) {
		t.Errorf("slog.Default's handler did not get the event:\n%s", got)
	}
}

// TestErrorLogStack: a server with an http.Server-style ErrorLog writes
// each event as an entry of that log.Logger, with its prefix, and a
// panic's stack on lines of their own.
func TestErrorLogStack(t *testing.T) {
	var b lockedBuffer
	s := &Server{ErrorLog: log.New(&b, "app: ", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := newClient(t).Get(s.Addresses()[0] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := b.String()
	if !regexp.MustCompile(`(?m)^app: ERROR Connection id "\w{13}", Request id "\S+": An unhandled exception was thrown by the application\. .*EventName=ApplicationError EventId=13 Category=Microsoft\.AspNetCore\.Server\.Kestrel\n\tpanic: boom \[GET / from 127\.0\.0\.1:\d+\]\n\tgoroutine \d+ \[running\]:\n`).MatchString(got) {
		t.Errorf("ErrorLog got:\n%s", got)
	}
}
