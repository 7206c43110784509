package kestrel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"runtime/debug"

	"github.com/kestrel-go/kestrel/internal/tlsconn"
)

// ClientHello is what a client offered in its TLS ClientHello, given to
// HTTPS.TLSHandshakeCallback.
type ClientHello struct {
	// ClientHelloInfo is the ClientHello as crypto/tls parsed it: the SNI
	// host name (ServerName), the ALPN protocols (SupportedProtos), the
	// cipher suites, versions, curves, signature schemes and extensions
	// the client offered, and the connection (Conn), with the addresses
	// of a PROXY protocol header when the endpoint takes one.
	*tls.ClientHelloInfo

	// Raw is the ClientHello handshake message as the client sent it
	// (the 4-byte handshake header, type 1, first), reassembled from the
	// TLS records that carried it, for fingerprints such as JA3 and JA4
	// (.NET's UseTlsClientHelloListener). It is valid only during the
	// callback: copy what is to be kept. It is nil for a QUIC (HTTP/3)
	// handshake, whose ClientHello crypto/tls does not expose.
	Raw []byte

	ctx context.Context
}

// Context returns the connection's context: the one ConnContext returned,
// the parent of its requests' contexts (for a QUIC handshake, the QUIC
// connection's context, before ConnContext has run). A value ConnContext put there (a
// pointer to a struct, say) is how the callback passes what it learned,
// such as a fingerprint, to the connection's requests.
func (h *ClientHello) Context() context.Context { return h.ctx }

// helloHook runs an endpoint's TLSHandshakeCallback: the TCP port's
// connections are recorded until their ClientHello is read (wrap), and
// handshake with config, whose GetConfigForClient asks the callback.
type helloHook struct {
	config *tls.Config
	check  func() // before each callback (the session ticket key files); may be nil
}

// wrap returns nc recording its ClientHello, with the connection's
// context.
func (hh *helloHook) wrap(ctx context.Context, nc net.Conn) net.Conn {
	return tlsconn.NewHelloConn(ctx, nc)
}

// newHelloHook builds the hook of callback over base, the endpoint's
// configuration: a nil answer from the callback keeps base's choices (its
// SNI entries, certificate and session ticket keys); a configuration
// without NextProtos gets the endpoint's. With acmeChallenge (the
// endpoint's certificates come from ACME, which answers TLS-ALPN-01), the
// CA's validation handshakes, which offer the protocol acme-tls/1 alone,
// keep base's configuration without calling the callback: only base
// serves the challenge's certificate.
func newHelloHook(base *tls.Config, callback func(*ClientHello) (*tls.Config, error), acmeChallenge bool) *helloHook {
	config := base.Clone()
	next := base.GetConfigForClient
	alpn := base.NextProtos
	hh := &helloHook{config: config}
	config.GetConfigForClient = func(info *tls.ClientHelloInfo) (*tls.Config, error) {
		if hh.check != nil {
			hh.check()
		}
		// Over QUIC, the handshake's context is the QUIC connection's,
		// and the ClientHello's bytes are not at hand.
		hello := &ClientHello{ClientHelloInfo: info, ctx: info.Context()}
		hc, _ := info.Conn.(*tlsconn.HelloConn)
		if hc != nil {
			hello.Raw, hello.ctx = hc.ClientHello(), hc.Context
			defer hc.Stop()
		}
		if acmeChallenge && len(info.SupportedProtos) == 1 && info.SupportedProtos[0] == acmeALPN {
			if next != nil {
				return next(info)
			}
			return nil, nil
		}
		c, err := callHelloCallback(callback, hello)
		if err != nil {
			if typedNil(err) {
				// Wrapped, its methods (Error, Unwrap) would panic on
				// the nil receiver outside any recover.
				return nil, fmt.Errorf("%w: TLSHandshakeCallback returned a nil %T as its error, which is not a nil error (return the error interface's nil to accept)", tlsconn.ErrRefused, err)
			}
			return nil, fmt.Errorf("%w: %w", tlsconn.ErrRefused, err)
		}
		if c == nil {
			if next != nil {
				return next(info)
			}
			return nil, nil
		}
		if c.GetConfigForClient != nil {
			// crypto/tls asks only the first configuration's: a
			// net/http TLSConfig returned as is keeps its choice.
			cc, err := callHelloCallback(func(*ClientHello) (*tls.Config, error) { return c.GetConfigForClient(info) }, hello)
			if err != nil {
				return nil, fmt.Errorf("%w: the GetConfigForClient of the configuration TLSHandshakeCallback returned: %w", tlsconn.ErrRefused, err)
			}
			if cc != nil {
				c = cc
			}
		}
		if len(c.Certificates) == 0 && c.GetCertificate == nil {
			return nil, errors.New("TLSHandshakeCallback returned a tls.Config without a certificate: set its Certificates or GetCertificate, or return nil to keep the endpoint's configuration")
		}
		cloned := false
		if len(c.NextProtos) == 0 {
			c, cloned = c.Clone(), true
			c.NextProtos = alpn
		}
		if hc == nil && (c.GetCertificate != nil || c.VerifyPeerCertificate != nil || c.VerifyConnection != nil ||
			c.WrapSession != nil || c.UnwrapSession != nil || c.GetEncryptedClientHelloKeys != nil) {
			// Over QUIC, crypto/tls calls the configuration's
			// callbacks on a goroutine of its own, where nothing
			// recovers a panic (a TCP handshake's is recovered where it
			// runs): each is called through a recover.
			if !cloned {
				c, cloned = c.Clone(), true
			}
			recoverCallbacks(c)
		}
		return verifyOnResumption(c, cloned), nil
	}
	return hh
}

