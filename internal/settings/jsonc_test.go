package settings

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestJSONC: what System.Text.Json reads with JsonCommentHandling.Skip
// and AllowTrailingCommas, as ASP.NET's JSON configuration provider does,
// LoadJSON reads; what it refuses, LoadJSON refuses.
func TestJSONC(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       map[string]string // key: value; nil means an error
		err        string
	}{
		{"line comments", "{\n  // the endpoints\n  \"A\": 1, // one\n  \"B\": 2 // two\n}", map[string]string{"A": "1", "B": "2"}, ""},
		{"line comment ends at CR", "{\"A\": 1 // one\r\"B\": 2}", nil, "invalid character '\"' after object key:value pair"},
		{"block comments anywhere", `/* head */{/* a */"A"/* b */:/* c */1/* d */,"B":[/* e */2/* f */]}/* tail */`, map[string]string{"A": "1", "B:0": "2"}, ""},
		{"block comment over lines", "{\"A\": /* one\n two\n */ 1}", map[string]string{"A": "1"}, ""},
		{"comment markers inside strings are kept", `{"Url": "http://host/*x*/", "P": "a // b", "Q": "\"/*"}`, map[string]string{"Url": "http://host/*x*/", "P": "a // b", "Q": `"/*`}, ""},
		{"trailing commas", `{"A": [1, 2,], "B": {"C": true,},}`, map[string]string{"A:0": "1", "A:1": "2", "B:C": "true"}, ""},
		{"trailing comma before a comment", "{\"A\": 1, // last\n /* end */ }", map[string]string{"A": "1"}, ""},
		{"byte order mark", "\ufeff{\"A\": \"x\"}", map[string]string{"A": "x"}, ""},
		{"byte order mark, comments and commas", "\ufeff// Visual Studio\n{\"Kestrel\": {\"Endpoints\": {\"Http\": {\"Url\": \"http://localhost:5000\",},},},}", map[string]string{"Kestrel:Endpoints:Http:Url": "http://localhost:5000"}, ""},
		{"System.Text.Json's documented example", "{\n  \"Date\": \"2019-08-01T00:00:00-07:00\",\n  \"TemperatureCelsius\": 25, // Fahrenheit 77\n  \"Summary\": \"Hot\", /* Zharko */\n  // Comments on\n  /* separate lines */\n}",
			map[string]string{"Date": "2019-08-01T00:00:00-07:00", "TemperatureCelsius": "25", "Summary": "Hot"}, ""},
		{"unclosed block comment", "{\"A\": 1}\n  /* end", nil, "line 2, column 3: a /* comment is not closed with */"},
		{"/*/ does not close", `{"A": 1 /*/ }`, nil, "line 1, column 9: a /* comment is not closed with */"},
		{"comma alone in a list", `{"A": [,]}`, nil, "invalid character ','"},
		{"comma alone in an object", `{,}`, nil, "invalid character ','"},
		{"two trailing commas", `{"A": [1,,]}`, nil, "invalid character ','"},
		{"comma after a colon", `{"A":,}`, nil, "invalid character ','"},
		{"comma after the top-level object", `{"A": 1},`, nil, "unexpected data after the top-level object"},
		{"comma after the top-level object before a brace", `{"A": 1}, }`, nil, "unexpected data after the top-level object"},
		{"a single slash", `{"A": 1 / 2}`, nil, "invalid character '/'"},
		{"hash is not a comment", "{# no\n\"A\": 1}", nil, "invalid character '#'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Store
			err := s.LoadJSON([]byte(tc.json), "app.json")
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("LoadJSON(%q) = %v, want an error containing %q", tc.json, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadJSON(%q): %v", tc.json, err)
			}
			got := map[string]string{}
			for _, v := range s.values {
				got[v.key] = v.text
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LoadJSON(%q) = %v, want %v", tc.json, got, tc.want)
			}
		})
	}
}

// FuzzStripJSONC checks the comment and trailing-comma remover: it keeps
// every offset and line break, leaves plain JSON alone, changes nothing
// the second time, only ever turns bytes into spaces, and what it lets
// through decodes as the same JSON once the comments are gone.
func FuzzStripJSONC(f *testing.F) {
	for _, s := range []string{
		`{"A": 1}`, "{\"A\": [1, 2,], // c\n \"B\": /* x */ \"/*\"}", "\ufeff{}", `{"A": "\"//"}`,
		"/* open", `[,]`, `{"a":1,,}`, "{\"A\": 1 // c\r\n}", `{"A": "x\\"}`, `"unterminated /*`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, off, err := stripJSONC(data)
		if err != nil {
			if off < 0 || off+2 > len(data) || string(data[off:off+2]) != "/*" {
				t.Fatalf("error %v at %d, which is not a /*", err, off)
			}
			return
		}
		if len(out) != len(data) {
			t.Fatalf("length %d, want %d", len(out), len(data))
		}
		for i := range data {
			if out[i] != data[i] && out[i] != ' ' {
				t.Fatalf("byte %d changed from %q to %q", i, data[i], out[i])
			}
			if (data[i] == '\n' || data[i] == '\r') && out[i] != data[i] {
				t.Fatalf("line break at %d removed", i)
			}
		}
		if json.Valid(data) && !bytes.Equal(out, data) {
			t.Fatalf("valid JSON changed: %q -> %q", data, out)
		}
		again, _, err := stripJSONC(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second pass: %q, %v; want %q", again, err, out)
		}
		// Plain JSON values come through as they were: compact the
		// output, and it is JSON or the input was not.
		if json.Valid(out) {
			// (Valid JSON may still not decode: a number beyond float64.)
			var a, b any
			errA, errB := json.Unmarshal(out, &a), json.Unmarshal(again, &b)
			if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
				t.Fatalf("decodes differently: %v, %v", errA, errB)
			}
		}
	})
}
