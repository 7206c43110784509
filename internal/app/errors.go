package app

import (
	"net/http"

	"github.com/kestrel-go/kestrel/internal/metrics"
)

// RequestError is a request the server rejects itself: the status it is
// answered with, the reason it is logged with, and the reason the
// connection ends for (Kestrel's connection end reason, for metrics).
type RequestError struct {
	Status int
	Reason string
	Allow  string         // the Allow header of a 405, if any
	End    metrics.Reason // why the connection ends
}

func (e *RequestError) Error() string {
	return http.StatusText(e.Status) + ": " + e.Reason
}

// Reject returns a RequestError that ends its connection for end.
// Rejections are package-level values, never modified, so that rejecting
// allocates nothing.
func Reject(status int, reason string, end metrics.Reason) *RequestError {
	return &RequestError{Status: status, Reason: reason, End: end}
}

// The rejections the application layer makes itself; protocols return
// their own from ReadBody.
var (
	ErrBodyTooLarge  = Reject(http.StatusRequestEntityTooLarge, "request body too large", metrics.MaxRequestBodySizeExceeded)
	ErrInvalidTarget = Reject(http.StatusBadRequest, "invalid request target", metrics.InvalidRequestLine)
	ErrBodyTimeout   = Reject(http.StatusRequestTimeout, "request body timeout", metrics.MinRequestBodyDataRate)
	ErrUnexpectedEOF = Reject(http.StatusBadRequest, "connection closed before the request body ended", metrics.UnexpectedEndOfRequestContent)
)

// ConnInfo is what the server knows of a connection for its logs and
// metrics, shared by its engine and the exchanges it serves.
type ConnInfo struct {
	ID      string             // Kestrel-style connection id, unique in the process
	Reason  *metrics.EndReason // why the connection ends: the first error recorded wins
	Metrics *metrics.Endpoint  // the endpoint's instruments; nil records nothing
}

// RequestQueued counts a stream of a multiplexed connection that waits
// for its handler to start (kestrel.queued_requests); RequestStarted
// counts it out.
func (ci *ConnInfo) RequestQueued(p metrics.Protocol) {
	if ci != nil {
		ci.Metrics.RequestQueuedStart(p)
	}
}

// RequestStarted counts out a stream RequestQueued counted, as its handler
// starts.
func (ci *ConnInfo) RequestStarted(p metrics.Protocol) {
	if ci != nil {
		ci.Metrics.RequestQueuedStop(p)
	}
}

// End records why the connection ends, if nothing recorded an error yet.
func (ci *ConnInfo) End(r metrics.Reason) {
	if ci != nil && ci.Reason != nil {
		ci.Reason.Set(r)
	}
}

// ConnID is the connection id, or "" without ConnInfo.
func (ci *ConnInfo) ConnID() string {
	if ci == nil {
		return ""
	}
	return ci.ID
}
