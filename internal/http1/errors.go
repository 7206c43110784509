package http1

import (
	"net/http"

	"github.com/kestrel-go/kestrel/internal/app"
	"github.com/kestrel-go/kestrel/internal/metrics"
)

// RequestError is a request the server rejects before the handler sees it:
// the status it is answered with and the reason it is logged with. The
// answer carries Content-Length: 0 and Connection: close, then the
// connection closes, as Kestrel does.
type RequestError = app.RequestError

// The reasons a request is rejected. They are values, never modified, so
// rejecting allocates nothing. Each names Kestrel's reason for ending the
// connection.
var (
	errRequestLineTooLong   = app.Reject(http.StatusRequestURITooLong, "request line too long", metrics.InvalidRequestLine)
	errHeadersTooLarge      = app.Reject(http.StatusRequestHeaderFieldsTooLarge, "request headers too large", metrics.MaxRequestHeadersTotalSizeExceed)
	errTooManyHeaders       = app.Reject(http.StatusRequestHeaderFieldsTooLarge, "too many request headers", metrics.MaxRequestHeaderCountExceeded)
	errInvalidRequestLine   = app.Reject(http.StatusBadRequest, "invalid request line", metrics.InvalidRequestLine)
	errInvalidMethod        = app.Reject(http.StatusBadRequest, "invalid method", metrics.InvalidRequestLine)
	errInvalidTarget        = app.ErrInvalidTarget
	errInvalidVersion       = app.Reject(http.StatusBadRequest, "invalid HTTP version", metrics.InvalidHTTPVersion)
	errUnsupportedVersion   = app.Reject(http.StatusHTTPVersionNotSupported, "unsupported HTTP version", metrics.InvalidHTTPVersion)
	errBareLF               = app.Reject(http.StatusBadRequest, "line ends in LF without CR", metrics.InvalidRequestHeaders)
	errBareCR               = app.Reject(http.StatusBadRequest, "CR not followed by LF", metrics.InvalidRequestHeaders)
	errObsFold              = app.Reject(http.StatusBadRequest, "obsolete line folding in header", metrics.InvalidRequestHeaders)
	errInvalidHeaderName    = app.Reject(http.StatusBadRequest, "invalid header name", metrics.InvalidRequestHeaders)
	errInvalidHeaderValue   = app.Reject(http.StatusBadRequest, "invalid character in header value", metrics.InvalidRequestHeaders)
	errMissingHost          = app.Reject(http.StatusBadRequest, "missing Host header", metrics.InvalidRequestHeaders)
	errMultipleHosts        = app.Reject(http.StatusBadRequest, "more than one Host header", metrics.InvalidRequestHeaders)
	errInvalidHost          = app.Reject(http.StatusBadRequest, "invalid Host header", metrics.InvalidRequestHeaders)
	errHostMismatch         = app.Reject(http.StatusBadRequest, "Host header does not match the absolute-form target", metrics.InvalidRequestHeaders)
	errConnectHostMismatch  = app.Reject(http.StatusBadRequest, "Host header does not match the CONNECT target", metrics.InvalidRequestHeaders)
	errInvalidContentLength = app.Reject(http.StatusBadRequest, "invalid Content-Length", metrics.InvalidRequestHeaders)
	errMultipleContentLen   = app.Reject(http.StatusBadRequest, "conflicting Content-Length headers", metrics.InvalidRequestHeaders)
	errChunkedNotFinal      = app.Reject(http.StatusBadRequest, "final transfer coding is not chunked", metrics.InvalidRequestHeaders)
	errInvalidTE            = app.Reject(http.StatusBadRequest, "invalid Transfer-Encoding", metrics.InvalidRequestHeaders)
	errUnknownCoding        = app.Reject(http.StatusNotImplemented, "unsupported transfer coding", metrics.InvalidRequestHeaders)
	errTEWithContentLength  = app.Reject(http.StatusBadRequest, "both Transfer-Encoding and Content-Length", metrics.InvalidRequestHeaders)
	errTEInHTTP10           = app.Reject(http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request", metrics.InvalidRequestHeaders)
	errHeadersTimeout       = app.Reject(http.StatusRequestTimeout, "request headers timeout", metrics.RequestHeadersTimeout)
	errConnectRequired      = &RequestError{Status: http.StatusMethodNotAllowed, Reason: "authority-form target needs CONNECT", Allow: "CONNECT", End: metrics.InvalidRequestLine}
	errOptionsRequired      = &RequestError{Status: http.StatusMethodNotAllowed, Reason: "asterisk-form target needs OPTIONS", Allow: "OPTIONS", End: metrics.InvalidRequestLine}

	// Body errors: the handler's Read returns them.
	errInvalidChunk     = app.Reject(http.StatusBadRequest, "invalid chunked body", metrics.InvalidRequestHeaders)
	errTrailersTooLarge = app.Reject(http.StatusRequestHeaderFieldsTooLarge, "request trailers too large", metrics.MaxRequestHeadersTotalSizeExceed)
	errTooManyTrailers  = app.Reject(http.StatusRequestHeaderFieldsTooLarge, "too many request trailers", metrics.MaxRequestHeaderCountExceeded)
	errBodyTimeout      = app.ErrBodyTimeout
	errChunkLineTooLong = app.Reject(http.StatusBadRequest, "chunk line too long", metrics.InvalidRequestHeaders)
)

// errHTTP2Preface marks a connection that opened with the HTTP/2 preface.
var errHTTP2Preface = app.Reject(http.StatusHTTPVersionNotSupported, "HTTP/2 connection preface on an HTTP/1.1 endpoint", metrics.InvalidHTTPVersion)
