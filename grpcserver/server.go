// Package grpcserver serves gRPC services on this module's server, as
// ASP.NET Core's Grpc.AspNetCore serves them on Kestrel: the services
// grpc-go's generated code registers (pb.RegisterXServer(s, impl)) run on
// the server's own HTTP/2 and HTTP/3 streams, without grpc-go's transport.
//
// A Server is an http.Handler, so it serves gRPC on any HTTP/2 server
// (net/http's included), and a kestrel.NativeHandler: set as a
// kestrel.Server's Handler (or called from a NativeHandler) it serves each
// call on the stream's own goroutine, without an *http.Request, with
// pooled message buffers, and the reply of a unary call, its trailers and
// the stream's end in one write. It also answers gRPC-Web (binary and
// text) over HTTP/1.1, HTTP/2 and HTTP/3.
//
// It is built on grpc-go's public API only: grpc.ServiceDesc handlers,
// grpc.ServerStream and grpc.ServerTransportStream (so grpc.SetHeader,
// grpc.SendHeader and grpc.SetTrailer work), metadata, status, the encoding
// package's codecs and compressors, peer and stats.
package grpcserver

import (
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/kestrel-go/kestrel"
)

// DefaultMaxRecvMsgSize is the largest message a Server receives unless
// MaxRecvMsgSize says otherwise: 4 MiB, as grpc-go's server.
const DefaultMaxRecvMsgSize = 4 << 20

// An Option configures a Server.
type Option func(*Server)

// MaxRecvMsgSize sets the largest message the server receives, in bytes
// (after decompression); a larger one fails the call with
// RESOURCE_EXHAUSTED. The default is DefaultMaxRecvMsgSize.
func MaxRecvMsgSize(n int) Option { return func(s *Server) { s.maxRecv = n } }

// MaxSendMsgSize sets the largest message the server sends, in bytes; a
// larger one fails the call with RESOURCE_EXHAUSTED. The default is
// DefaultMaxSendMsgSize, as grpc-go's server; a limit beyond what a
// message's 32-bit length prefix can say (4 GiB - 1) means that.
func MaxSendMsgSize(n int) Option { return func(s *Server) { s.maxSend = n } }

// DefaultMaxSendMsgSize is the largest message a Server sends unless
// MaxSendMsgSize says otherwise: math.MaxInt32 bytes, as grpc-go's server.
const DefaultMaxSendMsgSize = math.MaxInt32

// UnaryInterceptor adds unary interceptors; the first is the outermost.
// Several calls add to the chain.
func UnaryInterceptor(i ...grpc.UnaryServerInterceptor) Option {
	return func(s *Server) { s.unaryInts = append(s.unaryInts, i...) }
}

// StreamInterceptor adds stream interceptors; the first is the outermost.
// Several calls add to the chain.
func StreamInterceptor(i ...grpc.StreamServerInterceptor) Option {
	return func(s *Server) { s.streamInts = append(s.streamInts, i...) }
}

// StatsHandler adds a stats.Handler told of each call's events (as
// otelgrpc.NewServerHandler's handler wants them). The connection events
// (TagConn, HandleConn) are not reported: connections belong to the HTTP
// server.
func StatsHandler(h stats.Handler) Option {
	return func(s *Server) { s.statsHandlers = append(s.statsHandlers, h) }
}

// MeterProvider sets where the server's metrics go: OpenTelemetry's RPC
// semantic conventions, rpc.server.call.duration (seconds) with the
// attributes rpc.system.name ("grpc"), rpc.method and
// rpc.response.status_code.
func MeterProvider(mp metric.MeterProvider) Option {
	return func(s *Server) { s.meterProvider = mp }
}

// SendCompressor makes the server compress its responses with the named
// compressor (registered with encoding.RegisterCompressor, such as
// "gzip") whenever the client accepts it (grpc-accept-encoding). Without
// it, responses are compressed as the client's request was, as grpc-go's
// server does.
func SendCompressor(name string) Option { return func(s *Server) { s.sendCompressor = name } }

// KeepaliveEnforcementPolicy sets what the HTTP/2 connections of a
// kestrel.Server whose Handler (or NativeHandler) is this Server demand of
// their clients' PINGs, as grpc-go's server enforces it: a client pinging
// more often than p.MinTime (or, with no call in progress and
// p.PermitWithoutStream off, at all) gets GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings" at the third such PING. The default is grpc-go's: a
// MinTime of 5 minutes, PermitWithoutStream off. A zero MinTime turns the
// enforcement off; the server's Limits.Http2.ClientPingPolicy, when set,
// overrides it. grpc-go's keepalive.ServerParameters are the
// kestrel.Server's Limits: MaxConnectionAge, MaxConnectionAgeGrace, and
// Http2.KeepAlivePingDelay and KeepAlivePingTimeout.
func KeepaliveEnforcementPolicy(p keepalive.EnforcementPolicy) Option {
	return func(s *Server) { s.pingPolicy = p }
}

// DefaultKeepaliveMinTime is how often a client may ping unless
// KeepaliveEnforcementPolicy says otherwise: 5 minutes, as grpc-go.
const DefaultKeepaliveMinTime = 5 * time.Minute

