// Package logging writes log/slog records the way ASP.NET Core's console
// logger does, so that a Kestrel for Go server's output reads like an
// ASP.NET Core app's: one entry per event, level and category first.
//
// NewConsoleHandler writes ASP.NET's "simple" console format:
//
//	info: Microsoft.Hosting.Lifetime[14]
//	      Now listening on: http://localhost:5000
//
// and NewJSONHandler its JSON console format, one object per line, for
// log collectors:
//
//	{"EventId":14,"LogLevel":"Information","Category":"Microsoft.Hosting.Lifetime","Message":"Now listening on: http://localhost:5000","State":{"address":"http://localhost:5000"}}
//
// A record's category and event id come from its CategoryKey and
// EventIDKey attributes (see Category and EventID), on the record or
// added with Logger.With; the server's events carry Kestrel's.
package logging

import (
	"log/slog"
)

// Levels beyond slog's four, for ASP.NET's Trace and Critical.
const (
	LevelTrace    = slog.LevelDebug - 4
	LevelCritical = slog.LevelError + 4
)

// Attribute keys the handlers treat specially.
const (
	// CategoryKey names the record's category, such as
	// "Microsoft.AspNetCore.Server.Kestrel.Connections" (ASP.NET's logger
	// category).
	CategoryKey = "Category"
	// EventIDKey is the record's event id, an integer.
	EventIDKey = "EventId"
	// EventNameKey is the record's event name, such as "ConnectionStart".
	// A record with an event name is an event whose message holds all
	// its values, as ASP.NET's messages do: the console format shows the
	// message alone, and the JSON format keeps the values in "State".
	EventNameKey = "EventName"
	// ExceptionKey holds an error's details, such as a panic value and its
	// stack: the console format prints it below the message, the JSON
	// format in "Exception", as ASP.NET prints an exception.
	ExceptionKey = "Exception"
)

// DefaultCategory is the category of records that have none, unless
// Options.Category says otherwise.
const DefaultCategory = "Application"

// Category returns the attribute that sets a record's category.
func Category(name string) slog.Attr { return slog.String(CategoryKey, name) }

// EventID returns the attribute that sets a record's event id.
func EventID(id int) slog.Attr { return slog.Int(EventIDKey, id) }

// Options configure a handler. The zero value logs Information and above,
// without timestamps or colors.
type Options struct {
	// Level is the minimum level logged; nil means slog.LevelInfo.
	Level slog.Leveler

	// Category is the category of records that carry none;
	// DefaultCategory when empty.
	Category string

	// TimestampFormat, when set, starts every entry with the time in this
	// layout (time.Format), as ASP.NET's TimestampFormat option does.
	TimestampFormat string

	// UTC writes timestamps in UTC rather than local time.
	UTC bool

	// SingleLine writes a console entry on one line: the message follows
	// the category instead of starting a line of its own (JSON entries
	// are always one line).
	SingleLine bool

	// Color colors the console level names as ASP.NET does on a terminal.
	Color bool
}

func (o *Options) level() slog.Level {
	if o.Level == nil {
		return slog.LevelInfo
	}
	return o.Level.Level()
}

// LevelName is ASP.NET's LogLevel name of l: Trace, Debug, Information,
// Warning, Error or Critical.
func LevelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "Trace"
	case l < slog.LevelInfo:
		return "Debug"
	case l < slog.LevelWarn:
		return "Information"
	case l < slog.LevelError:
		return "Warning"
	case l < LevelCritical:
		return "Error"
	}
	return "Critical"
}

// shortLevel is the console format's four-letter level.
func shortLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trce"
	case l < slog.LevelInfo:
		return "dbug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	case l < LevelCritical:
		return "fail"
	}
	return "crit"
}

// levelColor is the ANSI color of a console level name, ASP.NET's.
func levelColor(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "\x1b[37m\x1b[40m" // gray on black
	case l < slog.LevelWarn:
		return "\x1b[32m\x1b[40m" // dark green on black
	case l < slog.LevelError:
		return "\x1b[1m\x1b[33m\x1b[40m" // yellow on black
	case l < LevelCritical:
		return "\x1b[30m\x1b[41m" // black on dark red
	}
	return "\x1b[1m\x1b[37m\x1b[41m" // white on dark red
}

const colorReset = "\x1b[0m"
