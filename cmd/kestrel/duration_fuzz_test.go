package main

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
)

// secondsText is the grammar of a number of seconds that
// parseDurationFlag accepts: decimal digits with an optional fraction.
var secondsText = regexp.MustCompile(`^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$`)

// FuzzParseDurationFlag checks --shutdown-timeout's and --drain-delay's
// parser: a number without a unit is accepted only as decimal seconds,
// within a nanosecond (float rounding) of its exact value and never
// negative; a number too large for a Duration is refused, never wrapped;
// anything else parses as Go's or TimeSpan's text does.
func FuzzParseDurationFlag(f *testing.F) {
	for _, s := range []string{
		"30", "2.5", " 45 ", "0", "30s", "1m30s", "00:00:30", "1.00:00:00", "-1s", "-5",
		"1e3", "NaN", "Inf", "1e400", "soon", "", "99999999999999", ".5", "5.",
		"9223372036.854775807", "9223372036.854775", "9223372036", "0x1p3", "+5", "0x10p-2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := parseDurationFlag(text)
		tt := strings.TrimSpace(text)
		if err != nil || strings.ContainsAny(tt, "smhuµnμ:") {
			return
		}
		if !secondsText.MatchString(tt) {
			t.Fatalf("parseDurationFlag(%q) = %v, accepted; want a number of seconds in decimal digits", text, got)
		}
		exact, _ := new(big.Float).SetPrec(200).SetString(tt)
		exact.Mul(exact, big.NewFloat(1e9))
		ns, _ := exact.Int(nil)
		diff := new(big.Int).Sub(ns, big.NewInt(int64(got)))
		// A float64 of seconds holds about 16 significant digits.
		tol := new(big.Int).Div(ns, big.NewInt(1e15))
		tol.Add(tol, big.NewInt(1))
		if got < 0 || diff.CmpAbs(tol) > 0 {
			t.Fatalf("parseDurationFlag(%q) = %v (%d ns), want %s ns", text, got, int64(got), ns)
		}
	})
}
