package kestrel

import (
	"strings"
	"testing"
)

// rfWant checks that summary (rfSummary's) has each of want's lines and
// none of not's.
func rfWant(t *testing.T, name, summary string, want, not []string) {
	t.Helper()
	lines := strings.Split(summary, "\n")
	has := func(l string) bool {
		for _, x := range lines {
			if x == l {
				return true
			}
		}
		return false
	}
	for _, w := range want {
		if !has(w) {
			t.Errorf("%s: no line %s in:\n%s", name, w, summary)
		}
	}
	for _, n := range not {
		if has(n) {
			t.Errorf("%s: line %s in:\n%s", name, n, summary)
		}
	}
}

// TestRequestTrailersAfterZeroLength: an HTTP/2 or HTTP/3 request with
// content-length: 0 whose stream stays open for a trailer section gets
// its trailers in Request.Trailer, as net/http's HTTP/2 server and
// quic-go give them; they were dropped (the body was http.NoBody) and
// the Trailer header stayed in Header.
func TestRequestTrailersAfterZeroLength(t *testing.T) {
	t.Parallel()
	addr, addr3 := rfStart(t)
	cases := []struct {
		name      string
		g         genReq
		want, not []string
	}{
		{"declared", genReq{method: "POST", target: "/", authority: "h", fields: [][2]string{{"trailer", "x-u"}}, body: []string{}, withLength: true, trailers: [][2]string{{"x-u", "1"}}},
			[]string{`CL=0`, `TrailerBefore={X-U=[]}`, `TrailerAfter={X-U=["1"]}`}, []string{`H Trailer=["x-u"]`}},
		{"undeclared", genReq{method: "PUT", target: "/", authority: "h", body: []string{}, withLength: true, trailers: [][2]string{{"x-v", "2"}}},
			[]string{`CL=0`, `TrailerAfter={X-V=["2"]}`}, nil},
		{"empty DATA", genReq{method: "POST", target: "/", authority: "h", fields: [][2]string{{"trailer", "x-u"}}, body: []string{""}, withLength: true, trailers: [][2]string{{"x-u", "3"}}},
			[]string{`CL=0`, `TrailerAfter={X-U=["3"]}`}, nil},
		{"no trailers", genReq{method: "POST", target: "/", authority: "h", body: []string{""}, withLength: true},
			[]string{`CL=0`, `Body="" err=<nil>`, `TrailerAfter=nil`}, nil},
	}
	for _, c := range cases {
		rfWant(t, c.name+", h2c", rfSendH2(addr, c.g), c.want, c.not)
		rfWant(t, c.name+", HTTP/3", rfSendH3(addr3, c.g), c.want, c.not)
	}
}

// TestRequestTrailerHeaderPerProtocol: a Trailer header moves from Header
// to Request.Trailer as net/http's server for the protocol moves it: over
// HTTP/1.1 for a chunked body only (a Content-Length body carries no
// trailers, and the header stays in Header), over HTTP/2 and HTTP/3
// always, as net/http's HTTP/2 server and quic-go do, a request that
// ended with its head included (it stayed in Header).
func TestRequestTrailerHeaderPerProtocol(t *testing.T) {
	t.Parallel()
	addr, addr3 := rfStart(t)
	declared := []string{`TrailerBefore={X-U=[]}`, `TrailerAfter={X-U=[]}`}
	kept := []string{`H Trailer=["X-U"]`, `TrailerBefore=nil`, `TrailerAfter=nil`}
	cases := []struct {
		name      string
		send      func() string
		want, not []string
	}{
		{"HTTP/1.1 Content-Length", func() string {
			return rfSendH1(addr, "POST / HTTP/1.1\r\nHost: h\r\nTrailer: X-U\r\nContent-Length: 2\r\n\r\nab")
		}, kept, nil},
		{"HTTP/1.1 chunked", func() string {
			return rfSendH1(addr, "POST / HTTP/1.1\r\nHost: h\r\nTrailer: X-U\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
		}, declared, []string{`H Trailer=["X-U"]`}},
		{"HTTP/1.1 no body", func() string {
			return rfSendH1(addr, "GET / HTTP/1.1\r\nHost: h\r\nTrailer: X-U\r\n\r\n")
		}, kept, nil},
		{"h2c END_STREAM on HEADERS", func() string {
			return rfSendH2(addr, genReq{method: "GET", target: "/", authority: "h", fields: [][2]string{{"trailer", "X-U"}}})
		}, declared, []string{`H Trailer=["X-U"]`}},
		{"h2c content-length: 0, END_STREAM on HEADERS", func() string {
			return rfSendH2(addr, genReq{method: "POST", target: "/", authority: "h", fields: [][2]string{{"trailer", "X-U"}, {"content-length", "0"}}})
		}, declared, []string{`H Trailer=["X-U"]`}},
		{"HTTP/3 FIN with HEADERS", func() string {
			return rfSendH3(addr3, genReq{method: "GET", target: "/", authority: "h", fields: [][2]string{{"trailer", "X-U"}}})
		}, declared, []string{`H Trailer=["X-U"]`}},
	}
	for _, c := range cases {
		rfWant(t, c.name, c.send(), c.want, c.not)
	}
}

// TestRepeatedContentLength: a Content-Length field repeated with the same
// length reaches Header once, over every protocol (RFC 9110, 8.6: a
// recipient that accepts the list replaces it with one instance, as
// net/http's HTTP/1.1 server and quic-go do); Header had every copy.
func TestRepeatedContentLength(t *testing.T) {
	t.Parallel()
	addr, addr3 := rfStart(t)
	dup := genReq{method: "POST", target: "/", authority: "h", fields: [][2]string{{"content-length", "2"}, {"x-a", "1"}, {"content-length", "2"}}, body: []string{"ab"}}
	cases := []struct {
		name string
		send func() string
		want []string
	}{
		{"HTTP/1.1", func() string {
			return rfSendH1(addr, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nab")
		}, []string{`H Content-Length=["2"]`, `CL=2`, `Body="ab" err=<nil>`}},
		{"HTTP/1.1 leading zeros", func() string {
			return rfSendH1(addr, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 002\r\n\r\nab")
		}, []string{`H Content-Length=["2"]`, `CL=2`, `Body="ab" err=<nil>`}},
		{"h2c", func() string { return rfSendH2(addr, dup) }, []string{`H Content-Length=["2"]`, `CL=2`, `Body="ab" err=<nil>`}},
		{"HTTP/3", func() string { return rfSendH3(addr3, dup) }, []string{`H Content-Length=["2"]`, `CL=2`, `Body="ab" err=<nil>`}},
	}
	for _, c := range cases {
		rfWant(t, c.name, c.send(), c.want, nil)
	}
}
