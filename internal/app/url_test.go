package app

import (
	"net/url"
	"reflect"
	"testing"
)

func TestSimpleURLMatchesParseRequestURI(t *testing.T) {
	for _, target := range []string{"/", "/a/b?c=d&e", "/a%20b", "/a b", "/x?y#z", "//host/p", "/~u/!$&'()*+,;=:@", "/~u/$&+,;=:@", "/a?b?c", "/a?", "/[x]", "/a|b", "/é"} {
		want, err := url.ParseRequestURI(target)
		got := new(url.URL)
		if !simpleURL(target, got) {
			continue
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: simpleURL = %#v, ParseRequestURI = %#v, %v", target, got, want, err)
		}
	}
}
