package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
)

// promSeries is one line of the Prometheus text format: a metric name,
// its labels as written, and its value.
type promSeries struct {
	name, labels string
	value        float64
}

var promLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)`)

// scrapeProm reads the metrics endpoint.
func scrapeProm(t *testing.T, url string) []promSeries {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []promSeries
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := promLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		out = append(out, promSeries{m[1], m[2], v})
	}
	return out
}

// promSum adds the values of the series called name whose labels hold
// every one of labels (written as `key="value"`).
func promSum(series []promSeries, name string, labels ...string) int64 {
	var n float64
next:
	for _, s := range series {
		if s.name != name {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(s.labels, l) {
				continue next
			}
		}
		n += s.value
	}
	return int64(n)
}

// statusJSON is the part of the status page's JSON the test checks.
type statusJSON struct {
	State     string `json:"state"`
	Endpoints []struct {
		URL       string   `json:"url"`
		Protocols []string `json:"protocols"`
		TLS       bool     `json:"tls"`
	} `json:"endpoints"`
	Connections struct {
		Active     int64            `json:"active"`
		ByProtocol map[string]int64 `json:"byProtocol"`
		Rejected   int64            `json:"rejected"`
		Errors     map[string]int64 `json:"errors"`
	} `json:"connections"`
	Requests struct {
		Total      int64            `json:"total"`
		Active     int64            `json:"active"`
		ByProtocol map[string]int64 `json:"byProtocol"`
		PerSecond  float64          `json:"perSecond"`
		Latency    struct {
			Count      int64   `json:"count"`
			P50Seconds float64 `json:"p50Seconds"`
			P99Seconds float64 `json:"p99Seconds"`
		} `json:"latency"`
	} `json:"requests"`
	TLS struct {
		Handshakes int64            `json:"handshakes"`
		Failures   map[string]int64 `json:"failures"`
	} `json:"tls"`
}

// TestStatusPageInChromium runs the command with --status and --metrics
// on an HTTP and an HTTPS endpoint, provokes rejected connections (over
// MaxConcurrentConnections), a failed TLS handshake and a bad request
// line, and puts it under load (HTTP/1.1 keep-alive and a connection per
// request, HTTP/2 over TLS). Under load, headless Chromium shows the page
// after its script has refreshed it: a screenshot goes to the test's
// artifact folder (go test -artifacts -outputdir DIR keeps it), and the
// numbers in its DOM are checked. Once the load stops, the page's JSON
// and its DOM are checked against the Prometheus endpoint's counters:
// exactly, but for the requests the check itself makes.
func TestStatusPageInChromium(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium", "")
	dir := t.TempDir()
	certFile, keyFile, err := certs.CreateDevCert(filepath.Join(dir, "cert"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const limit = 40
	config := filepath.Join(dir, "kestrel.json")
	os.WriteFile(config, []byte(`{"Kestrel": {"Limits": {"MaxConcurrentConnections": `+strconv.Itoa(limit)+`},
		"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"},
		"Https": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": "`+certFile+`", "KeyPath": "`+keyFile+`"}}}}}`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--config", config, "--metrics", "http://127.0.0.1:0", "--status", "/status"}, nil, &log)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	}()
	var plain, secure, metricsURL string
	for deadline := time.Now().Add(30 * time.Second); (plain == "" || secure == "" || metricsURL == "") && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out := log.String()
		if m := regexp.MustCompile(`Now listening on: (http://\S+)`).FindStringSubmatch(out); m != nil {
			plain = m[1]
		}
		if m := regexp.MustCompile(`Now listening on: (https://\S+)`).FindStringSubmatch(out); m != nil {
			secure = m[1]
		}
		if m := metricsListening.FindStringSubmatch(out); m != nil {
			metricsURL = m[1]
		}
	}
	if plain == "" || secure == "" || metricsURL == "" {
		t.Fatalf("the server never logged its addresses:\n%s", log.String())
	}
	statusURL := plain + "/status"
	getJSON := func() statusJSON {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(statusURL + "?format=json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st statusJSON
		if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil {
			t.Fatalf("GET %s?format=json: %d %s", statusURL, resp.StatusCode, body)
		}
		return st
	}
	waitProm := func(what string, cond func([]promSeries) bool) []promSeries {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			s := scrapeProm(t, metricsURL)
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10 s", what)
			}
		}
	}

	// Rejected connections: the limit's worth held, three more refused.
	hostPlain := strings.TrimPrefix(plain, "http://")
	var held []net.Conn
	for range limit {
		c, err := net.DialTimeout("tcp", hostPlain, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitProm("held connections", func(s []promSeries) bool { return promSum(s, "kestrel_active_connections") == limit })
	for range 3 {
		c, err := net.DialTimeout("tcp", hostPlain, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.ReadAll(c) // closed by the server at once
		c.Close()
	}
	for _, c := range held {
		c.Close()
	}
	waitProm("the held connections closed", func(s []promSeries) bool { return promSum(s, "kestrel_active_connections") == 0 })
	// A bad request line, and plain HTTP on the HTTPS port.
	for _, tc := range []struct{ addr, send string }{
		{hostPlain, "NOT HTTP\r\n\r\n"},
		{strings.TrimPrefix(secure, "https://"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		c, err := net.DialTimeout("tcp", tc.addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, tc.send)
		io.ReadAll(c)
		c.Close()
	}
	waitProm("the connections closed", func(s []promSeries) bool { return promSum(s, "kestrel_active_connections") == 0 })

	// The load: HTTP/1.1 keep-alive, a connection per request, HTTP/2 over TLS.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	var clients []*http.Client
	client := func(tr *http.Transport) *http.Client {
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		clients = append(clients, c)
		return c
	}
	tlsConf := func() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } // one each: a Transport adds its ALPN
	for _, lc := range []struct {
		c   *http.Client
		url string
	}{
		{client(&http.Transport{}), plain + "/plaintext"},
		{client(&http.Transport{}), plain + "/json"},
		{client(&http.Transport{DisableKeepAlives: true}), plain + "/plaintext"},
		{client(&http.Transport{TLSClientConfig: tlsConf(), ForceAttemptHTTP2: true}), secure + "/plaintext"},
		{client(&http.Transport{TLSClientConfig: tlsConf(), ForceAttemptHTTP2: true}), secure + "/json"},
	} {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				sent.Add(1)
				resp, err := lc.c.Get(lc.url)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				time.Sleep(time.Millisecond) // a steady load that leaves the machine room for Chromium
			}
		})
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopLoad()
			wg.Wait()
			for _, c := range clients {
				c.CloseIdleConnections()
			}
		}
	}
	defer stop()

	// Under load: the JSON shows a rate, connections of both protocols,
	// and latencies.
	var busy statusJSON
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		busy = getJSON()
		if busy.Requests.PerSecond > 0 && busy.Connections.ByProtocol["HTTP/1.1"] > 0 && busy.Connections.ByProtocol["HTTP/2"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("under load, the page shows %+v", busy)
		}
	}
	if busy.Requests.Latency.Count == 0 || busy.Requests.Latency.P50Seconds <= 0 || busy.Requests.Latency.P99Seconds < busy.Requests.Latency.P50Seconds {
		t.Errorf("under load: latency %+v", busy.Requests.Latency)
	}
	t.Logf("under load: %.0f requests/s, p50 %.3f ms, p99 %.3f ms, connections %v",
		busy.Requests.PerSecond, busy.Requests.Latency.P50Seconds*1000, busy.Requests.Latency.P99Seconds*1000, busy.Connections.ByProtocol)

	chrome := func(profile string, args ...string) string {
		t.Helper()
		return headlessChromium(t, chromium, filepath.Join(dir, profile), append([]string{
			"--virtual-time-budget=4000", "--window-size=1280,1100"}, args...)...)
	}
	cellRe := func(k string) *regexp.Regexp {
		return regexp.MustCompile(`data-k="` + regexp.QuoteMeta(k) + `"[^>]*>([^<]*)<`)
	}
	cell := func(dom, k string) string {
		m := cellRe(k).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("no %s on the page; its DOM:\n%s", k, dom)
		}
		return html.UnescapeString(m[1])
	}
	// num reads a number on the page, a duration ("12.5 µs", "1.250 ms",
	// "3.0 s") in seconds.
	num := func(dom, k string) float64 {
		t.Helper()
		f := strings.Fields(cell(dom, k) + " x")
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("%s on the page: %q", k, cell(dom, k))
		}
		switch f[1] {
		case "µs":
			v /= 1e6
		case "ms":
			v /= 1e3
		}
		return v
	}
	mapRows := func(dom, key string) map[string]int64 {
		t.Helper()
		m := regexp.MustCompile(`(?s)<tbody data-map="` + regexp.QuoteMeta(key) + `"[^>]*>(.*?)</tbody>`).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("no %s table on the page", key)
		}
		out := map[string]int64{}
		for _, r := range regexp.MustCompile(`<tr><td>([^<]*)</td><td class="n">(\d+)</td></tr>`).FindAllStringSubmatch(m[1], -1) {
			out[html.UnescapeString(r[1])], _ = strconv.ParseInt(r[2], 10, 64)
		}
		return out
	}
	updates := func(dom string) int {
		m := regexp.MustCompile(`<body data-updates="(\d+)"`).FindStringSubmatch(dom)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}

	// Chromium under load: the screenshot, then the DOM once the script
	// has refreshed it.
	art := t.ArtifactDir()
	shot := filepath.Join(art, "status.png")
	chrome("profile-shot", "--screenshot="+shot, "--hide-scrollbars", statusURL)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot of the status page under load: %s (kept with go test -artifacts -outputdir DIR)", shot)
	// Virtual time stops while a fetch is pending; on a busy machine the
	// budget may still end before the first refresh: the page is loaded
	// again then.
	load := func(profile string) string {
		t.Helper()
		for try := 1; ; try++ {
			dom := chrome(profile, "--dump-dom", statusURL)
			if updates(dom) >= 1 {
				return dom
			}
			if try == 3 {
				t.Fatalf("the page's script did not refresh it; its DOM:\n%s", dom)
			}
			t.Logf("try %d: the page's script had not refreshed it when Chromium dumped it", try)
		}
	}
	dom := load("profile-dom")
	if cell(dom, "state") != "ready" || num(dom, "requests.perSecond") <= 0 || num(dom, "connections.active") < 1 ||
		num(dom, "requests.latency.p50Seconds") <= 0 || num(dom, "requests.latency.p99Seconds") < num(dom, "requests.latency.p50Seconds") {
		t.Errorf("under load, the page shows state %q, %s requests/s, %s connections, p50 %s, p99 %s", cell(dom, "state"), cell(dom, "requests.perSecond"),
			cell(dom, "connections.active"), cell(dom, "requests.latency.p50Seconds"), cell(dom, "requests.latency.p99Seconds"))
	}
	for _, u := range []string{plain, secure} {
		if !strings.Contains(dom, "<td>"+u+"</td>") {
			t.Errorf("no endpoint %s on the page", u)
		}
	}
	os.WriteFile(filepath.Join(art, "status-under-load.html"), []byte(dom), 0o644)

	stop()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d of %d load requests failed", f, sent.Load())
	}
	t.Logf("the load sent %d requests", sent.Load())

	// At rest, the JSON against the metrics: every count is the same, but
	// for the JSON request itself (in flight on its own connection while
	// the page was read, counted in the metrics once it ends).
	waitProm("the load's connections closed", func(s []promSeries) bool {
		return promSum(s, "kestrel_active_connections") == 0 && promSum(s, "http_server_active_requests") == 0
	})
	st := getJSON()
	prom := waitProm("the page's request in the metrics", func(s []promSeries) bool {
		return promSum(s, "http_server_request_duration_seconds_count") == st.Requests.Total+1 && promSum(s, "kestrel_active_connections") == 0
	})
	check := func(what string, page, metrics int64) {
		t.Helper()
		if page != metrics {
			t.Errorf("%s: the page says %d, the metrics %d", what, page, metrics)
		}
	}
	check("requests", st.Requests.Total+1, promSum(prom, "http_server_request_duration_seconds_count"))
	check("HTTP/1.1 requests", st.Requests.ByProtocol["HTTP/1.1"]+1, promSum(prom, "http_server_request_duration_seconds_count", `network_protocol_version="1.1"`))
	check("HTTP/2 requests", st.Requests.ByProtocol["HTTP/2"], promSum(prom, "http_server_request_duration_seconds_count", `network_protocol_version="2"`))
	check("active requests", st.Requests.Active-1, promSum(prom, "http_server_active_requests"))
	check("active connections", st.Connections.Active-1, promSum(prom, "kestrel_active_connections"))
	check("rejected connections", st.Connections.Rejected, promSum(prom, "kestrel_rejected_connections_total"))
	check("rejected connections", st.Connections.Rejected, 3)
	check("TLS handshakes", st.TLS.Handshakes, promSum(prom, "kestrel_tls_handshake_duration_seconds_count"))
	check("failed TLS handshakes", st.TLS.Failures["plain_http"], promSum(prom, "kestrel_tls_handshake_duration_seconds_count", `error_type="plain_http"`))
	for _, reason := range []string{"max_concurrent_connections_exceeded", "invalid_request_line", "tls_handshake_failed"} {
		if st.Connections.Errors[reason] == 0 {
			t.Errorf("no %s on the page: %v", reason, st.Connections.Errors)
		}
	}
	for reason, n := range st.Connections.Errors {
		check("connections ended with "+reason, n, promSum(prom, "kestrel_connection_duration_seconds_count", `error_type="`+reason+`"`))
	}
	if st.Requests.Total < sent.Load() {
		t.Errorf("the page counts %d requests; the load alone sent %d", st.Requests.Total, sent.Load())
	}

	// The DOM at rest: its numbers lie between the metrics before and
	// after Chromium's own requests (the page, its refreshes, a favicon).
	before := scrapeProm(t, metricsURL)
	dom = load("profile-rest")
	after := waitProm("Chromium's connections closed", func(s []promSeries) bool {
		return promSum(s, "kestrel_active_connections") == 0 && promSum(s, "http_server_active_requests") == 0
	})
	lo, hi := promSum(before, "http_server_request_duration_seconds_count"), promSum(after, "http_server_request_duration_seconds_count")
	if got := int64(num(dom, "requests.total")); got < lo || got >= hi {
		t.Errorf("the page in Chromium counts %d requests; the metrics %d before it loaded and %d after", got, lo, hi)
	}
	between := func(what string, got int64, name string, labels ...string) {
		t.Helper()
		if lo, hi := promSum(before, name, labels...), promSum(after, name, labels...); got < lo || got > hi {
			t.Errorf("%s: the page in Chromium says %d; the metrics %d before it loaded and %d after", what, got, lo, hi)
		}
	}
	between("rejected connections", int64(num(dom, "connections.rejected")), "kestrel_rejected_connections_total")
	between("TLS handshakes", int64(num(dom, "tls.handshakes")), "kestrel_tls_handshake_duration_seconds_count")
	rows := mapRows(dom, "connections.errors")
	for reason, n := range rows {
		between("connections ended with "+reason, n, "kestrel_connection_duration_seconds_count", `error_type="`+reason+`"`)
	}
	for reason := range st.Connections.Errors {
		if _, ok := rows[reason]; !ok {
			t.Errorf("no %s in Chromium's table %v", reason, rows)
		}
	}
}

