package kestrel

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// maxAge is the MaxConnectionAge of these tests; with its jitter a
// connection is retired from 0.9 to 1.1 times it after its accept.
const maxAge = 200 * time.Millisecond

// tickAges runs the heartbeat's age check now, as its next tick would:
// the tests need not wait for the heartbeat's second.
func tickAges(s *Server) {
	s.mu.Lock()
	now := time.Now().UnixNano()
	var retire, abort []engineConn
	for _, st := range s.conns {
		r, a := s.retireAged(st, now)
		if r {
			retire = append(retire, st.conn)
		}
		if a {
			abort = append(abort, st.conn)
		}
	}
	s.mu.Unlock()
	endAged(retire, abort)
}

// pastAge waits until a connection made at start is past maxAge, jitter
// included, and runs the age check.
func pastAge(s *Server, start time.Time) {
	time.Sleep(time.Until(start.Add(maxAge*11/10 + 10*time.Millisecond)))
	waitRetireAt(s, 0)
	tickAges(s)
}

// waitRetireAt waits until every connection s holds is d past its age: on
// a loaded machine the server may accept a connection well after its
// client's dial began.
func waitRetireAt(s *Server, d time.Duration) {
	s.mu.Lock()
	var latest int64
	for _, st := range s.conns {
		latest = max(latest, st.retireAt)
	}
	s.mu.Unlock()
	time.Sleep(time.Until(time.Unix(0, latest).Add(d + time.Millisecond)))
}

// tickAgesEvery runs the age check every d on a goroutine of its own, as
// the heartbeat does, until the returned function is first called.
func tickAgesEvery(s *Server, d time.Duration) (stop func()) {
	done, ticked := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ticked)
		for {
			select {
			case <-done:
				return
			case <-time.After(d):
				tickAges(s)
			}
		}
	}()
	return sync.OnceFunc(func() { close(done); <-ticked })
}

