//go:build !race

package kestrel

const raceEnabled = false
