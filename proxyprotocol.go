package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/kestrel-go/kestrel/internal/metrics"
)

// DefaultProxyHeaderTimeout is how long a connection on an endpoint with
// ProxyProtocol has to send its PROXY header when
// ProxyProtocol.HeaderTimeout is zero (haproxy's and Caddy's 5 seconds).
const DefaultProxyHeaderTimeout = 5 * time.Second

// maxProxyHeaderBytes bounds what is read looking for a PROXY header: a
// v1 header is at most 107 bytes, and a v2 header whose addresses and
// TLVs do not fit in this many bytes is refused.
const maxProxyHeaderBytes = 4096

// ProxyProtocol accepts the PROXY protocol (versions 1 and 2, as haproxy,
// nginx, Envoy and cloud load balancers send it) on an endpoint: a
// balancer in front states the client's address in a header before the
// connection's first byte, and the server takes that address as the
// connection's remote address everywhere (http.Request.RemoteAddr,
// Context.RemoteAddr, ConnContext, logs, the access log, metrics). The
// header is read before TLS. ProxyHeaderFromContext gives the header
// itself, with its version 2 TLVs.
//
// HTTP/3 has no PROXY protocol (QUIC runs over UDP): an endpoint with
// both ProxyProtocol and HTTP3 is refused at Start.
type ProxyProtocol struct {
	// TrustedProxies are the addresses ("10.0.0.5", "::1") and ranges
	// ("10.0.0.0/8") allowed to send a PROXY header. A header from any
	// other address is refused (the connection is closed). Empty means
	// the loopback addresses only (127.0.0.0/8 and ::1). Connections on a
	// Unix socket are always trusted: its file permissions say who may
	// connect.
	TrustedProxies []string

	// Required refuses the connections, from any address, that do not
	// begin with a PROXY header. Without it, a connection without a header
	// is served with its own addresses; a trusted proxy's header is still
	// honoured.
	Required bool

	// HeaderTimeout is how long a connection has to send its whole PROXY
	// header (or, without Required, its first bytes), counted from its
	// start however the header is split; zero means
	// DefaultProxyHeaderTimeout.
	HeaderTimeout time.Duration
}

// proxyPolicy is a ProxyProtocol made ready for connections.
type proxyPolicy struct {
	trusted  []netip.Prefix
	required bool
	timeout  time.Duration
	readers  sync.Pool // of *headerReader
}

// headerReader is what reading a header takes, kept for the next
// connection.
type headerReader struct {
	lr limitedConnReader
	br *bufio.Reader
}

