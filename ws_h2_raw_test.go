package kestrel

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
	"github.com/kestrel-go/kestrel/logging"
)

// tunnelEcho accepts upgrades and extended CONNECTs with Upgrade and
// echoes their bytes; a refused upgrade is answered 503, anything else
// with its method, :protocol and path.
func tunnelEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsUpgradable(r) {
			io.WriteString(w, r.Method+" "+r.Header.Get(":protocol")+" "+r.URL.Path+" "+r.Host)
			return
		}
		if r.Header.Get(":protocol") == "reflect" {
			io.WriteString(w, r.Method+" "+r.Header.Get(":protocol")+" "+r.URL.Path+" "+r.Host)
			return
		}
		conn, err := Upgrade(w, r)
		if errors.Is(err, ErrUpgradeLimit) {
			http.Error(w, "too many upgrades", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			return // the connection ended (the test's server closing)
		}
		if r.ProtoMajor == 1 {
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
			return
		}
		io.Copy(conn, conn) // the stream ends with the handler
	})
}

// startTunnelServer serves tunnelEcho on a cleartext endpoint for HTTP/1.1
// and HTTP/2 (prior knowledge) and one that does not offer WebSockets over
// HTTP/2, and returns their addresses.
func startTunnelServer(t *testing.T, limits Limits) (s *Server, on, off string) {
	t.Helper()
	s = &Server{Handler: tunnelEcho(), Logger: quietLogger, Limits: limits}
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", EnableWebSocketsOverHTTP2: true})
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := s.Addresses()
	return s, strings.TrimPrefix(a[0], "http://"), strings.TrimPrefix(a[1], "http://")
}

// dialTunnelH2 is dialRawH2 that decodes header blocks.
func dialTunnelH2(t *testing.T, addr string) *rawH2 {
	c := dialRawH2(t, addr)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	return c
}

// send sends a request's header block on stream id: pairs of names and
// values, in order.
func (c *rawH2) send(id uint32, end bool, fields ...string) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := 0; i+1 < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: end, EndHeaders: true})
}

// extendedConnect is a complete extended CONNECT's pseudo-headers.
func extendedConnect(protocol string) []string {
	return []string{":method", "CONNECT", ":protocol", protocol, ":scheme", "http", ":path", "/ws", ":authority", "localhost", "sec-websocket-version", "13"}
}

