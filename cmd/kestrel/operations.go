package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/hostfiltering"
	"github.com/kestrel-go/kestrel/internal/demo"
	"github.com/kestrel-go/kestrel/internal/logevents"
)

// configPollInterval is how often the configuration file is looked at; a
// change is applied once the file has stayed the same for one interval, so
// that a file being written is not read half-way.
const configPollInterval = 250 * time.Millisecond

// operations runs the server as a service: it starts it on the sockets it
// inherits (systemd socket activation, the process it replaces), reloads
// the configuration when the file changes or on SIGHUP, hands the sockets
// to a new process on SIGUSR2, tells systemd how it is doing, and shuts
// down when its context ends.
type operations struct {
	srv      *kestrel.Server
	log      *slog.Logger
	args     []string // the command line, for the process that replaces this one
	environ  []string
	front    *frontHandler
	pidFile  string
	shutdown time.Duration // the timeout of a shutdown

	configFile    string
	configData    []byte            // as last read
	configSeen    fileStamp         // when last read
	configPending fileStamp         // as last seen, changed since
	overrides     map[string]string // from the flags, over the file

	metrics  *kestrel.Server // serves --metrics, or nil
	notify   *notifier
	upgrader *upgrader
}

// serve starts the server and runs it until ctx ends, or until a new
// process took its sockets over and it has drained. ready, if not nil,
// tells the process this one replaces that it is ready (listenInherited).
func (o *operations) serve(ctx context.Context, ready func()) error {
	o.notify = newNotifier(o.environ, o.log)
	if err := o.srv.Start(); err != nil {
		return err
	}
	for _, a := range o.srv.Addresses() {
		logevents.ListeningOn(o.log, a)
	}
	logevents.ApplicationStarted(o.log)
	if err := o.writePIDFile(); err != nil {
		logevents.General(o.log, slog.LevelError, "PIDFileFailed", "Cannot write the PID file: "+err.Error())
	}
	if ready != nil {
		ready() // tell the process this one replaces
	} else {
		o.notify.send("READY=1")
	}
	o.configSeen = stampOf(o.configFile)

	signals := notifySignals()
	defer stopSignals(signals)
	var watch <-chan time.Time
	if o.configFile != "" {
		t := time.NewTicker(configPollInterval)
		defer t.Stop()
		watch = t.C
	}
	var watchdog <-chan time.Time
	if d := o.notify.watchdogInterval(o.environ); d > 0 {
		o.log.Debug("pinging the systemd watchdog", "every", d/2)
		t := time.NewTicker(d / 2)
		defer t.Stop()
		watchdog = t.C
	}
	o.upgrader = &upgrader{o: o}
	handedOver := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case sig := <-signals:
			switch signalAction(sig) {
			case actionReload:
				o.reload("on " + sig.String())
			case actionUpgrade:
				o.upgrader.start()
			}
		case <-watch:
			o.checkConfigFile()
		case <-watchdog:
			o.notify.send("WATCHDOG=1")
		case res := <-o.upgrader.done:
			if o.upgrader.finish(res) {
				handedOver = true
				break loop
			}
		}
	}

	if !handedOver {
		o.notify.send("STOPPING=1")
	}
	logevents.ApplicationStopping(o.log)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdown)
	defer cancel()
	_ = o.srv.Shutdown(sctx) // only the deadline can end it early; Shutdown logged what it aborted
	if !handedOver {
		o.removePIDFile()
	}
	return nil
}

// shutdownTimeoutOf is the shutdown timeout cfg sets (with the flag, the
// file or the environment), or the default.
func shutdownTimeoutOf(cfg *kestrel.Config) time.Duration {
	if cfg.ShutdownTimeout != nil {
		return time.Duration(*cfg.ShutdownTimeout)
	}
	return kestrel.DefaultShutdownTimeout
}

// checkConfigFile reloads the configuration when the file has changed and
// then stayed the same for an interval.
func (o *operations) checkConfigFile() {
	st := stampOf(o.configFile)
	if st.same(o.configSeen) || !st.same(o.configPending) {
		o.configPending = st
		return
	}
	o.configSeen = st
	data, err := os.ReadFile(o.configFile)
	if err != nil || bytes.Equal(data, o.configData) {
		return // gone for a moment (an editor replacing it), or touched only
	}
	o.reload("because " + o.configFile + " changed")
}

// fileStamp tells whether a file changed.
type fileStamp struct{ fi os.FileInfo }

