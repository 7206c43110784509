package kestrel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/kestrel-go/kestrel/internal/transport"
)

// Protocols are the HTTP versions an endpoint serves.
type Protocols uint8

// The protocol sets of an endpoint. Over TLS, ALPN agrees on "h2" or
// "http/1.1" among the endpoint's protocols. On a cleartext endpoint,
// HTTP2 serves HTTP/2 with prior knowledge (h2c) only; HTTP1AndHTTP2, the
// default, serves HTTP/1.1 and also recognises the HTTP/2 connection
// preface and serves h2c, as net/http does (Kestrel serves only HTTP/1.1
// there); HTTP1 answers the preface with GOAWAY (HTTP_1_1_REQUIRED).
// "Upgrade: h2c" is not supported (RFC 9113 deprecates it): such a request
// is served as HTTP/1.1.
//
// HTTP3 serves HTTP/3 over QUIC on the UDP port of the endpoint's number,
// on HTTPS endpoints only; HTTP1AndHTTP2AndHTTP3 also serves HTTP/1.1 and
// HTTP/2 on the TCP port, and their responses advertise HTTP/3 with an
// Alt-Svc header. An endpoint with HTTP3 alone binds no TCP port.
const (
	HTTP1 Protocols = 1 << iota
	HTTP2
	HTTP3
	HTTP1AndHTTP2         = HTTP1 | HTTP2
	HTTP1AndHTTP2AndHTTP3 = HTTP1 | HTTP2 | HTTP3
)

// protocolNames are the names of the single protocols, as Kestrel's
// configuration spells them.
var protocolNames = [...]struct {
	p    Protocols
	name string
}{{HTTP1, "Http1"}, {HTTP2, "Http2"}, {HTTP3, "Http3"}}

// String returns the protocols' name as Kestrel's configuration spells it;
// a set without a name of its own is listed as .NET lists flags, such as
// "Http1, Http3".
func (p Protocols) String() string {
	switch p {
	case 0:
		return "default"
	case HTTP1AndHTTP2:
		return "Http1AndHttp2"
	case HTTP1AndHTTP2AndHTTP3:
		return "Http1AndHttp2AndHttp3"
	}
	if p&^HTTP1AndHTTP2AndHTTP3 != 0 {
		return "Protocols(" + strconv.Itoa(int(p)) + ")"
	}
	var names []string
	for _, n := range protocolNames {
		if p&n.p != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ", ")
}

// orDefault is p, or HTTP1AndHTTP2 when p is zero.
func (p Protocols) orDefault() Protocols {
	if p == 0 {
		return HTTP1AndHTTP2
	}
	return p
}

// tcp is the protocols served on the TCP port: HTTP/1.1 and HTTP/2.
func (p Protocols) tcp() Protocols { return p.orDefault() & HTTP1AndHTTP2 }

// alpn is the ALPN protocol list a TLS endpoint offers on its TCP port for
// p.
func (p Protocols) alpn() []string {
	switch p.tcp() {
	case HTTP2:
		return []string{"h2"}
	case HTTP1:
		return []string{"http/1.1"}
	}
	return []string{"h2", "http/1.1"}
}

// ParseProtocols parses Kestrel's names: "Http1", "Http2", "Http3",
// "Http1AndHttp2", "Http1AndHttp2AndHttp3" (case-insensitive), or several
// separated by commas, as .NET parses flags ("Http1, Http3").
func ParseProtocols(s string) (Protocols, error) {
	var p Protocols
	for _, part := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "http1":
			p |= HTTP1
		case "http2":
			p |= HTTP2
		case "http3":
			p |= HTTP3
		case "http1andhttp2":
			p |= HTTP1AndHTTP2
		case "http1andhttp2andhttp3":
			p |= HTTP1AndHTTP2AndHTTP3
		default:
			return 0, fmt.Errorf("kestrel: unknown protocols %q (use Http1, Http2, Http3, Http1AndHttp2 or Http1AndHttp2AndHttp3)", s)
		}
	}
	return p, nil
}

