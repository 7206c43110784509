package kestrel

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// kestrelBinding is what Kestrel binds for a URL prefix: its
// BindingAddress.Parse (src/Http/Http/src/BindingAddress.cs) and
// AddressBinder's rules, written out here from their behaviour.
type kestrelBinding struct {
	unixPath string // a Unix socket
	port     int
	kind     string // "localhost", "ip" or "any"
	ip       netip.Addr
}

// kestrelParse reports what Kestrel binds for raw, or false when it
// refuses it (a FormatException, a path base, a port out of range, port 0
// with localhost, a scheme other than http and https).
func kestrelParse(raw string) (kestrelBinding, bool) {
	var b kestrelBinding
	i := strings.Index(raw, "://")
	if i < 0 {
		return b, false
	}
	scheme, e := raw[:i], i+3
	isUnix := strings.HasPrefix(raw[e:], "unix:/")
	pathStart, pathEnd := -1, -1
	if isUnix {
		if j := strings.IndexByte(raw[e+len("unix:/"):], ':'); j >= 0 {
			pathStart = e + len("unix:/") + j
			pathEnd = pathStart + 1
		}
	} else if j := strings.IndexByte(raw[e:], '/'); j >= 0 {
		pathStart, pathEnd = e+j, e+j
	}
	if pathStart < 0 {
		pathStart, pathEnd = len(raw), len(raw)
	}
	host, specified := "", false
	if !isUnix {
		hostport := raw[e:pathStart]
		if j := strings.LastIndexByte(hostport, ':'); j >= 0 {
			if n, ok := dotnetInt(hostport[j+1:]); ok {
				host, b.port, specified = hostport[:j], n, true
			}
		}
		if !specified {
			switch {
			case strings.EqualFold(scheme, "http"):
				b.port = 80
			case strings.EqualFold(scheme, "https"):
				b.port = 443
			}
		}
	}
	if !specified {
		host = raw[e:pathStart]
	}
	if host == "" {
		return b, false
	}
	var pathBase string
	if raw[len(raw)-1] == '/' {
		if pathEnd > len(raw)-1 {
			return b, false // Substring with a negative length throws
		}
		pathBase = raw[pathEnd : len(raw)-1]
	} else {
		pathBase = raw[pathEnd:]
	}
	if pathBase != "" || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return b, false
	}
	if isUnix {
		b.unixPath = host[len("unix:"):]
		return b, true
	}
	if b.port < 0 || b.port > 65535 {
		return b, false
	}
	if strings.EqualFold(host, "localhost") {
		b.kind = "localhost"
		return b, b.port != 0
	}
	if ip, ok := dotnetIP(host); ok {
		b.kind, b.ip = "ip", ip
		if ip.Unmap().IsUnspecified() && ip.Is6() && !ip.Is4In6() {
			b.kind = "any" // [::] binds every address
		}
		return b, true
	}
	b.kind = "any"
	return b, true
}

// dotnetInt is int.TryParse with NumberStyles.Integer: white space at
// either end, a sign, decimal digits, within an int32.
func dotnetInt(s string) (int, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 32)
	if err != nil || strings.HasPrefix(s, "+-") || strings.HasPrefix(s, "+") && len(s) > 1 && s[1] == '+' {
		return 0, false
	}
	return int(n), true
}

// dotnetIP is IPAddress.TryParse for the forms this test produces: an
// IPv6 address with or without brackets (and a zone), a dotted-quad IPv4
// address, or IPv4's shorthand forms (127.1, 0x7f.1, 2130706433).
func dotnetIP(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	return shortIPv4(s)
}