// busyAcrossAges sends requests with short pauses for four of s's
// connection ages, with the age checked every tick, and checks that
// every one is answered "ok" and that they went on three connections or
// more (conns, from countConns).
func busyAcrossAges(t *testing.T, s *Server, conns *atomic.Int32, tick time.Duration, send func() (*http.Response, error)) {
	t.Helper()
	stop := tickAgesEvery(s, tick)
	defer stop()
	n := 0
	for end := time.Now().Add(4 * maxAge); time.Now().Before(end); n++ {
		resp, err := send()
		if err != nil {
			t.Fatalf("request %d: %v", n, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("request %d: %q, %v", n, b, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if got := conns.Load(); got < 3 {
		t.Errorf("%d requests over 4 connection ages went on %d connections, want at least 3", n, got)
	}
}

// expectLastResponse reads c's next response, which must be body with
// Connection: close, and checks that the server then closes c.
func expectLastResponse(t *testing.T, c *rawConn, body, what string) {
	t.Helper()
	if resp, got := c.response(t); got != body || !resp.Close {
		t.Errorf("%s: %q close=%v, want %q with Connection: close", what, got, resp.Close, body)
	}
	if !c.closedWithin(time.Second) {
		t.Errorf("%s: the connection stayed open after its last response", what)
	}
}

// countConns counts the connections s accepts (ConnState's StateNew).
func countConns(s *Server) *atomic.Int32 {
	n := new(atomic.Int32)
	s.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	return n
}

// TestMaxConnectionAgeHTTP1: a response before the age keeps the
// connection; a request in flight when the age passes completes, says
// Connection: close, and the connection closes after it.
func TestMaxConnectionAgeHTTP1(t *testing.T) {
	t.Parallel()
	g := newGated()
	s := &Server{Handler: g, Limits: Limits{MaxConnectionAge: maxAge}}
	addr := startServer(t, s)
	start := time.Now()
	c := dialRaw(t, "tcp", addr)
	if resp, body := c.send(t, "GET", "/", ""); body != "hello /" || resp.Close {
		t.Fatalf("before the age: %q close=%v, want a keep-alive answer", body, resp.Close)
	}
	c.start(t, "GET", "/wait", "")
	<-g.started
	pastAge(s, start)
	close(g.release)
	expectLastResponse(t, c, "hello /wait", "the request in flight at the age")
}

// TestMaxConnectionAgeHTTP1Idle: the heartbeat closes an idle keep-alive
// connection once it is past its age and has been idle for a second,
// without a response; it leaves alone a connection upgraded before its
// age, and a connection without the limit.
func TestMaxConnectionAgeHTTP1Idle(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsUpgradable(r) {
			nc, err := Upgrade(w, r)
			if err != nil {
				return
			}
			defer nc.Close()
			io.Copy(nc, nc) // echo
			return
		}
		io.WriteString(w, "ok")
	})
	aged := startServer(t, &Server{Handler: h, Limits: Limits{MaxConnectionAge: maxAge}})
	plain := startServer(t, &Server{Handler: h})
	ca, cp, cu := dialRaw(t, "tcp", aged), dialRaw(t, "tcp", plain), dialRaw(t, "tcp", aged)
	for _, c := range []*rawConn{ca, cp} {
		if resp, _ := c.send(t, "GET", "/", ""); resp.Close {
			t.Fatal("the first response says Connection: close")
		}
	}
	io.WriteString(cu, "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
	if resp, err := http.ReadResponse(cu.br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	// The age passes within a heartbeat; the connection, idle for a
	// second at least, is closed at the next tick, or the one after.
	idle := time.Now()
	if !ca.closedWithin(3500 * time.Millisecond) {
		t.Fatal("an idle connection past MaxConnectionAge stayed open")
	}
	if d := time.Since(idle); d < 900*time.Millisecond {
		t.Errorf("closed after %v idle, want a second at least: its client may be sending its next request", d)
	}
	if cp.closedWithin(10 * time.Millisecond) {
		t.Error("a connection without MaxConnectionAge was closed")
	}
	io.WriteString(cu, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(cu.br, buf); err != nil || string(buf) != "ping" {
		t.Errorf("the upgraded connection past its age: %q, %v; want its echo", buf, err)
	}
}

// TestMaxConnectionAgeHTTP2: past its age, a connection sends a graceful
// GOAWAY (first 2^31-1, then the last stream processed), its stream in
// flight completes, and the connection closes.
func TestMaxConnectionAgeHTTP2(t *testing.T) {
	t.Parallel()
	g := newGated()
	s := &Server{Handler: g, Limits: Limits{MaxConnectionAge: maxAge}}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2}); err != nil {
		t.Fatal(err)
	}
	addr := startServer2(t, s)
	start := time.Now()
	c := dialRawH2(t, addr)
	c.get(1, "/wait")
	<-g.started
	pastAge(s, start)
	var goAways []uint32
	for len(goAways) < 2 {
		switch f := c.read().(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				t.Fatalf("GOAWAY %v, want NO_ERROR", f.ErrCode)
			}
			goAways = append(goAways, f.LastStreamID)
		case *http2.PingFrame:
			if !f.IsAck() {
				c.fr.WritePing(true, f.Data)
			}
		}
	}
	if goAways[0] != 1<<31-1 || goAways[1] != 1 {
		t.Errorf("GOAWAY last stream ids %v, want [2147483647 1]", goAways)
	}
	close(g.release)
	var body string
	for ended := false; !ended; {
		switch f := c.read().(type) {
		case *http2.DataFrame:
			body += string(f.Data())
			ended = f.StreamEnded()
		case *http2.RSTStreamFrame:
			t.Fatalf("the stream in flight was reset: %v", f.ErrCode)
		}
	}
	if body != "hello /wait" {
		t.Errorf("the stream in flight answered %q", body)
	}
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := c.fr.ReadFrame(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("after its last stream: %v, want the connection closed", err)
			}
			break
		}
	}
}

// startServer2 starts s, whose endpoints were added, and returns the
// address of its first.
func startServer2(t *testing.T, s *Server) string {
	t.Helper()
	s.Logger = quietLogger
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.TrimPrefix(s.Addresses()[0], "http://")
}

