// Command h3load is a load generator for HTTP/3, which wrk and Debian's
// h2load cannot speak: c connections (quic-go's HTTP/3 client), each with
// m requests in flight, send GET requests for a duration and report
// throughput and latency in wrk's format, which the suite reads. -proto h2
// does the same over HTTP/2 with TLS (Go's client), so that both
// protocols are measured by the same client.
//
//	h3load [-proto h3|h2] [-c 16] [-m 8] [-d 5s] URL
//
// It exits with an error if any request fails or gets a status other than
// 200.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go/http3"
)

func main() {
	proto := flag.String("proto", "h3", "h3 (HTTP/3 over QUIC) or h2 (HTTP/2 over TLS)")
	conns := flag.Int("c", 16, "connections")
	streams := flag.Int("m", 8, "requests in flight per connection")
	duration := flag.Duration("d", 5*time.Second, "how long to send requests")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: h3load [-proto h3|h2] [-c 16] [-m 8] [-d 5s] URL")
		os.Exit(2)
	}
	if err := run(*proto, flag.Arg(0), *conns, *streams, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "h3load:", err)
		os.Exit(1)
	}
}

func run(proto, url string, conns, streams int, d time.Duration) error {
	tlsConf := &tls.Config{InsecureSkipVerify: true} // the servers' certificates are made on the fly
	clients := make([]*http.Client, conns)
	for i := range clients {
		switch proto {
		case "h3":
			tr := &http3.Transport{TLSClientConfig: tlsConf}
			defer tr.Close()
			clients[i] = &http.Client{Transport: tr}
		case "h2":
			// One connection per transport, carrying every request.
			tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			clients[i] = &http.Client{Transport: tr}
		default:
			return fmt.Errorf("unknown protocol %q", proto)
		}
		// Connect before the clock starts, and check the protocol.
		resp, err := clients[i].Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := map[string]int{"h3": 3, "h2": 2}[proto]; resp.ProtoMajor != want {
			return fmt.Errorf("the server answered over %s, not HTTP/%d", resp.Proto, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
		firstErr  atomic.Value
		wg        sync.WaitGroup
	)
	start := time.Now()
	for _, c := range clients {
		for range streams {
			wg.Go(func() {
				var mine []time.Duration
				for ctx.Err() == nil {
					t0 := time.Now()
					err := get(ctx, c, url)
					if ctx.Err() != nil {
						break // a request cut by the end of the run is not counted
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d requests failed; the first: %v", n, firstErr.Load())
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Printf("Running %v test @ %s over %s\n  %d connections, %d streams each\n", d, url, proto, conns, streams)
	fmt.Printf("  Latency Distribution\n     50%%  %.2fus\n     99%%  %.2fus\n", float64(pct(0.50))/1e3, float64(pct(0.99))/1e3)
	fmt.Printf("  %d requests in %.2fs\nRequests/sec: %.2f\n", len(latencies), elapsed.Seconds(), float64(len(latencies))/elapsed.Seconds())
	return nil
}

var errStatus = errors.New("status other than 200")

// get sends one request and reads the whole response.
func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("%w: %s", errStatus, resp.Status)
	}
	return err
}
