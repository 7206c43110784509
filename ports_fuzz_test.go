package kestrel

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzUsePorts checks HTTP_PORTS and HTTPS_PORTS against their model:
// accepted exactly when every element between semicolons, spaces
// trimmed, is empty or a decimal port number (strconv.ParseUint, 16
// bits) listed once across both (0 may repeat), and then one URL per
// port, "scheme://*:PORT".
func FuzzUsePorts(f *testing.F) {
	for _, s := range [][2]string{
		{"8080", ""}, {"8080;8081", "8443"}, {"", "443"}, {"80;80", ""}, {"80", "80"}, {"0;0", "0"},
		{" 8080 ; ", ""}, {"65535", "65536"}, {"+80", ""}, {"-1", ""}, {"0x50", ""}, {"08080;8080", ""},
		{"80,81", ""}, {"1_0", ""}, {";;", ";"}, {"080", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, httpPorts, httpsPorts string) {
		s := &Server{}
		err := s.UsePorts(httpPorts, httpsPorts)
		ok := true
		var want []string
		seen := map[uint64]bool{}
		for _, set := range [][2]string{{"http", httpPorts}, {"https", httpsPorts}} {
			for _, p := range strings.Split(set[1], ";") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				n, err := strconv.ParseUint(p, 10, 16)
				if err != nil || seen[n] && n != 0 {
					ok = false
				}
				seen[n] = true
				want = append(want, set[0]+"://*:"+p)
			}
		}
		if (err == nil) != ok {
			t.Fatalf("UsePorts(%q, %q) = %v; want ok=%v", httpPorts, httpsPorts, err, ok)
		}
		if err != nil || httpPorts == "" && httpsPorts == "" {
			return
		}
		if got := strings.Join(s.ports.raw, " "); got != strings.Join(want, " ") {
			t.Fatalf("UsePorts(%q, %q): URLs %q, want %q", httpPorts, httpsPorts, got, want)
		}
		if len(s.ports.eps) < len(want) {
			t.Fatalf("UsePorts(%q, %q): %d endpoints for %d ports", httpPorts, httpsPorts, len(s.ports.eps), len(want))
		}
	})
}

// FuzzUseURLs checks the --urls list: accepted exactly when every
// element between semicolons, spaces trimmed, is empty or a URL that
// parseURL takes, listed once (ignoring case), and then the endpoints
// are those of its URLs, in order.
func FuzzUseURLs(f *testing.F) {
	for _, s := range []string{
		"http://localhost:5000", "http://localhost:5000;https://*:5001", " ; http://+:80 ;", "http://a:1;HTTP://A:1",
		"http://localhost:5000,http://localhost:5001", "unix:/run/a.sock;http://unix:/run/b.sock", "", ";", "http://[::1]:80;http://[::1]:80/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, urls string) {
		s := &Server{}
		err := s.UseURLs(urls)
		ok := true
		n := 0
		seen := map[string]bool{}
		for _, u := range strings.Split(urls, ";") {
			if u = strings.TrimSpace(u); u == "" {
				continue
			}
			for l := range seen {
				if strings.EqualFold(l, u) {
					ok = false
				}
			}
			seen[u] = true
			eps, err := Endpoint{URL: u}.resolve()
			if err != nil {
				ok = false
			}
			n += len(eps)
		}
		if (err == nil) != ok {
			t.Fatalf("UseURLs(%q) = %v; want ok=%v", urls, err, ok)
		}
		if err == nil && len(s.urls) != n {
			t.Fatalf("UseURLs(%q): %d endpoints, want %d", urls, len(s.urls), n)
		}
	})
}
