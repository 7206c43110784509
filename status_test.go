package kestrel

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// statusDoc is the JSON form of the status page, as a script reads it.
type statusDoc struct {
	Version       string  `json:"version"`
	State         string  `json:"state"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	Drain         struct {
		DelaySeconds     float64  `json:"delaySeconds"`
		RemainingSeconds *float64 `json:"remainingSeconds"`
	} `json:"drain"`
	Endpoints []struct {
		URL           string   `json:"url"`
		Protocols     []string `json:"protocols"`
		TLS           bool     `json:"tls"`
		ProxyProtocol bool     `json:"proxyProtocol"`
	} `json:"endpoints"`
	Counting    bool `json:"counting"`
	Connections struct {
		Active     int64            `json:"active"`
		ByProtocol map[string]int64 `json:"byProtocol"`
		Upgraded   int64            `json:"upgraded"`
		Rejected   int64            `json:"rejected"`
		Errors     map[string]int64 `json:"errors"`
	} `json:"connections"`
	Requests struct {
		Total      int64            `json:"total"`
		Active     int64            `json:"active"`
		Errors     int64            `json:"errors"`
		ByProtocol map[string]int64 `json:"byProtocol"`
		PerSecond  float64          `json:"perSecond"`
		Latency    struct {
			WindowSeconds float64 `json:"windowSeconds"`
			Count         int64   `json:"count"`
			P50Seconds    float64 `json:"p50Seconds"`
			P99Seconds    float64 `json:"p99Seconds"`
		} `json:"latency"`
	} `json:"requests"`
	TLS struct {
		Handshakes int64            `json:"handshakes"`
		Failures   map[string]int64 `json:"failures"`
	} `json:"tls"`
}

// getStatus fetches url (the page's JSON form) on a connection of its
// own and decodes it.
func getStatus(t *testing.T, url string) statusDoc {
	t.Helper()
	c := newClient(t)
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET %s: %d, Content-Type %q, Cache-Control %q: %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), body)
	}
	c.CloseIdleConnections()
	var d statusDoc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return d
}

// TestStatusJSON makes known traffic (HTTP/1.1, h2c, HTTPS, a failing
// handler, a bad request line, a failed TLS handshake, a connection over
// the limit) and checks the status page's JSON against it and against
// the metrics.
func TestStatusJSON(t *testing.T) {
	t.Parallel()
	reader, mp := metricstest.New()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{MeterProvider: mp, Logger: quietLogger, DrainDelay: 3 * time.Second}
	s.Limits.MaxConcurrentConnections = 3
	mux := http.NewServeMux()
	mux.Handle("/status", s.StatusHandler(nil))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	s.Handler = mux
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert}, Protocols: HTTP1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addrs := s.Addresses()
	plain, secure := strings.TrimPrefix(addrs[0], "http://"), strings.TrimPrefix(addrs[1], "https://")

	// 6 HTTP/1.1 requests, 2 of them failing; 3 over h2c; 2 over HTTPS.
	h1 := newClient(t)
	for i, path := range []string{"/", "/", "/fail", "/", "/fail", "/"} {
		resp, err := h1.Get("http://" + plain + path)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	h2c := &http.Client{Transport: &http.Transport{Protocols: new(http.Protocols)}, Timeout: 10 * time.Second}
	h2c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)
	for range 3 {
		resp, err := h2c.Get("http://" + plain + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("h2c client spoke %s", resp.Proto)
		}
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	for range 2 {
		resp, err := https.Get("https://" + secure + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	h1.CloseIdleConnections()
	h2c.CloseIdleConnections()
	https.CloseIdleConnections()
	// Their connections end before the next ones, which the limit would
	// refuse otherwise.
	waitMetric(t, reader, "kestrel.active_connections", nil, 0)

	// A bad request line, plain HTTP on the HTTPS port, and a connection
	// over the limit while three are held.
	for _, tc := range []struct{ addr, send string }{{plain, "BAD\r\n\r\n"}, {secure, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"}} {
		c := dial(t, tc.addr)
		io.WriteString(c, tc.send)
		io.ReadAll(c)
		c.Close()
	}
	waitMetric(t, reader, "kestrel.active_connections", nil, 0)
	held := []io.Closer{dial(t, plain), dial(t, plain), dial(t, plain)}
	waitMetric(t, reader, "kestrel.active_connections", nil, 3)
	over := dial(t, plain)
	io.ReadAll(over) // closed at once
	over.Close()
	for _, c := range held {
		c.Close()
	}
	waitMetric(t, reader, "kestrel.active_connections", nil, 0)
	waitMetric(t, reader, "http.server.request.duration", nil, 11)

	d := getStatus(t, "http://"+plain+"/status?format=json")
	check := func(name string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if d.State != "ready" || !d.Counting || !strings.HasPrefix(d.Version, "kestrel ") || d.UptimeSeconds <= 0 || d.Drain.DelaySeconds != 3 || d.Drain.RemainingSeconds != nil {
		t.Errorf("state %q, counting %v, version %q, uptime %v, drain %+v", d.State, d.Counting, d.Version, d.UptimeSeconds, d.Drain)
	}
	if len(d.Endpoints) != 2 || d.Endpoints[0].URL != addrs[0] || strings.Join(d.Endpoints[0].Protocols, ",") != "HTTP/1.1,HTTP/2" || d.Endpoints[0].TLS ||
		d.Endpoints[1].URL != addrs[1] || strings.Join(d.Endpoints[1].Protocols, ",") != "HTTP/1.1" || !d.Endpoints[1].TLS {
		t.Errorf("endpoints %+v, want %v", d.Endpoints, addrs)
	}
	// The page's own request is in flight on the only connection.
	check("requests.total", d.Requests.Total, 11)
	check("requests.active", d.Requests.Active, 1)
	check("requests.errors", d.Requests.Errors, 2)
	check("HTTP/1.1 requests", d.Requests.ByProtocol["HTTP/1.1"], 8)
	check("HTTP/2 requests", d.Requests.ByProtocol["HTTP/2"], 3)
	check("requests in the last minute", d.Requests.Latency.Count, 11)
	check("connections.active", d.Connections.Active, 1)
	check("HTTP/1.1 connections", d.Connections.ByProtocol["HTTP/1.1"], 1)
	check("HTTP/2 connections (all closed, h2c ones included)", d.Connections.ByProtocol["HTTP/2"], 0)
	check("connections negotiating (all closed, TLS ones included)", d.Connections.ByProtocol["negotiating"], 0)
	check("connections.rejected", d.Connections.Rejected, 1)
	check("max_concurrent_connections_exceeded", d.Connections.Errors["max_concurrent_connections_exceeded"], 1)
	check("invalid_request_line", d.Connections.Errors["invalid_request_line"], 1)
	check("tls_handshake_failed", d.Connections.Errors["tls_handshake_failed"], 1)
	check("TLS handshakes", d.TLS.Handshakes, 2) // one connection for both HTTPS requests, and the failure
	check("plain_http handshakes", d.TLS.Failures["plain_http"], 1)
	if d.Requests.Latency.P50Seconds <= 0 || d.Requests.Latency.P99Seconds < d.Requests.Latency.P50Seconds || d.Requests.Latency.P99Seconds > 10 {
		t.Errorf("p50 %v s, p99 %v s", d.Requests.Latency.P50Seconds, d.Requests.Latency.P99Seconds)
	}

	// The same counts in the metrics, now that the page's request ended.
	waitMetric(t, reader, "http.server.request.duration", nil, 12)
	waitMetric(t, reader, "http.server.request.duration", map[string]string{"network.protocol.version": "2"}, 3)
	waitMetric(t, reader, "http.server.request.duration", map[string]string{"error.type": "500"}, 2)
	waitMetric(t, reader, "kestrel.rejected_connections", nil, 1)
	for reason, n := range d.Connections.Errors {
		waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": reason}, float64(n))
	}
	waitMetric(t, reader, "kestrel.tls_handshake.duration", nil, 2)
	waitMetric(t, reader, "kestrel.tls_handshake.duration", map[string]string{"error.type": "plain_http"}, 1)

	// While draining: the state, and the drain delay's countdown.
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
	d = getStatus(t, "http://"+plain+"/status?format=json")
	if d.State != "draining" || d.Drain.RemainingSeconds == nil || *d.Drain.RemainingSeconds <= 0 || *d.Drain.RemainingSeconds > 3 {
		t.Errorf("while draining: state %q, drain %+v", d.State, d.Drain)
	}
	s.Close()
	<-done
}

// TestStatusDrainCountdown: the page's drain countdown is what is left of
// the delay as Shutdown waits it: a Shutdown context that ends first ends
// the delay then, and the countdown with it (it showed the whole
// DrainDelay, an hour here, for a server about to stop accepting).
func TestStatusDrainCountdown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		timeout time.Duration // of Shutdown's context; 0: none
		want    float64       // seconds left, about
	}{
		{0, 3600},
		{5 * time.Second, 5},
	} {
		s := &Server{Logger: quietLogger, DrainDelay: time.Hour}
		s.Handler = s.StatusHandler(nil)
		addr := startServer(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		if tc.timeout > 0 {
			ctx, cancel = context.WithTimeout(context.Background(), tc.timeout)
		}
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(ctx) }()
		pollUntil(t, "draining state", func() bool { return s.State() == StateDraining })
		var d statusDoc
		pollUntil(t, "a countdown", func() bool {
			d = getStatus(t, "http://"+addr+"/?format=json")
			return d.Drain.RemainingSeconds != nil && *d.Drain.RemainingSeconds > 0
		})
		if left := *d.Drain.RemainingSeconds; left > tc.want || left < tc.want-2 {
			t.Errorf("Shutdown with a %v context (0: none), DrainDelay 1h: %v s left of the delay, want about %v", tc.timeout, left, tc.want)
		}
		s.Close()
		<-done
		cancel()
	}
}

// TestStatusPageHTML: the page is HTML that carries the numbers and
// escapes what it prints, with a Content-Security-Policy that allows its
// own script and style only.
func TestStatusPageHTML(t *testing.T) {
	t.Parallel()
	s := &Server{}
	h := s.StatusHandler(nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/status", nil)
	req.RemoteAddr = "127.0.0.1:4000"
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("Cache-Control") != "no-store" ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	for _, want := range []string{`<span id="state" class="starting" data-k="state">starting</span>`, `data-k="requests.latency.p99Seconds"`, `http-equiv="refresh"`, "<script>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	st := serverStatus{State: `<b>"x"&'y'`, Version: "<script>alert(1)</script>", Endpoints: []statusEndpoint{{URL: "http://<x>"}},
		Connections: statusConns{Errors: map[string]int64{"<i>": 1}}}
	page := string(statusPage(&st))
	for _, bad := range []string{"<b>", "<x>", "<i>", "<script>alert"} {
		if strings.Contains(page, bad) {
			t.Errorf("page prints %q unescaped", bad)
		}
	}
	if !strings.Contains(page, "&lt;b&gt;&#34;x&#34;&amp;&#39;y&#39;") {
		t.Error("the state is not escaped as expected")
	}
}

// TestStatusAccess: the page answers loopback clients only, from the
// connection's address (here the client's, given by the PROXY protocol
// as a balancer would), unless AllowedNetworks names the client's
// network; forwarding headers must name allowed clients too.
func TestStatusAccess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		allowed []netip.Prefix
		src     string
		header  string
		want    int
	}{
		{"loopback", nil, "127.0.0.1:1000", "", 200},
		{"remote", nil, "10.1.2.3:1000", "", 403},
		{"remote allowed", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "10.1.2.3:1000", "", 200},
		{"other network", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "192.0.2.1:1000", "", 403},
		// The IPv4-mapped form of 10.0.0.0/8, and IPv6's whole space,
		// which holds no IPv4 address.
		{"mapped network", []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}, "10.1.2.3:1000", "", 200},
		{"IPv6 space", []netip.Prefix{netip.MustParsePrefix("::/0")}, "10.1.2.3:1000", "", 403},
		{"proxied from remote", nil, "127.0.0.1:1000", "X-Forwarded-For: 127.0.0.1, 192.0.2.1\r\n", 403},
		{"proxied from loopback", nil, "127.0.0.1:1000", "X-Forwarded-For: 127.0.0.1\r\n", 200},
		{"Forwarded from remote", nil, "127.0.0.1:1000", "Forwarded: for=\"[2001:db8::1]:4711\"\r\n", 403},
		{"Forwarded unknown", nil, "127.0.0.1:1000", "Forwarded: for=unknown\r\n", 403},
		// nginx's common "proxy_set_header X-Real-IP $remote_addr", alone.
		{"X-Real-IP from remote", nil, "127.0.0.1:1000", "X-Real-IP: 192.0.2.1\r\n", 403},
		{"X-Real-IP from loopback", nil, "127.0.0.1:1000", "X-Real-IP: ::1\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Server{Logger: quietLogger}
			s.Handler = s.StatusHandler(&StatusOptions{AllowedNetworks: tc.allowed})
			if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			a := strings.TrimPrefix(s.Addresses()[0], "http://")
			c := dial(t, a)
			h := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
				SourceAddr: mustTCPAddr(t, tc.src), DestinationAddr: mustTCPAddr(t, a)}
			hdr, err := h.Format()
			if err != nil {
				t.Fatal(err)
			}
			c.Write(append(hdr, "GET /status?format=json HTTP/1.1\r\nHost: x\r\n"+tc.header+"\r\n"...))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%d, Cache-Control %q; want %d, no-store", resp.StatusCode, resp.Header.Get("Cache-Control"), tc.want)
			}
		})
	}
}

// TestStatusAfterStart: a handler made after Start says it has no
// counts rather than showing zeros as if they were counted.
func TestStatusAfterStart(t *testing.T) {
	t.Parallel()
	_, mp := metricstest.New()
	for _, s := range []*Server{{}, {MeterProvider: mp}} {
		rec, log := newLogRecorder(slog.LevelDebug)
		s.Logger = log
		mux := http.NewServeMux()
		s.Handler = mux
		addr := startServer(t, s)
		mux.Handle("/status", s.StatusHandler(nil))
		d := getStatus(t, "http://"+addr+"/status?format=json")
		if d.Counting || d.State != "ready" || len(d.Endpoints) != 1 {
			t.Errorf("MeterProvider %v: counting %v, state %q, endpoints %+v", s.MeterProvider != nil, d.Counting, d.State, d.Endpoints)
		}
		if e := rec.events("StatusAfterStart"); len(e) != 1 || e[0].level != slog.LevelWarn {
			t.Errorf("MeterProvider %v: StatusAfterStart events %+v, want one warning", s.MeterProvider != nil, e)
		}
	}
}

// TestConfigStatus: Kestrel:Status from the file and the environment,
// and its errors, each naming the key and the fix.
func TestConfigStatus(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"Status": {"Path": "/status", "AllowedNetworks": ["10.8.0.0/16"]}}}`), "f", nil,
		[]string{"Kestrel__Status__Path=/_status", "Kestrel__Status__AllowedNetworks__1=192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	path, opts, err := cfg.StatusPage()
	want := []netip.Prefix{netip.MustParsePrefix("10.8.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}
	if err != nil || path != "/_status" || len(opts.AllowedNetworks) != 2 || opts.AllowedNetworks[0] != want[0] || opts.AllowedNetworks[1] != want[1] {
		t.Errorf("StatusPage() = %q, %v, %v; want /_status, %v", path, opts.AllowedNetworks, err, want)
	}
	if err := cfg.Apply(&Server{Logger: quietLogger}); err != nil {
		t.Errorf("Apply: %v", err)
	}
	if path, _, err := (&Config{}).StatusPage(); path != "" || err != nil {
		t.Errorf("no Kestrel:Status: %q, %v; want no page", path, err)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"Kestrel": {"Status": {"Path": "status"}}}`, `Kestrel:Status:Path: "status": use a path beginning with /, such as /status`},
		{`{"Kestrel": {"Status": {"Path": "/s", "AllowedNetworks": ["10.0.0.0/33"]}}}`, `Kestrel:Status:AllowedNetworks:0: "10.0.0.0/33" is not a network such as 10.8.0.0/16 or an address`},
		{`{"Kestrel": {"Status": {"Paht": "/s"}}}`, `did you mean "Kestrel:Status:Path"?`},
	} {
		cfg, err := ParseConfig([]byte(tc.json), "f", nil, nil)
		if err == nil {
			err = cfg.Apply(&Server{Logger: quietLogger})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.json, err, tc.want)
		}
	}
}
