package kestrel

import (
	"errors"
	"net"
	"net/http"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/http1"
)

// ErrNotKestrel is returned by functions that need a request served by
// this package's server.
var ErrNotKestrel = errors.New("kestrel: the request was not served by a kestrel.Server")

// errHandlerReturned is returned by the functions that need a request's
// exchange once the request's handler has returned.
var errHandlerReturned = errors.New("kestrel: the request's handler has returned")

func exchange(r *http.Request) (*app.Exchange, error) {
	if ex := app.FromRequest(r); ex != nil {
		return ex, nil
	}
	if app.Ended(r) {
		return nil, errHandlerReturned
	}
	return nil, ErrNotKestrel
}

func checkBodySize(n int64) error {
	if n < 0 && n != Unlimited {
		return errors.New("kestrel: a body size limit must be a number of bytes or Unlimited")
	}
	return nil
}

// SetMaxRequestBodySize sets the body size limit of r, in bytes; Unlimited
// turns it off (Kestrel's IHttpMaxRequestBodySizeFeature). It fails once
// the body has started being read, and with ErrBodyLimitReadOnly for an
// upgraded request.
func SetMaxRequestBodySize(r *http.Request, n int64) error {
	if err := checkBodySize(n); err != nil {
		return err
	}
	ex, err := exchange(r)
	if err != nil {
		return err
	}
	return ex.SetMaxRequestBodySize(n)
}

// SetMinRequestBodyDataRate sets the minimum rate at which the client must
// send the body of r; the zero DataRate turns the check off for r.
func SetMinRequestBodyDataRate(r *http.Request, rate DataRate) error {
	if err := rate.check("MinRequestBodyDataRate"); err != nil {
		return err
	}
	ex, err := exchange(r)
	if err != nil {
		return err
	}
	ex.SetMinRequestBodyDataRate(rate.engine())
	return nil
}

// SetMinResponseDataRate sets the minimum rate at which the client must
// read the response to r; the zero DataRate turns the check off for r.
func SetMinResponseDataRate(r *http.Request, rate DataRate) error {
	if err := rate.check("MinResponseDataRate"); err != nil {
		return err
	}
	ex, err := exchange(r)
	if err != nil {
		return err
	}
	ex.SetMinResponseDataRate(rate.engine())
	return nil
}

// ErrBodyLimitReadOnly is what SetMaxRequestBodySize fails with for an
// extended CONNECT (a WebSocket over HTTP/2 or HTTP/3), whose stream is a
// tunnel, and for an HTTP/1.1 request once Upgrade (or Hijack) has taken
// its connection: neither has a body limit, and Kestrel's feature is
// read-only there.
var ErrBodyLimitReadOnly = app.ErrBodyLimitReadOnly

// RequestSizeLimit returns a handler that sets the body size limit of
// every request to n bytes before calling next, like ASP.NET's
// [RequestSizeLimit(n)] attribute; a WebSocket over HTTP/2 or HTTP/3 keeps
// no limit, as ASP.NET's filter leaves a read-only limit alone.
func RequestSizeLimit(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := SetMaxRequestBodySize(r, n); err != nil && !errors.Is(err, ErrNotKestrel) && !errors.Is(err, ErrBodyLimitReadOnly) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DisableRequestSizeLimit returns a handler that removes the body size
// limit of every request before calling next, like ASP.NET's
// [DisableRequestSizeLimit] attribute.
func DisableRequestSizeLimit(next http.Handler) http.Handler {
	return RequestSizeLimit(Unlimited, next)
}

// ErrUpgradeLimit is returned by Upgrade (and Hijack) when
// Limits.MaxConcurrentUpgradedConnections upgraded connections are open;
// the request can still be answered normally.
var ErrUpgradeLimit = http1.ErrUpgradeLimit

// ErrNotUpgradable is returned by Upgrade for a request that cannot be
// upgraded.
var ErrNotUpgradable = app.ErrNotUpgradable

// IsUpgradable reports whether r asks for a protocol upgrade the server
// can perform (Kestrel's IHttpUpgradeFeature.IsUpgradableRequest): HTTP/1.1,
// "Connection: upgrade", an Upgrade header, and no body; or an extended
// CONNECT over HTTP/2 or HTTP/3 (IHttpExtendedConnectFeature), whose
// :protocol is r.Header.Get(":protocol").
func IsUpgradable(r *http.Request) bool {
	ex := app.FromRequest(r)
	return ex != nil && ex.Upgradable()
}

// Upgrade answers r with 101 Switching Protocols, with the headers set on
// w (Upgrade defaults to the protocol the client asked for), and returns
// the connection, which then belongs to the caller: it has no body size
// limit, no minimum data rates and no keep-alive timeout, and counts
// against Limits.MaxConcurrentUpgradedConnections until it is closed.
// Bytes the client sent after the request are read first from the
// returned connection.
//
// An extended CONNECT over HTTP/2 (RFC 8441) or HTTP/3 (RFC 9220) is
// answered 200 instead (or the 2xx status set on w; another status set
// makes Upgrade fail, as Kestrel's AcceptAsync does, and the handler
// answers normally), sent at once, and the connection returned is the
// request's stream: reads take the request body, writes are flushed as
// response body. It counts against MaxConcurrentUpgradedConnections from
// the moment the request arrives (one over the limit is answered 503
// before the handler runs), and it ends when the handler returns, so the
// handler must use it before returning.
func Upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	ex, err := exchange(r)
	if err != nil {
		return nil, err
	}
	return ex.Upgrade()
}

// RequestID returns r's request id, as Kestrel's HttpContext.TraceIdentifier:
// the connection id, a colon and the request's number on its connection
// (HTTP/1.x: its place, from 1; HTTP/2 and HTTP/3: its stream id) in 8 upper-case
// hexadecimal digits, such as "0HNQEV7R6JMK1:00000001". It is the request id
// of the server's log events about r, and stays so after r's handler
// returns. It returns "" for a request not served by a kestrel.Server.
func RequestID(r *http.Request) string { return app.RequestIDOf(r) }
