package metrics

import "sync/atomic"

// Reason is why a connection ended, in Kestrel's terms
// (Microsoft.AspNetCore.Connections.ConnectionEndReason). The error
// reasons become the error.type attribute of kestrel.connection.duration;
// the others describe a normal end and add nothing.
type Reason uint8

// The reasons a connection ends. Their error.type values are Kestrel's,
// listed in the OpenTelemetry semantic conventions for Kestrel.
const (
	ReasonUnset Reason = iota

	// Normal ends, not errors.
	ClientGoAway        // the client sent an HTTP/2 GOAWAY
	TransportCompleted  // the client closed the connection
	GracefulAppShutdown // the server closed it while stopping, at a request boundary
	RequestNoKeepAlive  // the request asked for Connection: close (or was HTTP/1.0)
	ResponseNoKeepAlive // the response carried Connection: close

	// Errors.
	ErrorAfterStartingResponse       // error_after_starting_response
	ConnectionReset                  // connection_reset
	FlowControlWindowExceeded        // flow_control_window_exceeded
	KeepAliveTimeout                 // keep_alive_timeout
	InsufficientTLSVersion           // insufficient_tls_version
	InvalidHandshake                 // invalid_handshake
	InvalidStreamID                  // invalid_stream_id
	FrameAfterStreamClose            // frame_after_stream_close
	UnknownStream                    // unknown_stream
	UnexpectedFrame                  // unexpected_frame
	InvalidFrameLength               // invalid_frame_length
	InvalidDataPadding               // invalid_data_padding
	InvalidRequestHeaders            // invalid_request_headers
	StreamResetLimitExceeded         // stream_reset_limit_exceeded
	InvalidWindowUpdateSize          // invalid_window_update_size
	StreamSelfDependency             // stream_self_dependency
	InvalidSettings                  // invalid_settings
	MissingStreamEnd                 // missing_stream_end
	MaxFrameLengthExceeded           // max_frame_length_exceeded
	ErrorReadingHeaders              // error_reading_headers
	ErrorWritingHeaders              // error_writing_headers
	OtherError                       // other_error
	InvalidHTTPVersion               // invalid_http_version
	RequestHeadersTimeout            // request_headers_timeout
	MinRequestBodyDataRate           // min_request_body_data_rate
	MinResponseDataRate              // min_response_data_rate
	FlowControlQueueSizeExceeded     // flow_control_queue_size_exceeded
	OutputQueueSizeExceeded          // output_queue_size_exceeded
	ClosedCriticalStream             // closed_critical_stream
	AbortedByApp                     // aborted_by_app
	WriteCanceled                    // write_canceled
	InvalidBodyReaderState           // invalid_body_reader_state
	ServerTimeout                    // server_timeout
	StreamCreationError              // stream_creation_error
	IOError                          // io_error
	AppShutdownTimeout               // app_shutdown_timeout
	TLSHandshakeFailed               // tls_handshake_failed
	InvalidRequestLine               // invalid_request_line
	TLSNotSupported                  // tls_not_supported
	MaxRequestBodySizeExceeded       // max_request_body_size_exceeded
	UnexpectedEndOfRequestContent    // unexpected_end_of_request_content
	MaxConcurrentConnectionsExceeded // max_concurrent_connections_exceeded
	MaxRequestHeadersTotalSizeExceed // max_request_headers_total_size_exceeded
	MaxRequestHeaderCountExceeded    // max_request_header_count_exceeded
	ResponseContentLengthMismatch    // response_content_length_mismatch
	ProxyProtocolUntrusted           // proxy_protocol_untrusted: a PROXY header from an address not trusted
	ProxyProtocolMissing             // proxy_protocol_missing: no PROXY header where one is required
	ProxyProtocolInvalid             // proxy_protocol_invalid: a malformed PROXY header
	ProxyProtocolTimeout             // proxy_protocol_timeout: the PROXY header did not arrive in time
	ConnectionRefused                // connection_refused: a connection middleware refused the connection
	TLSRefused                       // tls_refused: the endpoint's TLS callback refused the ClientHello
	MaxConnectionAgeGraceExceeded    // max_connection_age_grace_exceeded: streams outlived MaxConnectionAgeGrace

	numReasons
)

