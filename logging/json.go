package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// JSONHandler is a slog.Handler writing ASP.NET Core's JSON console
// format: one object per line with the timestamp (when
// Options.TimestampFormat is set), event id, level, category, message,
// exception and the record's attributes under "State".
//
//	{"EventId":14,"LogLevel":"Information","Category":"Microsoft.Hosting.Lifetime","Message":"Now listening on: http://localhost:5000","State":{"address":"http://localhost:5000"}}
type JSONHandler struct{ h *handler }

// NewJSONHandler returns a handler writing to w; opts may be nil.
// Options.Color and Options.SingleLine do not apply.
func NewJSONHandler(w io.Writer, opts *Options) *JSONHandler {
	h := &handler{out: &output{w: w}}
	if opts != nil {
		h.opts = *opts
	}
	h.format = h.json
	return &JSONHandler{h}
}

// Enabled reports whether records at level l are written.
func (j *JSONHandler) Enabled(ctx context.Context, l slog.Level) bool { return j.h.Enabled(ctx, l) }

// Handle writes r.
func (j *JSONHandler) Handle(ctx context.Context, r slog.Record) error { return j.h.Handle(ctx, r) }

// WithAttrs returns a handler adding attrs to every record; a Category or
// EventId among them sets the records' category or event id.
func (j *JSONHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h := j.h.withAttrs(attrs)
	h.format = h.json
	return &JSONHandler{h}
}

// WithGroup returns a handler that prefixes the keys of later attributes
// with name and a dot.
func (j *JSONHandler) WithGroup(name string) slog.Handler {
	h := j.h.withGroup(name)
	if h == j.h {
		return j
	}
	h.format = h.json
	return &JSONHandler{h}
}

func (h *handler) json(b []byte, e *entry) []byte {
	b = append(b, '{')
	if h.opts.TimestampFormat != "" && !e.time.IsZero() {
		b = append(b, `"Timestamp":"`...)
		b = appendEscaped(b, string(h.appendTime(nil, e.time)))
		b = append(b, `",`...)
	}
	b = append(b, `"EventId":`...)
	b = strconv.AppendInt(b, e.eventID, 10)
	if e.eventName != "" {
		b = append(b, `,"EventName":`...)
		b = appendJSONString(b, e.eventName)
	}
	b = append(b, `,"LogLevel":"`...)
	b = append(b, LevelName(e.level)...)
	b = append(b, `","Category":`...)
	b = appendJSONString(b, e.category)
	b = append(b, `,"Message":`...)
	b = appendJSONString(b, e.message)
	if e.exception != "" {
		b = append(b, `,"Exception":`...)
		b = appendJSONString(b, e.exception)
	}
	if len(e.fields) > 0 {
		b = append(b, `,"State":{`...)
		for i, f := range e.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f.key)
			b = append(b, ':')
			b = appendJSONValue(b, f.val)
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

func appendJSONValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendJSONString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendJSONString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return appendJSONString(b, v.Duration().String())
	case slog.KindTime:
		return appendJSONString(b, v.Time().Format(time.RFC3339Nano))
	}
	a := v.Any()
	if err, ok := a.(error); ok {
		return appendJSONString(b, errorString(err))
	}
	if js, err := marshalJSON(a); err == nil {
		return append(b, js...)
	} else if p, ok := err.(panicked); ok {
		return appendJSONString(b, string(p))
	}
	return appendJSONString(b, fmt.Sprint(a))
}

// panicked is the text that replaces a value whose method panicked.
type panicked string

func (p panicked) Error() string { return string(p) }

// marshalJSON is json.Marshal, with a panic of the value's MarshalJSON
// (or MarshalText) method returned as a panicked error.
func marshalJSON(a any) (js []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			js, err = nil, panicText(a, r)
		}
	}()
	return json.Marshal(a)
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// appendEscaped appends s escaped for a JSON string: quotes, backslashes
// and control characters escaped, invalid UTF-8 replaced.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