// TestStatusFromEnvironment: Kestrel__Status__Path turns the page on
// without the flag, ahead of the app, and overrides the flag as for every
// key (README: Configuration file); without either there is no page; a bad network is refused at start naming the
// key.
func TestStatusFromEnvironment(t *testing.T) {
	t.Parallel()
	base := start(t, []string{"--urls", "http://127.0.0.1:0"}, map[string]string{"Kestrel__Status__Path": "/_status"})
	if resp, body := get(t, base+"/_status?format=json"); resp.StatusCode != 200 || !strings.Contains(body, `"state": "ready"`) {
		t.Errorf("Kestrel__Status__Path: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, base+"/_status"); resp.StatusCode != 200 || !strings.Contains(body, "<title>Kestrel status</title>") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page: %d %v", resp.StatusCode, resp.Header)
	}
	base = start(t, []string{"--urls", "http://127.0.0.1:0", "--status", "/flag"}, map[string]string{"Kestrel__Status__Path": "/_status"})
	if resp, _ := get(t, base+"/_status?format=json"); resp.StatusCode != 200 {
		t.Errorf("the environment over --status: /_status %d", resp.StatusCode)
	}
	base = start(t, []string{"--urls", "http://127.0.0.1:0", "--status", "/flag"}, nil)
	if resp, _ := get(t, base+"/flag?format=json"); resp.StatusCode != 200 {
		t.Errorf("--status: /flag %d", resp.StatusCode)
	}
	base = start(t, []string{"--urls", "http://127.0.0.1:0"}, nil)
	if resp, body := get(t, base+"/status?format=json"); resp.StatusCode != 404 {
		t.Errorf("without --status: /status %d %s, want the app's 404", resp.StatusCode, body)
	}
	var log syncBuffer
	err := run(context.Background(), []string{"--urls", "http://127.0.0.1:0", "--status", "/s"}, []string{"Kestrel__Status__AllowedNetworks__0=10.0.0.0/99"}, &log)
	if err == nil || !strings.Contains(err.Error(), "Kestrel:Status:AllowedNetworks:0") || !strings.Contains(err.Error(), "Kestrel__Status__AllowedNetworks__0") {
		t.Errorf("a bad network: %v", err)
	}
}
