// Package logevents is the catalog of the server's log events: Kestrel's
// event ids, names, levels, categories and messages, written through
// log/slog with the attributes the logging package's handlers read
// (Category, EventId, EventName), and the connection and request ids the
// events carry.
//
// Each event's message holds its values, as ASP.NET's do; they are also
// attributes, named as in Kestrel's message templates (ConnectionId,
// TraceIdentifier, ...), for structured output. An event costs nothing
// when its level is disabled.
package logevents

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel/logging"
)

// Categories, ASP.NET Core's logger names.
const (
	CategoryKestrel     = "Microsoft.AspNetCore.Server.Kestrel"
	CategoryConnections = "Microsoft.AspNetCore.Server.Kestrel.Connections"
	CategoryBadRequests = "Microsoft.AspNetCore.Server.Kestrel.BadRequests"
	CategoryHTTP2       = "Microsoft.AspNetCore.Server.Kestrel.Http2"
	CategoryHTTP3       = "Microsoft.AspNetCore.Server.Kestrel.Http3"
	CategoryHTTPS       = "Microsoft.AspNetCore.Server.Kestrel.Https.Internal.HttpsConnectionMiddleware"
	CategoryLifetime    = "Microsoft.Hosting.Lifetime"
	CategoryHosting     = "Microsoft.AspNetCore.Hosting.Diagnostics"
	// CategoryACME is automatic HTTPS (Kestrel has none; LettuceEncrypt
	// fills the gap there).
	CategoryACME = "Kestrel.Acme"
	// CategoryOCSP is OCSP stapling of certificates loaded from files
	// (Kestrel has none; nginx's ssl_stapling).
	CategoryOCSP = "Kestrel.Ocsp"
)

// Event is one kind of log event.
type Event struct {
	ID       int
	Name     string
	Level    slog.Level
	Category string
}

