package main

import (
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"testing"
)

// TestREADMEFlags: every flag the command's usage lists is named in the
// README (as --name), so a new flag cannot go undocumented.
func TestREADMEFlags(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"--help"}, nil, io.Discard)
	var help *helpRequest
	if !errors.As(err, &help) {
		t.Fatalf("run --help: %v, want the usage", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.usage, -1)
	if len(flags) < 20 {
		t.Fatalf("read %d flags from the usage:\n%s", len(flags), help.usage)
	}
	for _, f := range flags {
		// --name followed by anything but another letter of a name:
		// --acme-ca does not count for --acme-ca-roots.
		if !regexp.MustCompile(`--` + regexp.QuoteMeta(f[1]) + `([^a-z0-9-]|$)`).Match(readme) {
			t.Errorf("--%s is not in README.md", f[1])
		}
	}
}
