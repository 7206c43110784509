package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/kestrel-go/kestrel/accesslog"
	"github.com/kestrel-go/kestrel/internal/metrics/metricstest"
)

// proxyV2 is a PROXY v2 header for a TCP client at src to dst, with TLVs.
func proxyV2(t testing.TB, src, dst string, tlvs ...proxyproto.TLV) []byte {
	t.Helper()
	h := &proxyproto.Header{
		Version:           2,
		Command:           proxyproto.PROXY,
		TransportProtocol: proxyproto.TCPv4,
		SourceAddr:        mustTCPAddr(t, src),
		DestinationAddr:   mustTCPAddr(t, dst),
	}
	if len(tlvs) > 0 {
		if err := h.SetTLVs(tlvs); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTCPAddr(t testing.TB, s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// proxySeen is what a handler saw of a request's connection.
type proxySeen struct {
	remote, connCtx string
	header          *ProxyHeader
}

// startProxyServer starts a server with ProxyProtocol pp on ep and returns
// its address and the channel of what its handler saw.
func startProxyServer(t *testing.T, ep Endpoint, opts ...func(*Server)) (string, chan proxySeen) {
	t.Helper()
	seen := make(chan proxySeen, 16)
	type ckey struct{}
	s := &Server{
		Logger: quietLogger,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ckey{}, c.RemoteAddr().String())
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cc, _ := r.Context().Value(ckey{}).(string)
			seen <- proxySeen{remote: r.RemoteAddr, connCtx: cc, header: ProxyHeaderFromContext(r.Context())}
			io.WriteString(w, "ok "+r.Proto)
		}),
	}
	for _, o := range opts {
		o(s)
	}
	if ep.Address == "" && ep.UnixPath == "" {
		ep.Address = "127.0.0.1:0"
	}
	if err := s.ListenEndpoint(ep); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := s.Addresses()[0]
	a = strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://")
	return a, seen
}

func wantSeen(t *testing.T, seen chan proxySeen, remote string) proxySeen {
	t.Helper()
	select {
	case got := <-seen:
		if got.remote != remote || got.connCtx != remote {
			t.Fatalf("r.RemoteAddr = %q, ConnContext's RemoteAddr = %q, want %q", got.remote, got.connCtx, remote)
		}
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not called")
	}
	return proxySeen{}
}

// TestProxyProtocolHTTP1 sends the header and the request in one write,
// in v1 and v2, and checks the request is served with the header's
// client address.
func TestProxyProtocolHTTP1(t *testing.T) {
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{Required: true}})
	req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		name   string
		header []byte
		remote string
	}{
		{"v1", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 40001 443\r\n"), "203.0.113.7:40001"},
		{"v1-ipv6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 40002 443\r\n"), "[2001:db8::7]:40002"},
		{"v2", proxyV2(t, "198.51.100.9:51234", "192.0.2.1:443", proxyproto.TLV{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("example.com")}, proxyproto.TLV{Type: proxyproto.PP2_TYPE_UNIQUE_ID, Value: []byte("id-1")}), "198.51.100.9:51234"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			defer c.Close()
			if _, err := c.Write(append(append([]byte{}, tc.header...), req...)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "ok HTTP/1.1" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			got := wantSeen(t, seen, tc.remote)
			if got.header == nil {
				t.Fatal("ProxyHeaderFromContext = nil")
			}
			if tc.name == "v2" {
				if got.header.Version != 2 || got.header.Authority() != "example.com" || string(got.header.UniqueID()) != "id-1" {
					t.Fatalf("header %+v: authority %q, unique id %q", got.header, got.header.Authority(), got.header.UniqueID())
				}
			}
		})
	}
}

// TestProxyProtocolKeepAlive serves several requests on one connection
// that began with a header: the bytes after the header and later requests
// all reach the engine, with and without the connection log.
func TestProxyProtocolKeepAlive(t *testing.T) {
	for _, logged := range []bool{false, true} {
		t.Run(fmt.Sprint("LogConnections=", logged), func(t *testing.T) { testProxyProtocolKeepAlive(t, logged) })
	}
}