// TestMaxConnectionAgeHTTP2Client: Go's HTTP/2 client (x/net/http2's), sending requests
// back to back across several connection ages, sees every one answered:
// it takes its requests to a new connection after a GOAWAY.
func TestMaxConnectionAgeHTTP2Client(t *testing.T) {
	t.Parallel()
	// HTTP/2 only, and h2c that the HTTP/1.1 engine hands over.
	for name, protocols := range map[string]Protocols{"HTTP2": HTTP2, "HTTP1AndHTTP2": HTTP1AndHTTP2} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testAgeHTTP2Client(t, protocols)
		})
	}
}

func testAgeHTTP2Client(t *testing.T, protocols Protocols) {
	s := &Server{Limits: Limits{MaxConnectionAge: maxAge}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	conns := countConns(s)
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: protocols}); err != nil {
		t.Fatal(err)
	}
	addr := startServer2(t, s)
	client := h2cClient(t) // net/http's HTTP/2, x/net/http2's bundled
	busyAcrossAges(t, s, conns, 50*time.Millisecond, func() (*http.Response, error) { return client.Get("http://" + addr + "/") })
}

// TestMaxConnectionAgeHTTP3: over HTTP/3 the request in flight at the age
// completes, and quic-go's client takes the next request to a new
// connection.
func TestMaxConnectionAgeHTTP3(t *testing.T) {
	t.Parallel()
	g := newGated()
	s := &Server{Handler: g, Limits: Limits{MaxConnectionAge: maxAge}}
	conns := countConns(s)
	_, addr := h3Server(t, s, HTTP3)
	client := h3Client(t)
	get := func(path string) string {
		t.Helper()
		resp, err := client.Get("https://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return string(b)
	}
	start := time.Now()
	if got := get("/"); got != "hello /" {
		t.Fatalf("GET /: %q", got)
	}
	done := make(chan string)
	go func() { done <- get("/wait") }()
	<-g.started
	pastAge(s, start)
	close(g.release)
	if got := <-done; got != "hello /wait" {
		t.Errorf("the request in flight at the age: %q", got)
	}
	// A request the client sent before it read the GOAWAY may still be
	// served on the old connection; every one is answered, and the
	// client soon goes on a new one.
	for deadline := time.Now().Add(2 * time.Second); conns.Load() < 2; {
		if got := get("/"); got != "hello /" {
			t.Fatalf("after the age: %q", got)
		}
		if time.Now().After(deadline) {
			t.Fatal("the client's requests stayed on the connection past its age")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMaxConnectionAgeGrace: an HTTP/2 stream still open a grace after
// its connection's GOAWAY is cut with the connection, whose duration is
// recorded with the reason.
func TestMaxConnectionAgeGrace(t *testing.T) {
	t.Parallel()
	g := newGated()
	defer close(g.release)
	reader, mp := metricstest.New()
	s := &Server{Handler: g, MeterProvider: mp, Limits: Limits{MaxConnectionAge: maxAge, MaxConnectionAgeGrace: 50 * time.Millisecond}}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2}); err != nil {
		t.Fatal(err)
	}
	addr := startServer2(t, s)
	start := time.Now()
	c := dialRawH2(t, addr)
	c.get(1, "/wait")
	<-g.started
	pastAge(s, start) // GOAWAY
	time.Sleep(60 * time.Millisecond)
	tickAges(s) // past the grace
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if isTimeout(err) {
				t.Fatal("the connection stayed open past its grace")
			}
			break
		}
		if d, ok := f.(*http2.DataFrame); ok {
			t.Fatalf("the stream was answered (%q) instead of cut", d.Data())
		}
	}
	waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": "max_connection_age_grace_exceeded"}, 1)
}

// TestMaxConnectionAgePipelined: a request pipelined behind one whose
// response went out, without Connection: close, before the age passed is
// served, with Connection: close (as nginx's keepalive_time decides at a
// request's start), rather than dropped.
func TestMaxConnectionAgePipelined(t *testing.T) {
	t.Parallel()
	h, started, release := committedThenWait("/wait")
	s := &Server{Limits: Limits{MaxConnectionAge: maxAge}, Handler: h}
	addr := startServer(t, s)
	start := time.Now()
	c := dialRaw(t, "tcp", addr)
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	pastAge(s, start)
	close(release)
	if resp, body := c.response(t); body != "ok" || resp.Close {
		t.Fatalf("the response sent before the age: %q close=%v", body, resp.Close)
	}
	expectLastResponse(t, c, "ok", "the pipelined request")
}