// Endpoint is one place a server listens, with that endpoint's options.
// Set exactly one of URL, Address, UnixPath and File.
type Endpoint struct {
	// URL is a URL prefix, such as "http://localhost:5000",
	// "http://*:80" or "unix:/run/app.sock"; see Server.ListenURL.
	URL string

	// Address is a TCP "host:port"; see Server.Listen.
	Address string

	// UnixPath is the absolute path of a Unix domain socket.
	UnixPath string

	// File is an inherited listening socket, such as one passed by a parent
	// process. The server takes ownership of it.
	File *os.File

	// UnixSocketMode, when not zero, is set as the permissions of a Unix
	// socket file, so that a proxy running as another user can connect
	// (0o660 with a shared group, 0o666 for everyone). The file of a
	// socket from systemd socket activation keeps the permissions its
	// unit gives it (SocketMode=).
	UnixSocketMode fs.FileMode

	// ReusePort sets SO_REUSEPORT on a TCP listener, so several processes
	// can listen on the same port and the kernel balances connections
	// between them (Linux and BSDs).
	ReusePort bool

	// Protocols are the HTTP versions served; zero means Kestrel's default,
	// HTTP1AndHTTP2. HTTP3 needs an https:// endpoint on a TCP address;
	// on an http:// one, HTTP/3 is left out with a warning when other
	// protocols remain, and HTTP3 alone is an error (Kestrel's rules).
	Protocols Protocols

	// DisableAltSvcHeader stops the HTTP/1.1 and HTTP/2 responses of an
	// endpoint that serves HTTP/3 from advertising it with an Alt-Svc
	// header (Kestrel's ListenOptions.DisableAltSvcHeader).
	DisableAltSvcHeader bool

	// EnableWebSocketsOverHTTP2 lets the endpoint's HTTP/2 and HTTP/3
	// connections carry WebSockets on their streams (RFC 8441 and RFC
	// 9220: SETTINGS_ENABLE_CONNECT_PROTOCOL, then an extended CONNECT
	// with :protocol websocket), as Kestrel does by default since .NET 7.
	// Browsers that see the setting open their wss:// WebSockets on the
	// page's h2 connection, as a CONNECT request that handlers written for
	// HTTP/1.1's Upgrade (gorilla/websocket's Upgrader, coder/websocket's
	// Accept, routes for "GET /ws") refuse: turn it on when the
	// endpoint's WebSockets are accepted by this module's websocket
	// package, kestrel.Upgrade or the native Context.Upgrade, which take
	// both forms. Off, an extended CONNECT is a stream error
	// (PROTOCOL_ERROR) and browsers open a separate HTTP/1.1 connection
	// for each WebSocket, as Go's net/http server has them do.
	EnableWebSocketsOverHTTP2 bool

	// HTTPS, when set, serves the endpoint over TLS with these options. An
	// https:// URL without it uses the server's DefaultHTTPS.
	HTTPS *HTTPS

	// ConnectionMiddleware see each connection the endpoint accepts, in
	// order, after the PROXY header and before TLS and the HTTP protocol,
	// and may refuse or wrap it (Kestrel's ListenOptions.Use); see
	// ConnectionMiddleware. Endpoints from a configuration file have none.
	ConnectionMiddleware []ConnectionMiddleware

	// LogConnections logs every connection's opening, bytes read and
	// written, and closing, at debug level (Kestrel's
	// UseConnectionLogging): the ConnectionLogging middleware with the
	// server's logger, after ConnectionMiddleware.
	LogConnections bool

	// ProxyProtocol, when set, reads a PROXY protocol header (v1 or v2)
	// from the balancer in front before anything else, TLS included, and
	// takes the client's address it carries; see ProxyProtocol.
	ProxyProtocol *ProxyProtocol
}

