//go:build race

package kestrel

// raceEnabled tells the tests that count allocations that sync.Pool
// drops items at random under the race detector.
const raceEnabled = true