func testProxyProtocolKeepAlive(t *testing.T, logConnections bool) {
	ep := Endpoint{ProxyProtocol: &ProxyProtocol{}}
	ep.LogConnections = logConnections
	addr, seen := startProxyServer(t, ep)
	c := dial(t, addr)
	defer c.Close()
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	c.Write(append(proxyV2(t, "198.51.100.9:1000", "192.0.2.1:80"), req+req...))
	br := bufio.NewReader(c)
	for i := range 3 {
		if i == 2 {
			c.Write([]byte(req))
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		wantSeen(t, seen, "198.51.100.9:1000")
	}
}

// TestProxyProtocolH2C sends the header and the HTTP/2 preface in one
// write (h2c with prior knowledge), to an endpoint of both protocols and
// to an HTTP/2-only one.
func TestProxyProtocolH2C(t *testing.T) {
	for _, p := range []Protocols{HTTP1AndHTTP2, HTTP2} {
		t.Run(p.String(), func(t *testing.T) { testProxyProtocolH2C(t, p) })
	}
}

func testProxyProtocolH2C(t *testing.T, p Protocols) {
	addr, seen := startProxyServer(t, Endpoint{Protocols: p, ProxyProtocol: &ProxyProtocol{Required: true}})
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &protos,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			if err != nil {
				return nil, err
			}
			return &prefixConn{Conn: c, prefix: []byte("PROXY TCP4 203.0.113.8 192.0.2.1 40003 80\r\n")}, nil
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok HTTP/2.0" {
		t.Fatalf("body %q", body)
	}
	wantSeen(t, seen, "203.0.113.8:40003")
}

// prefixConn writes prefix together with the first write.
type prefixConn struct {
	net.Conn
	prefix []byte
	once   sync.Once
}