// endpoint is one socket to bind, resolved from an Endpoint.
type endpoint struct {
	network string // "tcp", "tcp4", "tcp6", "unix", or "" for a pre-bound listener
	address string
	url     string // as configured, for messages
	scheme  string
	port    int // TCP port, -1 otherwise

	localhost bool   // one of the two loopbacks of "localhost"
	anyIP     bool   // the dual-stack any-address, with an IPv4 fallback
	nameHost  string // a host that is neither an IP address nor localhost, which binds every address

	ln         net.Listener // already bound (inherited)
	opts       Endpoint
	fromConfig bool         // added by Config.Apply: Reload replaces it
	fromURLs   bool         // from UseURLs (or the default URL): served while the configuration has no endpoints
	origin     string       // the configuration key (and file) of an endpoint from one, for messages
	from       *Endpoint    // the Endpoint resolved; its sockets share one TLS configuration
	tls        *tlsEndpoint // built by Start for https
	proxy      *proxyPolicy // ProxyProtocol, ready; nil without it
}

// resolve turns an Endpoint into the sockets it binds.
func (ep Endpoint) resolve() ([]endpoint, error) {
	set := 0
	for _, b := range []bool{ep.URL != "", ep.Address != "", ep.UnixPath != "", ep.File != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("kestrel: an Endpoint needs exactly one of URL, Address, UnixPath and File")
	}
	if ep.Protocols&^HTTP1AndHTTP2AndHTTP3 != 0 {
		return nil, fmt.Errorf("kestrel: endpoint %s: unknown %v; use HTTP1, HTTP2, HTTP3 or a combination", ep.describe(), ep.Protocols)
	}
	var eps []endpoint
	var err error
	switch {
	case ep.URL != "":
		eps, err = parseURL(ep.URL)
	case ep.Address != "":
		eps, err = parseAddress(ep.Address)
	case ep.UnixPath != "":
		eps, err = unixEndpoint(ep.UnixPath, "http", "http://unix:"+ep.UnixPath)
	default:
		var l net.Listener
		l, err = net.FileListener(ep.File)
		ep.File.Close() // the listener holds its own descriptor
		if err != nil {
			return nil, inheritedError(ep.File.Name(), err)
		}
		eps = []endpoint{{ln: l, url: "inherited socket " + ep.File.Name(), scheme: "http", port: -1}}
	}
	if err != nil {
		return nil, err
	}
	pol, err := ep.ProxyProtocol.compile(ep.describe())
	if err != nil {
		return nil, err
	}
	if pol != nil && ep.Protocols&HTTP3 != 0 {
		return nil, fmt.Errorf("kestrel: endpoint %s: ProxyProtocol with HTTP/3: QUIC has no PROXY protocol; serve HTTP/3 on another endpoint or leave HTTP3 out of Protocols", ep.describe())
	}
	from := &ep
	for i := range eps {
		eps[i].proxy = pol
		eps[i].from = from
		if ep.HTTPS != nil {
			if ep.URL != "" && eps[i].scheme == "http" {
				return nil, fmt.Errorf("kestrel: endpoint %s: HTTPS options on an http:// URL; use https://", ep.URL)
			}
			eps[i].scheme = "https"
			if rest, ok := strings.CutPrefix(eps[i].url, "http://"); ok {
				eps[i].url = "https://" + rest
			}
		}
		eps[i].opts = ep
		if ep.ReusePort && eps[i].network == "unix" {
			return nil, fmt.Errorf("kestrel: endpoint %s: ReusePort applies to TCP endpoints only", ep.describe())
		}
		if ep.UnixSocketMode != 0 && eps[i].network != "unix" {
			return nil, fmt.Errorf("kestrel: endpoint %s: UnixSocketMode (SocketMode) applies to Unix socket endpoints only", ep.describe())
		}
		if err := eps[i].checkHTTP3(); err != nil {
			return nil, err
		}
	}
	return eps, nil
}

func (ep Endpoint) describe() string {
	switch {
	case ep.URL != "":
		return ep.URL
	case ep.Address != "":
		return ep.Address
	case ep.UnixPath != "":
		return "unix:" + ep.UnixPath
	case ep.File != nil:
		return "inherited socket " + ep.File.Name()
	}
	return "(empty)"
}

