package app

import (
	"context"
	"crypto/tls"

	"github.com/kestrel-go/kestrel/internal/httpsyntax"
)

// nativeState is what the native path adds to an exchange: a request
// context made on demand and trailers.
type nativeState struct {
	ctx     *RequestContext
	stop    func() bool // stops the parent's AfterFunc
	trailer []string    // name, value, name, value...
}

// Context returns the request's context on the native path, made on first
// use: it is cancelled when the handler returns, and aborted when the
// client goes away or resets the stream, as an *http.Request's context is.
func (ex *Exchange) Context() context.Context {
	n := &ex.native
	if n.ctx != nil {
		return n.ctx
	}
	parent := ex.Parent
	if parent == nil {
		parent = ex.cfg.BaseContext
	}
	ctx := &RequestContext{parent: parent, ex: ex}
	if parent.Done() != nil {
		n.stop = context.AfterFunc(parent, ctx.Cancel)
	}
	n.ctx = ctx
	ex.s.SetRequestContext(ctx)
	return ctx
}

// endContext ends the native request context, if one was made, as the
// handler returns.
func (ex *Exchange) endContext() {
	n := &ex.native
	if n.ctx == nil {
		return
	}
	ex.s.SetRequestContext(nil)
	n.ctx.Cancel()
	n.ctx.detach()
	if n.stop != nil {
		n.stop()
	}
	n.ctx, n.stop = nil, nil
}

// AddTrailer adds a response trailer field on the native path: HTTP/2 and
// HTTP/3 send it in the trailing HEADERS, HTTP/1.1 in the last chunk. A
// response with trailers has no Content-Length. Names that are not tokens,
// or that name a field a trailer must not carry (Content-Length, Host,
// Content-Type...: httpsyntax.ValidTrailerName), are ignored; control
// bytes in values become spaces.
func (ex *Exchange) AddTrailer(name, value string) {
	if ex.hijacked || !httpsyntax.ValidTrailerName(name) {
		return
	}
	if !ex.committed {
		ex.streaming = true
	}
	n := &ex.native
	n.trailer = append(n.trailer, name, httpsyntax.SanitizeValue(value))
}

// TLS is the connection's TLS state, or nil on a connection without TLS.
func (ex *Exchange) TLS() *tls.ConnectionState {
	if tc, ok := ex.s.NetConn().(tlsConn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}
