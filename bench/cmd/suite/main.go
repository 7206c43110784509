// Command suite compares kestrel (native API and http.Handler) with
// net/http and fasthttp on this machine: wrk throughput and latency for
// the TechEmpower plaintext (keep-alive at several connection counts, and
// pipelined) and JSON tests, server CPU time per request, HTTPS keep-alive
// against net/http, full TLS handshakes per second against net/http,
// and memory per idle keep-alive connection. The
// plaintext tests over HTTP/1.1 and HTTP/2 (h2c and TLS) also run the C
// servers h2o (one thread, a static file) and nginx (one worker, "return
// 200"), with their CPU time per request from /proc as for the others. Static
// files (10 KB and 1 MB, plain and TLS) compare package staticfiles on
// kestrel with net/http's FileServer and nginx (one worker process,
// sendfile on, access log off). HTTP/3 compares kestrel with quic-go's own
// http3.Server serving the same handler, and with kestrel's HTTP/2 over
// TLS, all loaded by h3load (./cmd/h3load: wrk and Debian's h2load do not
// speak HTTP/3). gRPC compares package grpcserver on kestrel (grpc-native)
// with grpc-go's ServeHTTP on kestrel and on net/http and grpc-go's own
// Serve, with ghz: unary calls on one connection and on eight, and the
// messages of server-streaming and bidirectional-streaming calls; the
// same calls again with h2load (a client in C, far cheaper per call than
// ghz, so that the rate is the server's rather than the client's); and
// grpcserver's unary calls over HTTP/3 and h2 with h3load -grpc. The
// PROXY protocol's cost compares kestrel-native with and without a
// version 2 header on each connection, keep-alive and a connection per
// request, both loaded by h1load (./cmd/h1load: wrk cannot send the
// header). Servers
// are interleaved round by round so
// that machine drift cancels out; the tables show medians and ratios from
// the same rounds.
//
//	go run ./cmd/suite [-duration 5s] [-rounds 3] [-conns 128,1024] [-idle 10000] [-json results.json] [-only REGEXP]
//	go run ./cmd/suite -smoke     # a one-second check that everything runs
//	go run ./cmd/suite -only static -idle 0 -rounds 1   # the static-file tests alone
//	go run ./cmd/suite -only PROXY -idle 0               # the PROXY protocol's cost alone
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kestrel-go/kestrel/bench/internal/stats"
)

var pipelineLua = `-- Sends depth requests per write (TechEmpower's pipelining).
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
`

// A test is one wrk configuration.
type test struct {
	Name     string
	Path     string
	Conns    int
	Pipeline int
	TLS      bool
	Static   bool // served from a folder, by staticServers
	Metrics  bool // kestrel-native with metrics off and on
	Streams  int  // HTTP/2 (h2load), HTTP/3 (h3load): concurrent streams per connection
	H3       bool // HTTP/3, by h3Servers
	GRPC     bool // gRPC calls (ghz, or h3load -grpc with H3); Conns is the concurrency
	// GRPCConns is how many connections ghz spreads the calls over
	// (--connections); zero means one.
	GRPCConns int
	// GRPCStream is a streaming gRPC test: "server" (StreamingOutputCall)
	// or "bidi" (FullDuplexCall), each call carrying streamMessages
	// messages; the rate and CPU reported are per message.
	GRPCStream string
	// H2load loads a gRPC test with h2load rather than ghz
	// (measureH2loadGRPC).
	H2load bool
	// Handshakes: full TLS handshakes per second (measureHandshakes)
	Handshakes bool
	// Proxy compares kestrel-native with and without a PROXY protocol
	// header on each connection, loaded by h1load (measureH1load).
	Proxy bool
	// Close opens a new connection per request (h1load -close).
	Close bool
}

