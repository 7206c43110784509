package http1

import (
	"net/http"

	"github.com/kestrel-go/kestrel/internal/app"
)

// RequestError is a request the server rejects before the handler sees it:
// the status it is answered with and the reason it is logged with. The
// answer carries Content-Length: 0 and Connection: close, then the
// connection closes, as Kestrel does.
type RequestError = app.RequestError

func rejection(status int, reason string) *RequestError { return app.Reject(status, reason) }

// The reasons a request is rejected. They are values, never modified, so
// rejecting allocates nothing.
var (
	errRequestLineTooLong   = rejection(http.StatusRequestURITooLong, "request line too long")
	errHeadersTooLarge      = rejection(http.StatusRequestHeaderFieldsTooLarge, "request headers too large")
	errTooManyHeaders       = rejection(http.StatusRequestHeaderFieldsTooLarge, "too many request headers")
	errInvalidRequestLine   = rejection(http.StatusBadRequest, "invalid request line")
	errInvalidMethod        = rejection(http.StatusBadRequest, "invalid method")
	errInvalidTarget        = app.ErrInvalidTarget
	errInvalidVersion       = rejection(http.StatusBadRequest, "invalid HTTP version")
	errUnsupportedVersion   = rejection(http.StatusHTTPVersionNotSupported, "unsupported HTTP version")
	errBareLF               = rejection(http.StatusBadRequest, "line ends in LF without CR")
	errBareCR               = rejection(http.StatusBadRequest, "CR not followed by LF")
	errObsFold              = rejection(http.StatusBadRequest, "obsolete line folding in header")
	errInvalidHeaderName    = rejection(http.StatusBadRequest, "invalid header name")
	errInvalidHeaderValue   = rejection(http.StatusBadRequest, "invalid character in header value")
	errMissingHost          = rejection(http.StatusBadRequest, "missing Host header")
	errMultipleHosts        = rejection(http.StatusBadRequest, "more than one Host header")
	errInvalidHost          = rejection(http.StatusBadRequest, "invalid Host header")
	errHostMismatch         = rejection(http.StatusBadRequest, "Host header does not match the absolute-form target")
	errInvalidContentLength = rejection(http.StatusBadRequest, "invalid Content-Length")
	errMultipleContentLen   = rejection(http.StatusBadRequest, "conflicting Content-Length headers")
	errChunkedNotFinal      = rejection(http.StatusBadRequest, "final transfer coding is not chunked")
	errInvalidTE            = rejection(http.StatusBadRequest, "invalid Transfer-Encoding")
	errUnknownCoding        = rejection(http.StatusNotImplemented, "unsupported transfer coding")
	errTEWithContentLength  = rejection(http.StatusBadRequest, "both Transfer-Encoding and Content-Length")
	errTEInHTTP10           = rejection(http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request")
	errHeadersTimeout       = rejection(http.StatusRequestTimeout, "request headers timeout")
	errConnectRequired      = &RequestError{Status: http.StatusMethodNotAllowed, Reason: "authority-form target needs CONNECT", Allow: "CONNECT"}
	errOptionsRequired      = &RequestError{Status: http.StatusMethodNotAllowed, Reason: "asterisk-form target needs OPTIONS", Allow: "OPTIONS"}

	// Body errors: the handler's Read returns them.
	errInvalidChunk     = rejection(http.StatusBadRequest, "invalid chunked body")
	errTrailersTooLarge = rejection(http.StatusRequestHeaderFieldsTooLarge, "request trailers too large")
	errBodyTimeout      = app.ErrBodyTimeout
)

// errHTTP2Preface marks a connection that opened with the HTTP/2 preface.
var errHTTP2Preface = rejection(http.StatusHTTPVersionNotSupported, "HTTP/2 connection preface on an HTTP/1.1 endpoint")
