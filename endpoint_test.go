package kestrel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// unixClient is an HTTP client that dials the Unix socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

func getBody(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func pathHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) })
}

func TestUnixSocketEndpoint(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix socket file modes are a Unix matter")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	// A stale socket file, left by a process that died, is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatal("the stale socket file is missing")
	}

	s := &Server{Handler: pathHandler(), Logger: discardLogger()}
	if err := s.ListenEndpoint(Endpoint{URL: "unix:" + sock, UnixSocketMode: 0o660}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start over a stale socket file: %v", err)
	}
	if got := s.Addresses(); len(got) != 1 || got[0] != "http://unix:"+sock {
		t.Errorf("Addresses = %q", got)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v, want 0660", fi.Mode(), err)
	}
	if got := getBody(t, unixClient(sock), "http://unix/x"); got != "ok /x" {
		t.Errorf("GET over the socket: %q", got)
	}

	// A live one is an error naming it.
	other := &Server{Handler: pathHandler(), Logger: discardLogger()}
	other.ListenUnix(sock)
	if err := other.Start(); err == nil || !strings.Contains(err.Error(), sock) {
		t.Errorf("Start on a live socket: %v, want an error naming %s", err, sock)
	}

	// The file goes away at shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file after shutdown: %v", err)
	}
	if err := (&Server{}).ListenUnix("relative.sock"); err == nil {
		t.Error("a relative socket path was accepted")
	}
}

func TestLocalhostAndIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{Handler: pathHandler(), Logger: discardLogger()}
	s.Listen(fmt.Sprintf("localhost:%d", port))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addrs := s.Addresses()
	v6 := hasIPv6Loopback()
	want := []string{fmt.Sprintf("http://127.0.0.1:%d", port)}
	if v6 {
		want = append(want, fmt.Sprintf("http://[::1]:%d", port))
	}
	if strings.Join(addrs, " ") != strings.Join(want, " ") {
		t.Fatalf("localhost bound %q, want %q", addrs, want)
	}
	for _, a := range addrs {
		if got := getBody(t, http.DefaultClient, a+"/p"); got != "ok /p" {
			t.Errorf("GET %s: %q", a, got)
		}
	}
	if !v6 {
		t.Log("no IPv6 loopback here: the IPv6 cases were not run")
		return
	}
	// Any-address endpoints are dual-stack.
	any := &Server{Handler: pathHandler(), Logger: discardLogger()}
	any.ListenURL("http://*:0")
	if err := any.Start(); err != nil {
		t.Fatal(err)
	}
	defer any.Close()
	p := any.Addresses()[0][strings.LastIndexByte(any.Addresses()[0], ':')+1:]
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		if got := getBody(t, http.DefaultClient, "http://"+host+":"+p+"/d"); got != "ok /d" {
			t.Errorf("dual-stack via %s: %q", host, got)
		}
	}
}

func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func TestReusePort(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SO_REUSEPORT does not exist on Windows")
	}
	a := &Server{Handler: pathHandler(), Logger: discardLogger()}
	a.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ReusePort: true})
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := strings.TrimPrefix(a.Addresses()[0], "http://")
	b := &Server{Handler: pathHandler(), Logger: discardLogger()}
	b.ListenEndpoint(Endpoint{Address: addr, ReusePort: true})
	if err := b.Start(); err != nil {
		t.Fatalf("a second server with ReusePort on %s: %v", addr, err)
	}
	defer b.Close()
	// Without the option the port is taken.
	c := &Server{Logger: discardLogger()}
	c.Listen(addr)
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("without ReusePort: %v, want address in use", err)
	}
}

// TestInheritedSocket passes a listening socket to a child process, as a
// supervisor or systemd does, both as a plain inherited descriptor and
// through LISTEN_FDS.
func TestInheritedSocket(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("inherited descriptors are passed differently on Windows")
	}
	for _, mode := range []string{"file", "systemd"} {
		t.Run(mode, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f, err := ln.(*net.TCPListener).File()
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^TestInheritedSocketChild$")
			cmd.ExtraFiles = []*os.File{f} // descriptor 3
			cmd.Env = append(os.Environ(), "KESTREL_TEST_CHILD="+mode)
			cmd.Stderr = os.Stderr
			stdin, _ := cmd.StdinPipe()
			if mode == "systemd" {
				// LISTEN_PID must be the child's own: the child sets it.
				cmd.Env = append(cmd.Env, "LISTEN_FDS=1")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			defer func() {
				stdin.Close() // the child stops when its stdin closes
				cmd.Wait()
			}()
			var body string
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				resp, err := http.Get("http://" + addr + "/child")
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
				break
			}
			if body != "child "+mode+" /child" {
				t.Errorf("through the inherited socket: %q", body)
			}
		})
	}
}

