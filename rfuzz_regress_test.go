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
