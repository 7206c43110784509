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
	"io"
	"math"
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
	next   int              // order of the next new key

	// kids indexes the keys by their parent: for each lower-case key
	// with keys under it, that key and a colon ("a:b:"; ":" for the key
	// "", which is a key like any other), and "" for the top level, its
	// children by lower-case segment. Has, Children and the replacement
	// of a subtree then cost what they touch, not the whole store.
	kids map[string]map[string]*child
}

// child is one segment under a key: how it was first spelled, the order
// of the earliest key under it, and how many keys are at or under it.
type child struct {
	seg   string
	order int
	keys  int
}

type value struct {
	key    string // as first spelled
	text   string
	null   bool // null, or an empty object or list
	empty  bool // an empty object or list ({} or [])
	source string
	order  int // when the key was first set: keys keep their sources' order
}

func (s *Store) set(key string, v value) {
	if s.values == nil {
		s.values = make(map[string]value)
		s.kids = make(map[string]map[string]*child)
	}
	lk := strings.ToLower(key)
	if old, ok := s.values[lk]; ok {
		v.key, v.order = old.key, old.order
	} else {
		v.key, v.order = key, s.next
		s.next++
	}
	// A scalar replaces the subtree under its key, and a subtree the
	// scalar above it (null or {}), as ASP.NET's providers do; the new key
	// takes the place of what it replaces in the order.
	for i := range len(lk) {
		if lk[i] == ':' {
			if old, ok := s.values[lk[:i]]; ok {
				v.order = min(v.order, old.order)
				s.remove(lk[:i])
			}
		}
	}
	if len(s.kids[lk+":"]) > 0 {
		var under []string
		s.walk(lk, func(k string) { under = append(under, k) })
		for _, k := range under {
			v.order = min(v.order, s.values[k].order)
			s.remove(k)
		}
	}
	if _, ok := s.values[lk]; !ok {
		s.index(lk, v.key, v.order)
	}
	s.values[lk] = v
}

// walk calls fn for every key strictly under lk.
func (s *Store) walk(lk string, fn func(k string)) {
	for ls := range s.kids[lk+":"] {
		k := lk + ":" + ls
		if _, ok := s.values[k]; ok {
			fn(k)
		}
		s.walk(k, fn)
	}
}

// index counts a new key, spelled key, in the children of each key above
// it. Keys never lose their place in the order (set gives a key the
// earliest order of what it replaces), so a child's order is the least
// order of the keys counted in it.
//
// lk and key have the same segments, but not at the same offsets when
// lower-casing changed a letter's length in UTF-8 ("Ⱥ" is 2 bytes, "ⱥ"
// 3, "İ" 2 and its lower case "i" 1): each is split at its own colons.
func (s *Store) index(lk, key string, order int) {
	parent, start, kstart := "", 0, 0
	for {
		end := strings.IndexByte(lk[start:], ':')
		kend := strings.IndexByte(key[kstart:], ':')
		if end < 0 {
			end, kend = len(lk), len(key)
		} else {
			end += start
			kend += kstart
		}
		ls := lk[start:end]
		m := s.kids[parent]
		if m == nil {
			m = make(map[string]*child)
			s.kids[parent] = m
		}
		c := m[ls]
		if c == nil {
			c = &child{order: order}
			m[ls] = c
		}
		if c.keys == 0 || order <= c.order {
			c.seg, c.order = key[kstart:kend], order
		}
		c.keys++
		if end == len(lk) {
			return
		}
		parent, start, kstart = lk[:end+1], end+1, kend+1
	}
}

// remove deletes the key lk and its counts in the children above it.
func (s *Store) remove(lk string) {
	delete(s.values, lk)
	parent, start := "", 0
	for {
		end := strings.IndexByte(lk[start:], ':')
		if end < 0 {
			end = len(lk)
		} else {
			end += start
		}
		ls := lk[start:end]
		m := s.kids[parent]
		if c := m[ls]; c != nil {
			if c.keys--; c.keys == 0 {
				delete(m, ls)
				if len(m) == 0 {
					delete(s.kids, parent)
				}
			}
		}
		if end == len(lk) {
			return
		}
		parent, start = lk[:end+1], end+1
	}
}

// Set sets key to text; source says where it came from ("flag --urls").
func (s *Store) Set(key, text, source string) {
	s.set(key, value{text: text, source: source})
}

