package httpsyntax

import (
	"math"
	"strconv"
	"testing"
)

func TestValidAuthority(t *testing.T) {
	for _, c := range []struct {
		a    string
		want bool
	}{
		{"example.com", true},
		{"example.com:8443", true},
		{"[::1]:443", true},
		{"", false},
		{"user@example.com", false},
		{"example.com/path", false},
		{"example.com?q", false},
		{"example.com#f", false},
		{"exa mple.com", false},
		{"xn--bcher-kva.example:443", true},
		{"a_b.test", true},
		{"192.0.2.1:0080", true},
		{"[v1.x]", true},
		// What HTTP/1.1's Host refuses (RFC 3986, 3.2.2), :authority too.
		{"a<b>.test", false},
		{"a\x1b[31m.test", false},
		{"a\tb", false},
		{"a\x7fb", false},
		{"a\xffb", false},
		{`a"b`, false},
		{"a.test:8o", false},
		{"a:1:2", false},
		{"[::1", false},
		{"[::1]x", false},
		{"[::1]:x", false},
	} {
		if got := ValidAuthority([]byte(c.a)); got != c.want {
			t.Errorf("ValidAuthority(%q) = %v, want %v", c.a, got, c.want)
		}
	}
}

func TestValidConnectAuthority(t *testing.T) {
	for _, c := range []struct {
		a    string
		want bool
	}{
		{"example.com:443", true},
		{"[::1]:443", true},
		{"192.0.2.1:8080", true},
		{"example.com", false},
		{"example.com:", false},
		{"[::1]", false},
		{"[::1]:", false},
		{"[v1.x]", false},
		{"", false},
		{"u@example.com:443", false},
		{"example.com:44x", false},
	} {
		if got := ValidConnectAuthority([]byte(c.a)); got != c.want {
			t.Errorf("ValidConnectAuthority(%q) = %v, want %v", c.a, got, c.want)
		}
	}
}

func TestResponseFieldHelpers(t *testing.T) {
	if got := string(AppendLower([]byte("x-"), []byte("Content-Type"))); got != "x-content-type" {
		t.Errorf("AppendLower: %q", got)
	}
	for name, want := range map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true,
		"transfer-encoding": true, "upgrade": true, "content-type": false, "te": true, "tea": false} {
		if got := ConnectionSpecific([]byte(name)); got != want {
			t.Errorf("ConnectionSpecific(%q) = %v", name, got)
		}
	}
	for code, want := range map[int]string{100: "100", 200: "200", 599: "599", 600: "600", 42: "42"} {
		if got := StatusString(code); got != want {
			t.Errorf("StatusString(%d) = %q", code, got)
		}
	}
	if n := testing.AllocsPerRun(10, func() { StatusString(404) }); n != 0 {
		t.Errorf("StatusString allocates %v times", n)
	}
}

func TestValidTrailerName(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Checksum": true, "grpc-status": true, "Server-Timing": true, "If": true, "Te-X": true,
		"Content-Length": false, "content-length": false, "Host": false, "TE": false, "Trailer": false,
		"Transfer-Encoding": false, "Content-Type": false, "If-Match": false, "if-none-match": false,
		"Www-Authenticate": false, "Upgrade": false, "": false, "Bad Name": false,
	} {
		if got := ValidTrailerName(name); got != want {
			t.Errorf("ValidTrailerName(%q) = %v, want %v", name, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ValidTrailerName("grpc-status") }); n != 0 {
		t.Errorf("ValidTrailerName allocates %v times", n)
	}
}

func TestSanitizeValue(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "a\r\nb": "a  b", "a\x00b": "a b", "a\x01b\x1fc\x7fd": "a b c d", "a\tb": "a\tb", "caf\xc3\xa9": "caf\xc3\xa9",
	} {
		if got := SanitizeValue(in); got != want {
			t.Errorf("SanitizeValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseContentLength compares ParseContentLength with net/http's rule
// (strconv.ParseUint(v, 10, 63): digits only, leading zeros allowed, up to
// math.MaxInt64) at the limits of an int64 and of a 32-bit int.
func TestParseContentLength(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"5", 5, true},
		{"4294967295", 4294967295, true},
		{"4294967296", 4294967296, true},
		{"999999999999999999", 999999999999999999, true},
		{"1000000000000000000", 1000000000000000000, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"0000000000000000005", 5, true},
		{"000000000000000000000000000000000000000005", 5, true},
		{"0009223372036854775807", math.MaxInt64, true},
		{"00000000000000000000", 0, true},
		{"9223372036854775808", 0, false},
		{"9999999999999999999", 0, false},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"+5", 0, false},
		{"-1", 0, false},
		{"5 ", 0, false},
		{"0x5", 0, false},
		{"1_000", 0, false},
	} {
		n, ok := ParseContentLength(c.v)
		if n != c.want || ok != c.ok {
			t.Errorf("ParseContentLength(%q) = %d, %v; want %d, %v", c.v, n, ok, c.want, c.ok)
		}
		model, err := strconv.ParseUint(c.v, 10, 63)
		if modelOK := err == nil && c.v[0] != '+'; modelOK != c.ok || modelOK && int64(model) != c.want {
			t.Errorf("net/http's rule for %q: %d, %v; the table says %d, %v", c.v, model, modelOK, c.want, c.ok)
		}
		if b, bok := ParseContentLength([]byte(c.v)); b != n || bok != ok {
			t.Errorf("ParseContentLength([]byte(%q)) = %d, %v; as a string %d, %v", c.v, b, bok, n, ok)
		}
	}
}
