// Package tlsconn is the TLS connection middleware: it runs the server
// handshake with a time limit before the HTTP engine sees the connection,
// and answers plain HTTP sent to an HTTPS endpoint with a clear 400.
package tlsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"syscall"
	"time"
)

// DefaultHandshakeTimeout is Kestrel's limit on a TLS handshake.
const DefaultHandshakeTimeout = 10 * time.Second

// recordTypeHandshake is the first byte of a TLS ClientHello record.
const recordTypeHandshake = 0x16

// ErrPlainHTTP is returned by Handshake when the client spoke plain HTTP to
// the HTTPS endpoint; it has been answered with 400.
var ErrPlainHTTP = errors.New("plain HTTP request sent to an HTTPS endpoint")

// plainHTTPResponse answers a plain HTTP request on an HTTPS port, as
// net/http does, so that a user who typed http:// sees what is wrong.
const plainHTTPResponse = "HTTP/1.1 400 Bad Request\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 49\r\n" +
	"\r\n" +
	"This is an HTTPS port: use https:// to connect.\r\n"

// Handshake runs the server side of a TLS handshake on c within timeout
// (DefaultHandshakeTimeout when zero). A client whose first bytes are not
// a TLS handshake record, such as one speaking plain HTTP, gets a 400
// answer and ErrPlainHTTP.
//
// The handshake reads c directly, as net/http's does: crypto/tls tells a
// first record that is not TLS (tls.RecordHeaderError) before it reads
// more than the record's 5-byte header, so no byte is read ahead to look.
// The time limit is c's deadline; ctx, when it can be cancelled, also
// ends the handshake (crypto/tls then watches it from a goroutine of its
// own, which a context.Background() spares).
//
// A panic in one of config's callbacks (GetCertificate,
// GetConfigForClient, VerifyPeerCertificate, VerifyConnection, and those
// of the configuration GetConfigForClient returns), which crypto/tls
// calls on this goroutine, or in the methods of c (a connection
// middleware's wrapper), fails the handshake with an error that carries
// the panic and its stack, as net/http's connection goroutine recovers it
// and Kestrel fails the handshake on an exception.
func Handshake(ctx context.Context, c net.Conn, config *tls.Config, timeout time.Duration) (_ *tls.Conn, err error) {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	c.SetDeadline(time.Now().Add(timeout))
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("tls handshake panicked: %v\n%s", v, debug.Stack())
		}
	}()
	tc := tls.Server(c, config)
	if err := tc.HandshakeContext(ctx); err != nil {
		err = usable(err)
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && re.RecordHeader[0] != recordTypeHandshake {
			io.WriteString(re.Conn, plainHTTPResponse)
			return nil, ErrPlainHTTP
		}
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	c.SetDeadline(time.Time{})
	return tc, nil
}

// usable returns err, or, when its methods panic (a nil pointer returned
// as an error by a callback, such as a certificate selector's or
// validator's: a typed nil), an error that says so, for the callers that
// inspect and log it.
func usable(err error) (out error) {
	defer func() {
		if recover() != nil {
			out = fmt.Errorf("a callback returned a nil %T as its error, which is not a nil error (return the error interface's nil instead)", err)
		}
	}()
	_ = err.Error()
	var re tls.RecordHeaderError
	var ne net.Error
	_ = errors.As(err, &re) || errors.As(err, &ne) || errors.Is(err, ErrPlainHTTP)
	return err
}

// LooksLikeTLS reports whether b, the first bytes a client sent to a
// cleartext endpoint, start a TLS handshake record.
func LooksLikeTLS(b []byte) bool {
	return len(b) >= 3 && b[0] == recordTypeHandshake && b[1] == 3 && b[2] <= 4
}

// ErrorType names the kind of a Handshake failure for the error.type
// attribute of kestrel.tls_handshake.duration, from a short list:
//
//	timeout            the handshake did not finish within its time limit
//	connection_closed  the client closed or reset the connection
//	plain_http         the client spoke plain HTTP (ErrPlainHTTP)
//	remote_alert       the client aborted with a TLS alert, such as an
//	                   untrusted certificate
//	refused            the endpoint's TLS handshake callback refused it
//	handshake_failed   the server refused the handshake: no common
//	                   version or cipher suite, a bad client certificate...
func ErrorType(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, ErrPlainHTTP):
		return "plain_http"
	case errors.Is(err, ErrRefused):
		return TypeRefused
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &op) && op.Op == "remote error":
		return "remote_alert"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return "connection_closed"
	}
	return "handshake_failed"
}

// VersionName is the negotiated TLS version as .NET's SslProtocols names
// it ("Tls12", "Tls13"), for Kestrel's HttpsConnectionEstablished event.
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "Tls"
	case tls.VersionTLS11:
		return "Tls11"
	case tls.VersionTLS12:
		return "Tls12"
	case tls.VersionTLS13:
		return "Tls13"
	}
	return tls.VersionName(v)
}
