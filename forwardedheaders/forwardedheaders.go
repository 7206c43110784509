// Package forwardedheaders applies the client address, scheme and host
// that a reverse proxy in front of the server forwards (X-Forwarded-For,
// X-Forwarded-Proto, and when asked X-Forwarded-Host or RFC 7239
// Forwarded), as ASP.NET Core's ForwardedHeadersMiddleware does: only when
// the request comes from a trusted proxy, only the headers Options.Headers
// names, and only as many hops as ForwardLimit allows. The values it
// replaces are kept in X-Original-For, X-Original-Proto and
// X-Original-Host.
package forwardedheaders

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Unlimited as ForwardLimit processes every forwarded hop.
const Unlimited = -1

// Header is a set of forwarded headers to apply.
type Header uint8

// The forwarded headers, as ASP.NET's ForwardedHeaders flags.
const (
	XForwardedFor   Header = 1 << iota // the client's address
	XForwardedProto                    // the scheme
	XForwardedHost                     // the host; a proxy must set it, or its clients choose the request's host
	Forwarded                          // RFC 7239's header, in place of the three; a proxy must set it, and drop the client's

	// DefaultHeaders is what the zero Options applies, as ASP.NET's
	// default (ASPNETCORE_FORWARDEDHEADERS_ENABLED): the address and the
	// scheme, which proxies such as nginx set as the README shows.
	DefaultHeaders = XForwardedFor | XForwardedProto
)

