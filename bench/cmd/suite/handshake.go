package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// handshakeConcurrency is how many clients make TLS handshakes at once in
// the handshake test.
const handshakeConcurrency = 8

// measureHandshakes makes full TLS handshakes with the server (the
// servers' ECDSA P-256 certificate; sessions are not resumed), from
// handshakeConcurrency goroutines of this process for d, each closing
// its connection once the handshake is done: RequestsPerSec is handshakes
// per second, CPUPerRequest the server's CPU time per handshake.
func measureHandshakes(bin, name string, t test, d time.Duration) (Result, error) {
	s, err := startServer(bin, name, true, "")
	if err != nil {
		return Result{}, err
	}
	defer s.stop()
	config := &tls.Config{InsecureSkipVerify: true, SessionTicketsDisabled: true, NextProtos: []string{"http/1.1"}}
	loop := func(d time.Duration) (int64, error) {
		var n atomic.Int64
		var failed atomic.Pointer[error]
		stop := time.Now().Add(d)
		var wg sync.WaitGroup
		for range handshakeConcurrency {
			wg.Go(func() {
				for time.Now().Before(stop) && failed.Load() == nil {
					c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.addr, config)
					if err != nil {
						failed.Store(&err)
						return
					}
					c.Close()
					n.Add(1)
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			return 0, fmt.Errorf("handshake: %w", *err)
		}
		return n.Load(), nil
	}
	if warmUp {
		if _, err := loop(time.Second); err != nil {
			return Result{}, err
		}
	}
	r := Result{Test: t.Name, Server: name}
	start := time.Now()
	cpu := underLoad(s, &r, func() error {
		r.Requests, err = loop(d)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	r.RequestsPerSec = float64(r.Requests) / time.Since(start).Seconds()
	if r.Requests > 0 {
		r.CPUPerRequest = cpu / time.Duration(r.Requests)
	}
	return r, nil
}

// printHandshakes prints the TLS handshake table.
func printHandshakes(tests []test, results []Result) {
	hs := slices.DeleteFunc(slices.Clone(tests), func(t test) bool { return !t.Handshakes })
	if len(hs) == 0 {
		return
	}
	fmt.Printf("\n## TLS handshakes (full TLS 1.3 handshakes, ECDSA P-256, no resumption, %d clients at once; req/s is handshakes/s, CPU per handshake)\n\n", handshakeConcurrency)
	printTable(hs, []string{"kestrel-handler", "nethttp"}, []string{"nethttp"}, []string{"vs net/http"}, results)
}
