// Package stats has the summary statistics the benchmark commands share.
package stats

import (
	"slices"
	"sort"
)

// Median returns the median of xs, or 0 when it is empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