// errorTypes holds the error.type value of each error reason.
var errorTypes = [numReasons]string{
	ErrorAfterStartingResponse:       "error_after_starting_response",
	ConnectionReset:                  "connection_reset",
	FlowControlWindowExceeded:        "flow_control_window_exceeded",
	KeepAliveTimeout:                 "keep_alive_timeout",
	InsufficientTLSVersion:           "insufficient_tls_version",
	InvalidHandshake:                 "invalid_handshake",
	InvalidStreamID:                  "invalid_stream_id",
	FrameAfterStreamClose:            "frame_after_stream_close",
	UnknownStream:                    "unknown_stream",
	UnexpectedFrame:                  "unexpected_frame",
	InvalidFrameLength:               "invalid_frame_length",
	InvalidDataPadding:               "invalid_data_padding",
	InvalidRequestHeaders:            "invalid_request_headers",
	StreamResetLimitExceeded:         "stream_reset_limit_exceeded",
	InvalidWindowUpdateSize:          "invalid_window_update_size",
	StreamSelfDependency:             "stream_self_dependency",
	InvalidSettings:                  "invalid_settings",
	MissingStreamEnd:                 "missing_stream_end",
	MaxFrameLengthExceeded:           "max_frame_length_exceeded",
	ErrorReadingHeaders:              "error_reading_headers",
	ErrorWritingHeaders:              "error_writing_headers",
	OtherError:                       "other_error",
	InvalidHTTPVersion:               "invalid_http_version",
	RequestHeadersTimeout:            "request_headers_timeout",
	MinRequestBodyDataRate:           "min_request_body_data_rate",
	MinResponseDataRate:              "min_response_data_rate",
	FlowControlQueueSizeExceeded:     "flow_control_queue_size_exceeded",
	OutputQueueSizeExceeded:          "output_queue_size_exceeded",
	ClosedCriticalStream:             "closed_critical_stream",
	AbortedByApp:                     "aborted_by_app",
	WriteCanceled:                    "write_canceled",
	InvalidBodyReaderState:           "invalid_body_reader_state",
	ServerTimeout:                    "server_timeout",
	StreamCreationError:              "stream_creation_error",
	IOError:                          "io_error",
	AppShutdownTimeout:               "app_shutdown_timeout",
	TLSHandshakeFailed:               "tls_handshake_failed",
	InvalidRequestLine:               "invalid_request_line",
	TLSNotSupported:                  "tls_not_supported",
	MaxRequestBodySizeExceeded:       "max_request_body_size_exceeded",
	UnexpectedEndOfRequestContent:    "unexpected_end_of_request_content",
	MaxConcurrentConnectionsExceeded: "max_concurrent_connections_exceeded",
	MaxRequestHeadersTotalSizeExceed: "max_request_headers_total_size_exceeded",
	MaxRequestHeaderCountExceeded:    "max_request_header_count_exceeded",
	ResponseContentLengthMismatch:    "response_content_length_mismatch",
	ProxyProtocolUntrusted:           "proxy_protocol_untrusted",
	ProxyProtocolMissing:             "proxy_protocol_missing",
	ProxyProtocolInvalid:             "proxy_protocol_invalid",
	ProxyProtocolTimeout:             "proxy_protocol_timeout",
	ConnectionRefused:                "connection_refused",
	TLSRefused:                       "tls_refused",
	MaxConnectionAgeGraceExceeded:    "max_connection_age_grace_exceeded",
}

// ErrorType is the reason's error.type value, or "" for a reason that is
// not an error.
func (r Reason) ErrorType() string {
	if r >= numReasons {
		return ""
	}
	return errorTypes[r]
}

// IsError reports whether the reason is an error (has an error.type).
func (r Reason) IsError() bool { return r.ErrorType() != "" }

// EndReason is where a connection records why it ended, for the server
// to read when the connection is done. As in Kestrel, the first error
// reason wins; reasons that are not errors are not kept. Its zero value
// holds ReasonUnset; it is safe for concurrent use (the heartbeat, a
// handler and Shutdown may all record a reason).
type EndReason struct {
	v atomic.Uint32
}

// Set records r if it is an error and no error was recorded before.
func (e *EndReason) Set(r Reason) {
	if r.IsError() {
		e.v.CompareAndSwap(uint32(ReasonUnset), uint32(r))
	}
}

// Force records r over any earlier reason, as Kestrel does for
// app_shutdown_timeout when Shutdown aborts what is left.
func (e *EndReason) Force(r Reason) {
	if r.IsError() {
		e.v.Store(uint32(r))
	}
}

// Get returns the recorded reason, ReasonUnset when none was.
func (e *EndReason) Get() Reason { return Reason(e.v.Load()) }
