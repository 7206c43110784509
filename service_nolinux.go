//go:build !linux

package kestrel

// monotonicUsec is empty where there is no systemd to want it.
func monotonicUsec() string { return "" }