// Options says which proxies are trusted. The zero value trusts the
// loopback addresses and Unix socket peers, and applies one hop.
type Options struct {
	// KnownProxies are trusted proxy addresses.
	KnownProxies []netip.Addr

	// KnownNetworks are trusted proxy networks. nil means the loopback
	// networks, 127.0.0.0/8 and ::1/128; an empty, non-nil slice trusts
	// none. An IPv4 network may be written in the IPv4-mapped form, as in
	// ASP.NET: "::ffff:10.0.0.0/104" trusts 10.0.0.0/8.
	KnownNetworks []netip.Prefix

	// ForwardLimit is the most hops applied, from the nearest; zero means
	// 1, Unlimited means no limit.
	ForwardLimit int

	// DistrustUnixSockets stops trusting peers on Unix sockets (a proxy on
	// the same machine, such as nginx, by default).
	DistrustUnixSockets bool

	// Headers are the headers applied; zero means DefaultHeaders.
	// X-Forwarded-Host and Forwarded are applied only when named: a proxy
	// that passes its clients' on lets them choose the request's host (and
	// with Forwarded their address and scheme too).
	Headers Header
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Handler returns a handler that applies the forwarded headers of requests
// from trusted proxies, then calls next. Requests from anyone else reach
// next unchanged.
func Handler(next http.Handler, opts Options) http.Handler {
	if opts.KnownNetworks == nil {
		opts.KnownNetworks = loopback
	}
	if opts.ForwardLimit == 0 {
		opts.ForwardLimit = 1
	}
	if opts.Headers == 0 {
		opts.Headers = DefaultHeaders
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r2 := opts.apply(r); r2 != nil {
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

func (o *Options) trusted(a netip.Addr) bool {
	// A link-local peer comes with its zone (fe80::1%eth0), which names
	// the interface and is no part of the address: netip's Contains never
	// holds a zoned address, and the proxies are compared without zones.
	a = a.Unmap().WithZone("")
	for _, p := range o.KnownProxies {
		if p.Unmap().WithZone("") == a {
			return true
		}
	}
	// An IPv4 peer is also in a network written in the IPv4-mapped IPv6
	// form ("::ffff:10.0.0.0/104", as ASP.NET's documentation writes them
	// for dual-mode sockets): ASP.NET checks both forms. A network wider
	// than the mapped range (::/0) holds no IPv4 address: it names IPv6.
	mapped := netip.AddrFrom16(a.As16())
	for _, n := range o.KnownNetworks {
		if n.Contains(a) || a.Is4() && n.Bits() >= 96 && n.Addr().Is4In6() && n.Contains(mapped) {
			return true
		}
	}
	return false
}

// peerTrusted reports whether the immediate peer is a trusted proxy.
func (o *Options) peerTrusted(r *http.Request) bool {
	if _, unix := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr); unix {
		return !o.DistrustUnixSockets
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, err := netip.ParseAddr(r.RemoteAddr)
		if err != nil {
			return false
		}
		return o.trusted(a)
	}
	return o.trusted(ap.Addr())
}

// hop is one forwarded entry, nearest last.
type hop struct {
	forAddr     string // "ip:port" as RemoteAddr spells it
	addr        netip.Addr
	proto, host string
}

// apply returns the request with the forwarded values applied, or nil when
// nothing applies.
func (o *Options) apply(r *http.Request) *http.Request {
	if !o.peerTrusted(r) {
		return nil
	}
	var fors, protos, hosts, elems []string
	useForwarded := o.Headers&Forwarded != 0 && len(r.Header.Values("Forwarded")) > 0
	if useForwarded {
		fors, protos, hosts, elems = parseForwarded(r.Header.Values("Forwarded"))
	} else {
		if o.Headers&XForwardedFor != 0 {
			fors = list(r.Header.Values("X-Forwarded-For"))
		}
		if o.Headers&XForwardedProto != 0 {
			protos = list(r.Header.Values("X-Forwarded-Proto"))
		}
		if o.Headers&XForwardedHost != 0 {
			hosts = list(r.Header.Values("X-Forwarded-Host"))
		}
	}
	if len(fors) == 0 && len(protos) == 0 && len(hosts) == 0 {
		return nil
	}
	// Walk from the nearest hop while the current peer is trusted.
	n := max(len(fors), len(protos), len(hosts))
	var applied []hop
	for i := 1; i <= n; i++ {
		if o.ForwardLimit != Unlimited && len(applied) >= o.ForwardLimit {
			break
		}
		h := hop{}
		if j := len(fors) - i; j >= 0 {
			ip, port, ok := parseNode(fors[j])
			if !ok {
				break // an invalid entry stops the walk
			}
			h.addr, h.forAddr = ip, net.JoinHostPort(ip.String(), strconv.Itoa(port))
		}
		if j := len(protos) - i; j >= 0 && protos[j] != "" { // "": a Forwarded element without proto=
			p := strings.ToLower(protos[j])
			if p != "http" && p != "https" {
				break
			}
			h.proto = p
		}
		if j := len(hosts) - i; j >= 0 && hosts[j] != "" {
			if !validHost(hosts[j]) {
				break
			}
			h.host = hosts[j]
		}
		applied = append(applied, h)
		if h.addr.IsValid() && !o.trusted(h.addr) {
			break // the client, or an untrusted proxy: go no further
		}
	}
	if len(applied) == 0 {
		return nil
	}
	r2 := r.Clone(r.Context())
	// The trailers stay the request's own map, which the server fills as
	// the body ends: a copy would stay empty.
	r2.Trailer = r.Trailer
	origScheme := "http"
	if r.TLS != nil {
		origScheme = "https"
	}
	if r2.URL.Scheme != "" {
		origScheme = r2.URL.Scheme
	}
	var setFor, setProto, setHost bool
	for _, h := range applied {
		if h.forAddr != "" && !setFor {
			r2.Header.Set("X-Original-For", r.RemoteAddr)
			setFor = true
		}
		if h.forAddr != "" {
			r2.RemoteAddr = h.forAddr
		}
		if h.proto != "" && !setProto {
			r2.Header.Set("X-Original-Proto", origScheme)
			setProto = true
		}
		if h.proto != "" {
			r2.URL.Scheme = h.proto
		}
		if h.host != "" && !setHost {
			r2.Header.Set("X-Original-Host", r.Host)
			setHost = true
		}
		if h.host != "" {
			r2.Host = h.host
			r2.URL.Host = h.host
		}
	}
	// Leave only the hops not applied.
	k := len(applied)
	if useForwarded {
		if rest := elems[:len(elems)-k]; len(rest) > 0 {
			r2.Header.Set("Forwarded", strings.Join(rest, ", "))
		} else {
			r2.Header.Del("Forwarded")
		}
	} else {
		trim := func(name string, vals []string) {
			if len(vals) == 0 {
				return
			}
			if rest := vals[:max(len(vals)-k, 0)]; len(rest) > 0 {
				r2.Header.Set(name, strings.Join(rest, ", "))
			} else {
				r2.Header.Del(name)
			}
		}
		trim("X-Forwarded-For", fors)
		trim("X-Forwarded-Proto", protos)
		trim("X-Forwarded-Host", hosts)
	}
	return r2
}

// list splits comma-separated header values.
func list(values []string) []string {
	var out []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// parseNode parses an address as X-Forwarded-For and Forwarded's for=
// spell it: "192.0.2.1", "192.0.2.1:8080", "2001:db8::1",
// "[2001:db8::1]:8080".
func parseNode(s string) (netip.Addr, int, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), int(ap.Port()), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), 0, true
	}
	return netip.Addr{}, 0, false
}

// parseForwarded reads RFC 7239 Forwarded elements into parallel lists,
// one entry per element (hop), nearest last: an element without proto= or
// host= has "" there, so that each hop keeps its own values. Elements
// without for= (or with "unknown" or obfuscated identifiers) make the walk
// stop there, and so does a pair without "="; empty elements and pairs are
// skipped (RFC 7239, 4; RFC 9110, 5.6.1). elems are the elements as
// written, to keep those not applied.
func parseForwarded(values []string) (fors, protos, hosts, elems []string) {
	for _, v := range values {
		for _, elem := range splitQuoted(v, ',') {
			if strings.TrimSpace(elem) == "" {
				continue
			}
			var f, p, h string
			for _, pair := range splitQuoted(elem, ';') {
				if strings.TrimSpace(pair) == "" {
					continue
				}
				name, val, found := strings.Cut(strings.TrimSpace(pair), "=")
				if !found {
					f = "unknown" // malformed: the walk stops at this hop
					break
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "for":
					f = val
				case "proto":
					p = val
				case "host":
					h = val
				}
			}
			if f == "" {
				f = "unknown" // invalid as an address: stops the walk
			}
			fors, protos, hosts = append(fors, f), append(protos, p), append(hosts, h)
			elems = append(elems, strings.TrimSpace(elem))
		}
	}
	return fors, protos, hosts, elems
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case s[i] == '\\' && quoted:
			i++
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// validHost reports whether h is a plausible host[:port].
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		if _, err := netip.ParseAddr(h[1:end]); err != nil {
			return false
		}
		host, port = "", h[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
		port = strings.TrimPrefix(port, ":")
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
		if host == "" {
			return false // only a port
		}
	}
	for _, c := range []byte(host) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	for _, c := range []byte(port) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
