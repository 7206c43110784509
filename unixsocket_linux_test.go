package kestrel

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnixSocketInUseIsKept: a socket file that another process still
// serves is never replaced, even when connecting to it fails: a stream
// socket whose accept queue is full (connect says EAGAIN) and a datagram
// socket (EPROTOTYPE) are live, not stale. Start fails naming the path,
// and the file stays the other process's. Only a refused connection
// (ECONNREFUSED: nothing listens) marks a file as stale.
func TestUnixSocketInUseIsKept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		other func(t *testing.T, path string)
	}{
		{"stream socket with a full accept queue", func(t *testing.T, path string) {
			fd := rawUnixSocket(t, syscall.SOCK_STREAM, path)
			if err := syscall.Listen(fd, 0); err != nil {
				t.Fatal(err)
			}
			// Linux queues backlog+1 connections: fill the queue.
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if c, err := net.Dial("unix", path); err == nil {
				c.Close()
				t.Fatal("the accept queue is not full")
			}
		}},
		{"datagram socket", func(t *testing.T, path string) {
			rawUnixSocket(t, syscall.SOCK_DGRAM, path)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sock := filepath.Join(t.TempDir(), "app.sock")
			tc.other(t, sock)
			before, err := os.Lstat(sock)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{Handler: pathHandler(), Logger: discardLogger()}
			s.ListenUnix(sock)
			err = s.Start()
			if err == nil {
				s.Close()
				t.Fatal("Start took over a socket file another process serves")
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "in use") {
				t.Errorf("Start: %v, want an error saying %s is in use", err, sock)
			}
			if after, err := os.Lstat(sock); err != nil || !os.SameFile(before, after) {
				t.Errorf("the other process's socket file was replaced or removed: %v", err)
			}
		})
	}
}

// rawUnixSocket binds a Unix socket of type typ at path, closed when the
// test ends.
func rawUnixSocket(t *testing.T, typ int, path string) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return fd
}
