package metrics

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseKnownMethods checks OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS
// parsing against its model: "" is the default (nil); otherwise the
// elements between commas, spaces and tabs trimmed, the empty ones left
// out (an empty, non-nil list when none is left).
func FuzzParseKnownMethods(f *testing.F) {
	for _, s := range []string{"", "GET,POST", " GET , ,\tPURGE ", ",", ",,", "A,", ",B", " ", "G ET"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ParseKnownMethods(s)
		if s == "" {
			if got != nil {
				t.Fatalf("ParseKnownMethods(\"\") = %q, want nil", got)
			}
			return
		}
		want := []string{}
		for _, m := range strings.Split(s, ",") {
			if m = strings.Trim(m, " \t"); m != "" {
				want = append(want, m)
			}
		}
		if got == nil || !slices.Equal(got, want) {
			t.Fatalf("ParseKnownMethods(%q) = %q, want %q", s, got, want)
		}
	})
}
