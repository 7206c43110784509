//go:build !unix

package main

func monotonicUsec() string { return "" }
