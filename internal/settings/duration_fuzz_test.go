package settings

import (
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

// timeSpanText is the grammar of the TimeSpan text ParseDuration
// accepts: an optional minus, optional days and a dot, hours, minutes,
// and optional seconds with an optional fraction, all ASCII digits.
var timeSpanText = regexp.MustCompile(`^(-?)(?:([0-9]+)\.)?([0-9]+):([0-9]+)(?::([0-9]+)(?:\.([0-9]+))?)?$`)

// FuzzParseDuration checks ParseDuration against a model: text without a
// colon parses as time.ParseDuration does; text with one is accepted
// only in the TimeSpan grammar, hours under 24, minutes and seconds
// under 60, and its value is the exact sum (the fraction truncated to
// nanoseconds), the longest Duration for longer ones.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"00:00:05", "1.02:03:04.5", "-00:00:01", "5s", "1m30s", "00:60:00", "5", "1:2:3:4",
		"10675199.02:48:05.4775807", "-200000.00:00:00", "106751.23:47:16.854775807",
		" 00:01 ", "00:00:59.999999999", "00:00:00.0000000001", "1.:00", ":", "-", "",
		"00:00:NaN", "00:00:Inf", "00:00:1e1", "00:00:0x1p3", "--00:00:05", "+00:00:05",
		"00:+5:00", "+1.00:00", "--1.00:00", "00:00:05.", "00:00:.5", "00:00:_5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := ParseDuration(text)
		tt := strings.TrimSpace(text)
		if !strings.Contains(tt, ":") {
			want, werr := time.ParseDuration(tt)
			if (err == nil) != (werr == nil) || got != want {
				t.Fatalf("ParseDuration(%q) = %v, %v; time.ParseDuration: %v, %v", text, got, err, want, werr)
			}
			return
		}
		m := timeSpanText.FindStringSubmatch(tt)
		ok := m != nil
		var want time.Duration
		if ok {
			num := func(s string) *big.Int {
				n, _ := new(big.Int).SetString("0"+s, 10)
				return n
			}
			h, mi, s := num(m[3]), num(m[4]), num(m[5])
			ok = h.Cmp(big.NewInt(24)) < 0 && mi.Cmp(big.NewInt(60)) < 0 && s.Cmp(big.NewInt(60)) < 0
			frac := (m[6] + "000000000")[:9]
			ns := num(m[2])
			for _, p := range []struct {
				v    *big.Int
				mult int64
			}{{h, 24}, {mi, 60}, {s, 60}, {big.NewInt(0), 1e9}} {
				ns.Mul(ns, big.NewInt(p.mult)).Add(ns, p.v)
			}
			ns.Add(ns, num(frac))
			if ns.Cmp(big.NewInt(math.MaxInt64)) > 0 {
				ns.SetInt64(math.MaxInt64)
			}
			want = time.Duration(ns.Int64())
			if m[1] == "-" {
				want = -want
			}
		}
		if (err == nil) != ok || ok && got != want {
			t.Fatalf("ParseDuration(%q) = %v, %v; want %v, ok=%v", text, got, err, want, ok)
		}
	})
}