// The events. IDs and levels are Kestrel's, except where noted; events of
// this server's own start at 1000. Kestrel's ApplicationNeverCompleted
// (23) has no place here: Kestrel logs it when the garbage collector took
// a connection whose request processing never completed, which its
// heartbeat tracks by weak reference; a Go handler that never returns
// keeps its goroutine, and with it its connection, alive, and the server
// tracks connections by strong reference (Shutdown's
// NotAllConnectionsAborted reports such handlers).
var (
	// Connections.
	ConnectionStartEvent      = Event{1, "ConnectionStart", slog.LevelDebug, CategoryConnections}
	ConnectionStopEvent       = Event{2, "ConnectionStop", slog.LevelDebug, CategoryConnections}
	ConnectionKeepAliveEvent  = Event{9, "ConnectionKeepAlive", slog.LevelDebug, CategoryConnections}
	ConnectionDisconnectEvent = Event{10, "ConnectionDisconnect", slog.LevelDebug, CategoryConnections}
	// NotAllConnectionsClosedGracefullyEvent is a Warning where Kestrel
	// writes Debug: the requests a shutdown timeout aborts are what an
	// operator needs to see, once per shutdown.
	NotAllConnectionsClosedGracefullyEvent = Event{16, "NotAllConnectionsClosedGracefully", slog.LevelWarn, CategoryConnections}
	NotAllConnectionsAbortedEvent          = Event{21, "NotAllConnectionsAborted", slog.LevelDebug, CategoryConnections}
	// ConnectionRejectedEvent is at Debug where Kestrel writes a Warning:
	// a client could otherwise grow the log at the accept rate.
	// ConnectionsRejectedEvent summarizes them at Warning instead.
	ConnectionRejectedEvent           = Event{24, "ConnectionRejected", slog.LevelDebug, CategoryConnections}
	ApplicationAbortedConnectionEvent = Event{34, "ApplicationAbortedConnection", slog.LevelInfo, CategoryConnections}
	ConnectionsRejectedEvent          = Event{1001, "ConnectionsRejected", slog.LevelWarn, CategoryConnections}
	ProxyProtocolRefusedEvent         = Event{1002, "ProxyProtocolRefused", slog.LevelDebug, CategoryConnections}

	// HTTP/2 and HTTP/3 connection and stream errors.
	Http2ConnectionErrorEvent  = Event{29, "Http2ConnectionError", slog.LevelDebug, CategoryHTTP2}
	Http2StreamResetAbortEvent = Event{35, "Http2StreamResetAbort", slog.LevelDebug, CategoryHTTP2}
	Http3ConnectionErrorEvent  = Event{42, "Http3ConnectionError", slog.LevelDebug, CategoryHTTP3}
	Http3StreamAbortEvent      = Event{45, "Http3StreamAbort", slog.LevelDebug, CategoryHTTP3}

	// Extended CONNECT (WebSockets over HTTP/2 and HTTP/3), this server's.
	ExtendedConnectEvent        = Event{1020, "ExtendedConnect", slog.LevelDebug, CategoryHTTP2}
	ExtendedConnectRefusedEvent = Event{1021, "ExtendedConnectRefused", slog.LevelDebug, CategoryHTTP2}

	// General.
	ApplicationErrorEvent                = Event{13, "ApplicationError", slog.LevelError, CategoryKestrel}
	ConnectionHeadResponseBodyWriteEvent = Event{18, "ConnectionHeadResponseBodyWrite", slog.LevelDebug, CategoryKestrel}
	HeartbeatSlowEvent                   = Event{22, "HeartbeatSlow", slog.LevelWarn, CategoryKestrel}
	// RequestBodyNotEntirelyReadEvent is at Debug where Kestrel writes
	// Information: ordinary traffic causes it (a handler that answers an
	// upload without reading it, such as a 401 or 413), and a client at
	// will, once a request, under this server's default level
	// (Information).
	RequestBodyNotEntirelyReadEvent = Event{32, "RequestBodyNotEntirelyRead", slog.LevelDebug, CategoryKestrel}
	RequestBodyDrainTimedOutEvent   = Event{33, "RequestBodyDrainTimedOut", slog.LevelInfo, CategoryKestrel}
	RequestAbortedEvent             = Event{66, "RequestAborted", slog.LevelDebug, CategoryKestrel}

	// Bad requests.
	ConnectionBadRequestEvent                   = Event{17, "ConnectionBadRequest", slog.LevelDebug, CategoryBadRequests}
	RequestProcessingErrorEvent                 = Event{20, "RequestProcessingError", slog.LevelDebug, CategoryBadRequests}
	RequestBodyMinimumDataRateNotSatisfiedEvent = Event{27, "RequestBodyMinimumDataRateNotSatisfied", slog.LevelDebug, CategoryBadRequests}
	ResponseMinimumDataRateNotSatisfiedEvent    = Event{28, "ResponseMinimumDataRateNotSatisfied", slog.LevelDebug, CategoryBadRequests}
	PossibleInvalidHTTPVersionDetectedEvent     = Event{54, "PossibleInvalidHttpVersionDetected", slog.LevelDebug, CategoryBadRequests}

	// HTTPS.
	AuthenticationFailedEvent       = Event{1, "AuthenticationFailed", slog.LevelDebug, CategoryHTTPS}
	AuthenticationTimedOutEvent     = Event{2, "AuthenticationTimedOut", slog.LevelDebug, CategoryHTTPS}
	HTTPSConnectionEstablishedEvent = Event{3, "HttpsConnectionEstablished", slog.LevelDebug, CategoryHTTPS}

	// Lifetime (ASP.NET's host writes these; id 0 has no name there).
	ListeningOnEvent         = Event{14, "ServerListeningOnAddresses", slog.LevelInfo, CategoryLifetime}
	ApplicationStartedEvent  = Event{0, "ApplicationStarted", slog.LevelInfo, CategoryLifetime}
	ApplicationStoppingEvent = Event{0, "ApplicationStopping", slog.LevelInfo, CategoryLifetime}
	DrainingEvent            = Event{0, "Draining", slog.LevelInfo, CategoryLifetime}

	// Hosting (ASP.NET's web host writes it; its id has no name there).
	PortsOverridenByUrlsEvent = Event{15, "PortsOverridenByUrls", slog.LevelWarn, CategoryHosting}
	// Automatic HTTPS (ACME).
	ACMEObtainingEvent = Event{1, "CertificatesPending", slog.LevelInfo, CategoryACME}
	ACMEOrderingEvent  = Event{2, "CertificateOrdering", slog.LevelInfo, CategoryACME}
	ACMEObtainedEvent  = Event{3, "CertificateObtained", slog.LevelInfo, CategoryACME}
	ACMEFailedEvent    = Event{4, "CertificateFailed", slog.LevelWarn, CategoryACME}
	// OCSP stapling of certificates from files.
	OCSPStapledEvent            = Event{1, "OcspStapled", slog.LevelDebug, CategoryOCSP}
	OCSPStaplingFailedEvent     = Event{2, "OcspStaplingFailed", slog.LevelWarn, CategoryOCSP}
	OCSPStaplingResumedEvent    = Event{3, "OcspStaplingResumed", slog.LevelInfo, CategoryOCSP}
	OCSPCertificateRevokedEvent = Event{4, "OcspCertificateRevoked", slog.LevelError, CategoryOCSP}
)

