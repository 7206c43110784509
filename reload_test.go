package kestrel

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedHandler answers "hello <path>"; GET /wait waits until release is
// closed, after saying so on started.
type gatedHandler struct {
	started chan struct{}
	release chan struct{}
}

func newGated() *gatedHandler {
	return &gatedHandler{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gatedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/wait" {
		g.started <- struct{}{}
		<-g.release
	}
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
	}
	fmt.Fprintf(w, "hello %s", r.URL.Path)
}

// parseTestConfig parses a configuration file's JSON.
func parseTestConfig(t *testing.T, json string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(json), filepath.Join(t.TempDir(), "kestrel.json"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startConfigured starts a server configured by json, logging at debug
// level to the returned buffer.
func startConfigured(t *testing.T, h http.Handler, json string) (*Server, *lockedBuffer) {
	t.Helper()
	log := &lockedBuffer{}
	s := &Server{Handler: h, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if err := parseTestConfig(t, json).Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, log
}

func reloadJSON(t *testing.T, s *Server, json string) {
	t.Helper()
	if err := s.Reload(parseTestConfig(t, json)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}

// rawConn is a client connection that sends requests one at a time.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, network, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// send writes a request and returns its response (whose body is read).
func (c *rawConn) send(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	c.start(t, method, path, body)
	return c.response(t)
}

func (c *rawConn) start(t *testing.T, method, path, body string) {
	t.Helper()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
}

func (c *rawConn) response(t *testing.T) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// closedWithin reports whether the server closes the connection within d.
func (c *rawConn) closedWithin(d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	return err == io.EOF || err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// addrOf returns the address of the server's endpoint whose URL has the
// prefix, such as "http://127.0.0.1:" or "http://unix:".
func addrOf(t *testing.T, s *Server, prefix string) string {
	t.Helper()
	for _, a := range s.Addresses() {
		if rest, ok := strings.CutPrefix(a, prefix); ok {
			if strings.HasSuffix(prefix, "unix:") {
				return rest
			}
			return strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://")
		}
	}
	t.Fatalf("no endpoint %s* in %q", prefix, s.Addresses())
	return ""
}

// An added endpoint is bound; the endpoint kept keeps its socket and its
// connections, which go on as before.
func TestReloadAddsEndpoint(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "b.sock")
	s, log := startConfigured(t, newGated(), `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	a := addrOf(t, s, "http://127.0.0.1:")
	c := dialRaw(t, "tcp", a)
	if resp, body := c.send(t, "GET", "/one", ""); body != "hello /one" || resp.Close {
		t.Fatalf("before: %q close=%v", body, resp.Close)
	}

	reloadJSON(t, s, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "unix:`+sock+`"}}}}`)
	if got := addrOf(t, s, "http://127.0.0.1:"); got != a {
		t.Errorf("endpoint A moved from %s to %s", a, got)
	}
	if resp, body := c.send(t, "GET", "/two", ""); body != "hello /two" || resp.Close {
		t.Errorf("the connection to the endpoint kept: %q close=%v; want it served and kept alive", body, resp.Close)
	}
	b := dialRaw(t, "unix", addrOf(t, s, "http://unix:"))
	if _, body := b.send(t, "GET", "/b", ""); body != "hello /b" {
		t.Errorf("the endpoint added: %q", body)
	}
	if !strings.Contains(log.String(), "Config changed. Starting the following endpoints: 'unix:"+sock+"'") ||
		strings.Contains(log.String(), "Stopping the following endpoints") {
		t.Errorf("the log does not say that only B started:\n%s", log)
	}
}

// A removed endpoint stops accepting; its idle connections close at once,
// and the request in flight finishes with Connection: close.
func TestReloadRemovesEndpoint(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "b.sock")
	g := newGated()
	s, log := startConfigured(t, g, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "unix:`+sock+`"}}}}`)
	a := addrOf(t, s, "http://127.0.0.1:")
	onA := dialRaw(t, "tcp", a)
	onA.send(t, "GET", "/", "")
	idle := dialRaw(t, "unix", sock)
	idle.send(t, "GET", "/", "")
	busy := dialRaw(t, "unix", sock)
	busy.start(t, "GET", "/wait", "")
	<-g.started

	start := time.Now()
	reloadJSON(t, s, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	if !idle.closedWithin(2 * time.Second) {
		t.Error("the idle connection to the removed endpoint is still open")
	} else if d := time.Since(start); d > time.Second {
		t.Errorf("the idle connection closed %v after the reload, want at once", d)
	}
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("the removed endpoint still accepts connections")
	}
	if addrs := s.Addresses(); len(addrs) != 1 {
		t.Errorf("Addresses() = %q, want A only", addrs)
	}
	close(g.release)
	if resp, body := busy.response(t); body != "hello /wait" || !resp.Close {
		t.Errorf("the request in flight: %q close=%v; want it answered with Connection: close", body, resp.Close)
	}
	if !busy.closedWithin(2 * time.Second) {
		t.Error("the busy connection stayed open after its response")
	}
	if resp, body := onA.send(t, "GET", "/a", ""); body != "hello /a" || resp.Close {
		t.Errorf("the endpoint kept: %q close=%v", body, resp.Close)
	}
	if !strings.Contains(log.String(), "Config changed. Stopping the following endpoints: 'unix:"+sock+"'") {
		t.Errorf("the log does not name the endpoint stopped:\n%s", log)
	}
}

// A changed endpoint on the same address keeps its socket, so connections
// keep being accepted through the change; its old connections drain and
// new ones get the new options.
func TestReloadChangesEndpoint(t *testing.T) {
	t.Parallel()
	g := newGated()
	s, log := startConfigured(t, g, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	a := addrOf(t, s, "http://127.0.0.1:")
	idle := dialRaw(t, "tcp", a)
	idle.send(t, "GET", "/", "")
	busy := dialRaw(t, "tcp", a)
	busy.start(t, "GET", "/wait", "")
	<-g.started

	// New connections, each with one request, all through the change.
	stop := make(chan struct{})
	var served, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: true}
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://" + a + "/new")
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				served.Add(1)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	reloadJSON(t, s, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0", "LogConnections": true}}}}`)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || served.Load() == 0 {
		t.Errorf("new connections through the change: %d served, %d failed (%v)", served.Load(), failed.Load(), firstErr.Load())
	}
	if got := addrOf(t, s, "http://127.0.0.1:"); got != a {
		t.Errorf("the endpoint moved from %s to %s", a, got)
	}
	if !idle.closedWithin(2 * time.Second) {
		t.Error("the idle connection of the old endpoint is still open")
	}
	close(g.release)
	if resp, body := busy.response(t); body != "hello /wait" || !resp.Close {
		t.Errorf("the request in flight: %q close=%v; want it answered with Connection: close", body, resp.Close)
	}
	fresh := dialRaw(t, "tcp", a)
	if resp, body := fresh.send(t, "GET", "/after", ""); body != "hello /after" || resp.Close {
		t.Errorf("a new connection: %q close=%v", body, resp.Close)
	}
	// The new options apply: connections are logged (LogConnections).
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(log.String(), "connection opened") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "connection opened") {
		t.Errorf("LogConnections does not apply to new connections:\n%s", lastLines(log.String(), 20))
	}
	if !strings.Contains(log.String(), "Stopping the following endpoints: 'http://127.0.0.1:0'") ||
		!strings.Contains(log.String(), "Starting the following endpoints: 'http://127.0.0.1:0'") {
		t.Errorf("the log does not say the endpoint restarted:\n%s", lastLines(log.String(), 20))
	}
}

