package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/logging"
)

// TestBinaryHelpAndErrors: the built command prints its usage on standard
// output and exits 0 for --help and "kestrel help"; a command line it
// cannot parse gets the reason and a pointer to --help on standard error,
// not the whole usage, and exit status 2.
func TestBinaryHelpAndErrors(t *testing.T) {
	bin := buildCommand(t)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"dev-certs", "--help"}} {
		cmd := exec.Command(bin, args...)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		flag := "-shutdown-timeout"
		if args[0] == "dev-certs" {
			flag = "-check"
		}
		if err != nil || !strings.HasPrefix(string(out), "Usage") || !strings.Contains(string(out), flag) || stderr.String() != "" {
			t.Errorf("kestrel %s: %v, stdout %q, stderr %q; want the usage on stdout and exit 0", strings.Join(args, " "), err, out, stderr.String())
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shutdown-timeout", "soon"}, `invalid value "soon" for flag -shutdown-timeout: not a duration; use 30s, 1m30s, 00:00:30 or a number of seconds such as 30` + "\n" + seeHelp + "\n"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus\n" + seeHelp + "\n"},
		{[]string{"extra"}, `kestrel: unexpected argument "extra"` + "\n" + seeHelp + "\n"},
	} {
		cmd := exec.Command(bin, tc.args...)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || len(out) != 0 || stderr.String() != tc.want {
			t.Errorf("kestrel %s: %v, stdout %q, stderr %q; want exit status 2 and stderr %q", strings.Join(tc.args, " "), err, out, stderr.String(), tc.want)
		}
	}
}

