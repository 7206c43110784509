package staticfiles

import (
	"path"
	"strings"
	"testing"
)

// FuzzCleanName checks the URL path to file name mapping: a path it
// accepts gives a name that path.Clean leaves alone, relative, inside
// the root (no ".." segment), naming no hidden file (no segment starting
// with a dot but ".well-known"), without backslash or NUL, and on
// Windows without ":" or a segment in the form of a short name, once
// Windows has trimmed its trailing dots and spaces.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{
		"/", "", "/a/b.txt", "/a/../b", "/./a//b/", "/.env", "/.well-known/x", "/a\\b", "/a\x00",
		"/a:b", "/ENV~1", "/GITIGN~1/x", "/AB12~1.TXT", "/a/.", "/..", "..", "/.../x", "/a/..b",
		"/.well-known/.hidden", "a/b", "//", "/~1", "/a~/b", "/ENV~1..", "/ENV~1 ", "/GIT~1. /config",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, windows bool) {
		name, slash, status := cleanNameOn(p, windows)
		if status != 0 {
			if name != "" || slash {
				t.Fatalf("cleanNameOn(%q, %v) = %q, %v, %d", p, windows, name, slash, status)
			}
			return
		}
		if slash != strings.HasSuffix(p, "/") {
			t.Fatalf("cleanNameOn(%q, %v): slash %v", p, windows, slash)
		}
		if want := path.Clean("/" + p)[1:]; name != want {
			t.Fatalf("cleanNameOn(%q, %v) = %q, want %q", p, windows, name, want)
		}
		if strings.ContainsAny(name, "\\\x00") || windows && strings.Contains(name, ":") {
			t.Fatalf("cleanNameOn(%q, %v) = %q", p, windows, name)
		}
		if name == "" {
			return
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == "" || seg == "." || seg == ".." || seg[0] == '.' && seg != ".well-known" || windows && isShortName(strings.TrimRight(seg, ". ")) {
				t.Fatalf("cleanNameOn(%q, %v) = %q, with segment %q", p, windows, name, seg)
			}
		}
	})
}
