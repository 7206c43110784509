package kestrel

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/http1"
	"github.com/kestrel-go/kestrel/internal/http2"
	"github.com/kestrel-go/kestrel/internal/http3"
	"github.com/kestrel-go/kestrel/internal/transport"
)

// socket is a bound listening socket and its accept loop. The endpoint it
// serves, its listener, can change (Reload) while it keeps accepting.
type socket struct {
	net.Listener
	ctx     context.Context // the base of its connections' contexts (BaseContext)
	systemd bool            // passed by systemd socket activation
	stopped atomic.Bool     // closed on purpose: its accept loop ends quietly
	done    chan struct{}   // closed when its accept loop has ended; nil until it starts

	// conns counts its connections against MaxConcurrentConnections (a
	// sibling of Server.counter): as Kestrel's limit is a middleware of
	// each binding, each socket has a count of its own, which it keeps
	// when a reload hands it to another listener.
	conns *transport.Counter

	mu sync.Mutex
	l  *listener // the endpoint served now
}

// Accept accepts a connection for the listener the socket serves now, and
// counts it as on its way to that listener.
func (sk *socket) Accept() (net.Conn, error) {
	c, err := sk.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sk.mu.Lock()
	l := sk.l
	l.pending.Add(1)
	sk.mu.Unlock()
	return &accepted{Conn: c, l: l}, nil
}

// stop closes the socket on purpose.
func (sk *socket) stop() {
	sk.stopped.Store(true)
	sk.Close()
}

// systemdListener serves a systemd socket that no endpoint took, as HTTP.
func systemdListener(sk *socket) *listener {
	return &listener{sock: sk, ep: endpoint{url: "systemd socket " + sk.Addr().String(), scheme: "http", port: -1}}
}

// unclaimedSystemd reports whether l serves a systemd socket that no
// endpoint took.
func (l *listener) unclaimedSystemd() bool {
	return l.sock != nil && l.sock.systemd && l.ep.from == nil
}

// closeIfClosing makes the response say Connection: close, and so end its
// connection, once l is stopping and if the head is not sent yet; during
// the drain delay, not while the client pipelined more requests behind
// this one: those were sent, and are answered before the last of them
// says Connection: close.
func (l *listener) closeIfClosing(ex *app.Exchange) {
	if l.closing.Load() && !ex.Committed() {
		if p, ok := ex.Stream().(interface{ Pipelined() bool }); ok && l.delaying.Load() && p.Pipelined() {
			return
		}
		ex.SetHeader("Connection", "close")
	}
}

// protocolConfig returns the configurations of the HTTP/1.x, HTTP/2 and
// HTTP/3 connections l accepts from now on: the settings' limits, and l's
// handler, which says Connection: close once l is stopping.
func (s *Server) protocolConfig(l *listener, st activeSettings) (*http1.Config, *http2.Config, *http3.Config) {
	limits := st.limits
	serve := s.appHandler()
	handler := func(ex *app.Exchange) {
		l.closeIfClosing(ex)
		serve(ex)
		l.closeIfClosing(ex) // the head of a buffered response is still to be sent
	}
	if l.tls == nil {
		// HTTP-01: the CA's requests are answered ahead of the app, once
		// an endpoint has ACME (Start or a later Reload).
		next := handler
		handler = func(ex *app.Exchange) {
			if s.acme.used.Load() && bytes.HasPrefix(ex.Path(), []byte(acmeChallengePath)) {
				ex.ServeHTTP(s.acmeHTTPChallenge())
				return
			}
			next(ex)
		}
	}
	if s.metrics != nil {
		handler = s.measureRequests(handler)
	}
	bodyLimit := limits.MaxRequestBodySize
	if bodyLimit == NoRequestBody {
		bodyLimit = 0
	}
	appCfg := &app.Config{
		Logger:             s.log,
		Heartbeat:          s.hb,
		ServerHeader:       st.serverHeader,
		MaxRequestBodySize: bodyLimit,
		Handler:            handler,
		Workers:            s.workers,
	}
	cfg := &http1.Config{
		App:                        appCfg,
		MaxRequestLineSize:         limits.MaxRequestLineSize,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		MinRequestBodyRate:         limits.MinRequestBodyDataRate.engine(),
		MinResponseRate:            limits.MinResponseDataRate.engine(),
		Upgrades:                   s.upgrades,
		Upgraded:                   s.trackUpgraded,
		Parker:                     s.parker,
		NoKeepAlives:               &s.keepAlivesOff,
		OnState:                    s.connState,
	}
	h2 := limits.Http2
	maxOutput := limits.MaxResponseBufferSize
	if maxOutput <= 0 {
		maxOutput = 1 << 30 // Unlimited
	}
	h2cfg := &http2.Config{
		App:                        appCfg,
		MaxStreams:                 h2.MaxStreamsPerConnection,
		HeaderTableSize:            h2.HeaderTableSize,
		MaxFrameSize:               h2.MaxFrameSize,
		MaxRequestHeaderFieldSize:  h2.MaxRequestHeaderFieldSize,
		InitialConnectionWindow:    h2.InitialConnectionWindowSize,
		InitialStreamWindow:        h2.InitialStreamWindowSize,
		KeepAlivePingDelay:         h2.KeepAlivePingDelay,
		KeepAlivePingTimeout:       h2.KeepAlivePingTimeout,
		PingPolicy:                 s.clientPingPolicy(h2.ClientPingPolicy),
		MaxRequestLineSize:         limits.MaxRequestLineSize,
		MaxRequestHeadersTotalSize: limits.MaxRequestHeadersTotalSize,
		MaxRequestHeaderCount:      limits.MaxRequestHeaderCount,
		KeepAliveTimeout:           limits.KeepAliveTimeout,
		RequestHeadersTimeout:      limits.RequestHeadersTimeout,
		MinRequestBodyRate:         cfg.MinRequestBodyRate,
		MinResponseRate:            cfg.MinResponseRate,
		MaxOutput:                  int(min(maxOutput, 1<<30)),
		Parker:                     s.parker,
		ConnectProtocol:            l.ep.opts.EnableWebSocketsOverHTTP2,
		Upgrades:                   s.upgrades,
		Released:                   &cfg.Released,
	}
	h3cfg := newHTTP3Config(appCfg, limits)
	h3cfg.ConnectProtocol = l.ep.opts.EnableWebSocketsOverHTTP2
	h3cfg.Upgrades = s.upgrades
	return cfg, h2cfg, h3cfg
}