// inheritedError explains why the inherited file name cannot be served.
func inheritedError(name string, err error) error {
	const fix = "pass a listening TCP or Unix socket"
	switch {
	case errors.Is(err, syscall.ENOTSOCK):
		return fmt.Errorf("kestrel: inherited socket %q: %w: the file is not a socket; %s", name, err, fix)
	case errors.Is(err, syscall.EINVAL):
		// net.FileListener refuses a datagram socket so.
		return fmt.Errorf("kestrel: inherited socket %q: %w: it is not a listening stream socket (a UDP socket, say); %s (an HTTP/3 endpoint's UDP socket comes with systemd's ListenDatagram=, see ListenSystemd)", name, err, fix)
	}
	return fmt.Errorf("kestrel: inherited socket %q: %w", name, err)
}

// parseAddress resolves a TCP "host:port".
func parseAddress(address string) ([]endpoint, error) {
	if looksLikeURL(address) {
		return nil, fmt.Errorf("kestrel: listen address %q is a URL: use Endpoint.URL or Server.ListenURL for a URL, or give the address as host:port, such as localhost:5000", address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		if hint := bracketHint(address); hint != "" {
			return nil, fmt.Errorf("kestrel: listen address %q: %w: %s", address, err, hint)
		}
		return nil, fmt.Errorf("kestrel: listen address %q: %w (use host:port, such as localhost:5000)", address, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("kestrel: listen address %q: port %q is not a number from 0 to 65535", address, port)
	}
	return tcpEndpoints("http", host, int(p), "http://"+address)
}

// bracketHint shows how to write address, an IPv6 address without
// brackets, as a listen address; it is "" for anything else.
func bracketHint(address string) string {
	host, port, ok := splitUnbracketed(address)
	switch {
	case !ok:
		return ""
	case port == "":
		return fmt.Sprintf("an IPv6 address goes in brackets, with a port, as in [%s]:5000", host)
	}
	return fmt.Sprintf("an IPv6 address goes in brackets, as in [%s]:%s", host, port)
}

// splitUnbracketed splits s, an IPv6 address written without brackets,
// into the address and the port after it (::1:5000 is ::1 and 5000, its
// last part taken for a port when the rest is an address), or gives the
// whole as the address and "" as the port (::ffff:127.0.0.1, whose last
// part is no port). ok is false when s is no IPv6 address either way.
func splitUnbracketed(s string) (host, port string, ok bool) {
	if i := strings.LastIndexByte(s, ':'); i > 0 && i < len(s)-1 && strings.Trim(s[i+1:], "0123456789") == "" {
		if a, err := netip.ParseAddr(s[:i]); err == nil && a.Is6() {
			return s[:i], s[i+1:], true
		}
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
		return s, "", true
	}
	return "", "", false
}

// parseURL resolves a URL prefix by Kestrel's rules.
func parseURL(raw string) ([]endpoint, error) {
	if parts := strings.Split(raw, ","); len(parts) > 1 && slices.ContainsFunc(parts[1:], looksLikeURL) {
		return nil, fmt.Errorf("kestrel: URL %q: URLs are separated by ';', not ',': use %q", raw, strings.Join(parts, ";"))
	}
	if parts := strings.Split(raw, ";"); len(parts) > 1 && slices.ContainsFunc(parts[1:], looksLikeURL) {
		return nil, fmt.Errorf("kestrel: URL %q: one URL per endpoint; give each URL an endpoint of its own", raw)
	}
	if path, ok := cutPrefixFold(raw, "unix:"); ok {
		return unixURL(path, "http", raw)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("kestrel: URL %q: missing scheme (use a URL such as http://localhost:5000 or unix:/run/app.sock)", raw)
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("kestrel: URL %q: unsupported scheme %q (use http:// or https://)", raw, scheme)
	}
	if path, ok := cutPrefixFold(rest, "unix:"); ok {
		return unixURL(path, scheme, raw)
	}
	hostport, path, _ := strings.Cut(rest, "/")
	if path != "" {
		return nil, fmt.Errorf("kestrel: URL %q: a path base is not supported; listen on %s://%s and route the path /%s in the handler (for example with http.StripPrefix)", raw, scheme, hostport, path)
	}
	if hostport == "" || strings.ContainsAny(hostport, "?#@ ") {
		return nil, fmt.Errorf("kestrel: URL %q: malformed URL (use %s://host:port)", raw, scheme)
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			if h, p, ok := splitUnbracketed(unescapeZone(hostport[1:])); ok {
				if p == "" {
					p = strconv.Itoa(defaultPort(scheme))
				}
				return nil, fmt.Errorf("kestrel: URL %q: missing ']' in IPv6 address: use %s://[%s]:%s", raw, scheme, h, p)
			}
			return nil, fmt.Errorf("kestrel: URL %q: missing ']' in IPv6 address (use %s://[ipv6]:port)", raw, scheme)
		}
		host, port = unescapeZone(hostport[1:end]), hostport[end+1:]
		if port != "" && port[0] != ':' {
			return nil, fmt.Errorf("kestrel: URL %q: malformed URL (use %s://[ipv6]:port)", raw, scheme)
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return nil, fmt.Errorf("kestrel: URL %q: %q is not an IPv6 address", raw, host)
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i:]
		if strings.Contains(host, ":") {
			// An IPv6 address without brackets: with a port after it
			// (::1:5000), or alone (fe80::1, ::ffff:127.0.0.1, whose
			// last part is no port); anything else with two colons is
			// no address at all.
			if a, err := netip.ParseAddr(host); err == nil && a.Is6() && strings.Trim(port[1:], "0123456789") == "" {
				return nil, fmt.Errorf("kestrel: URL %q: an IPv6 address goes in brackets, as in %s://[%s]%s", raw, scheme, host, port)
			}
			if a, err := netip.ParseAddr(hostport); err == nil && a.Is6() {
				return nil, fmt.Errorf("kestrel: URL %q: an IPv6 address goes in brackets, as in %s://[%s]:%d", raw, scheme, hostport, defaultPort(scheme))
			}
			return nil, fmt.Errorf("kestrel: URL %q: malformed URL: %q is neither a host name nor an IP address (use %s://host:port, or %s://[ipv6]:port)", raw, host, scheme, scheme)
		}
	}
	if host == "" {
		return nil, fmt.Errorf("kestrel: URL %q: missing host (use %s://localhost:port, or %s://*:port for every address)", raw, scheme, scheme)
	}
	p := defaultPort(scheme)
	if port != "" {
		n, err := strconv.ParseUint(port[1:], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("kestrel: URL %q: port %q is not a number from 0 to 65535", raw, port[1:])
		}
		p = int(n)
	}
	if _, err := url.Parse(scheme + "://" + strings.Replace(hostport, "%", "%25", 1)); err != nil && host != "*" && host != "+" {
		return nil, fmt.Errorf("kestrel: URL %q: %w", raw, errors.Unwrap(err))
	}
	return tcpEndpoints(scheme, host, p, raw)
}

// unescapeZone decodes the zone of an IPv6 literal written as RFC 6874
// has URLs write it, "%25" and the zone percent-encoded (fe80::1%25eth0,
// as addrURL shows it and curl takes it), into the zone itself
// (fe80::1%eth0). A zone after a bare "%", as Kestrel and the socket APIs
// take it, stays as it is, and so does "%25" alone: interface 25.
func unescapeZone(host string) string {
	addr, zone, ok := strings.Cut(host, "%")
	if !ok || len(zone) <= 2 || !strings.HasPrefix(zone, "25") {
		return host
	}
	z, err := url.PathUnescape(zone[2:])
	if err != nil || z == "" {
		return host
	}
	return addr + "%" + z
}

// defaultPort is the port of a URL of scheme without one: 443 for https,
// 80 for http.
func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// looksLikeURL reports whether s starts like a URL prefix.
func looksLikeURL(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "unix:")
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// tcpEndpoints applies Kestrel's host rules: localhost binds both
// loopbacks, an IP literal binds itself (IPv4 in any form .NET's
// IPAddress.TryParse takes, such as 127.1), anything else binds every
// address.
func tcpEndpoints(scheme, host string, port int, raw string) ([]endpoint, error) {
	p := strconv.Itoa(port)
	base := endpoint{url: raw, scheme: scheme, port: port}
	if strings.EqualFold(host, "localhost") {
		if port == 0 {
			return nil, fmt.Errorf("kestrel: URL %q: port 0 cannot be used with localhost, because the two loopback addresses would get different ports; use 127.0.0.1:0 or [::1]:0", raw)
		}
		v4, v6 := base, base
		v4.network, v4.address, v4.localhost = "tcp4", "127.0.0.1:"+p, true
		v6.network, v6.address, v6.localhost = "tcp6", "[::1]:"+p, true
		return []endpoint{v4, v6}, nil
	}
	ep := base
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// 127.1, 0x7f000001: an IPv4 address to Kestrel, as to inet_aton.
		if a, ok := shortIPv4(host); ok {
			ip, err = a, nil
		}
	}
	switch {
	case err == nil && ip.Unmap().Is4():
		// An IPv4 address, or one mapped into IPv6 (::ffff:127.0.0.1),
		// which only IPv4 clients can reach.
		ep.network, ep.address = "tcp4", net.JoinHostPort(ip.Unmap().String(), p)
	case err == nil && ip.IsUnspecified():
		ep.network, ep.address, ep.anyIP = "tcp", "[::]:"+p, true
	case err == nil:
		ep.network, ep.address = "tcp6", net.JoinHostPort(ip.String(), p) // a zone stays: fe80::1%eth0
	default:
		// Host names, "*" and "+" are not special: they bind every address.
		ep.network, ep.address, ep.anyIP = "tcp", "[::]:"+p, true
		if host != "*" && host != "+" && host != "" {
			ep.nameHost = host
		}
	}
	return []endpoint{ep}, nil
}

