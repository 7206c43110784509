package kestrel

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// InheritedListenersEnv is the environment variable through which Handoff
// tells a new process which of its file descriptors are listening sockets
// for ListenInherited: "3:endpoint,4:systemd", a descriptor and its role
// for each socket ("systemd" for a socket from systemd socket activation,
// "endpoint" for the others), and a group of them for each server, the
// groups separated by ';'.
const InheritedListenersEnv = "KESTREL_LISTEN_FDS"

// Handoff prepares cmd, a new process of this program (usually the same
// command line, on a new binary), to take over the server's listening
// sockets, for a restart that refuses no connection and loses no request:
//
//	cmd := exec.Command(executable, os.Args[1:]...)
//	if err := srv.Handoff(cmd); err != nil { ... }
//	err := cmd.Start()
//	for _, f := range cmd.ExtraFiles { f.Close() }
//	// Wait until the new process says it is ready: it called
//	// ListenInherited, then Start, with the same endpoints.
//	srv.Shutdown(ctx)
//
// Handoff appends a copy of each listening socket to cmd.ExtraFiles and
// names them in cmd.Env (InheritedListenersEnv; a nil cmd.Env means this
// process's environment). Close the files once cmd has started: a copy
// left open keeps its socket's queue of connections alive with nobody to
// accept them.
//
// Both processes accept connections until this one shuts down; then the
// connections waiting to be accepted go to the new process. After
// Handoff, Shutdown drains gently: every response says Connection: close,
// a keep-alive connection is closed only once it has been idle for a
// second (a client busy on it sends its next request within that time and
// is answered), and Unix socket files stay in place for the new process.
// If the new process fails, the server goes on serving (Handoff may be
// called again).
//
// A program with several servers (the app's and an admin one, say) calls
// Handoff for each with the same cmd; the new process calls
// ListenInherited on its servers in the same order.
//
// Handoff is not supported on Windows, where sockets cannot be passed this
// way.
func (s *Server) Handoff(cmd *exec.Cmd) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return errors.New("kestrel: Handoff: passing listening sockets to another process is not supported on Windows")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	started, closed := s.hb != nil, s.closed
	var socks []*socket
	for _, l := range s.listeners {
		socks = append(socks, l.sock)
	}
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	if !started {
		return errors.New("kestrel: Handoff: the server is not started")
	}
	first := 3 + len(cmd.ExtraFiles)
	var files []*os.File
	var spec []string
	for _, sk := range socks {
		f, err := socketFile(sk.Listener)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return fmt.Errorf("kestrel: Handoff: the socket of %s: %w", sk.Addr(), err)
		}
		role := "endpoint"
		if sk.systemd {
			role = "systemd"
		}
		spec = append(spec, strconv.Itoa(first+len(files))+":"+role)
		files = append(files, f)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, files...)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	env := cmd.Env[:0:0]
	groups := strings.Join(spec, ",")
	for _, kv := range cmd.Env {
		if prev, ok := strings.CutPrefix(kv, InheritedListenersEnv+"="); ok {
			groups = prev + ";" + groups // another server's, handed over first
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, InheritedListenersEnv+"="+groups)
	s.mu.Lock()
	s.handedOff = true
	s.mu.Unlock()
	return nil
}

// ListenInherited takes the listening sockets that the process this one
// replaces passed with Handoff (InheritedListenersEnv), and reports how
// many there were; without the variable, it does nothing. With several
// servers, each call takes the sockets of the next server that Handoff
// was called for. As with
// ListenSystemd, an endpoint whose address is that of one of these
// sockets serves it instead of binding its own, so a process configured
// as the one it replaces takes over all of its sockets. Start closes the
// sockets that no endpoint takes, except those the old process had from
// systemd socket activation, which it serves as HTTP. The variable is
// removed from the environment once every group is taken, so that child
// processes do not take the sockets too.
func (s *Server) ListenInherited() (int, error) {
	all, ok := os.LookupEnv(InheritedListenersEnv)
	if !ok {
		return 0, nil
	}
	v, rest, more := strings.Cut(all, ";")
	if more {
		os.Setenv(InheritedListenersEnv, rest)
	} else {
		os.Unsetenv(InheritedListenersEnv)
	}
	var socks []*socket
	fail := func(err error) (int, error) {
		for _, sk := range socks {
			sk.Close()
		}
		return 0, fmt.Errorf("kestrel: %s=%q: %w", InheritedListenersEnv, v, err)
	}
	for _, item := range strings.Split(v, ",") {
		fd, role, _ := strings.Cut(item, ":")
		n, err := strconv.Atoi(fd)
		if err != nil || n < 3 || role != "endpoint" && role != "systemd" {
			return fail(fmt.Errorf("%q is not a descriptor and its role, such as 3:endpoint", item))
		}
		f := os.NewFile(uintptr(n), "inherited socket "+fd)
		l, err := net.FileListener(f)
		f.Close() // the listener holds its own descriptor
		if err != nil {
			return fail(fmt.Errorf("descriptor %d: %w", n, err))
		}
		socks = append(socks, &socket{Listener: l, systemd: role == "systemd"})
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.spares = append(s.spares, socks...)
	}
	s.mu.Unlock()
	if closed {
		for _, sk := range socks {
			sk.Close()
		}
		return 0, ErrServerClosed
	}
	return len(socks), nil
}
