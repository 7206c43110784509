package metrics

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Status keeps, for a status page, what the instruments report in a form
// a page can read without a metrics SDK: counted at the same points as
// the instruments (ConnStart and ConnEnd, Rejected, TLSEnd, RequestEnd),
// with atomic adds and no allocation. It adds what the instruments do not
// keep: the active connections by protocol and a ring of per-second
// latency histograms, from which the last minute's percentiles and the
// request rate are read. A nil *Status counts nothing.
type Status struct {
	byProto    [numProtocols]atomic.Int64 // active connections; ProtocolUnknown: not negotiated yet
	reasons    [numReasons]atomic.Int64   // connections ended with an error reason, or rejected
	tlsOK      atomic.Int64
	tlsFailed  [len(tlsFailureKinds) + 1]atomic.Int64 // by kind; the last is any other
	requests   [numProtocols]atomic.Int64             // completed requests
	reqErrors  atomic.Int64                           // completed requests with an error.type
	startedSec int64                                  // the second (since epoch) the Status was made
	ring       latencyRing
}

// tlsFailureKinds are the error.type values of failed TLS handshakes
// (tlsconn.ErrorType's).
var tlsFailureKinds = [...]string{"handshake_failed", "timeout", "remote_alert", "connection_closed", "plain_http", "refused"}

// newStatus returns a Status that starts counting now.
func newStatus() *Status {
	return &Status{startedSec: nowSec(time.Since(epoch))}
}

func nowSec(d time.Duration) int64 { return int64(d / time.Second) }

// connProtocol moves a connection from one protocol's count to another's.
func (s *Status) connProtocol(from, to Protocol) {
	if s == nil || from == to || from >= numProtocols || to >= numProtocols {
		return
	}
	s.byProto[to].Add(1)
	s.byProto[from].Add(-1)
}

func (s *Status) connStart() {
	if s != nil {
		s.byProto[ProtocolUnknown].Add(1)
	}
}

func (s *Status) connEnd(proto Protocol, reason Reason) {
	if s == nil {
		return
	}
	if proto < numProtocols {
		s.byProto[proto].Add(-1)
	}
	if reason.IsError() {
		s.reasons[reason].Add(1)
	}
}

func (s *Status) tlsEnd(errorType string) {
	if s == nil {
		return
	}
	if errorType == "" {
		s.tlsOK.Add(1)
		return
	}
	i := 0
	for i < len(tlsFailureKinds) && tlsFailureKinds[i] != errorType {
		i++
	}
	s.tlsFailed[i].Add(1)
}

// request counts a completed request that ended at end (since epoch)
// after taking d.
func (s *Status) request(proto Protocol, end, d time.Duration, failed bool) {
	if s == nil {
		return
	}
	if proto < numProtocols {
		s.requests[proto].Add(1)
	}
	if failed {
		s.reqErrors.Add(1)
	}
	s.ring.record(nowSec(end), d)
}

// Latency histograms: log-linear buckets of nanoseconds, four to a power
// of two (bounds 1, 1.25, 1.5 and 1.75 times 2^k), each at most 25% wider
// than its lower bound, so that a percentile interpolated within one is
// within 25% of the true value (a bucket's midpoint, within 12.5%).
// Bucket 0 holds durations under 1024 ns; the last, those of 2^40 ns
// (about 18 minutes) and more.
const (
	minLatencyShift = 10
	maxLatencyShift = 40
	numLatency      = 2 + (maxLatencyShift-minLatencyShift)*4
)

// latencyBucket is the bucket of a duration of ns nanoseconds.
func latencyBucket(ns int64) int {
	if ns < 1<<minLatencyShift {
		return 0
	}
	k := bits.Len64(uint64(ns)) - 1 // 2^k <= ns < 2^(k+1)
	if k >= maxLatencyShift {
		return numLatency - 1
	}
	sub := int(uint64(ns)>>(k-2)) & 3
	return 1 + (k-minLatencyShift)*4 + sub
}

