package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestAttributesCannotSplitAnEntry checks that no attribute key, group
// name, value or category, whatever bytes it holds, ends an entry's line
// early or starts a forged one: they are quoted, as slog's TextHandler
// quotes them, and read back as they were.
func TestAttributesCannotSplitAnEntry(t *testing.T) {
	const forged = "x\nfail: Forged[1]\n      ERROR forged"
	for _, c := range []struct {
		name string
		log  func(l *slog.Logger)
		want map[string]any
	}{
		{"key", func(l *slog.Logger) { l.Info("m", forged, "v") }, map[string]any{forged: "v"}},
		{"key with a space or '='", func(l *slog.Logger) { l.Info("m", "a b=c", "v") }, map[string]any{"a b=c": "v"}},
		{"group name", func(l *slog.Logger) { l.WithGroup("g\r\n").Info("m", "k", "v") }, map[string]any{"g\r\n": map[string]any{"k": "v"}}},
		{"attrs of a group", func(l *slog.Logger) { l.With(slog.Group("g", "k\n", "v")).Info("m") }, map[string]any{"g": map[string]any{"k\n": "v"}}},
		{"line and paragraph separators", func(l *slog.Logger) { l.Info("m", "k\u2028", "a\u2029b\u0085c") }, map[string]any{"k\u2028": "a\u2029b\u0085c"}},
		{"value", func(l *slog.Logger) { l.Info("m", "k", forged) }, map[string]any{"k": forged}},
	} {
		for _, h := range []struct {
			name  string
			new   func(*bytes.Buffer) slog.Handler
			parse func(string) (map[string]any, error)
		}{
			{"console", func(b *bytes.Buffer) slog.Handler { return NewConsoleHandler(b, nil) }, parseConsole},
			{"console single line", func(b *bytes.Buffer) slog.Handler { return NewConsoleHandler(b, &Options{SingleLine: true}) }, parseConsole},
			{"text", func(b *bytes.Buffer) slog.Handler { return NewTextHandler(b, nil) }, parseText},
			{"json", func(b *bytes.Buffer) slog.Handler { return NewJSONHandler(b, nil) }, parseJSON},
		} {
			t.Run(c.name+"/"+h.name, func(t *testing.T) {
				var b bytes.Buffer
				c.log(slog.New(h.new(&b)))
				m, err := h.parse(b.String())
				if err != nil {
					t.Fatalf("%v: %q", err, b.String())
				}
				if h.name != "json" && strings.ContainsAny(b.String(), "\r\u2028\u2029\u0085") {
					t.Errorf("a line break is written as it is: %q", b.String())
				}
				delete(m, slog.LevelKey)
				delete(m, slog.MessageKey)
				if got, want := mustJSON(m), mustJSON(c.want); got != want {
					t.Errorf("read back %s, want %s, from %q", got, want, b.String())
				}
			})
		}
	}
}

// TestCategoryCannotSplitAnEntry checks that a category with a line
// break stays on the console format's first line.
func TestCategoryCannotSplitAnEntry(t *testing.T) {
	for _, single := range []bool{false, true} {
		var b bytes.Buffer
		l := slog.New(NewConsoleHandler(&b, &Options{SingleLine: single}))
		l.Info("m", Category("Orders\nfail: Forged[1]\r"))
		l.With(Category("A\u2028B")).Info("m")
		want := "info: \"Orders\\nfail: Forged[1]\\r\"[0]\n      m\ninfo: \"A\\u2028B\"[0]\n      m\n"
		if single {
			want = "info: \"Orders\\nfail: Forged[1]\\r\"[0] m\ninfo: \"A\\u2028B\"[0] m\n"
		}
		if got := b.String(); got != want {
			t.Errorf("single line %v: got\n%q\nwant\n%q", single, got, want)
		}
	}
	var b bytes.Buffer
	slog.New(NewConsoleHandler(&b, nil)).Info("m", Category("My App.Orders"))
	if got, want := b.String(), "info: My App.Orders[0]\n      m\n"; got != want {
		t.Errorf("a printable category: got %q, want %q", got, want)
	}
	if strings.Count(b.String(), "\n") != 2 {
		t.Errorf("%q", b.String())
	}
}

type nilSafeless struct{ msg string }

func (e *nilSafeless) Error() string { return e.msg }

type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("marshal") }
func (panicky) String() string               { panic("string") }

// TestValuesThatPanic checks that a value whose Error, String or
// MarshalJSON method panics (most often a nil pointer in an error
// interface) is logged as slog's handlers log it ("<nil>", "!PANIC: ...", or fmt's
// "%!v(PANIC=...)"),
// instead of crashing the program that logs it.
func TestValuesThatPanic(t *testing.T) {
	var nilErr *nilSafeless
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
		want string
	}{
		{"console", func(b *bytes.Buffer) slog.Handler { return NewConsoleHandler(b, nil) },
			"info: Application[0]\n      m err=<nil> p=\"%!v(PANIC=String method: string)\" ok=1\n"},
		{"text", func(b *bytes.Buffer) slog.Handler { return NewTextHandler(b, nil) },
			"INFO m err=<nil> p=\"%!v(PANIC=String method: string)\" ok=1\n"},
		{"json", func(b *bytes.Buffer) slog.Handler { return NewJSONHandler(b, nil) },
			`{"EventId":0,"LogLevel":"Information","Category":"Application","Message":"m","State":{"err":"<nil>","p":"!PANIC: marshal","ok":1}}` + "\n"},
	} {
		t.Run(h.name, func(t *testing.T) {
			var b bytes.Buffer
			slog.New(h.new(&b)).Info("m", "err", error(nilErr), "p", panicky{}, "ok", 1)
			if got := b.String(); got != h.want {
				t.Errorf("got\n%q\nwant\n%q", got, h.want)
			}
		})
	}
}
