package logging

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// TextHandler is a slog.Handler writing one line per record in the shape
// Go's log and slog packages use, for programs that do not want ASP.NET's
// format: the time (when Options.TimestampFormat is set), the level as slog
// names it, the message, then the attributes as key=value pairs, with a
// record's event name, event id and category last. An exception (see
// ExceptionKey), such as a panic's value and stack, follows on lines of
// its own, each indented by a tab, as Go prints a stack:
//
//	2026/12/06 09:30:00 INFO Now listening on: http://localhost:5000 address=http://localhost:5000 EventName=ServerListeningOnAddresses EventId=14 Category=Microsoft.Hosting.Lifetime
//	2026/12/06 09:30:01 ERROR Connection id "0HNQEV7R6JMK1", Request id "0HNQEV7R6JMK1:00000001": An unhandled exception was thrown by the application. ConnectionId=0HNQEV7R6JMK1 TraceIdentifier=0HNQEV7R6JMK1:00000001 EventName=ApplicationError EventId=13 Category=Microsoft.AspNetCore.Server.Kestrel
//		panic: boom
//		goroutine 7 [running]:
//		...
//
// A record without a category attribute shows none, unless
// Options.Category names one; a record without an event name or id shows
// neither. It is the server's output when no logger is configured.
type TextHandler struct{ h *handler }

// NewTextHandler returns a handler writing to w; opts may be nil.
func NewTextHandler(w io.Writer, opts *Options) *TextHandler {
	h := &handler{out: &output{w: w}}
	if opts != nil {
		h.opts = *opts
	}
	h.format = h.text
	return &TextHandler{h}
}

// Enabled reports whether records at level l are written.
func (t *TextHandler) Enabled(ctx context.Context, l slog.Level) bool { return t.h.Enabled(ctx, l) }

// Handle writes r.
func (t *TextHandler) Handle(ctx context.Context, r slog.Record) error { return t.h.Handle(ctx, r) }

// WithAttrs returns a handler adding attrs to every record; a Category or
// EventId among them sets the records' category or event id.
func (t *TextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h := t.h.withAttrs(attrs)
	h.format = h.text
	return &TextHandler{h}
}

// WithGroup returns a handler that prefixes the keys of later attributes
// with name and a dot.
func (t *TextHandler) WithGroup(name string) slog.Handler {
	h := t.h.withGroup(name)
	if h == t.h {
		return t
	}
	h.format = h.text
	return &TextHandler{h}
}

func (h *handler) text(b []byte, e *entry) []byte {
	if h.opts.TimestampFormat != "" && !e.time.IsZero() {
		b = h.appendTime(b, e.time)
		b = append(b, ' ')
	}
	b = append(b, e.level.String()...)
	b = append(b, ' ')
	b = indentTab(b, e.message)
	for _, f := range e.fields {
		b = appendKeyValue(b, f.key, consoleValue(f.val))
	}
	if e.eventName != "" {
		b = appendKeyValue(b, EventNameKey, e.eventName)
	}
	if e.eventName != "" || e.eventID != 0 {
		b = append(b, ' ')
		b = append(b, EventIDKey...)
		b = append(b, '=')
		b = strconv.AppendInt(b, e.eventID, 10)
	}
	// e.category is DefaultCategory or Options.Category for a record
	// without one; only the latter is shown.
	if e.category != DefaultCategory || h.opts.Category != "" {
		b = appendKeyValue(b, CategoryKey, e.category)
	}
	if e.exception != "" {
		for _, line := range strings.Split(strings.TrimRight(e.exception, "\n"), "\n") {
			b = append(b, "\n\t"...)
			b = append(b, line...)
		}
	}
	return append(b, '\n')
}

// indentTab appends s with a tab at the start of each line after the
// first, so that a multi-line message stays readable as one entry.
func indentTab(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\t')
		s = s[i+1:]
	}
}
