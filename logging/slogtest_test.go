package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"testing/slogtest"
	"time"
)

// TestSlogtest runs the standard library's handler conformance tests
// against each handler, reading its output back into the map slogtest
// expects: "time", "level" and "msg", and the attributes with groups as
// nested maps (the handlers write them as dotted keys).
func TestSlogtest(t *testing.T) {
	opts := &Options{TimestampFormat: time.RFC3339Nano}
	for _, c := range []struct {
		name  string
		new   func(*bytes.Buffer) slog.Handler
		parse func(string) (map[string]any, error)
	}{
		{"console", func(b *bytes.Buffer) slog.Handler { return NewConsoleHandler(b, opts) }, parseConsole},
		{"console single line", func(b *bytes.Buffer) slog.Handler {
			return NewConsoleHandler(b, &Options{TimestampFormat: time.RFC3339Nano, SingleLine: true})
		}, parseConsole},
		{"text", func(b *bytes.Buffer) slog.Handler { return NewTextHandler(b, opts) }, parseText},
		{"json", func(b *bytes.Buffer) slog.Handler { return NewJSONHandler(b, opts) }, parseJSON},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			slogtest.Run(t, func(*testing.T) slog.Handler {
				b.Reset()
				return c.new(&b)
			}, func(t *testing.T) map[string]any {
				m, err := c.parse(b.String())
				if err != nil {
					t.Fatalf("%v in %q", err, b.String())
				}
				return m
			})
		})
	}
}

// nest puts the value of a dotted key into m as nested maps.
func nest(m map[string]any, key string, v any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}

func parseJSON(s string) (map[string]any, error) {
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		return nil, fmt.Errorf("not one line")
	}
	var e struct {
		Timestamp, LogLevel, Message string
		State                        map[string]any
	}
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, err
	}
	m := map[string]any{slog.LevelKey: e.LogLevel, slog.MessageKey: e.Message}
	if e.Timestamp != "" {
		m[slog.TimeKey] = e.Timestamp
	}
	for k, v := range e.State {
		nest(m, k, v)
	}
	return m, nil
}

// parseText reads "[time] LEVEL msg k=v...": one line, a one-word
// message.
func parseText(s string) (map[string]any, error) {
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		return nil, fmt.Errorf("not one line")
	}
	m := map[string]any{}
	rest := strings.TrimSuffix(s, "\n")
	first, rest, _ := strings.Cut(rest, " ")
	if _, err := time.Parse(time.RFC3339Nano, first); err == nil {
		m[slog.TimeKey] = first
		first, rest, _ = strings.Cut(rest, " ")
	}
	m[slog.LevelKey] = first
	m[slog.MessageKey], rest, _ = strings.Cut(rest, " ")
	return m, parsePairs(m, rest)
}

// parseConsole reads "[time] info: Category[id]\n      msg k=v...", or
// the single-line form "[time] info: Category[id] msg k=v...".
func parseConsole(s string) (map[string]any, error) {
	m := map[string]any{}
	s = strings.TrimSuffix(s, "\n")
	head, body, ok := strings.Cut(s, "\n")
	if ok {
		if strings.Contains(body, "\n") || !strings.HasPrefix(body, padding) {
			return nil, fmt.Errorf("not two lines")
		}
		body = body[len(padding):]
	} else if i := strings.Index(s, "] "); i >= 0 {
		head, body = s[:i+1], s[i+2:]
	}
	first, head, _ := strings.Cut(head, " ")
	if _, err := time.Parse(time.RFC3339Nano, first); err == nil {
		m[slog.TimeKey] = first
		first, _, _ = strings.Cut(head, " ")
	}
	m[slog.LevelKey] = strings.TrimSuffix(first, ":")
	m[slog.MessageKey], body, _ = strings.Cut(body, " ")
	return m, parsePairs(m, body)
}

// parsePairs reads space-separated key=value pairs, either side quoted
// as strconv.Quote does, into m.
func parsePairs(m map[string]any, s string) error {
	word := func(stop string) (string, error) {
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return "", err
			}
			s = s[len(q):]
			return strconv.Unquote(q)
		}
		i := strings.IndexAny(s, stop)
		if i < 0 {
			i = len(s)
		}
		w := s[:i]
		s = s[i:]
		return w, nil
	}
	for s != "" {
		k, err := word("= ")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(s, "=") {
			return fmt.Errorf("no '=' after key %q", k)
		}
		s = s[1:]
		v, err := word(" ")
		if err != nil {
			return err
		}
		nest(m, k, v)
		s = strings.TrimPrefix(s, " ")
	}
	return nil
}
