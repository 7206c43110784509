package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/settings"
	"github.com/kestrel-go/kestrel/logging"
)

// helpRequest is what run returns for --help, -h and "kestrel help": main
// prints the usage on standard output and exits 0.
type helpRequest struct{ usage string }

func (h *helpRequest) Error() string { return "help requested" }

// helpFor returns the help request with the usage that print writes to
// fs's output.
func helpFor(fs *flag.FlagSet, print func(*flag.FlagSet)) *helpRequest {
	var b bytes.Buffer
	out := fs.Output()
	fs.SetOutput(&b)
	print(fs)
	fs.SetOutput(out)
	return &helpRequest{usage: b.String()}
}

// subcommandUsage prints the synopsis and flags of a subcommand's flag set.
func subcommandUsage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
	fs.PrintDefaults()
}

// seeHelp is printed after a command line error, in place of the whole
// usage.
const seeHelp = `Run "kestrel --help" for the flags.`

// durationFlag is a duration flag that reads Go's durations ("30s",
// "1m30s"), ASP.NET's TimeSpan text ("00:00:30") and a number without a
// unit as seconds ("30", "2.5"), as ASP.NET's ShutdownTimeout habits
// suggest.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(text string) error {
	v, err := parseDurationFlag(text)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

// parseDurationFlag parses the forms durationFlag reads.
func parseDurationFlag(text string) (time.Duration, error) {
	t := strings.TrimSpace(text)
	if decimalSeconds(t) {
		secs, err := strconv.ParseFloat(t, 64)
		// 1<<63 nanoseconds is one more than a Duration holds; a product
		// that rounds to it would wrap to the most negative one.
		if err != nil || secs < 0 || secs*float64(time.Second) >= 1<<63 {
			return 0, fmt.Errorf("%s seconds is out of range; use a duration such as 30s", t)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	if d, err := settings.ParseDuration(t); err == nil {
		return d, nil
	}
	return 0, errors.New("not a duration; use 30s, 1m30s, 00:00:30 or a number of seconds such as 30")
}

// decimalSeconds reports whether t is a number of seconds as
// parseDurationFlag reads one: decimal digits with an optional fraction
// and an optional minus (refused as out of range), none of the signs,
// exponents, hexadecimal forms, NaN or Inf that strconv.ParseFloat takes.
func decimalSeconds(t string) bool {
	t = strings.TrimPrefix(t, "-")
	digits, dots := 0, 0
	for i := range len(t) {
		switch c := t[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// logLevels are the names --log-level takes: ASP.NET's (LogLevel) and
// Go's (slog), case-insensitive.
var logLevels = map[string]slog.Level{
	"trace":       logging.LevelTrace,
	"debug":       slog.LevelDebug,
	"information": slog.LevelInfo,
	"info":        slog.LevelInfo,
	"warning":     slog.LevelWarn,
	"warn":        slog.LevelWarn,
	"error":       slog.LevelError,
	"critical":    logging.LevelCritical,
	"none":        logging.LevelCritical + 1, // nothing is logged above Critical
}

// parseLogLevel parses --log-level.
func parseLogLevel(text string) (slog.Level, error) {
	if l, ok := logLevels[strings.ToLower(strings.TrimSpace(text))]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("--log-level %q: use Trace, Debug, Information, Warning, Error, Critical or None (ASP.NET's names), or debug, info, warn or error (Go's)", text)
}

// version is the module version this binary was built from ("(devel)"
// for a build inside the repository, as go build stamps it), the version
// control revision it was built at, with its time and whether the tree
// had changes, and the Go toolchain's version.
func version() string {
	v, vcs := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		vcs = vcsInfo(bi.Settings)
	}
	out := fmt.Sprintf("kestrel %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if vcs != "" {
		out += " " + vcs
	}
	return out
}

// vcsInfo describes the build's version control stamps: "revision
// 0123456789ab (2026-12-06T10:00:00Z, modified)", or "" without them.
func vcsInfo(settings []debug.BuildSetting) string {
	var rev, at string
	modified := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	var notes []string
	if at != "" {
		notes = append(notes, at)
	}
	if modified {
		notes = append(notes, "modified")
	}
	out := "revision " + rev
	if len(notes) > 0 {
		out += " (" + strings.Join(notes, ", ") + ")"
	}
	return out
}

// defaultFileNames are the default files of package staticfiles (ASP.NET's
// list), which --root serves for a folder.
var defaultFileNames = []string{"default.htm", "default.html", "index.htm", "index.html"}

// rootHint logs the folder --root serves and, when it has no default file
// and neither --browse nor --fallback is given, wraps h so that "/"
// answers 404 with a hint about --browse instead of an empty page.
func rootHint(h http.Handler, dir string, browse, fallback bool, log *slog.Logger) http.Handler {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	logevents.General(log, slog.LevelInfo, "ServingFolder", "Serving the files of "+abs)
	if browse || fallback {
		return h
	}
	if !hasDefaultFile(abs) {
		logevents.General(log, slog.LevelInfo, "NoDefaultFile", abs+" has no "+strings.Join(defaultFileNames, ", ")+
			": / answers 404; add --browse to list the folder's files")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !hasDefaultFile(abs) {
			msg := "404 Not Found: this folder has no default file (" + strings.Join(defaultFileNames, ", ") + "), and its listing is off.\n" +
				"Start kestrel with --browse to list its files, or add an index.html.\n"
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("Content-Length", strconv.Itoa(len(msg))) // a HEAD gets it too
			w.WriteHeader(http.StatusNotFound)
			if r.Method == http.MethodGet {
				io.WriteString(w, msg)
			}
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hasDefaultFile reports whether dir holds one of the default files.
func hasDefaultFile(dir string) bool {
	for _, name := range defaultFileNames {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}
