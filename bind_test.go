package kestrel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCommaSeparatedURLs: URLs joined with commas get a message saying
// that the separator is ';', wherever they come from.
func TestCommaSeparatedURLs(t *testing.T) {
	for _, tc := range []struct{ urls, want string }{
		{"http://localhost:5000,http://localhost:5001", `use "http://localhost:5000;http://localhost:5001"`},
		{"http://127.0.0.1:5000, https://127.0.0.1:5001", `use "http://127.0.0.1:5000; https://127.0.0.1:5001"`},
		{"unix:/run/a.sock,http://*:80", `use "unix:/run/a.sock;http://*:80"`},
		{"http://localhost:5000;http://a:1,HTTP://b:2", `use "http://a:1;HTTP://b:2"`},
	} {
		err := (&Server{}).UseURLs(tc.urls)
		if err == nil || !strings.Contains(err.Error(), "URLs are separated by ';', not ','") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("UseURLs(%q) = %v, want a message about ';' containing %s", tc.urls, err, tc.want)
		}
	}
	// A comma inside a Unix socket's file name is fine.
	if err := (&Server{}).ListenURL("unix:/run/a,b.sock"); err != nil {
		t.Errorf("unix:/run/a,b.sock: %v", err)
	}
}

// TestHostNameBindsEveryInterface: a host that is neither an IP address
// nor localhost binds every address, as in Kestrel, with a warning naming
// the URL; "*", "+", IP addresses and localhost bind without one.
func TestHostNameBindsEveryInterface(t *testing.T) {
	for _, tc := range []struct {
		url  string
		warn bool
	}{
		{"http://300.1.1.1:0", true},
		{"http://127.0.0.01:0", false}, // 127.0.0.1, as .NET's IPAddress.TryParse reads it
		{"http://127.1:0", false},
		{"http://example.invalid:0", true},
		{"http://*:0", false},
		{"http://+:0", false},
		{"http://127.0.0.1:0", false},
		{"http://[::1]:0", false},
		{"http://0.0.0.0:0", false},
	} {
		var log lockedBuffer
		s := &Server{Logger: slog.New(slog.NewTextHandler(&log, nil))}
		if err := s.ListenURL(tc.url); err != nil {
			t.Fatal(err)
		}
		if tc.url == "http://[::1]:0" && !hasIPv6Loopback() {
			continue
		}
		if err := s.Start(); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		addrs := s.Addresses()
		s.Close()
		warned := strings.Contains(log.String(), "level=WARN") &&
			strings.Contains(log.String(), "Binding "+tc.url+" to every network interface") &&
			strings.Contains(log.String(), "is not an IP address or localhost")
		if warned != tc.warn {
			t.Errorf("%s: warned=%v, want %v; log:\n%s", tc.url, warned, tc.warn, log.String())
		}
		if tc.warn && (len(addrs) != 1 || !strings.Contains(addrs[0], "[::]") && !strings.Contains(addrs[0], "0.0.0.0")) {
			t.Errorf("%s bound %v, want every address", tc.url, addrs)
		}
	}
}