// ClientPingPolicy is the HTTP/2 ping policy of the connections serving
// s, which a kestrel.Server applies when s is its Handler or
// NativeHandler.
func (s *Server) ClientPingPolicy() kestrel.ClientPingPolicy {
	return kestrel.ClientPingPolicy{MinInterval: s.pingPolicy.MinTime, PermitWithoutStream: s.pingPolicy.PermitWithoutStream}
}

// Logger sets where the server logs handler panics; nil means
// slog.Default().
func Logger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// Server serves registered gRPC services. Make one with NewServer, register
// services before serving, and serve it as an http.Handler or a
// kestrel.NativeHandler.
type Server struct {
	maxRecv        int
	maxSend        int
	unaryInts      []grpc.UnaryServerInterceptor
	streamInts     []grpc.StreamServerInterceptor
	statsHandlers  []stats.Handler
	meterProvider  metric.MeterProvider
	sendCompressor string
	logger         *slog.Logger
	pingPolicy     keepalive.EnforcementPolicy

	unaryInt  grpc.UnaryServerInterceptor  // the chain, nil without one
	streamInt grpc.StreamServerInterceptor // the chain, nil without one
	metrics   *serverMetrics

	mu       sync.Mutex
	services map[string]*service                // by service name
	methods  map[string]*method                 // by "/service/method"
	serving  atomic.Bool                        // a call was served: no more registration
	table    atomic.Pointer[map[string]*method] // a copy of methods, read without mu
	stopped  bool
	active   map[*call]struct{}
	idle     *sync.Cond // signalled when active empties
}

type service struct {
	impl     any
	methods  map[string]*method
	metadata any
	desc     *grpc.ServiceDesc
}

// method is one registered method, found by its path.
type method struct {
	service string
	name    string // "service/method", as rpc.method names it
	path    string // "/service/method"
	impl    any
	unary   *grpc.MethodDesc
	stream  *grpc.StreamDesc
}

// NewServer returns a server with no services.
func NewServer(opts ...Option) *Server {
	s := &Server{
		maxRecv:    DefaultMaxRecvMsgSize,
		maxSend:    DefaultMaxSendMsgSize,
		pingPolicy: keepalive.EnforcementPolicy{MinTime: DefaultKeepaliveMinTime},
		services:   make(map[string]*service),
		methods:    make(map[string]*method),
		active:     make(map[*call]struct{}),
	}
	s.idle = sync.NewCond(&s.mu)
	for _, o := range opts {
		o(s)
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.unaryInt = chainUnary(s.unaryInts)
	s.streamInt = chainStream(s.streamInts)
	if s.meterProvider != nil {
		s.metrics = newServerMetrics(s.meterProvider)
	}
	return s
}

// RegisterService registers a service and its implementation, as
// grpc.Server's: generated code calls it from pb.RegisterXServer. It
// panics when impl does not implement desc.HandlerType, when the service
// is registered twice, or once the server has served a call.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	if impl != nil && desc.HandlerType != nil {
		ht := reflect.TypeOf(desc.HandlerType).Elem()
		if st := reflect.TypeOf(impl); !st.Implements(ht) {
			panic(fmt.Sprintf("grpcserver: RegisterService found the handler of type %v that does not satisfy %v", st, ht))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving.Load() {
		panic(fmt.Sprintf("grpcserver: RegisterService(%q) after the server started serving", desc.ServiceName))
	}
	if _, dup := s.services[desc.ServiceName]; dup {
		panic(fmt.Sprintf("grpcserver: RegisterService found a duplicate service registration for %q", desc.ServiceName))
	}
	svc := &service{impl: impl, methods: make(map[string]*method), metadata: desc.Metadata, desc: desc}
	for i := range desc.Methods {
		d := &desc.Methods[i]
		m := &method{service: desc.ServiceName, name: desc.ServiceName + "/" + d.MethodName, impl: impl, unary: d}
		m.path = "/" + m.name
		svc.methods[d.MethodName] = m
		s.methods[m.path] = m
	}
	for i := range desc.Streams {
		d := &desc.Streams[i]
		m := &method{service: desc.ServiceName, name: desc.ServiceName + "/" + d.StreamName, impl: impl, stream: d}
		m.path = "/" + m.name
		svc.methods[d.StreamName] = m
		s.methods[m.path] = m
	}
	s.services[desc.ServiceName] = svc
	// The first lookup copies the methods: a copy on each registration
	// made registering n services cost n².
	s.table.Store(nil)
}

// GetServiceInfo returns the registered services and their methods, as
// grpc.Server's (reflection.Register uses it).
func (s *Server) GetServiceInfo() map[string]grpc.ServiceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]grpc.ServiceInfo, len(s.services))
	for name, svc := range s.services {
		ms := make([]grpc.MethodInfo, 0, len(svc.desc.Methods)+len(svc.desc.Streams))
		for _, d := range svc.desc.Methods {
			ms = append(ms, grpc.MethodInfo{Name: d.MethodName})
		}
		for _, d := range svc.desc.Streams {
			ms = append(ms, grpc.MethodInfo{Name: d.StreamName, IsClientStream: d.ClientStreams, IsServerStream: d.ServerStreams})
		}
		out[name] = grpc.ServiceInfo{Methods: ms, Metadata: svc.metadata}
	}
	return out
}

