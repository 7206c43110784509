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
