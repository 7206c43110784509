// Package proctest runs the programs that tests build (the kestrel command,
// a program on kestrel.Service) and plays systemd's part for them. It is
// for tests only.
package proctest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Log collects what a program writes; it may be written and read at once.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the log.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what the log holds so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start starts cmd with its standard error in a pipe that outlives it (a
// process that replaces it on a restart writes there too), and kills it
// when the test ends.
func Start(t testing.TB, cmd *exec.Cmd) *Log {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	log := &Log{}
	go func() {
		io.Copy(log, r)
		r.Close()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return log
}

// ReadPIDFile reads the process ID a server wrote to its PID file.
func ReadPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// WaitPIDFile waits until the PID file at path names pid (a server writes
// it just after it starts listening), and fails the test after 10 s.
func WaitPIDFile(t testing.TB, path string, pid int) {
	t.Helper()
	var got int
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err = ReadPIDFile(path); err == nil && got == pid {
			return
		}
	}
	t.Fatalf("PID file: %d, %v; want %d", got, err, pid)
}