// freePorts returns n TCP ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Endpoints that trade addresses take each other's sockets; one that moves
// to a new address is bound there and its old address closes.
func TestReloadMovesEndpoints(t *testing.T) {
	t.Parallel()
	p := freePorts(t, 3)
	cfg := func(a, b int) string {
		return fmt.Sprintf(`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:%d"}, "B": {"Url": "http://127.0.0.1:%d"}}}}`, a, b)
	}
	s, _ := startConfigured(t, newGated(), cfg(p[0], p[1]))
	reloadJSON(t, s, cfg(p[1], p[0]))
	want := []string{fmt.Sprintf("http://127.0.0.1:%d", p[1]), fmt.Sprintf("http://127.0.0.1:%d", p[0])}
	if got := s.Addresses(); !slices.Equal(got, want) {
		t.Errorf("after the swap: %q, want %q", got, want)
	}
	reloadJSON(t, s, cfg(p[1], p[2]))
	for _, port := range []int{p[1], p[2]} {
		c := dialRaw(t, "tcp", fmt.Sprint("127.0.0.1:", port))
		if _, body := c.send(t, "GET", "/x", ""); body != "hello /x" {
			t.Errorf("port %d: %q", port, body)
		}
	}
	if c, err := net.Dial("tcp", fmt.Sprint("127.0.0.1:", p[0])); err == nil {
		c.Close()
		t.Errorf("port %d still accepts connections after its endpoint moved", p[0])
	}
}

