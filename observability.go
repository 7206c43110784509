package kestrel

import (
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/heartbeat"
	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// rejectedSummaryInterval is how often, at most, the connections refused
// by MaxConcurrentConnections are summarized at Warning level; each one
// is logged at Debug.
const rejectedSummaryInterval = 10 * time.Second

// measureRequests wraps the engine's request handler to record
// http.server.active_requests and http.server.request.duration.
func (s *Server) measureRequests(next func(*app.Exchange)) func(*app.Exchange) {
	m := s.metrics
	return func(ex *app.Exchange) {
		r := m.RequestStart(ex.Method(), ex.Secure())
		returned := false
		defer func() {
			status, errorType := ex.ResponseStatus(), ""
			if !returned { // panicked: the engine answers 500 unless the response started
				errorType = metrics.ErrorPanic
				if !ex.Committed() {
					status = http.StatusInternalServerError
				}
			}
			proto := metrics.HTTP11
			switch {
			case ex.Req.ProtoMajor == 2:
				proto = metrics.HTTP2
			case ex.Req.ProtoMajor == 3:
				proto = metrics.HTTP3
			case ex.Req.ProtoMinor == 0:
				proto = metrics.HTTP10
			}
			m.RequestEnd(r, proto, status, ex.Pattern(), errorType)
		}()
		next(ex)
		returned = true
	}
}

// observeTick is the heartbeat's share of the logs: a slow heartbeat, and
// the summary of rejected connections.
func (s *Server) observeTick(now time.Time, log *slog.Logger, counter *transport.Counter) {
	if took := time.Since(now); took > heartbeat.Interval {
		logevents.HeartbeatSlow(log, took, heartbeat.Interval, now)
	}
	if n, over, ok := s.rejected.Due(now, rejectedSummaryInterval); ok {
		logevents.ConnectionsRejected(log, n, counter.Max(), over)
	}
}

// newMetrics creates the instruments on s.MeterProvider, with the known
// HTTP methods from OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS, as the
// semantic conventions ask.
func (s *Server) newMetrics() (*metrics.Metrics, error) {
	return metrics.New(s.MeterProvider, metrics.Options{
		KnownMethods: metrics.ParseKnownMethods(os.Getenv("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS")),
		Status:       s.statusWanted,
	})
}
