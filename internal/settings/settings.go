// Package settings is ASP.NET Core's configuration model in Go: sources
// (a JSON file, command-line flags, environment variables) are flattened
// into colon-separated, case-insensitive keys such as
// "Kestrel:Limits:MaxRequestBodySize"; later sources override earlier ones
// key by key; and a subtree binds onto a typed struct, with errors that
// name the key and where its value came from.
package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Store holds configuration values by key. The zero value is empty and
// ready to use.
type Store struct {
	values map[string]value // by lower-case key
}

type value struct {
	key    string // as first spelled
	text   string
	null   bool
	source string
}

func (s *Store) set(key string, v value) {
	if s.values == nil {
		s.values = make(map[string]value)
	}
	lk := strings.ToLower(key)
	if old, ok := s.values[lk]; ok {
		v.key = old.key
	} else {
		v.key = key
	}
	// A scalar replaces the subtree under its key, and a subtree the
	// scalar above it, as ASP.NET's providers do.
	for k := range s.values {
		if strings.HasPrefix(k, lk+":") || strings.HasPrefix(lk, k+":") {
			delete(s.values, k)
		}
	}
	s.values[lk] = v
}

// Set sets key to text; source says where it came from ("flag --urls").
func (s *Store) Set(key, text, source string) {
	s.set(key, value{text: text, source: source})
}

// LoadJSON adds the values of a JSON object; source names it (the file
// name). Nested objects become "A:B" keys, array elements "A:0", "A:1";
// null is recorded as null.
func (s *Store) LoadJSON(data []byte, source string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("%s: %w", source, describeJSONError(data, err))
	}
	if dec.More() {
		return fmt.Errorf("%s: unexpected data after the top-level object", source)
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: the top level must be a JSON object", source)
	}
	s.flatten("", obj, source)
	return nil
}

func describeJSONError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := 1, 1
		for _, c := range data[:min(int(se.Offset), len(data))] {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	return err
}

func (s *Store) flatten(prefix string, v any, source string) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + ":" + k
	}
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			s.flatten(join(k), child, source)
		}
	case []any:
		for i, child := range v {
			s.flatten(join(strconv.Itoa(i)), child, source)
		}
	case nil:
		s.set(prefix, value{null: true, source: source})
	case json.Number:
		s.set(prefix, value{text: v.String(), source: source})
	case bool:
		s.set(prefix, value{text: strconv.FormatBool(v), source: source})
	case string:
		s.set(prefix, value{text: v, source: source})
	}
}

// LoadEnv adds the environment variables (as "NAME=value") whose names
// start with prefix followed by "__", with "__" as the key separator:
// Kestrel__Limits__MaxRequestBodySize=10 sets
// "Kestrel:Limits:MaxRequestBodySize". Names are matched ignoring case.
func (s *Store) LoadEnv(environ []string, prefix string) {
	for _, kv := range environ {
		name, text, ok := strings.Cut(kv, "=")
		if !ok || len(name) <= len(prefix)+2 || !strings.EqualFold(name[:len(prefix)+2], prefix+"__") {
			continue
		}
		s.Set(strings.ReplaceAll(name, "__", ":"), text, "environment variable "+name)
	}
}

// IsNull reports whether key was set to null.
func (s *Store) IsNull(key string) bool {
	v, ok := s.values[strings.ToLower(key)]
	return ok && v.null
}

// Has reports whether key, or any key under it, is set.
func (s *Store) Has(key string) bool {
	lk := strings.ToLower(key)
	for k := range s.values {
		if k == lk || strings.HasPrefix(k, lk+":") {
			return true
		}
	}
	return false
}

// Duration is a time.Duration that binds from ASP.NET's TimeSpan text
// ("00:00:05", "1.02:03:04.5") or Go's ("5s", "1m30s").
type Duration time.Duration

// ParseDuration parses the forms Duration accepts.
func ParseDuration(text string) (time.Duration, error) {
	t := strings.TrimSpace(text)
	if !strings.Contains(t, ":") {
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use \"00:00:05\" or \"5s\")", text)
		}
		return d, nil
	}
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	var days int64
	if dot, colon := strings.IndexByte(t, '.'), strings.IndexByte(t, ':'); dot >= 0 && dot < colon {
		n, err := strconv.ParseInt(t[:dot], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use \"00:00:05\" or \"5s\")", text)
		}
		days, t = n, t[dot+1:]
	}
	parts := strings.Split(t, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("%q is not a duration (use \"hh:mm:ss\", \"d.hh:mm:ss\" or \"5s\")", text)
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 64)
	m, err2 := strconv.ParseInt(parts[1], 10, 64)
	var sec float64
	var err3 error
	if len(parts) == 3 {
		sec, err3 = strconv.ParseFloat(parts[2], 64)
	}
	if err := errors.Join(err1, err2, err3); err != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("%q is not a duration (use \"hh:mm:ss\", \"d.hh:mm:ss\" or \"5s\")", text)
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec*float64(time.Second))
	if neg {
		d = -d
	}
	return d, nil
}

