package kestrel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/kestrel-go/kestrel/internal/loadtest"
)

// TestHandoff hands a server's sockets (TCP and Unix) to a new process
// under load, from clients on keep-alive connections, clients opening a
// connection per request and HTTP/2 clients: no request fails, no
// connection is refused, and the new process serves what comes after.
func TestHandoff(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Handoff is not supported on Windows")
	}
	sock := filepath.Join(t.TempDir(), "app.sock")
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "old")
	})}
	s.ListenURL("http://127.0.0.1:0")
	s.ListenUnix(sock)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tcp := strings.TrimPrefix(s.Addresses()[0], "http://")

	ctx, stopLoad := context.WithCancel(context.Background())
	check := func(b []byte) error {
		if string(b) != "old" && string(b) != "new" {
			return fmt.Errorf("body %q", b)
		}
		return nil
	}
	results := make(chan *loadtest.Result, 2)
	go func() {
		results <- loadtest.Run(ctx, loadtest.Load{Network: "tcp", Address: tcp, KeepAlive: 8, NewConns: 2, Check: check})
	}()
	go func() {
		results <- loadtest.Run(ctx, loadtest.Load{Network: "unix", Address: sock, KeepAlive: 2, NewConns: 1, Check: check})
	}()
	h2Failed := make(chan []string, 4)
	for range 4 { // HTTP/2 (h2c) clients, which go away on GOAWAY
		go func() {
			client := h2cClient(t)
			var errs []string
			for ctx.Err() == nil {
				resp, err := client.Get("http://" + tcp + "/")
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil {
						err = check(b)
					}
					if err == nil && resp.ProtoMajor != 2 {
						err = fmt.Errorf("%s, not HTTP/2", resp.Proto)
					}
				}
				if err != nil {
					errs = append(errs, err.Error())
				}
			}
			h2Failed <- errs
		}()
	}
	time.Sleep(200 * time.Millisecond)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHandoffChild$")
	cmd.Env = append(os.Environ(), "KESTREL_TEST_HANDOFF_SOCK="+sock)
	if err := s.Handoff(cmd); err != nil {
		t.Fatal(err)
	}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	defer func() {
		stdin.Close() // the child stops when its stdin closes
		cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the new process did not start: %q %v", line, err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	begin := time.Now()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	drained := time.Since(begin)
	time.Sleep(200 * time.Millisecond)
	stopLoad()
	for range 2 {
		r := <-results
		t.Logf("%s (the old process drained in %v)", r, drained)
		if r.Failed.Load() > 0 || r.Refused.Load() > 0 || r.Requests.Load() == 0 {
			t.Errorf("%s; first errors: %q", r, r.Errors())
		}
	}
	for range 4 {
		if errs := <-h2Failed; len(errs) > 0 {
			t.Errorf("HTTP/2 requests failed: %q", errs)
		}
	}
	for _, c := range []*http.Client{newClient(t), unixClient(sock)} {
		if body := getBody(t, c, "http://"+tcp+"/"); body != "new" {
			t.Errorf("after the handoff: %q, want the new process", body)
		}
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("the old process removed the Unix socket file: %v", err)
	}
}

// TestHandoffChild is the new process of TestHandoff.
func TestHandoffChild(t *testing.T) {
	sock := os.Getenv("KESTREL_TEST_HANDOFF_SOCK")
	if sock == "" {
		t.Skip("run by TestHandoff")
	}
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "new")
	})}
	if n, err := s.ListenInherited(); n != 2 || err != nil {
		t.Fatalf("ListenInherited = %d, %v", n, err)
	}
	if _, ok := os.LookupEnv(InheritedListenersEnv); ok {
		t.Errorf("%s is still set", InheritedListenersEnv)
	}
	s.ListenURL("http://127.0.0.1:0") // takes the inherited socket of 127.0.0.1, whatever its port
	s.ListenUnix(sock)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	s.Shutdown(context.Background())
}

func TestListenInheritedErrors(t *testing.T) {
	for _, v := range []string{"x", "2:endpoint", "3:other", "3"} {
		t.Setenv(InheritedListenersEnv, v)
		s := &Server{}
		if n, err := s.ListenInherited(); err == nil || n != 0 || !strings.Contains(err.Error(), InheritedListenersEnv) {
			t.Errorf("%s=%s: %d, %v; want an error naming the variable", InheritedListenersEnv, v, n, err)
		}
	}
	os.Unsetenv(InheritedListenersEnv)
	if n, err := (&Server{}).ListenInherited(); n != 0 || err != nil {
		t.Errorf("without the variable: %d, %v", n, err)
	}
	if err := (&Server{}).Handoff(exec.Command("true")); err == nil || errors.Is(err, ErrServerClosed) {
		t.Errorf("Handoff before Start: %v", err)
	}
}

// TestHandoffHTTP3 hands an endpoint serving HTTP/3 to a new process: its
// UDP socket goes too, so the new process starts on the same ports, and
// HTTP/3 requests reach it once the old one has shut down.
func TestHandoffHTTP3(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Handoff is not supported on Windows")
	}
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "old")
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	tr := &http3.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // each process makes its own certificate
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if body := getBody(t, client, "https://"+addr+"/"); body != "old" {
		t.Fatalf("before: %q", body)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHandoffHTTP3Child$")
	cmd.Env = append(os.Environ(), "KESTREL_TEST_HANDOFF_H3=1")
	if err := s.Handoff(cmd); err != nil {
		t.Fatal(err)
	}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready "+addr+"\n" {
		t.Fatalf("the new process did not start on %s: %q %v", addr, line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	tr.CloseIdleConnections()
	if body := getBody(t, client, "https://"+addr+"/"); body != "new" {
		t.Errorf("HTTP/3 after the handoff: %q, want the new process", body)
	}
}

// TestHandoffHTTP3Child is the new process of TestHandoffHTTP3.
func TestHandoffHTTP3Child(t *testing.T) {
	if os.Getenv("KESTREL_TEST_HANDOFF_H3") == "" {
		t.Skip("run by TestHandoffHTTP3")
	}
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "new")
	})}
	if n, err := s.ListenInherited(); n != 2 || err != nil {
		t.Fatalf("ListenInherited = %d, %v; want the TCP and the UDP socket", n, err)
	}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3) // 127.0.0.1:0 takes the inherited sockets
	fmt.Println("ready " + addr)
	io.Copy(io.Discard, os.Stdin)
	s.Shutdown(context.Background())
}