// TestAgeDeadlines: a connection's age is MaxConnectionAge give or take
// 10%, spread at random; the grace follows it; an age past the clock's
// end is none.
func TestAgeDeadlines(t *testing.T) {
	t.Parallel()
	start := time.Now()
	const age, grace = time.Hour, time.Minute
	lo, hi := int64(math.MaxInt64), int64(0)
	for range 1000 {
		at, abort := ageDeadlines(start, age, grace)
		d := time.Duration(at - start.UnixNano())
		if d < age*9/10 || d > age*11/10 {
			t.Fatalf("age %v, want %v ± 10%%", d, age)
		}
		if abort-at != int64(grace) {
			t.Fatalf("grace %v, want %v", time.Duration(abort-at), grace)
		}
		lo, hi = min(lo, int64(d)), max(hi, int64(d))
	}
	if time.Duration(hi-lo) < age/10 {
		t.Errorf("1000 ages within %v of each other: not spread", time.Duration(hi-lo))
	}
	for _, tc := range []struct{ age, grace time.Duration }{{0, grace}, {math.MaxInt64, 0}, {math.MaxInt64 - time.Hour, grace}} {
		for range 100 {
			if at, abort := ageDeadlines(start, tc.age, tc.grace); at != 0 || abort != 0 {
				t.Fatalf("ageDeadlines(%v, %v) = %d, %d; want none", tc.age, tc.grace, at, abort)
			}
		}
	}
	if at, abort := ageDeadlines(start, age, 0); at == 0 || abort != 0 {
		t.Errorf("no grace: %d, %d; want an age and no abort", at, abort)
	}
}

// TestMaxConnectionAgeHTTP1Busy: Go's HTTP/1.1 client, posting (a request
// it does not send again) with short pauses across several connection
// ages, sees every request answered: a busy connection past its age ends
// with a response's Connection: close, never closed between requests, as
// its client may be sending the next one.
func TestMaxConnectionAgeHTTP1Busy(t *testing.T) {
	t.Parallel()
	s := &Server{Limits: Limits{MaxConnectionAge: maxAge}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})}
	conns := countConns(s)
	addr := startServer(t, s)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	busyAcrossAges(t, s, conns, 7*time.Millisecond, func() (*http.Response, error) {
		return client.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
	})
}

// TestMaxConnectionAgeGraceHTTP3: the same over HTTP/3.
func TestMaxConnectionAgeGraceHTTP3(t *testing.T) {
	t.Parallel()
	g := newGated()
	defer close(g.release)
	s := &Server{Handler: g, Limits: Limits{MaxConnectionAge: maxAge, MaxConnectionAgeGrace: 50 * time.Millisecond}}
	_, addr := h3Server(t, s, HTTP3)
	client := h3Client(t)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		resp, err := client.Get("https://" + addr + "/wait")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-g.started
	pastAge(s, start) // GOAWAY
	time.Sleep(60 * time.Millisecond)
	tickAges(s) // past the grace
	select {
	case err := <-errc:
		if err == nil {
			t.Error("the request was answered instead of cut")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the request was still waiting past its connection's grace")
	}
}

// TestMaxConnectionAgeHTTP3Busy: quic-go's client, sending requests with
// short pauses across several connection ages, sees every one answered.
func TestMaxConnectionAgeHTTP3Busy(t *testing.T) {
	t.Parallel()
	s := &Server{Limits: Limits{MaxConnectionAge: maxAge}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	conns := countConns(s)
	_, addr := h3Server(t, s, HTTP3)
	client := h3Client(t)
	busyAcrossAges(t, s, conns, 7*time.Millisecond, func() (*http.Response, error) {
		return client.Post("https://"+addr+"/", "text/plain", strings.NewReader("x"))
	})
}

// TestMaxConnectionAgeGraceH2c: on an HTTP/1.1 and HTTP/2 endpoint, a
// connection that turns to h2c (prior knowledge) while the heartbeat
// checks its age is cut once past its grace, as an HTTP/2 one; the check
// and the engine's handover do not race (go test -race).
func TestMaxConnectionAgeGraceH2c(t *testing.T) {
	t.Parallel()
	s := &Server{Limits: Limits{MaxConnectionAge: 20 * time.Millisecond, MaxConnectionAgeGrace: 20 * time.Millisecond},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2}); err != nil {
		t.Fatal(err)
	}
	addr := startServer2(t, s)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The age check runs on a goroutine of its own, as the heartbeat's,
	// which writes to no socket (a write would order it before the
	// server's reads for the race detector).
	defer tickAgesEvery(s, time.Millisecond)()
	time.Sleep(60 * time.Millisecond) // past the age and its grace, before a request
	io.WriteString(nc, http2.ClientPreface)
	fr := http2.NewFramer(nc, nc)
	fr.WriteSettings()
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := fr.ReadFrame(); err != nil {
			if isTimeout(err) {
				t.Fatal("the h2c connection stayed open past its age's grace")
			}
			return
		}
	}
}