// LoadJSON adds the values of a JSON object; source names it (the file
// name). Nested objects become "A:B" keys, array elements "A:0", "A:1";
// null, and an empty object or list, are recorded as null (as ASP.NET's
// JSON provider does). Keys keep the order the document gives them; a key
// given twice (ignoring case) is an error; an object given twice is
// merged, as ASP.NET merges it, unless a key in it is given twice.
//
// As ASP.NET's JSON provider, LoadJSON reads what Visual Studio writes in
// appsettings.json beside JSON: a UTF-8 byte order mark, // and /* */
// comments, and a comma after the last member of an object or list.
// Error positions are lines and columns of data as given.
func (s *Store) LoadJSON(data []byte, source string) error {
	if len(bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))) == 0 {
		return fmt.Errorf("%s: the file is empty; it needs a JSON object such as {\"Kestrel\": {...}}", source)
	}
	p := jsonParser{data: data, source: source, s: s, leaves: map[string]bool{}}
	stripped, off, err := stripJSONC(data)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", source, p.position(int64(off)), err)
	}
	if len(bytes.TrimSpace(stripped)) == 0 {
		return fmt.Errorf("%s: the file has only comments; it needs a JSON object such as {\"Kestrel\": {...}}", source)
	}
	p.stripped = stripped
	p.dec = json.NewDecoder(bytes.NewReader(stripped))
	p.dec.UseNumber()
	tok, err := p.dec.Token()
	if err != nil {
		return p.fail(err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%s: the top level must be a JSON object", source)
	}
	if err := p.object(""); err != nil {
		return err
	}
	end := p.dec.InputOffset()
	if _, err := p.dec.Token(); err != io.EOF {
		end += int64(len(stripped[end:]) - len(bytes.TrimLeft(stripped[end:], " \t\r\n")))
		return fmt.Errorf("%s: %s: unexpected data after the top-level object", source, p.position(end))
	}
	return nil
}

// jsonParser walks a JSON document token by token, so that keys keep
// their order.
type jsonParser struct {
	dec      *json.Decoder
	data     []byte // as given, for positions
	stripped []byte // without comments and trailing commas, as decoded
	source   string
	s        *Store
	leaves   map[string]bool // the keys given a value, lower case
}

// object reads the members of an object whose '{' was read, up to its '}'.
func (p *jsonParser) object(prefix string) error {
	members := 0
	for ; p.dec.More(); members++ {
		tok, err := p.dec.Token()
		if err != nil {
			return p.fail(err)
		}
		name := tok.(string) // the decoder allows only strings as keys
		if err := p.value(join(prefix, name)); err != nil {
			return err
		}
	}
	if _, err := p.dec.Token(); err != nil { // '}'
		return p.fail(err)
	}
	if members == 0 && prefix != "" {
		return p.set(prefix, value{null: true, empty: true, source: p.source})
	}
	return nil
}

// set records the value of a key, which the document may give once.
func (p *jsonParser) set(key string, v value) error {
	lk := strings.ToLower(key)
	if p.leaves[lk] {
		return fmt.Errorf("%s: %s: the key %q is given twice", p.source, p.position(p.dec.InputOffset()), key)
	}
	p.leaves[lk] = true
	p.s.set(key, v)
	return nil
}

// value reads one value and records it under key.
func (p *jsonParser) value(key string) error {
	tok, err := p.dec.Token()
	if err != nil {
		return p.fail(err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return p.object(key)
		}
		i := 0
		for ; p.dec.More(); i++ {
			if err := p.value(join(key, strconv.Itoa(i))); err != nil {
				return err
			}
		}
		if _, err := p.dec.Token(); err != nil { // ']'
			return p.fail(err)
		}
		if i == 0 {
			return p.set(key, value{null: true, empty: true, source: p.source})
		}
	case nil:
		return p.set(key, value{null: true, source: p.source})
	case json.Number:
		return p.set(key, value{text: v.String(), source: p.source})
	case bool:
		return p.set(key, value{text: strconv.FormatBool(v), source: p.source})
	case string:
		return p.set(key, value{text: v, source: p.source})
	}
	return nil
}

