package tlsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestErrorType(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{ErrPlainHTTP, "plain_http"},
		{fmt.Errorf("tls handshake: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("tls handshake: %w", &net.OpError{Op: "read", Err: timeoutError{}}), "timeout"},
		{fmt.Errorf("tls handshake: %w", os.ErrDeadlineExceeded), "timeout"},
		{fmt.Errorf("tls handshake: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}), "remote_alert"},
		{fmt.Errorf("tls handshake: %w", io.EOF), "connection_closed"},
		{fmt.Errorf("tls handshake: %w", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), "connection_closed"},
		{errors.New("tls: client offered only unsupported versions: [302 301]"), "handshake_failed"},
		{errors.New("tls: no cipher suite supported by both client and server"), "handshake_failed"},
	} {
		if got := ErrorType(c.err); got != c.want {
			t.Errorf("ErrorType(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestVersionName(t *testing.T) {
	for v, want := range map[uint16]string{tls.VersionTLS12: "Tls12", tls.VersionTLS13: "Tls13", tls.VersionTLS10: "Tls", tls.VersionTLS11: "Tls11"} {
		if got := VersionName(v); got != want {
			t.Errorf("VersionName(%x) = %q, want %q", v, got, want)
		}
	}
}

// TestHandshakeFirstBytes: plain HTTP and other bytes that do not start a
// TLS record get the 400 answer and ErrPlainHTTP; a record that claims to
// be a handshake but is not fails as a handshake, unanswered.
func TestHandshakeFirstBytes(t *testing.T) {
	config := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate in this test")
	}}
	for _, tc := range []struct {
		name, sent string
		plain      bool
	}{
		{"plain HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"PRI preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true},
		{"handshake type, bad version", "\x16\x30\x30\x00\x05hello", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := net.Pipe()
			defer client.Close()
			go func() {
				io.WriteString(client, tc.sent)
			}()
			answer := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(client)
				answer <- string(b)
			}()
			_, err := Handshake(context.Background(), server, config, 0)
			server.Close()
			if got := errors.Is(err, ErrPlainHTTP); got != tc.plain {
				t.Fatalf("error %v; want ErrPlainHTTP: %v", err, tc.plain)
			}
			if got := <-answer; (got == plainHTTPResponse) != tc.plain {
				t.Errorf("answer %q", got)
			}
		})
	}
}