// unixURL resolves the path of a unix: URL. As in Kestrel, a ':' after
// the first character ends the path, and what follows is a path base:
// "http://unix:/run/app.sock:" and "...:/" are /run/app.sock.
func unixURL(rest, scheme, raw string) ([]endpoint, error) {
	path := rest
	if i := strings.IndexByte(rest[min(1, len(rest)):], ':'); i >= 0 {
		path = rest[:i+1]
		if base := rest[i+2:]; base != "" && base != "/" {
			return nil, fmt.Errorf("kestrel: URL %q: a ':' ends a Unix socket's path, as in Kestrel, and what follows it (%q) would be a path base: a path base is not supported (ListenUnix takes a path with ':')", raw, base)
		}
	}
	return unixEndpoint(path, scheme, raw)
}

func unixEndpoint(path, scheme, raw string) ([]endpoint, error) {
	if strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("kestrel: URL %q: abstract Unix sockets (%s) are not supported, as in Kestrel; use a socket file's absolute path, as in unix:/run/app.sock", raw, path)
	}
	if strings.IndexByte(path, 0) >= 0 {
		return nil, fmt.Errorf("kestrel: URL %q: a Unix socket path cannot contain a NUL byte", raw)
	}
	if path == "" || !filepath.IsAbs(path) {
		return nil, fmt.Errorf("kestrel: URL %q: a Unix socket path must be absolute, as in unix:/run/app.sock", raw)
	}
	if strings.HasSuffix(path, "/") {
		return nil, fmt.Errorf("kestrel: URL %q: a Unix socket path names a file, as in unix:/run/app.sock, not a directory", raw)
	}
	if max := maxUnixPath(); len(path) > max {
		return nil, fmt.Errorf("kestrel: URL %q: a Unix socket path has at most %d bytes here, and this one has %d; use a shorter one, such as /run/app/app.sock", raw, max, len(path))
	}
	return []endpoint{{network: "unix", address: path, url: raw, scheme: scheme, port: -1}}, nil
}

