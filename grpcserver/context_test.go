package grpcserver

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCallContext: the deadline and the parent's end are seen by Err
// without Done having been asked for, and close Done once it is; Done
// asked for first is closed by the timer and by the parent; expire is
// called at the deadline, and never once the call ended.
func TestCallContext(t *testing.T) {
	wait := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	t.Run("deadline, Err first", func(t *testing.T) {
		var c callContext
		c.init(context.Background(), 10*time.Millisecond, true, nil)
		if c.Err() != nil {
			t.Fatal("ended early")
		}
		time.Sleep(20 * time.Millisecond)
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err %v", c.Err())
		}
		if !wait(c.Done()) {
			t.Error("Done not closed")
		}
	})
	t.Run("deadline, Done first", func(t *testing.T) {
		var c callContext
		c.init(context.Background(), 20*time.Millisecond, true, nil)
		if !wait(c.Done()) || !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err %v", c.Err())
		}
		if d, ok := c.Deadline(); !ok || d.IsZero() {
			t.Error("no deadline")
		}
	})
	t.Run("parent's deadline is earlier", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		var c callContext
		c.init(parent, time.Hour, true, nil)
		if d, _ := c.Deadline(); time.Until(d) > time.Minute {
			t.Errorf("deadline %v", d)
		}
	})
	t.Run("parent ends, Err first", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		var c callContext
		c.init(parent, 0, false, nil)
		cancel()
		if !errors.Is(c.Err(), context.Canceled) || !wait(c.Done()) {
			t.Errorf("Err %v", c.Err())
		}
	})
	t.Run("parent ends, Done first", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		var c callContext
		c.init(parent, time.Hour, true, nil)
		done := c.Done()
		cancel()
		if !wait(done) || !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err %v", c.Err())
		}
	})
	t.Run("expire at the deadline", func(t *testing.T) {
		expired := make(chan struct{})
		var c callContext
		c.init(context.Background(), 10*time.Millisecond, true, expireFunc(func() { close(expired) }))
		if !wait(expired) || !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("expire not called; Err %v", c.Err())
		}
	})
	t.Run("no expire once cancelled", func(t *testing.T) {
		var c callContext
		c.init(context.Background(), 5*time.Millisecond, true, expireFunc(func() { t.Error("expire called after the call ended") }))
		c.cancel(context.Canceled)
		time.Sleep(20 * time.Millisecond)
	})
	t.Run("expired on arrival", func(t *testing.T) {
		var c callContext
		c.init(context.Background(), 0, true, expireFunc(func() { t.Error("expire called for a call never started") }))
		if !errors.Is(c.Err(), context.DeadlineExceeded) || !wait(c.Done()) {
			t.Errorf("Err %v", c.Err())
		}
	})
	t.Run("derived context", func(t *testing.T) {
		var c callContext
		c.init(context.Background(), 0, false, nil)
		d, stop := context.WithCancel(&c)
		defer stop()
		c.cancel(context.Canceled)
		if !wait(d.Done()) {
			t.Error("the derived context was not cancelled")
		}
	})
}

// expireFunc is a function as an expirer.
type expireFunc func()

func (f expireFunc) expire() { f() }