func stampOf(path string) fileStamp {
	fi, _ := os.Stat(path)
	return fileStamp{fi}
}

// same reports whether the file has the same identity, size and
// modification time, or is missing in both.
func (a fileStamp) same(b fileStamp) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

// reload reads the configuration file again and applies it: the server's
// endpoints, limits and certificates, and the middleware (AllowedHosts,
// forwarded headers). A file with an error changes nothing.
func (o *operations) reload(why string) {
	o.notify.send("RELOADING=1" + monotonicUsec())
	defer o.notify.send("READY=1") // systemctl reload waits for it, whatever the outcome
	if o.configFile == "" {
		logevents.General(o.log, slog.LevelInfo, "ConfigurationReload", "Nothing to reload "+why+": the server has no configuration file (--config).")
		return
	}
	logevents.General(o.log, slog.LevelInfo, "ConfigurationReload", "Reloading the configuration "+why+".", slog.String("file", o.configFile))
	data, err := os.ReadFile(o.configFile)
	if err == nil {
		o.configData = data
		var cfg *kestrel.Config
		if cfg, err = kestrel.ParseConfig(data, o.configFile, o.overrides, o.environ); err == nil {
			err = o.apply(cfg)
		}
	}
	if err != nil {
		logevents.General(o.log, slog.LevelError, "ConfigurationReloadFailed", "The configuration was not reloaded: the server goes on with the one it has. "+err.Error(), slog.String("file", o.configFile))
		return
	}
	logevents.General(o.log, slog.LevelInfo, "ConfigurationReloaded", "Configuration reloaded.", slog.String("file", o.configFile))
}

// apply applies a configuration to the server and its middleware, or
// neither.
func (o *operations) apply(cfg *kestrel.Config) error {
	st, err := o.front.build(cfg)
	if err != nil {
		return err
	}
	if err := o.srv.Reload(cfg); err != nil {
		return err
	}
	o.front.cur.Store(st)
	o.shutdown = shutdownTimeoutOf(cfg)
	return nil
}

func (o *operations) writePIDFile() error {
	if o.pidFile == "" {
		return nil
	}
	tmp := o.pidFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, o.pidFile)
}

// removePIDFile removes the PID file if it is still this process's.
func (o *operations) removePIDFile() {
	if o.pidFile == "" {
		return
	}
	if pid, err := readPIDFile(o.pidFile); err == nil && pid == os.Getpid() {
		os.Remove(o.pidFile)
	}
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s does not hold a process ID", path)
	}
	return pid, nil
}

// frontHandler is the app behind the middleware the configuration asks
// for (AllowedHosts, forwarded headers) and the access log between them; a
// reload replaces the middleware.
type frontHandler struct {
	app       http.Handler
	wrap      func(http.Handler) http.Handler // the access log's, or nil
	accessLog bool                            // every request is logged: no hot path skips the middleware
	cur       atomic.Pointer[frontState]
}

type frontState struct {
	h http.Handler
	// native: the demo app's hot paths may skip the middleware, which
	// filters no host.
	native bool
}

func (f *frontHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.cur.Load().h.ServeHTTP(w, r)
}

// build returns the middleware cfg asks for, in front of the app.
func (f *frontHandler) build(cfg *kestrel.Config) (*frontState, error) {
	var wrap []func(http.Handler) http.Handler
	if f.wrap != nil {
		wrap = append(wrap, f.wrap)
	}
	h, err := cfg.Handler(f.app, wrap...)
	if err != nil {
		return nil, err
	}
	hosts := hostfiltering.ParseAllowedHosts(cfg.AllowedHosts)
	return &frontState{h: h, native: (len(hosts) == 0 || slices.Contains(hosts, "*")) && !f.accessLog}, nil
}

// configure puts the middleware cfg asks for in front of the app.
func (f *frontHandler) configure(cfg *kestrel.Config) error {
	st, err := f.build(cfg)
	if err != nil {
		return err
	}
	f.cur.Store(st)
	return nil
}

// native returns the demo app's native handler: its hot paths use neither
// the client's address nor the host, so they stay on the zero-allocation
// path ahead of the middleware, unless a host filter or the access log
// needs to see them.
func (f *frontHandler) native(app *demo.App) kestrel.NativeHandler {
	hot := app.Native(f)
	return kestrel.NativeHandlerFunc(func(c *kestrel.Context) {
		if f.cur.Load().native {
			hot.ServeKestrel(c)
			return
		}
		c.ServeHTTP(f)
	})
}
