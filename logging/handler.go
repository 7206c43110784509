package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// handler is what the console and JSON handlers share: the options, the
// output, and what WithAttrs and WithGroup added.
type handler struct {
	opts   Options
	out    *output
	format func(b []byte, e *entry) []byte

	category  string // from WithAttrs; "" for none
	eventID   int64
	eventName string
	attrs     []field // from WithAttrs, keys already prefixed
	prefix    string  // "group.subgroup." from WithGroup
}

// output serializes writes from every handler derived from one.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

// field is one flattened attribute.
type field struct {
	key string
	val slog.Value
}

// entry is a record resolved for formatting.
type entry struct {
	time      time.Time
	level     slog.Level
	category  string
	eventID   int64
	eventName string
	message   string
	exception string
	fields    []field
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Enabled reports whether records at level l are written.
func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.opts.level() }

// Handle formats r and writes it as one Write.
func (h *handler) Handle(_ context.Context, r slog.Record) error {
	e := entry{
		time:      r.Time,
		level:     r.Level,
		category:  h.category,
		eventID:   h.eventID,
		eventName: h.eventName,
		message:   r.Message,
	}
	if e.category == "" {
		e.category = h.opts.Category
		if e.category == "" {
			e.category = DefaultCategory
		}
	}
	e.fields = append(make([]field, 0, len(h.attrs)+r.NumAttrs()), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		if h.prefix == "" && h.special(&e, a) {
			return true
		}
		e.fields = flatten(e.fields, h.prefix, a)
		return true
	})
	bp := bufPool.Get().(*[]byte)
	b := h.format((*bp)[:0], &e)
	h.out.mu.Lock()
	_, err := h.out.w.Write(b)
	h.out.mu.Unlock()
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
	return err
}

// special takes the attributes that set the category, event id, event
// name or exception of e, and reports whether a was one of them.
func (h *handler) special(e *entry, a slog.Attr) bool {
	switch a.Key {
	case CategoryKey:
		e.category = a.Value.Resolve().String()
	case EventIDKey:
		if id, ok := intValue(a.Value.Resolve()); ok {
			e.eventID = id
		} else {
			return false
		}
	case EventNameKey:
		e.eventName = a.Value.Resolve().String()
	case ExceptionKey:
		e.exception = a.Value.Resolve().String()
	default:
		return false
	}
	return true
}

func intValue(v slog.Value) (int64, bool) {
	switch v.Kind() {
	case slog.KindInt64:
		return v.Int64(), true
	case slog.KindUint64:
		return int64(v.Uint64()), true
	}
	return 0, false
}

// flatten appends a to fs, groups becoming dotted key prefixes.
func flatten(fs []field, prefix string, a slog.Attr) []field {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		attrs := v.Group()
		if len(attrs) == 0 {
			return fs
		}
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range attrs {
			fs = flatten(fs, prefix, g)
		}
		return fs
	}
	if a.Key == "" {
		return fs // slog's rule: an empty attribute is ignored
	}
	return append(fs, field{key: prefix + a.Key, val: v})
}

func (h *handler) withAttrs(attrs []slog.Attr) *handler {
	c := *h
	c.attrs = append([]field(nil), h.attrs...)
	e := entry{category: c.category, eventID: c.eventID, eventName: c.eventName}
	for _, a := range attrs {
		if c.prefix == "" && a.Key != ExceptionKey && c.special(&e, a) {
			continue
		}
		c.attrs = flatten(c.attrs, c.prefix, a)
	}
	c.category, c.eventID, c.eventName = e.category, e.eventID, e.eventName
	return &c
}

func (h *handler) withGroup(name string) *handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

// errorString is err.Error(), or what slog's handlers write when it
// panics: "<nil>" for a nil pointer (an Error method that does not guard
// against a nil receiver), "!PANIC: " and the panic value otherwise.
func errorString(err error) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = string(panicText(err, r))
		}
	}()
	return err.Error()
}

// panicText is what replaces a value v whose method panicked with r.
func panicText(v any, r any) panicked {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "<nil>"
	}
	return panicked(fmt.Sprintf("!PANIC: %v", r))
}

// appendTime appends the entry's timestamp in the configured layout.
func (h *handler) appendTime(b []byte, t time.Time) []byte {
	if h.opts.UTC {
		t = t.UTC()
	}
	return t.AppendFormat(b, h.opts.TimestampFormat)
}

// needsQuote reports whether a console or text key or value must be
// quoted to be read back, and to keep its entry on its lines: it is empty
// or holds spaces, quotes, '=', invalid UTF-8, or a character that is not
// printable (control characters, and line and paragraph separators), as
// slog's TextHandler decides.
func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '=' || r == utf8.RuneError || r >= utf8.RuneSelf && (unicode.IsSpace(r) || !unicode.IsPrint(r)) || r == 0x7f {
			return true
		}
	}
	return false
}

// appendKeyValue appends " key=value", each quoted if it needs to be.
func appendKeyValue(b []byte, key, val string) []byte {
	b = append(b, ' ')
	b = appendMaybeQuoted(b, key)
	b = append(b, '=')
	return appendMaybeQuoted(b, val)
}

func appendMaybeQuoted(b []byte, s string) []byte {
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// hasBreak reports whether s holds a character that could end or
// disguise a line: one that is not printable, or invalid UTF-8.
func hasBreak(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// indent appends s with the console format's six-space padding at the
// start of each line after the first (but not on empty lines).
func indent(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i+1]...)
		s = s[i+1:]
		if s != "" && s[0] != '\n' {
			b = append(b, padding...)
		}
	}
}
