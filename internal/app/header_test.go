package app

import (
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"reflect"
	"testing"
)

// canonicalNames are field names whose canonical forms textproto decides:
// lower case as HTTP/2 and HTTP/3 send them, any case as HTTP/1.1 may,
// and names with bytes that are not token characters, which textproto
// leaves as they are.
var canonicalNames = []string{
	"", "a", "A", "user-agent", "User-Agent", "USER-AGENT", "uSER-aGENT", "x-forwarded-for",
	"content-md5", "-x", "x-", "x--y", "1abc", "x_y", "a b", "a:b", "ümlaut", "x-\xff", "te",
	"sec-websocket-key", "dnt", "x-ABC-def", "accept-encoding", "Accept-encoding", "!#$%&'*+-.^_`|~",
}

func TestCanonicalizeMatchesTextproto(t *testing.T) {
	check := func(name string) {
		t.Helper()
		want := textproto.CanonicalMIMEHeaderKey(name)
		if got := isCanonical([]byte(name)); got != (want == name) {
			t.Errorf("isCanonical(%q) = %v; CanonicalMIMEHeaderKey gives %q", name, got, want)
		}
		b := []byte(name)
		canonicalize(b)
		if string(b) != want {
			t.Errorf("canonicalize(%q) = %q, want %q", name, b, want)
		}
	}
	for _, name := range canonicalNames {
		check(name)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aZ-_ 9\xc3~"
	for range 20000 {
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		check(string(b))
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, name := range canonicalNames {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		b := []byte(name)
		canonicalize(b)
		if want := textproto.CanonicalMIMEHeaderKey(name); string(b) != want {
			t.Errorf("canonicalize(%q) = %q, want %q", name, b, want)
		}
	})
}

// peerStream is a Stream that answers only what newRequest asks.
type peerStream struct{ Stream }

func (peerStream) PeerAddr() string  { return "192.0.2.1:1234" }
func (peerStream) NetConn() net.Conn { return nil }

func TestNewRequestHeader(t *testing.T) {
	// Each case's fields, and the header net/http's Header would hold for
	// them: canonical names, repeated names' values in order, Host and
	// Transfer-Encoding not in it.
	for _, tc := range []struct {
		name   string
		fields [][2]string
	}{
		{"none", nil},
		{"lower case, as HTTP/2", [][2]string{{"user-agent", "a"}, {"accept", "*/*"}, {"x-custom-thing", "1"}}},
		{"repeats in any case", [][2]string{{"accept", "a"}, {"X-Y", "1"}, {"ACCEPT", "b"}, {"x-y", "2"}, {"Accept", "c"}}},
		{"repeat at the end", [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}, {"a", "6"}}},
		{"host and transfer-encoding", [][2]string{{"host", "h"}, {"transfer-encoding", "chunked"}, {"cookie", "a=1"}, {"cookie", "b=2"}}},
		{"more than fit inline", [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}, {"f", "6"}, {"b", "7"}}},
		{"not tokens", [][2]string{{"a b", "1"}, {"ümlaut", "2"}, {"A B", "3"}, {"a b", "4"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := &Exchange{s: peerStream{}}
			h := &ex.Req
			h.Buf = append(h.Buf, "GET /p HTTP/1.1 "...)
			h.Method, h.Target = Span{0, 3}, Span{4, 6}
			h.ProtoMajor, h.ProtoMinor = 1, 1
			want := http.Header{}
			for _, f := range tc.fields {
				name := Span{int32(len(h.Buf)), int32(len(h.Buf) + len(f[0]))}
				h.Buf = append(h.Buf, f[0]...)
				value := Span{int32(len(h.Buf)), int32(len(h.Buf) + len(f[1]))}
				h.Buf = append(h.Buf, f[1]...)
				h.Fields = append(h.Fields, Field{Name: name, Value: value})
				if key := textproto.CanonicalMIMEHeaderKey(f[0]); key != "Host" && key != "Transfer-Encoding" {
					want[key] = append(want[key], f[1])
				}
			}
			sent := string(h.Buf)
			var req http.Request
			if err := ex.newRequest(&req, new(requestAlloc)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Header, want) {
				t.Errorf("Header = %q, want %q", req.Header, want)
			}
			if string(h.Buf) != sent {
				t.Errorf("the head changed: %q, was %q", h.Buf, sent)
			}
			// A value appended to one name must not overwrite another's.
			for k := range req.Header {
				req.Header[k] = append(req.Header[k], "added")
			}
			for k, vs := range want {
				if got := req.Header[k]; !reflect.DeepEqual(got[:len(got)-1], vs) {
					t.Errorf("after appending to every name, %s = %q, want %q and one more", k, got, vs)
				}
			}
		})
	}
}
