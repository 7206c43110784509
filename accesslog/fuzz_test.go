package accesslog

import (
	"encoding/base64"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// combined is the Combined Log Format line appendLine writes, with the
// duration and the request id after it.
var combined = regexp.MustCompile(`^(\S+) - (\S+) \[[^\]]+\] "(\S+) (\S+) (\S+)" ([0-9]+) ([0-9]+|-) "([^"]*)" "([^"]*)" ([0-9]+\.[0-9]{6}) (\S+)\n$`)

// unescape undoes appendSafe's \xHH escapes.
func unescape(t *testing.T, s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+3 >= len(s) || s[i+1] != 'x' {
				t.Fatalf("bad escape in %q", s)
			}
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b = append(b, byte(n))
			i += 3
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// FuzzAppendLine checks the access log line against the Combined Log
// Format whatever the client sends: one line, printable ASCII, its
// fields where a CLF parser looks for them, and the quoted and escaped
// values (address, user, Referer, User-Agent) unescaping to what came in.
func FuzzAppendLine(f *testing.F) {
	for _, s := range [][4]string{
		{"192.0.2.1:5000", "alice", "https://example.com/", "curl/8.0"},
		{"[fe80::1%eth0]:1", "a b", "\"quoted\"", "back\\slash"},
		{"@", "", "", "ü\x00\r\n"},
		{"", "-", "-", "x\x7f"},
		{"a b", "\"", "\\x41", "\t"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, remote, user, referer, agent string) {
		r := httptest.NewRequest("GET", "/x?y", nil)
		r.RemoteAddr = remote
		r.Header["Referer"] = []string{referer}
		r.Header["User-Agent"] = []string{agent}
		if user != "" {
			r.Header["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":pw"))}
		}
		line := string(appendLine(nil, &entry{start: time.Unix(0, 0), r: r, status: 200, bytes: 5}))
		for i := 0; i < len(line)-1; i++ {
			if c := line[i]; c < 0x20 || c >= 0x7f {
				t.Fatalf("line %q: byte %#x", line, c)
			}
		}
		m := combined.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %q is not in the Combined Log Format", line)
		}
		if user == "" || user[0] == ':' {
			user = "-"
		}
		if u, _, ok := r.BasicAuth(); ok && u != "" {
			user = u
		}
		if got := unescape(t, m[2]); got != user {
			t.Fatalf("line %q: user %q, want %q", line, got, user)
		}
		for _, c := range []struct{ got, want string }{{m[8], referer}, {m[9], agent}} {
			want := c.want
			if want == "" {
				want = "-"
			}
			if got := unescape(t, c.got); got != want {
				t.Fatalf("line %q: field %q, want %q", line, got, want)
			}
		}
	})
}
