package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRequestContext(t *testing.T) {
	ctx := &RequestContext{parent: context.Background()}
	child, stopChild := context.WithCancel(ctx)
	defer stopChild()
	timeout, stopTimeout := context.WithTimeout(ctx, time.Hour)
	defer stopTimeout()
	ran := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(ran) })
	stopped := context.AfterFunc(ctx, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped() {
		t.Error("stop of a pending AfterFunc reported false")
	}
	if ctx.Err() != nil {
		t.Fatal("cancelled too early")
	}
	done := ctx.Done()
	ctx.Cancel()
	ctx.Cancel() // idempotent
	for name, c := range map[string]context.Context{"request": ctx, "WithCancel": child, "WithTimeout": timeout} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s context not cancelled", name)
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("%s context: Err = %v", name, c.Err())
		}
	}
	select {
	case <-done:
	default:
		t.Error("the Done channel taken before cancel was not closed")
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
	if stop() {
		t.Error("stop after the function ran reported true")
	}
	// Done asked for only after cancellation is closed too.
	late := &RequestContext{parent: context.Background()}
	late.Cancel()
	select {
	case <-late.Done():
	default:
		t.Error("Done of a cancelled context is not closed")
	}
}
