// Command h3load is a load generator for HTTP/3, which wrk and Debian's
// h2load cannot speak: c connections (quic-go's HTTP/3 client), each with
// m requests in flight, send GET requests for a duration and report
// throughput and latency in wrk's format, which the suite reads. -proto h2
// does the same over HTTP/2 with TLS (Go's client), so that both
// protocols are measured by the same client.
//
//	h3load [-proto h3|h2] [-c 16] [-m 8] [-d 5s] URL
//	h3load -grpc [-proto h3|h2] [-c 1] [-m 64] [-d 5s] https://HOST:PORT
//
// -grpc makes gRPC calls instead of GET requests: grpc-go's interop
// TestService/UnaryCall with "Hello, World!" in and out (what the suite's
// ghz rows call), through the module's gRPC client over quic-go's HTTP/3
// transport or Go's HTTP/2 one (grpc-go's own client has no HTTP/3).
//
// It exits with an error if any request fails or gets a status other than
// 200 (with -grpc: any call fails).
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
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kestrel-go/kestrel/internal/grpcclient"
)

func main() {
	proto := flag.String("proto", "h3", "h3 (HTTP/3 over QUIC) or h2 (HTTP/2 over TLS)")
	conns := flag.Int("c", 16, "connections")
	streams := flag.Int("m", 8, "requests in flight per connection")
	duration := flag.Duration("d", 5*time.Second, "how long to send requests")
	useGRPC := flag.Bool("grpc", false, "make gRPC unary calls (TestService/UnaryCall) to the server at URL")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: h3load [-grpc] [-proto h3|h2] [-c 16] [-m 8] [-d 5s] URL")
		os.Exit(2)
	}
	if err := run(*proto, flag.Arg(0), *conns, *streams, *duration, *useGRPC); err != nil {
		fmt.Fprintln(os.Stderr, "h3load:", err)
		os.Exit(1)
	}
}

func run(proto, url string, conns, streams int, d time.Duration, useGRPC bool) error {
	tlsConf := &tls.Config{InsecureSkipVerify: true} // the servers' certificates are made on the fly
	clients := make([]func(context.Context) error, conns)
	for i := range clients {
		var rt http.RoundTripper
		switch proto {
		case "h3":
			tr := &http3.Transport{TLSClientConfig: tlsConf}
			defer tr.Close()
			rt = tr
		case "h2":
			// One connection per transport, carrying every request.
			tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			rt = tr
		default:
			return fmt.Errorf("unknown protocol %q", proto)
		}
		want := map[string]int{"h3": 3, "h2": 2}[proto]
		if useGRPC {
			clients[i] = unaryCaller(url, &protoCheck{rt: rt, want: want})
		} else {
			c := &http.Client{Transport: &protoCheck{rt: rt, want: want}}
			clients[i] = func(ctx context.Context) error { return get(ctx, c, url) }
		}
		// Connect before the clock starts, and check the protocol.
		if err := clients[i](context.Background()); err != nil {
			return err
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
					err := c(ctx)
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

// protoCheck is a RoundTripper that fails responses not over HTTP/want.
type protoCheck struct {
	rt   http.RoundTripper
	want int
}

func (p *protoCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.rt.RoundTrip(r)
	if err == nil && resp.ProtoMajor != p.want {
		resp.Body.Close()
		return nil, fmt.Errorf("the server answered over %s, not HTTP/%d", resp.Proto, p.want)
	}
	return resp, err
}

// unaryCaller returns a function making one gRPC unary call,
// TestService/UnaryCall with "Hello, World!" in and out, to the server at
// target through rt.
func unaryCaller(target string, rt http.RoundTripper) func(context.Context) error {
	tsc := testgrpc.NewTestServiceClient(&grpcclient.Conn{Target: target, Transport: rt})
	req := &testgrpc.SimpleRequest{ResponseSize: 13, Payload: &testgrpc.Payload{Body: []byte("Hello, World!")}}
	return func(ctx context.Context) error {
		reply, err := tsc.UnaryCall(ctx, req)
		if err == nil && len(reply.GetPayload().GetBody()) != 13 {
			err = fmt.Errorf("a reply of %d bytes, want 13", len(reply.GetPayload().GetBody()))
		}
		return err
	}
}

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