// methodTable returns the copy of the methods that lookup reads without
// mu, making it if a registration dropped it. It is made once: no
// service is registered after the first call is served.
func (s *Server) methodTable() *map[string]*method {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.table.Load(); t != nil {
		return t
	}
	table := maps.Clone(s.methods)
	s.table.Store(&table)
	return &table
}

// lookup finds the method of a request path, or the status for one that
// is not there (as grpc-go words it).
func (s *Server) lookup(path []byte) (*method, *status.Status) {
	if !s.serving.Load() {
		s.serving.Store(true)
	}
	t := s.table.Load()
	if t == nil {
		t = s.methodTable()
	}
	if m := (*t)[string(path)]; m != nil {
		return m, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := string(path)
	if p != "" && p[0] == '/' {
		p = p[1:]
	}
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return nil, status.Newf(codes.Unimplemented, "malformed method name: %q", string(path))
	}
	svc, name := p[:i], p[i+1:]
	if _, ok := s.services[svc]; !ok {
		return nil, status.Newf(codes.Unimplemented, "unknown service %v", svc)
	}
	return nil, status.Newf(codes.Unimplemented, "unknown method %v for service %v", name, svc)
}

// errStopped fails the calls that arrive after Stop or GracefulStop and
// cannot be refused unprocessed.
var errStopped = status.New(codes.Unavailable, "grpc: the server has been stopped")

// begin records a call as active, or reports that the server stopped.
func (s *Server) begin(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.active[c] = struct{}{}
	return true
}

// end records that a call ended.
func (s *Server) end(c *call) {
	s.mu.Lock()
	delete(s.active, c)
	if len(s.active) == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// GracefulStop stops accepting calls and waits for the calls in progress
// to finish. As grpc-go's GracefulStop sends its connections a GOAWAY,
// a later call that comes over HTTP/2 or HTTP/3 on this module's server
// is refused unprocessed after a GOAWAY on its connection
// (kestrel.Context.RefuseStream), which grpc-go's client retries on its
// own, on another connection (another server of its balancer); over
// HTTP/1.1 (gRPC-Web) or another server it fails with UNAVAILABLE, with
// Connection: close. The HTTP server's own Shutdown closes the
// connections; call GracefulStop before it to let the calls finish
// first.
func (s *Server) GracefulStop() {
	s.mu.Lock()
	s.stopped = true
	for len(s.active) > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// Stop stops accepting calls (later ones are refused as GracefulStop
// says), cancels the contexts of the calls in progress, makes their
// reads and writes that wait for the client fail, and waits for their
// handlers to return. As with grpc-go's Stop, which closes the
// connections, their clients get UNAVAILABLE whatever the handlers
// return (a reply that waits for the client's flow-control window is
// reset instead, which grpc-go's client reports as CANCELLED).
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	for c := range s.active {
		c.stopped.Store(true)
		c.cancel()
		c.expire()
	}
	for len(s.active) > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// ServeHTTP serves a gRPC or gRPC-Web request through the standard
// handler interface, on any HTTP server; HTTP/2 (or HTTP/3) is needed for
// gRPC, gRPC-Web also works over HTTP/1.1. On this module's server, the
// Server is better set as the Handler itself (or called from a
// NativeHandler with ServeKestrel), which skips the *http.Request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := &httpTransport{w: w, r: r}
	t.rc = http.NewResponseController(w)
	t.reqBody.r = r.Body
	s.serve(t)
}

// ServeKestrel serves a gRPC or gRPC-Web request on the native path of
// this module's server.
func (s *Server) ServeKestrel(c *kestrel.Context) {
	t := nativePool.Get().(*nativeTransport)
	t.c = c
	s.serve(t)
	t.c = nil
	nativePool.Put(t)
}

var nativePool = sync.Pool{New: func() any { return new(nativeTransport) }}

// IsGRPCContentType reports whether a request's Content-Type is gRPC's
// (application/grpc, application/grpc+proto...) or gRPC-Web's
// (application/grpc-web, application/grpc-web-text, with a subtype),
// which is how a handler serving several kinds of request on one port
// tells gRPC calls apart.
func IsGRPCContentType(contentType string) bool {
	return strings.HasPrefix(contentType, "application/grpc") &&
		(len(contentType) == len("application/grpc") || contentType[len("application/grpc")] == '+' ||
			contentType[len("application/grpc")] == ';' || contentType[len("application/grpc")] == '-')
}

// now is time.Now, for the stats events.
var now = time.Now

// The interfaces a Server is used through.
var (
	_ grpc.ServiceRegistrar      = (*Server)(nil)
	_ http.Handler               = (*Server)(nil)
	_ kestrel.NativeHandler      = (*Server)(nil)
	_ grpc.ServerStream          = (*call)(nil)
	_ grpc.ServerTransportStream = (*transportStream)(nil)
)
