package settings

import (
	"strings"
	"testing"
)

// FuzzStoreKeys sets keys from arbitrary text (as a JSON file's names
// and environment variables give them, in any script) and checks the
// store's invariants: no panic; each key just set reads back (ignoring
// case); no key above it (at a ':') is left set; the children of each
// key above it include its segment as spelled; and the Kestrel__A__B
// variables set Kestrel:A:B.
func FuzzStoreKeys(f *testing.F) {
	for _, s := range [][2]string{
		{"A:B", "a:b:c"}, {"İ:a", "i̇:a"}, {"K:x", "k:y"}, {"ß:ẞ", "ss"}, {"Ω:a:b", "ω"}, {"a::b", ":"}, {"", "a:"},
		{"Kestrel:Limits", "KESTREL:limits:Max"}, {"ǅ:b", "ǆ:c"}, {"Ⱥ:a", "Ⱥ:b:c"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, k1, k2 string) {
		var s Store
		for _, k := range []string{k1, k2} {
			s.Set(k, "v:"+k, "test")
			if got, ok := s.Lookup(k); !ok || got != "v:"+k {
				t.Fatalf("Set(%q) then Lookup = %q, %v", k, got, ok)
			}
			for i := range len(k) {
				if k[i] != ':' {
					continue
				}
				if _, ok := s.Lookup(k[:i]); ok {
					t.Fatalf("Set(%q) left %q set", k, k[:i])
				}
				parent, seg := k[:i], k[i+1:]
				if j := strings.IndexByte(seg, ':'); j >= 0 {
					seg = seg[:j]
				}
				found := false
				for _, c := range s.Children(parent) {
					found = found || strings.EqualFold(c, seg)
				}
				if !found {
					t.Fatalf("after Set(%q): Children(%q) = %q, without %q", k, parent, s.Children(parent), seg)
				}
			}
		}
		var e Store
		e.LoadEnv([]string{"Kestrel__" + k1 + "=x"}, "Kestrel")
		if !strings.Contains(k1, "=") {
			key := "Kestrel:" + strings.ReplaceAll(k1, "__", ":")
			if got, ok := e.Lookup(key); k1 != "" && (!ok || got != "x") {
				t.Fatalf("Kestrel__%s=x: Lookup(%q) = %q, %v", k1, key, got, ok)
			}
		}
	})
}
