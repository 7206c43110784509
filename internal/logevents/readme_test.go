package logevents

import (
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kestrel-go/kestrel/logging"
)

// catalog returns the events declared in events.go (every package-level
// variable of type Event), read from its source so that a new event needs
// no list of its own here.
func catalog(t *testing.T) map[string]*Event {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]slog.Level{
		"slog.LevelDebug": slog.LevelDebug, "slog.LevelInfo": slog.LevelInfo, "slog.LevelWarn": slog.LevelWarn,
		"slog.LevelError": slog.LevelError, "logging.LevelCritical": logging.LevelCritical, "logging.LevelTrace": logging.LevelTrace,
	}
	events := map[string]*Event{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, v := range vs.Values {
				lit, ok := v.(*ast.CompositeLit)
				if !ok {
					continue
				}
				if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "Event" {
					continue
				}
				if len(lit.Elts) != 4 {
					t.Fatalf("%s: want Event{id, name, level, category}", vs.Names[i].Name)
				}
				n, err := strconv.Atoi(lit.Elts[0].(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				name, err := strconv.Unquote(lit.Elts[1].(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				sel := lit.Elts[2].(*ast.SelectorExpr)
				level, ok := levels[sel.X.(*ast.Ident).Name+"."+sel.Sel.Name]
				if !ok {
					t.Fatalf("%s: unknown level %s", vs.Names[i].Name, sel.Sel.Name)
				}
				category := map[string]string{
					"CategoryKestrel": CategoryKestrel, "CategoryConnections": CategoryConnections,
					"CategoryBadRequests": CategoryBadRequests, "CategoryHTTP2": CategoryHTTP2,
					"CategoryHTTP3": CategoryHTTP3, "CategoryHTTPS": CategoryHTTPS,
					"CategoryLifetime": CategoryLifetime, "CategoryHosting": CategoryHosting,
					"CategoryACME": CategoryACME, "CategoryOCSP": CategoryOCSP,
				}[lit.Elts[3].(*ast.Ident).Name]
				if category == "" {
					t.Fatalf("%s: unknown category %s", vs.Names[i].Name, lit.Elts[3].(*ast.Ident).Name)
				}
				events[vs.Names[i].Name] = &Event{n, name, level, category}
			}
		}
	}
	if len(events) < 30 {
		t.Fatalf("read %d events from events.go; the parser above no longer fits it", len(events))
	}
	return events
}

// readmeEventRow is a row of the README's table of log events.
type readmeEventRow struct {
	line       int
	categories []string
	ids        []int
	names      []string // may be empty: the row gives messages instead
	levels     []string
}

var (
	readmeCode    = regexp.MustCompile("`([^`]+)`")
	readmeEventID = regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	readmeRemark  = regexp.MustCompile(` ?\([^)]*\)`)
	readmeLink    = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// readmeEventRows reads the table under "### Logs" whose header is
// "| category | id | event | level |".
func readmeEventRows(t *testing.T) []readmeEventRow {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []readmeEventRow
	in := false
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "| category | id | event | level |":
			in = true
			continue
		case !in:
			continue
		case !strings.HasPrefix(line, "|"):
			return rows
		case strings.HasPrefix(line, "| ---"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 4 {
			t.Fatalf("README.md:%d: %d cells, want 4", i+1, len(cells))
		}
		r := readmeEventRow{line: i + 1}
		var first string
		for _, m := range readmeCode.FindAllStringSubmatch(cells[0], -1) {
			c := m[1]
			if rest, ok := strings.CutPrefix(c, "..."); ok {
				// "`...Http3`" after "`Microsoft.AspNetCore.Server.Kestrel.Http2`".
				c = first[:strings.LastIndexByte(first, '.')+1] + rest
			}
			if first == "" {
				first = c
			}
			r.categories = append(r.categories, c)
		}
		for _, s := range strings.Split(strings.TrimSpace(cells[1]), ", ") {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("README.md:%d: id %q: %v", i+1, s, err)
			}
			r.ids = append(r.ids, n)
		}
		// The event's names lead its cell, before a colon, each perhaps
		// with a remark in parentheses: "Http2StreamResetAbort,
		// Http3StreamAbort: ...", "CertificatesPending (...), CertificateOrdering".
		head := readmeLink.ReplaceAllString(strings.TrimSpace(cells[2]), "$1")
		head = readmeRemark.ReplaceAllString(head, "")
		head, _, _ = strings.Cut(head, ":")
		for _, n := range strings.Split(head, ", ") {
			if n = strings.TrimSpace(n); readmeEventID.MatchString(n) {
				r.names = append(r.names, n)
			}
		}
		r.levels = strings.Split(strings.TrimSpace(cells[3]), ", ")
		rows = append(rows, r)
	}
	t.Fatal("README.md: no table of log events (| category | id | event | level |) under ### Logs")
	return nil
}

// TestREADMELogEvents keeps the README's table of log events and the
// catalog in step: each row's categories, ids, names and levels are those
// of events the catalog declares, and every event the catalog declares
// has a row.
func TestREADMELogEvents(t *testing.T) {
	events := catalog(t)
	documented := map[*Event]bool{}
	for _, r := range readmeEventRows(t) {
		// Pair the row's ids with its categories (one each, or one for
		// all) and with its names, when it gives names.
		if len(r.categories) != 1 && len(r.categories) != len(r.ids) {
			t.Errorf("README.md:%d: %d categories for %d ids", r.line, len(r.categories), len(r.ids))
			continue
		}
		if len(r.names) > 0 && len(r.names) != len(r.ids) {
			t.Errorf("README.md:%d: %d names (%v) for %d ids", r.line, len(r.names), r.names, len(r.ids))
			continue
		}
		for i, id := range r.ids {
			category := r.categories[min(i, len(r.categories)-1)]
			var found []*Event
			for _, e := range events {
				if e.Category == category && e.ID == id && (len(r.names) == 0 || e.Name == r.names[i]) {
					found = append(found, e)
				}
			}
			if len(found) == 0 {
				if category == CategoryKestrel && id == 0 {
					continue // General's events, named where they are logged
				}
				name := ""
				if len(r.names) > 0 {
					name = " " + r.names[i]
				}
				t.Errorf("README.md:%d: no event%s with id %d in %s", r.line, name, id, category)
				continue
			}
			for _, e := range found {
				documented[e] = true
				if lv := logging.LevelName(e.Level); !slices.Contains(r.levels, lv) {
					t.Errorf("README.md:%d: %s (%s[%d]) is logged at %s, the README says %v", r.line, e.Name, category, id, lv, r.levels)
				}
			}
		}
	}
	for v, e := range events {
		if !documented[e] {
			t.Errorf("%s (%s, %s[%d], %s) has no row in the README's table of log events", v, e.Name, e.Category, e.ID, logging.LevelName(e.Level))
		}
	}
}
