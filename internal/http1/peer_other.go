//go:build !unix

package http1

import "net"

// peerClosed cannot look at the socket without reading on this platform; a
// request's context is cancelled when a write fails instead.
func peerClosed(net.Conn) bool { return false }
