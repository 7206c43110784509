//go:build unix

package staticfiles_test

import (
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kestrel-go/kestrel/staticfiles"
)

func TestSpecialFilesAreNotOpened(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := serve(t, dir, staticfiles.Options{})
	done := make(chan int, 1)
	go func() {
		resp, _ := do(t, "GET", base+"/fifo")
		done <- resp.StatusCode
	}()
	select {
	case status := <-done:
		if status != 404 {
			t.Errorf("FIFO: %d, want 404", status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request for a FIFO hangs")
	}
}