// Bind binds the keys under prefix onto dst, a pointer to a struct.
// Fields match keys by name, ignoring case (a `config:"Name"` tag
// renames); supported are strings, bools, integers, floats, Duration,
// pointers to those (nil when the key is absent or null), structs, maps
// from string, and slices (from "Key:0", "Key:1"...). Every key under
// prefix must bind: unknown keys and values of the wrong type are errors
// naming the key and the value's source, all of them, sorted by key.
func (s *Store) Bind(prefix string, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return errors.New("settings: Bind needs a pointer to a struct")
	}
	b := binder{s: s, used: map[string]bool{}}
	b.bind(prefix, rv.Elem())
	for lk, v := range s.values {
		if strings.HasPrefix(lk, strings.ToLower(prefix)+":") && !b.used[lk] {
			b.errs = append(b.errs, keyError{v.key, fmt.Errorf("%s: unknown key %q%s", v.source, v.key, b.suggest(v.key))})
		}
	}
	sort.Slice(b.errs, func(i, j int) bool { return b.errs[i].key < b.errs[j].key })
	errs := make([]error, len(b.errs))
	for i, e := range b.errs {
		errs[i] = e.err
	}
	return errors.Join(errs...)
}

type keyError struct {
	key string
	err error
}

type binder struct {
	s      *Store
	used   map[string]bool
	errs   []keyError
	fields []string // every field key known, for suggestions
}

// children returns the distinct next segments under key, as spelled.
func (b *binder) children(key string) []string {
	lk := strings.ToLower(key) + ":"
	seen := map[string]string{}
	for k, v := range b.s.values {
		if strings.HasPrefix(k, lk) {
			rest := v.key[len(lk):]
			seg, _, _ := strings.Cut(rest, ":")
			if _, ok := seen[strings.ToLower(seg)]; !ok {
				seen[strings.ToLower(seg)] = seg
			}
		}
	}
	out := make([]string, 0, len(seen))
	for _, seg := range seen {
		out = append(out, seg)
	}
	sort.Strings(out)
	return out
}

var durationType = reflect.TypeOf(Duration(0))

func (b *binder) bind(key string, v reflect.Value) {
	lk := strings.ToLower(key)
	b.fields = append(b.fields, key)
	val, isLeaf := b.s.values[lk]
	if isLeaf {
		b.used[lk] = true
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isLeaf && val.null {
			return // explicitly null: stays nil; IsNull tells
		}
		if !isLeaf && !b.s.Has(key) {
			return
		}
		elem := reflect.New(v.Type().Elem())
		b.bind(key, elem.Elem())
		v.Set(elem)
		return
	case reflect.Struct:
		if isLeaf && !val.null {
			b.fail(key, val, "an object")
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag := f.Tag.Get("config"); tag != "" {
				name = tag
			}
			b.bind(key+":"+name, v.Field(i))
		}
		return
	case reflect.Map:
		if isLeaf && !val.null {
			b.fail(key, val, "an object")
			return
		}
		children := b.children(key)
		if len(children) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, c := range children {
			elem := reflect.New(v.Type().Elem()).Elem()
			b.bind(key+":"+c, elem)
			m.SetMapIndex(reflect.ValueOf(c), elem)
		}
		v.Set(m)
		return
	case reflect.Slice:
		children := b.children(key)
		if isLeaf && !val.null {
			b.fail(key, val, "a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(children))
		for i := range children {
			if _, err := strconv.Atoi(children[i]); err != nil {
				b.errs = append(b.errs, keyError{key, fmt.Errorf("%q: a list needs keys 0, 1, 2...; found %q", key, children[i])})
				continue
			}
		}
		for i := 0; ; i++ {
			k := key + ":" + strconv.Itoa(i)
			if !b.s.Has(k) {
				break
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			b.bind(k, elem)
			s = reflect.Append(s, elem)
		}
		if s.Len() > 0 {
			v.Set(s)
		}
		return
	}
	if !isLeaf || val.null {
		return
	}
	text := strings.TrimSpace(val.text)
	switch {
	case v.Type() == durationType:
		d, err := ParseDuration(text)
		if err != nil {
			b.errs = append(b.errs, keyError{key, fmt.Errorf("%s: %v (%s)", val.source, err, val.key)})
			return
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(val.text)
	case v.Kind() == reflect.Bool:
		x, err := strconv.ParseBool(text)
		if err != nil {
			b.fail(key, val, "true or false")
			return
		}
		v.SetBool(x)
	case v.CanInt():
		x, err := strconv.ParseInt(text, 10, v.Type().Bits())
		if err != nil {
			b.fail(key, val, "a whole number")
			return
		}
		v.SetInt(x)
	case v.CanUint():
		x, err := strconv.ParseUint(text, 10, v.Type().Bits())
		if err != nil {
			b.fail(key, val, "a whole number that is not negative")
			return
		}
		v.SetUint(x)
	case v.CanFloat():
		x, err := strconv.ParseFloat(text, v.Type().Bits())
		if err != nil {
			b.fail(key, val, "a number")
			return
		}
		v.SetFloat(x)
	}
}

func (b *binder) fail(key string, val value, want string) {
	shown := fmt.Sprintf("%q", val.text)
	if val.text == "" && !val.null {
		shown = "an empty value"
	}
	b.errs = append(b.errs, keyError{key, fmt.Errorf("%s: %s is not %s (%s)", val.source, shown, want, val.key)})
}

// suggest names the known key closest to an unknown one.
func (b *binder) suggest(key string) string {
	best, bestD := "", 4
	lk := strings.ToLower(key)
	for _, f := range b.fields {
		if d := distance(lk, strings.ToLower(f)); d < bestD {
			best, bestD = f, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