// TestInheritedSocketChild is the child process of TestInheritedSocket.
func TestInheritedSocketChild(t *testing.T) {
	mode := os.Getenv("KESTREL_TEST_CHILD")
	if mode == "" {
		t.Skip("run by TestInheritedSocket")
	}
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "child "+mode+" "+r.URL.Path)
	})}
	switch mode {
	case "file":
		if err := s.ListenFile(os.NewFile(3, "inherited")); err != nil {
			t.Fatal(err)
		}
	case "systemd":
		os.Setenv("LISTEN_PID", fmt.Sprint(os.Getpid()))
		n, err := s.ListenSystemd()
		if err != nil || n != 1 {
			t.Fatalf("ListenSystemd = %d, %v", n, err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	s.Close()
}

// TestUnixSocketListedTwice: two endpoints of one server on one Unix
// socket (the same path twice, HTTP and HTTPS, or one path spelled two
// ways) fail to start with an error naming both, not with one blaming
// another process, and a Reload that adds such an endpoint is refused.
func TestUnixSocketListedTwice(t *testing.T) {
	t.Parallel()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	for _, tc := range []struct {
		name string
		add  func(s *Server) error
	}{
		{"ListenUnix twice", func(s *Server) error { s.ListenUnix(sock); return s.ListenUnix(sock) }},
		{"HTTP and HTTPS", func(s *Server) error { return s.UseURLs("http://unix:" + sock + ";https://unix:" + sock) }},
		{"two spellings", func(s *Server) error { s.ListenUnix(sock); return s.ListenURL("unix:" + dir + "/./app.sock") }},
		{"two file endpoints", func(s *Server) error {
			return parseTestConfig(t, `{"Kestrel": {"Endpoints": {"A": {"Url": "unix:`+sock+`"}, "B": {"Url": "http://unix:`+sock+`:"}}}}`).Apply(s)
		}},
	} {
		s := &Server{Handler: pathHandler(), Logger: discardLogger(), DefaultHTTPS: &HTTPS{Certificate: cert}}
		if err := tc.add(s); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err := s.Start()
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "use the same Unix socket") || strings.Contains(err.Error(), "another process") {
			t.Errorf("%s: Start: %v, want an error saying both endpoints use the same Unix socket", tc.name, err)
		}
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Errorf("%s: the socket file is left: %v", tc.name, err)
		}
	}

	s, _ := startConfigured(t, pathHandler(), `{"Kestrel": {"Endpoints": {"A": {"Url": "unix:`+sock+`"}}}}`)
	err = s.Reload(parseTestConfig(t, `{"Kestrel": {"Endpoints": {"A": {"Url": "unix:`+sock+`"}, "B": {"Url": "unix:`+dir+`/./app.sock"}}}}`))
	if err == nil || !strings.Contains(err.Error(), "use the same Unix socket") {
		t.Errorf("Reload adding a second endpoint on the socket: %v", err)
	}
	if got := getBody(t, unixClient(sock), "http://unix/x"); got != "ok /x" {
		t.Errorf("after the refused reload: %q", got)
	}
}

// TestListenFileOwnership: the server owns the socket ListenFile gives
// it from the call on: Close and Shutdown close it even before Start, a
// closed server closes it at once, and a Start that fails keeps it for
// the next try rather than closing it.
func TestListenFileOwnership(t *testing.T) {
	t.Parallel()
	// inherited returns a listening socket's file, the only descriptor of
	// the socket, and its address.
	inherited := func(t *testing.T) (*os.File, string) {
		t.Helper()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		return f, l.Addr().String()
	}
	refused := func(t *testing.T, addr, when string) {
		t.Helper()
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("the inherited socket still listens %s", when)
		}
	}
	for _, tc := range []struct {
		name string
		stop func(*Server) error
	}{
		{"Close", (*Server).Close},
		{"Shutdown", func(s *Server) error { return s.Shutdown(context.Background()) }},
	} {
		t.Run(tc.name+" before Start", func(t *testing.T) {
			t.Parallel()
			f, addr := inherited(t)
			s := &Server{Logger: quietLogger}
			if err := s.ListenFile(f); err != nil {
				t.Fatal(err)
			}
			if err := tc.stop(s); err != nil {
				t.Fatal(err)
			}
			refused(t, addr, "after "+tc.name)
		})
	}
	t.Run("closed server", func(t *testing.T) {
		t.Parallel()
		s := &Server{Logger: quietLogger}
		s.Close()
		f, addr := inherited(t)
		if err := s.ListenFile(f); !errors.Is(err, ErrServerClosed) {
			t.Errorf("ListenFile on a closed server: %v, want ErrServerClosed", err)
		}
		refused(t, addr, "after ListenFile refused it")
	})
	t.Run("failed Start", func(t *testing.T) {
		t.Parallel()
		busy, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		f, addr := inherited(t)
		s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "inherited")
		})}
		defer s.Close()
		if err := s.ListenFile(f); err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(busy.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err == nil {
			t.Fatal("Start succeeded with an address in use")
		}
		busy.Close()
		if err := s.Start(); err != nil {
			t.Fatalf("Start once the address is free: %v", err)
		}
		if _, body := get(t, newClient(t), "http://"+addr+"/"); body != "inherited" {
			t.Errorf("through the inherited socket: %q", body)
		}
	})
}
