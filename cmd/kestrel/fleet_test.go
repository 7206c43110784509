//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
)

// fleetHAProxyConfig is the haproxy configuration of the README's fleet
// recipe, as TestFleetRollingRestart runs it: layer 4 (mode tcp), PROXY
// protocol v2 to the instances (plain and HTTPS, TLS passed through), and
// a health check on their readiness path (with its own PROXY header, as
// the instances require one). The %[n] verbs are the test's: the stats
// socket, the two front ports, the servers of each backend, and the
// source address haproxy connects from (127.0.0.2, so that the
// instances' logs can tell haproxy's address from the client's).
const fleetHAProxyConfig = `global
    stats socket %[1]s level admin
    log stdout format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    option dontlog-normal
    timeout connect 5s
    timeout client 3m
    timeout server 3m
    timeout check 2s
    retries 3
    option redispatch

frontend plain
    bind 127.0.0.1:%[2]d
    default_backend plain

frontend tls
    bind 127.0.0.1:%[3]d
    default_backend tls

backend plain
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server source %[6]s send-proxy-v2 check check-send-proxy inter 200ms fall 1 rise 1
%[4]s
backend tls
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server source %[6]s send-proxy-v2 check check-send-proxy check-ssl verify none inter 200ms fall 1 rise 1
%[5]s`

// fleetInstance is one kestrel process of the fleet, started again with
// the same configuration on the same ports at each restart.
type fleetInstance struct {
	name       string
	config     string
	http, tls  int
	log        syncBuffer // every generation's standard error: logs and access log
	cmd        *exec.Cmd
	exited     chan error
	generation int
}