func (c *prefixConn) Write(p []byte) (int, error) {
	first := false
	c.once.Do(func() { first = true })
	if first {
		if _, err := c.Conn.Write(append(append([]byte{}, c.prefix...), p...)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// TestProxyProtocolTLS sends the header before the ClientHello, in the
// same write, over HTTP/1.1 and HTTP/2.
func TestProxyProtocolTLS(t *testing.T) {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	addr, seen := startProxyServer(t, Endpoint{HTTPS: &HTTPS{Certificate: cert}, ProxyProtocol: &ProxyProtocol{Required: true}})
	for _, proto := range []string{"http/1.1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			pc := &prefixConn{Conn: raw, prefix: proxyV2(t, "198.51.100.20:4443", "192.0.2.1:443")}
			tc := tls.Client(pc, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			var body []byte
			if proto == "h2" {
				var protos http.Protocols
				protos.SetHTTP2(true)
				used := false
				tr := &http.Transport{Protocols: &protos, DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
					if used {
						return nil, io.EOF
					}
					used = true
					return tc, nil
				}}
				defer tr.CloseIdleConnections()
				resp, err := tr.RoundTrip(proxyGetRequest("https://x/"))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
			} else {
				io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
			}
			if !strings.HasPrefix(string(body), "ok HTTP/") {
				t.Fatalf("body %q", body)
			}
			wantSeen(t, seen, "198.51.100.20:4443")
		})
	}
}

// proxyV2Raw is a version 2 header with the given version and command
// byte, family and protocol byte, and payload (addresses and TLVs).
func proxyV2Raw(verCmd, famProto byte, payload []byte) []byte {
	b := append([]byte{}, proxyproto.SIGV2...)
	b = append(b, verCmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

// inet4Payload is the address block of a v2 AF_INET header.
var inet4Payload = []byte{198, 51, 100, 9, 192, 0, 2, 1, 0x9c, 0x40, 0x01, 0xbb}

// TestProxyProtocolRefused sends bad input on raw connections: each is
// closed without a response, the handler is never called, the refusal is
// counted with its end reason and logged once at Debug, on one line that
// carries none of the header's bytes.
func TestProxyProtocolRefused(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	good := proxyV2(t, "198.51.100.9:1", "192.0.2.1:2")
	badSig := append([]byte{}, good...)
	badSig[11] ^= 0xff // the signature's last byte
	tooLong := append([]byte{}, good[:14]...)
	tooLong = binary.BigEndian.AppendUint16(tooLong, 0xffff)
	tooLong = append(tooLong, make([]byte, 8000)...)
	// One byte past maxProxyHeaderBytes: addresses and a NOOP TLV.
	pastLimit := proxyV2Raw(0x21, 0x11, append(append([]byte{}, inet4Payload...), padTLV(maxProxyHeaderBytes-16-12+1)...))
	// A TLV that says it is longer than what is left of the header.
	badTLV := proxyV2Raw(0x21, 0x11, append(append([]byte{}, inet4Payload...), 0x02, 0x00, 0x10, 'x'))
	// "PROXY UNKNOWN " padded to 108 bytes with its CRLF: one past the
	// longest v1 line.
	v1Over := "PROXY UNKNOWN " + strings.Repeat("f", 108-len("PROXY UNKNOWN ")-2) + "\r\n"
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name       string
		pp         ProxyProtocol
		input      []byte
		every      time.Duration // write input a byte at a time, with this pause
		closeWrite bool          // half-close after input
		reason     string
	}{
		{"untrusted", ProxyProtocol{TrustedProxies: []string{"10.0.0.0/8"}}, append(good, req...), 0, false, "proxy_protocol_untrusted"},
		{"untrusted-required", ProxyProtocol{TrustedProxies: []string{"192.0.2.77"}, Required: true}, append(good, req...), 0, false, "proxy_protocol_untrusted"},
		{"untrusted-v1", ProxyProtocol{TrustedProxies: []string{"::1"}}, []byte("PROXY TCP4 203.0.113.7 192.0.2.1 1 2\r\n" + req), 0, false, "proxy_protocol_untrusted"},
		{"missing", ProxyProtocol{Required: true}, []byte(req), 0, false, "proxy_protocol_missing"},
		{"missing-empty", ProxyProtocol{Required: true}, nil, 0, true, "proxy_protocol_missing"},
		{"truncated-v1", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.4\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"truncated-v1-closed", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.4 5.6"), 0, true, "proxy_protocol_invalid"},
		{"truncated-v2-closed", ProxyProtocol{}, good[:20], 0, true, "proxy_protocol_invalid"},
		{"crlf-injected-v1", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.4\r\n5.6.7.8 1 2\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"v1-address-with-cr", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.4\r5.6.7.8 192.0.2.1 1 2\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"v1-address-with-lf", ProxyProtocol{}, []byte("PROXY TCP4 5.6.7.8\n 192.0.2.1 1 2\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"v1-bad-address", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"v1-ipv6-in-tcp4", ProxyProtocol{}, []byte("PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"v1-bad-port", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"v1-108-bytes", ProxyProtocol{}, []byte(v1Over + req), 0, false, "proxy_protocol_invalid"},
		{"v1-too-long", ProxyProtocol{}, []byte("PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n" + req), 0, false, "proxy_protocol_invalid"},
		{"v2-wrong-signature", ProxyProtocol{Required: true}, append(badSig, req...), 0, false, "proxy_protocol_missing"},
		{"v2-version-3", ProxyProtocol{}, append(proxyV2Raw(0x31, 0x11, inet4Payload), req...), 0, false, "proxy_protocol_invalid"},
		{"v2-unknown-command", ProxyProtocol{}, append(proxyV2Raw(0x2f, 0x11, inet4Payload), req...), 0, false, "proxy_protocol_invalid"},
		{"v2-length-beyond-limit", ProxyProtocol{}, tooLong, 0, false, "proxy_protocol_invalid"},
		{"v2-one-byte-past-limit", ProxyProtocol{}, append(pastLimit, req...), 0, false, "proxy_protocol_invalid"},
		{"v2-length-short-of-addresses", ProxyProtocol{}, append(proxyV2Raw(0x21, 0x11, inet4Payload[:4]), req...), 0, false, "proxy_protocol_invalid"},
		{"v2-tlv-past-end", ProxyProtocol{}, append(badTLV, req...), 0, false, "proxy_protocol_invalid"},
		// PROXY with AF_UNSPEC: the spec lets the receiver refuse it.
		{"v2-proxy-unspec", ProxyProtocol{}, append(proxyV2Raw(0x21, 0x00, nil), req...), 0, false, "proxy_protocol_invalid"},
		{"half-v1", ProxyProtocol{HeaderTimeout: timeout, Required: true}, []byte("PROXY TCP4 198.51.100.9 "), 0, false, "proxy_protocol_timeout"},
		{"half-v2", ProxyProtocol{HeaderTimeout: timeout, Required: true}, good[:20], 0, false, "proxy_protocol_timeout"},
		{"signature-only", ProxyProtocol{HeaderTimeout: timeout, Required: true}, proxyproto.SIGV2[:6], 0, false, "proxy_protocol_timeout"},
		// The whole header within the timeout, not each read: a header
		// trickled in a byte at a time is cut off.
		{"trickled-v1", ProxyProtocol{HeaderTimeout: timeout, Required: true}, []byte("PROXY TCP4 198.51.100.9 192.0.2.1 1 2\r\n" + req), 100 * time.Millisecond, false, "proxy_protocol_timeout"},
		{"trickled-v2", ProxyProtocol{HeaderTimeout: timeout, Required: true}, append(good, req...), 100 * time.Millisecond, false, "proxy_protocol_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pp := tc.pp
			if pp.HeaderTimeout == 0 {
				pp.HeaderTimeout = 10 * time.Second
			}
			reader, mp := metricstest.New()
			rec, log := newLogRecorder(slog.LevelDebug)
			addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &pp}, func(s *Server) { s.MeterProvider = mp; s.Logger = log })
			c := dial(t, addr)
			defer c.Close()
			if tc.every > 0 {
				go func() {
					for i := range tc.input {
						if _, err := c.Write(tc.input[i : i+1]); err != nil {
							return
						}
						time.Sleep(tc.every)
					}
				}()
			} else {
				c.Write(tc.input)
			}
			if tc.closeWrite {
				c.(*net.TCPConn).CloseWrite()
			}
			b, err := io.ReadAll(c)
			if len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) { // reset: input left unread
				t.Fatalf("got a response %q (%v), want the connection closed", b, err)
			}
			waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": tc.reason}, 1)
			select {
			case s := <-seen:
				t.Fatalf("the handler was called: %+v", s)
			default:
			}
			e := rec.events("ProxyProtocolRefused")
			if len(e) != 1 || e[0].level != slog.LevelDebug || e[0].attrs["EventId"] != "1002" {
				t.Fatalf("ProxyProtocolRefused events %+v, want one at Debug, id 1002", e)
			}
			for k, v := range e[0].attrs {
				if strings.ContainsAny(v, "\r\n") || strings.Contains(v, "5.6.7.8") {
					t.Errorf("event attribute %s = %q carries the header's bytes", k, v)
				}
			}
			if strings.ContainsAny(e[0].msg, "\r\n") || strings.Contains(e[0].msg, "5.6.7.8") {
				t.Errorf("event message %q carries the header's bytes", e[0].msg)
			}
		})
	}
}

