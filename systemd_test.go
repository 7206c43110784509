//go:build unix

package kestrel

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// TestSystemdHTTP3 passes a TCP and a UDP socket on one port to a child
// process, as systemd does for a socket unit with ListenStream= and
// ListenDatagram= on the HTTPS port: the endpoint at that address serves
// HTTPS on the one and HTTP/3 on the other, and binds nothing of its own
// (the child could not: systemd holds the port).
func TestSystemdHTTP3(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		ln.Close()
		t.Skipf("UDP port of %s: %v", addr, err)
	}
	tcpFile, _ := ln.(*net.TCPListener).File()
	udpFile, _ := pc.(*net.UDPConn).File()
	// The test keeps its sockets open, as systemd keeps its own.
	defer ln.Close()
	defer pc.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSystemdHTTP3Child$")
	cmd.ExtraFiles = []*os.File{tcpFile, udpFile} // descriptors 3 and 4
	cmd.Env = append(os.Environ(), "KESTREL_TEST_SYSTEMD_H3="+addr, "LISTEN_FDS=2", "LISTEN_FDNAMES=https:quic")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tcpFile.Close()
	udpFile.Close()
	defer func() {
		stdin.Close() // the child stops when its stdin closes
		cmd.Wait()
	}()
	out := bufio.NewReader(stdout)
	if line, _ := out.ReadString('\n'); line != "ready\n" {
		rest, _ := io.ReadAll(out)
		t.Fatalf("the child did not start:\n%s%s", line, rest)
	}
	ln.Close() // only the child's copies accept now
	pc.Close()
	tr := &http3.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the child makes its own certificate
	defer tr.Close()
	if body := getBody(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, "https://"+addr+"/"); body != "HTTP/3.0" {
		t.Errorf("HTTP/3 on the UDP socket systemd passed: %q", body)
	}
}

// TestSystemdHTTP3Child is the child process of TestSystemdHTTP3.
func TestSystemdHTTP3Child(t *testing.T) {
	addr := os.Getenv("KESTREL_TEST_SYSTEMD_H3")
	if addr == "" {
		t.Skip("run by TestSystemdHTTP3")
	}
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid())) // systemd sets it to the process it starts
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})}
	if n, err := s.ListenSystemd(); n != 2 || err != nil {
		t.Fatalf("ListenSystemd = %d, %v; want the TCP and the UDP socket", n, err)
	}
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(Endpoint{Address: addr, Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
}

// TestSystemdSocketsOverrideURLs: as in Kestrel, whose UseSystemd adds
// systemd's sockets as endpoints in code (ListenHandle), the sockets win
// over URLs: "https://ADDR" given to UseURLs (the command's --urls) does
// not make the socket at ADDR serve HTTPS. It is served as plain HTTP, the
// URL is not bound, and the log says the URLs are overridden.
func TestSystemdSocketsOverrideURLs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	f, _ := ln.(*net.TCPListener).File()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSystemdSocketsOverrideURLsChild$")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "KESTREL_TEST_SYSTEMD_URLS="+addr, "LISTEN_FDS=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	out := bufio.NewReader(stdout)
	line, _ := out.ReadString('\n')
	if want := "ready [http://" + addr + "] overriding\n"; line != want {
		rest, _ := io.ReadAll(out)
		t.Fatalf("the child: %q, want %q\n%s", line, want, rest)
	}
	if body := getBody(t, http.DefaultClient, "http://"+addr+"/"); body != "HTTP/1.1" {
		t.Errorf("plain HTTP on the socket: %q", body)
	}
}

// TestSystemdSocketsOverrideURLsChild is the child process of
// TestSystemdSocketsOverrideURLs.
func TestSystemdSocketsOverrideURLsChild(t *testing.T) {
	addr := os.Getenv("KESTREL_TEST_SYSTEMD_URLS")
	if addr == "" {
		t.Skip("run by TestSystemdSocketsOverrideURLs")
	}
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	log := &lockedBuffer{}
	s := &Server{Logger: slog.New(slog.NewTextHandler(log, nil)), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	})}
	if err := s.UseURLs("https://" + addr); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ListenSystemd(); n != 1 || err != nil {
		t.Fatalf("ListenSystemd = %d, %v", n, err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	overriding := ""
	if strings.Contains(log.String(), "Overriding address(es) 'https://"+addr+"'") {
		overriding = " overriding"
	}
	fmt.Printf("ready %v%s\n", s.Addresses(), overriding)
	io.Copy(io.Discard, os.Stdin)
}

// TestSystemdUnixSocketMode: the file of a Unix socket systemd passes is
// systemd's (ListenStream=/run/app.sock, with the unit's SocketMode= and
// SocketUser=): the endpoint that takes it leaves its permissions as they
// are, as it leaves the file in place when it stops, instead of applying
// its own UnixSocketMode, which a service running as another user than
// the file's owner cannot (Start failed with "operation not permitted").
func TestSystemdUnixSocketMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := ln.(*net.UnixListener).File()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSystemdUnixSocketModeChild$")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "KESTREL_TEST_SYSTEMD_UNIX="+path, "LISTEN_FDS=1")
	out, err := cmd.CombinedOutput()
	f.Close()
	if err != nil {
		t.Fatalf("the child: %v\n%s", err, out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("systemd's socket file after the server stopped: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("systemd's socket file has mode %o, want systemd's %o", m, 0o600)
	}
}

// TestSystemdUnixSocketModeChild is the child process of
// TestSystemdUnixSocketMode.
func TestSystemdUnixSocketModeChild(t *testing.T) {
	path := os.Getenv("KESTREL_TEST_SYSTEMD_UNIX")
	if path == "" {
		t.Skip("run by TestSystemdUnixSocketMode")
	}
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	s := &Server{Logger: discardLogger(), Handler: http.NotFoundHandler()}
	if n, err := s.ListenSystemd(); n != 1 || err != nil {
		t.Fatalf("ListenSystemd = %d, %v", n, err)
	}
	if err := s.ListenEndpoint(Endpoint{UnixPath: path, UnixSocketMode: 0o666}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := s.Addresses(); len(got) != 1 || got[0] != "http://unix:"+path {
		t.Errorf("addresses %q", got)
	}
	s.Close()
}