var bg = context.Background()

// Enabled reports whether log writes e.
func (e *Event) Enabled(log *slog.Logger) bool { return log.Enabled(bg, e.Level) }

// Log writes e with its message and attributes, if its level is enabled.
func (e *Event) Log(log *slog.Logger, msg string, attrs ...slog.Attr) {
	if !e.Enabled(log) {
		return
	}
	all := make([]slog.Attr, 0, 3+len(attrs))
	all = append(all, logging.Category(e.Category), logging.EventID(e.ID), slog.String(logging.EventNameKey, e.Name))
	all = append(all, attrs...)
	log.LogAttrs(bg, e.Level, msg, all...)
}

// General writes an event of the Kestrel category without an id of its
// own (Kestrel's id 0), such as a configuration warning.
func General(log *slog.Logger, level slog.Level, name, msg string, attrs ...slog.Attr) {
	e := Event{0, name, level, CategoryKestrel}
	e.Log(log, msg, attrs...)
}

// ProxyProtocolRefused (this server's): Connection id "{ConnectionId}"
// refused: {reason}. A connection on an endpoint with PROXY protocol
// whose header was missing, malformed, late or from an untrusted source.
func ProxyProtocolRefused(log *slog.Logger, id, remote, reason string) {
	if e := &ProxyProtocolRefusedEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" refused: `+reason+".", connID(id), slog.String("RemoteAddress", remote))
	}
}

// PortsOverridenByUrls: Overriding HTTP_PORTS '{http}' and HTTPS_PORTS
// '{https}'. Binding to values defined by URLS instead '{urls}'.
func PortsOverridenByUrls(log *slog.Logger, httpPorts, httpsPorts, urls string) {
	if e := &PortsOverridenByUrlsEvent; e.Enabled(log) {
		e.Log(log, "Overriding HTTP_PORTS '"+httpPorts+"' and HTTPS_PORTS '"+httpsPorts+"'. Binding to values defined by URLS instead '"+urls+"'.",
			slog.String("http", httpPorts), slog.String("https", httpsPorts), slog.String("urls", urls))
	}
}

func connID(id string) slog.Attr { return slog.String("ConnectionId", id) }
func reqID(id string) slog.Attr  { return slog.String("TraceIdentifier", id) }

// ConnectionStart: Connection id "{ConnectionId}" started.
func ConnectionStart(log *slog.Logger, id string) {
	if e := &ConnectionStartEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" started.`, connID(id))
	}
}

// ConnectionStop: Connection id "{ConnectionId}" stopped.
func ConnectionStop(log *slog.Logger, id string) {
	if e := &ConnectionStopEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" stopped.`, connID(id))
	}
}

// ConnectionKeepAlive: Connection id "{ConnectionId}" completed keep alive
// response.
func ConnectionKeepAlive(log *slog.Logger, id string) {
	if e := &ConnectionKeepAliveEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" completed keep alive response.`, connID(id))
	}
}

// ConnectionDisconnect: Connection id "{ConnectionId}" disconnecting.
func ConnectionDisconnect(log *slog.Logger, id string) {
	if e := &ConnectionDisconnectEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" disconnecting.`, connID(id))
	}
}

