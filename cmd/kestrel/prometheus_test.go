package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var metricsListening = regexp.MustCompile(`Serving Prometheus metrics on: (http://[^\s"]+)`)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// promQuery evaluates an instant PromQL query that returns one number
// (-1 when it returns nothing yet).
func promQuery(t *testing.T, prom, query string) float64 {
	t.Helper()
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %q: %s %v", query, r.Status, err)
	}
	if len(r.Data.Result) == 0 {
		return -1
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %q: value %v", query, r.Data.Result[0].Value)
	}
	return v
}

// waitQuery polls the query until cond holds for its value.
func waitQuery(t *testing.T, prom, query string, what string, cond func(float64) bool) float64 {
	t.Helper()
	var v float64
	for deadline := time.Now().Add(12 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if v = promQuery(t, prom, query); cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s = %v", what, query, v)
		}
	}
}

// TestPrometheusScrapesMetrics runs the command with --metrics and a real
// Prometheus server scraping it every second, and checks through
// Prometheus's query API that kestrel_active_connections follows the open
// connections and kestrel_rejected_connections_total counts those refused
// by MaxConcurrentConnections.
func TestPrometheusScrapesMetrics(t *testing.T) {
	prometheus := needTool(t, "prometheus", "prometheus", "")
	t.Parallel()

	const limit = 4
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--urls", "http://127.0.0.1:0", "--metrics", "http://127.0.0.1:0"},
			[]string{"Kestrel__Limits__MaxConcurrentConnections=" + strconv.Itoa(limit)}, &log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	app := waitListening(t, log.String)
	var target string
	for deadline := time.Now().Add(10 * time.Second); target == ""; time.Sleep(20 * time.Millisecond) {
		if m := metricsListening.FindStringSubmatch(log.String()); m != nil {
			target = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no metrics listener in the log:\n%s", log.String())
		}
	}
	mu, _ := url.Parse(target)

	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: kestrel
    scrape_interval: 1s
    scrape_timeout: 900ms
    metrics_path: %s
    static_configs:
      - targets: ["%s"]
`, mu.Path, mu.Host)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr, "--log.level=warn")
	promLog := startTool(t, "prometheus", cmd)
	prom := "http://" + promAddr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(prom + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not become ready:\n%s", promLog.String())
		}
	}

	// The target is up and reports no connection yet.
	waitQuery(t, prom, `up{job="kestrel"}`, "the target is scraped", func(v float64) bool { return v == 1 })
	waitQuery(t, prom, `sum(kestrel_active_connections{job="kestrel"})`, "no connection at first (no series yet)", func(v float64) bool { return v <= 0 })

	// Hold limit connections, each having served a request.
	appAddr := strings.TrimPrefix(app, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range limit {
		c, err := net.Dial("tcp", appAddr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
	}
	// The ones past the limit are refused.
	const refused = 6
	for range refused {
		c, err := net.Dial("tcp", appAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection over the limit was served")
		}
		c.Close()
	}
	waitQuery(t, prom, `sum(kestrel_active_connections{job="kestrel"})`, "open connections", func(v float64) bool { return v == limit })
	waitQuery(t, prom, `sum(kestrel_rejected_connections_total{job="kestrel"})`, "refused connections", func(v float64) bool { return v == refused })
	waitQuery(t, prom, `sum(http_server_request_duration_seconds_count{job="kestrel",http_response_status_code="200"})`, "requests", func(v float64) bool { return v == limit })
	waitQuery(t, prom, `go_goroutines{job="kestrel"}`, "the Go runtime metrics", func(v float64) bool { return v > 0 })

	// Closed, they leave the count.
	for _, c := range held {
		c.Close()
	}
	waitQuery(t, prom, `sum(kestrel_active_connections{job="kestrel"})`, "closed connections", func(v float64) bool { return v == 0 })
	waitQuery(t, prom, `sum(kestrel_connection_duration_seconds_count{job="kestrel",error_type="max_concurrent_connections_exceeded"})`,
		"refused connections' durations", func(v float64) bool { return v == refused })
}
