package settings

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:00:05", 5 * time.Second, true},
		{"00:02:10", 130 * time.Second, true},
		{"1.02:03:04.5", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond, true},
		{"-00:00:01", -time.Second, true},
		{"5s", 5 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"00:60:00", 0, false},
		{"soon", 0, false},
		{"5", 0, false},
		{"1:2:3:4", 0, false},
		// Longer than a Duration holds: the longest one, never a wrap to
		// a negative or small value.
		{"10675199.02:48:05.4775807", math.MaxInt64, true}, // .NET's TimeSpan.MaxValue
		{"200000.00:00:00", math.MaxInt64, true},
		{"106751.23:47:16.854775807", math.MaxInt64, true},
		{"106751.00:00:00", 106751 * 24 * time.Hour, true},
		{"-200000.00:00:00", -math.MaxInt64, true},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

type sample struct {
	Name    string
	Count   *int
	Enabled bool
	Rate    float64
	Wait    Duration
	Tags    []string
	Items   map[string]item
	Renamed string `config:"Other"`
}

type item struct{ Size int64 }

func TestBindOverridesAndErrors(t *testing.T) {
	var s Store
	err := s.LoadJSON([]byte(`{"App": {"name": "file", "COUNT": 3, "Enabled": true, "Rate": 2.5, "Wait": "00:00:05",
		"Tags": ["a", "b"], "Items": {"One": {"Size": 1}, "two": {"size": 2}}, "Other": "x"}}`), "app.json")
	if err != nil {
		t.Fatal(err)
	}
	s.Set("App:Name", "flag", "flag --name")
	s.LoadEnv([]string{"APP__ITEMS__ONE__SIZE=10", "OTHER__X=1", "App__Wait=7s"}, "App")
	var got sample
	if err := s.Bind("App", &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "flag" || got.Count == nil || *got.Count != 3 || !got.Enabled || got.Rate != 2.5 ||
		time.Duration(got.Wait) != 7*time.Second || strings.Join(got.Tags, ",") != "a,b" ||
		got.Items["One"].Size != 10 || got.Items["two"].Size != 2 || got.Renamed != "x" {
		t.Errorf("bound %+v", got)
	}

	var bad Store
	bad.LoadJSON([]byte(`{"App": {"Count": "many", "Enabled": "yes", "Nme": "x", "Items": {"a": {"Size": -1.5}}}}`), "bad.json")
	err = bad.Bind("App", &sample{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`bad.json: "many" is not a whole number (App:Count)`,
		`bad.json: "yes" is not true or false (App:Enabled)`,
		`bad.json: unknown key "App:Nme" (did you mean "App:Name"?)`,
		`(App:Items:a:Size)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors %q lack %q", err, want)
		}
	}

	// A number too large for its field names the field's range.
	var big Store
	big.LoadJSON([]byte(`{"App": {"Small": 4294967296, "Signed": 9223372036854775808, "Neg": -1}}`), "big.json")
	var sized struct {
		Small  uint32
		Signed int64
		Neg    uint16
	}
	err = big.Bind("App", &sized)
	for _, want := range []string{
		`big.json: "4294967296" is not a whole number from 0 to 4294967295 (App:Small)`,
		`big.json: "9223372036854775808" is not a whole number from -9223372036854775808 to 9223372036854775807 (App:Signed)`,
		`big.json: "-1" is not a whole number that is not negative (App:Neg)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
}

// TestListGap: a list element numbered past a gap (an environment
// variable that sets element 1 of an absent list) is an error saying how
// to number it, not an unknown key.
func TestListGap(t *testing.T) {
	var s Store
	s.LoadEnv([]string{"App__Tags__1=b"}, "App")
	err := s.Bind("App", &sample{})
	want := `environment variable App__Tags__1: "App:Tags:1": a list's elements are numbered 0, 1, 2... without a gap, and 1 has none before it; number it 0`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	var ok Store
	ok.LoadJSON([]byte(`{"App": {"Tags": ["a", "b"]}}`), "f")
	ok.LoadEnv([]string{"App__Tags__1=c", "App__Tags__2=d"}, "App")
	var got sample
	if err := ok.Bind("App", &got); err != nil || strings.Join(got.Tags, ",") != "a,c,d" {
		t.Errorf("tags %q, %v", got.Tags, err)
	}
}

func TestNullAndSubtreeReplacement(t *testing.T) {
	var s Store
	s.LoadJSON([]byte(`{"A": {"Rate": null, "B": {"C": 1}}}`), "f")
	if !s.IsNull("a:rate") || !s.Has("A:B") || s.Has("A:Z") {
		t.Error("IsNull/Has")
	}
	s.Set("A:B", "scalar", "flag")
	if s.Has("A:B:C") {
		t.Error("a scalar did not replace the subtree under it")
	}
}

func FuzzLoadJSON(f *testing.F) {
	f.Add([]byte(`{"App": {"Name": "x", "Items": {"a": {"Size": 1}}, "Tags": ["q"]}}`))
	f.Add([]byte(`{"App": null}`))
	f.Add([]byte(`[1,2]`))
	// Keys whose lower case has another length in UTF-8.
	f.Add([]byte(`{"App": {"Items": {"Ⱥ": {"Size": 1}, "İ": {"Size": 2}, "ẞ": {}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Store
		if s.LoadJSON(data, "fuzz") == nil {
			s.Bind("App", &sample{})
		}
	})
}

// TestChildrenKeepOrder: keys come back in the order the file gives them,
// whatever their names, then the ones later sources add.
func TestChildrenKeepOrder(t *testing.T) {
	var s Store
	if err := s.LoadJSON([]byte(`{"Zeta": 1, "Kestrel": {"Endpoints": {"Pfx": {"Url": "a"}, "Pem": {"Url": "b"}, "Alpha": {"Url": "c"}, "pfx2": {}}}, "Alpha": 2}`), "f.json"); err != nil {
		t.Fatal(err)
	}
	// pfx2 was {}: its Url takes its place.
	s.LoadEnv([]string{"Kestrel__Endpoints__Env__Url=d", "Kestrel__Endpoints__PEM__Protocols=Http1", "Kestrel__Endpoints__pfx2__Url=e"}, "Kestrel")
	for _, tc := range []struct {
		key  string
		want string
	}{
		{"", "Zeta Kestrel Alpha"},
		{"Kestrel:Endpoints", "Pfx Pem Alpha pfx2 Env"},
		{"kestrel:endpoints:pem", "Url Protocols"},
		{"Nothing", ""},
	} {
		if got := strings.Join(s.Children(tc.key), " "); got != tc.want {
			t.Errorf("Children(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestEmptyObjects: {} and [] stand for a key without values, as in
// ASP.NET's JSON provider: present, yet not null.
func TestEmptyObjects(t *testing.T) {
	var s Store
	if err := s.LoadJSON([]byte(`{"App": {"Items": {"a": {}}, "Tags": [], "Count": {}, "Name": null}}`), "f"); err != nil {
		t.Fatal(err)
	}
	if !s.Has("App:Items:a") || s.IsNull("App:Items:a") || !s.IsNull("App:Name") {
		t.Errorf("Has/IsNull of empty objects and null")
	}
	var got sample
	if err := s.Bind("App", &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Items["a"]; !ok || got.Tags != nil || got.Count != nil {
		t.Errorf("bound %+v: want item a, no tags, no count", got)
	}
}

func TestLoadJSONErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"Kestrel": {`, `app.json: the JSON ends early, at line 1, column 14`},
		{"{\"Kestrel\": {\n  \"Limits\": {\"MaxRequestBodySize\": 1", `app.json: the JSON ends early, at line 2, column 37`},
		{`{"A": "unterminated`, `ends early`},
		{"", `app.json: the file is empty`},
		{" \n", `the file is empty`},
		{`[1, 2]`, `the top level must be a JSON object`},
		{`{"A": 1} {"B": 2}`, `line 1, column 10: unexpected data after the top-level object`},
		{`{"A": 1,,}`, `line 1, column 9: invalid character ','`},
		{"{\"A\": 1 /* no end", `app.json: line 1, column 9: a /* comment is not closed with */`},
		{"\ufeff{\"A\": é, }", `line 1, column 7: invalid character`},
		{"// only\n/* comments */", `the file has only comments`},
		{"\ufeff", `the file is empty`},
		{`{"A": {"Url": 1, "url": 2}}`, `the key "A:url" is given twice`},
		{`{"A": {"B": 1}, "a": {"b": 2}}`, `the key "a:b" is given twice`},
		{`{"A": [1], "a": [2]}`, `the key "a:0" is given twice`},
	} {
		var s Store
		err := s.LoadJSON([]byte(tc.json), "app.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.json, err, tc.want)
		}
	}
}

// TestLoadJSONMergesObjects: an object given twice, its names differing
// in case, is merged, as ASP.NET's JSON provider merges it.
func TestLoadJSONMergesObjects(t *testing.T) {
	var s Store
	if err := s.LoadJSON([]byte(`{"Kestrel": {"Limits": {"MaxRequestHeaderCount": 5}}, "kestrel": {"Endpoints": {"E": {"Url": "http://x:1"}}}}`), "app.json"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Lookup("Kestrel:Limits:MaxRequestHeaderCount"); v != "5" {
		t.Errorf("limit %q", v)
	}
	if v, _ := s.Lookup("Kestrel:Endpoints:E:Url"); v != "http://x:1" {
		t.Errorf("url %q", v)
	}
}

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		word, want string
		ok         bool
	}{
		{"Kestrl", "Kestrel", true},
		{"kestrel", "Kestrel", true},
		{"KESTERL", "Kestrel", true},
		{"Logging", "", false},
		{"Kstrl", "Kestrel", true},
		{"Urll", "Url", true},
		{"Foo", "", false},
		{"Key", "", false},
	} {
		got, ok := Closest(tc.word, []string{"Kestrel", "AllowedHosts", "Url"})
		if got != tc.want || ok != tc.ok {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tc.word, got, ok, tc.want, tc.ok)
		}
	}
}

// TestBindUnknownKeys: an unknown key is reported at its first unknown
// segment, once however many keys a misspelled section holds, with the
// nearest known name at that level; a hint replaces the message of the
// keys it explains.
func TestBindUnknownKeys(t *testing.T) {
	type inner struct{ Size, Count int }
	type root struct {
		Items   map[string]inner
		Options inner
		Name    string
	}
	hint := func(key string) (string, string, bool) {
		if strings.HasSuffix(strings.ToLower(key), ":legacy") {
			return key[:strings.LastIndexByte(key, ':')], "Legacy is gone; use Size", true
		}
		return "", "", false
	}
	for _, tc := range []struct{ json, want string }{
		{`{"App": {"Option": {"Size": 1, "Count": 2}}}`, `f.json: unknown section "App:Option" (did you mean "App:Options"?)`},
		{`{"App": {"Options": {"Sise": 1}}}`, `f.json: unknown key "App:Options:Sise" (did you mean "App:Options:Size"?)`},
		{`{"App": {"Items": {"a": {"Size": 1, "Colour": {"R": 1, "G": 2}}}}}`, `f.json: unknown section "App:Items:a:Colour"`},
		{`{"App": {"Nmae": "x"}}`, `f.json: unknown key "App:Nmae" (did you mean "App:Name"?)`},
		{`{"App": {"Options": {"Legacy": 1}, "Items": {"b": {"legacy": 2}}}}`, "f.json: App:Items:b: Legacy is gone; use Size\nf.json: App:Options: Legacy is gone; use Size"},
	} {
		var s Store
		if err := s.LoadJSON([]byte(tc.json), "f.json"); err != nil {
			t.Fatal(err)
		}
		err := s.Bind("App", &root{}, hint)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.json, err, tc.want)
		}
	}
}