// New limits apply to new connections; the connections open keep theirs.
func TestReloadLimits(t *testing.T) {
	t.Parallel()
	cfg := func(body, conns int) string {
		return fmt.Sprintf(`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}},
			"Limits": {"MaxRequestBodySize": %d, "MaxConcurrentConnections": %d}}}`, body, conns)
	}
	s, _ := startConfigured(t, newGated(), cfg(1000, 2))
	a := addrOf(t, s, "http://127.0.0.1:")
	old := dialRaw(t, "tcp", a)
	old.send(t, "GET", "/", "")
	second := dialRaw(t, "tcp", a)
	second.send(t, "GET", "/", "")
	if third := dialRaw(t, "tcp", a); !third.closedWithin(2 * time.Second) {
		t.Fatal("a third connection was accepted over MaxConcurrentConnections 2")
	}

	reloadJSON(t, s, cfg(4000, 3))
	body := strings.Repeat("x", 2000)
	if resp, _ := old.send(t, "POST", "/echo", body); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a connection opened before the reload: %d, want 413 under its old 1000-byte limit", resp.StatusCode)
	}
	fresh := dialRaw(t, "tcp", a) // the third: the limit is 3 now
	if resp, got := fresh.send(t, "POST", "/echo", body); resp.StatusCode != http.StatusOK || got != "hello /echo" {
		t.Errorf("a new connection: %d %q, want 200 under the new 4000-byte limit", resp.StatusCode, got)
	}
	if resp, _ := second.send(t, "GET", "/", ""); resp.Close {
		t.Error("a limit change closed a connection")
	}

	reloadJSON(t, s, cfg(4000, 1)) // lower: three are open; none is closed, no new one is accepted
	if c := dialRaw(t, "tcp", a); !c.closedWithin(2 * time.Second) {
		t.Error("a connection was accepted over the lowered MaxConcurrentConnections")
	}
	if resp, got := second.send(t, "GET", "/still", ""); got != "hello /still" || resp.Close {
		t.Errorf("a connection open when the limit was lowered: %q close=%v", got, resp.Close)
	}
}