// TestBindErrorHints: a refused low port says how to get it, a Unix socket
// in a directory the user cannot write or that does not exist says so, an
// address the machine lacks says so, and a link-local IPv6 address
// without its interface's zone says to add one.
func TestBindErrorHints(t *testing.T) {
	denied := &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EACCES)}
	notAvail := &net.OpError{Op: "listen", Net: "tcp4", Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}
	invalid := &net.OpError{Op: "listen", Net: "tcp6", Err: os.NewSyscallError("bind", syscall.EINVAL)}
	noDir := &net.OpError{Op: "listen", Net: "unix", Err: os.NewSyscallError("bind", syscall.ENOENT)}
	for _, tc := range []struct {
		url        string
		err        error
		want       []string
		wantNoHint bool
	}{
		{"http://*:80", denied, []string{"failed to bind to http://*:80", "permission denied", "ports below 1024", "setcap cap_net_bind_service", "from 1024 up behind a proxy", "socket activation"}, false},
		{"https://0.0.0.0:443", denied, []string{"ports below 1024"}, false},
		{"http://*:8080", denied, []string{"permission denied"}, true},
		{"http://unix:/run/app.sock", denied, []string{"the user cannot create /run/app.sock", "RuntimeDirectory"}, true},
		{"http://*:80", errors.New("some other failure"), []string{"failed to bind to http://*:80: some other failure"}, true},
		{"http://192.0.2.77:8080", notAvail, []string{"failed to bind to http://192.0.2.77:8080", "cannot assign requested address", "192.0.2.77 is not an address of this machine", "or * for every address"}, true},
		{"http://[fe80::1]:8080", invalid, []string{"failed to bind to http://[fe80::1]:8080", "invalid argument", "link-local", "zone", "[fe80::1%eth0]"}, true},
		{"http://[fe80::1%nosuch]:8080", invalid, []string{"link-local", "zone", "interface", "this machine has no interface nosuch"}, true},
		{"http://[fe80::1%25nosuch]:8080", invalid, []string{"fe80::1%nosuch", "this machine has no interface nosuch"}, true},
		{"http://[fe80::1%99999]:8080", invalid, []string{"this machine has no interface 99999"}, true},
		{"http://[fe80::1%eth0]:8080", notAvail, []string{"fe80::1%eth0 is not an address of this machine"}, true},
		{"http://unix:/run/app/app.sock", noDir, []string{"failed to bind to http://unix:/run/app/app.sock", "the folder /run/app does not exist", "create it", "RuntimeDirectory"}, true},
	} {
		eps, err := parseURL(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got := (&Server{}).bindError(&eps[0], tc.err)
		for _, w := range tc.want {
			if !strings.Contains(got.Error(), w) {
				t.Errorf("%s, %v: %q lacks %q", tc.url, tc.err, got, w)
			}
		}
		if tc.wantNoHint && strings.Contains(got.Error(), "ports below 1024") {
			t.Errorf("%s, %v: %q has the low-port hint", tc.url, tc.err, got)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%q does not wrap %v", got, tc.err)
		}
	}
}

// TestNoCertificateMessage: an https:// URL without any certificate gets
// an error naming what a user can do (the dev-certs command, the public
// API, the configuration keys), never an internal function.
func TestNoCertificateMessage(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	s := &Server{Logger: discardLogger()}
	if err := s.ListenURL("https://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	err := s.Start()
	s.Close()
	if !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("Start = %v, want ErrNoCertificate", err)
	}
	for _, want := range []string{"https://127.0.0.1:0", "`kestrel dev-certs`", "Endpoint.HTTPS", "Server.DefaultHTTPS", "Certificates:Default", "no development certificate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	for _, internal := range []string{"EnsureDevCert", "LoadDevCert", "devCertificate", "certs:"} {
		if strings.Contains(err.Error(), internal) {
			t.Errorf("%q names the internal %q", err, internal)
		}
	}
}

