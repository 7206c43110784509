package kestrel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/kestrel-go/kestrel"
)

// countedConn counts the bytes a client sends, and reports them when the
// connection ends.
type countedConn struct {
	net.Conn
	in     atomic.Int64
	closed atomic.Bool
	done   chan<- int64
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) { // Close may be called more than once
		c.done <- c.in.Load()
	}
	return c.Conn.Close()
}

func ExampleConnectionMiddleware() {
	// Refuse clients outside the loopback network, before TLS or HTTP.
	allowLoopback := func(_ context.Context, c net.Conn) (net.Conn, error) {
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
			return nil, errors.New("not a loopback client")
		}
		return c, nil
	}
	// Wrap the connection to count the bytes it brings.
	done := make(chan int64, 1)
	count := func(_ context.Context, c net.Conn) (net.Conn, error) {
		return &countedConn{Conn: c, done: done}, nil
	}

	srv := &kestrel.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	err := srv.ListenEndpoint(kestrel.Endpoint{
		Address:              "127.0.0.1:0",
		ConnectionMiddleware: []kestrel.ConnectionMiddleware{allowLoopback, count},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	c, err := net.Dial("tcp", srv.Addresses()[0][len("http://"):])
	if err != nil {
		log.Fatal(err)
	}
	request := "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
	io.WriteString(c, request)
	answer, _ := io.ReadAll(c) // the server closes the connection after the answer
	c.Close()
	status, _, _ := strings.Cut(string(answer), "\r\n")
	fmt.Println(status)
	fmt.Printf("the connection brought %d bytes\n", <-done)
	// Output:
	// HTTP/1.1 200 OK
	// the connection brought 56 bytes
}