var (
	appServers    = []string{"kestrel-native", "kestrel-handler", "fasthttp", "nethttp"}
	staticServers = []string{"kestrel-static", "nethttp-static", "nginx"}
	h2Servers     = []string{"kestrel-native", "kestrel-handler", "nethttp"}
	grpcServers   = []string{"grpc-native", "grpc-kestrel", "grpc-nethttp", "grpc-go"}
	// grpcH3Servers are package grpcserver on kestrel over HTTP/3 and over
	// h2 (TLS), both loaded by h3load -grpc (grpc-go's client has no
	// HTTP/3).
	grpcH3Servers = []string{"grpc-native-h3", "grpc-native-h2"}
)

// metricsServer is kestrel-native with metrics on.
const metricsServer = "kestrel-native-metrics"

// servers lists the servers a test compares: the plaintext tests over
// HTTP/1.1 and HTTP/2 add the C servers.
func (t test) servers() []string {
	switch {
	case t.Proxy:
		return []string{"kestrel-native", proxyServer}
	case t.H3 && t.GRPC:
		return grpcH3Servers
	case t.H3:
		return h3Servers
	case t.GRPC:
		return grpcServers
	case t.Streams > 0:
		return append(slices.Clone(h2Servers), cServers...)
	case t.Handshakes:
		return []string{"kestrel-handler", "nethttp"}
	case t.Metrics:
		return []string{"kestrel-native", metricsServer}
	case t.Static:
		return staticServers
	case t.TLS:
		return append([]string{"kestrel-handler", "nethttp"}, cServers...)
	case t.Path == "/plaintext":
		return append(slices.Clone(appServers), cServers...)
	}
	return appServers
}

// uses reports whether a test compares the server called name.
func (t test) uses(name string) bool { return slices.Contains(t.servers(), name) }

// Result is one measurement.
type Result struct {
	Test, Server     string
	Round            int
	RequestsPerSec   float64
	P50, P99         time.Duration
	CPUPerRequest    time.Duration
	Requests         int64
	MaxRSSUnderLoad  int64
	IdleBytesPerConn int64 `json:",omitempty"`
}

func main() {
	duration := flag.Duration("duration", 5*time.Second, "length of each wrk run")
	rounds := flag.Int("rounds", 3, "rounds; servers are interleaved within each")
	connsFlag := flag.String("conns", "128,1024", "plaintext keep-alive connection counts")
	idle := flag.Int("idle", 10000, "idle keep-alive connections for the memory test (0: skip)")
	idleWait := flag.Duration("idle-wait", 130*time.Second, "how long idle connections are held before RSS is read (Go's runtime runs a GC at least every 2 minutes)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	only := flag.String("only", "", "run only the tests whose names match this regular expression")
	smoke := flag.Bool("smoke", false, "a quick run that checks the suite works")
	hold := flag.String("hold", "", "internal: open -idle connections to this address and hold them until stdin closes")
	flag.Parse()
	if *hold != "" {
		if err := holdConnections(*hold, *idle); err != nil {
			fmt.Fprintln(os.Stderr, "suite: holding connections:", err)
			os.Exit(1)
		}
		return
	}
	if *smoke {
		*duration, *rounds, *connsFlag, *idle, *idleWait = time.Second, 1, "16", 100, time.Second
	}
	onlyRE, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "suite: -only:", err)
		os.Exit(2)
	}
	if err := run(*duration, *rounds, *connsFlag, *idle, *idleWait, *jsonOut, onlyRE, *smoke); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		os.Exit(1)
	}
}

