package kestrel

import (
	"fmt"
	"time"
)

// Unlimited turns off a limit that Kestrel allows to be unlimited, where
// the field's doc says so.
const Unlimited = -1

// Kestrel's defaults for the fields of [Limits].
const (
	DefaultMaxRequestBodySize         = 30_000_000
	DefaultMaxRequestLineSize         = 8 * 1024
	DefaultMaxRequestHeadersTotalSize = 32 * 1024
	DefaultMaxRequestHeaderCount      = 100
	DefaultKeepAliveTimeout           = 130 * time.Second
	DefaultRequestHeadersTimeout      = 30 * time.Second
)

// Limits bounds what one client can make the server hold or wait for.
// The zero value of every field means Kestrel's default for it.
type Limits struct {
	// MaxConcurrentConnections is the number of connections served at once.
	// A connection accepted beyond it is closed at once, without a
	// response. Zero (the default) means unlimited.
	MaxConcurrentConnections int64

	// MaxRequestBodySize is the largest request body, in bytes, that a
	// handler may read; reading past it fails and the request is answered
	// with 413 Payload Too Large. Zero means 30,000,000 bytes; Unlimited
	// turns the check off.
	MaxRequestBodySize int64

	// MaxRequestLineSize is the longest request line, in bytes, counting
	// its CRLF. A longer one is answered with 414 URI Too Long.
	// Zero means 8,192.
	MaxRequestLineSize int

	// MaxRequestHeadersTotalSize is the most bytes the header fields of a
	// request may take, counting each line's CRLF and the empty line that
	// ends them. More is answered with 431 Request Header Fields Too Large.
	// Zero means 32,768.
	MaxRequestHeadersTotalSize int

	// MaxRequestHeaderCount is the most header fields a request may have.
	// More is answered with 431. Zero means 100.
	MaxRequestHeaderCount int

	// KeepAliveTimeout is how long an idle keep-alive connection is kept
	// open waiting for its next request; then it is closed without a
	// response. Zero means 130 seconds; Unlimited keeps it forever.
	KeepAliveTimeout time.Duration

	// RequestHeadersTimeout is how long the server waits for a request's
	// head, from its first byte; then it answers 408 Request Timeout and
	// closes the connection. Zero means 30 seconds; Unlimited waits forever.
	RequestHeadersTimeout time.Duration
}

// withDefaults returns l with every zero field set to its default and checks
// that the values make sense.
func (l Limits) withDefaults() (Limits, error) {
	if l.MaxRequestBodySize == 0 {
		l.MaxRequestBodySize = DefaultMaxRequestBodySize
	}
	if l.MaxRequestLineSize == 0 {
		l.MaxRequestLineSize = DefaultMaxRequestLineSize
	}
	if l.MaxRequestHeadersTotalSize == 0 {
		l.MaxRequestHeadersTotalSize = DefaultMaxRequestHeadersTotalSize
	}
	if l.MaxRequestHeaderCount == 0 {
		l.MaxRequestHeaderCount = DefaultMaxRequestHeaderCount
	}
	if l.KeepAliveTimeout == 0 {
		l.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	if l.RequestHeadersTimeout == 0 {
		l.RequestHeadersTimeout = DefaultRequestHeadersTimeout
	}
	switch {
	case l.MaxConcurrentConnections < 0 && l.MaxConcurrentConnections != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.MaxConcurrentConnections is %d; use a positive number, or 0 or Unlimited for no limit", l.MaxConcurrentConnections)
	case l.MaxRequestBodySize < 0 && l.MaxRequestBodySize != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestBodySize is %d; use a positive number of bytes, or Unlimited", l.MaxRequestBodySize)
	case l.MaxRequestLineSize < 16:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestLineSize is %d; use at least 16 bytes (default %d)", l.MaxRequestLineSize, DefaultMaxRequestLineSize)
	case l.MaxRequestHeadersTotalSize < 2:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestHeadersTotalSize is %d; use at least 2 bytes (default %d)", l.MaxRequestHeadersTotalSize, DefaultMaxRequestHeadersTotalSize)
	case l.MaxRequestHeaderCount < 1:
		return l, fmt.Errorf("kestrel: Limits.MaxRequestHeaderCount is %d; use at least 1 (default %d)", l.MaxRequestHeaderCount, DefaultMaxRequestHeaderCount)
	case l.KeepAliveTimeout < 0 && l.KeepAliveTimeout != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.KeepAliveTimeout is %v; use a positive duration, or Unlimited", l.KeepAliveTimeout)
	case l.RequestHeadersTimeout < 0 && l.RequestHeadersTimeout != Unlimited:
		return l, fmt.Errorf("kestrel: Limits.RequestHeadersTimeout is %v; use a positive duration, or Unlimited", l.RequestHeadersTimeout)
	}
	return l, nil
}
