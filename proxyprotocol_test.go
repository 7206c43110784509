package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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
func startProxyServer(t *testing.T, ep Endpoint) (string, chan proxySeen) {
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
// all reach the engine.
func TestProxyProtocolKeepAlive(t *testing.T) {
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{}})
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
// write (h2c with prior knowledge).
func TestProxyProtocolH2C(t *testing.T) {
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{Required: true}})
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

// TestProxyProtocolRefused sends bad input on raw connections: each is
// closed without a response and the handler is never called.
func TestProxyProtocolRefused(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	good := proxyV2(t, "198.51.100.9:1", "192.0.2.1:2")
	badSig := append([]byte{}, good...)
	badSig[11] ^= 0xff // the signature's last byte
	tooLong := append([]byte{}, good[:14]...)
	tooLong = binary.BigEndian.AppendUint16(tooLong, 0xffff)
	tooLong = append(tooLong, make([]byte, 8000)...)
	for _, tc := range []struct {
		name  string
		pp    ProxyProtocol
		input []byte
	}{
		{"untrusted", ProxyProtocol{TrustedProxies: []string{"10.0.0.0/8"}}, append(good, req...)},
		{"untrusted-required", ProxyProtocol{TrustedProxies: []string{"192.0.2.77"}, Required: true}, append(good, req...)},
		{"missing", ProxyProtocol{Required: true}, []byte(req)},
		{"truncated-v1", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.4\r\n" + req)},
		{"crlf-injected-v1", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.4\r\n5.6.7.8 1 2\r\n" + req)},
		{"v1-bad-address", ProxyProtocol{}, []byte("PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n" + req)},
		{"v1-too-long", ProxyProtocol{}, []byte("PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n" + req)},
		{"v2-wrong-signature", ProxyProtocol{Required: true}, append(badSig, req...)},
		{"v2-length-beyond-limit", ProxyProtocol{}, tooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pp := tc.pp
			addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &pp})
			c := dial(t, addr)
			defer c.Close()
			c.Write(tc.input)
			b, err := io.ReadAll(c)
			if len(b) != 0 {
				t.Fatalf("got a response %q (%v), want the connection closed", b, err)
			}
			select {
			case s := <-seen:
				t.Fatalf("the handler was called: %+v", s)
			default:
			}
		})
	}
}

// TestProxyProtocolOptional serves a connection without a header on an
// endpoint that does not require one, with the socket's address.
func TestProxyProtocolOptional(t *testing.T) {
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{TrustedProxies: []string{"10.0.0.0/8"}}})
	c := dial(t, addr)
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, seen, c.LocalAddr().String())
}

// TestProxyProtocolLocal serves a v2 LOCAL header (a balancer's health
// check) and an UNSPEC one with the socket's addresses.
func TestProxyProtocolLocal(t *testing.T) {
	addr, seen := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{Required: true}})
	local, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]byte{local, []byte("PROXY UNKNOWN\r\n")} {
		c := dial(t, addr)
		c.Write(append(append([]byte{}, h...), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		got := wantSeen(t, seen, c.LocalAddr().String())
		if got.header == nil || got.header.Source != nil {
			t.Fatalf("header %+v, want one without a source", got.header)
		}
		c.Close()
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

// TestProxyProtocolHalfHeaders opens many connections that each send half
// a header: each is closed by the header timeout, and the goroutines
// return to their number before.
func TestProxyProtocolHalfHeaders(t *testing.T) {
	base := runtime.NumGoroutine()
	addr, _ := startProxyServer(t, Endpoint{ProxyProtocol: &ProxyProtocol{HeaderTimeout: 500 * time.Millisecond}})
	const n = 300
	conns := make([]net.Conn, 0, n)
	half := proxyV2(t, "198.51.100.9:1", "192.0.2.1:2")[:20]
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(half)
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
			t.Fatalf("read %q, %v; want the connection closed by the server", b, err)
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
		if !bytes.HasSuffix(rest, []byte("TAIL")) {
			t.Fatalf("header %+v: rest %q lost bytes", h, rest)
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
		{string(proxyV2(t, "1.2.3.4:1", "5.6.7.8:2")[:20]), "proxy_protocol_timeout"}, // half a v2 header (go-proxyproto refuses a v1 line split across reads at once)
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
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", ProxyProtocol: &ProxyProtocol{Required: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
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
