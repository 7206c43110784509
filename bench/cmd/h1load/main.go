// Command h1load is an HTTP/1.1 load generator that can begin each
// connection with a PROXY protocol version 2 header, as a layer-4 balancer
// (haproxy send-proxy-v2) does; wrk cannot. c connections send GET
// requests one after the other for a duration, either on keep-alive
// connections or on a new connection per request (-close: the request asks
// Connection: close, and the response is read to the server's close), and
// report throughput and latency in wrk's format, which the suite reads.
// The suite measures a server with and without the header with this same
// client, so that the two are comparable.
//
//	h1load [-c 128] [-d 5s] [-close] [-proxy] http://HOST:PORT/PATH
//
// The header states a client address of 198.51.100.x (x the connection's
// number) and the server's address as the destination. h1load exits with an
// error if any request fails or gets a status other than 200.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
)

func main() {
	conns := flag.Int("c", 128, "connections")
	duration := flag.Duration("d", 5*time.Second, "how long to send requests")
	closeEach := flag.Bool("close", false, "a new connection per request (Connection: close)")
	proxy := flag.Bool("proxy", false, "begin each connection with a PROXY protocol v2 header")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: h1load [-c 128] [-d 5s] [-close] [-proxy] http://HOST:PORT/PATH")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *conns, *duration, *closeEach, *proxy); err != nil {
		fmt.Fprintln(os.Stderr, "h1load:", err)
		os.Exit(1)
	}
}

func run(rawURL string, conns int, d time.Duration, closeEach, proxy bool) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q: want an http:// URL", rawURL)
	}
	dst, err := net.ResolveTCPAddr("tcp", u.Host)
	if err != nil {
		return fmt.Errorf("%q: %w", rawURL, err)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n"
	if closeEach {
		req += "Connection: close\r\n"
	}
	req += "\r\n"

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Pointer[error]
		wg        sync.WaitGroup
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for i := range conns {
		var header []byte
		if proxy {
			h := &proxyproto.Header{
				Version:           2,
				Command:           proxyproto.PROXY,
				TransportProtocol: proxyproto.TCPv4,
				SourceAddr:        &net.TCPAddr{IP: net.IPv4(198, 51, 100, byte(i%254+1)), Port: 10000 + i},
				DestinationAddr:   dst,
			}
			if header, err = h.Format(); err != nil {
				return fmt.Errorf("formatting the PROXY header: %w", err)
			}
		}
		first := append(header, req...) // the header and the first request in one write
		wg.Go(func() {
			var mine []time.Duration
			var err error
			if closeEach {
				mine, err = perRequest(dst.String(), first, stop)
			} else {
				mine, err = keepAlive(dst.String(), first, []byte(req), stop)
			}
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		return *err
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	mode := "keep-alive"
	if closeEach {
		mode = "a connection per request"
	}
	fmt.Printf("Running %v test @ %s, %s, PROXY header %v\n  %d connections\n", d, rawURL, mode, proxy, conns)
	fmt.Printf("  Latency Distribution\n     50%%  %.2fus\n     99%%  %.2fus\n", float64(pct(0.50))/1e3, float64(pct(0.99))/1e3)
	fmt.Printf("  %d requests in %.2fs\nRequests/sec: %.2f\n", len(latencies), elapsed.Seconds(), float64(len(latencies))/elapsed.Seconds())
	return nil
}

// keepAlive sends requests on one connection until stop: first (the
// header, if any, and the first request), then req each time.
func keepAlive(addr string, first, req []byte, stop time.Time) ([]time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	var lat []time.Duration
	for w := first; time.Now().Before(stop); w = req {
		t0 := time.Now()
		if _, err := c.Write(w); err != nil {
			return lat, err
		}
		if err := readResponse(br, false); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// perRequest opens a connection per request until stop, and reads each
// response to the server's close.
func perRequest(addr string, first []byte, stop time.Time) ([]time.Duration, error) {
	var lat []time.Duration
	br := bufio.NewReaderSize(nil, 4096)
	for time.Now().Before(stop) {
		t0 := time.Now()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return lat, err
		}
		br.Reset(c)
		_, err = c.Write(first)
		if err == nil {
			err = readResponse(br, true)
		}
		c.Close()
		if err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

var errStatus = errors.New("status other than 200")

// readResponse reads one response with a Content-Length body; toClose
// also waits for the server to close the connection after it.
func readResponse(br *bufio.Reader, toClose bool) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("reading the status line: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("%w: %q", errStatus, bytes.TrimSpace(line))
	}
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading the header: %w", err)
		}
		if len(line) <= 2 {
			break
		}
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil {
				return fmt.Errorf("Content-Length %q", bytes.TrimSpace(value))
			}
		}
	}
	if length < 0 {
		return errors.New("a response without Content-Length")
	}
	if _, err := br.Discard(length); err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if toClose {
		if _, err := br.ReadByte(); err != io.EOF {
			return fmt.Errorf("the server did not close the connection after Connection: close (%v)", err)
		}
	}
	return nil
}