// bind opens the endpoint's listener.
func (ep *endpoint) bind() (net.Listener, error) {
	if ep.ln != nil {
		return ep.ln, nil
	}
	if ep.network == "unix" {
		return ep.bindUnix()
	}
	lc := net.ListenConfig{}
	if ep.opts.ReusePort {
		lc.Control = transport.ReusePort
	}
	return lc.Listen(context.Background(), ep.network, ep.address)
}

// bindUnix binds a Unix socket, replacing a stale socket file left by a
// process that died, and refusing to take over a live one.
func (ep *endpoint) bindUnix() (net.Listener, error) {
	path := ep.address
	l, err := net.Listen("unix", path)
	if err != nil && transport.IsAddrInUse(err) {
		fi, serr := os.Lstat(path)
		if serr != nil || fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it or choose another path", path)
		}
		// Only a refused connection says that nothing is bound to the
		// file. Any other failure is a socket in use: a listener whose
		// accept queue is full (EAGAIN), a datagram socket (EPROTOTYPE),
		// one this user may not connect to (EACCES).
		c, derr := net.DialTimeout("unix", path, time.Second)
		switch {
		case derr == nil:
			c.Close()
			return nil, fmt.Errorf("%s is in use: another process is listening on it", path)
		case !transport.IsConnRefused(derr) && !errors.Is(derr, fs.ErrNotExist):
			var op *net.OpError
			if errors.As(derr, &op) {
				derr = op.Err
			}
			return nil, fmt.Errorf("%s is in use by another socket, left in place (%w); stop the process that serves it, or choose another path", path, derr)
		}
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket file: %w", rerr)
		}
		l, err = net.Listen("unix", path)
	}
	if err != nil {
		return nil, err
	}
	if ep.opts.UnixSocketMode != 0 {
		if err := os.Chmod(path, ep.opts.UnixSocketMode); err != nil {
			l.Close()
			return nil, fmt.Errorf("set socket file mode: %w", err)
		}
	}
	return l, nil
}

