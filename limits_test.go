package kestrel

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startLimited starts a server with the given limits and handler on a free
// loopback port and returns its address.
func startLimited(t *testing.T, limits Limits, h http.Handler) string {
	t.Helper()
	s := &Server{Handler: h, Limits: limits}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "http://")
}

func TestMinRequestBodyDataRate(t *testing.T) {
	t.Parallel()
	bodyErr := make(chan error, 1)
	addr := startLimited(t, Limits{MinRequestBodyDataRate: &DataRate{BytesPerSecond: 1000, GracePeriod: 2 * time.Second}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			bodyErr <- err
		}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
	// Trickle a byte a second, far below 1000 bytes/s.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				c.Write([]byte("x"))
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("got %d close=%v, want 408 with Connection: close", resp.StatusCode, resp.Close)
	}
	if d := time.Since(start); d < 2*time.Second || d > 6*time.Second {
		t.Errorf("timed out after %v, want between the grace period (2s) and 6s", d)
	}
	if err := <-bodyErr; err == nil {
		t.Error("the handler's read succeeded")
	}
}

func TestMinRequestBodyDataRateOffPerRequest(t *testing.T) {
	t.Parallel()
	addr := startLimited(t, Limits{MinRequestBodyDataRate: &DataRate{BytesPerSecond: 1000, GracePeriod: 2 * time.Second}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := SetMinRequestBodyDataRate(r, DataRate{}); err != nil {
				t.Error(err)
			}
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
			}
			w.Write(b)
		}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\na")
	for _, b := range []string{"b", "c", "d"} {
		time.Sleep(1100 * time.Millisecond)
		io.WriteString(c, b)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "abcd" {
		t.Errorf("got %d %q, want 200 abcd", resp.StatusCode, b)
	}
}

func TestMinResponseDataRate(t *testing.T) {
	t.Parallel()
	writeErr := make(chan error, 1)
	addr := startLimited(t, Limits{MinResponseDataRate: &DataRate{BytesPerSecond: 100_000, GracePeriod: 2 * time.Second}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 64<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					writeErr <- err
					return
				}
			}
		}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// Never read: the server's writes stall once the socket buffers fill.
	select {
	case err := <-writeErr:
		if d := time.Since(start); d < 2*time.Second || d > 8*time.Second {
			t.Errorf("aborted after %v, want between the grace period (2s) and 8s", d)
		}
		if err == nil {
			t.Error("write error is nil")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the stalled response was not aborted")
	}
	// The connection is closed: reading everything ends.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("reading the aborted response: %v", err)
	}
}
