package kestrel

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/kestrel-go/kestrel/logging"
)

// What code written for net/http's Server expects to find: the hooks of
// http.Server, with the same meaning. See the README's "Coming from
// net/http" table for every field and method.

// RegisterOnShutdown registers a function to call when Shutdown starts,
// each on a goroutine of its own, as http.Server's does: WebSocket and
// long-poll handlers use it to finish when the server stops. With a
// DrainDelay, the functions run when the delay ends and the server stops
// accepting, not when Shutdown is called: during the delay the balancer
// may still send a client that reconnects to this server. See
// RegisterOnDraining for what must happen when Shutdown is called.
func (s *Server) RegisterOnShutdown(f func()) {
	s.mu.Lock()
	s.onShutdown = append(s.onShutdown, f)
	s.mu.Unlock()
}

// RegisterOnDraining registers a function to call when the server starts
// draining, each on a goroutine of its own: once, when Shutdown is first
// called (State turns to StateDraining), before its DrainDelay, while the
// server goes on serving. Health checks of your own use it to report
// what ReadinessHandler does: a gRPC health server registered on a
// grpcserver.Server, which Kubernetes' grpc probes and balancers such as
// Envoy ask, should turn to NOT_SERVING then:
//
//	hs := health.NewServer()
//	healthpb.RegisterHealthServer(gs, hs)
//	srv.RegisterOnDraining(hs.Shutdown)
//
// Close, which does not drain, does not call them.
func (s *Server) RegisterOnDraining(f func()) {
	s.mu.Lock()
	s.onDraining = append(s.onDraining, f)
	s.mu.Unlock()
}

// SetKeepAlivesEnabled controls whether connections are kept open between
// requests; they are by default. With false, every response closes its
// connection and idle connections close at once, as with http.Server.
func (s *Server) SetKeepAlivesEnabled(v bool) {
	s.keepAlivesOff.Store(!v)
	if !v {
		s.mu.Lock()
		init := s.hb != nil
		s.mu.Unlock()
		if init {
			s.closeIdle(nil)
		}
	}
}

// listenerContext is the base context of the connections accepted from l.
func (s *Server) listenerContext(l net.Listener) context.Context {
	if s.BaseContext == nil {
		return context.Background()
	}
	ctx := s.BaseContext(l)
	if ctx == nil {
		panic("kestrel: BaseContext returned a nil context")
	}
	return ctx
}

// errorLogger adapts an http.Server-style ErrorLog: each record is one
// entry of the log.Logger, which adds its own prefix and time, written as
// logging.TextHandler writes (a panic's stack on lines of its own).
func errorLogger(l *log.Logger) *slog.Logger {
	return slog.New(logging.NewTextHandler(errorLogWriter{l}, nil))
}

type errorLogWriter struct{ l *log.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.l.Output(4, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// generalOptionsHandler answers "OPTIONS *", a question about the server
// rather than a resource, as http.Server does unless its
// DisableGeneralOptionsHandler is set: 200 OK with Content-Length: 0. Up
// to 4 KiB of a request body (reserved for future use, RFC 9110 9.3.7)
// are read; a longer one is not worth reading, so the connection closes
// after the answer, as net/http's MaxBytesReader makes it.
type generalOptionsHandler struct{}

// optionsBodyLimit is how much of an OPTIONS * body is read.
const optionsBodyLimit = 4 << 10

func (generalOptionsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		n, _ := io.CopyN(io.Discard, r.Body, optionsBodyLimit+1)
		if n > optionsBodyLimit {
			w.Header().Set("Connection", "close")
		}
	}
}
