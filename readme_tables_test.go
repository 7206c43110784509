package kestrel

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeTable returns the rows of the README.md table whose header line is
// header, as cells without their outer pipes, each with its line number.
func readmeTable(t *testing.T, header string) (rows [][]string, lines []int) {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case line == header:
			in = true
		case !in || strings.HasPrefix(line, "| ---"):
		case !strings.HasPrefix(line, "|"):
			return rows, lines
		default:
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			for j := range cells {
				cells[j] = strings.TrimSpace(cells[j])
			}
			rows = append(rows, cells)
			lines = append(lines, i+1)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("README.md has no table %q", header)
	}
	return rows, lines
}

// readmeDefault reads the start of a README default cell: "unlimited" and
// "off" (a zero field), "30,000,000 bytes", "32 KiB", "130 s", "100",
// "240 bytes/s after 5 s" (a data rate).
var readmeDefault = regexp.MustCompile(`^(unlimited|off|[0-9][0-9,]*)(?: (bytes/s after ([0-9]+) s|bytes|KiB|MiB|s))?\b`)

// readmeLimitValue returns what the cell says the field's default is, as
// the field's type holds it.
func readmeLimitValue(t *testing.T, line int, cell string, typ reflect.Type) any {
	t.Helper()
	m := readmeDefault.FindStringSubmatch(strings.TrimSpace(cell))
	if m == nil {
		t.Errorf("README.md:%d: default %q is not a quantity this test reads", line, cell)
		return nil
	}
	var n int64
	if m[1] != "unlimited" && m[1] != "off" {
		var err error
		if n, err = strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	switch {
	case typ == reflect.TypeFor[*DataRate]():
		grace, err := strconv.Atoi(m[3])
		if m[3] == "" || err != nil {
			t.Errorf("README.md:%d: default %q is not a data rate (240 bytes/s after 5 s)", line, cell)
			return nil
		}
		return &DataRate{BytesPerSecond: float64(n), GracePeriod: time.Duration(grace) * time.Second}
	case typ == reflect.TypeFor[time.Duration]():
		if m[2] != "s" && n != 0 {
			t.Errorf("README.md:%d: default %q of a duration is not in seconds", line, cell)
		}
		return time.Duration(n) * time.Second
	}
	switch m[2] {
	case "KiB":
		n <<= 10
	case "MiB":
		n <<= 20
	case "s", "bytes/s after " + m[3]:
		t.Errorf("README.md:%d: default %q is not a number of bytes or a count", line, cell)
	}
	return reflect.ValueOf(n).Convert(typ).Interface()
}

// TestREADMELimits keeps the README's tables of Limits and Http2Limits
// fields in step with the types: every field has a row, every row names a
// field, and the default it gives is the one withDefaults sets.
func TestREADMELimits(t *testing.T) {
	l, err := Limits{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []struct {
		header string
		value  reflect.Value
		// not in the table: documented elsewhere
		elsewhere []string
	}{
		{"| `Limits` field | default | when crossed |", reflect.ValueOf(l), []string{"Http2"}},
		{"| `Http2Limits` field | default | meaning |", reflect.ValueOf(l.Http2), []string{"ClientPingPolicy"}},
	} {
		rows, lines := readmeTable(t, table.header)
		seen := map[string]bool{}
		for i, row := range rows {
			name := strings.Trim(row[0], "`")
			f := table.value.FieldByName(name)
			if before, after, ok := strings.Cut(name, "."); ok { // Http3.MaxRequestHeaderFieldSize
				seen[before] = true
				f = table.value.FieldByName(before)
				if f.IsValid() {
					f = f.FieldByName(after)
				}
			}
			if !f.IsValid() {
				t.Errorf("README.md:%d: %s is not a field", lines[i], name)
				continue
			}
			seen[name] = true
			want := readmeLimitValue(t, lines[i], row[1], f.Type())
			if want != nil && !reflect.DeepEqual(f.Interface(), want) {
				t.Errorf("README.md:%d: %s defaults to %v, the README says %q", lines[i], name, f.Interface(), row[1])
			}
		}
		for _, name := range table.elsewhere {
			seen[name] = true
		}
		for i := range table.value.NumField() {
			if name := table.value.Type().Field(i).Name; !seen[name] {
				t.Errorf("%s.%s has no row in the README's table %s", table.value.Type(), name, table.header)
			}
		}
	}
}

// TestREADMEConfigKeys keeps the README and the configuration binder in
// step: every key of the Kestrel section that Config binds is named in the
// README (its last segment, in backticks or quotes), and every JSON
// example of the README with a Kestrel section is read by ParseConfig
// without an error.
func TestREADMEConfigKeys(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	var walk func(key string, typ reflect.Type)
	walk = func(key string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch {
		case typ.Kind() == reflect.Map:
			walk(key+":NAME", typ.Elem())
			return
		case typ.Kind() == reflect.Struct && typ.PkgPath() == reflect.TypeFor[Config]().PkgPath():
			for i := range typ.NumField() {
				if f := typ.Field(i); f.IsExported() {
					walk(key+":"+f.Name, f.Type)
				}
			}
			return
		}
		last := key[strings.LastIndexByte(key, ':')+1:]
		if !strings.Contains(readme, "`"+last+"`") && !strings.Contains(readme, `"`+last+`"`) {
			t.Errorf("%s is read from the configuration but %s is not in README.md", key, last)
		}
	}
	walk("Kestrel", reflect.TypeFor[Config]())

	// The JSON examples.
	n := 0
	var block []string
	start, in := 0, false
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case !in && line == "```json":
			in, block, start = true, nil, i+1
		case in && line == "```":
			in = false
			src := strings.Join(block, "\n")
			if !strings.Contains(src, `"Kestrel"`) {
				continue
			}
			n++
			if _, err := ParseConfig([]byte(src), "README.md", nil, nil); err != nil {
				t.Errorf("README.md:%d: the example is not a valid configuration: %v", start, err)
			}
		case in:
			block = append(block, line)
		}
	}
	if n < 5 {
		t.Errorf("read %d JSON examples with a Kestrel section from README.md", n)
	}
}
