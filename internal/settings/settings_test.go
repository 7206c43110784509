package settings

import (
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
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Store
		if s.LoadJSON(data, "fuzz") == nil {
			s.Bind("App", &sample{})
		}
	})
}
