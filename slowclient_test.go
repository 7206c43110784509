package kestrel

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// timedListener records when each connection was accepted and closed.
type timedListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*timedConn
}

type timedConn struct {
	net.Conn
	accepted time.Time
	first    atomic.Int64 // unix nanos of the first byte read, 0 before
	closed   atomic.Int64 // unix nanos, 0 while open
	served   atomic.Bool  // a successful response was written
}

func (c *timedConn) Write(p []byte) (int, error) {
	if len(p) >= 10 && string(p[:10]) == "HTTP/1.1 2" {
		c.served.Store(true)
	}
	return c.Conn.Write(p)
}

func (l *timedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &timedConn{Conn: c, accepted: time.Now()}
	l.mu.Lock()
	l.conns = append(l.conns, tc)
	l.mu.Unlock()
	return tc, nil
}

func (c *timedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	return n, err
}

func (c *timedConn) Close() error {
	c.closed.CompareAndSwap(0, time.Now().UnixNano())
	return c.Conn.Close()
}

// TestSlowClients runs slowhttptest in slow-headers and slow-body modes
// against a server with short timeouts: every slow connection must be
// closed within its timeout plus 2 s while a normal client keeps being
// served. scripts/slowhttp.sh runs the long version.
func TestSlowClients(t *testing.T) {
	if testing.Short() {
		t.Skip("slow clients take 20 s")
	}
	if _, err := exec.LookPath("slowhttptest"); err != nil {
		t.Fatal("slowhttptest is not installed; run `make test`, which installs the Debian package slowhttptest")
	}
	for _, mode := range []struct {
		name, flag, path string
		timeout          time.Duration
	}{
		{"slow headers", "-H", "/", 3 * time.Second},
		{"slow body", "-B", "/echo", 4 * time.Second}, // 2 s grace, then 240 bytes/s not met
	} {
		t.Run(mode.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
			s := &Server{Handler: mux, Logger: discardLogger(), Limits: Limits{
				RequestHeadersTimeout:  3 * time.Second,
				MinRequestBodyDataRate: &DataRate{BytesPerSecond: 240, GracePeriod: 2 * time.Second},
			}}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tl := &timedListener{Listener: ln}
			go s.Serve(tl)
			defer s.Close()
			url := "http://" + ln.Addr().String() + mode.path

			// A normal client, all along.
			stop := make(chan struct{})
			var ok, failed atomic.Int64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 2 * time.Second}
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					resp, err := client.Get("http://" + ln.Addr().String() + "/")
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if err == nil && resp.StatusCode == 200 {
						ok.Add(1)
					} else {
						failed.Add(1)
					}
				}
			}()

			conns, length := envInt(t, "SLOWHTTP_CONNS", 300), envInt(t, "SLOWHTTP_SECONDS", 10)
			out, err := exec.Command("slowhttptest", mode.flag, "-c", fmt.Sprint(conns), "-r", "200", "-i", "1", "-x", "4",
				"-s", "8192", "-l", fmt.Sprint(length), "-p", "3", "-u", url).CombinedOutput()
			close(stop)
			wg.Wait()
			if err != nil && !strings.Contains(string(out), "Test ended") {
				t.Fatalf("slowhttptest: %v\n%s", err, out)
			}
			end := time.Now()

			tl.mu.Lock()
			defer tl.mu.Unlock()
			// The heartbeat (1 s ticks) gives a deadline a tick of grace and
			// checks it once a tick: a timeout ends a connection up to two
			// ticks after it, plus the time to close 300 of them at once.
			limit := mode.timeout + 2*time.Second + 500*time.Millisecond
			var slow, late int
			var worst time.Duration
			for _, c := range tl.conns {
				// The timeouts run from a request's first byte.
				start := c.accepted
				if first := c.first.Load(); first != 0 {
					start = time.Unix(0, first)
				}
				closed := c.closed.Load()
				var life time.Duration
				if closed == 0 {
					life = end.Sub(start)
				} else {
					life = time.Unix(0, closed).Sub(start)
				}
				if c.served.Load() {
					continue // the normal client's and slowhttptest's probe connections
				}
				slow++
				worst = max(worst, life)
				if life > limit {
					late++
				}
			}
			t.Logf("%s: %d slow connections, longest lived %v (limit %v); normal client: %d ok, %d failed",
				mode.name, slow, worst.Round(time.Millisecond), limit, ok.Load(), failed.Load())
			if slow < conns/3 {
				t.Errorf("only %d slow connections reached the server", slow)
			}
			if late > 0 {
				t.Errorf("%d slow connections lived longer than %v", late, limit)
			}
			if failed.Load() > 0 || ok.Load() < 50 {
				t.Errorf("normal client during the attack: %d ok, %d failed", ok.Load(), failed.Load())
			}
		})
	}
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