// recoverCallbacks has c, a configuration a TLSHandshakeCallback returned
// (a copy of it), call its server-side callbacks (GetCertificate,
// VerifyPeerCertificate, VerifyConnection, WrapSession, UnwrapSession,
// GetEncryptedClientHelloKeys) through a recover that turns a panic into
// an error that carries it, which fails the handshake.
func recoverCallbacks(c *tls.Config) {
	if get := c.GetCertificate; get != nil {
		c.GetCertificate = func(info *tls.ClientHelloInfo) (cert *tls.Certificate, err error) {
			defer failOnPanic("GetCertificate", &err)
			cert, err = get(info)
			return cert, usableError("GetCertificate", err)
		}
	}
	if verify := c.VerifyPeerCertificate; verify != nil {
		c.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) (err error) {
			defer failOnPanic("VerifyPeerCertificate", &err)
			return usableError("VerifyPeerCertificate", verify(raw, chains))
		}
	}
	if verify := c.VerifyConnection; verify != nil {
		c.VerifyConnection = func(cs tls.ConnectionState) (err error) {
			defer failOnPanic("VerifyConnection", &err)
			return usableError("VerifyConnection", verify(cs))
		}
	}
	if wrap := c.WrapSession; wrap != nil {
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) (b []byte, err error) {
			defer failOnPanic("WrapSession", &err)
			b, err = wrap(cs, ss)
			return b, usableError("WrapSession", err)
		}
	}
	if unwrap := c.UnwrapSession; unwrap != nil {
		c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (ss *tls.SessionState, err error) {
			defer failOnPanic("UnwrapSession", &err)
			ss, err = unwrap(identity, cs)
			return ss, usableError("UnwrapSession", err)
		}
	}
	if keys := c.GetEncryptedClientHelloKeys; keys != nil {
		c.GetEncryptedClientHelloKeys = func(info *tls.ClientHelloInfo) (k []tls.EncryptedClientHelloKey, err error) {
			defer failOnPanic("GetEncryptedClientHelloKeys", &err)
			k, err = keys(info)
			return k, usableError("GetEncryptedClientHelloKeys", err)
		}
	}
}

// failOnPanic, deferred by a TLS callback's wrapper, turns a panic of the
// callback into *err, an error that carries the panic and its stack (the
// wrapper's other results stay zero, never assigned): the handshake fails
// instead of the process.
func failOnPanic(callback string, err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("%s panicked: %v\n%s", callback, v, debug.Stack())
	}
}

// verifyOnResumption returns c, or a copy of it (c itself when owned, a
// copy made for this handshake), whose VerifyConnection puts a resumed
// session's client certificates to c's VerifyPeerCertificate. crypto/tls
// calls VerifyPeerCertificate only in full handshakes, and a configuration
// the callback returns resumes the sessions of the endpoint's own
// configurations and of every other one the callback returns, since they
// share the endpoint's ticket keys: without this, a certificate that
// another host name accepted would get past the check of c's host name
// that a full handshake makes. crypto/tls itself checks that the session
// has a certificate if c requires one, none if c asks for none, and that
// its chain still verifies against c.ClientCAs.
func verifyOnResumption(c *tls.Config, owned bool) *tls.Config {
	verify := c.VerifyPeerCertificate
	if verify == nil || c.ClientAuth == tls.NoClientCert || c.SessionTicketsDisabled {
		return c
	}
	if !owned {
		c = c.Clone()
	}
	next := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.DidResume {
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, cert := range cs.PeerCertificates {
				raw[i] = cert.Raw
			}
			var chains [][]*x509.Certificate
			if c.ClientAuth >= tls.VerifyClientCertIfGiven {
				chains = cs.VerifiedChains // as a full handshake passes them
			}
			if err := verify(raw, chains); err != nil {
				return err
			}
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return c
}

// callHelloCallback calls callback, turning a panic into an error.
func callHelloCallback(callback func(*ClientHello) (*tls.Config, error), hello *ClientHello) (c *tls.Config, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("TLSHandshakeCallback panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return callback(hello)
}

// typedNil reports whether err is a nil pointer (or other nil value) in a
// non-nil error interface.
func typedNil(err error) bool {
	v := reflect.ValueOf(err)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}