// FuzzParseURL compares the server's URL prefixes with Kestrel's: every
// URL the server takes, Kestrel takes too and binds the same sockets for
// (the server refuses more: ports that are not numbers, IPv6 addresses
// without brackets, ...). A bare "unix:/path" and a "UNIX:" in another
// case are the server's own.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"http://localhost:5000", "http://localhost", "http://LOCALHOST:5000", "https://localhost", "http://localhost:0",
		"http://[::]:80", "http://*:80", "http://+:80", "http://*", "http://+", "http://0.0.0.0:80", "http://127.0.0.1:8080",
		"http://[::1]:8080", "http://[fe80::1%eth0]:80", "http://[fe80::1%25eth0]:80", "http://[fe80::1%25]:80", "http://[::ffff:127.0.0.1]:80", "http://example.com:80",
		"http://300.1.1.1:80", "http://127.1:80", "http://0x7f.1:80", "http://2130706433:80", "http://0177.0.0.1:80", "http://0:80",
		"http://localhost:65535", "http://localhost:65536", "http://127.0.0.1:0", "http://localhost:-1", "http://localhost:+80",
		"http://localhost:5000/", "http://localhost:5000/app", "http://localhost:5000//", "http://localhost:5000?x",
		"http://localhost:", "http://:5000", "http://", "http:///", "http://::1:80", "ftp://localhost",
		"http://unix:/run/app.sock", "https://unix:/run/app.sock", "http://unix:/run/app.sock:", "http://unix:/run/app.sock:/",
		"http://unix:/run/app.sock:5000/x", "http://unix:/", "http://unix:/tmp/", "unix:/run/app.sock", "http://unix:relative",
		"http://localhost:5000,http://localhost:5001", "http://a b:80", "http://u@h:80", "http://h:80#f", "http://[::1]x:80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		eps, err := parseURL(raw)
		if err != nil || strings.Contains(raw, ";") || strings.Contains(raw, ",") {
			return
		}
		if _, ok := cutPrefixFold(raw, "unix:"); ok {
			return // the server's own form
		}
		if i := strings.Index(raw, "://"); i >= 0 && len(raw) > i+3 && strings.HasPrefix(strings.ToLower(raw[i+3:]), "unix:") && !strings.HasPrefix(raw[i+3:], "unix:") {
			return // "UNIX:": the server's own
		}
		k, ok := kestrelParse(raw)
		if !ok {
			t.Fatalf("%q: the server binds %s, Kestrel refuses it", raw, describeEndpoints(eps))
		}
		switch {
		case k.unixPath != "":
			if len(eps) != 1 || eps[0].network != "unix" || eps[0].address != k.unixPath {
				t.Fatalf("%q: the server binds %s, Kestrel the Unix socket %q", raw, describeEndpoints(eps), k.unixPath)
			}
			return
		case len(eps) == 0 || eps[0].port != k.port:
			t.Fatalf("%q: the server binds %s, Kestrel port %d", raw, describeEndpoints(eps), k.port)
		}
		switch k.kind {
		case "localhost":
			if len(eps) != 2 || !eps[0].localhost || !eps[1].localhost {
				t.Fatalf("%q: the server binds %s, Kestrel localhost", raw, describeEndpoints(eps))
			}
		case "any":
			if len(eps) != 1 || !eps[0].anyIP {
				t.Fatalf("%q: the server binds %s, Kestrel every address", raw, describeEndpoints(eps))
			}
		case "ip":
			ip := k.ip.Unmap()
			if a, err := netip.ParseAddr(unescapeZone(ip.String())); err == nil && ip.Zone() != "" {
				// RFC 6874's "%25" before a zone: the server takes the
				// zone after it, where Kestrel binds the zone "25eth0",
				// which no interface has.
				ip = a
			}
			want := netip.AddrPortFrom(ip, uint16(k.port)).String()
			if len(eps) != 1 || eps[0].anyIP || eps[0].address != want {
				t.Fatalf("%q: the server binds %s, Kestrel %s", raw, describeEndpoints(eps), want)
			}
		}
	})
}

func describeEndpoints(eps []endpoint) string {
	var b strings.Builder
	for _, ep := range eps {
		b.WriteString(ep.network + " " + ep.address)
		if ep.anyIP {
			b.WriteString(" (every address)")
		}
		b.WriteString("; ")
	}
	return b.String()
}