// TestFleetRollingRestart is the proof of the README's fleet recipe: a
// real haproxy in front of three instances of the command (an http and an
// https endpoint each, both with PROXY protocol from haproxy's address
// only, shared session ticket keys, readiness at /healthz, a drain delay
// and the access log) is given load by wrk on keep-alive connections, wrk
// with a connection per request, and h2load over h2 through the TLS
// passthrough backend, while every instance in turn gets SIGTERM, drains
// (haproxy sees readiness 503 and takes it out, while it still serves),
// exits, and starts again (haproxy takes it back). No request may fail;
// haproxy's stats must show each server leave and come back; the access
// logs must show the load generators' address, 127.0.0.1, and never
// haproxy's, 127.0.0.2. Sessions resume across the instances.
//
// h2load does not reconnect after a GOAWAY on h2 (nghttp2 1.52 and later:
// only its HTTP/1.1 session does), and counts the requests it then cannot
// send as failed. So that "failed 0" still means "no request the server
// received failed", it runs in rounds of -n 64 -c 4 -m 16: each
// connection sends its 16 requests at once, with its preface, and then
// waits for their answers, which a draining instance owes it.
func TestFleetRollingRestart(t *testing.T) {
	haproxy := needTool(t, "haproxy", "haproxy", "/usr/sbin/haproxy")
	wrk := needTool(t, "wrk", "wrk", "")
	h2load := needTool(t, "h2load", "nghttp2-client", "")
	const (
		client     = "127.0.0.1" // the load generators' address
		balancer   = "127.0.0.2" // haproxy's source address towards the instances
		drainDelay = 2 * time.Second
	)
	begin := time.Now()
	bin := buildCommand(t)
	dir := t.TempDir()
	certFile, keyFile, err := certs.CreateDevCert(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ticketKey := filepath.Join(dir, "ticket.key")
	key := make([]byte, 80)
	rand.Read(key)
	if err := os.WriteFile(ticketKey, key, 0o600); err != nil {
		t.Fatal(err)
	}

	var fleet []*fleetInstance
	var plainServers, tlsServers strings.Builder
	for i := 1; i <= 3; i++ {
		in := &fleetInstance{name: "k" + strconv.Itoa(i), http: freePort(t), tls: freePort(t)}
		in.config = filepath.Join(dir, in.name+".json")
		conf := fmt.Sprintf(`{"Kestrel": {
  "DrainDelay": %q,
  "EndpointDefaults": {
    "ProxyProtocol": {"TrustedProxies": [%q], "Required": true},
    "SessionTicketKeyFiles": [%q]
  },
  "Endpoints": {
    "Http":  {"Url": "http://127.0.0.1:%d"},
    "Https": {"Url": "https://127.0.0.1:%d", "Certificate": {"Path": %q, "KeyPath": %q}}
  }
}}`, drainDelay.String(), balancer, ticketKey, in.http, in.tls, certFile, keyFile)
		if err := os.WriteFile(in.config, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&plainServers, "    server %s 127.0.0.1:%d\n", in.name, in.http)
		fmt.Fprintf(&tlsServers, "    server %s 127.0.0.1:%d\n", in.name, in.tls)
		fleet = append(fleet, in)
	}
	for _, in := range fleet {
		in.start(t, bin)
	}
	t.Cleanup(func() {
		for _, in := range fleet {
			in.stop()
		}
		if t.Failed() {
			for _, in := range fleet {
				t.Logf("%s's log (without the access log):\n%s", in.name, withoutAccessLog(in.log.String()))
			}
		}
	})
	for _, in := range fleet {
		in.waitStarted(t)
	}

	sock := filepath.Join(dir, "haproxy.sock")
	plainFront, tlsFront := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(fleetHAProxyConfig, sock, plainFront, tlsFront, plainServers.String(), tlsServers.String(), balancer)), 0o644); err != nil {
		t.Fatal(err)
	}
	hapLog := startTool(t, "haproxy", exec.Command(haproxy, "-db", "-f", cfg))
	stats := &haproxyStats{t: t, sock: sock, log: hapLog}
	for _, in := range fleet {
		stats.waitServer(in.name, 20*time.Second, "UP")
	}
	plainURL := fmt.Sprintf("http://127.0.0.1:%d/plaintext", plainFront)
	tlsURL := fmt.Sprintf("https://127.0.0.1:%d/plaintext", tlsFront)

	// TLS sessions resume across the instances: they share a ticket key
	// file, and haproxy's round robin sends each connection to the next.
	resumed := fleetResumption(t, certFile, tlsURL, fleet)

	// The load, until every instance has been restarted.
	stop := make(chan struct{})
	type wrkResult struct {
		name string
		run  wrkRun
	}
	wrkDone := make(chan wrkResult, 2)
	var wrks []*exec.Cmd
	for _, w := range []struct {
		name string
		args []string
	}{
		{"wrk on 16 keep-alive connections", []string{"-t1", "-c16", "-d120s", plainURL}},
		{"wrk with a connection per request", []string{"-t1", "-c4", "-d120s", "-H", "Connection: close", plainURL}},
	} {
		cmd := exec.Command(wrk, w.args...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		wrks = append(wrks, cmd)
		go func() {
			err := cmd.Wait()
			s := out.String()
			if err != nil {
				s += "\nwrk: " + err.Error()
			}
			wrkDone <- wrkResult{w.name, parseWrk(s)}
		}()
	}
	h2Done := make(chan h2loadTotals, 1)
	go func() { h2Done <- h2loadRounds(h2load, tlsURL, stop) }()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	})
	// The load is under way once both frontends have had sessions.
	stats.waitFor(20*time.Second, "load through both frontends", func(rows map[string]haproxyRow) bool {
		return rows["plain/FRONTEND"].stot >= 100 && rows["tls/FRONTEND"].stot >= 20
	})

	for _, in := range fleet {
		sigterm := time.Now()
		in.cmd.Process.Signal(syscall.SIGTERM)
		// haproxy takes it out on its readiness check's 503 (L7STS),
		// while it drains: not on a refused connection (L4CON) after it.
		stats.waitServer(in.name, 20*time.Second, "DOWN")
		down := time.Since(sigterm)
		for _, backend := range []string{"plain", "tls"} {
			waitLog(t, hapLog.String, "Server "+backend+"/"+in.name+" is DOWN, reason: Layer7 wrong status, code: 503")
		}
		select {
		case err := <-in.exited:
			if err != nil {
				t.Errorf("%s: exit after SIGTERM: %v, want 0", in.name, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not exit within 30 s of SIGTERM", in.name)
		}
		exited := time.Since(sigterm)
		if exited < drainDelay {
			t.Errorf("%s exited %v after SIGTERM, before its %v drain delay", in.name, exited, drainDelay)
		}
		before := stats.rows()
		in.start(t, bin)
		in.waitStarted(t)
		stats.waitServer(in.name, 20*time.Second, "UP")
		// haproxy sends it connections again before the next goes.
		stats.waitFor(20*time.Second, "connections to the restarted "+in.name, func(rows map[string]haproxyRow) bool {
			return rows["plain/"+in.name].lbtot > before["plain/"+in.name].lbtot && rows["tls/"+in.name].lbtot > before["tls/"+in.name].lbtot
		})
		t.Logf("%s: out of haproxy %v after SIGTERM, exited after %v, back in haproxy after %v",
			in.name, down.Round(time.Millisecond), exited.Round(time.Millisecond), time.Since(sigterm).Round(time.Millisecond))
	}
	close(stop)
	for _, cmd := range wrks {
		cmd.Process.Signal(syscall.SIGINT) // wrk prints its figures and exits
	}
	for range wrks {
		r := <-wrkDone
		if r.run.requests == 0 || r.run.errors != "" {
			t.Errorf("%s: %d requests, errors: %s\n%s", r.name, r.run.requests, r.run.errors, r.run.out)
		} else {
			t.Logf("%s: %d requests, no socket error, no non-2xx answer", r.name, r.run.requests)
		}
	}
	h2 := <-h2Done
	if h2.rounds == 0 || h2.succeeded == 0 || len(h2.bad) > 0 {
		t.Errorf("h2load: %d rounds, %d requests succeeded; rounds with a failure (of %d):\n%s", h2.rounds, h2.succeeded, len(h2.bad), strings.Join(h2.bad, "\n---\n"))
	} else {
		t.Logf("h2load over h2: %d rounds of 64 requests on 4 connections, %d requests succeeded, failed 0, errored 0", h2.rounds, h2.succeeded)
	}

	// haproxy counted a DOWN transition of every server.
	rows := stats.rows()
	for _, in := range fleet {
		for _, backend := range []string{"plain", "tls"} {
			r := rows[backend+"/"+in.name]
			if r.chkdown < 1 || r.status != "UP" {
				t.Errorf("haproxy's %s/%s: %d DOWN transitions, now %s; want 1 or more, and UP", backend, in.name, r.chkdown, r.status)
			}
		}
	}

	// Every instance logged requests from the load generators, over
	// HTTP/1.1 and HTTP/2, with their address and never haproxy's.
	accessLine := regexp.MustCompile(`(?m)^(\S+) - - \[[^\]]+\] "GET /plaintext (HTTP/[0-9.]+)" 200 `)
	for _, in := range fleet {
		log := in.log.String()
		count := map[string]int{}
		for _, m := range accessLine.FindAllStringSubmatch(log, -1) {
			if m[1] != client {
				t.Errorf("%s's access log names %s, want the client's %s: %q", in.name, m[1], client, m[0])
				break
			}
			count[m[2]]++
		}
		if count["HTTP/1.1"] == 0 || count["HTTP/2.0"] == 0 {
			t.Errorf("%s's access log has %d HTTP/1.1 and %d HTTP/2.0 requests from %s, want both", in.name, count["HTTP/1.1"], count["HTTP/2.0"], client)
		}
		if strings.Contains(log, balancer) {
			t.Errorf("%s's log names haproxy's address %s", in.name, balancer)
		}
	}
	t.Logf("%d TLS sessions resumed across instances; the whole test took %v", resumed, time.Since(begin).Round(time.Millisecond))
}

// start starts the instance's next generation.
func (in *fleetInstance) start(t *testing.T, bin string) {
	t.Helper()
	in.generation++
	fmt.Fprintf(&in.log, "=== %s, generation %d\n", in.name, in.generation)
	in.cmd = exec.Command(bin, "--config", in.config, "--health", "/healthz", "--access-log")
	in.cmd.Stderr = &in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.exited = make(chan error, 1)
	cmd, exited := in.cmd, in.exited
	go func() { exited <- cmd.Wait() }()
}

// waitStarted waits until the current generation serves.
func (in *fleetInstance) waitStarted(t *testing.T) {
	t.Helper()
	marker := fmt.Sprintf("=== %s, generation %d\n", in.name, in.generation)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		log := in.log.String()
		if i := strings.LastIndex(log, marker); i >= 0 && strings.Contains(log[i:], "Application started.") {
			return
		}
		select {
		case err := <-in.exited:
			t.Fatalf("%s exited at start: %v\n%s", in.name, err, in.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start within 30 s:\n%s", in.name, in.log.String())
		}
	}
}

// stop kills the current generation, if it runs.
func (in *fleetInstance) stop() {
	if in.cmd != nil && in.cmd.Process != nil {
		in.cmd.Process.Kill()
	}
}

// withoutAccessLog drops the access log's lines from a log.
func withoutAccessLog(log string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(log, "\n") {
		if !strings.HasPrefix(line, "127.") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// fleetResumption makes six HTTPS requests through haproxy, each on a
// new connection with the same session cache, and checks that all but
// the first resume their TLS session although round robin sends them to
// different instances (the access logs tell which). It returns how many
// resumed.
func fleetResumption(t *testing.T, certFile, url string, fleet []*fleetInstance) int {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var resumed []int
	for i := range 6 {
		u := fmt.Sprintf("%s?resume=%d", url, i)
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s through haproxy: %v", u, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s through haproxy: %d", u, resp.StatusCode)
		}
		if i == 0 {
			continue
		}
		if !resp.TLS.DidResume {
			t.Errorf("connection %d through haproxy did not resume the TLS session", i)
			continue
		}
		resumed = append(resumed, i)
	}
	// Which instances served them, from their access logs.
	served := map[string]bool{}
	for _, i := range resumed {
		line := fmt.Sprintf(`"GET /plaintext?resume=%d HTTP/1.1" 200 `, i)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			found := ""
			for _, in := range fleet {
				if strings.Contains(in.log.String(), line) {
					found = in.name
				}
			}
			if found != "" {
				served[found] = true
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no access log has %s", line)
			}
		}
	}
	if len(served) < 2 {
		t.Errorf("the resumed sessions were served by %v; want two instances or more (round robin)", served)
	}
	return len(resumed)
}