// appHandler returns what serves an exchange: the native handler, or the
// http.Handler (404 for everything without one). A Handler that also
// implements NativeHandler (grpcserver.Server does) is served natively.
func (s *Server) appHandler() func(*app.Exchange) {
	native, handler := s.NativeHandler, s.Handler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	if nh, ok := handler.(NativeHandler); ok && native == nil {
		native = nh
	}
	// options answers OPTIONS * (the asterisk form, which every protocol's
	// parser allows with OPTIONS only); nil: the handlers do.
	var options http.Handler
	if !s.DisableGeneralOptionsHandler {
		options = s.advertiseHTTP3(generalOptionsHandler{})
	}
	if native != nil {
		return func(ex *app.Exchange) {
			if options != nil && ex.Req.Form == app.AsteriskForm {
				ex.ServeHTTP(options)
				return
			}
			s.advertiseHTTP3Native(ex)
			native.ServeKestrel(nativeContext(ex))
		}
	}
	handler = s.advertiseHTTP3(handler)
	return func(ex *app.Exchange) {
		if options != nil && ex.Req.Form == app.AsteriskForm {
			ex.ServeHTTP(options)
			return
		}
		ex.ServeHTTP(handler)
	}
}

// clientPingPolicy is the HTTP/2 ping policy: the limits', or else the
// one the handler brings.
func (s *Server) clientPingPolicy(p ClientPingPolicy) http2.PingPolicy {
	type policyHandler interface{ ClientPingPolicy() ClientPingPolicy }
	if p.MinInterval == 0 {
		if ph, ok := s.NativeHandler.(policyHandler); ok {
			p = ph.ClientPingPolicy()
		} else if ph, ok := s.Handler.(policyHandler); ok {
			p = ph.ClientPingPolicy()
		}
	}
	return http2.PingPolicy{MinInterval: p.MinInterval, PermitWithoutStream: p.PermitWithoutStream}
}

// claim takes from pool the socket bound where ep listens, if there is one.
func claim(pool *[]*socket, ep *endpoint) *socket {
	for i, sk := range *pool {
		if ep.boundTo(sk.Addr()) {
			*pool = slices.Delete(*pool, i, i+1)
			return sk
		}
	}
	return nil
}

// boundTo reports whether a socket bound to a is where ep listens: the
// same Unix socket file (however its path is spelled: through a symbolic
// link such as /var/run, or with "/./"), or the same IP address and port.
// The socket of an endpoint on every address may be IPv4-only (where
// there is no IPv6), and an endpoint on port 0 takes a socket on any port
// of its address (the port picked before).
func (ep *endpoint) boundTo(a net.Addr) bool {
	switch a := a.(type) {
	case *net.UnixAddr:
		return ep.network == "unix" && (a.Name == ep.address || sameFile(a.Name, ep.address))
	case *net.TCPAddr:
		if !strings.HasPrefix(ep.network, "tcp") || ep.port != 0 && a.Port != ep.port {
			return false
		}
		if ep.anyIP {
			return a.IP.IsUnspecified()
		}
		host, _, _ := net.SplitHostPort(ep.address)
		// A zone (fe80::1%eth0) is no part of the address, and a
		// listener's address comes without it: zones differ only when
		// both are known.
		host, zone, _ := strings.Cut(host, "%")
		ip := net.ParseIP(host)
		return ip != nil && ip.Equal(a.IP) && (ip.To4() == nil) == (a.IP.To4() == nil) && (a.Zone == "" || zone == "" || a.Zone == zone)
	}
	return false
}

// sameFile reports whether paths a and b name the same file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
