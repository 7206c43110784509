// Package loadtest puts HTTP/1.1 load on a server for tests, as wrk does:
// clients that keep their connection alive and send their next request as
// soon as the last response is read, and clients that open a connection
// for every request. Unlike net/http's client it retries nothing, so every
// request the server drops is counted.
package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Load describes the clients.
type Load struct {
	Network, Address string // as for net.Dial
	Path             string // requested with GET; "/" if empty

	KeepAlive int // clients on keep-alive connections
	NewConns  int // clients opening a connection per request (Connection: close)

	// Check, if set, checks a response's body; an error counts as a
	// failed request.
	Check func(body []byte) error
}

// Result counts what happened.
type Result struct {
	Requests atomic.Int64 // answered with a status below 400
	Failed   atomic.Int64 // sent, and answered with an error status, not answered, or answered wrong
	Refused  atomic.Int64 // connections that could not be made
	Closes   atomic.Int64 // responses that said Connection: close on keep-alive connections

	mu     sync.Mutex
	errors []string // the first few
}

// Errors returns the first errors seen.
func (r *Result) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

func (r *Result) String() string {
	return fmt.Sprintf("%d requests, %d failed, %d connections refused, %d Connection: close", r.Requests.Load(), r.Failed.Load(), r.Refused.Load(), r.Closes.Load())
}

func (r *Result) note(counter *atomic.Int64, err error) {
	counter.Add(1)
	r.mu.Lock()
	if len(r.errors) < 10 {
		r.errors = append(r.errors, err.Error())
	}
	r.mu.Unlock()
}

// Run puts the load on until ctx ends, then returns what happened.
func Run(ctx context.Context, l Load) *Result {
	if l.Path == "" {
		l.Path = "/"
	}
	r := &Result{}
	var wg sync.WaitGroup
	for i := range l.KeepAlive + l.NewConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.client(ctx, r, i < l.KeepAlive)
		}()
	}
	wg.Wait()
	return r
}

// client sends requests until ctx ends.
func (l Load) client(ctx context.Context, r *Result, keepAlive bool) {
	req := "GET " + l.Path + " HTTP/1.1\r\nHost: loadtest\r\n\r\n"
	if !keepAlive {
		req = "GET " + l.Path + " HTTP/1.1\r\nHost: loadtest\r\nConnection: close\r\n\r\n"
	}
	var d net.Dialer
	var c net.Conn
	var br *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = d.DialContext(ctx, l.Network, l.Address); err != nil {
				if ctx.Err() == nil {
					r.note(&r.Refused, err)
					time.Sleep(time.Millisecond)
				}
				continue
			}
			br = bufio.NewReader(c)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		closeAfter, err := exchange(c, br, req, l.Check)
		switch {
		case err != nil:
			r.note(&r.Failed, err)
			closeAfter = true
		default:
			r.Requests.Add(1)
			if closeAfter && keepAlive {
				r.Closes.Add(1)
			}
		}
		if closeAfter || !keepAlive {
			c.Close()
			c = nil
		}
	}
}

// exchange sends one request and reads its response, reporting whether
// the connection is to be closed.
func exchange(c net.Conn, br *bufio.Reader, req string, check func([]byte) error) (bool, error) {
	if _, err := io.WriteString(c, req); err != nil {
		return true, fmt.Errorf("writing the request: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return true, fmt.Errorf("reading the response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return true, fmt.Errorf("reading the body: %w", err)
	}
	if resp.StatusCode >= 400 {
		return resp.Close, fmt.Errorf("status %s", resp.Status)
	}
	if check != nil {
		if err := check(body); err != nil {
			return resp.Close, err
		}
	}
	return resp.Close, nil
}
