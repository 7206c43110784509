package app

import (
	"net/url"
	"reflect"
	"testing"
)

// FuzzSimpleURL checks simpleURL against url.ParseRequestURI: whenever it
// takes a target, ParseRequestURI takes it too and gives an equal URL.
func FuzzSimpleURL(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b?c=d&e", "/a%20b", "/a b", "/x?y#z", "//host/p", "/~u/$&+,;=:@", "/a?b?c", "/a?",
		"/?", "/a?b c", "/a?\x7f", "/a?\x00", "/a?%zz", "/a?b%", "/é", "/a?é", "/a?\t", "/a?#", "/..", "/./a",
		"/a?b\r\nX: y", "/%2F", "/a;b", "/a?b;c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got := new(url.URL)
		if !simpleURL(target, got) {
			return
		}
		want, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("%q: simpleURL takes it, ParseRequestURI: %v", target, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: simpleURL = %#v, ParseRequestURI = %#v", target, got, want)
		}
	})
}
