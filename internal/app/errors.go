package app

import "net/http"

// RequestError is a request the server rejects itself: the status it is
// answered with and the reason it is logged with.
type RequestError struct {
	Status int
	Reason string
	Allow  string // the Allow header of a 405, if any
}

func (e *RequestError) Error() string {
	return http.StatusText(e.Status) + ": " + e.Reason
}

// Reject returns a RequestError. Rejections are package-level values,
// never modified, so that rejecting allocates nothing.
func Reject(status int, reason string) *RequestError {
	return &RequestError{Status: status, Reason: reason}
}

// The rejections the application layer makes itself; protocols return
// their own from ReadBody.
var (
	ErrBodyTooLarge     = Reject(http.StatusRequestEntityTooLarge, "request body too large")
	ErrInvalidTarget    = Reject(http.StatusBadRequest, "invalid request target")
	ErrBodyTimeout      = Reject(http.StatusRequestTimeout, "request body timeout")
	ErrUnexpectedEOF    = Reject(http.StatusBadRequest, "connection closed before the request body ended")
	ErrBodyLengthDiffer = Reject(http.StatusBadRequest, "request body length differs from its Content-Length")
)
