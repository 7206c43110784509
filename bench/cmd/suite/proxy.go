package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"time"
)

// The PROXY protocol's cost: kestrel-native on an endpoint that requires
// a version 2 header against the same server without it, both loaded by
// h1load (wrk cannot send the header), which sends the header on every
// connection for the first and none for the second.
const proxyServer = "kestrel-native-proxy"

// h1load is the HTTP/1.1 load generator's binary, built by run.
var h1load string

// measureH1load runs h1load against kestrel-native or proxyServer.
func measureH1load(bin, name string, t test, d time.Duration) (Result, error) {
	s, err := startServer(bin, name, false, "")
	if err != nil {
		return Result{}, err
	}
	defer s.stop()
	args := []string{"-c", strconv.Itoa(t.Conns)}
	if t.Close {
		args = append(args, "-close")
	}
	if name == proxyServer {
		args = append(args, "-proxy")
	}
	url := "http://" + s.addr + t.Path
	load := func(d time.Duration) ([]byte, error) {
		return exec.Command(h1load, append(args, "-d", d.String(), url)...).CombinedOutput()
	}
	if warmUp {
		if out, err := load(time.Second); err != nil {
			return Result{}, fmt.Errorf("h1load: %v\n%s", err, out)
		}
	}
	r := Result{Test: t.Name, Server: name}
	var out []byte
	cpu := underLoad(s, &r, func() error {
		out, err = load(d)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("h1load: %v\n%s", err, out)
	}
	if err := parseLoad("h1load", out, cpu, &r); err != nil {
		return Result{}, err
	}
	return r, nil
}

// printProxy prints the PROXY protocol table and, per test, the cost: the
// change in requests per second and in the server's CPU time per request
// (the fairer figure: h1load shares the machine with the server).
func printProxy(tests []test, results []Result) {
	px := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return !t.Proxy })
	if len(px) == 0 {
		return
	}
	fmt.Println("\n## PROXY protocol v2 (kestrel-native with an endpoint that requires the header, against without; both loaded by h1load, which sends the header first on each connection for the first)")
	fmt.Println()
	printTable(px, []string{"kestrel-native", proxyServer}, []string{"kestrel-native"}, []string{"vs off"}, results)
	for _, t := range px {
		c, ok := onOffCost(results, t.Name, proxyServer)
		if !ok {
			continue
		}
		fmt.Printf("\nPROXY protocol cost (%s): %.0f req/s with the header, %.0f without: %+.1f%%; server CPU per request %v vs %v: %+.1f%%.\n",
			t.Name, c.on, c.off, (c.on/c.off-1)*100, c.onCPU, c.offCPU, (float64(c.onCPU)/float64(c.offCPU)-1)*100)
	}
}