// latencyBounds are bucket i's bounds in nanoseconds, [lo, hi); the last
// bucket's hi is its lo doubled, the largest value a percentile reports.
func latencyBounds(i int) (lo, hi float64) {
	if i <= 0 {
		return 0, 1 << minLatencyShift
	}
	if i >= numLatency-1 {
		return 1 << maxLatencyShift, 1 << (maxLatencyShift + 1)
	}
	k := minLatencyShift + (i-1)/4
	sub := (i - 1) % 4
	step := float64(uint64(1) << (k - 2))
	return float64(4+sub) * step, float64(5+sub) * step
}

// ringSeconds is how many one-second histograms the ring keeps: the
// minute the page shows, the second in progress and a spare.
const ringSeconds = 64

// latencyRing is a ring of per-second request latency histograms. A
// slot's stamp says which second it holds; the first request of a new
// second clears the slot it reuses (under a lock taken once per slot and
// second), every request after adds to a bucket atomically.
type latencyRing struct {
	mu    sync.Mutex // clearing a slot
	slots [ringSeconds]latencySlot
}

type latencySlot struct {
	stamp  atomic.Int64 // the second held, plus one (0: never used)
	counts [numLatency]atomic.Int64
}

func (r *latencyRing) record(sec int64, d time.Duration) {
	sl := &r.slots[sec%ringSeconds]
	if sl.stamp.Load() != sec+1 {
		r.rotate(sl, sec)
	}
	sl.counts[latencyBucket(int64(d))].Add(1)
}

// rotate clears sl for sec, unless it already holds sec.
func (r *latencyRing) rotate(sl *latencySlot, sec int64) {
	r.mu.Lock()
	if st := sl.stamp.Load(); st < sec+1 {
		for i := range sl.counts {
			sl.counts[i].Store(0)
		}
		sl.stamp.Store(sec + 1)
	}
	r.mu.Unlock()
}

// sum adds to h the counts of the seconds from first to last, inclusive
// (at most ringSeconds of them), and returns how many requests they hold.
func (r *latencyRing) sum(first, last int64, h *[numLatency]int64) int64 {
	var n int64
	for sec := max(first, last-ringSeconds+1); sec <= last; sec++ {
		sl := &r.slots[sec%ringSeconds]
		if sl.stamp.Load() != sec+1 {
			continue
		}
		var c [numLatency]int64
		var cn int64
		for i := range sl.counts {
			c[i] = sl.counts[i].Load()
			cn += c[i]
		}
		if sl.stamp.Load() != sec+1 {
			continue // cleared for a later second while it was read
		}
		for i := range c {
			h[i] += c[i]
		}
		n += cn
	}
	return n
}

// percentile returns the q-quantile (0 < q <= 1) of the n durations
// counted in h, in nanoseconds, interpolated linearly within its bucket;
// 0 when n is 0.
func percentile(h *[numLatency]int64, n int64, q float64) float64 {
	if n <= 0 {
		return 0
	}
	rank := q * float64(n)
	var cum int64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if float64(cum+c) >= rank {
			lo, hi := latencyBounds(i)
			return lo + (hi-lo)*(rank-float64(cum))/float64(c)
		}
		cum += c
	}
	_, hi := latencyBounds(numLatency - 1)
	return hi
}

// StatusSnapshot is what a status page shows, read at one moment.
type StatusSnapshot struct {
	ActiveConnections   int64            // kestrel.active_connections
	ConnectionsByProto  map[string]int64 // "HTTP/1.1", "HTTP/2", "HTTP/3", "negotiating"
	UpgradedConnections int64            // kestrel.upgraded_connections
	QueuedConnections   int64            // kestrel.queued_connections
	RejectedConnections int64            // kestrel.rejected_connections
	ConnectionErrors    map[string]int64 // kestrel.connection.duration's count by error.type

	TLSHandshakes       int64            // completed, successful or not
	TLSFailures         map[string]int64 // by error.type
	ActiveTLSHandshakes int64            // kestrel.active_tls_handshakes

	Requests        int64            // http.server.request.duration's count
	RequestsByProto map[string]int64 // by network.protocol.version, as "HTTP/1.1"...
	RequestErrors   int64            // those with an error.type (5xx, panics)
	ActiveRequests  int64            // http.server.active_requests

	RequestsPerSecond float64 // over the last RateWindow's whole seconds
	RateWindow        time.Duration
	LatencyCount      int64         // requests in the last LatencyWindow
	LatencyWindow     time.Duration // up to a minute, less for a younger server
	P50, P99          time.Duration // of the requests in LatencyWindow
}

