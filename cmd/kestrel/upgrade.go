package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel"
)

// upgradeTimeout is how long "kestrel upgrade" waits by default: a little
// longer than the server gives the new process to be ready (a minute).
const upgradeTimeout = time.Minute + 5*time.Second

// upgradeCommand is "kestrel upgrade": it asks the server whose PID file
// is given to upgrade (SIGUSR2), and waits until a new process has taken
// over, which then holds the PID file (kestrel.UpgradeService).
func upgradeCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kestrel upgrade", flag.ContinueOnError)
	fs.SetOutput(out)
	pidFile := fs.String("pid-file", "", "the PID file of the server to restart (its --pid-file)")
	timeout := fs.Duration("timeout", upgradeTimeout, "how long to wait for the new process")
	fs.Usage = func() {
		fmt.Fprint(out, "Usage:\n  kestrel upgrade --pid-file FILE [--timeout DURATION]\n\n"+
			"Restarts the server on its binary, which may have been replaced, on the same\n"+
			"listening sockets: the new process starts, then the old one drains (as SIGUSR2).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *pidFile == "" || fs.NArg() > 0 {
		fmt.Fprintln(out, "kestrel upgrade: --pid-file is required, and nothing else")
		fs.Usage()
		return errUsage
	}
	old := "another process"
	if b, err := os.ReadFile(*pidFile); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			old = "process " + strconv.Itoa(n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	pid, err := kestrel.UpgradeService(ctx, *pidFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &prefixedError{"upgrade", fmt.Errorf("%w (is the server running with --pid-file %s?)", err, *pidFile)}
		}
		return &prefixedError{"upgrade", err}
	}
	fmt.Fprintf(out, "kestrel: process %d took over from %s\n", pid, old)
	return nil
}