// NotAllConnectionsClosedGracefully: Some connections failed to close
// gracefully during server shutdown. (with how many were aborted)
func NotAllConnectionsClosedGracefully(log *slog.Logger, aborted int) {
	if e := &NotAllConnectionsClosedGracefullyEvent; e.Enabled(log) {
		e.Log(log, "Some connections failed to close gracefully during server shutdown ("+strconv.Itoa(aborted)+" aborted).",
			slog.Int("count", aborted))
	}
}

// NotAllConnectionsAborted: Some connections failed to abort during server
// shutdown.
func NotAllConnectionsAborted(log *slog.Logger) {
	NotAllConnectionsAbortedEvent.Log(log, "Some connections failed to abort during server shutdown.")
}

// ConnectionRejected: Connection id "{ConnectionId}" rejected because the
// maximum number of concurrent connections has been reached.
func ConnectionRejected(log *slog.Logger, id string) {
	if e := &ConnectionRejectedEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" rejected because the maximum number of concurrent connections has been reached.`, connID(id))
	}
}

// ConnectionsRejected summarizes the connections rejected by the limit
// over an interval.
func ConnectionsRejected(log *slog.Logger, count int64, limit int64, interval time.Duration) {
	if e := &ConnectionsRejectedEvent; e.Enabled(log) {
		e.Log(log, strconv.FormatInt(count, 10)+" connection(s) rejected in the last "+interval.String()+
			" because the maximum number of concurrent connections ("+strconv.FormatInt(limit, 10)+") has been reached.",
			slog.Int64("count", count), slog.Int64("limit", limit), slog.Duration("interval", interval))
	}
}

// ApplicationAbortedConnection: Connection id "{ConnectionId}", Request id
// "{TraceIdentifier}": the application aborted the connection.
func ApplicationAbortedConnection(log *slog.Logger, id, requestID string) {
	if e := &ApplicationAbortedConnectionEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": the application aborted the connection.`, connID(id), reqID(requestID))
	}
}

// ConnectionError is Http2ConnectionError (HTTP/2) or Http3ConnectionError
// (HTTP/3, protoMajor 3): Connection id "{ConnectionId}": HTTP/2
// connection error ({code}): {reason}. code is the error the connection
// is closed with (GOAWAY's, or the QUIC application error).
func ConnectionError(log *slog.Logger, protoMajor int, id, code, reason string) {
	e, proto := &Http2ConnectionErrorEvent, "HTTP/2"
	if protoMajor == 3 {
		e, proto = &Http3ConnectionErrorEvent, "HTTP/3"
	}
	if e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`": `+proto+` connection error (`+code+`): `+reason, connID(id), slog.String("error", code))
	}
}

// StreamResetAbort is Http2StreamResetAbort (HTTP/2): Trace id
// "{TraceIdentifier}": HTTP/2 stream error "{error}". A Reset is being sent
// to the stream. Or Http3StreamAbort (HTTP/3, protoMajor 3): ... An abort
// is being sent to the stream. code is the stream error sent
// (INTERNAL_ERROR, H3_INTERNAL_ERROR), reason why.
func StreamResetAbort(log *slog.Logger, protoMajor int, requestID, code, reason string) {
	e, proto, what := &Http2StreamResetAbortEvent, "HTTP/2", "A Reset"
	if protoMajor == 3 {
		e, proto, what = &Http3StreamAbortEvent, "HTTP/3", "An abort"
	}
	if e.Enabled(log) {
		e.Log(log, `Trace id "`+requestID+`": `+proto+` stream error "`+code+`". `+what+` is being sent to the stream.`,
			reqID(requestID), slog.String("error", code), slog.String(logging.ExceptionKey, reason))
	}
}

// ApplicationError: Connection id "{ConnectionId}", Request id
// "{TraceIdentifier}": An unhandled exception was thrown by the
// application. The exception is the panic value and its stack.
func ApplicationError(log *slog.Logger, id, requestID, exception string) {
	if e := &ApplicationErrorEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": An unhandled exception was thrown by the application.`,
			connID(id), reqID(requestID), slog.String(logging.ExceptionKey, exception))
	}
}

