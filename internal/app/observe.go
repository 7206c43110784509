package app

import "crypto/tls"

// Read-only views of an exchange, for the server's metrics and logs.

// ResponseStatus is the status of the response the client gets: after the
// handler returned, a request whose body was refused (too large, too
// slow) and whose response had not started is answered with the refusal's
// status instead of the handler's.
func (ex *Exchange) ResponseStatus() int {
	if ex.rejected != nil && !ex.committed {
		return ex.rejected.Status
	}
	return ex.status
}

// Secure reports whether the request arrived over TLS.
func (ex *Exchange) Secure() bool {
	_, ok := ex.s.NetConn().(*tls.Conn)
	return ok
}

// Pattern is the route pattern that matched the request in an
// http.ServeMux (Request.Pattern, which ServeMux sets on the request the
// engine built), or "" when the exchange was not served through an
// http.Handler or no pattern matched.
func (ex *Exchange) Pattern() string {
	if ex.std != nil && ex.std.req != nil {
		return ex.std.req.Pattern
	}
	return ""
}