// answer reads frames until stream id's response head (its status, its
// header fields), or its RST_STREAM (status 0, the code), skipping other
// streams' frames; with body, it reads the body up to END_STREAM.
func (c *rawH2) answer(id uint32, body bool) (status int, hdr http.Header, code http2.ErrCode, data string) {
	c.t.Helper()
	var b strings.Builder
	for {
		switch f := c.read().(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return 0, nil, f.ErrCode, b.String()
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("stream %d: GOAWAY %v", id, f.ErrCode)
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			hdr = http.Header{}
			for _, hf := range f.RegularFields() {
				hdr.Add(hf.Name, hf.Value)
			}
			status = atoi(f.PseudoValue("status"))
			if !body || f.StreamEnded() {
				return status, hdr, 0, ""
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				b.Write(f.Data())
				if f.StreamEnded() {
					return status, hdr, 0, b.String()
				}
			}
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestExtendedConnectSetting: an HTTP/2 endpoint sends
// SETTINGS_ENABLE_CONNECT_PROTOCOL=1; one without EnableWebSocketsOverHTTP2
// does not.
func TestExtendedConnectSetting(t *testing.T) {
	t.Parallel()
	_, on, off := startTunnelServer(t, Limits{})
	if v, ok := dialRawH2(t, on).settings[http2.SettingEnableConnectProtocol]; !ok || v != 1 {
		t.Errorf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d (sent: %v), want 1", v, ok)
	}
	if v, ok := dialRawH2(t, off).settings[http2.SettingEnableConnectProtocol]; ok {
		t.Errorf("without EnableWebSocketsOverHTTP2: SETTINGS_ENABLE_CONNECT_PROTOCOL = %d sent", v)
	}
}

// TestExtendedConnectMalformed: the requests RFC 8441 makes malformed are
// stream errors (PROTOCOL_ERROR) and the connection goes on; a plain
// CONNECT keeps RFC 9113's rules, and a :protocol other than websocket
// reaches the handler as it came.
func TestExtendedConnectMalformed(t *testing.T) {
	t.Parallel()
	_, on, off := startTunnelServer(t, Limits{})
	c := dialTunnelH2(t, on)
	without := func(name string) []string {
		f := extendedConnect("websocket")
		for i := 0; i < len(f); i += 2 {
			if f[i] == name {
				return append(f[:i:i], f[i+2:]...)
			}
		}
		panic(name)
	}
	id := uint32(1)
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"extended CONNECT without :protocol", without(":protocol")},
		{"without :scheme", without(":scheme")},
		{"without :path", without(":path")},
		{"without :authority", without(":authority")},
		{":protocol on a GET", []string{":method", "GET", ":protocol", "websocket", ":scheme", "http", ":path", "/ws", ":authority", "localhost"}},
		{":protocol after a regular header", []string{":method", "CONNECT", ":scheme", "http", ":path", "/ws", ":authority", "localhost", "x", "y", ":protocol", "websocket"}},
	} {
		c.send(id, false, tc.fields...)
		if status, _, code, _ := c.answer(id, false); status != 0 || code != http2.ErrCodeProtocol {
			t.Errorf("%s: status %d, reset %v; want RST_STREAM PROTOCOL_ERROR", tc.name, status, code)
		}
		id += 2
	}

	// A plain CONNECT (RFC 9113, 8.5) reaches the handler.
	c.send(id, true, ":method", "CONNECT", ":authority", "example.com:443")
	if status, _, code, body := c.answer(id, true); status != 200 || body != "CONNECT   example.com:443" {
		t.Errorf("plain CONNECT: %d %q (reset %v)", status, body, code)
	}
	id += 2
	// Another :protocol reaches the handler as it came.
	c.send(id, true, extendedConnect("reflect")...)
	if status, _, code, body := c.answer(id, true); status != 200 || body != "CONNECT reflect /ws localhost" {
		t.Errorf(":protocol reflect: %d %q (reset %v)", status, body, code)
	}

	// Where the setting is not sent, :protocol is a malformed request.
	d := dialTunnelH2(t, off)
	d.send(1, false, extendedConnect("websocket")...)
	if status, _, code, _ := d.answer(1, false); status != 0 || code != http2.ErrCodeProtocol {
		t.Errorf("extended CONNECT with the setting disabled: status %d, reset %v; want RST_STREAM PROTOCOL_ERROR", status, code)
	}
	d.get(3, "/after")
	if status, _, _, body := d.answer(3, true); status != 200 || body != "GET  /after localhost" {
		t.Errorf("a request after the stream error: %d %q", status, body)
	}
}

// TestExtendedConnectAtTheUpgradeLimit: extended CONNECT streams count
// against MaxConcurrentUpgradedConnections with the HTTP/1.1 upgrades: at
// a limit of 2, an upgraded HTTP/1.1 connection and one stream are
// accepted, the next stream is answered 503 with Retry-After before its
// handler runs and the next HTTP/1.1 upgrade is refused; once the stream
// ends, its place is free again.
func TestExtendedConnectAtTheUpgradeLimit(t *testing.T) {
	t.Parallel()
	_, addr, _ := startTunnelServer(t, Limits{MaxConcurrentUpgradedConnections: 2})
	if _, _, resp := dialUpgrade(t, addr, ""); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("HTTP/1.1 upgrade: %d", resp.StatusCode)
	}
	c := dialTunnelH2(t, addr)
	c.send(1, false, extendedConnect("websocket")...)
	if status, _, code, _ := c.answer(1, false); status != 200 {
		t.Fatalf("the stream at the limit: status %d (reset %v), want 200", status, code)
	}
	c.fr.WriteData(1, false, []byte("ping"))
	for got := ""; got != "ping"; {
		if f, ok := c.read().(*http2.DataFrame); ok && f.StreamID == 1 {
			got += string(f.Data())
		}
	}
	c.send(3, false, extendedConnect("websocket")...)
	status, hdr, code, body := c.answer(3, true)
	if status != http.StatusServiceUnavailable || hdr.Get("retry-after") == "" || !strings.Contains(body, "MaxConcurrentUpgradedConnections") {
		t.Errorf("the stream over the limit: %d %v %q (reset %v), want 503 with Retry-After naming the limit", status, hdr, body, code)
	}
	if _, _, resp := dialUpgrade(t, addr, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HTTP/1.1 upgrade over the limit: %d, want 503", resp.StatusCode)
	}
	// The client ends stream 1; the handler returns and frees its place.
	c.fr.WriteData(1, true, nil)
	deadline := time.Now().Add(10 * time.Second)
	for id := uint32(5); ; id += 2 {
		c.send(id, false, extendedConnect("websocket")...)
		status, _, _, _ := c.answer(id, false)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("extended CONNECT still refused (%d) after the tunnel ended", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExtendedConnectResetEndsTunnel: the client's RST_STREAM ends the
// tunnel: the handler's read fails, and the stream's place among the
// upgraded connections is free again.
func TestExtendedConnectResetEndsTunnel(t *testing.T) {
	t.Parallel()
	readErr := make(chan error, 4)
	s := &Server{Logger: quietLogger, Limits: Limits{MaxConcurrentUpgradedConnections: 1}}
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := Upgrade(w, r)
		if err != nil {
			// The client's RST_STREAM can come while Upgrade flushes
			// the 200 the client has seen: the stream is gone, and
			// Upgrade says so.
			readErr <- err
			return
		}
		_, err = io.Copy(io.Discard, conn)
		if err == nil {
			err = io.EOF
		}
		readErr <- err
	})
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2, EnableWebSocketsOverHTTP2: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := dialTunnelH2(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
	c.send(1, false, extendedConnect("websocket")...)
	if status, _, _, _ := c.answer(1, false); status != 200 {
		t.Fatalf("extended CONNECT: %d", status)
	}
	c.fr.WriteData(1, false, []byte("some bytes"))
	c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	select {
	case err := <-readErr:
		if err == io.EOF {
			t.Errorf("the tunnel's read ended cleanly after RST_STREAM; want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still reads 10 s after RST_STREAM")
	}
	deadline := time.Now().Add(10 * time.Second)
	for id := uint32(3); ; id += 2 {
		c.send(id, false, extendedConnect("websocket")...)
		if status, _, _, _ := c.answer(id, false); status == 200 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("extended CONNECT still refused (%d) after the reset", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNativeUpgradeOverHTTP2: on the native path, Context.Upgradable and
// Context.Upgrade take an extended CONNECT as they take an HTTP/1.1
// upgrade: Upgrade answers 200 and returns the stream, which echoes until
// the client ends it.
func TestNativeUpgradeOverHTTP2(t *testing.T) {
	t.Parallel()
	s := &Server{Logger: quietLogger, NativeHandler: NativeHandlerFunc(func(c *Context) {
		if !c.Upgradable() || string(c.Header(":protocol")) != "websocket" || string(c.Path()) != "/ws" {
			c.WriteString("not a tunnel")
			return
		}
		conn, err := c.Upgrade()
		if err != nil {
			return
		}
		io.Copy(conn, conn)
	})}
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2, EnableWebSocketsOverHTTP2: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := dialTunnelH2(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
	c.send(1, false, extendedConnect("websocket")...)
	if status, _, code, _ := c.answer(1, false); status != 200 {
		t.Fatalf("extended CONNECT: %d (reset %v)", status, code)
	}
	c.fr.WriteData(1, true, []byte("native echo"))
	var got strings.Builder
	for {
		f, ok := c.read().(*http2.DataFrame)
		if !ok || f.StreamID != 1 {
			continue
		}
		got.Write(f.Data())
		if f.StreamEnded() {
			break
		}
	}
	if got.String() != "native echo" {
		t.Errorf("echoed %q", got.String())
	}
	c.get(3, "/plain")
	if status, _, _, body := c.answer(3, true); status != 200 || body != "not a tunnel" {
		t.Errorf("a GET: %d %q", status, body)
	}
}

// TestConfigEnableWebSocketsOverHTTP2: the endpoint key
// Kestrel:Endpoints:NAME:EnableWebSocketsOverHTTP2, from the file or the
// environment, or Kestrel:EndpointDefaults' for endpoints without their
// own, decides whether an endpoint advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL; a misspelt key gets a suggestion.
func TestConfigEnableWebSocketsOverHTTP2(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`{"Kestrel": {
		"EndpointDefaults": {"EnableWebSocketsOverHTTP2": true},
		"Endpoints": {
		"Off": {"Url": "http://127.0.0.1:0", "EnableWebSocketsOverHTTP2": false},
		"Default": {"Url": "http://127.0.0.1:0"},
		"Env": {"Url": "http://127.0.0.1:0", "EnableWebSocketsOverHTTP2": false}}}}`), "f", nil, []string{"Kestrel__Endpoints__Env__EnableWebSocketsOverHTTP2=true"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	offered := map[string]bool{}
	s.mu.Lock()
	ls := append([]*listener(nil), s.listeners...)
	s.mu.Unlock()
	for _, l := range ls {
		name := l.ep.origin[strings.LastIndex(l.ep.origin, ":")+1:]
		_, offered[name] = dialRawH2(t, l.sock.Addr().String()).settings[http2.SettingEnableConnectProtocol]
	}
	if want := map[string]bool{"Off": false, "Default": true, "Env": true}; len(offered) != 3 || offered["Off"] || !offered["Default"] || !offered["Env"] {
		t.Errorf("SETTINGS_ENABLE_CONNECT_PROTOCOL sent by endpoint: %v, want %v", offered, want)
	}

	_, err = ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"Web": {"Url": "http://127.0.0.1:0", "EnableWebSocketOverHttp2": true}}}}`), "f", nil, nil)
	if err == nil || !strings.Contains(err.Error(), `did you mean "Kestrel:Endpoints:Web:EnableWebSocketsOverHTTP2"`) {
		t.Errorf("misspelt key: %v", err)
	}
}

// TestMetricsExtendedConnect: an extended CONNECT counts in
// kestrel.upgraded_connections while its handler runs, and is logged as
// ExtendedConnect (Debug, Kestrel's HTTP/2 category, id 1020); one over
// the limit as ExtendedConnectRefused (1021).
func TestMetricsExtendedConnect(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{MeterProvider: mp, Logger: log, Handler: tunnelEcho(), Limits: Limits{MaxConcurrentUpgradedConnections: 1}}
	s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2, EnableWebSocketsOverHTTP2: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	c := dialTunnelH2(t, addr)
	c.send(1, false, extendedConnect("websocket")...)
	if status, _, _, _ := c.answer(1, false); status != 200 {
		t.Fatalf("extended CONNECT: %d", status)
	}
	waitMetric(t, reader, "kestrel.upgraded_connections", map[string]string{"server.port": portOf(addr)}, 1)
	c.send(3, true, extendedConnect("websocket")...)
	if status, _, _, _ := c.answer(3, true); status != http.StatusServiceUnavailable {
		t.Errorf("over the limit: %d", status)
	}
	c.fr.WriteData(1, true, nil)
	waitMetric(t, reader, "kestrel.upgraded_connections", nil, 0)
	ev := rec.events("ExtendedConnect")
	if len(ev) != 1 || ev[0].level != slog.LevelDebug || ev[0].attrs[logging.CategoryKey] != "Microsoft.AspNetCore.Server.Kestrel.Http2" ||
		ev[0].attrs[logging.EventIDKey] != "1020" || ev[0].attrs["protocol"] != "websocket" || ev[0].attrs["path"] != "/ws" {
		t.Errorf("ExtendedConnect events: %+v", ev)
	}
	if ev := rec.events("ExtendedConnectRefused"); len(ev) != 1 || ev[0].attrs[logging.EventIDKey] != "1021" {
		t.Errorf("ExtendedConnectRefused events: %+v", ev)
	}
}

// TestTunnelCloseEndsPendingWrite: Close on an extended CONNECT's
// connection (Upgrade over HTTP/2) fails a Write that waits for a client
// that reads nothing, as closing a TCP connection does, so that a handler
// can give up on such a client (a proxy ending both directions, a write
// timeout that closes); so does the handler's return, which ends the
// stream, for a write left waiting in another goroutine. The write waited
// for the client's window forever, holding the handler (or its return),
// its stream and its connection.
func TestTunnelCloseEndsPendingWrite(t *testing.T) {
	t.Parallel()
	for _, byClose := range []bool{true, false} {
		wrote := make(chan error, 1)
		returned := make(chan struct{})
		s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := Upgrade(w, r)
			if err != nil {
				wrote <- err
				return
			}
			write := func() {
				_, err := conn.Write(make([]byte, 1<<20)) // beyond the stream's window of 65,535 bytes
				wrote <- err
			}
			if byClose {
				defer close(returned)
				go func() {
					time.Sleep(50 * time.Millisecond) // the write waits for the window
					conn.Close()
				}()
				write()
				return
			}
			go write()
			time.Sleep(50 * time.Millisecond)
		})}
		if !byClose {
			close(returned)
		}
		s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", EnableWebSocketsOverHTTP2: true})
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c := dialTunnelH2(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
		c.send(1, false, extendedConnect("websocket")...) // then reads nothing
		select {
		case err := <-wrote:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("close %v: the pending write ended with %v, want net.ErrClosed", byClose, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("close %v: the write waiting for a client that reads nothing did not end", byClose)
		}
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("the handler did not return")
		}
	}
}

// TestExtendedConnectAcceptStatus: Upgrade answers an extended CONNECT
// with the 2xx status the handler set, 200 when it set none, as Kestrel's
// AcceptAsync; with another status set it fails, sending nothing, so that
// the handler answers it normally (Kestrel: ConnectStatusMustBe2XX). A
// 403 was sent and the stream tunnelled behind it, and the native path
// replaced the handler's status with 200.
func TestExtendedConnectAcceptStatus(t *testing.T) {
	t.Parallel()
	tunnel := func(conn net.Conn) {
		io.Copy(conn, conn)
	}
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := atoi(r.URL.Query().Get("status")); code != 0 {
			w.WriteHeader(code)
		}
		conn, err := Upgrade(w, r)
		if err != nil {
			io.WriteString(w, "not accepted")
			return
		}
		tunnel(conn)
	})
	native := NativeHandlerFunc(func(c *Context) {
		q, _ := url.ParseQuery(string(c.Query()))
		if code := atoi(q.Get("status")); code != 0 {
			c.SetStatus(code)
		}
		conn, err := c.Upgrade()
		if err != nil {
			c.WriteString("not accepted")
			return
		}
		tunnel(conn)
	})
	for _, s := range []*Server{{Handler: std}, {NativeHandler: native}} {
		s.Logger = quietLogger
		s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP2, EnableWebSocketsOverHTTP2: true})
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c := dialTunnelH2(t, strings.TrimPrefix(s.Addresses()[0], "http://"))
		for i, tc := range []struct {
			set, want int
			accepted  bool
		}{
			{0, 200, true},
			{200, 200, true},
			{201, 201, true},
			{299, 299, true},
			{300, 300, false}, // one over the 2xx range
			{403, 403, false},
		} {
			id := uint32(2*i + 1)
			f := extendedConnect("websocket")
			f[7] = "/ws?status=" + strconv.Itoa(tc.set)
			c.send(id, false, f...)
			if !tc.accepted {
				c.fr.WriteData(id, true, nil) // ends a tunnel opened all the same
				status, _, code, body := c.answer(id, true)
				if status != tc.want || body != "not accepted" {
					t.Errorf("native %v, status %d set: %d %q (reset %v), want %d %q", s.NativeHandler != nil, tc.set, status, body, code, tc.want, "not accepted")
				}
				continue
			}
			status, _, code, _ := c.answer(id, false)
			if status != tc.want {
				t.Errorf("native %v, status %d set: answered %d (reset %v), want %d", s.NativeHandler != nil, tc.set, status, code, tc.want)
				continue
			}
			c.fr.WriteData(id, true, []byte("tunnel"))
			if _, _, _, body := c.answer(id, true); body != "tunnel" {
				t.Errorf("native %v, status %d: echoed %q", s.NativeHandler != nil, tc.set, body)
			}
		}
	}
}