// protoNames are the status page's names of the protocols.
var protoNames = [numProtocols]string{ProtocolUnknown: "negotiating", HTTP10: "HTTP/1.0", HTTP11: "HTTP/1.1", HTTP2: "HTTP/2", HTTP3: "HTTP/3"}

// Rate and latency windows of the snapshot.
const (
	rateSeconds    = 5
	latencySeconds = 60
)

// KeepsStatus reports whether the Metrics keep the status page's counts
// (Options.Status).
func (m *Metrics) KeepsStatus() bool { return m != nil && m.status != nil }

// Status returns what the status page shows, or false when the Metrics
// do not keep it (made without Options.Status).
func (m *Metrics) Status() (StatusSnapshot, bool) {
	if m == nil || m.status == nil {
		return StatusSnapshot{}, false
	}
	s := m.status
	now := nowSec(time.Since(epoch))
	var snap StatusSnapshot
	if eps := m.endpoints.m.Load(); eps != nil {
		for _, e := range *eps {
			snap.ActiveConnections += e.active.n.Load()
			snap.UpgradedConnections += e.upgraded.n.Load()
			snap.QueuedConnections += e.queued.n.Load()
			snap.RejectedConnections += e.rejected.n.Load()
			snap.ActiveTLSHandshakes += e.handshakes.n.Load()
		}
	}
	snap.ConnectionsByProto = make(map[string]int64, numProtocols)
	for p := range numProtocols {
		if n := s.byProto[p].Load(); n != 0 || p == HTTP11 || p == HTTP2 || p == HTTP3 {
			snap.ConnectionsByProto[protoNames[p]] = n
		}
	}
	snap.ConnectionErrors = map[string]int64{}
	for r := range numReasons {
		if n := s.reasons[r].Load(); n != 0 {
			snap.ConnectionErrors[r.ErrorType()] = n
		}
	}
	snap.TLSFailures = map[string]int64{}
	snap.TLSHandshakes = s.tlsOK.Load()
	for i := range s.tlsFailed {
		if n := s.tlsFailed[i].Load(); n != 0 {
			kind := "other"
			if i < len(tlsFailureKinds) {
				kind = tlsFailureKinds[i]
			}
			snap.TLSFailures[kind] = n
			snap.TLSHandshakes += n
		}
	}
	snap.RequestsByProto = make(map[string]int64, numProtocols)
	for p := range numProtocols {
		n := s.requests[p].Load()
		snap.Requests += n
		if n != 0 || p == HTTP11 || p == HTTP2 || p == HTTP3 {
			snap.RequestsByProto[protoNames[p]] = n
		}
	}
	snap.RequestErrors = s.reqErrors.Load()
	for i := range m.active {
		for j := range m.active[i] {
			snap.ActiveRequests += m.active[i][j].n.Load()
		}
	}

	// The rate is over whole seconds; the latency includes the second in
	// progress. A server younger than a window is measured over its life.
	var h [numLatency]int64
	if whole := min(now-s.startedSec, rateSeconds); whole > 0 {
		n := s.ring.sum(now-whole, now-1, &h)
		snap.RateWindow = time.Duration(whole) * time.Second
		snap.RequestsPerSecond = float64(n) / float64(whole)
	}
	h = [numLatency]int64{}
	first := max(now-latencySeconds+1, s.startedSec)
	snap.LatencyWindow = time.Duration(now-first+1) * time.Second
	snap.LatencyCount = s.ring.sum(first, now, &h)
	snap.P50 = time.Duration(percentile(&h, snap.LatencyCount, 0.50))
	snap.P99 = time.Duration(percentile(&h, snap.LatencyCount, 0.99))
	return snap, true
}
