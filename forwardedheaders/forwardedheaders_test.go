package forwardedheaders

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

type seen struct {
	remote, scheme, host          string
	xff, origFor, origProto, orig string
	fwd                           string // the Forwarded header left
}

func run(t *testing.T, opts Options, remote string, unix bool, header map[string]string) seen {
	t.Helper()
	var got seen
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{r.RemoteAddr, r.URL.Scheme, r.Host, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Original-For"), r.Header.Get("X-Original-Proto"), r.Header.Get("X-Original-Host"), r.Header.Get("Forwarded")}
	}), opts)
	r := httptest.NewRequest("GET", "/", nil)
	r.URL.Scheme = ""
	r.Host = "internal:8080"
	r.RemoteAddr = remote
	if unix {
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}))
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	before := r.RemoteAddr
	h.ServeHTTP(httptest.NewRecorder(), r)
	if r.RemoteAddr != before {
		t.Error("the caller's request was modified")
	}
	return got
}

func TestForwardedHeaders(t *testing.T) {
	xff := map[string]string{"X-Forwarded-For": "203.0.113.7, 10.0.0.2", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "example.com"}
	for _, tc := range []struct {
		name   string
		opts   Options
		remote string
		unix   bool
		header map[string]string
		want   seen
	}{
		{"untrusted peer: nothing applied", Options{}, "198.51.100.1:1234", false, xff,
			seen{remote: "198.51.100.1:1234", host: "internal:8080", xff: "203.0.113.7, 10.0.0.2"}},
		// By default, as ASP.NET's: the address and the scheme, not the
		// host, which a proxy passes on from its client unless it sets it.
		{"loopback trusted, one hop", Options{}, "127.0.0.1:1234", false, xff,
			seen{"10.0.0.2:0", "https", "internal:8080", "203.0.113.7", "127.0.0.1:1234", "http", "", ""}},
		{"loopback trusted, one hop, host asked for", Options{Headers: DefaultHeaders | XForwardedHost}, "127.0.0.1:1234", false, xff,
			seen{"10.0.0.2:0", "https", "example.com", "203.0.113.7", "127.0.0.1:1234", "http", "internal:8080", ""}},
		{"host only, a port alone refused", Options{Headers: XForwardedHost}, "127.0.0.1:1", false, map[string]string{"X-Forwarded-Host": ":80"},
			seen{remote: "127.0.0.1:1", host: "internal:8080"}},
		{"zone with a port refused", Options{}, "127.0.0.1:1", false, map[string]string{"X-Forwarded-For": `[fe80::1%a"b]:80`},
			seen{remote: "127.0.0.1:1", host: "internal:8080", xff: `[fe80::1%a"b]:80`}},
		{"unix socket trusted", Options{}, "@", true, map[string]string{"X-Forwarded-For": "203.0.113.7:5555"},
			seen{remote: "203.0.113.7:5555", host: "internal:8080", origFor: "@"}},
		{"unix socket distrusted", Options{DistrustUnixSockets: true}, "@", true, map[string]string{"X-Forwarded-For": "203.0.113.7"},
			seen{remote: "@", host: "internal:8080", xff: "203.0.113.7"}},
		{"two hops through a known network", Options{ForwardLimit: 2, KnownNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}},
			"127.0.0.1:1", false, map[string]string{"X-Forwarded-For": "203.0.113.7, 10.0.0.2"},
			seen{remote: "203.0.113.7:0", host: "internal:8080", origFor: "127.0.0.1:1"}},
		{"limit 2 stops at an untrusted hop", Options{ForwardLimit: 2}, "127.0.0.1:1", false, map[string]string{"X-Forwarded-For": "203.0.113.7, 10.0.0.2"},
			seen{remote: "10.0.0.2:0", host: "internal:8080", xff: "203.0.113.7", origFor: "127.0.0.1:1"}},
		{"unlimited with known proxy", Options{ForwardLimit: Unlimited, KnownProxies: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}},
			"127.0.0.1:1", false, map[string]string{"X-Forwarded-For": "203.0.113.7, 10.0.0.3, 10.0.0.2"},
			seen{remote: "203.0.113.7:0", host: "internal:8080", origFor: "127.0.0.1:1"}},
		{"IPv6 with port", Options{}, "[::1]:9", false, map[string]string{"X-Forwarded-For": "[2001:db8::7]:4711"},
			seen{remote: "[2001:db8::7]:4711", host: "internal:8080", origFor: "[::1]:9"}},
		{"invalid entry ignored", Options{}, "127.0.0.1:1", false, map[string]string{"X-Forwarded-For": "not-an-ip"},
			seen{remote: "127.0.0.1:1", host: "internal:8080", xff: "not-an-ip"}},
		{"bad proto stops", Options{}, "127.0.0.1:1", false, map[string]string{"X-Forwarded-Proto": "javascript"},
			seen{remote: "127.0.0.1:1", host: "internal:8080"}},
		{"RFC 7239", Options{Headers: Forwarded}, "127.0.0.1:1", false, map[string]string{"Forwarded": `for="[2001:db8:cafe::17]:4711";proto=https;host=example.org`},
			seen{"[2001:db8:cafe::17]:4711", "https", "example.org", "", "127.0.0.1:1", "http", "internal:8080", ""}},
		{"RFC 7239 obfuscated", Options{Headers: Forwarded}, "127.0.0.1:1", false, map[string]string{"Forwarded": `for=_hidden`},
			seen{remote: "127.0.0.1:1", host: "internal:8080", fwd: "for=_hidden"}},
		// Not asked for: a client's Forwarded is ignored, and the proxy's
		// X-Forwarded-For applies.
		{"RFC 7239 not asked for", Options{}, "127.0.0.1:1", false, map[string]string{"Forwarded": `for=198.51.100.66;proto=https;host=evil.example`, "X-Forwarded-For": "203.0.113.7"},
			seen{remote: "203.0.113.7:0", host: "internal:8080", origFor: "127.0.0.1:1", fwd: `for=198.51.100.66;proto=https;host=evil.example`}},
		// Each element is one hop: the far element's proto and host are
		// not the near one's.
		{"RFC 7239 hops keep their own values", Options{Headers: Forwarded}, "127.0.0.1:1", false, map[string]string{"Forwarded": `for=203.0.113.7;proto=https;host=evil.example, for=10.0.0.2`},
			seen{remote: "10.0.0.2:0", host: "internal:8080", origFor: "127.0.0.1:1", fwd: `for=203.0.113.7;proto=https;host=evil.example`}},
		{"RFC 7239 empty elements and pairs", Options{Headers: Forwarded}, "127.0.0.1:1", false, map[string]string{"Forwarded": `, for=203.0.113.7;proto=https;;,`},
			seen{remote: "203.0.113.7:0", scheme: "https", host: "internal:8080", origFor: "127.0.0.1:1", origProto: "http"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, tc.opts, tc.remote, tc.unix, tc.header); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestKnownNetworksIPv4Mapped: a known network written in the IPv4-mapped
// IPv6 form, as ASP.NET's documentation writes them for dual-mode sockets
// ("::ffff:10.0.0.0/104"), trusts the IPv4 peers it holds, however their
// address is spelled, as ASP.NET's CheckKnownAddress does; and an IPv4
// network trusts a peer given in the mapped form.
func TestKnownNetworksIPv4Mapped(t *testing.T) {
	hdr := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	for _, tc := range []struct {
		network, remote string
		trusted         bool
	}{
		{"::ffff:10.0.0.0/104", "10.0.0.5:1", true},
		{"::ffff:10.0.0.0/104", "[::ffff:10.0.0.5]:1", true},
		{"::ffff:10.0.0.0/104", "11.0.0.5:1", false},
		{"::ffff:10.0.0.0/104", "[::a00:5]:1", false}, // ::10.0.0.5, not mapped
		{"10.0.0.0/8", "[::ffff:10.0.0.5]:1", true},
		{"::/0", "10.0.0.5:1", false}, // IPv6's space: Go gives IPv4 peers as IPv4, never mapped
		{"::ffff:0.0.0.0/95", "10.0.0.5:1", false},
		{"::ffff:0.0.0.0/96", "192.0.2.1:1", true},
	} {
		opts := Options{KnownNetworks: []netip.Prefix{netip.MustParsePrefix(tc.network)}}
		got := run(t, opts, tc.remote, false, hdr)
		if applied := got.remote == "203.0.113.7:0"; applied != tc.trusted {
			t.Errorf("KnownNetworks %s, peer %s: X-Forwarded-For applied %v, want %v", tc.network, tc.remote, applied, tc.trusted)
		}
	}
}

// TestTrustedLinkLocalPeer: a proxy on a link-local address, which Go
// gives with its zone ("[fe80::1%eth0]:1"), is trusted by a known
// network or proxy written without a zone, as ASP.NET compares the
// address's bytes; the zone names the interface, not the address.
func TestTrustedLinkLocalPeer(t *testing.T) {
	hdr := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	for _, tc := range []struct {
		name    string
		opts    Options
		remote  string
		trusted bool
	}{
		{"network", Options{KnownNetworks: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}}, "[fe80::1%eth0]:1", true},
		{"proxy", Options{KnownProxies: []netip.Addr{netip.MustParseAddr("fe80::1")}}, "[fe80::1%eth0]:1", true},
		{"proxy with its zone", Options{KnownProxies: []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}}, "[fe80::1%eth0]:1", true},
		{"other proxy", Options{KnownProxies: []netip.Addr{netip.MustParseAddr("fe80::2")}}, "[fe80::1%eth0]:1", false},
		{"other network", Options{KnownNetworks: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}, "[fe80::1%eth0]:1", false},
	} {
		got := run(t, tc.opts, tc.remote, false, hdr)
		if applied := got.remote == "203.0.113.7:0"; applied != tc.trusted {
			t.Errorf("%s: peer %s: X-Forwarded-For applied %v, want %v", tc.name, tc.remote, applied, tc.trusted)
		}
	}
}

