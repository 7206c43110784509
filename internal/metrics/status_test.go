package metrics

import (
	"crypto/tls"
	"math"
	"sort"
	"testing"
	"time"
)

// TestLatencyBuckets: every duration falls in a bucket whose bounds hold
// it, and the buckets are contiguous and within 25% wide.
func TestLatencyBuckets(t *testing.T) {
	for i := 1; i < numLatency; i++ {
		_, prevHi := latencyBounds(i - 1)
		lo, hi := latencyBounds(i)
		if lo != prevHi {
			t.Fatalf("bucket %d starts at %v, bucket %d ends at %v", i, lo, i-1, prevHi)
		}
		if i < numLatency-1 && (hi-lo)/lo > 0.25 {
			t.Fatalf("bucket %d [%v, %v) is %.0f%% wide", i, lo, hi, 100*(hi-lo)/lo)
		}
	}
	for _, ns := range []int64{0, 1, 1023, 1024, 1279, 1280, 1500, 2047, 2048, 999_999, 1_000_000, 123_456_789, 5e9, 1 << 39, 1<<40 - 1, 1 << 40, math.MaxInt64} {
		i := latencyBucket(ns)
		lo, hi := latencyBounds(i)
		if i == numLatency-1 {
			hi = math.Inf(1)
		}
		if float64(ns) < lo || float64(ns) >= hi {
			t.Errorf("%d ns in bucket %d [%v, %v)", ns, i, lo, hi)
		}
	}
}