// padTLV is a NOOP TLV (type 0x04) of n bytes in all.
func padTLV(n int) []byte {
	b := []byte{0x04}
	b = binary.BigEndian.AppendUint16(b, uint16(n-3))
	return append(b, make([]byte, n-3)...)
}

// TestProxyProtocolOptional serves a connection without a header on an
// endpoint that does not require one, with the socket's address, and
// answers 400 to one with a broken v2 signature.
func TestProxyProtocolOptional(t *testing.T) {
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{TrustedProxies: []string{"10.0.0.0/8"}}})
	c := dial(t, addr)
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, seen, c.LocalAddr().String())

	// A v2 signature with a wrong byte is no header: HTTP refuses it.
	bad := proxyV2(t, "198.51.100.9:1", "192.0.2.1:2")
	bad[11] ^= 0xff
	c = dial(t, addr)
	defer c.Close()
	c.Write(append(bad, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a wrong v2 signature on an optional endpoint: %v, %v; want 400", resp, err)
	}
}

// TestProxyProtocolServed sends headers the spec allows, split across
// writes or at the length limits, and headers that keep the socket's own
// addresses (LOCAL, the balancer's health checks; UNKNOWN; AF_UNIX): each
// is served, with the header's client address or the socket's.
func TestProxyProtocolServed(t *testing.T) {
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{Required: true}})
	req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	bytewise := func(b []byte) [][]byte {
		var out [][]byte
		for i := range b {
			out = append(out, b[i:i+1])
		}
		return out
	}
	v1 := []byte("PROXY TCP4 203.0.113.7 192.0.2.1 40001 443\r\n")
	v2 := proxyV2(t, "198.51.100.9:51234", "192.0.2.1:443", proxyproto.TLV{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("example.com")})
	ffff := strings.TrimSuffix(strings.Repeat("ffff:", 8), ":")
	v1Longest := "PROXY TCP6 " + ffff + " " + ffff + " 65535 65535\r\n" // 104 bytes
	v1Unknown := "PROXY UNKNOWN " + strings.Repeat("f", v1MaxLen-len("PROXY UNKNOWN ")-2) + "\r\n"
	// maxProxyHeaderBytes exactly: addresses, the authority and padding.
	authority := []byte{0x02, 0x00, 0x0b}
	authority = append(authority, "example.com"...)
	v2Longest := proxyV2Raw(0x21, 0x11, append(append(append([]byte{}, inet4Payload...), authority...), padTLV(maxProxyHeaderBytes-16-12-len(authority))...))
	local, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
	if err != nil {
		t.Fatal(err)
	}
	unixPayload := make([]byte, 216)
	copy(unixPayload, "/run/client.sock")
	for _, tc := range []struct {
		name   string
		writes [][]byte
		remote string // "" for the socket's own address
		check  func(h *ProxyHeader) bool
	}{
		{"v1-split", [][]byte{v1[:11], v1[11:30], v1[30 : len(v1)-1], append(v1[len(v1)-1:], req...)}, "203.0.113.7:40001", nil},
		{"v1-bytewise", append(bytewise(v1), []byte(req)), "203.0.113.7:40001", nil},
		{"v2-split", [][]byte{v2[:5], v2[5:16], v2[16:], []byte(req)}, "198.51.100.9:51234", func(h *ProxyHeader) bool { return h.Authority() == "example.com" }},
		{"v2-bytewise", append(bytewise(v2), []byte(req)), "198.51.100.9:51234", nil},
		{"v1-longest-tcp6", [][]byte{[]byte(v1Longest + req)}, "[" + ffff + "]:65535", nil},
		{"v1-unknown-107-bytes", [][]byte{[]byte(v1Unknown + req)}, "", func(h *ProxyHeader) bool { return h.Version == 1 && h.Source == nil }},
		{"v2-4096-bytes", [][]byte{append(v2Longest, req...)}, "198.51.100.9:40000", func(h *ProxyHeader) bool { return h.Authority() == "example.com" }},
		{"v2-local-unspec", [][]byte{append(local, req...)}, "", func(h *ProxyHeader) bool { return h.Local && h.Source == nil }},
		// LOCAL with addresses: the spec says to ignore them.
		{"v2-local-inet", [][]byte{append(proxyV2Raw(0x20, 0x11, inet4Payload), req...)}, "", func(h *ProxyHeader) bool { return h.Local && h.Source == nil }},
		// An AF_UNIX client has no address to restate on TCP.
		{"v2-proxy-unix", [][]byte{append(proxyV2Raw(0x21, 0x31, unixPayload), req...)}, "", func(h *ProxyHeader) bool { return !h.Local && h.Source == nil }},
		{"v2-udp4", [][]byte{append(proxyV2Raw(0x21, 0x12, inet4Payload), req...)}, "198.51.100.9:40000", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			defer c.Close()
			for i, w := range tc.writes {
				if i > 0 {
					time.Sleep(5 * time.Millisecond) // separate reads on the server
				}
				if _, err := c.Write(w); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			remote := tc.remote
			if remote == "" {
				remote = c.LocalAddr().String()
			}
			got := wantSeen(t, seen, remote)
			if got.header == nil || tc.check != nil && !tc.check(got.header) {
				t.Fatalf("header %+v", got.header)
			}
		})
	}
}