// haproxyRow is a server's or frontend's row of haproxy's "show stat".
type haproxyRow struct {
	status, checkStatus string
	scur, stot, chkdown int
	lbtot               int
}

// haproxyStats reads haproxy's statistics from its stats socket.
type haproxyStats struct {
	t    *testing.T
	sock string
	log  *syncBuffer
}

// rows returns "show stat" by "proxy/server" (servers, FRONTEND and
// BACKEND rows), or nil when the socket does not answer yet.
func (s *haproxyStats) rows() map[string]haproxyRow {
	c, err := net.DialTimeout("unix", s.sock, 5*time.Second)
	if err != nil {
		return nil
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "show stat\n")
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cols map[string]int
	rows := map[string]haproxyRow{}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# ") {
			cols = map[string]int{}
			for i, name := range strings.Split(strings.TrimPrefix(line, "# "), ",") {
				cols[name] = i
			}
			continue
		}
		f := strings.Split(line, ",")
		if cols == nil || len(f) < len(cols) {
			continue
		}
		num := func(name string) int { n, _ := strconv.Atoi(f[cols[name]]); return n }
		rows[f[cols["pxname"]]+"/"+f[cols["svname"]]] = haproxyRow{
			status:      f[cols["status"]],
			checkStatus: f[cols["check_status"]],
			scur:        num("scur"),
			stot:        num("stot"),
			chkdown:     num("chkdown"),
			lbtot:       num("lbtot"),
		}
	}
	if cols == nil {
		return nil
	}
	return rows
}