func run(duration time.Duration, rounds int, connsFlag string, idle int, idleWait time.Duration, jsonOut string, only *regexp.Regexp, smoke bool) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (Debian: apt-get install wrk)")
	}
	raiseFileLimit()
	dir, err := os.MkdirTemp("", "kestrel-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "servers")
	h3load = filepath.Join(dir, "h3load")
	h1load = filepath.Join(dir, "h1load")
	for out, pkg := range map[string]string{bin: "./cmd/servers", h3load: "./cmd/h3load", h1load: "./cmd/h1load"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building %s: %w", pkg, err)
		}
	}
	lua := filepath.Join(dir, "pipeline.lua")
	os.WriteFile(lua, []byte(pipelineLua), 0o644)
	env, err := newStaticEnv(dir)
	if err != nil {
		return err
	}

	var tests []test
	for _, c := range strings.Split(connsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			return fmt.Errorf("-conns %q: want connection counts such as 128,1024", connsFlag)
		}
		tests = append(tests, test{Name: fmt.Sprintf("plaintext keep-alive, %d connections", n), Path: "/plaintext", Conns: n})
	}
	tests = append(tests,
		test{Name: "plaintext pipelined 16, 128 connections", Path: "/plaintext", Conns: 128, Pipeline: 16},
		test{Name: "json keep-alive, 128 connections", Path: "/json", Conns: 128},
		test{Name: "https keep-alive, 128 connections", Path: "/plaintext", Conns: 128, TLS: true},
		test{Name: "plaintext keep-alive, 128 connections, metrics off/on", Path: "/plaintext", Conns: 128, Metrics: true},
		test{Name: "PROXY protocol v2 off/on, plaintext keep-alive, 128 connections", Path: "/plaintext", Conns: 128, Proxy: true},
		test{Name: "PROXY protocol v2 off/on, plaintext, a connection per request, 32 connections", Path: "/plaintext", Conns: 32, Proxy: true, Close: true},
		test{Name: "static 10 KB, 32 connections", Path: "/10k.bin", Conns: 32, Static: true},
		test{Name: "static 1 MB, 32 connections", Path: "/1m.bin", Conns: 32, Static: true},
		test{Name: "static 10 KB over TLS, 32 connections", Path: "/10k.bin", Conns: 32, Static: true, TLS: true},
		test{Name: "static 1 MB over TLS, 32 connections", Path: "/1m.bin", Conns: 32, Static: true, TLS: true},
		test{Name: "h2c plaintext, 128 connections x 16 streams", Path: "/plaintext", Conns: 128, Streams: 16},
		test{Name: "h2c plaintext, 128 connections x 1 stream", Path: "/plaintext", Conns: 128, Streams: 1},
		test{Name: "h2 (TLS) plaintext, 128 connections x 16 streams", Path: "/plaintext", Conns: 128, Streams: 16, TLS: true},
		test{Name: "h2 (TLS) plaintext, 128 connections x 1 stream", Path: "/plaintext", Conns: 128, Streams: 1, TLS: true},
		test{Name: "gRPC unary (h2c), 64 concurrent calls, 1 connection", Conns: 64, GRPC: true},
		test{Name: "gRPC unary (h2c), 64 concurrent calls, 8 connections", Conns: 64, GRPC: true, GRPCConns: 8},
		test{Name: fmt.Sprintf("gRPC server streaming (h2c), 16 concurrent calls of %d messages, 1 connection", streamMessages), Conns: 16, GRPC: true, GRPCStream: "server"},
		test{Name: fmt.Sprintf("gRPC bidi streaming (h2c), 16 concurrent calls of %d messages, 1 connection", streamMessages), Conns: 16, GRPC: true, GRPCStream: "bidi"},
		test{Name: "gRPC unary (h2c, h2load), 64 concurrent calls, 1 connection", Conns: 64, GRPC: true, H2load: true},
		test{Name: "gRPC unary (h2c, h2load), 64 concurrent calls, 8 connections", Conns: 64, GRPC: true, GRPCConns: 8, H2load: true},
		test{Name: fmt.Sprintf("gRPC server streaming (h2c, h2load), 16 concurrent calls of %d messages, 1 connection", streamMessages), Conns: 16, GRPC: true, GRPCStream: "server", H2load: true},
		test{Name: fmt.Sprintf("gRPC bidi streaming (h2c, h2load), 16 concurrent calls of %d messages, 1 connection", streamMessages), Conns: 16, GRPC: true, GRPCStream: "bidi", H2load: true},
		test{Name: "gRPC unary over HTTP/3, 64 concurrent calls, 1 connection", Conns: 1, Streams: 64, GRPC: true, H3: true},
		test{Name: "plaintext over HTTP/3, 16 connections x 8 streams", Path: "/plaintext", Conns: 16, Streams: 8, H3: true})
	tests = append(tests, test{Name: "TLS handshakes, 8 at once", TLS: true, Handshakes: true})
	tests = slices.DeleteFunc(tests, func(t test) bool { return !only.MatchString(t.Name) })
	if len(tests) == 0 {
		return fmt.Errorf("-only %q matches no test", only)
	}
	if slices.ContainsFunc(tests, func(t test) bool { return t.Streams > 0 || t.H2load }) {
		if _, err := exec.LookPath("h2load"); err != nil {
			return errors.New("h2load is not installed (Debian: apt-get install nghttp2-client), or leave the HTTP/2 tests out with -only")
		}
	}
	if slices.ContainsFunc(tests, func(t test) bool { return t.GRPC && !t.H2load && !t.H3 }) {
		if ghz, err = findGoTool("ghz"); err != nil {
			return errors.New("ghz is not installed (go install github.com/bojand/ghz/cmd/ghz@v0.93.0; make test's installer does), or leave the gRPC test out with -only")
		}
	}
	if slices.ContainsFunc(tests, func(t test) bool { return t.uses("nginx") }) {
		if err := env.findNginx(); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(tests, func(t test) bool { return t.uses("h2o") }) {
		if err := env.findH2O(); err != nil {
			return err
		}
	}
	if smoke {
		warmUp, smokeRun = false, true
		for i := range tests {
			tests[i].Conns = min(tests[i].Conns, 16)
		}
	}

	fmt.Printf("# kestrel benchmark, %s, %d CPUs, %s, wrk -t2, %v per run, %d rounds\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), duration, rounds)
	var results []Result
	for round := 1; round <= rounds; round++ {
		for _, t := range tests {
			for _, s := range t.servers() {
				r, err := measure(bin, lua, env, s, t, duration)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", s, t.Name, err)
				}
				r.Round = round
				results = append(results, r)
				fmt.Fprintf(os.Stderr, "round %d  %-42s %-16s %10.0f req/s\n", round, t.Name, s, r.RequestsPerSec)
			}
		}
	}
	app := slices.DeleteFunc(slices.Clone(tests), func(t test) bool {
		return t.Static || t.Metrics || t.H3 || t.Streams > 0 || t.GRPC || t.Handshakes || t.Proxy
	})
	static := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return !t.Static })
	h2 := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return t.Streams == 0 || t.H3 })
	grpc := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return !t.GRPC || t.H3 || t.H2load || t.GRPCStream != "" })
	grpcStreams := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return t.GRPCStream == "" || t.H2load })
	grpcH2load := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return !t.H2load })
	grpcH3 := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return !t.GRPC || !t.H3 })
	section := func(title string) {
		fmt.Printf("\n## %s\n\n", title)
	}
	if len(app) > 0 {
		printTable(app, append(slices.Clone(appServers), cServers...), []string{"fasthttp", "nethttp", "h2o"}, []string{"vs fasthttp", "vs net/http", "vs h2o"}, results)
	}
	if len(static) > 0 {
		section("Static files (kestrel-static: package staticfiles; nethttp-static: http.FileServer; nginx: one worker, sendfile on)")
		printTable(static, staticServers, []string{"nginx", "nethttp-static"}, []string{"vs nginx", "vs net/http"}, results)
	}
	if len(h2) > 0 {
		section("HTTP/2 (h2load -t2; net/http with http.Protocols' UnencryptedHTTP2 and ALPN h2; h2o with one thread, nginx with one worker)")
		printTable(h2, append(slices.Clone(h2Servers), cServers...), []string{"nethttp", "h2o"}, []string{"vs net/http", "vs h2o"}, results)
	}
	if len(grpc) > 0 {
		section("gRPC unary calls (ghz, grpc-go's interop TestService/UnaryCall; grpc-native: package grpcserver on kestrel; grpc.Server.ServeHTTP on kestrel and net/http; grpc-go's own Serve)")
		printTable(grpc, grpcServers, []string{"grpc-nethttp", "grpc-go"}, []string{"vs ServeHTTP on net/http", "vs grpc-go Serve"}, results)
	}
	if len(grpcStreams) > 0 {
		section("gRPC streaming messages (ghz; TestService/StreamingOutputCall and FullDuplexCall, 13-byte messages): the rate is messages/s and the CPU is per message; p50 and p99 are per call")
		printTable(grpcStreams, grpcServers, []string{"grpc-nethttp", "grpc-go"}, []string{"vs ServeHTTP on net/http", "vs grpc-go Serve"}, results)
	}
	if len(grpcH2load) > 0 {
		section("gRPC with a client in C (h2load: the same calls as the ghz rows, prebuilt, over h2c; every call checked by its response bytes): it costs a few µs per call where ghz costs tens, so the rate is the server's; streaming rows per message")
		printTable(grpcH2load, grpcServers, []string{"grpc-nethttp", "grpc-go"}, []string{"vs ServeHTTP on net/http", "vs grpc-go Serve"}, results)
	}
	if len(grpcH3) > 0 {
		section("gRPC unary calls over HTTP/3 (h3load -grpc: the module's gRPC client on quic-go's HTTP/3 and on Go's HTTP/2 over TLS; grpc-go has no HTTP/3)")
		printTable(grpcH3, grpcH3Servers, []string{"grpc-native-h2"}, []string{"vs h2"}, results)
	}
	printMetricsCost(tests, results)
	printProxy(tests, results)
	printH3(tests, results)
	printHandshakes(tests, results)

	servers := appServers
	if idle > 0 {
		mem, err := idleMemory(bin, servers, idle, idleWait)
		if err != nil {
			return fmt.Errorf("idle memory: %w", err)
		}
		fmt.Printf("\n## Memory per idle keep-alive connection (%d connections, RSS after %v)\n\n| server | bytes per connection |\n| --- | ---: |\n", idle, idleWait)
		for _, s := range servers {
			fmt.Printf("| %s | %d |\n", s, mem[s])
			results = append(results, Result{Test: "idle memory", Server: s, IdleBytesPerConn: mem[s]})
		}
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// server is a running server process.
type server struct {
	cmd  *exec.Cmd
	addr string
}

func startServer(bin, name string, tls bool, root string, extra ...string) (*server, error) {
	args := append([]string{"-server", name, "-addr", "127.0.0.1:0"}, extra...)
	if tls {
		args = append(args, "-tls")
	}
	if root != "" {
		args = append(args, "-root", root)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("server did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return waitAccepting(&server{cmd: cmd, addr: addr})
}

// waitAccepting returns s once it accepts connections.
func waitAccepting(s *server) (*server, error) {
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("server does not accept connections")
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

var (
	reqsPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	total      = regexp.MustCompile(`(\d+) requests in`)
	latency    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	errorsLine = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// warmUp runs each load generator for a second before it measures; the
// smoke run skips it.
var warmUp = true

// smokeRun is the -smoke run: ghz makes a few hundred calls rather than
// running for the duration.
var smokeRun bool

func measure(bin, lua string, env *staticEnv, name string, t test, d time.Duration) (Result, error) {
	if t.Proxy {
		return measureH1load(bin, name, t, d)
	}
	if t.H3 {
		return measureH3(bin, name, t, d)
	}
	if t.Handshakes {
		return measureHandshakes(bin, name, t, d)
	}
	var s *server
	var err error
	switch {
	case name == "nginx" && t.Static:
		s, err = env.startNginx(t.TLS)
	case name == "nginx":
		s, err = env.startNginxApp(t)
	case name == "h2o":
		s, err = env.startH2O(t)
	case t.Static:
		s, err = startServer(bin, name, t.TLS, env.files)
	case t.Streams > 0:
		s, err = startServer(bin, name, t.TLS, "", "-h2")
	default:
		s, err = startServer(bin, name, t.TLS, "")
	}
	if err != nil {
		return Result{}, err
	}
	defer s.stop()
	scheme := "http"
	if t.TLS {
		scheme = "https"
	}
	url := scheme + "://" + s.addr + t.Path
	switch {
	case t.Streams > 0:
		return measureH2load(s, name, t, url, d, env.dir)
	case t.GRPC && t.H2load:
		return measureH2loadGRPC(s, name, t, d, env.dir)
	case t.GRPC:
		return measureGHZ(s, name, t, d)
	}
	if warmUp {
		exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", t.Conns), "-d1s", url).Run()
	}
	args := []string{"-t2", fmt.Sprintf("-c%d", t.Conns), fmt.Sprintf("-d%ds", max(int(d.Seconds()), 1)), "--latency"}
	if t.Pipeline > 0 {
		args = append(args, "-s", lua, url, "--", strconv.Itoa(t.Pipeline))
	} else {
		args = append(args, url)
	}
	var out []byte
	r := Result{Test: t.Name, Server: name}
	cpu := underLoad(s, &r, func() error {
		out, err = exec.Command("wrk", args...).CombinedOutput()
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	m := reqsPerSec.FindSubmatch(out)
	if m == nil {
		return Result{}, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.RequestsPerSec, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := total.FindSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	for _, m := range latency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		if string(m[1]) == "50" {
			r.P50 = time.Duration(v * float64(unit))
		} else {
			r.P99 = time.Duration(v * float64(unit))
		}
	}
	if m := errorsLine.FindSubmatch(out); m != nil {
		return Result{}, fmt.Errorf("wrk saw errors: %s", m[0])
	}
	if r.Requests > 0 {
		r.CPUPerRequest = cpu / time.Duration(r.Requests)
	}
	return r, nil
}

// underLoad runs the load generator f and returns the server's CPU time
// meanwhile, with its child processes' (a C server's workers); it records
// the server's peak RSS in r.
func underLoad(s *server, r *Result, f func() error) time.Duration {
	pid := s.cmd.Process.Pid
	cpu0 := treeCPUTime(pid)
	peak := make(chan int64, 1)
	stop := make(chan struct{})
	go func() {
		var m int64
		for {
			if r := rss(pid); r > m {
				m = r
			}
			select {
			case <-stop:
				peak <- m
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	cpu := treeCPUTime(pid) - cpu0
	r.MaxRSSUnderLoad = <-peak
	return cpu
}

// cost is a feature's cost from the medians of a test's rounds: requests
// per second and server CPU per request, with the feature on and off.
type cost struct {
	on, off       float64
	onCPU, offCPU time.Duration
}

// onOffCost gives the cost of the server onServer against the test's other
// server; ok is false without results for both.
func onOffCost(results []Result, test, onServer string) (c cost, ok bool) {
	var off, on, offCPU, onCPU []float64
	for _, r := range results {
		if r.Test != test {
			continue
		}
		if r.Server == onServer {
			on, onCPU = append(on, r.RequestsPerSec), append(onCPU, float64(r.CPUPerRequest))
		} else {
			off, offCPU = append(off, r.RequestsPerSec), append(offCPU, float64(r.CPUPerRequest))
		}
	}
	if len(on) == 0 || len(off) == 0 {
		return c, false
	}
	round := func(v []float64) time.Duration { return time.Duration(stats.Median(v)).Round(10 * time.Nanosecond) }
	return cost{stats.Median(on), stats.Median(off), round(onCPU), round(offCPU)}, true
}

// printMetricsCost compares kestrel-native with metrics off and on, from
// the medians of the metrics test.
func printMetricsCost(tests []test, results []Result) {
	for _, t := range tests {
		if !t.Metrics {
			continue
		}
		c, ok := onOffCost(results, t.Name, metricsServer)
		if !ok {
			continue
		}
		fmt.Printf("\nMetrics cost (%s): %.0f req/s with metrics, %.0f without: %+.1f%%; CPU per request %v vs %v.\n",
			t.Name, c.on, c.off, (c.on/c.off-1)*100, c.onCPU, c.offCPU)
	}
}

// printTable prints one row per test and server: the median of the
// rounds and its ratios to the baseline servers'.
func printTable(tests []test, servers []string, baselines, labels []string, results []Result) {
	fmt.Printf("| test | server | req/s (median) | %s | p50 | p99 | CPU per request |\n", strings.Join(labels, " | "))
	fmt.Printf("| --- | --- | ---: |%s ---: | ---: | ---: |\n", strings.Repeat(" ---: |", len(labels)))
	type stat struct{ rps, p50, p99, cpu float64 }
	for _, t := range tests {
		byServer := map[string]stat{}
		for _, s := range servers {
			var rps, p50, p99, cpu []float64
			for _, r := range results {
				if r.Test == t.Name && r.Server == s {
					rps = append(rps, r.RequestsPerSec)
					p50 = append(p50, float64(r.P50))
					p99 = append(p99, float64(r.P99))
					cpu = append(cpu, float64(r.CPUPerRequest))
				}
			}
			if len(rps) > 0 {
				byServer[s] = stat{stats.Median(rps), stats.Median(p50), stats.Median(p99), stats.Median(cpu)}
			}
		}
		ratio := func(a, b float64) string {
			if b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", a/b)
		}
		for _, s := range servers {
			st, ok := byServer[s]
			if !ok {
				continue
			}
			fmt.Printf("| %s | %s | %.0f |", t.Name, s, st.rps)
			for _, b := range baselines {
				fmt.Printf(" %s |", ratio(st.rps, byServer[b].rps))
			}
			fmt.Printf(" %v | %v | %v |\n", time.Duration(st.p50).Round(time.Microsecond), time.Duration(st.p99).Round(time.Microsecond),
				time.Duration(st.cpu).Round(10*time.Nanosecond))
		}
	}
}

// idleMemory holds n keep-alive connections, each having served one
// request, to every server at once, and reports the RSS growth per
// connection: the lowest seen while they are held for wait. Each server's
// connections are held by a child process of their own, so that no process
// needs more than n descriptors.
func idleMemory(bin string, servers []string, n int, wait time.Duration) (map[string]int64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	type held struct {
		s      *server
		holder *exec.Cmd
		stdin  io.WriteCloser
		base   int64
		lowest int64
	}
	all := map[string]*held{}
	defer func() {
		for _, h := range all {
			if h.holder != nil {
				h.stdin.Close()
				h.holder.Wait()
			}
			h.s.stop()
		}
	}()
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n")
	for _, name := range servers {
		s, err := startServer(bin, name, false, "")
		if err != nil {
			return nil, err
		}
		h := &held{s: s}
		all[name] = h
		// One request served before the baseline.
		if c, err := oneRequest(s.addr, req); err == nil {
			c.Close()
		}
		time.Sleep(500 * time.Millisecond)
		h.base = rss(s.cmd.Process.Pid)
		h.holder = exec.Command(self, "-hold", s.addr, "-idle", strconv.Itoa(n))
		h.holder.Stderr = os.Stderr
		h.stdin, _ = h.holder.StdinPipe()
		out, _ := h.holder.StdoutPipe()
		if err := h.holder.Start(); err != nil {
			return nil, err
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			return nil, fmt.Errorf("%s: the connection holder failed: %q %v", name, line, err)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		for _, h := range all {
			if r := rss(h.s.cmd.Process.Pid); h.lowest == 0 || r < h.lowest {
				h.lowest = r
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(min(5*time.Second, wait))
	}
	out := map[string]int64{}
	for name, h := range all {
		out[name] = (h.lowest - h.base) / int64(n)
	}
	return out, nil
}

// holdConnections opens n connections to addr, each serving one request,
// prints "ready", and holds them until stdin closes.
func holdConnections(addr string, n int) error {
	raiseFileLimit()
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n")
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := oneRequest(addr, req)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i+1, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

func oneRequest(addr string, req []byte) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.Write(req)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Time{})
	return c, nil
}

// rss is the process's resident memory in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// cpuTime is the process's user and system CPU time.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticks
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return runtime.GOARCH
}

// raiseFileLimit lifts the open-file limit for the idle-connection test,
// which holds 10,000 connections to each of four servers at once: to the
// hard limit, and above it when running as root.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return
	}
	want := uint64(200_000)
	if l.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return
		}
	}
	l.Cur = l.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}