// TestServerUnixSocketMode: Server.UnixSocketMode applies to Unix sockets
// without a mode of their own, such as those from UseURLs.
func TestServerUnixSocketMode(t *testing.T) {
	dir := t.TempDir()
	s := &Server{Logger: discardLogger(), UnixSocketMode: 0o660}
	if err := s.UseURLs("unix:" + filepath.Join(dir, "urls.sock")); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s2 := &Server{Logger: discardLogger(), UnixSocketMode: 0o660}
	s2.ListenEndpoint(Endpoint{UnixPath: filepath.Join(dir, "own.sock"), UnixSocketMode: 0o600})
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for name, want := range map[string]os.FileMode{"urls.sock": 0o660, "own.sock": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
}

// TestLinkLocalAddressURL: the URL of a socket bound to a link-local
// address ("Now listening on", Addresses, the status page) keeps the zone,
// without which no client reaches it, written as RFC 6874 has URLs write
// it ("%25" then the zone, as curl and url.Parse take it), and that URL
// binds the same address again.
func TestLinkLocalAddressURL(t *testing.T) {
	for _, tc := range []struct {
		bound string // the endpoint's address; its listener's has no zone
		ip    string
		want  string
	}{
		{"[fe80::1%eth0]:0", "fe80::1", "http://[fe80::1%25eth0]:8080"},
		{"[fe80::1%7]:8080", "fe80::1", "http://[fe80::1%257]:8080"},
		{"[fd00::2]:8080", "fd00::2", "http://[fd00::2]:8080"},
	} {
		got := addrURL(endpoint{scheme: "http", network: "tcp6", address: tc.bound}, &net.TCPAddr{IP: net.ParseIP(tc.ip), Port: 8080})
		if got != tc.want {
			t.Errorf("%s: addrURL = %q, want %q", tc.bound, got, tc.want)
			continue
		}
		host, _, _ := net.SplitHostPort(tc.bound)
		if u, err := url.Parse(got); err != nil || u.Hostname() != host {
			t.Errorf("url.Parse(%q): %v, %v; want the host %s", got, u, err, host)
		}
		eps, err := parseURL(got)
		if err != nil || len(eps) != 1 || eps[0].address != net.JoinHostPort(host, "8080") {
			t.Errorf("parseURL(%q) = %+v, %v; want the address [%s]:8080", got, eps, err, host)
		}
	}
}

// TestURLEdges: URL prefixes at the edges of their syntax bind what they
// name, or fail with an error that says how to write them.
func TestURLEdges(t *testing.T) {
	for _, tc := range []struct {
		url              string
		network, address string // what parseURL makes of it
		err              string
	}{
		{url: "http://[::ffff:127.0.0.1]:0", network: "tcp4", address: "127.0.0.1:0"}, // reachable over IPv4 only
		{url: "http://0.0.0.0:8080", network: "tcp4", address: "0.0.0.0:8080"},
		{url: "http://[::]:8080", network: "tcp", address: "[::]:8080"},
		{url: "http://[fe80::1%lo]:8080", network: "tcp6", address: "[fe80::1%lo]:8080"},
		// RFC 6874's form of the zone in a URL: "%25" then the zone.
		{url: "http://[fe80::1%25lo]:8080", network: "tcp6", address: "[fe80::1%lo]:8080"},
		{url: "http://[fe80::1%25en%2D1]:8080", network: "tcp6", address: "[fe80::1%en-1]:8080"},
		{url: "http://[fe80::1%25]:8080", network: "tcp6", address: "[fe80::1%25]:8080"}, // interface 25
		{url: "http://::1:5000", err: "an IPv6 address goes in brackets, as in http://[::1]:5000"},
		{url: "http://fe80::1:8080", err: "an IPv6 address goes in brackets, as in http://[fe80::1]:8080"},
		{url: "http://[127.0.0.1]:80", err: `"127.0.0.1" is not an IPv6 address`},
		// A missing ']': the message shows where it goes.
		{url: "http://[::1:5000", err: `missing ']' in IPv6 address: use http://[::1]:5000`},
		{url: "https://[fe80::1%eth0:8443", err: `missing ']' in IPv6 address: use https://[fe80::1%eth0]:8443`},
		{url: "http://[2001:db8::1", err: `missing ']' in IPv6 address: use http://[2001:db8::1]:80`},
		{url: "http://[nonsense", err: `missing ']' in IPv6 address (use http://[ipv6]:port)`},
		{url: "http://fe80::1", err: "an IPv6 address goes in brackets, as in http://[fe80::1]:80"},
		{url: "https://2001:db8::1", err: "an IPv6 address goes in brackets, as in https://[2001:db8::1]:443"},
		// The last part is an IPv4 address's, not a port.
		{url: "http://::ffff:127.0.0.1", err: "an IPv6 address goes in brackets, as in http://[::ffff:127.0.0.1]:80"},
		{url: "https://64:ff9b::192.0.2.1", err: "an IPv6 address goes in brackets, as in https://[64:ff9b::192.0.2.1]:443"},
		{url: "http://127.0.0.1:5000:5000", err: `malformed URL: "127.0.0.1:5000" is neither a host name nor an IP address (use http://host:port, or http://[ipv6]:port)`},
		{url: "http://localhost:-1", err: `port "-1" is not a number from 0 to 65535`},
		{url: "http://localhost:abc", err: `port "abc" is not a number from 0 to 65535`},
		{url: "http://localhost:65536", err: `port "65536" is not a number from 0 to 65535`},
		{url: "http://127.0.0.1:65535", network: "tcp4", address: "127.0.0.1:65535"},
		{url: "http://127.0.0.1:1;http://127.0.0.1:2", err: "one URL per endpoint"},
		{url: "unix:/" + strings.Repeat("a", maxUnixPath()), err: fmt.Sprintf("a Unix socket path has at most %d bytes here, and this one has %d", maxUnixPath(), maxUnixPath()+1)},
		{url: "unix:/" + strings.Repeat("a", maxUnixPath()-1), network: "unix", address: "/" + strings.Repeat("a", maxUnixPath()-1)},
		// A ':' ends the socket's path, as in Kestrel; what follows is a
		// path base.
		{url: "http://unix:/run/app.sock:", network: "unix", address: "/run/app.sock"},
		{url: "https://unix:/run/app.sock:/", network: "unix", address: "/run/app.sock"},
		{url: "unix:/run/app.sock:", network: "unix", address: "/run/app.sock"},
		{url: "http://unix:/run/app.sock:/api", err: "a path base is not supported"},
		{url: "http://unix:/run/a:b.sock", err: "a path base is not supported"},
		{url: "http://unix:/run/", err: "a Unix socket path names a file"},
		{url: "unix:/", err: "a Unix socket path names a file"},
		// Linux's abstract sockets are not supported, as in Kestrel; a
		// NUL byte would end the path the kernel binds.
		{url: "unix:@app", err: "abstract Unix sockets (@app) are not supported"},
		{url: "http://unix:@app", err: "abstract Unix sockets (@app) are not supported"},
		{url: "unix:/run/a\x00b.sock", err: "a Unix socket path cannot contain a NUL byte"},
	} {
		eps, err := parseURL(tc.url)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error containing %q", tc.url, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case len(eps) != 1 || eps[0].network != tc.network || eps[0].address != tc.address:
			t.Errorf("%s: %+v, want %s %s", tc.url, eps, tc.network, tc.address)
		}
	}
	// A Unix socket's mode on a TCP endpoint is refused, from code and
	// from a file, as ReusePort on a Unix socket is.
	if _, err := (Endpoint{URL: "http://127.0.0.1:0", UnixSocketMode: 0o660}).resolve(); err == nil || !strings.Contains(err.Error(), "UnixSocketMode (SocketMode) applies to Unix socket endpoints only") {
		t.Errorf("UnixSocketMode on TCP: %v", err)
	}
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"Web": {"Url": "http://127.0.0.1:0", "SocketMode": "0660"}}}}`), "f.json", nil, nil)
	if err == nil {
		err = cfg.Apply(&Server{})
	}
	if err == nil || !strings.Contains(err.Error(), `f.json: Kestrel:Endpoints:Web:SocketMode: applies to Unix socket endpoints only`) {
		t.Errorf("SocketMode on TCP in a file: %v", err)
	}

	// The IPv4-mapped address binds, and is served.
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	if err := s.ListenURL("http://[::ffff:127.0.0.1]:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestHTTPAndHTTPSOnOnePort: HTTP and HTTPS may share a port number on
// different addresses (different sockets, as Kestrel binds them), not on
// the same socket: the same address, or every address beside one.
func TestHTTPAndHTTPSOnOnePort(t *testing.T) {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 1)[0]
	for _, tc := range []struct {
		http, https string
		ok          bool
	}{
		{"http://127.0.0.1:%d", "https://127.0.0.2:%d", true},
		{"http://127.0.0.1:%d", "https://127.0.0.1:%d", false},
		{"http://*:%d", "https://127.0.0.1:%d", false},
		{"http://0.0.0.0:%d", "https://127.0.0.1:%d", false},
		{"http://localhost:%d", "https://127.0.0.1:%d", false},
	} {
		s := &Server{Logger: discardLogger(), DefaultHTTPS: &HTTPS{Certificate: cert}}
		if err := s.UseURLs(fmt.Sprintf(tc.http, p) + ";" + fmt.Sprintf(tc.https, p)); err != nil {
			t.Fatal(err)
		}
		err := s.Start()
		s.Close()
		if tc.ok && err != nil || !tc.ok && (err == nil || !strings.Contains(err.Error(), "for both HTTP and HTTPS")) {
			t.Errorf("%s and %s: %v, want ok=%v", tc.http, tc.https, err, tc.ok)
		}
	}
}

// TestSameAddressTwice: two endpoints of one server on the same socket
// are refused before anything is bound, with a message that names both
// (not "is another server running?"), at Start and at Reload; two that
// set ReusePort may share it, and distinct sockets on one port are fine.
func TestSameAddressTwice(t *testing.T) {
	t.Parallel()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 1)[0]
	for _, tc := range []struct {
		a, b   Endpoint
		wantOK bool
	}{
		{Endpoint{URL: "http://127.0.0.1:%d"}, Endpoint{URL: "http://127.0.0.1:%d"}, false},
		{Endpoint{URL: "http://localhost:%d"}, Endpoint{URL: "http://127.0.0.1:%d"}, false},
		{Endpoint{URL: "http://*:%d"}, Endpoint{URL: "http://[::1]:%d"}, false},
		{Endpoint{URL: "http://0.0.0.0:%d"}, Endpoint{Address: "127.0.0.1:%d"}, false},
		{Endpoint{URL: "http://127.0.0.1:%d"}, Endpoint{URL: "http://127.0.0.2:%d"}, true},
		{Endpoint{URL: "http://127.0.0.1:%d", ReusePort: true}, Endpoint{URL: "http://127.0.0.1:%d", ReusePort: true}, true},
		{Endpoint{URL: "https://127.0.0.1:%d", Protocols: HTTP1AndHTTP2}, Endpoint{URL: "https://127.0.0.1:%d", Protocols: HTTP3}, true},
		{Endpoint{URL: "https://127.0.0.1:%d", Protocols: HTTP1AndHTTP2AndHTTP3}, Endpoint{URL: "https://127.0.0.1:%d", Protocols: HTTP3}, false},
		// HTTP on TCP beside HTTPS on UDP alone: no socket in common.
		{Endpoint{URL: "http://127.0.0.1:%d"}, Endpoint{URL: "https://127.0.0.1:%d", Protocols: HTTP3}, true},
		{Endpoint{URL: "http://127.0.0.1:%d"}, Endpoint{URL: "https://127.0.0.1:%d", Protocols: HTTP1AndHTTP2AndHTTP3}, false},
	} {
		a, b := tc.a, tc.b
		for _, ep := range []*Endpoint{&a, &b} {
			if ep.URL != "" {
				ep.URL = fmt.Sprintf(ep.URL, p)
			} else {
				ep.Address = fmt.Sprintf(ep.Address, p)
			}
		}
		s := &Server{Logger: discardLogger(), DefaultHTTPS: &HTTPS{Certificate: cert}}
		if err := s.ListenEndpoint(a); err != nil {
			t.Fatal(err)
		}
		if err := s.ListenEndpoint(b); err != nil {
			t.Fatal(err)
		}
		err := s.Start()
		s.Close()
		if tc.wantOK {
			if err != nil {
				t.Errorf("%s and %s: %v", a.describe(), b.describe(), err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s and %s: Start succeeded", a.describe(), b.describe())
			continue
		}
		for _, want := range []string{a.describe(), b.describe(), "give each its own port"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s and %s: %q lacks %q", a.describe(), b.describe(), err, want)
			}
		}
		if strings.Contains(err.Error(), "another server") {
			t.Errorf("%s and %s: %q blames another server", a.describe(), b.describe(), err)
		}
	}

	// Reload: an endpoint the file adds on the address of one it keeps.
	s := &Server{Logger: discardLogger()}
	url := fmt.Sprintf("http://127.0.0.1:%d", freePorts(t, 1)[0])
	one := fmt.Sprintf(`{"Kestrel":{"Endpoints":{"A":{"Url":%q}}}}`, url)
	two := fmt.Sprintf(`{"Kestrel":{"Endpoints":{"A":{"Url":%q},"B":{"Url":%q}}}}`, url, url)
	c, err := ParseConfig([]byte(one), "app.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c2, err := ParseConfig([]byte(two), "app.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Reload(c2)
	if err == nil || !strings.Contains(err.Error(), "Kestrel:Endpoints:A") || !strings.Contains(err.Error(), "Kestrel:Endpoints:B") {
		t.Errorf("Reload = %v, want an error naming both endpoints", err)
	}
	if got := s.Addresses(); len(got) != 1 || got[0] != url {
		t.Errorf("after the refused reload, Addresses = %v, want [%s]", got, url)
	}
}

// TestBindErrorsOfRealSockets: the hints of TestBindErrorHints, from the
// operating system's own errors: a Unix socket in a missing folder, and a
// link-local address without a zone. Nothing is left behind, and Start
// works once the input is fixed.
func TestBindErrorsOfRealSockets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "app.sock")
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"unix:" + missing, []string{"unix:" + missing, "the folder " + filepath.Dir(missing) + " does not exist"}},
		{"http://[fe80::1]:0", []string{"http://[fe80::1]:0", "link-local", "zone"}},
	} {
		s := &Server{Logger: discardLogger()}
		if err := s.ListenURL("http://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if err := s.ListenURL(tc.url); err != nil {
			t.Fatal(err)
		}
		err := s.Start()
		if err == nil {
			s.Close()
			t.Errorf("%s: Start succeeded", tc.url)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.url, err, w)
			}
		}
		if got := s.Addresses(); len(got) != 0 {
			t.Errorf("%s: after the failed Start, Addresses = %v", tc.url, got)
		}
		s.Close()
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing folder was created: %v", err)
	}
}

// TestBrokenDefaultCertificateUnused: a Kestrel:Certificates:Default that
// cannot be loaded is an error naming that key at Start and at Reload even
// when no https:// endpoint uses it yet, as Kestrel loads it at start,
// rather than a surprise at the first reload or HTTPS_PORTS that adds one.
// Nothing stays bound, and the server goes on after a refused reload.
func TestBrokenDefaultCertificateUnused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "app.json")
	p := freePorts(t, 1)[0]
	broken := fmt.Sprintf(`{"Kestrel": {"Certificates": {"Default": {"Path": "missing.pem", "KeyPath": "missing.key"}},
		"Endpoints": {"Web": {"Url": "http://127.0.0.1:%d"}}}}`, p)
	good := fmt.Sprintf(`{"Kestrel": {"Endpoints": {"Web": {"Url": "http://127.0.0.1:%d"}}}}`, p)
	want := []string{"Kestrel:Certificates:Default", "missing.pem", "no such file"}

	cfg, err := ParseConfig([]byte(broken), file, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: discardLogger()}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Start = %v, want an error containing %q", err, w)
		}
	}
	if c, derr := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p)); derr == nil {
		c.Close()
		t.Error("the endpoint listens after the failed Start")
	}
	s.Close()

	// Reload: the server keeps serving as it was.
	cfg, err = ParseConfig([]byte(good), file, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s = &Server{Logger: discardLogger()}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg, err = ParseConfig([]byte(broken), file, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Reload(cfg)
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Reload = %v, want an error containing %q", err, w)
		}
	}
	if got := s.Addresses(); len(got) != 1 {
		t.Errorf("after the refused reload, Addresses = %v", got)
	}
}

// TestEndpointInputMessages: what is not a listening socket, or not a
// host:port, is refused with a message that says what it is and what to
// use instead, not a bare system error.
func TestEndpointInputMessages(t *testing.T) {
	t.Parallel()
	regular, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	udp, err := u.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ep   Endpoint
		want []string
	}{
		{Endpoint{File: regular}, []string{regular.Name(), "is not a socket", "a listening TCP or Unix socket"}},
		{Endpoint{File: udp}, []string{"is not a listening stream socket", "a listening TCP or Unix socket", "HTTP/3"}},
		{Endpoint{Address: "http://127.0.0.1:80"}, []string{`listen address "http://127.0.0.1:80"`, "is a URL", "Endpoint.URL", "ListenURL", "127.0.0.1:80"}},
		// An IPv6 address without brackets: the message shows them.
		{Endpoint{Address: "::1:5000"}, []string{`listen address "::1:5000"`, "an IPv6 address goes in brackets, as in [::1]:5000"}},
		{Endpoint{Address: "fe80::1%eth0:8080"}, []string{"an IPv6 address goes in brackets, as in [fe80::1%eth0]:8080"}},
		{Endpoint{Address: "::ffff:127.0.0.1"}, []string{"an IPv6 address goes in brackets, with a port, as in [::ffff:127.0.0.1]:5000"}},
		{Endpoint{Address: "2001:db8::1"}, []string{"an IPv6 address goes in brackets, with a port, as in [2001:db8::1]:5000"}},
		{Endpoint{Address: "a:b:c"}, []string{"too many colons", "use host:port, such as localhost:5000"}},
	} {
		err := (&Server{Logger: discardLogger()}).ListenEndpoint(tc.ep)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want an error containing %q", tc.ep.describe(), err, w)
			}
		}
	}
}
