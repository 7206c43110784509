//go:build !unix

package main

func monotonicNowUsec() (int64, bool) { return 0, false }