// TestProxyProtocolUnix takes the header on a Unix socket, where the peer
// is always trusted.
func TestProxyProtocolUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "pp.sock")
	_, seen := startProxyServer(t, Endpoint{UnixPath: sock, ProxyProtocol: &ProxyProtocol{Required: true}})
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(append(proxyV2(t, "198.51.100.30:5555", "192.0.2.1:80"), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...))
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, seen, "198.51.100.30:5555")
}

// TestProxyProtocolHTTP3Refused: an endpoint with ProxyProtocol and
// HTTP/3 is an error naming the fix.
func TestProxyProtocolHTTP3Refused(t *testing.T) {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger}
	err = s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert}, Protocols: HTTP1AndHTTP2AndHTTP3, ProxyProtocol: &ProxyProtocol{}})
	if err == nil {
		err = s.Start()
		s.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "QUIC has no PROXY protocol") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzProxyHeader feeds arbitrary bytes to the header path: it must not
// panic, and whatever it accepts must leave the bytes after the header
// readable in order.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\nrest"))
	f.Add([]byte("PROXY TCP4 1.2.3.4\r\n5.6.7.8 1 2\r\n"))
	f.Add(proxyV2(f, "1.2.3.4:1", "5.6.7.8:2", proxyproto.TLV{Type: proxyproto.PP2_TYPE_ALPN, Value: []byte("h2")}))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x11, 0xff, 0xff))
	pol, err := (&ProxyProtocol{HeaderTimeout: time.Second}).compile("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go func() {
			client.Write(data)
			client.Write([]byte("TAIL"))
			client.Close()
		}()
		defer server.Close()
		nc, h, _, err := readProxyHeader(pol, loopbackPipe{server})
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(nc)
		sent := append(bytes.Clone(data), "TAIL"...)
		if !bytes.HasSuffix(sent, rest) || len(rest) < len("TAIL") {
			t.Fatalf("header %+v: rest %q is not what followed it", h, rest)
		}
		header := sent[:len(sent)-len(rest)]
		switch {
		case h == nil:
			if len(header) > 0 {
				t.Fatalf("no header, but %q went missing", header)
			}
		case h.Version == 1:
			// A version 1 header is one line, CRLF ended.
			if i := bytes.Index(header, []byte("\r\n")); i != len(header)-2 || !bytes.HasPrefix(header, proxyproto.SIGV1) {
				t.Fatalf("version 1 header %q", header)
			}
		case h.Version == 2:
			// A version 2 header is 16 bytes and the length they give.
			if len(header) < 16 || !bytes.HasPrefix(header, proxyproto.SIGV2) || len(header) != 16+int(binary.BigEndian.Uint16(header[14:16])) {
				t.Fatalf("version 2 header %x", header)
			}
		default:
			t.Fatalf("header version %d", h.Version)
		}
	})
}