// ConnectionHeadResponseBodyWrite: Connection id "{ConnectionId}" write of
// "{count}" body bytes to non-body HEAD response.
func ConnectionHeadResponseBodyWrite(log *slog.Logger, id string, count int64) {
	if e := &ConnectionHeadResponseBodyWriteEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" write of "`+strconv.FormatInt(count, 10)+`" body bytes to non-body HEAD response.`,
			connID(id), slog.Int64("count", count))
	}
}

// HeartbeatSlow: As of "{now}", the heartbeat has been running for
// "{heartbeatDuration}" which is longer than "{interval}". (Kestrel blames
// thread pool starvation; here it is a busy or starved Go scheduler.)
func HeartbeatSlow(log *slog.Logger, took, interval time.Duration, now time.Time) {
	if e := &HeartbeatSlowEvent; e.Enabled(log) {
		n := now.Format(time.RFC3339Nano)
		e.Log(log, `As of "`+n+`", the heartbeat has been running for "`+took.String()+`" which is longer than "`+interval.String()+
			`". This could be caused by a starved Go scheduler (GOMAXPROCS too low, or a long garbage collection pause).`,
			slog.String("now", n), slog.Duration("heartbeatDuration", took), slog.Duration("interval", interval))
	}
}

// RequestBodyNotEntirelyRead: Connection id "{ConnectionId}", Request id
// "{TraceIdentifier}": the application completed without reading the
// entire request body.
func RequestBodyNotEntirelyRead(log *slog.Logger, id, requestID string) {
	if e := &RequestBodyNotEntirelyReadEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": the application completed without reading the entire request body.`,
			connID(id), reqID(requestID))
	}
}

// RequestBodyDrainTimedOut: Connection id "{ConnectionId}", Request id
// "{TraceIdentifier}": automatic draining of the request body timed out
// after taking over {after}.
func RequestBodyDrainTimedOut(log *slog.Logger, id, requestID string, after time.Duration) {
	if e := &RequestBodyDrainTimedOutEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": automatic draining of the request body timed out after taking over `+after.String()+`.`,
			connID(id), reqID(requestID))
	}
}

// ExtendedConnect: Connection id "{ConnectionId}", Request id
// "{TraceIdentifier}": extended CONNECT for "{protocol}" on "{path}"
// over {Protocol}: a tunnel (a WebSocket) on a stream.
func ExtendedConnect(log *slog.Logger, id, requestID, protocol, path, proto string) {
	if e := &ExtendedConnectEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": extended CONNECT for "`+protocol+`" on "`+path+`" over `+proto,
			connID(id), reqID(requestID), slog.String("protocol", protocol), slog.String("path", path), slog.String("Protocol", proto))
	}
}

// ExtendedConnectRefused: Connection id "{ConnectionId}": extended
// CONNECT refused with 503: {limit} upgraded connections are open
// (Limits.MaxConcurrentUpgradedConnections).
func ExtendedConnectRefused(log *slog.Logger, id string, limit int64) {
	if e := &ExtendedConnectRefusedEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`": extended CONNECT refused with 503: `+strconv.FormatInt(limit, 10)+` upgraded connections are open (Limits.MaxConcurrentUpgradedConnections)`,
			connID(id), slog.Int64("limit", limit))
	}
}

// RequestAborted: Connection id "{ConnectionId}", Request id
// "{TraceIdentifier}": The request was aborted by the client.
func RequestAborted(log *slog.Logger, id, requestID string) {
	if e := &RequestAbortedEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": The request was aborted by the client.`, connID(id), reqID(requestID))
	}
}

// ConnectionBadRequest: Connection id "{ConnectionId}" bad request data:
// "{message}". status is the answer's status code.
func ConnectionBadRequest(log *slog.Logger, id, message string, status int) {
	if e := &ConnectionBadRequestEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" bad request data: "`+message+`"`,
			connID(id), slog.String("message", message), slog.Int("status", status))
	}
}

// RequestProcessingError: Connection id "{ConnectionId}" request
// processing ended abnormally.
func RequestProcessingError(log *slog.Logger, id string, err error) {
	if e := &RequestProcessingErrorEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`" request processing ended abnormally.`, connID(id), slog.String(logging.ExceptionKey, err.Error()))
	}
}