// TestMaxConnectionAgeGraceFromGoAway: the grace runs from the GOAWAY the
// heartbeat sent, not from the age: a tick that first finds a connection
// past both its age and age plus grace (a grace under the heartbeat's
// second) sends the GOAWAY and leaves the streams in flight their grace,
// as grpc-go's, which starts the grace's timer when it sends its GOAWAY.
func TestMaxConnectionAgeGraceFromGoAway(t *testing.T) {
	t.Parallel()
	g := newGated()
	const grace = 100 * time.Millisecond
	s := &Server{Handler: g, Limits: Limits{MaxConnectionAge: maxAge, MaxConnectionAgeGrace: grace}}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2}); err != nil {
		t.Fatal(err)
	}
	addr := startServer2(t, s)
	start := time.Now()
	c := dialRawH2(t, addr)
	c.get(1, "/wait")
	<-g.started
	time.Sleep(time.Until(start.Add(maxAge*11/10 + grace + 10*time.Millisecond)))
	waitRetireAt(s, grace)
	tickAges(s) // the first check: past the age, and past age plus grace
	close(g.release)
	var body string
	goAway := false
	for ended := false; !ended; {
		c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("the stream in flight, answered within its grace: %v (GOAWAY seen: %v)", err, goAway)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			goAway = true
		case *http2.DataFrame:
			body += string(f.Data())
			ended = f.StreamEnded()
		case *http2.RSTStreamFrame:
			t.Fatalf("the stream in flight was reset: %v", f.ErrCode)
		}
	}
	if body != "hello /wait" || !goAway {
		t.Errorf("the stream in flight answered %q, GOAWAY seen: %v", body, goAway)
	}
}

// TestMaxConnectionAgeHTTP1AfterKeepAlive: a connection that reaches its
// age after its response went out without Connection: close (a streamed
// response, its head flushed before the age) is not closed as that
// response ends: its client, told to keep the connection, may be sending
// the next request, which is answered with Connection: close, as nginx's
// keepalive_time decides at a request's start.
func TestMaxConnectionAgeHTTP1AfterKeepAlive(t *testing.T) {
	t.Parallel()
	var s *Server
	start := time.Now()
	s = &Server{Limits: Limits{MaxConnectionAge: maxAge}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
		if r.URL.Path == "/stream" {
			w.(http.Flusher).Flush() // the head, keep-alive, goes out
			pastAge(s, start)        // the response ends after the age
		}
	})}
	addr := startServer(t, s)
	c := dialRaw(t, "tcp", addr)
	start = time.Now()
	if resp, body := c.send(t, "GET", "/stream", ""); body != "hello /stream" || resp.Close {
		t.Fatalf("the response in flight at the age: %q close=%v, want a keep-alive answer (its head went out before)", body, resp.Close)
	}
	c.start(t, "GET", "/next", "")
	expectLastResponse(t, c, "hello /next", "the request sent on the connection kept alive, after the age")
}

