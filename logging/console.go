package logging

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// ConsoleHandler is a slog.Handler writing ASP.NET Core's simple console
// format: the level's four-letter name, the category and the event id on
// a first line, the message on a second line padded by six spaces, and an
// exception, if any, below it.
//
//	info: Microsoft.Hosting.Lifetime[14]
//	      Now listening on: http://localhost:5000
//
// A record without an event name (see EventNameKey) gets its attributes
// after the message as key=value pairs; a record with one is shown by its
// message alone, which holds its values.
type ConsoleHandler struct{ h *handler }

// NewConsoleHandler returns a handler writing to w; opts may be nil.
func NewConsoleHandler(w io.Writer, opts *Options) *ConsoleHandler {
	h := &handler{out: &output{w: w}}
	if opts != nil {
		h.opts = *opts
	}
	h.format = h.console
	return &ConsoleHandler{h}
}

// Enabled reports whether records at level l are written.
func (c *ConsoleHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return c.h.Enabled(ctx, l)
}

// Handle writes r.
func (c *ConsoleHandler) Handle(ctx context.Context, r slog.Record) error { return c.h.Handle(ctx, r) }

// WithAttrs returns a handler adding attrs to every record; a Category or
// EventId among them sets the records' category or event id.
func (c *ConsoleHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h := c.h.withAttrs(attrs)
	h.format = h.console
	return &ConsoleHandler{h}
}

// WithGroup returns a handler that prefixes the keys of later attributes
// with name and a dot.
func (c *ConsoleHandler) WithGroup(name string) slog.Handler {
	h := c.h.withGroup(name)
	if h == c.h {
		return c
	}
	h.format = h.console
	return &ConsoleHandler{h}
}

const padding = "      "

func (h *handler) console(b []byte, e *entry) []byte {
	if h.opts.TimestampFormat != "" && !e.time.IsZero() {
		b = h.appendTime(b, e.time)
		b = append(b, ' ')
	}
	if h.opts.Color {
		b = append(b, levelColor(e.level)...)
		b = append(b, shortLevel(e.level)...)
		b = append(b, colorReset...)
	} else {
		b = append(b, shortLevel(e.level)...)
	}
	b = append(b, ": "...)
	if hasBreak(e.category) {
		// A category is a name; one that could break the line is quoted.
		b = strconv.AppendQuote(b, e.category)
	} else {
		b = append(b, e.category...)
	}
	b = append(b, '[')
	b = strconv.AppendInt(b, e.eventID, 10)
	b = append(b, ']')
	if h.opts.SingleLine {
		b = append(b, ' ')
		b = append(b, strings.ReplaceAll(e.message, "\n", " ")...)
	} else {
		b = append(b, '\n')
		b = append(b, padding...)
		b = indent(b, e.message)
	}
	if e.eventName == "" {
		for _, f := range e.fields {
			b = appendKeyValue(b, f.key, consoleValue(f.val))
		}
	}
	if e.exception != "" {
		if h.opts.SingleLine {
			b = append(b, ' ')
			b = append(b, strings.ReplaceAll(e.exception, "\n", " ")...)
		} else {
			b = append(b, '\n')
			b = append(b, padding...)
			b = indent(b, strings.TrimRight(e.exception, "\n"))
		}
	}
	return append(b, '\n')
}

func consoleValue(v slog.Value) string {
	if v.Kind() == slog.KindAny {
		if err, ok := v.Any().(error); ok {
			return errorString(err)
		}
	}
	return v.String()
}