// loopbackPipe is one end of a net.Pipe that says it comes from loopback.
type loopbackPipe struct{ net.Conn }

func (loopbackPipe) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }

// sendProxied sends a v1 header for src and a request on a new connection
// to addr, and returns the response status, or 0 when the connection was
// closed without one.
func sendProxied(t *testing.T, addr, src string) int {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	host, port, _ := net.SplitHostPort(src)
	fmt.Fprintf(c, "PROXY TCP4 %s 192.0.2.1 %s 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", host, port)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestProxyProtocolConfig turns the PROXY protocol on from the
// configuration file (EndpointDefaults with an endpoint's override) and
// from an environment variable, and refuses a misspelled key.
func TestProxyProtocolConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"Kestrel": {
		"EndpointDefaults": {"ProxyProtocol": {"TrustedProxies": ["10.0.0.0/8"], "HeaderTimeout": "00:00:02"}},
		"Endpoints": {"A": {"Url": "http://127.0.0.1:0", "ProxyProtocol": {"Required": true}}}}}`),
		filepath.Join(t.TempDir(), "kestrel.json"), nil, []string{"Kestrel__Endpoints__B__Url=http://127.0.0.1:0", "Kestrel__Endpoints__B__ProxyProtocol__TrustedProxies__0=127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.endpoint("A", c.Endpoints["A"])
	if err != nil {
		t.Fatal(err)
	}
	want := ProxyProtocol{TrustedProxies: []string{"10.0.0.0/8"}, Required: true, HeaderTimeout: 2 * time.Second}
	if a.ProxyProtocol == nil || fmt.Sprint(*a.ProxyProtocol) != fmt.Sprint(want) {
		t.Fatalf("endpoint A: ProxyProtocol %+v, want %+v", a.ProxyProtocol, want)
	}
	s := &Server{Logger: quietLogger, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })}
	if err := c.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addrs := s.Addresses()
	if len(addrs) != 2 {
		t.Fatalf("addresses %q", addrs)
	}
	var okA, okB int
	for _, u := range addrs {
		a := strings.TrimPrefix(u, "http://")
		// A trusts 10.0.0.0/8 only: the loopback client's header is
		// refused; B (from the environment) trusts 127.0.0.1.
		switch sendProxied(t, a, "203.0.113.1:1") {
		case 200:
			okB++
		case 0:
			okA++
		}
	}
	if okA != 1 || okB != 1 {
		t.Fatalf("one endpoint should refuse the header and the other serve it: refused %d, served %d", okA, okB)
	}

	_, err = ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0", "ProxyProtocol": {"TrustedProxys": ["10.0.0.1"]}}}}}`), "kestrel.json", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "TrustedProxies") {
		t.Fatalf("misspelled key: err = %v, want a did-you-mean naming TrustedProxies", err)
	}
	c, err = ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0", "ProxyProtocol": {"TrustedProxies": ["10.0.0.300"]}}}}}`), "kestrel.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(&Server{Logger: quietLogger}); err == nil || !strings.Contains(err.Error(), "10.0.0.300") {
		t.Fatalf("bad address: err = %v", err)
	}
}