// waitFor polls the stats until ok accepts them, failing the test after
// d.
func (s *haproxyStats) waitFor(d time.Duration, what string, ok func(map[string]haproxyRow) bool) map[string]haproxyRow {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		rows := s.rows()
		if rows != nil && ok(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("haproxy: no %s within %v; stats: %v\nlog:\n%s", what, d, rows, s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitServer waits until the server's status in the given backends (both
// when none is given) begins with want (UP, DOWN), and returns its last
// row.
func (s *haproxyStats) waitServer(server string, d time.Duration, want string, backends ...string) haproxyRow {
	s.t.Helper()
	if len(backends) == 0 {
		backends = []string{"plain", "tls"}
	}
	var last haproxyRow
	s.waitFor(d, server+" "+want+" in "+strings.Join(backends, " and "), func(rows map[string]haproxyRow) bool {
		for _, b := range backends {
			r, ok := rows[b+"/"+server]
			if !ok || !strings.HasPrefix(r.status, want) {
				return false
			}
			last = r
		}
		return true
	})
	return last
}

// h2loadTotals sums h2load's rounds.
type h2loadTotals struct {
	rounds, succeeded int
	bad               []string // the output of each round with a failure
}

var h2loadRequests = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)

// h2loadRounds runs h2load over h2 in rounds of 64 requests on 4
// connections, 16 streams at once (so that each connection sends all its
// requests with its preface; see TestFleetRollingRestart) until stop is
// closed, and sums them. A round counts as failed unless all 64 requests
// succeeded with a 2xx status.
func h2loadRounds(h2load, url string, stop <-chan struct{}) h2loadTotals {
	var tot h2loadTotals
	for {
		select {
		case <-stop:
			return tot
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a round takes milliseconds
		out, err := exec.CommandContext(ctx, h2load, "-n", "64", "-c", "4", "-m", "16", url).CombinedOutput()
		cancel()
		tot.rounds++
		m := h2loadRequests.FindStringSubmatch(string(out))
		ok := err == nil && m != nil && m[1] == "64" && m[4] == "64" && m[5] == "0" && m[6] == "0" && m[7] == "0" &&
			strings.Contains(string(out), "status codes: 64 2xx")
		if ok {
			tot.succeeded += 64
		} else {
			tot.bad = append(tot.bad, fmt.Sprintf("%s (%v)", out, err))
		}
	}
}