func FuzzForwarded(f *testing.F) {
	f.Add("203.0.113.7, 10.0.0.2", "https", "example.com", `for=192.0.2.60;proto=http;by=203.0.113.43`)
	f.Add("[::1]:80", "http,https", "a:1,b", `for="[2001:db8::1]"`)
	f.Add("1.2.3.4, 10.0.0.1", "https, http", "a.example, b.example:8443", "")
	f.Add("", "", "", `for=1.2.3.4;host="a:1", for="[::1]:2";proto=https, for=unknown`)
	all := XForwardedFor | XForwardedProto | XForwardedHost | Forwarded
	opts := []Options{
		{ForwardLimit: Unlimited},
		// Every hop trusted, every header applied: the walk goes as deep as
		// the values let it.
		{ForwardLimit: Unlimited, Headers: all, KnownNetworks: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}},
		{ForwardLimit: 2, Headers: all &^ Forwarded, KnownNetworks: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}},
	}
	f.Fuzz(func(t *testing.T, xff, proto, host, fwd string) {
		for _, o := range opts {
			var got *http.Request
			h := Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r }), o)
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "127.0.0.1:1"
			r.Header["X-Forwarded-For"] = []string{xff}
			r.Header["X-Forwarded-Proto"] = []string{proto}
			r.Header["X-Forwarded-Host"] = []string{host}
			if fwd != "" {
				r.Header["Forwarded"] = []string{fwd}
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got == nil {
				t.Fatal("the handler was not called")
			}
			// What the application sees is well formed, whatever came in.
			if _, err := netip.ParseAddrPort(got.RemoteAddr); err != nil {
				t.Fatalf("%+v: remote address %q: %v", o, got.RemoteAddr, err)
			}
			if s := got.URL.Scheme; s != "" && s != "http" && s != "https" {
				t.Fatalf("%+v: scheme %q", o, s)
			}
			if got.Host != r.Host && (!httpguts.ValidHostHeader(got.Host) || got.URL.Host != got.Host) {
				t.Fatalf("%+v: host %q, URL host %q", o, got.Host, got.URL.Host)
			}
			// The X-Forwarded values left are the first of those sent.
			if got != r && fwd == "" {
				for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
					if left := strings.Join(list(got.Header.Values(name)), ", "); !strings.HasPrefix(strings.Join(list(r.Header.Values(name)), ", "), left) {
						t.Fatalf("%+v: %s %q left of %q", o, name, left, r.Header.Get(name))
					}
				}
			}
		}
	})
}

func ExampleHandler() {
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.RemoteAddr, r.URL.Scheme, r.Host)
	}), Options{})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:50000" // nginx on the same machine
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "example.com")
	h.ServeHTTP(httptest.NewRecorder(), r)
	// Output: 203.0.113.7:0 https example.com
}