// fail describes a decoding error with where it happened.
func (p *jsonParser) fail(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%s: the JSON ends early, at %s: a closing \"}\", \"]\" or quote is missing, or the file was cut short", p.source, p.position(int64(len(p.data))))
	case errors.As(err, &se):
		// The decoder's offsets count from the start of the value it was
		// reading; the scanner of a whole document gives the position in
		// the file of the same (first) fault.
		var v any
		var whole *json.SyntaxError
		if errors.As(json.Unmarshal(p.stripped, &v), &whole) && whole.Offset > 0 {
			return fmt.Errorf("%s: %s: %w", p.source, p.position(whole.Offset-1), whole)
		}
		return fmt.Errorf("%s: %s: %w", p.source, p.position(se.Offset), err)
	}
	return fmt.Errorf("%s: %w", p.source, err)
}

// position is "line L, column C" of a byte offset, the column counted
// in characters (UTF-8 sequences), after a byte order mark.
func (p *jsonParser) position(offset int64) string {
	line, col := 1, 1
	start := 0
	if bytes.HasPrefix(p.data, utf8BOM) {
		start = len(utf8BOM)
	}
	for _, c := range p.data[start:max(start, min(int(offset), len(p.data)))] {
		switch {
		case c == '\n':
			line, col = line+1, 1
		case c&0xc0 != 0x80: // not a UTF-8 continuation byte
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + ":" + key
}

// LoadEnv adds the environment variables (as "NAME=value") whose names
// start with prefix followed by "__", with "__" as the key separator:
// Kestrel__Limits__MaxRequestBodySize=10 sets
// "Kestrel:Limits:MaxRequestBodySize". Names are matched ignoring case.
func (s *Store) LoadEnv(environ []string, prefix string) { s.LoadPrefixedEnv(environ, "", prefix) }

// LoadPrefixedEnv is LoadEnv for the variables whose names have strip
// before prefix (as ASPNETCORE_Kestrel__Limits__MaxRequestBodySize, which
// ASP.NET's host reads), strip left out of their keys.
func (s *Store) LoadPrefixedEnv(environ []string, strip, prefix string) {
	for _, kv := range environ {
		name, text, ok := strings.Cut(kv, "=")
		if !ok || len(name) <= len(strip) || !strings.EqualFold(name[:len(strip)], strip) {
			continue
		}
		key := name[len(strip):]
		if len(key) <= len(prefix)+2 || !strings.EqualFold(key[:len(prefix)+2], prefix+"__") {
			continue
		}
		s.Set(strings.ReplaceAll(key, "__", ":"), text, "environment variable "+name)
	}
}

// IsNull reports whether key was set to null (not to an empty object or
// list, which stands for an object without keys).
func (s *Store) IsNull(key string) bool {
	if s == nil {
		return false
	}
	v, ok := s.values[strings.ToLower(key)]
	return ok && v.null && !v.empty
}

// Lookup returns the text of key, if it is set and not null.
func (s *Store) Lookup(key string) (string, bool) {
	v, ok := s.values[strings.ToLower(key)]
	if !ok || v.null {
		return "", false
	}
	return v.text, true
}

// Source returns where the value of key came from (a file name, "flag
// --urls", "environment variable NAME"), or that of the first key set
// under it; "" when neither is set.
func (s *Store) Source(key string) string {
	if s == nil {
		return ""
	}
	// The first key set under key is found through the index, a level at
	// a time: each child's order is the least of the keys under it.
	lk := strings.ToLower(key)
	if v, ok := s.values[lk]; ok || lk == "" {
		return v.source // "" for the top level, which is no key
	}
	for {
		if v, ok := s.values[lk]; ok {
			return v.source
		}
		var first string
		order := -1
		for ls, c := range s.kids[lk+":"] {
			if order < 0 || c.order < order {
				first, order = ls, c.order
			}
		}
		if order < 0 {
			return ""
		}
		lk += ":" + first
	}
}

// Children returns the distinct keys one level under key ("" for the top
// level), as first spelled, in the order they were first set: a JSON
// file's order, then later sources'.
func (s *Store) Children(key string) []string {
	m := s.kids[parentKey(key)]
	if len(m) == 0 {
		return []string{}
	}
	out := make([]*child, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	segs := make([]string, len(out))
	for i, c := range out {
		segs[i] = c.seg
	}
	return segs
}

// Closest returns the candidate nearest to word in spelling (ignoring
// case), if one is close enough to be a likely typing mistake: at most 3
// edits, fewer for short words ("Urll" is "Url", "Foo" is not "Url").
func Closest(word string, candidates []string) (string, bool) {
	best, bestD := "", min(3, 1+len(word)/3)+1
	lw := strings.ToLower(word)
	for _, c := range candidates {
		if d := distance(lw, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best, best != ""
}

// Has reports whether key, or any key under it, is set.
func (s *Store) Has(key string) bool {
	lk := strings.ToLower(key)
	_, ok := s.values[lk]
	return ok || len(s.kids[parentKey(key)]) > 0
}

// parentKey is key's entry in the index of children: "" for the top
// level (key ""), otherwise the lower-case key and a colon.
func parentKey(key string) string {
	if key == "" {
		return ""
	}
	return strings.ToLower(key) + ":"
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
	bad := fmt.Errorf("%q is not a duration (use \"hh:mm:ss\", \"d.hh:mm:ss\" or \"5s\")", text)
	// TimeSpan's text: [-][d.]hh:mm[:ss[.fffffff]], ASCII digits only (no
	// sign but the leading minus, no exponent, NaN or Inf, which
	// strconv's parsers would take).
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	var days int64
	if dot, colon := strings.IndexByte(t, '.'), strings.IndexByte(t, ':'); dot >= 0 && dot < colon {
		n, ok := timeSpanDigits(t[:dot])
		if !ok {
			return 0, bad
		}
		days, t = n, t[dot+1:]
	}
	parts := strings.Split(t, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, bad
	}
	h, ok1 := timeSpanDigits(parts[0])
	m, ok2 := timeSpanDigits(parts[1])
	var sec, frac int64 = 0, 0
	ok3, ok4 := true, true
	if len(parts) == 3 {
		whole, fraction, dotted := strings.Cut(parts[2], ".")
		sec, ok3 = timeSpanDigits(whole)
		if dotted {
			// Nanoseconds: the first nine digits, the rest truncated.
			ok4 = fraction != ""
			for i := range len(fraction) {
				c := fraction[i]
				if c < '0' || c > '9' {
					ok4 = false
					break
				}
				if i < 9 {
					frac = frac*10 + int64(c-'0')
				}
			}
			for i := len(fraction); i < 9; i++ {
				frac *= 10
			}
		}
	}
	if !ok1 || !ok2 || !ok3 || !ok4 || h > 23 || m > 59 || sec > 59 {
		return 0, bad
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second + time.Duration(frac)
	if days > int64((math.MaxInt64-d)/(24*time.Hour)) {
		// Longer than a Duration holds (about 292 years; .NET's
		// TimeSpan.MaxValue, which Kestrel's settings use for "never", is
		// 29,227 years): the longest Duration, which means the same.
		d = math.MaxInt64
	} else {
		d += time.Duration(days) * 24 * time.Hour
	}
	if neg {
		d = -d
	}
	return d, nil
}

// timeSpanDigits parses a number of TimeSpan's text: ASCII digits only,
// at least one; a number too long for an int64 is the largest one
// (ParseDuration caps what it makes of it).
func timeSpanDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// Bind binds the keys under prefix onto dst, a pointer to a struct.
// Fields match keys by name, ignoring case (a `config:"Name"` tag
// renames); supported are strings, bools, integers, floats, Duration,
// pointers to those (nil when the key is absent or null), structs, maps
// from string, and slices (from "Key:0", "Key:1"...). Every key under
// prefix must bind: unknown keys and values of the wrong type are errors
// naming the key and the value's source, all of them, sorted by key.
//
// An unknown key is reported at its first unknown segment, once: a
// misspelled section ("Kestrel:Endpoint") is one error, whatever it holds,
// with the known key nearest in spelling at that level. Each hint, when
// given, may explain an unknown key better: it returns the key the
// explanation is about (errors with the same key and explanation are
// reported once) and the explanation, or ok false.
func (s *Store) Bind(prefix string, dst any, hints ...Hint) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return errors.New("settings: Bind needs a pointer to a struct")
	}
	b := binder{s: s, used: map[string]bool{}}
	b.bind(prefix, rv.Elem())
	known := map[string]string{} // every key known, lower-case: as spelled
	for _, f := range b.fields {
		known[strings.ToLower(f)] = f
	}
	// The known keys by the section above them, lower-case, each as its
	// last segment spelled, sorted: the candidates for a suggestion.
	b.sections = map[string][]string{}
	for lf, f := range known {
		if i := strings.LastIndexByte(lf, ':'); i >= 0 {
			// f's own last colon: lower case may have moved it in lf.
			b.sections[lf[:i]] = append(b.sections[lf[:i]], f[strings.LastIndexByte(f, ':')+1:])
		}
	}
	for _, segs := range b.sections {
		sort.Strings(segs)
	}
	reported := map[string]bool{}
	under := strings.ToLower(prefix) + ":"
	for lk, v := range s.values {
		if !strings.HasPrefix(lk, under) || b.used[lk] {
			continue
		}
		key, msg := b.unknown(v.key, known, hints)
		if id := strings.ToLower(key) + "\x00" + msg; !reported[id] {
			reported[id] = true
			b.errs = append(b.errs, keyError{key, fmt.Errorf("%s: %s", v.source, msg)})
		}
	}
	sort.Slice(b.errs, func(i, j int) bool { return b.errs[i].key < b.errs[j].key })
	errs := make([]error, len(b.errs))
	for i, e := range b.errs {
		errs[i] = e.err
	}
	return errors.Join(errs...)
}

// markUsed marks key and every key under it as bound (an error was
// reported for them already).
func (b *binder) markUsed(key string) {
	lk := strings.ToLower(key)
	if _, ok := b.s.values[lk]; ok {
		b.used[lk] = true
	}
	b.s.walk(lk, func(k string) { b.used[k] = true })
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

	sections map[string][]string // Bind's index of fields for suggestions
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
		if isLeaf && val.null && !(val.empty && (v.Type().Elem().Kind() == reflect.Struct || v.Type().Elem().Kind() == reflect.Map)) {
			return // null: stays nil; IsNull tells
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
		children := b.s.Children(key)
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
		children := b.s.Children(key)
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
		for _, c := range children {
			if n, err := strconv.Atoi(c); err == nil && n > s.Len() {
				k := key + ":" + c
				b.errs = append(b.errs, keyError{k, fmt.Errorf("%s: %q: a list's elements are numbered 0, 1, 2... without a gap, and %d has none before it; number it %d", b.s.Source(k), k, n, s.Len())})
				b.markUsed(k)
			}
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
		if errors.Is(err, strconv.ErrRange) {
			b.fail(key, val, fmt.Sprintf("a whole number from %d to %d", int64(-1)<<(v.Type().Bits()-1), uint64(1)<<(v.Type().Bits()-1)-1))
			return
		}
		if err != nil {
			b.fail(key, val, "a whole number")
			return
		}
		v.SetInt(x)
	case v.CanUint():
		x, err := strconv.ParseUint(text, 10, v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) {
			b.fail(key, val, fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<v.Type().Bits()-1))
			return
		}
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

// Hint explains an unknown key (as spelled in its source), for Bind: it
// returns the key the explanation is about, such as the section holding
// key, and the explanation, or ok false when it has none.
type Hint func(key string) (about, explanation string, ok bool)

// unknown describes the unknown key: the key reported (its first unknown
// segment) and the message.
func (b *binder) unknown(key string, known map[string]string, hints []Hint) (string, string) {
	for _, h := range hints {
		if about, msg, ok := h(key); ok {
			return about, fmt.Sprintf("%s: %s", about, msg)
		}
	}
	segs := strings.Split(key, ":")
	n := 1 // segments known
	for n < len(segs) {
		if _, ok := known[strings.ToLower(strings.Join(segs[:n+1], ":"))]; !ok {
			break
		}
		n++
	}
	parent, first := strings.Join(segs[:n], ":"), strings.Join(segs[:n+1], ":")
	what := "key"
	if n+1 < len(segs) {
		what = "section" // a section, with keys under it
	}
	msg := fmt.Sprintf("unknown %s %q", what, first)
	// The nearest known sibling.
	if best, ok := Closest(segs[n], b.sections[strings.ToLower(parent)]); ok {
		msg += fmt.Sprintf(" (did you mean %q?)", parent+":"+best)
	}
	return first, msg
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
