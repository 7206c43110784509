package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The HTTP/3 comparison: kestrel's HTTP/3, quic-go's own http3.Server
// with the same handler, and kestrel's HTTP/2 over TLS, each loaded by
// h3load (quic-go's client for HTTP/3, Go's for HTTP/2) with the same
// connections and requests in flight.
var h3Servers = []string{"kestrel-h3", "quicgo-h3", "kestrel-h2"}

// h3load is the load generator's binary, built by run.
var h3load string

// measureH3 runs h3load against one of h3Servers.
func measureH3(bin, name string, t test, d time.Duration) (Result, error) {
	args, proto := []string{"-server", name, "-addr", "127.0.0.1:0"}, "h3"
	var loadArgs []string
	switch name {
	case "kestrel-h2":
		args, proto = []string{"-server", "kestrel-handler", "-addr", "127.0.0.1:0", "-tls"}, "h2"
	case "grpc-native-h3", "grpc-native-h2":
		args, proto = []string{"-server", "grpc-native", "-addr", "127.0.0.1:0", "-tls"}, strings.TrimPrefix(name, "grpc-native-")
		loadArgs = []string{"-grpc"}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	// The UDP socket is bound when the address is printed.
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	s := &server{cmd: cmd, addr: addr}
	defer s.stop()
	if err != nil || !ok {
		return Result{}, fmt.Errorf("server did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	url := "https://" + addr + t.Path
	load := func(d time.Duration) ([]byte, error) {
		return exec.Command(h3load, append(loadArgs, "-proto", proto, "-c", strconv.Itoa(t.Conns), "-m", strconv.Itoa(t.Streams),
			"-d", d.String(), url)...).CombinedOutput()
	}
	if out, err := load(time.Second); err != nil { // warm up
		return Result{}, fmt.Errorf("h3load: %v\n%s", err, out)
	}
	cpu0 := cpuTime(cmd.Process.Pid)
	res, err := load(d)
	cpu := cpuTime(cmd.Process.Pid) - cpu0
	if err != nil {
		return Result{}, fmt.Errorf("h3load: %v\n%s", err, res)
	}
	r := Result{Test: t.Name, Server: name, MaxRSSUnderLoad: rss(cmd.Process.Pid)}
	if err := parseLoad("h3load", res, cpu, &r); err != nil {
		return Result{}, err
	}
	return r, nil
}

// parseLoad reads the figures of the suite's own load generators (h1load,
// h3load: wrk's lines for requests/s, the total and latency percentiles)
// into r, with the server's CPU time over the run.
func parseLoad(tool string, out []byte, cpu time.Duration, r *Result) error {
	m := reqsPerSec.FindSubmatch(out)
	if m == nil {
		return errors.New("no Requests/sec in " + tool + "'s output:\n" + string(out))
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
	if r.Requests > 0 {
		r.CPUPerRequest = cpu / time.Duration(r.Requests)
	}
	return nil
}

// printH3 prints the HTTP/3 table. The load generator shares the machine
// with the server and needs more CPU than it, so the server's CPU per
// request is the fairer comparison.
func printH3(tests []test, results []Result) {
	h3 := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return !t.H3 || t.GRPC })
	if len(h3) == 0 {
		return
	}
	fmt.Println("\n## HTTP/3 (kestrel-h3: kestrel's HTTP/3; quicgo-h3: quic-go's http3.Server, same handler; kestrel-h2: kestrel's HTTP/2 over TLS; all loaded by h3load)")
	fmt.Println()
	printTable(h3, h3Servers, []string{"quicgo-h3", "kestrel-h2"}, []string{"vs quic-go", "vs kestrel h2"}, results)
}
