package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
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

	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

var (
	h2loadFinished = regexp.MustCompile(`finished in ([0-9.]+m?s), ([0-9.]+) req/s`)
	h2loadRequests = regexp.MustCompile(`requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2loadStatus   = regexp.MustCompile(`status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	h2loadData     = regexp.MustCompile(`traffic: .*\((\d+)\) data`) // the response DATA's bytes
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
	r := Result{Test: t.Name, Server: name}
	out, cpu, err := runH2load(s, &r, args(d), url, dir)
	if err != nil {
		return Result{}, err
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
	if r.Requests > 0 {
		r.CPUPerRequest = cpu / time.Duration(r.Requests)
	}
	return r, nil
}

// runH2load runs h2load with args against url while measuring the
// server: its output, the server's CPU time meanwhile, and in r the peak
// RSS and the latencies of h2load's per-request log.
func runH2load(s *server, r *Result, args []string, url, dir string) (out []byte, cpu time.Duration, err error) {
	logFile := filepath.Join(dir, "h2load.log")
	defer os.Remove(logFile)
	cpu = underLoad(s, r, func() error {
		out, err = exec.Command("h2load", append(args, "--log-file", logFile, url)...).CombinedOutput()
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("h2load: %v\n%s", err, out)
	}
	r.P50, r.P99, err = h2loadLatencies(logFile)
	return out, cpu, err
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

// grpcBodies returns the request body h2load sends for a gRPC test (the
// call's messages, each with gRPC's 5-byte prefix) and how many bytes of
// response DATA a successful call returns: the same calls as ghz makes
// (ghzCall), encoded here because h2load sends bytes.
func grpcBodies(t test) (path string, body []byte, respSize int64) {
	frame := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err) // a fixed message of generated code
		}
		return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(b))), b...)
	}
	hello := &testpb.Payload{Body: []byte("Hello, World!")}
	reply := frame(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, 13)}})
	switch t.GRPCStream {
	case "server":
		req := &testpb.StreamingOutputCallRequest{}
		for range streamMessages {
			req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: 13})
		}
		return "/grpc.testing.TestService/StreamingOutputCall", frame(req), int64(streamMessages * len(reply))
	case "bidi":
		msg := frame(&testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: 13}}, Payload: hello})
		return "/grpc.testing.TestService/FullDuplexCall", bytes.Repeat(msg, streamMessages), int64(streamMessages * len(reply))
	}
	resp := frame(&testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, 13)}})
	return "/" + ghzMethod, frame(&testpb.SimpleRequest{ResponseSize: 13, Payload: hello}), int64(len(resp))
}

// measureH2loadGRPC loads a gRPC server with h2load, a client in C that
// costs far less per call than ghz, so that the rate is the server's
// rather than the client's: t.Conns concurrent calls over t.GRPCConns
// connections (one if zero), each a POST of the call's messages. h2load
// reads no trailers, so every call is checked by its bytes: the run makes
// a fixed number of calls (the rate of a one-second warm-up times the
// duration), all of which must finish with 200 and exactly the response
// DATA of a successful call (a failed call ends with trailers alone). A
// streaming test's rate and CPU are per message.
func measureH2loadGRPC(s *server, name string, t test, d time.Duration, dir string) (Result, error) {
	path, body, respSize := grpcBodies(t)
	dataFile := filepath.Join(dir, "grpc-body")
	if err := os.WriteFile(dataFile, body, 0o644); err != nil {
		return Result{}, err
	}
	conns := max(t.GRPCConns, 1)
	url := "http://" + s.addr + path
	args := func(run ...string) []string {
		return append([]string{"-t", strconv.Itoa(min(conns, 2)), "-c", strconv.Itoa(conns), "-m", strconv.Itoa(t.Conns / conns),
			"-d", dataFile, "-H", "content-type: application/grpc", "-H", "te: trailers"}, run...)
	}
	calls := 20 * t.Conns
	if warmUp {
		out, _ := exec.Command("h2load", append(args("-D", "1"), url)...).CombinedOutput()
		if m := h2loadFinished.FindSubmatch(out); m != nil {
			rate, _ := strconv.ParseFloat(string(m[2]), 64)
			calls = max(calls, int(rate*d.Seconds()))
		}
	}
	r := Result{Test: t.Name, Server: name}
	out, cpu, err := runH2load(s, &r, args("-n", strconv.Itoa(calls)), url, dir)
	if err != nil {
		return Result{}, err
	}
	if m := h2loadProtocol.FindSubmatch(out); m == nil || string(m[1]) != "h2c" {
		return Result{}, fmt.Errorf("h2load did not speak h2c:\n%s", out)
	}
	fin, req, status, data := h2loadFinished.FindSubmatch(out), h2loadRequests.FindSubmatch(out), h2loadStatus.FindSubmatch(out), h2loadData.FindSubmatch(out)
	if fin == nil || req == nil || status == nil || data == nil {
		return Result{}, fmt.Errorf("unexpected h2load output:\n%s", out)
	}
	ok, _ := strconv.ParseInt(string(req[2]), 10, 64)
	got, _ := strconv.ParseInt(string(data[1]), 10, 64)
	if ok != int64(calls) || string(status[1]) != "0" || string(status[2]) != "0" || string(status[3]) != "0" {
		return Result{}, fmt.Errorf("h2load: %d of %d calls succeeded: %s; %s", ok, calls, req[0], status[0])
	}
	if got != ok*respSize {
		return Result{}, fmt.Errorf("h2load: %d calls returned %d bytes of DATA, not %d each: some failed", ok, got, respSize)
	}
	perCall := int64(1)
	if t.GRPCStream != "" {
		perCall = streamMessages
	}
	rate, _ := strconv.ParseFloat(string(fin[2]), 64)
	r.RequestsPerSec = rate * float64(perCall)
	r.Requests = ok * perCall
	r.CPUPerRequest = cpu / time.Duration(r.Requests)
	return r, nil
}
