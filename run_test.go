package kestrel

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRunShutdownTimeout: when ShutdownTimeout aborts a request, Run logs
// what it aborted and still returns nil, as ASP.NET's host does, so that a
// service stopped on purpose does not exit with a failure.
func TestRunShutdownTimeout(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	var log lockedBuffer
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
		}),
		Logger:          slog.New(slog.NewTextHandler(&log, nil)),
		ShutdownTimeout: 100 * time.Millisecond,
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var addrs []string
	for deadline := time.Now().Add(5 * time.Second); len(addrs) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		addrs = s.Addresses()
	}
	if len(addrs) == 0 {
		t.Fatal("the server did not start")
	}
	go http.Get(addrs[0] + "/slow")
	<-started
	begin := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after the shutdown timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its ShutdownTimeout")
	}
	if d := time.Since(begin); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("Run returned %v after the context ended, want about ShutdownTimeout (100ms)", d)
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "Some connections failed to close gracefully during server shutdown (1 aborted)") {
		t.Errorf("the log does not say what was aborted:\n%s", log.String())
	}
}

// TestRunReturnsWhenStoppedElsewhere: Run (and Service.Run) return nil
// once Shutdown, called by another part of the program, has finished, or
// once Close was called, as http.Server.ListenAndServe returns on them,
// rather than serve nothing until their context ends.
func TestRunReturnsWhenStoppedElsewhere(t *testing.T) {
	t.Parallel()
	for _, run := range []struct {
		name string
		run  func(*Server) error
	}{
		{"Server.Run", func(s *Server) error { return s.Run(context.Background()) }},
		{"Service.Run", func(s *Server) error {
			return (&Service{Server: s, Environ: []string{}}).Run(context.Background())
		}},
	} {
		for _, stop := range []struct {
			name string
			stop func(*Server) error
		}{
			{"Shutdown", func(s *Server) error { return s.Shutdown(context.Background()) }},
			{"Close", (*Server).Close},
		} {
			t.Run(run.name+" "+stop.name, func(t *testing.T) {
				t.Parallel()
				s := &Server{Logger: quietLogger}
				if err := s.Listen("127.0.0.1:0"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				done := make(chan error, 1)
				go func() { done <- run.run(s) }()
				pollUntil(t, "the server to be ready", func() bool { return s.State() == StateReady })
				if err := stop.stop(s); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("%s returned %v, want nil", run.name, err)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("%s still runs after %s", run.name, stop.name)
				}
			})
		}
	}
}