// An invalid configuration, or one with an endpoint that cannot be bound,
// is refused with an error naming the key or URL, and the server goes on
// as it was.
func TestReloadRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "b.sock")
	const good = `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySize": 1000}}}`
	s, _ := startConfigured(t, newGated(), good)
	a := addrOf(t, s, "http://127.0.0.1:")
	c := dialRaw(t, "tcp", a)
	c.send(t, "GET", "/", "")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := fmt.Sprint(freePorts(t, 1)[0])

	for _, tc := range []struct{ json, want string }{
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}, "Limits": {"MaxRequestBodySiz": 10}}}`, `"Kestrel:Limits:MaxRequestBodySiz"`},
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}, "Limits": {"KeepAliveTimeout": "soon"}}}`, "Kestrel:Limits:KeepAliveTimeout"},
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "ftp://x"}}}}`, "Kestrel:Endpoints:B"},
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}, "ShutdownTimeout": "-00:00:01"}}`, "Kestrel:ShutdownTimeout"},
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "unix:` + sock + `"}, "C": {"Url": "http://` + taken.Addr().String() + `"}}}}`, "http://" + taken.Addr().String()},
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "http://127.0.0.1:` + port + `"}, "C": {"Url": "https://127.0.0.1:` + port + `"}}}}`,
			"http://127.0.0.1:" + port + " (kestrel.json: Kestrel:Endpoints:B) and https://127.0.0.1:" + port + " (kestrel.json: Kestrel:Endpoints:C) use port"},
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "https://127.0.0.1:0", "Sni": {"a.test": {"Certificate": {"Path": "/nonexistent/a.pem"}}}}}}}`, `Kestrel:Endpoints:B (https://127.0.0.1:0): SNI entry "a.test": `},
	} {
		cfg, err := ParseConfig([]byte(tc.json), "kestrel.json", nil, nil)
		if err == nil {
			err = s.Reload(cfg)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.json, err, tc.want)
		}
	}
	if got := s.Addresses(); len(got) != 1 || got[0] != "http://"+a {
		t.Errorf("after the refused reloads: %q", got)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("the endpoint of a refused configuration was left bound")
	}
	if resp, _ := c.send(t, "POST", "/", strings.Repeat("x", 2000)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("the connection open through the refused reloads: %d, want the old limit's 413", resp.StatusCode)
	}
	fresh := dialRaw(t, "tcp", a)
	if resp, _ := fresh.send(t, "POST", "/", strings.Repeat("x", 2000)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a new connection: %d, want 413: the running limits stay", resp.StatusCode)
	}
}