// TestBinaryVersion: --version names the module version, the Go version
// and the version control revision the binary was built at, read from the
// build information. Go stamps the revision in a repository whose .git is
// a folder (not in a git worktree), so the test builds a copy of the
// sources in a repository of its own.
func TestBinaryVersion(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is not installed (Debian package git)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := exec.Command(git, "-C", root, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	repo := t.TempDir()
	for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree
		}
		os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(repo, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(git, append([]string{"-C", repo, "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitIn("init", "-q")
	gitIn("add", "-A")
	gitIn("commit", "-q", "-m", "version test")
	rev := gitIn("rev-parse", "HEAD")
	bin := filepath.Join(t.TempDir(), "kestrel")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/kestrel")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("kestrel --version: %v", err)
	}
	want := regexp.MustCompile(`^kestrel (v\S+|\(devel\)) ` + regexp.QuoteMeta(runtime.Version()) + ` \w+/\w+ revision ` + rev[:12] + ` \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n$`)
	if !want.Match(out) {
		t.Errorf("kestrel --version printed %q, want it to match %s", out, want)
	}
}

func TestParseDurationFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30", 30 * time.Second, false},
		{"2.5", 2500 * time.Millisecond, false},
		{" 45 ", 45 * time.Second, false},
		{"0", 0, false}, // refused later as not positive, with its own message
		{"30s", 30 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"00:00:30", 30 * time.Second, false},
		{"1.00:00:00", 24 * time.Hour, false},
		{"-1s", -time.Second, false},
		{"-5", 0, true},
		{"1e3", 0, true},
		{"NaN", 0, true},
		{"Inf", 0, true},
		{"1e400", 0, true},
		{"soon", 0, true},
		{"", 0, true},
		{"99999999999999", 0, true},
	} {
		got, err := parseDurationFlag(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseDurationFlag(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestShutdownTimeoutSeconds: a number without a unit is seconds, and
// reaches the server as the configuration's ShutdownTimeout.
func TestShutdownTimeoutSeconds(t *testing.T) {
	var log syncBuffer
	err := run(context.Background(), []string{"--shutdown-timeout", "0"}, nil, &log)
	if err == nil || err.Error() != "--shutdown-timeout 0s: use a positive duration such as 30s" {
		t.Errorf("--shutdown-timeout 0: %v", err)
	}
	var d durationFlag
	if err := d.Set("30"); err != nil || d.String() != "30s" {
		t.Errorf("Set(\"30\"): %v, %v", d.String(), err)
	}
}

func TestParseLogLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want slog.Level
	}{
		{"Trace", logging.LevelTrace},
		{"Debug", slog.LevelDebug},
		{"Information", slog.LevelInfo},
		{"information", slog.LevelInfo},
		{"INFO", slog.LevelInfo},
		{"Warning", slog.LevelWarn},
		{"warn", slog.LevelWarn},
		{"Error", slog.LevelError},
		{"Critical", logging.LevelCritical},
		{"None", logging.LevelCritical + 1},
	} {
		if got, err := parseLogLevel(tc.in); err != nil || got != tc.want {
			t.Errorf("parseLogLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"loud", "", "Warn ing", "info+2"} {
		if _, err := parseLogLevel(bad); err == nil || !strings.Contains(err.Error(), "Trace, Debug, Information, Warning, Error, Critical or None") {
			t.Errorf("parseLogLevel(%q): %v", bad, err)
		}
	}
}

// TestLogLevelWarningHidesInformation: with ASP.NET's Warning level the
// command logs no Information lines, and with None nothing at all.
func TestLogLevelWarningHidesInformation(t *testing.T) {
	for _, level := range []string{"Warning", "None"} {
		var log syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := run(ctx, []string{"--urls", "http://127.0.0.1:0", "--log-level", level}, nil, &log)
		cancel()
		if err != nil || log.String() != "" {
			t.Errorf("--log-level %s: %v, log %q; want no lines", level, err, log.String())
		}
	}
}

// TestRootLogsFolderAndHintsBrowse: --root logs the folder it serves; a
// folder without a default file answers / with 404 and a hint about
// --browse, until an index.html appears; with --browse / lists the folder.
func TestRootLogsFolderAndHintsBrowse(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("notes"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--urls", "http://127.0.0.1:0", "--root", dir}, nil, &log) }()
	defer func() { cancel(); <-done }()
	base := waitListening(t, log.String)
	for _, want := range []string{"Serving the files of " + dir, dir + " has no default.htm, default.html, index.htm, index.html: / answers 404; add --browse to list the folder's files"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, log.String())
		}
	}
	resp, body := get(t, base+"/")
	if resp.StatusCode != 404 || !strings.Contains(body, "Start kestrel with --browse to list its files") {
		t.Errorf("GET / = %d %q; want 404 with a hint about --browse", resp.StatusCode, body)
	}
	// A HEAD gets the GET's header fields, its Content-Length included.
	if head, err := http.Head(base + "/"); err != nil {
		t.Error(err)
	} else {
		head.Body.Close()
		if head.StatusCode != 404 || head.ContentLength != int64(len(body)) || head.Header.Get("X-Content-Type-Options") != resp.Header.Get("X-Content-Type-Options") {
			t.Errorf("HEAD / = %d, Content-Length %d, X-Content-Type-Options %q; GET's: %d, %d, %q", head.StatusCode, head.ContentLength,
				head.Header.Get("X-Content-Type-Options"), resp.StatusCode, len(body), resp.Header.Get("X-Content-Type-Options"))
		}
	}
	if resp, body := get(t, base+"/notes.txt"); resp.StatusCode != 200 || body != "notes" {
		t.Errorf("GET /notes.txt = %d %q", resp.StatusCode, body)
	}
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>home</h1>"), 0o644)
	deadline := time.Now().Add(5 * time.Second) // the file cache checks the disk once a second
	for {
		resp, body := get(t, base+"/")
		if resp.StatusCode == 200 && body == "<h1>home</h1>" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET / after index.html appeared = %d %q", resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "a.txt"), []byte("a"), 0o644)
	browse := start(t, []string{"--urls", "http://127.0.0.1:0", "--root", empty, "--browse"}, nil)
	if resp, body := get(t, browse+"/"); resp.StatusCode != 200 || !strings.Contains(body, "a.txt") {
		t.Errorf("GET / with --browse = %d %q; want the listing", resp.StatusCode, body)
	}
}
