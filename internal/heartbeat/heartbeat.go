// Package heartbeat runs the server's once-a-second tick: it refreshes the
// cached Date header and lets the server check every connection's deadlines,
// so that no connection needs a timer of its own (Kestrel's Heartbeat).
package heartbeat

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often the heartbeat ticks.
const Interval = time.Second

// Heartbeat caches the Date header and calls a function on every tick.
// Create it with New, start it with Start, and stop it with Stop.
type Heartbeat struct {
	onTick func(now time.Time)

	date      atomic.Pointer[[]byte] // "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n"
	dateValue atomic.Pointer[string] // "Mon, 02 Jan 2006 15:04:05 GMT"
	now       atomic.Int64           // Unix nanoseconds at the last tick

	startOnce sync.Once
	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// New returns a heartbeat that calls onTick (if not nil) once per Interval
// after Start. The Date header is valid from the start.
func New(onTick func(now time.Time)) *Heartbeat {
	h := &Heartbeat{onTick: onTick, stop: make(chan struct{}), done: make(chan struct{})}
	h.update(time.Now())
	return h
}

// Start begins ticking in a goroutine of its own. Calling it again does
// nothing.
func (h *Heartbeat) Start() {
	h.startOnce.Do(func() { go h.run() })
}

// Stop ends the ticking and waits for a running tick to finish. It may be
// called more than once, and before Start.
func (h *Heartbeat) Stop() {
	h.stopOnce.Do(func() { close(h.stop) })
	started := true
	h.startOnce.Do(func() { started = false })
	if started {
		<-h.done
	}
}

func (h *Heartbeat) run() {
	defer close(h.done)
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.update(now)
			if h.onTick != nil {
				h.onTick(now)
			}
		}
	}
}

func (h *Heartbeat) update(now time.Time) {
	b := make([]byte, 0, len("Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n"))
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	h.date.Store(&b)
	v := string(b[len("Date: ") : len(b)-2])
	h.dateValue.Store(&v)
	h.now.Store(now.UnixNano())
}

// DateLine returns the cached "Date: ...\r\n" header line. The slice must not
// be modified.
func (h *Heartbeat) DateLine() []byte { return *h.date.Load() }

// Date returns the cached Date header's value.
func (h *Heartbeat) Date() string { return *h.dateValue.Load() }

// Now returns the time of the last tick in Unix nanoseconds: a clock that is
// cheap to read and at most one Interval behind.
func (h *Heartbeat) Now() int64 { return h.now.Load() }

// Deadline returns the Now time at which a timeout of d that starts at the
// Now time start has passed for certain: start may be up to an Interval
// behind the real start, so a tick finds a timeout passed only an Interval
// later (as Kestrel's timeouts, never early, and at most two Intervals
// late).
func Deadline(start int64, d time.Duration) int64 {
	if int64(d) > math.MaxInt64-int64(Interval)-start {
		return math.MaxInt64 // a timeout longer than the clock can count never passes
	}
	return start + int64(d) + int64(Interval)
}

// Passed reports whether a timeout of d that started at the Now time start
// (0: not started) has passed at the Now time now; d <= 0 never passes.
func Passed(now, start int64, d time.Duration) bool {
	return start != 0 && d > 0 && now > Deadline(start, d)
}