// TestProxyProtocolReload turns the PROXY protocol on by Reload: new
// connections are read with it.
func TestProxyProtocolReload(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })
	s, _ := startConfigured(t, h, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	a := addrOf(t, s, "http://127.0.0.1:")
	if got := sendProxied(t, a, "203.0.113.1:1"); got != 400 {
		t.Fatalf("without ProxyProtocol, a header is a bad request: got %d", got)
	}
	reloadJSON(t, s, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0", "ProxyProtocol": {"Required": true}}}}}`)
	a = addrOf(t, s, "http://127.0.0.1:")
	if got := sendProxied(t, a, "203.0.113.1:1"); got != 200 {
		t.Fatalf("after Reload turned ProxyProtocol on: got %d", got)
	}
}

// TestProxyProtocolEndReasons counts each refusal in
// kestrel.connection.duration's error.type and logs it at Debug only.
func TestProxyProtocolEndReasons(t *testing.T) {
	reader, mp := metricstest.New()
	rec, log := newLogRecorder(slog.LevelDebug)
	s := &Server{MeterProvider: mp, Logger: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{TrustedProxies: []string{"127.0.0.2"}, Required: true, HeaderTimeout: 300 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	for _, tc := range []struct {
		input, reason string
	}{
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n", "proxy_protocol_untrusted"},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "proxy_protocol_missing"},
		{"PROXY TCP4 1.2.3.4\r\n\r\n", "proxy_protocol_invalid"},
		{string(proxyV2(t, "1.2.3.4:1", "5.6.7.8:2")[:20]), "proxy_protocol_timeout"}, // half a v2 header
	} {
		c := dial(t, addr)
		io.WriteString(c, tc.input)
		io.ReadAll(c)
		c.Close()
		waitMetric(t, reader, "kestrel.connection.duration", map[string]string{"error.type": tc.reason, "server.port": portOf(addr)}, 1)
	}
	e := rec.events("ProxyProtocolRefused")
	if len(e) != 4 {
		t.Fatalf("%d ProxyProtocolRefused events, want 4: %+v", len(e), e)
	}
	for _, ev := range e {
		if ev.level != slog.LevelDebug || ev.attrs["ConnectionId"] == "" {
			t.Errorf("event %+v, want Debug with a ConnectionId", ev)
		}
	}
}

// TestProxyProtocolAccessLogAndNative checks the header's address in the
// access log line and in the native API.
func TestProxyProtocolAccessLogAndNative(t *testing.T) {
	var buf lockedBuffer
	type seenNative struct {
		remote string
		h      *ProxyHeader
	}
	native := make(chan seenNative, 1)
	s := &Server{Logger: quietLogger,
		Handler: accesslog.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), accesslog.Options{Writer: &buf}),
	}
	s.NativeHandler = NativeHandlerFunc(func(c *Context) {
		if string(c.Path()) == "/native" {
			native <- seenNative{c.RemoteAddr().String(), ProxyHeaderFromContext(c.Context())}
			c.WriteString("n")
			return
		}
		c.ServeHTTP(s.Handler)
	})
	addr := startEndpoint(t, s, Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{Required: true}})
	c := dial(t, addr)
	defer c.Close()
	c.Write(append(proxyV2(t, "198.51.100.44:6000", "192.0.2.1:80"), "GET /logged HTTP/1.1\r\nHost: x\r\n\r\nGET /native HTTP/1.1\r\nHost: x\r\n\r\n"...))
	br := bufio.NewReader(c)
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	got := <-native
	if got.remote != "198.51.100.44:6000" || got.h == nil || got.h.Version != 2 {
		t.Fatalf("native: RemoteAddr %q, header %+v", got.remote, got.h)
	}
	if line := buf.String(); !strings.HasPrefix(line, "198.51.100.44 ") {
		t.Fatalf("access log line %q does not begin with the client's address", line)
	}
}

