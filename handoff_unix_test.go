//go:build unix

package kestrel

import (
	"fmt"
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
	var files []string
	for _, path := range []string{dropped, kept} {
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
		l.(*net.UnixListener).SetUnlinkOnClose(false) // the old process leaves the files
		l.Close()
		files = append(files, fmt.Sprintf("%d:endpoint", fd))
	}
	t.Setenv(InheritedListenersEnv, strings.Join(files, ","))
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
