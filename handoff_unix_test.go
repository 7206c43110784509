//go:build unix

package kestrel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInheritedUnixSocketUnused: a Unix socket handed over by the process
// replaced that none of the new process's endpoints takes (its
// configuration dropped it) is closed and its file removed, as Reload
// removes the file of an endpoint it drops, and as nginx does with the
// sockets of a binary upgrade its new configuration no longer has.
func TestInheritedUnixSocketUnused(t *testing.T) {
	dir := t.TempDir()
	dropped, kept := filepath.Join(dir, "dropped.sock"), filepath.Join(dir, "kept.sock")
	inheritUnixSockets(t, dropped, kept)
	s := &Server{Handler: pathHandler(), Logger: discardLogger()}
	if n, err := s.ListenInherited(); n != 2 || err != nil {
		t.Fatalf("ListenInherited = %d, %v", n, err)
	}
	s.ListenUnix(kept)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Lstat(dropped); !os.IsNotExist(err) {
		t.Errorf("the file of the inherited socket no endpoint takes is still there: %v", err)
	}
	if got := getBody(t, unixClient(kept), "http://unix/x"); got != "ok /x" {
		t.Errorf("the inherited socket taken: %q", got)
	}
}

// inheritUnixSockets sets InheritedListenersEnv as a new process finds it:
// Unix sockets bound at paths, handed over by a process that is gone (it
// left their files).
func inheritUnixSockets(t *testing.T, paths ...string) {
	t.Helper()
	var files []string
	for _, path := range paths {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		// A descriptor no *os.File owns, as a new process inherits it:
		// ListenInherited takes it over.
		rc, err := l.(*net.UnixListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		fd, dupErr := -1, error(nil)
		rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 3) })
		if dupErr != nil {
			t.Fatal(dupErr)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		files = append(files, fmt.Sprintf("%d:endpoint", fd))
	}
	t.Setenv(InheritedListenersEnv, strings.Join(files, ","))
}

// TestInheritedUnixSocketOtherSpelling: an endpoint takes the inherited
// socket whose file its path names, however the path is spelled (through
// a symbolic link, such as /var/run to /run, or with "/./"), instead of
// failing to bind a socket its own process holds.
func TestInheritedUnixSocketOtherSpelling(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "run")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "var-run")); err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{filepath.Join(dir, "var-run", "app.sock"), real + "/./app.sock"} {
		inheritUnixSockets(t, filepath.Join(real, "app.sock"))
		s := &Server{Handler: pathHandler(), Logger: discardLogger()}
		if n, err := s.ListenInherited(); n != 1 || err != nil {
			t.Fatalf("ListenInherited = %d, %v", n, err)
		}
		s.ListenUnix(spelling)
		if err := s.Start(); err != nil {
			t.Fatalf("%s: Start: %v", spelling, err)
		}
		if got := getBody(t, unixClient(spelling), "http://unix/x"); got != "ok /x" {
			t.Errorf("%s: %q", spelling, got)
		}
		s.Close()
	}
}

// TestInheritedUnixSocketFailedStart: a new process whose Start fails (an
// endpoint it cannot bind) leaves the file of the Unix socket it was
// handed in place as it closes: the process it was to replace goes on
// serving that socket, and its clients must still find it.
func TestInheritedUnixSocketFailedStart(t *testing.T) {
	dir := t.TempDir()
	sock, notSocket := filepath.Join(dir, "app.sock"), filepath.Join(dir, "file")
	if err := os.WriteFile(notSocket, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	inheritUnixSockets(t, sock)
	s := &Server{Handler: pathHandler(), Logger: discardLogger()}
	if n, err := s.ListenInherited(); n != 1 || err != nil {
		t.Fatalf("ListenInherited = %d, %v", n, err)
	}
	s.ListenUnix(sock)
	s.ListenUnix(notSocket)
	if err := s.Start(); err == nil {
		t.Fatal("Start bound a path that is not a socket")
	}
	s.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the failed new process removed the socket file the old one serves: %v", err)
	}
}

// TestReloadAfterHandoffKeepsUnixFile: a configuration change that the
// old process reloads while the new one starts (a deploy writing the file
// beside the binary) and that removes or moves a Unix socket endpoint
// leaves the file of the socket passed to the new process in place, which
// the old process removed, leaving the new one unreachable on its path; a
// socket the old process bound after Handoff has its file removed when it
// shuts down.
func TestReloadAfterHandoffKeepsUnixFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		unix  string // the Unix endpoint of the reloaded configuration, "" for none
		extra string // the file of a socket the old process binds after Handoff
	}{
		{name: "removed"},
		{name: "changed", unix: `{"Url": "unix:SOCK", "Protocols": "Http1"}`},
		{name: "moved", unix: `{"Url": "unix:OTHER"}`, extra: "OTHER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sock, other := filepath.Join(dir, "app.sock"), filepath.Join(dir, "other.sock")
			config := func(unix string) string {
				eps := `"Tcp": {"Url": "http://127.0.0.1:0"}`
				if unix != "" {
					eps += `, "Unix": ` + strings.NewReplacer("SOCK", sock, "OTHER", other).Replace(unix)
				}
				return `{"Kestrel": {"Endpoints": {` + eps + `}}}`
			}
			old, _ := startConfigured(t, newGated(), config(`{"Url": "unix:SOCK"}`))
			handOffInProcess(t, old)
			next := &Server{Handler: newGated(), Logger: discardLogger()}
			if n, err := next.ListenInherited(); n != 2 || err != nil {
				t.Fatalf("ListenInherited = %d, %v", n, err)
			}
			if err := parseTestConfig(t, config(`{"Url": "unix:SOCK"}`)).Apply(next); err != nil {
				t.Fatal(err)
			}
			if err := next.Start(); err != nil {
				t.Fatal(err)
			}
			defer next.Close()

			reloadJSON(t, old, config(tc.unix))
			if err := old.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if _, body := dialRaw(t, "unix", sock).send(t, "GET", "/new", ""); body != "hello /new" {
				t.Errorf("the new process on %s: %q", sock, body)
			}
			if tc.extra != "" {
				if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the file of the socket the old process bound after Handoff: %v, want it removed", err)
				}
			}
		})
	}
}
