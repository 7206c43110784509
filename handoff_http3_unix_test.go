//go:build unix

package kestrel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// handOffInProcess hands s's sockets to the next server of this process
// that calls ListenInherited, as Handoff does to a new process: the
// descriptors are copies this process owns, named in InheritedListenersEnv.
func handOffInProcess(t *testing.T, s *Server) {
	t.Helper()
	cmd := exec.Command("true")
	cmd.Env = []string{}
	if err := s.Handoff(cmd); err != nil {
		t.Fatal(err)
	}
	var spec string
	for _, kv := range cmd.Env {
		if v, ok := strings.CutPrefix(kv, InheritedListenersEnv+"="); ok {
			spec = v
		}
	}
	var items []string
	for _, item := range strings.Split(spec, ",") {
		fd, role, _ := strings.Cut(item, ":")
		n, err := strconv.Atoi(fd)
		if err != nil {
			t.Fatalf("%s=%s: %v", InheritedListenersEnv, spec, err)
		}
		dup, err := unix.FcntlInt(cmd.ExtraFiles[n-3].Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, fmt.Sprintf("%d:%s", dup, role))
	}
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	t.Setenv(InheritedListenersEnv, strings.Join(items, ","))
}

// udpRelay passes the datagrams of one client to a server and back,
// dropping those to the server while blackout is set: as the UDP socket's
// other reader after Handoff would read them.
type udpRelay struct {
	pc       net.PacketConn
	blackout atomic.Bool
}

func newUDPRelay(t *testing.T, server string) *udpRelay {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); up.Close() })
	r := &udpRelay{pc: pc}
	var client atomic.Pointer[net.Addr]
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			client.Store(&from)
			if !r.blackout.Load() {
				up.Write(buf[:n])
			}
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP port unreachable
			}
			if to := client.Load(); to != nil {
				pc.WriteTo(buf[:n], *to)
			}
		}
	}()
	return r
}

// TestHandoffHTTP3BusyClient: after Handoff, an HTTP/3 client busy on its
// connection loses no request when the packets of one it sends as the
// old process drains go astray for a while (read by the new process,
// which shares the UDP socket, and sent again by QUIC): Shutdown tells it
// to go away (GOAWAY) at once, so its next requests go to the new
// process, where it used to find its connection idle after the grace
// second and close it, with a request on its way in.
func TestHandoffHTTP3BusyClient(t *testing.T) {
	serve := func(name string) *Server {
		return &Server{ShutdownTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		})}
	}
	old, addr := h3Server(t, serve("old"), HTTP1AndHTTP2AndHTTP3)
	relay := newUDPRelay(t, addr)
	url := "https://" + relay.pc.LocalAddr().String() + "/"
	client := h3Client(t)
	if body := getBody(t, client, url); body != "old" {
		t.Fatalf("before: %q", body)
	}

	handOffInProcess(t, old)
	next := serve("new")
	if n, err := next.ListenInherited(); n != 2 || err != nil {
		t.Fatalf("ListenInherited = %d, %v", n, err)
	}
	if _, addr2 := h3Server(t, next, HTTP1AndHTTP2AndHTTP3); addr2 != addr {
		t.Fatalf("the new server is on %s, not %s", addr2, addr)
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var mu sync.Mutex
	var failed []string
	var served atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := client.Get(url)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && string(b) != "old" && string(b) != "new" {
						err = fmt.Errorf("body %q", b)
					}
				}
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					continue
				}
				served.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	// The client's datagrams go astray from a little before the old
	// server's grace second ends to a little after.
	time.AfterFunc(handoffIdleGrace-150*time.Millisecond, func() { relay.blackout.Store(true) })
	time.AfterFunc(handoffIdleGrace+250*time.Millisecond, func() { relay.blackout.Store(false) })
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := old.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	time.Sleep(handoffIdleGrace + 400*time.Millisecond - time.Duration(0))
	stop()
	wg.Wait()
	if len(failed) > 0 || served.Load() == 0 {
		t.Errorf("%d requests served, %d failed: %q", served.Load(), len(failed), failed)
	}
}