// TestEmptyKey: the key "" is a key like any other (ASP.NET's JSON
// provider gives one for {"": 2}), not the top level: setting it keeps
// every other key, and replaces only the keys under it (":C"). The index
// filed the top-level keys as the children of "", so that setting ""
// removed them all.
func TestEmptyKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		set        []string // keys set after the file, to "x"
		want       map[string]string
		gone       []string
		children   map[string][]string
	}{
		{name: "in a file", json: `{"A": 1, "": 2, "B": {"C": 3}}`,
			want: map[string]string{"A": "1", "": "2", "B:C": "3"}, children: map[string][]string{"B": {"C"}}},
		{name: "set after a file", json: `{"A": 1, "B": {"C": 3}}`, set: []string{""},
			want: map[string]string{"A": "1", "": "x", "B:C": "3"}},
		{name: "set twice", json: `{"A": 1}`, set: []string{"", ""},
			want: map[string]string{"A": "1", "": "x"}},
		{name: "over the keys under it", json: `{"A": 1}`, set: []string{":C", ""},
			want: map[string]string{"A": "1", "": "x"}, gone: []string{":C"}},
		{name: "under it, beside top-level keys", json: `{"C": 1}`, set: []string{":C"},
			want: map[string]string{"C": "1", ":C": "x"}},
		{name: "a subtree of it after top-level keys", json: `{"A": 1}`, set: []string{":C:D"},
			want: map[string]string{"A": "1", ":C:D": "x"}, children: map[string][]string{":C": {"D"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Store
			if err := s.LoadJSON([]byte(tc.json), "f.json"); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.set {
				s.Set(k, "x", "flag")
			}
			for k, want := range tc.want {
				if got, ok := s.Lookup(k); !ok || got != want {
					t.Errorf("Lookup(%q) = %q, %v; want %q", k, got, ok, want)
				}
			}
			for _, k := range tc.gone {
				if got, ok := s.Lookup(k); ok {
					t.Errorf("Lookup(%q) = %q; want it replaced", k, got)
				}
			}
			for k, want := range tc.children {
				if got := s.Children(k); !slices.Equal(got, want) {
					t.Errorf("Children(%q) = %q, want %q", k, got, want)
				}
			}
		})
	}
}