// RequestBodyMinimumDataRateNotSatisfied: Connection id "{ConnectionId}",
// Request id "{TraceIdentifier}": the request timed out because it was not
// sent by the client at a minimum of {Rate} bytes/second.
func RequestBodyMinimumDataRateNotSatisfied(log *slog.Logger, id, requestID string, rate float64) {
	if e := &RequestBodyMinimumDataRateNotSatisfiedEvent; e.Enabled(log) {
		r := strconv.FormatFloat(rate, 'f', -1, 64)
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": the request timed out because it was not sent by the client at a minimum of `+r+` bytes/second.`,
			connID(id), reqID(requestID), slog.Float64("Rate", rate))
	}
}

// ResponseMinimumDataRateNotSatisfied: Connection id "{ConnectionId}",
// Request id "{TraceIdentifier}": the connection was closed because the
// response was not read by the client at the specified minimum data rate.
func ResponseMinimumDataRateNotSatisfied(log *slog.Logger, id, requestID string) {
	if e := &ResponseMinimumDataRateNotSatisfiedEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`", Request id "`+requestID+`": the connection was closed because the response was not read by the client at the specified minimum data rate.`,
			connID(id), reqID(requestID))
	}
}

// PossibleInvalidHTTPVersionDetected: Connection id "{ConnectionId}":
// Invalid content received on connection. Possible incorrect HTTP version
// detected. Expected {ExpectedHttpVersion} but received
// {DetectedHttpVersion}.
func PossibleInvalidHTTPVersionDetected(log *slog.Logger, id, expected, detected string) {
	if e := &PossibleInvalidHTTPVersionDetectedEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`": Invalid content received on connection. Possible incorrect HTTP version detected. Expected `+expected+` but received `+detected+`.`,
			connID(id), slog.String("ExpectedHttpVersion", expected), slog.String("DetectedHttpVersion", detected))
	}
}

// AuthenticationFailed: Failed to authenticate HTTPS connection. (with the
// connection id and the error)
func AuthenticationFailed(log *slog.Logger, id string, err error) {
	if e := &AuthenticationFailedEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`": Failed to authenticate HTTPS connection.`, connID(id), slog.String(logging.ExceptionKey, err.Error()))
	}
}

// AuthenticationTimedOut: Authentication of the HTTPS connection timed
// out.
func AuthenticationTimedOut(log *slog.Logger, id string) {
	if e := &AuthenticationTimedOutEvent; e.Enabled(log) {
		e.Log(log, `Connection id "`+id+`": Authentication of the HTTPS connection timed out.`, connID(id))
	}
}

// HTTPSConnectionEstablished: Connection {ConnectionId} established using
// the following protocol: {Protocol}
func HTTPSConnectionEstablished(log *slog.Logger, id, protocol string) {
	if e := &HTTPSConnectionEstablishedEvent; e.Enabled(log) {
		e.Log(log, "Connection "+id+" established using the following protocol: "+protocol, connID(id), slog.String("Protocol", protocol))
	}
}

// ListeningOn: Now listening on: {address}
func ListeningOn(log *slog.Logger, address string) {
	ListeningOnEvent.Log(log, "Now listening on: "+address, slog.String("address", address))
}

// ApplicationStarted: Application started. Press Ctrl+C to shut down.
func ApplicationStarted(log *slog.Logger) {
	ApplicationStartedEvent.Log(log, "Application started. Press Ctrl+C to shut down.")
}

// Draining: readiness reports draining, and the server goes on serving
// for delay before it stops accepting.
func Draining(log *slog.Logger, delay time.Duration) {
	DrainingEvent.Log(log, "Draining: readiness now reports 503; serving for "+delay.String()+" before the graceful shutdown.",
		slog.Duration("DrainDelay", delay))
}

// ApplicationStopping: Application is shutting down...
func ApplicationStopping(log *slog.Logger) {
	ApplicationStoppingEvent.Log(log, "Application is shutting down...")
}

// ACMEObtaining: the endpoint's certificates are being loaded from storage
// or obtained from the CA; the server listens once they are ready.
func ACMEObtaining(log *slog.Logger, endpoint string, domains []string, ca string) {
	ACMEObtainingEvent.Log(log, "Getting the certificates of "+strings.Join(domains, ", ")+" for "+endpoint+
		" (from storage, or from the ACME CA "+ca+"); the server starts once they are ready.",
		slog.String("Endpoint", endpoint), slog.Any("Domains", domains), slog.String("CA", ca))
}