// Certificate and SNI changes in the configuration apply to new handshakes.
func TestReloadCertificates(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	c1, k1 := pki.issue(t, "one", false, "127.0.0.1", "a.test")
	c2, k2 := pki.issue(t, "two", false, "127.0.0.1", "a.test")
	c3, k3 := pki.issue(t, "three", false, "b.test")
	cfg := func(cert, key, sniCert, sniKey string) string {
		return fmt.Sprintf(`{"Kestrel": {"Endpoints": {
			"Own": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": %q, "KeyPath": %q}},
			"Sni": {"Url": "https://127.0.0.1:0", "Sni": {"a.test": {"Certificate": {"Path": %q, "KeyPath": %q}},
			                                              "b.test": {"Certificate": {"Path": %q, "KeyPath": %q}}}}}}}`,
			cert, key, sniCert, sniKey, c3, k3)
	}
	s, _ := startConfigured(t, newGated(), cfg(c1, k1, c1, k1))
	addrs := s.Addresses()
	subject := func(addr, sni string) string {
		t.Helper()
		conn, err := tls.Dial("tcp", strings.TrimPrefix(addr, "https://"), &tls.Config{RootCAs: pki.pool, ServerName: sni})
		if err != nil {
			t.Fatalf("%s (SNI %q): %v", addr, sni, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if a, b := subject(addrs[0], "127.0.0.1"), subject(addrs[1], "a.test"); a != "one" || b != "one" {
		t.Fatalf("before: %s, %s", a, b)
	}
	reloadJSON(t, s, cfg(c2, k2, c2, k2))
	if got := s.Addresses(); !slices.Equal(got, addrs) {
		t.Errorf("the endpoints moved: %q -> %q", addrs, got)
	}
	if a, b, c := subject(addrs[0], "127.0.0.1"), subject(addrs[1], "a.test"), subject(addrs[1], "b.test"); a != "two" || b != "two" || c != "three" {
		t.Errorf("after: own %s, SNI a.test %s, b.test %s; want two, two, three", a, b, c)
	}
}

func TestReloadNeedsAStartedServer(t *testing.T) {
	s := &Server{Logger: discardLogger()}
	if err := s.Reload(parseTestConfig(t, `{"Kestrel": {}}`)); err == nil || !strings.Contains(err.Error(), "Apply") {
		t.Errorf("Reload before Start: %v", err)
	}
	s.Close()
	if err := s.Reload(parseTestConfig(t, `{"Kestrel": {}}`)); err != ErrServerClosed {
		t.Errorf("Reload after Close: %v", err)
	}
}

// TestReloadDuringDrainDelay: once Shutdown has begun, during its drain
// delay too, Reload is refused with ErrServerClosed and binds nothing, as
// Kestrel stops following its configuration when it stops: an endpoint it
// started then would serve keep-alive connections through the drain.
func TestReloadDuringDrainDelay(t *testing.T) {
	t.Parallel()
	const cfg = `{"Kestrel": {"DrainDelay": "00:00:05", "Endpoints": {%s}}}`
	s, _ := startConfigured(t, newGated(), fmt.Sprintf(cfg, `"A": {"Url": "http://127.0.0.1:0"}`))
	a := addrOf(t, s, "http://127.0.0.1:")
	go s.Shutdown(context.Background())
	for s.State() != StateDraining {
		time.Sleep(time.Millisecond)
	}
	err := s.Reload(parseTestConfig(t, fmt.Sprintf(cfg, `"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "http://127.0.0.1:0"}`)))
	if err != ErrServerClosed {
		t.Errorf("Reload during the drain delay: %v, want ErrServerClosed", err)
	}
	if got := s.Addresses(); len(got) != 1 || got[0] != "http://"+a {
		t.Errorf("after a Reload during the drain delay: %q, want only http://%s", got, a)
	}
	c := dialRaw(t, "tcp", a)
	if resp, body := c.send(t, "GET", "/x", ""); body != "hello /x" || !resp.Close {
		t.Errorf("during the drain delay: %q close=%v, want an answer with Connection: close", body, resp.Close)
	}
}

// h2cClient speaks HTTP/2 with prior knowledge over cleartext.
func h2cClient(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// An HTTP/2 connection of a changed endpoint finishes its stream in flight
// and goes away (GOAWAY); the client's next request opens a connection to
// the endpoint's new listener.
func TestReloadDrainsHTTP2(t *testing.T) {
	t.Parallel()
	g := newGated()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			g.started <- struct{}{}
			<-g.release
		}
		fmt.Fprintf(w, "%s %s", r.Proto, r.RemoteAddr)
	})
	s, _ := startConfigured(t, h, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	base := "http://" + addrOf(t, s, "http://127.0.0.1:")
	client := h2cClient(t)
	_, first := get(t, client, base+"/")
	if !strings.HasPrefix(first, "HTTP/2.0 ") {
		t.Fatalf("not HTTP/2: %q", first)
	}
	inFlight := make(chan string, 1)
	go func() {
		resp, err := client.Get(base + "/wait")
		if err != nil {
			inFlight <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inFlight <- string(b)
	}()
	<-g.started
	reloadJSON(t, s, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0", "LogConnections": true}}}}`)
	close(g.release)
	if got := <-inFlight; got != first {
		t.Errorf("the stream in flight: %q, want it answered on its connection (%q)", got, first)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, after := get(t, client, base+"/")
		if after != first {
			break // a new connection
		}
		if time.Now().After(deadline) {
			t.Fatal("the HTTP/2 connection of the changed endpoint stays in use")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadURLsAgainstFileEndpoints: the URLs of UseURLs serve only while
// the configuration has no endpoints, at Start and after each Reload, so
// that a reload serves what a restart with the same file and URLs would.
func TestReloadURLsAgainstFileEndpoints(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "file.sock")
	const noEndpoints = `{"Kestrel": {"Limits": {"MaxRequestBodySize": 100}}}`
	withEndpoint := `{"Kestrel": {"Endpoints": {"File": {"Url": "unix:` + sock + `"}}}}`
	// kinds are the addresses a server serves, with the TCP ports left out.
	kinds := func(s *Server) string {
		var out []string
		for _, a := range s.Addresses() {
			if i := strings.LastIndexByte(a, ':'); strings.HasPrefix(a, "http://127.0.0.1:") && i > 0 {
				a = a[:i+1] + "PORT"
			}
			out = append(out, a)
		}
		return strings.Join(out, " ")
	}
	start := func(json string) (*Server, *lockedBuffer) {
		log := &lockedBuffer{}
		s := &Server{Handler: newGated(), Logger: slog.New(slog.NewTextHandler(log, nil))}
		if err := parseTestConfig(t, json).Apply(s); err != nil {
			t.Fatal(err)
		}
		if err := s.UseURLs("http://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		return s, log
	}
	restarted := func(json string) string {
		s, _ := start(json)
		defer s.Close()
		return kinds(s)
	}
	wantURLs, wantFile := restarted(noEndpoints), restarted(withEndpoint)
	if wantURLs != "http://127.0.0.1:PORT" || wantFile != "http://unix:"+sock {
		t.Fatalf("at start: %q without endpoints in the file, %q with; want the URL, then the file's endpoint only", wantURLs, wantFile)
	}

	s, log := start(noEndpoints)
	defer s.Close()
	urlAddr := addrOf(t, s, "http://127.0.0.1:")
	onURL := dialRaw(t, "tcp", urlAddr)
	onURL.send(t, "GET", "/", "")

	reloadJSON(t, s, withEndpoint)
	if got := kinds(s); got != wantFile {
		t.Errorf("after a reload that adds an endpoint: %q, want %q as a restart serves", got, wantFile)
	}
	if !onURL.closedWithin(2 * time.Second) {
		t.Error("the idle connection to the URL stayed open")
	}
	if c, err := net.Dial("tcp", urlAddr); err == nil {
		c.Close()
		t.Errorf("the URL's address %s still accepts connections", urlAddr)
	}
	if _, body := dialRaw(t, "unix", sock).send(t, "GET", "/file", ""); body != "hello /file" {
		t.Errorf("the file's endpoint: %q", body)
	}
	if !strings.Contains(log.String(), "Overriding address(es) 'http://127.0.0.1:0'. Binding to endpoints defined in code or the configuration file instead.") {
		t.Errorf("the log does not say that the file's endpoints override the URLs:\n%s", log)
	}

	reloadJSON(t, s, noEndpoints)
	if got := kinds(s); got != wantURLs {
		t.Errorf("after a reload that removes the endpoints: %q, want %q as a restart serves", got, wantURLs)
	}
	if _, body := dialRaw(t, "tcp", addrOf(t, s, "http://127.0.0.1:")).send(t, "GET", "/url", ""); body != "hello /url" {
		t.Errorf("the URL, served again: %q", body)
	}
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("the removed endpoint still accepts connections")
	}
	reloadJSON(t, s, noEndpoints) // no change: the URL keeps its socket
	if got := kinds(s); got != wantURLs {
		t.Errorf("after a reload without a change: %q", got)
	}
}

// TestReloadURLsStayOffWithCodeEndpoints: an endpoint added in code
// overrides the URLs for good; a configuration without endpoints does not
// bring them back.
func TestReloadURLsStayOffWithCodeEndpoints(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: newGated(), Logger: discardLogger()}
	if err := parseTestConfig(t, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`).Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(Endpoint{UnixPath: filepath.Join(t.TempDir(), "code.sock")}); err != nil {
		t.Fatal(err)
	}
	s.UseURLs("http://127.0.0.1:0")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reloadJSON(t, s, `{"Kestrel": {}}`)
	if addrs := s.Addresses(); len(addrs) != 1 || !strings.HasPrefix(addrs[0], "http://unix:") {
		t.Errorf("Addresses() = %q, want the endpoint from code only", addrs)
	}
}

// TestReloadAbortsUpgradedConnections: the upgraded connections of an
// endpoint a reload stops are aborted after the shutdown timeout, as its
// other connections are, whether their handler still runs or returned
// and left the connection to a goroutine; those of the endpoints kept
// stay open.
func TestReloadAbortsUpgradedConnections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		returns bool // the handler returns, leaving the connection to a goroutine
	}{
		{"handler holds it", false},
		{"handler returned", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "Upgrade")
				w.Header().Set("Upgrade", "echo")
				w.WriteHeader(http.StatusSwitchingProtocols)
				c, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				echo := func() {
					defer c.Close()
					io.Copy(c, brw)
				}
				if tc.returns {
					go echo()
					return
				}
				echo()
			})
			const cfg = `{"Kestrel": {"ShutdownTimeout": "00:00:01", "Endpoints": {%s}}}`
			p := freePorts(t, 2)
			addrs := []string{fmt.Sprint("http://127.0.0.1:", p[0]), fmt.Sprint("http://127.0.0.1:", p[1])}
			s, log := startConfigured(t, h, fmt.Sprintf(cfg, `"A": {"Url": "`+addrs[0]+`"}, "B": {"Url": "`+addrs[1]+`"}`))
			upgrade := func(url string) *rawConn {
				c := dialRaw(t, "tcp", strings.TrimPrefix(url, "http://"))
				c.start(t, "GET", "/", "")
				if resp, _ := c.response(t); resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("%s: %s, want 101", url, resp.Status)
				}
				return c
			}
			removed, kept := upgrade(addrs[0]), upgrade(addrs[1])

			start := time.Now()
			reloadJSON(t, s, fmt.Sprintf(cfg, `"B": {"Url": "`+addrs[1]+`"}`))
			if !removed.closedWithin(5 * time.Second) {
				t.Fatalf("the upgraded connection of the removed endpoint is open %v after the reload, over the 1 s shutdown timeout", time.Since(start).Round(time.Millisecond))
			}
			if d := time.Since(start); d < 900*time.Millisecond {
				t.Errorf("the upgraded connection of the removed endpoint was closed after %v, before the shutdown timeout", d)
			}
			io.WriteString(kept, "ping")
			kept.SetReadDeadline(time.Now().Add(2 * time.Second))
			if b := make([]byte, 4); func() bool { _, err := io.ReadFull(kept.br, b); return err != nil || string(b) != "ping" }() {
				t.Error("the upgraded connection of the endpoint kept no longer echoes")
			}
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(log.String(), "EndpointConnectionsAborted") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(log.String(), "1 were aborted") {
				t.Errorf("the log does not count the aborted connection:\n%s", lastLines(log.String(), 10))
			}
		})
	}
}

// TestReloadRefusesACMEWithoutChallenge: a configuration whose new ACME
// endpoint could answer no challenge (only HTTP-01 allowed, and no plain
// http:// endpoint left) is refused with the error that says so, and
// changes nothing: the endpoint it removes goes on serving.
func TestReloadRefusesACMEWithoutChallenge(t *testing.T) {
	t.Parallel()
	s, _ := startConfigured(t, newGated(), `{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`)
	before := s.Addresses()
	err := s.Reload(parseTestConfig(t, `{"Kestrel": {
		"Acme": {"Domains": ["a.example"], "AgreeToTerms": true, "Storage": "`+t.TempDir()+`", "CA": "https://127.0.0.1:1/dir", "Challenges": ["http-01"]},
		"Endpoints": {"Https": {"Url": "https://127.0.0.1:0"}}}}`))
	if err == nil || !strings.Contains(err.Error(), "Kestrel:Endpoints:Https") || !strings.Contains(err.Error(), "no ACME challenge can be answered") {
		t.Errorf("Reload: %v, want the error naming the endpoint that can answer no ACME challenge", err)
	}
	if got := s.Addresses(); !slices.Equal(got, before) {
		t.Errorf("after the refused reload: %q, want %q as before", got, before)
	}
	c := dialRaw(t, "tcp", strings.TrimPrefix(before[0], "http://"))
	if _, body := c.send(t, "GET", "/x", ""); body != "hello /x" {
		t.Errorf("the endpoint of the configuration kept: %q", body)
	}
}

// A reload that moves an endpoint from one address of a port to an
// overlapping one (127.0.0.1:P to *:P) is refused by the operating system
// while the old socket listens, and Reload binds before it stops: the
// error says that this server holds the port, with which endpoint, and how
// to make the change; the server goes on as it was, and the two reloads
// the error suggests work.
func TestReloadOverlappingBindOnHeldPort(t *testing.T) {
	t.Parallel()
	port := freePorts(t, 1)[0]
	cfg := func(url string) string {
		return fmt.Sprintf(`{"Kestrel": {"Endpoints": {"A": {"Url": %q}, "B": {"Url": "http://127.0.0.1:0"}}}}`, url)
	}
	old := fmt.Sprintf("http://127.0.0.1:%d", port)
	s, _ := startConfigured(t, newGated(), cfg(old))
	wildcard := fmt.Sprintf("http://*:%d", port)
	err := s.Reload(parseTestConfig(t, cfg(wildcard)))
	for _, want := range []string{wildcard, "held by this server's endpoint " + old, "two reloads"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Reload to %s: %v, want an error saying %q", wildcard, err, want)
		}
	}
	if got := s.Addresses(); len(got) != 2 || got[0] != old {
		t.Errorf("after the refused reload: %q, want %s served still", got, old)
	}
	c := dialRaw(t, "tcp", fmt.Sprint("127.0.0.1:", port))
	if _, body := c.send(t, "GET", "/still", ""); body != "hello /still" {
		t.Errorf("after the refused reload: %q", body)
	}

	// What the error suggests: without the endpoint first, then with its
	// new address.
	reloadJSON(t, s, `{"Kestrel": {"Endpoints": {"B": {"Url": "http://127.0.0.1:0"}}}}`)
	reloadJSON(t, s, cfg(wildcard))
	c = dialRaw(t, "tcp", fmt.Sprint("127.0.0.1:", port))
	if _, body := c.send(t, "GET", "/moved", ""); body != "hello /moved" {
		t.Errorf("after the two reloads: %q", body)
	}
}

// TestReloadKeepsZonedEndpoint: an endpoint on an IPv6 address with a
// zone (a link-local address's, fe80::1%eth0; here ::1%lo, which every
// machine with IPv6 has) keeps its socket through a reload that changes
// it, as any other address does, where the reload failed, taking the
// socket for another address's on the same port.
func TestReloadKeepsZonedEndpoint(t *testing.T) {
	t.Parallel()
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	s, _ := startConfigured(t, newGated(), `{"Kestrel": {"Endpoints": {"A": {"Url": "http://[::1%lo]:0"}}}}`)
	before := s.Addresses()
	if len(before) != 1 || !strings.HasPrefix(before[0], "http://[::1%25lo]:") {
		t.Fatalf("Addresses() = %q, want http://[::1%%25lo]:port", before)
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(before[0], "http://[::1%25lo]"), ":")
	if err := s.Reload(parseTestConfig(t, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://[::1%lo]:`+port+`", "Protocols": "Http1"}}}}`)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if after := s.Addresses(); !slices.Equal(after, before) {
		t.Errorf("Addresses() = %q after the reload, want %q", after, before)
	}
	resp, err := http.Get("http://[::1]:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
