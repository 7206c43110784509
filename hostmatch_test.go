package kestrel

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/hostfiltering"
)

// TestConnectHostMatchesTarget: an HTTP/1.1 CONNECT's Host must name the
// target it asks for, as an absolute-form request's must (Kestrel answers
// 400 to either); r.Host, which the host filter checks, is the target,
// as in net/http and over HTTP/2 and HTTP/3, where :authority is both.
// Otherwise a CONNECT to any target got past AllowedHosts with an
// allowed Host, and the handler saw the Host in r.Host.
func TestConnectHostMatchesTarget(t *testing.T) {
	t.Parallel()
	hosts := make(chan string, 8)
	h := hostfiltering.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host + " " + r.URL.Host
	}), hostfiltering.Options{AllowedHosts: []string{"good.example"}})
	addr := startHandler(t, h)
	for _, tc := range []struct {
		req      string
		status   int
		wantHost string // what the handler saw, if called
	}{
		{"CONNECT evil.example:443 HTTP/1.1\r\nHost: good.example\r\n\r\n", 400, ""},
		{"CONNECT evil.example:443 HTTP/1.1\r\nHost: good.example:443\r\n\r\n", 400, ""},
		{"CONNECT good.example:443 HTTP/1.1\r\nHost: good.example:8443\r\n\r\n", 400, ""},
		{"CONNECT good.example:443 HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400, ""},
		// RFC 9110, 9.3.6's example: Host without the port.
		{"CONNECT good.example:443 HTTP/1.1\r\nHost: good.example\r\n\r\n", 200, "good.example:443 good.example:443"},
		{"CONNECT GOOD.example:443 HTTP/1.1\r\nHost: good.example:443\r\n\r\n", 200, "GOOD.example:443 GOOD.example:443"},
		{"CONNECT good.example:443 HTTP/1.0\r\n\r\n", 200, "good.example:443 good.example:443"},
	} {
		c := dial(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, tc.req)
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
		c.Close()
		if err != nil {
			t.Fatalf("%q: %v", tc.req, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%q: status %d, want %d", tc.req, resp.StatusCode, tc.status)
			select {
			case got := <-hosts:
				t.Errorf("  the handler saw r.Host, r.URL.Host = %s", got)
			default:
			}
			continue
		}
		if tc.wantHost != "" {
			if got := <-hosts; got != tc.wantHost {
				t.Errorf("%q: r.Host, r.URL.Host = %s, want %s", tc.req, got, tc.wantHost)
			}
		}
	}
}