// TestPercentiles: the percentiles of a known set of durations, read
// from the ring, are within a bucket's width (25%) of the exact ones.
func TestPercentiles(t *testing.T) {
	var r latencyRing
	var all []time.Duration
	// 1000 requests in second 7: 990 between 100 and 1090 µs, 10 of 40 ms.
	for i := range 990 {
		d := 100*time.Microsecond + time.Duration(i)*time.Microsecond
		all = append(all, d)
		r.record(7, d)
	}
	for range 10 {
		all = append(all, 40*time.Millisecond)
		r.record(7, 40*time.Millisecond)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	var h [numLatency]int64
	n := r.sum(0, 10, &h)
	if n != 1000 {
		t.Fatalf("sum = %d requests, want 1000", n)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := float64(all[int(math.Ceil(q*1000))-1])
		got := percentile(&h, n, q)
		if got < exact*0.75 || got > exact*1.25 {
			t.Errorf("p%v = %v, exact %v", q*100, time.Duration(got), time.Duration(exact))
		}
	}
	if got := percentile(&h, 0, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

// TestPercentileWorstCase: durations all at the bottom of a bucket are
// read, interpolated across the bucket, up to its width above the true
// value: the README's bound is 25%, not the 12.5% it once said.
func TestPercentileWorstCase(t *testing.T) {
	for _, d := range []time.Duration{1024, 5 * time.Millisecond, 1 << 30} {
		var h [numLatency]int64
		h[latencyBucket(int64(d))] = 1000
		got := percentile(&h, 1000, 0.99)
		if rel := got/float64(d) - 1; rel < 0 || rel > 0.25 {
			t.Errorf("p99 of 1000 requests of %v = %v: %.1f%% off, want within 25%%", d, time.Duration(got), 100*rel)
		} else if rel > 0.125 {
			t.Logf("p99 of 1000 requests of %v = %v: %.1f%% above", d, time.Duration(got), 100*rel)
		}
	}
}

// TestRingSeconds: a slot reused for a later second starts empty, and a
// sum reads only the seconds it asks for.
func TestRingSeconds(t *testing.T) {
	var r latencyRing
	r.record(3, time.Millisecond)
	r.record(3, time.Millisecond)
	r.record(4, time.Millisecond)
	r.record(3+ringSeconds, time.Millisecond) // reuses second 3's slot
	var h [numLatency]int64
	if n := r.sum(3, 3, &h); n != 0 {
		t.Errorf("second 3 after its slot was reused: %d requests, want 0", n)
	}
	if n := r.sum(4, 4, &h); n != 1 {
		t.Errorf("second 4: %d requests, want 1", n)
	}
	if n := r.sum(3+ringSeconds, 3+ringSeconds, &h); n != 1 {
		t.Errorf("second %d: %d requests, want 1", 3+ringSeconds, n)
	}
	h = [numLatency]int64{}
	if n := r.sum(0, 2+2*ringSeconds, &h); n != 1 {
		t.Errorf("seconds 0 to %d (only the last %d are read): %d requests, want 1", 2+2*ringSeconds, ringSeconds, n)
	}
}

// TestStatusCounts: the snapshot's counts are those of the calls made, at
// the instruments' points.
func TestStatusCounts(t *testing.T) {
	m, err := New(nil, Options{Status: true})
	if err != nil || m == nil {
		t.Fatalf("New(nil, Status) = %v, %v", m, err)
	}
	e := m.Endpoint(local4)
	start := time.Now()
	for range 3 { // one HTTP/1.1, one HTTP/2 (via HTTP/1.1, as h2c), one not negotiated yet
		e.ConnStart()
	}
	e.ConnProtocol(ProtocolUnknown, HTTP11)
	e.ConnProtocol(ProtocolUnknown, HTTP11)
	e.ConnProtocol(HTTP11, HTTP2)
	e.UpgradedStart()
	e.Rejected()
	e.Rejected()
	e.TLSStart()
	e.TLSEnd(start, tls.VersionTLS13, "")
	e.TLSStart()
	e.TLSEnd(start, 0, "timeout")
	e.TLSStart()
	e.TLSEnd(start, 0, "something_new")
	e.TLSStart() // in progress
	m.Endpoint(sock).ConnStart()
	m.Endpoint(sock).ConnEnd(start, ProtocolUnknown, 0, ProxyProtocolUntrusted)
	for i := range 5 {
		r := m.RequestStart([]byte("GET"), false)
		status := 200
		if i == 4 {
			status = 503
		}
		m.RequestEnd(r, HTTP11, status, "", "")
	}
	m.RequestEnd(m.RequestStart([]byte("POST"), true), HTTP2, 200, "", ErrorPanic)
	m.RequestStart([]byte("GET"), false) // in flight

	s, ok := m.Status()
	if !ok {
		t.Fatal("Status() = false with Options.Status")
	}
	check := func(name string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	check("active connections", s.ActiveConnections, 3)
	check("HTTP/1.1 connections", s.ConnectionsByProto["HTTP/1.1"], 1)
	check("HTTP/2 connections", s.ConnectionsByProto["HTTP/2"], 1)
	check("negotiating connections", s.ConnectionsByProto["negotiating"], 1)
	check("HTTP/3 connections", s.ConnectionsByProto["HTTP/3"], 0)
	check("upgraded", s.UpgradedConnections, 1)
	check("rejected", s.RejectedConnections, 2)
	check("max_concurrent_connections_exceeded", s.ConnectionErrors["max_concurrent_connections_exceeded"], 2)
	check("proxy_protocol_untrusted", s.ConnectionErrors["proxy_protocol_untrusted"], 1)
	check("TLS handshakes", s.TLSHandshakes, 3)
	check("TLS timeouts", s.TLSFailures["timeout"], 1)
	check("TLS other failures", s.TLSFailures["other"], 1)
	check("active TLS handshakes", s.ActiveTLSHandshakes, 1)
	check("requests", s.Requests, 6)
	check("HTTP/1.1 requests", s.RequestsByProto["HTTP/1.1"], 5)
	check("HTTP/2 requests", s.RequestsByProto["HTTP/2"], 1)
	check("request errors", s.RequestErrors, 2)
	check("active requests", s.ActiveRequests, 1)
	check("requests in the latency window", s.LatencyCount, 6)
	if s.P50 <= 0 || s.P50 > time.Second || s.P99 < s.P50 {
		t.Errorf("p50 %v, p99 %v", s.P50, s.P99)
	}

	var none *Metrics
	if _, ok := none.Status(); ok {
		t.Error("a nil *Metrics reports a status")
	}
	plain, _ := newMetrics(t, Options{})
	if _, ok := plain.Status(); ok {
		t.Error("Metrics without Options.Status report a status")
	}
}

// TestStatusRequestAllocs: counting a request for the status page
// allocates nothing.
func TestStatusRequestAllocs(t *testing.T) {
	m, err := New(nil, Options{Status: true})
	if err != nil {
		t.Fatal(err)
	}
	method := []byte("GET")
	if a := testing.AllocsPerRun(1000, func() {
		m.RequestEnd(m.RequestStart(method, false), HTTP11, 200, "/", "")
	}); a != 0 {
		t.Errorf("%v allocations per request", a)
	}
}
