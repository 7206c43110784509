package kestrel

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestUndeclaredTrailers: trailers the client did not announce in a
// Trailer header reach Request.Trailer too, as with net/http; framing
// fields never do.
func TestUndeclaredTrailers(t *testing.T) {
	got := make(chan http.Header, 1)
	addr := startLimited(t, Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Declared\r\n\r\n"+
		"3\r\nabc\r\n0\r\nX-Declared: 1\r\nX-Undeclared: 2\r\nContent-Length: 9\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response: %v %v", resp, err)
	}
	tr := <-got
	if tr.Get("X-Declared") != "1" || tr.Get("X-Undeclared") != "2" || tr.Get("Content-Length") != "" {
		t.Errorf("Request.Trailer = %v", tr)
	}
}