func proxyGetRequest(url string) *http.Request {
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// memConn is a connection whose reads come from a buffer, for the
// header path's benchmark.
type memConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *memConn) Read(p []byte) (int, error)      { return c.r.Read(p) }
func (c *memConn) SetReadDeadline(time.Time) error { return nil }
func (c *memConn) RemoteAddr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
func (c *memConn) LocalAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

// BenchmarkProxyHeader reads a v1 and a v2 header followed by a request,
// as a connection on a PROXY protocol endpoint begins.
func BenchmarkProxyHeader(b *testing.B) {
	pol, err := (&ProxyProtocol{}).compile("bench")
	if err != nil {
		b.Fatal(err)
	}
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"v1", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 40001 443\r\n" + req)},
		{"v2", append(proxyV2(b, "198.51.100.9:51234", "192.0.2.1:443"), req...)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			c := &memConn{r: bytes.NewReader(nil)}
			for b.Loop() {
				c.r.Reset(tc.input)
				nc, _, _, err := readProxyHeader(pol, c)
				if err != nil || nc.(*proxyConn).takeRest() == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestProxyProtocolOptionalSlowRequest: on an endpoint where the header is
// optional, a request whose first bytes already differ from both
// signatures ("PO" of a POST, a CRLF before a request line) is served
// however slowly the rest comes: only those first bytes must arrive within
// HeaderTimeout (it was dropped, counted as a header timeout).
func TestProxyProtocolOptionalSlowRequest(t *testing.T) {
	t.Parallel()
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{HeaderTimeout: 300 * time.Millisecond}})
	for _, first := range []string{"POST /x", "\r\nGET /x", "PUT /x"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, first)
		time.Sleep(600 * time.Millisecond)
		method, _, _ := strings.Cut(strings.TrimSpace(first), " ")
		io.WriteString(c, " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s sent slowly: %v %v", method, resp, err)
		}
		wantSeen(t, seen, c.LocalAddr().String())
	}
}

// TestProxyProtocolAltSvcOfItsEndpoint: Alt-Svc is the endpoint's own, by
// the socket the connection was accepted on: a PROXY header's destination
// (the balancer's address) that happens to name the port of another
// endpoint, one serving HTTP/3, does not give an endpoint without HTTP/3
// that one's Alt-Svc.
func TestProxyProtocolAltSvcOfItsEndpoint(t *testing.T) {
	t.Parallel()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, Handler: okHandler()}
	if err := s.ListenEndpoint(Endpoint{Address: "0.0.0.0:0", Protocols: HTTP1AndHTTP2AndHTTP3, HTTPS: &HTTPS{Certificate: cert}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{Certificate: cert}, ProxyProtocol: &ProxyProtocol{Required: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addrs := s.Addresses()
	_, h3port, _ := net.SplitHostPort(strings.TrimPrefix(addrs[0], "https://"))
	raw := dial(t, strings.TrimPrefix(addrs[1], "https://"))
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	raw.Write(proxyV2(t, "198.51.100.9:1234", "192.0.2.1:"+h3port))
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("an endpoint without HTTP/3 behind a PROXY header answered Alt-Svc %q (the HTTP/3 endpoint's)", v)
	}
}

// TestProxyProtocolTrustedMappedNetwork: a TrustedProxies range written in
// the IPv4-mapped form ("::ffff:10.0.0.0/104", as ASP.NET writes its
// known networks) trusts the IPv4 balancers it holds, as a single mapped
// address ("::ffff:10.0.0.5") already did.
func TestProxyProtocolTrustedMappedNetwork(t *testing.T) {
	pol, err := (&ProxyProtocol{TrustedProxies: []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.9"}}).compile("test")
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{"10.0.0.5": true, "::ffff:10.1.2.3": true, "11.0.0.1": false, "192.0.2.9": true, "::a00:5": false} {
		if got := pol.trusts(&net.TCPAddr{IP: net.ParseIP(ip), Port: 1}); got != want {
			t.Errorf("%s trusted: %v, want %v", ip, got, want)
		}
	}
}
