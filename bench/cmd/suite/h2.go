package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	h2loadFinished = regexp.MustCompile(`finished in ([0-9.]+)s, ([0-9.]+) req/s`)
	h2loadRequests = regexp.MustCompile(`requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2loadStatus   = regexp.MustCompile(`status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	// h2load's two threads may print into its "Application protocol:"
	// line, leaving the protocol on a line of its own.
	h2loadProtocol = regexp.MustCompile(`(?m)(?:Application protocol: |^)(h2c?|http/1\.1)\s*$`)
)

// measureH2load runs h2load against an HTTP/2 server: t.Conns connections
// with t.Streams concurrent streams each, two threads. Latencies come
// from its per-request log.
func measureH2load(s *server, name string, t test, url string, d time.Duration, dir string) (Result, error) {
	args := func(d time.Duration) []string {
		return []string{"-t2", "-c", strconv.Itoa(t.Conns), "-m", strconv.Itoa(t.Streams), "-D", strconv.Itoa(max(int(d.Seconds()), 1))}
	}
	if warmUp {
		exec.Command("h2load", append(args(time.Second), url)...).Run()
	}
	logFile := filepath.Join(dir, "h2load.log")
	defer os.Remove(logFile)
	var out []byte
	var err error
	r := Result{Test: t.Name, Server: name}
	cpu := underLoad(s, &r, func() error {
		out, err = exec.Command("h2load", append(args(d), "--log-file", logFile, url)...).CombinedOutput()
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("h2load: %v\n%s", err, out)
	}
	if m := h2loadProtocol.FindSubmatch(out); m == nil || !strings.HasPrefix(string(m[1]), "h2") {
		return Result{}, fmt.Errorf("h2load did not speak HTTP/2:\n%s", out)
	}
	fin, req, status := h2loadFinished.FindSubmatch(out), h2loadRequests.FindSubmatch(out), h2loadStatus.FindSubmatch(out)
	if fin == nil || req == nil || status == nil {
		return Result{}, fmt.Errorf("unexpected h2load output:\n%s", out)
	}
	r.RequestsPerSec, _ = strconv.ParseFloat(string(fin[2]), 64)
	r.Requests, _ = strconv.ParseInt(string(req[2]), 10, 64)
	if string(req[3]) != "0" || string(req[4]) != "0" || string(req[5]) != "0" || string(status[1]) != "0" || string(status[2]) != "0" || string(status[3]) != "0" {
		return Result{}, fmt.Errorf("h2load saw errors: %s; %s", req[0], status[0])
	}
	if r.P50, r.P99, err = h2loadLatencies(logFile); err != nil {
		return Result{}, err
	}
	if r.Requests > 0 {
		r.CPUPerRequest = cpu / time.Duration(r.Requests)
	}
	return r, nil
}

// h2loadLatencies reads the median and 99th percentile from h2load's
// --log-file: one line per request, "start<TAB>status<TAB>microseconds".
func h2loadLatencies(file string) (p50, p99 time.Duration, err error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var us []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		if v, err := strconv.ParseInt(fields[2], 10, 64); err == nil {
			us = append(us, v)
		}
	}
	if len(us) == 0 {
		return 0, 0, fmt.Errorf("h2load logged no request in %s", file)
	}
	slices.Sort(us)
	at := func(q float64) time.Duration { return time.Duration(us[int(q*float64(len(us)-1))]) * time.Microsecond }
	return at(0.50), at(0.99), sc.Err()
}

// ghz is the path of the ghz command.
var ghz = "ghz"

// findGoTool finds a command installed with go install: on PATH, or in
// GOPATH's bin folder.
func findGoTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(build.Default.GOPATH, "bin", name)
	_, err := os.Stat(p)
	return p, err
}

// ghzCall is the gRPC call measured: grpc-go's interop TestService/UnaryCall
// with "Hello, World!" in and out.
const (
	ghzMethod = "grpc.testing.TestService/UnaryCall"
	ghzData   = `{"response_size": 13, "payload": {"body": "SGVsbG8sIFdvcmxkIQ=="}}`
)