// TestMaxConnectionAgeHTTP3Idle: an HTTP/3 connection idle at its age
// gets the first GOAWAY only, as an HTTP/2 one gets GOAWAY and PING: a
// request its client sent before it read the GOAWAY is served, not
// refused by a final GOAWAY sent at once (RFC 9114, 5.2).
func TestMaxConnectionAgeHTTP3Idle(t *testing.T) {
	t.Parallel()
	s := &Server{Limits: Limits{MaxConnectionAge: maxAge}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	_, addr := h3Server(t, s, HTTP3)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	qc, err := quic.DialAddr(ctx, addr, &tls.Config{RootCAs: testClientTLS(t).RootCAs, NextProtos: []string{"h3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	if status, err := h3RawGet(qc, "/"); status != 200 || err != nil {
		t.Fatalf("before the age: %d, %v", status, err)
	}
	pastAge(s, start) // idle now: retired
	if status, err := h3RawGet(qc, "/"); status != 200 || err != nil {
		t.Errorf("a request sent as its idle connection reached its age: %d, %v; want 200", status, err)
	}
}

// blockedEngine is a connection's engine whose method named blocks
// blocks until release is closed, as closing a TLS connection blocks
// while its close_notify waits (up to 5 s) for a client that does not
// read; its other methods return at once.
// blockedEngine is a connection's engine whose method named blocks
// blocks until release is closed, as closing a TLS connection whose
// client does not read blocks on its close_notify.
type blockedEngine struct {
	blocks  string
	called  chan struct{} // closed at the first blocking call
	once    sync.Once
	release chan struct{}
}

func (b *blockedEngine) block(name string) {
	if name == b.blocks {
		b.once.Do(func() { close(b.called) })
		<-b.release
	}
}

func (b *blockedEngine) Tick(int64)        {}
func (b *blockedEngine) CloseIfIdle() bool { b.block("CloseIfIdle"); return false }
func (b *blockedEngine) Retire()           { b.block("Retire") }
func (b *blockedEngine) Abort()            { b.block("Abort") }

// checkUnlockedWhileBlocked adds st to s's connections with an engine
// whose method named blocks blocks, runs pass on a goroutine of its own,
// and checks that s.mu is free while that method blocks.
func checkUnlockedWhileBlocked(t *testing.T, s *Server, st *connState, blocks string, pass func()) {
	t.Helper()
	e := &blockedEngine{blocks: blocks, called: make(chan struct{}), release: make(chan struct{})}
	st.conn = e
	nc, peer := net.Pipe()
	t.Cleanup(func() { peer.Close() })
	s.mu.Lock()
	s.conns[nc] = st
	s.mu.Unlock()
	t.Cleanup(func() {
		close(e.release)
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	})
	go pass()
	select {
	case <-e.called:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was not called", blocks)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if s.mu.TryLock() {
			s.mu.Unlock()
			return
		}
	}
	t.Errorf("the server's lock was held while %s of a connection blocked", blocks)
}

// TestMaxConnectionAgeWithoutLock: the heartbeat retires a connection
// past its age, and aborts one past its grace, without holding the
// server's lock, as Shutdown's abort does: an HTTP/1.1 retirement closes
// an idle connection, an abort closes any, and closing a TLS connection
// sends its close_notify, which waits up to 5 s for a client that does
// not read. Held, the lock stopped every accept, tick and status of the
// server meanwhile.
func TestMaxConnectionAgeWithoutLock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		blocks string
		state  func(st *connState) // past the age, or the grace
	}{
		{"retire", "Retire", func(st *connState) { st.retireAt = 1 }},
		{"abort past the grace", "Abort", func(st *connState) { st.retireAt, st.abortAt, st.goAway = 1, 2, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Server{Handler: http.NotFoundHandler()}
			startServer(t, s)
			st := &connState{}
			tc.state(st)
			s.mu.Lock()
			hb := s.hb
			s.mu.Unlock()
			checkUnlockedWhileBlocked(t, s, st, tc.blocks, func() { s.tick(hb, time.Now()) })
		})
	}
}
