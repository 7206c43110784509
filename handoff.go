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
// for ListenInherited: "3:endpoint,4:systemd,5:udp", a descriptor and its
// role for each socket ("systemd" for a socket from systemd socket
// activation, "udp" for the UDP socket of an endpoint serving HTTP/3,
// "endpoint" for the others), and a group of them for each server, the
// groups separated by ';'.
const InheritedListenersEnv = "KESTREL_LISTEN_FDS"

// Handoff prepares cmd, a new process of this program (usually the same
// command line, on a new binary), to take over the server's listening
// sockets, for a restart that refuses no connection and loses no request.
// Service.Run does all of this on SIGUSR2, with the handshake that tells
// it the new process is ready (UpgradeReadyEnv); by hand:
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
// is answered), and Unix socket files stay in place for the new process
// (a Reload meanwhile that stops an endpoint of a passed Unix socket
// leaves its file too; those of sockets bound after Handoff are removed).
// If the new process fails, the server goes on serving (Handoff may be
// called again).
//
// The UDP sockets of the endpoints that serve HTTP/3 are passed too. Until
// this process has shut down, both read datagrams from them: a packet of
// either's QUIC connections that the other reads is dropped, and QUIC's
// loss recovery sends it again, so HTTP/3 requests in flight across the
// restart can be slower, and new HTTP/3 connections may take a second
// try; clients fall back to HTTP/2 or HTTP/1.1 on the TCP port if HTTP/3
// fails them. Shutdown sends this process's HTTP/3 connections a GOAWAY
// at once, so their clients open their next requests on the new
// process, while the requests already on their way are served.
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
	var udp []*udpSocket
	for _, l := range s.listeners {
		if l.sock != nil {
			socks = append(socks, l.sock)
		}
		if l.quic != nil {
			udp = append(udp, l.quic.sock)
		}
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
	pass := func(c any, addr net.Addr, role string) error {
		f, err := socketFile(c, addr)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return fmt.Errorf("kestrel: Handoff: the socket of %s: %w", addr, err)
		}
		spec = append(spec, strconv.Itoa(first+len(files))+":"+role)
		files = append(files, f)
		return nil
	}
	for _, sk := range socks {
		role := "endpoint"
		if sk.systemd {
			role = "systemd"
		}
		if err := pass(sk.Listener, sk.Addr(), role); err != nil {
			return err
		}
	}
	for _, us := range udp {
		if err := pass(us.pc, us.pc.LocalAddr(), "udp"); err != nil {
			return err
		}
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
	s.passed = socks
	s.mu.Unlock()
	return nil
}

// handoffFailed undoes what Handoff changed in the server's Shutdown once
// the process it prepared failed to take over: the server then shuts down
// as one that never handed its sockets off, waiting its drain delay and
// removing its Unix socket files.
func (s *Server) handoffFailed() {
	s.mu.Lock()
	s.handedOff = false
	s.passed = nil
	s.mu.Unlock()
}

// ListenInherited takes the listening sockets that the process this one
// replaces passed with Handoff (InheritedListenersEnv), and reports how
// many there were; without the variable, it does nothing. With several
// servers, each call takes the sockets of the next server that Handoff
// was called for. As with
// ListenSystemd, an endpoint whose address is that of one of these
// sockets serves it instead of binding its own, so a process configured
// as the one it replaces takes over all of its sockets. Start closes the
// sockets that no endpoint takes (removing the files of Unix ones, whose
// endpoints this process's configuration dropped), except those the old
// process had from systemd socket activation, which it serves as HTTP.
// The variable is removed from the environment once every group is taken,
// so that child processes do not take the sockets too.
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
	var udp []*udpSocket
	closeAll := func() {
		for _, sk := range socks {
			sk.Close()
		}
		for _, us := range udp {
			us.close()
		}
	}
	fail := func(err error) (int, error) {
		closeAll()
		return 0, fmt.Errorf("kestrel: %s=%q: %w", InheritedListenersEnv, v, err)
	}
	for _, item := range strings.Split(v, ",") {
		fd, role, _ := strings.Cut(item, ":")
		n, err := strconv.Atoi(fd)
		if err != nil || n < 3 || role != "endpoint" && role != "systemd" && role != "udp" {
			return fail(fmt.Errorf("%q is not a descriptor and its role, such as 3:endpoint", item))
		}
		f := os.NewFile(uintptr(n), "inherited socket "+fd)
		if role == "udp" {
			pc, err := net.FilePacketConn(f)
			f.Close() // the connection holds its own descriptor
			if err != nil {
				return fail(fmt.Errorf("descriptor %d: %w", n, err))
			}
			udp = append(udp, newUDPSocket(pc))
			continue
		}
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
		s.udpSpares = append(s.udpSpares, udp...)
	}
	s.mu.Unlock()
	if closed {
		closeAll()
		return 0, ErrServerClosed
	}
	return len(socks) + len(udp), nil
}