// streamMessages is how many messages a streaming call of the suite
// carries: the server streaming call asks for that many 13-byte replies;
// the bidirectional call sends that many "Hello, World!" messages, each
// answered by one of 13 bytes.
const streamMessages = 100

// ghzCall returns the method and the data of a test's calls.
func ghzCall(t test) (method, data string) {
	reply := `{"size": 13}`
	switch t.GRPCStream {
	case "server":
		return "grpc.testing.TestService/StreamingOutputCall",
			`{"response_parameters": [` + strings.TrimSuffix(strings.Repeat(reply+",", streamMessages), ",") + `]}`
	case "bidi":
		msg := `{"response_parameters": [` + reply + `], "payload": {"body": "SGVsbG8sIFdvcmxkIQ=="}}`
		return "grpc.testing.TestService/FullDuplexCall", "[" + strings.TrimSuffix(strings.Repeat(msg+",", streamMessages), ",") + "]"
	}
	return ghzMethod, ghzData
}

// ghzReport is the part of ghz's JSON report the suite reads.
type ghzReport struct {
	Total                  time.Duration
	Count                  int64
	StatusCodeDistribution map[string]int64
	ErrorDistribution      map[string]int64
	LatencyDistribution    []struct {
		Percentage int
		Latency    time.Duration
	}
}

// measureGHZ runs ghz against a gRPC server: t.Conns concurrent calls on
// one connection or on t.GRPCConns. Calls the load generator itself cuts
// short when the run ends (at most one per concurrent call) are not
// errors; up to 1% of the others may fail.
// A streaming test's rate and CPU are per message.
func measureGHZ(s *server, name string, t test, d time.Duration) (Result, error) {
	method, data := ghzCall(t)
	args := func(d time.Duration) []string {
		a := []string{"--insecure", "--call", method, "-d", data, "-c", strconv.Itoa(t.Conns), "-O", "json"}
		if t.GRPCConns > 0 {
			a = append(a, "--connections", strconv.Itoa(t.GRPCConns))
		}
		if smokeRun {
			a = append(a, "-n", strconv.Itoa(20*t.Conns))
		} else {
			a = append(a, "-z", fmt.Sprintf("%ds", max(int(d.Seconds()), 1)))
		}
		return append(a, s.addr)
	}
	if warmUp {
		exec.Command(ghz, args(time.Second)...).Run()
	}
	var out []byte
	var err error
	r := Result{Test: t.Name, Server: name}
	cpu := underLoad(s, &r, func() error {
		out, err = exec.Command(ghz, args(d)...).Output()
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("ghz: %v\n%s", err, out)
	}
	var rep ghzReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return Result{}, fmt.Errorf("ghz's report: %v\n%s", err, out)
	}
	// The calls in flight when ghz stops and closes its connections end
	// CANCELLED or UNAVAILABLE ("transport is closing"): up to one per
	// concurrent call is forgiven; of the others (more cut calls included,
	// as a call may be starting when ghz stops), up to 1% may fail.
	ok := rep.StatusCodeDistribution["OK"]
	var cut int64
	for e, n := range rep.ErrorDistribution {
		if strings.Contains(e, "code = Canceled") || strings.Contains(e, "is closing") {
			cut += n
		}
	}
	if ok == 0 || rep.Count-ok-min(cut, int64(t.Conns)) > rep.Count/100 {
		return Result{}, fmt.Errorf("ghz: %d of %d calls failed: %v", rep.Count-ok, rep.Count, rep.ErrorDistribution)
	}
	perCall := int64(1)
	if t.GRPCStream != "" {
		perCall = streamMessages
	}
	r.Requests = ok * perCall
	r.RequestsPerSec = float64(r.Requests) / rep.Total.Seconds()
	for _, l := range rep.LatencyDistribution {
		switch l.Percentage {
		case 50:
			r.P50 = l.Latency
		case 99:
			r.P99 = l.Latency
		}
	}
	r.CPUPerRequest = cpu / time.Duration(r.Requests)
	return r, nil
}
