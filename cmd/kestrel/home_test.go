package main

import (
	"context"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
)

// TestHomePageInChromium: headless Chromium opens the demo app's home
// page from the command over HTTPS (h2, then h3 with QUIC forced for the
// origin) with --metrics on. The page's script tries every route, the
// WebSocket echo included, and reads the live counters; the test reads
// the results from the DOM (--dump-dom) and writes a screenshot, whose
// path it logs.
func TestHomePageInChromium(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium", "")
	dir := t.TempDir()
	certFile, keyFile, err := certs.CreateDevCert(filepath.Join(dir, "cert"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "kestrel.json")
	os.WriteFile(config, []byte(`{"Kestrel": {"Endpoints": {
		"Http": {"Url": "http://127.0.0.1:0"},
		"Https": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3", "Certificate": {"Path": "`+certFile+`", "KeyPath": "`+keyFile+`"}}}}}`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--config", config, "--metrics", "http://127.0.0.1:0"}, nil, &log)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	}()
	var base, plain string
	for deadline := time.Now().Add(30 * time.Second); (base == "" || plain == "") && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`Now listening on: (https://\S+)`).FindStringSubmatch(log.String()); m != nil {
			base = m[1]
		}
		if m := regexp.MustCompile(`Now listening on: (http://\S+)`).FindStringSubmatch(log.String()); m != nil {
			plain = m[1]
		}
	}
	if base == "" || plain == "" {
		t.Fatalf("the server never logged its addresses:\n%s", log.String())
	}

	chrome := func(profile string, args ...string) string {
		t.Helper()
		return headlessChromium(t, chromium, filepath.Join(dir, profile), append([]string{
			"--ignore-certificate-errors-spki-list=" + spkiHash(t, certFile),
			"--virtual-time-budget=30000", "--window-size=1280,1320"}, args...)...)
	}

	// Virtual time runs ahead while no fetch is pending, and a WebSocket
	// is no fetch: on a busy machine the budget can end before the echoes
	// do. A page still trying (and nothing failed) is loaded again.
	load := func(profile string, args ...string) string {
		t.Helper()
		for try := 1; ; try++ {
			dom := chrome(profile, append(args, "--dump-dom", base+"/")...)
			if try == 3 || strings.Contains(dom, `data-tried="done"`) || strings.Contains(dom, `data-state="fail"`) {
				return dom
			}
			t.Logf("try %d: the page had not finished trying the routes when Chromium dumped it", try)
		}
	}
	checkRoutes := func(dom string) {
		t.Helper()
		if !strings.Contains(dom, `data-tried="done"`) {
			t.Fatalf("the page's script did not finish trying the routes; its DOM:\n%s", dom)
		}
		rows := regexp.MustCompile(`<tr data-method="([^"]+)" data-url="([^"]+)"[^>]*>.*?<td class="res (ok|fail)" data-state="[^"]*">([^<]*)</td></tr>`).FindAllStringSubmatch(dom, -1)
		if len(rows) != 6 {
			t.Errorf("%d routes tried, want 6; DOM:\n%s", len(rows), dom)
		}
		for _, r := range rows {
			t.Logf("%s %s: %s %s", r[1], html.UnescapeString(r[2]), r[3], html.UnescapeString(r[4]))
			if r[3] != "ok" {
				t.Errorf("%s %s failed in the browser: %s", r[1], html.UnescapeString(r[2]), html.UnescapeString(r[4]))
			}
		}
		if ws := regexp.MustCompile(`median round trip [0-9.]+ ms`).FindString(dom); ws == "" {
			t.Error("no WebSocket round trip reported")
		}
	}
	attr := func(dom, re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(dom)
		if m == nil {
			return ""
		}
		return html.UnescapeString(m[1])
	}
	checkProtocol := func(dom, proto, seen, alpn string) {
		t.Helper()
		if got := attr(dom, `<span class="big" id="proto">([^<]*)<`); got != proto {
			t.Errorf("protocol %q, want %q", got, proto)
		}
		if got := attr(dom, `<code id="seen">([^<]*)<`); got != seen {
			t.Errorf("the browser saw %q, want %q", got, seen)
		}
		if got := attr(dom, `<td id="tls">([^<]*)<`); !strings.HasPrefix(got, "TLS 1.3 · TLS_") || !strings.Contains(got, "ALPN "+alpn) {
			t.Errorf("TLS row %q, want TLS 1.3, its suite and ALPN %s", got, alpn)
		}
	}

	// HTTP/2: the first visit, Alt-Svc offers HTTP/3.
	dom := load("profile-h2")
	checkRoutes(dom)
	checkProtocol(dom, "HTTP/2 (h2)", "h2", "h2")
	if got, port := attr(dom, `<code id="altsvc">([^<]*)<`), base[strings.LastIndex(base, ":")+1:]; got != `Alt-Svc: h3=":`+port+`"; ma=86400` {
		t.Errorf("Alt-Svc row %q, want h3 on port %s", got, port)
	}
	if attr(dom, `<code id="version">([^<]+)<`) == "" {
		t.Error("no version on the page")
	}
	for _, a := range []string{base, plain} {
		if !strings.Contains(dom, `<a href="`+a+`/">`+a+`</a>`) {
			t.Errorf("no link to %s on the page", a)
		}
	}
	polls, _ := strconv.Atoi(attr(dom, `data-stats-polls="(\d+)"`))
	requests, _ := strconv.Atoi(strings.ReplaceAll(attr(dom, `<b id="stat-requests">([^<]*)<`), ",", ""))
	if polls < 1 || requests < 6 {
		t.Errorf("live counters: %d polls, %d requests served; want at least 1 poll and the 6 requests the page made", polls, requests)
	}

	// HTTP/3, QUIC forced for the origin (its UDP port is the TCP one).
	h3 := load("profile-h3", "--enable-quic", "--origin-to-force-quic-on="+strings.TrimPrefix(base, "https://"))
	checkRoutes(h3)
	checkProtocol(h3, "HTTP/3 (h3, QUIC)", "h3", "h3")

	shot := filepath.Join(dir, "home.png")
	chrome("profile-shot", "--screenshot="+shot, "--hide-scrollbars", base+"/")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("no screenshot: %v", err)
	}
	if keep := os.Getenv("KESTREL_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(keep, data, 0o644)
		shot = keep
	}
	t.Logf("screenshot of the home page: %s (set KESTREL_SCREENSHOT=FILE to keep it)", shot)
}