// systemdListeners returns the sockets passed by systemd socket activation
// (LISTEN_FDS): the listening ones (ListenStream=), the UDP ones
// (ListenDatagram=, for HTTP/3), and the descriptions of the descriptors
// it cannot serve (a FIFO, a Unix datagram socket...), which it closes. It
// unsets the environment variables so that child processes do not take
// the sockets too.
func systemdListeners() ([]net.Listener, []net.PacketConn, []string) {
	var ls []net.Listener
	var pcs []net.PacketConn
	var unused []string
	for _, f := range activation.Files(true) {
		if l, err := net.FileListener(f); err == nil {
			ls = append(ls, l)
		} else if pc, err := net.FilePacketConn(f); err == nil {
			if _, ok := pc.(*net.UDPConn); ok {
				pcs = append(pcs, pc)
			} else {
				pc.Close()
				unused = append(unused, fmt.Sprintf("descriptor %d (%s, a %s socket)", f.Fd(), f.Name(), pc.LocalAddr().Network()))
			}
		} else {
			var op *net.OpError
			if errors.As(err, &op) {
				err = op.Err
			}
			unused = append(unused, fmt.Sprintf("descriptor %d (%s: %v)", f.Fd(), f.Name(), err))
		}
		f.Close() // the listener or connection holds its own descriptor
	}
	return ls, pcs, unused
}

// maxUnixPath is the longest Unix socket path the system takes: its
// sockaddr_un's sun_path less the terminating NUL (108 bytes on Linux, 104
// on the BSDs and macOS).
func maxUnixPath() int {
	if runtime.GOOS == "linux" || runtime.GOOS == "android" {
		return 107
	}
	return 103
}

// shortIPv4 parses the IPv4 forms other than the dotted quad that .NET's
// IPAddress.TryParse (and so Kestrel), like inet_aton, takes: one to four
// parts, each decimal, octal (a leading 0) or hexadecimal (0x), the last
// filling the bytes left, as in 127.1, 0x7f.0.0.1 or 2130706433.
func shortIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		base := 10
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" || p[0] == '+' || p[0] == '-' {
			return netip.Addr{}, false
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		if last := i == len(parts)-1; !last {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v = v<<8 | n
		} else {
			bits := 8 * (4 - i)
			if n >= 1<<bits {
				return netip.Addr{}, false
			}
			v = v<<bits | n
		}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