// compile checks p and returns its policy; endpoint names the endpoint
// for messages.
func (p *ProxyProtocol) compile(endpoint string) (*proxyPolicy, error) {
	if p == nil {
		return nil, nil
	}
	if p.HeaderTimeout < 0 {
		return nil, fmt.Errorf("kestrel: endpoint %s: ProxyProtocol.HeaderTimeout %v is negative; use a positive duration or 0 for %v", endpoint, p.HeaderTimeout, DefaultProxyHeaderTimeout)
	}
	pol := &proxyPolicy{required: p.Required, timeout: p.HeaderTimeout}
	if pol.timeout == 0 {
		pol.timeout = DefaultProxyHeaderTimeout
	}
	for _, s := range p.TrustedProxies {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			pr, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("kestrel: endpoint %s: ProxyProtocol.TrustedProxies: %q is not an address range; use a CIDR such as 10.0.0.0/8", endpoint, s)
			}
			pol.trusted = append(pol.trusted, unmapPrefix(pr))
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("kestrel: endpoint %s: ProxyProtocol.TrustedProxies: %q is not an IP address; use an address such as 10.0.0.5 or a range such as 10.0.0.0/8", endpoint, s)
		}
		pol.trusted = append(pol.trusted, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if len(p.TrustedProxies) == 0 {
		pol.trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	return pol, nil
}

// unmapPrefix returns p masked, and an IPv4 range written in the
// IPv4-mapped form ("::ffff:10.0.0.0/104", as ASP.NET's documentation
// writes them for dual-mode sockets) as the IPv4 range it holds, which a
// peer's unmapped address is compared with.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// trusts reports whether a connection from addr may send a PROXY header.
func (pol *proxyPolicy) trusts(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.UnixAddr:
		return true
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return false
		}
		ip = ip.Unmap()
		for _, p := range pol.trusted {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// ProxyHeader is the PROXY protocol header a connection began with.
type ProxyHeader struct {
	// Version is 1 or 2.
	Version int

	// Local reports a version 2 LOCAL header: the balancer's own
	// connection (a health check), served with the socket's addresses.
	Local bool

	// Source and Destination are the client's address and the address it
	// connected to, as the balancer states them; nil for LOCAL, UNKNOWN,
	// UNSPEC and AF_UNIX headers.
	Source, Destination net.Addr

	tlvs []proxyproto.TLV
}

// TLV returns the value of the first version 2 TLV of type typ, such as
// 0x01 (ALPN), 0x02 (authority, the TLS SNI the client sent), 0x05
// (unique ID) or 0x20 (SSL information), and whether there is one.
func (h *ProxyHeader) TLV(typ byte) ([]byte, bool) {
	for _, t := range h.tlvs {
		if byte(t.Type) == typ {
			return t.Value, true
		}
	}
	return nil, false
}

// ALPN is the application protocol the client negotiated with the
// balancer (TLV 0x01), or "".
func (h *ProxyHeader) ALPN() string { v, _ := h.TLV(0x01); return string(v) }

// Authority is the host name the client asked the balancer for (TLV
// 0x02, usually the TLS SNI), or "".
func (h *ProxyHeader) Authority() string { v, _ := h.TLV(0x02); return string(v) }

// UniqueID is the balancer's unique ID of the connection (TLV 0x05), or
// nil.
func (h *ProxyHeader) UniqueID() []byte { v, _ := h.TLV(0x05); return v }

type proxyHeaderKey struct{}

// ProxyHeaderFromContext returns the PROXY header of the connection a
// request came on, from the request's context (r.Context() or
// Context.Context()), or the connection's context given to ConnContext;
// nil if the connection had none.
func ProxyHeaderFromContext(ctx context.Context) *ProxyHeader {
	h, _ := ctx.Value(proxyHeaderKey{}).(*ProxyHeader)
	return h
}

// proxyConn is a connection that began with a PROXY header, or on an
// endpoint that accepts one: its remote and local addresses are the
// header's, and the bytes read past the header are read first. Once those
// are read (or handed to the engine with takeRest) it exposes its socket,
// so that the engines use it directly as they do an unwrapped connection:
// idle parking and sendfile.
type proxyConn struct {
	net.Conn
	rest          []byte // read past the header, not yet read from the conn
	remote, local net.Addr
}

func (c *proxyConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.rest = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *proxyConn) RemoteAddr() net.Addr { return c.remote }
func (c *proxyConn) LocalAddr() net.Addr  { return c.local }

// takeRest returns the bytes read past the header, which the caller is
// then to serve before reading the connection.
func (c *proxyConn) takeRest() []byte {
	b := c.rest
	c.rest = nil
	return b
}

// errProxyBuffered is SyscallConn's error while bytes read past the
// header are still to be read.
var errProxyBuffered = errors.New("kestrel: bytes read past the PROXY header are buffered")

// SyscallConn is the socket's, once no bytes read past the header remain.
func (c *proxyConn) SyscallConn() (syscall.RawConn, error) {
	if len(c.rest) > 0 {
		return nil, errProxyBuffered
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("kestrel: connection has no socket")
	}
	return sc.SyscallConn()
}

// NetConn is the connection as accepted (as (*tls.Conn).NetConn is), for
// what looks through wrappers: the socket options set before a close.
func (c *proxyConn) NetConn() net.Conn { return c.Conn }

// Socket is the connection as accepted: a proxyConn only restates its
// addresses, so what may write to the socket directly (sendfile) may
// write to this one.
func (c *proxyConn) Socket() net.Conn { return c.Conn }

// limitedConnReader reads at most n bytes of a connection, and keeps the
// connection's read error (the parser may report another in its place).
type limitedConnReader struct {
	nc  net.Conn
	n   int
	err error
}

func (r *limitedConnReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if len(p) > r.n {
		p = p[:r.n]
	}
	n, err := r.nc.Read(p)
	r.n -= n
	if err != nil {
		r.err = err
	}
	return n, err
}

// proxyReadSize is the buffer the header is read into; a version 2
// header longer than this (large TLVs) gets a buffer of its size, up to
// maxProxyHeaderBytes.
const proxyReadSize = 512

// v1MaxLen is the longest version 1 header, CRLF included:
// "PROXY UNKNOWN " and two 39-byte IPv6 addresses and two 5-digit ports.
const v1MaxLen = 107

// headerBuffered reports whether b, the first bytes of a connection,
// holds a whole PROXY header, or enough to tell there is none (or that a
// version 1 line is too long): then the parser can run without waiting
// for more. need is the least length b must reach otherwise, or a version
// 2 header's whole length.
//
// go-proxyproto refuses a version 1 line that does not arrive in one
// read; the spec recommends receivers be tolerant of partial headers, so
// the line is gathered here first, within the header timeout.
func headerBuffered(b []byte) (done bool, need int) {
	switch {
	case len(b) == 0:
		return false, 1
	case b[0] == proxyproto.SIGV1[0]:
		n := min(len(b), len(proxyproto.SIGV1))
		if !bytes.Equal(b[:n], proxyproto.SIGV1[:n]) {
			return true, 0
		}
		if bytes.IndexByte(b[:min(len(b), v1MaxLen)], '\n') >= 0 || len(b) >= v1MaxLen {
			return true, 0
		}
		return false, len(b) + 1
	case b[0] == proxyproto.SIGV2[0]:
		n := min(len(b), len(proxyproto.SIGV2))
		if !bytes.Equal(b[:n], proxyproto.SIGV2[:n]) {
			return true, 0
		}
		if len(b) < 16 {
			return false, 16
		}
		size := 16 + int(binary.BigEndian.Uint16(b[14:16]))
		return len(b) >= size, size
	}
	return true, 0
}

// isReadTimeout reports whether err is a read deadline's.
func isReadTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// readProxyHeader reads the PROXY header nc begins with, as pol says.
// It returns the connection to serve (nc itself when there is no header
// and nothing was read), the header (nil without one) or the reason to
// refuse the connection. The whole header must arrive within pol's
// timeout, however it is split.
func readProxyHeader(pol *proxyPolicy, nc net.Conn) (net.Conn, *ProxyHeader, metrics.Reason, error) {
	trusted := pol.trusts(nc.RemoteAddr())
	nc.SetReadDeadline(time.Now().Add(pol.timeout))
	defer nc.SetReadDeadline(time.Time{})
	hr, _ := pol.readers.Get().(*headerReader)
	if hr == nil {
		hr = &headerReader{br: bufio.NewReaderSize(nil, proxyReadSize)}
	}
	defer func() {
		hr.lr = limitedConnReader{}
		hr.br.Reset(nil)
		pol.readers.Put(hr)
	}()
	lr := &hr.lr
	*lr = limitedConnReader{nc: nc, n: maxProxyHeaderBytes}
	br := hr.br
	br.Reset(lr)
	var rerr error
	for {
		b, _ := br.Peek(br.Buffered())
		done, need := headerBuffered(b)
		if done {
			break
		}
		if need > maxProxyHeaderBytes {
			return nil, nil, metrics.ProxyProtocolInvalid, fmt.Errorf("invalid PROXY header: its length, %d bytes, is beyond the limit of %d", need, maxProxyHeaderBytes)
		}
		if need > br.Size() {
			// A version 2 header with large TLVs: a buffer of its size.
			br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), lr), maxProxyHeaderBytes)
			if _, err := br.Peek(len(b)); err != nil {
				rerr = err
				break
			}
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			rerr = err
			break
		}
	}
	if rerr != nil && isReadTimeout(rerr) {
		if !pol.required && br.Buffered() == 0 {
			// An idle client with nothing sent yet: without Required
			// there is nothing to wait for.
			return nc, nil, 0, nil
		}
		return nil, nil, metrics.ProxyProtocolTimeout, fmt.Errorf("the PROXY header did not arrive within %v", pol.timeout)
	}
	if b, _ := br.Peek(br.Buffered()); !bytes.HasPrefix(b, proxyproto.SIGV1) && !bytes.HasPrefix(b, proxyproto.SIGV2) {
		// The bytes so far already differ from both signatures: no
		// header, and nothing more to wait for (go-proxyproto would read
		// on, past what a request such as "POST" sends in its first read).
		if pol.required {
			return nil, nil, metrics.ProxyProtocolMissing, errors.New("the connection did not begin with a PROXY header, which the endpoint requires")
		}
		return wrapProxied(nc, br, nc.RemoteAddr(), nc.LocalAddr()), nil, 0, nil
	}
	h, err := proxyproto.Read(br)
	if err != nil {
		switch {
		case errors.Is(err, proxyproto.ErrNoProxyProtocol):
			if pol.required {
				return nil, nil, metrics.ProxyProtocolMissing, errors.New("the connection did not begin with a PROXY header, which the endpoint requires")
			}
			return wrapProxied(nc, br, nc.RemoteAddr(), nc.LocalAddr()), nil, 0, nil
		case isReadTimeout(err) || lr.err != nil && isReadTimeout(lr.err):
			return nil, nil, metrics.ProxyProtocolTimeout, fmt.Errorf("the PROXY header did not arrive within %v", pol.timeout)
		}
		return nil, nil, metrics.ProxyProtocolInvalid, fmt.Errorf("invalid PROXY header: %w", err)
	}
	if !trusted {
		return nil, nil, metrics.ProxyProtocolUntrusted, fmt.Errorf("a PROXY header from %v, which is not among the trusted proxies", nc.RemoteAddr())
	}
	ph := &ProxyHeader{Version: int(h.Version), Local: h.Command.IsLocal()}
	if tlvs, err := h.TLVs(); err == nil {
		ph.tlvs = tlvs
	} else {
		return nil, nil, metrics.ProxyProtocolInvalid, fmt.Errorf("invalid PROXY header TLVs: %w", err)
	}
	remote, local := nc.RemoteAddr(), nc.LocalAddr()
	if h.Command.IsProxy() {
		switch h.SourceAddr.(type) {
		case *net.TCPAddr, *net.UDPAddr:
			ph.Source, ph.Destination = h.SourceAddr, h.DestinationAddr
			remote, local = tcpAddr(h.SourceAddr), tcpAddr(h.DestinationAddr)
		}
	}
	return wrapProxied(nc, br, remote, local), ph, 0, nil
}

// tcpAddr states a header's address as the TCP address of the connection.
func tcpAddr(a net.Addr) net.Addr {
	if u, ok := a.(*net.UDPAddr); ok {
		return &net.TCPAddr{IP: u.IP, Port: u.Port, Zone: u.Zone}
	}
	return a
}

// wrapProxied is nc with the header's addresses and (a copy of) the
// bytes br read past the header, or nc itself when it needs neither.
func wrapProxied(nc net.Conn, br *bufio.Reader, remote, local net.Addr) net.Conn {
	rest, _ := br.Peek(br.Buffered())
	if len(rest) == 0 && remote == nc.RemoteAddr() && local == nc.LocalAddr() {
		return nc
	}
	return &proxyConn{Conn: nc, rest: bytes.Clone(rest), remote: remote, local: local}
}