// ACMEOrdering: a certificate is being ordered from the CA (this server
// holds the storage's lock for it).
func ACMEOrdering(log *slog.Logger, domain string, renewal bool) {
	what := "Ordering a certificate for "
	if renewal {
		what = "Renewing the certificate of "
	}
	ACMEOrderingEvent.Log(log, what+domain+" from the ACME CA.", slog.String("Domain", domain), slog.Bool("Renewal", renewal))
}

// ACMEObtained: the CA issued a certificate.
func ACMEObtained(log *slog.Logger, domain string, renewal bool) {
	what := "Obtained a certificate for "
	if renewal {
		what = "Renewed the certificate of "
	}
	ACMEObtainedEvent.Log(log, what+domain+".", slog.String("Domain", domain), slog.Bool("Renewal", renewal))
}

// ACMEFailed: an order failed, with the CA's error; a failed renewal
// keeps serving the current certificate and is retried.
func ACMEFailed(log *slog.Logger, domain string, renewal bool, err error) {
	msg := "Could not obtain a certificate for " + domain + ": " + fmt.Sprint(err)
	if renewal {
		msg = "Could not renew the certificate of " + domain + " (the current one is still served, and renewal will be retried): " + fmt.Sprint(err)
	}
	ACMEFailedEvent.Log(log, msg, slog.String("Domain", domain), slog.Bool("Renewal", renewal), slog.Any("error", err))
}

// OCSPStapled: a Good OCSP response was fetched for a certificate and is
// stapled to its handshakes until nextUpdate.
func OCSPStapled(log *slog.Logger, path, subject string, nextUpdate, refresh time.Time) {
	if e := &OCSPStapledEvent; e.Enabled(log) {
		e.Log(log, "Stapling the OCSP response of "+subject+" ("+path+"), valid until "+nextUpdate.UTC().Format(time.RFC3339)+
			"; the next one is fetched at "+refresh.UTC().Format(time.RFC3339)+".",
			slog.String("Path", path), slog.String("Subject", subject), slog.Time("NextUpdate", nextUpdate), slog.Time("Refresh", refresh))
	}
}

// OCSPStaplingFailed: fetching or checking an OCSP response failed; logged
// once per streak of failures. stapleUntil is when the staple still served
// ends (zero: none is).
func OCSPStaplingFailed(log *slog.Logger, path, subject, responder string, stapleUntil time.Time, err error) {
	if e := &OCSPStaplingFailedEvent; e.Enabled(log) {
		still := "Handshakes go on without a staple"
		if !stapleUntil.IsZero() {
			still = "Handshakes go on with the previous staple, valid until " + stapleUntil.UTC().Format(time.RFC3339)
		}
		e.Log(log, "OCSP stapling of "+subject+" ("+path+") failed: the responder "+responder+": "+err.Error()+". "+still+"; retrying with backoff.",
			slog.String("Path", path), slog.String("Subject", subject), slog.String("Responder", responder), slog.Any("error", err))
	}
}

// OCSPStaplingResumed: a response was fetched after failures.
func OCSPStaplingResumed(log *slog.Logger, path, subject string) {
	if e := &OCSPStaplingResumedEvent; e.Enabled(log) {
		e.Log(log, "OCSP stapling of "+subject+" ("+path+") works again.", slog.String("Path", path), slog.String("Subject", subject))
	}
}

// OCSPCertificateRevoked: the issuer's OCSP responder says the certificate
// is revoked; it is served without a staple (clients may refuse it).
func OCSPCertificateRevoked(log *slog.Logger, path, subject string, revokedAt time.Time) {
	if e := &OCSPCertificateRevokedEvent; e.Enabled(log) {
		e.Log(log, "The certificate "+subject+" ("+path+") is REVOKED, says its issuer's OCSP responder (revoked at "+revokedAt.UTC().Format(time.RFC3339)+
			"); it is served without a staple. Replace the certificate.",
			slog.String("Path", path), slog.String("Subject", subject), slog.Time("RevokedAt", revokedAt))
	}
}
