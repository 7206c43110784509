// Command kestrel serves the demo app, or a folder's static files, on the
// Kestrel for Go web server.
//
//	kestrel [--urls URLS] [--http-ports PORTS] [--https-ports PORTS] [--config FILE]
//	        [--root DIR [--fallback FILE] [--browse] [--cache-control VALUE]]
//	        [--log-level LEVEL] [--log-format console|json] [--access-log] [--metrics URL [--pprof]]
//	        [--no-server-header] [--socket-mode MODE] [--shutdown-timeout DURATION] [--pid-file FILE]
//	        [--health PATH] [--drain-delay DURATION] [--status PATH]
//	kestrel upgrade --pid-file FILE [--timeout DURATION]
//	kestrel dev-certs [--check]
//	kestrel --version
//
// URLs are semicolon-separated URL prefixes such as
// "http://localhost:5000;http://[::]:8080;unix:/run/app.sock". Without
// --urls, the KESTREL_URLS environment variable is used, then
// ASPNETCORE_URLS. Without URLs, --http-ports and --https-ports (or the
// environment's KESTREL_HTTP_PORTS, ASPNETCORE_HTTP_PORTS or
// DOTNET_HTTP_PORTS, and the same for HTTPS_PORTS, as ASP.NET Core 8 reads
// them) serve HTTP and HTTPS on every address of those ports:
// "8080;8081" binds http://*:8080 and http://*:8081; URLs win over them,
// with a warning. Without either, http://localhost:5000. --socket-mode sets the
// permissions of the Unix socket files (0660 lets nginx, in the socket's
// group, connect).
//
// --config reads the "Kestrel" section of an appsettings.json-style file
// (endpoints, certificates, limits) and its top-level AllowedHosts; flags
// override it, and environment variables such as
// Kestrel__Limits__MaxRequestBodySize override both. Endpoints from the
// file win over --urls, which serve only while the file has none, at
// start and after a reload alike. The file may have comments, trailing
// commas and a byte order mark, as ASP.NET's appsettings.json. Relative
// certificate paths resolve against the file's folder.
//
// --root serves a folder's files with package staticfiles: ETags,
// conditional and range requests, precompressed siblings and compression
// on the fly, default files (default.htm, default.html, index.htm,
// index.html). --fallback names the file served
// for unknown paths without an extension (a single-page app's index.html),
// --browse turns on directory listings (off by default), --cache-control
// sets the Cache-Control of files whose names carry no content hash
// (default "no-cache"; fingerprinted names such as app.3f2a9c1b.js are
// cached for a year as immutable).
//
// Ctrl-C or SIGTERM shuts the server down gracefully: requests get
// --shutdown-timeout to finish, then the ones left are aborted and logged.
// --health /healthz serves readiness there (200 "ready"; 503 "starting",
// "draining") and liveness at /healthz/live (200), ahead of the app and
// its host filter, for a load balancer or Kubernetes probes.
// --drain-delay 5s (Kestrel:DrainDelay) makes SIGTERM turn readiness to
// 503 at once and go on serving for that long (responses say
// Connection: close, HTTP/2 connections get GOAWAY) before the graceful
// shutdown, so that the balancer stops sending first. An upgrade's old
// process does not wait the delay.
// --status /status (Kestrel:Status:Path) serves a live status page there
// for operators, ahead of the app: endpoints, connections by protocol,
// requests per second, p50 and p99 latency over the last minute, TLS
// handshakes, rejected connections and their reasons, the readiness state
// and the drain countdown; ?format=json gives the same for scripts. It
// answers loopback clients only, unless Kestrel:Status:AllowedNetworks
// names others.
// The command exits 0 after a shutdown, 1 when it cannot start, and 2 for
// a command line it cannot parse. --help (or "kestrel help") prints the
// usage on standard output. Durations are Go's ("30s"), ASP.NET's
// ("00:00:30") or a number of seconds; --log-level takes ASP.NET's names
// (Trace, Debug, Information, Warning, Error, Critical, None) or Go's.
//
// The configuration file is read again when it changes and on SIGHUP:
// endpoints added, removed or changed are rebound, the others keep their
// connections; a file with an error is refused, logged, and the running
// configuration stays. SIGUSR2 (or "kestrel upgrade --pid-file FILE")
// starts the command's binary again, which may have been replaced, on the
// same listening sockets; once it is ready, the old process stops
// accepting and drains, and no request is lost. Under systemd, the command
// takes the sockets of socket activation (LISTEN_FDS) and tells systemd
// when it is ready, reloading and stopping (Type=notify or notify-reload),
// and pings its watchdog (WatchdogSec).
//
// Logs go to standard error in ASP.NET Core's console format ("info:
// Microsoft.Hosting.Lifetime[14]" and the message on the next line), or
// one JSON object per line with --log-format json. --access-log adds one
// line per request there. --metrics http://127.0.0.1:9464 serves the
// server's metrics (Kestrel's, ASP.NET Core's HTTP server ones, the Go
// runtime's) to Prometheus at /metrics on a listener of its own, and
// --pprof the runtime profiles at /debug/pprof/ on that listener.
//
// https:// URLs without a configured certificate use the development
// certificate, which "kestrel dev-certs" creates (as "dotnet dev-certs
// https" does) for localhost, 127.0.0.1 and ::1, printing how to trust it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/internal/certs"
	"github.com/kestrel-go/kestrel/internal/demo"
	"github.com/kestrel-go/kestrel/staticfiles"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stderr)
	var help *helpRequest
	switch {
	case errors.As(err, &help):
		fmt.Print(help.usage)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errVersion):
		fmt.Println(version())
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "kestrel:", strings.TrimPrefix(err.Error(), "kestrel: "))
		os.Exit(1)
	}
}

// errUsage marks a command line that could not be parsed; the flag package
// has printed why.
var errUsage = errors.New("usage")

// errVersion asks main to print the version.
var errVersion = errors.New("version requested")

// usage prints the command's synopsis, its subcommands and its flags.
func usage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), `Usage:
  kestrel [flags]                serve the demo app (or --root's files)
  kestrel upgrade --pid-file F   restart the server in F on its new binary, losing no request (as SIGUSR2)
  kestrel dev-certs [--check]    create (or check) the development certificate for https://localhost

Flags:
`)
	fs.PrintDefaults()
}

// run is the command: it parses args, builds the server and serves until
// ctx ends.
func run(ctx context.Context, args []string, environ []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "dev-certs" {
		return devCerts(args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "upgrade" {
		return upgradeCommand(args[1:], stderr)
	}
	fs := flag.NewFlagSet("kestrel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if len(args) > 0 && args[0] == "help" {
		args = []string{"--help"}
	}
	urls := fs.String("urls", "", "semicolon-separated URLs to listen on (default $KESTREL_URLS, $ASPNETCORE_URLS or "+kestrel.DefaultURL+")")
	httpPorts := fs.String("http-ports", "", "semicolon-separated `ports` to serve HTTP on, every address, when there are no URLs (default $KESTREL_HTTP_PORTS, $ASPNETCORE_HTTP_PORTS or $DOTNET_HTTP_PORTS)")
	httpsPorts := fs.String("https-ports", "", "semicolon-separated `ports` to serve HTTPS on, every address, with the default certificate, when there are no URLs (default $KESTREL_HTTPS_PORTS, $ASPNETCORE_HTTPS_PORTS or $DOTNET_HTTPS_PORTS)")
	configFile := fs.String("config", "", "read endpoints, certificates and limits from this JSON file (the Kestrel section)")
	root := fs.String("root", "", "serve the static files of this folder instead of the demo app")
	var static staticfiles.Options
	fs.StringVar(&static.Fallback, "fallback", "", "with --root: serve this file (such as index.html) for unknown paths without an extension, for single-page apps")
	fs.BoolVar(&static.Browse, "browse", false, "with --root: list the files of folders that have no default file (default.htm, default.html, index.htm or index.html)")
	fs.StringVar(&static.CacheControl, "cache-control", "", `with --root: the Cache-Control of files whose names carry no content hash (default "no-cache")`)
	level := fs.String("log-level", "Information", "log level: Trace, Debug, Information, Warning, Error, Critical or None (or Go's debug, info, warn, error)")
	noServer := fs.Bool("no-server-header", false, "do not send the Server: Kestrel header")
	socketMode := fs.String("socket-mode", "", "permissions of the Unix socket files it creates, as an octal `mode` such as 0660 (lets nginx in the socket's group connect)")
	var shutdownTimeout durationFlag
	fs.Var(&shutdownTimeout, "shutdown-timeout", "how long in-flight requests may finish after Ctrl-C or SIGTERM, such as 30s, 00:00:30 or 30 (seconds) (default Kestrel:ShutdownTimeout, or 30s)")
	var drainDelay durationFlag
	fs.Var(&drainDelay, "drain-delay", "after SIGTERM, how long to go on serving with readiness at 503 (see --health) before the graceful shutdown, such as 5s, 00:00:05 or 5 (seconds) (default Kestrel:DrainDelay, or 0)")
	health := fs.String("health", "", "serve readiness at this `path` (200 ready; 503 starting or draining) and liveness at path/live (200), such as /healthz, ahead of the app and its host filter")
	status := fs.String("status", "", "serve a live status page at this `path` (HTML; ?format=json for scripts), such as /status, to loopback clients and Kestrel:Status:AllowedNetworks (default Kestrel:Status:Path, or none)")
	pidFile := fs.String("pid-file", "", "write the process ID to this file once the server is ready (for \"kestrel upgrade\")")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {} // the whole usage is for --help; an error gets seeHelp
	obs := addObservabilityFlags(fs)
	acmeOpts := addACMEFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpFor(fs, usage)
		}
		fmt.Fprintln(stderr, seeHelp)
		return errUsage
	}
	if *showVersion {
		return errVersion
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kestrel: unexpected argument %q\n%s\n", fs.Arg(0), seeHelp)
		return errUsage
	}

	lvl, err := parseLogLevel(*level)
	if err != nil {
		return err
	}
	log, err := obs.logger(stderr, lvl, environ)
	if err != nil {
		return err
	}

	overrides := map[string]string{}
	if *noServer {
		overrides["Kestrel:AddServerHeader"] = "false"
	}
	if *socketMode != "" { // over Kestrel:EndpointDefaults:SocketMode
		if m, err := strconv.ParseUint(*socketMode, 8, 32); err != nil || m == 0 || m > 0o777 {
			return fmt.Errorf("--socket-mode %q: use an octal file mode such as 0660", *socketMode)
		}
		overrides["Kestrel:EndpointDefaults:SocketMode"] = *socketMode
	}
	if flagSet(fs, "shutdown-timeout") { // over Kestrel:ShutdownTimeout
		if shutdownTimeout <= 0 {
			return fmt.Errorf("--shutdown-timeout %v: use a positive duration such as 30s", time.Duration(shutdownTimeout))
		}
		overrides["Kestrel:ShutdownTimeout"] = shutdownTimeout.String()
	}

	if flagSet(fs, "drain-delay") { // over Kestrel:DrainDelay
		if drainDelay < 0 {
			return fmt.Errorf("--drain-delay %v: use a duration of zero or more such as 5s", time.Duration(drainDelay))
		}
		overrides["Kestrel:DrainDelay"] = drainDelay.String()
	}
	if *health != "" && (!strings.HasPrefix(*health, "/") || strings.TrimRight(*health, "/") == "") {
		return fmt.Errorf("--health %q: use a path beginning with /, such as /healthz", *health)
	}
	// As HealthChecks serves it, for the comparisons with the status page.
	*health = strings.TrimRight(*health, "/")
	if flagSet(fs, "status") { // over Kestrel:Status:Path
		if !strings.HasPrefix(*status, "/") || *status == "/" {
			return fmt.Errorf("--status %q: use a path beginning with /, such as /status", *status)
		}
		if healthPath(*status, *health) {
			return fmt.Errorf("--status %q: the health checks answer there (--health %q); give the status page a path of its own, such as /status", *status, *health)
		}
		overrides["Kestrel:Status:Path"] = *status
	}
	if flagSet(fs, "root") && *root == "" {
		return errors.New(`--root "": name the folder to serve, such as --root ./public (an unset variable in a unit file gives an empty one)`)
	}

	if err := acmeOpts.overrides(overrides); err != nil {
		return err
	}

	srv := &kestrel.Server{Logger: log}
	var app http.Handler
	if *root != "" {
		static.Logger = log
		h, err := staticFiles(*root, static)
		if err != nil {
			return err
		}
		defer h.Close()
		app = rootHint(h, *root, static.Browse, static.Fallback != "", log)
	} else if static.Fallback != "" || static.Browse || static.CacheControl != "" {
		return errors.New("--fallback, --browse and --cache-control apply to --root: add --root DIR")
	} else {
		d := demo.New(srv.Addresses)
		obs.demo = d // its home page shows the metrics' live counters
		srv.RegisterOnDraining(d.Draining)
		app = d
	}

	// AllowedHosts and forwarded headers, and between them the access log;
	// the service configures them, and a reload replaces them.
	front := &frontHandler{app: app, accessLog: *obs.accessLog,
		wrap: func(h http.Handler) http.Handler { return obs.wrapAccessLog(h, stderr) }}
	// The health checks come first: a balancer's probe is answered
	// whatever Host it sends, and is not in the access log.
	var outer http.Handler = front
	if *health != "" {
		outer = srv.HealthChecks(*health, front)
	}
	// The status page too, when the configuration asks for it.
	statusFront := &statusRoute{srv: srv, next: outer, health: *health}
	outer = statusFront
	srv.Handler = outer
	if app, ok := app.(*demo.App); ok {
		srv.NativeHandler = front.native(app, outer)
	}

	u, urlsFrom := *urls, "--urls"
	for _, name := range []string{"KESTREL_URLS", "ASPNETCORE_URLS"} {
		if u == "" {
			u, urlsFrom = getenv(environ, name), name
		}
	}
	if u != "" {
		if err := srv.UseURLs(u); err != nil {
			return fmt.Errorf("%w (from %s)", err, urlsFrom)
		}
	}
	// HTTP_PORTS and HTTPS_PORTS, as ASP.NET Core 8 reads them: the URLs
	// win over them (the server logs which), and endpoints from the file
	// over both.
	var portsFrom []string
	for _, p := range []struct {
		flag, setting string
		value         *string
	}{{"http-ports", "HTTP_PORTS", httpPorts}, {"https-ports", "HTTPS_PORTS", httpsPorts}} {
		if flagSet(fs, p.flag) {
			portsFrom = append(portsFrom, "--"+p.flag)
			continue
		}
		for _, prefix := range []string{"KESTREL_", "ASPNETCORE_", "DOTNET_"} {
			if v := getenv(environ, prefix+p.setting); v != "" {
				*p.value = v
				portsFrom = append(portsFrom, prefix+p.setting)
				break
			}
		}
	}
	if *httpPorts != "" || *httpsPorts != "" {
		if err := srv.UsePorts(*httpPorts, *httpsPorts); err != nil {
			return fmt.Errorf("%w (from %s)", err, strings.Join(portsFrom, " and "))
		}
	}
	// The metrics listener takes the sockets it inherits before the app's
	// server does (kestrel.Service's Others).
	ms, stopMetrics, err := obs.startMetrics(srv, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	svc := &kestrel.Service{Server: srv, ConfigFile: *configFile, Overrides: overrides,
		Configure: func(cfg *kestrel.Config) (func(), error) {
			commitStatus, err := statusFront.configure(cfg)
			if err != nil {
				return nil, err
			}
			commitFront, err := front.configure(cfg)
			if err != nil {
				return nil, err
			}
			return func() { commitStatus(); commitFront() }, nil
		}, PIDFile: *pidFile, Args: args, Environ: environ}
	if ms != nil {
		svc.Others = []*kestrel.Server{ms}
	}
	return svc.Run(ctx)
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// staticFiles serves dir with package staticfiles (see the command's
// documentation).
func staticFiles(dir string, opts staticfiles.Options) (*staticfiles.Handler, error) {
	h, err := staticfiles.New(dir, opts)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "staticfiles: ")
		if strings.HasPrefix(msg, "fallback ") {
			return nil, errors.New("--" + msg)
		}
		return nil, errors.New("--root: " + msg)
	}
	return h, nil
}

// devCerts creates the development certificate if there is no valid one,
// and prints where it is and how to trust it.
func devCerts(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kestrel dev-certs", flag.ContinueOnError)
	fs.SetOutput(out)
	check := fs.Bool("check", false, "only report whether a valid development certificate exists")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpFor(fs, subcommandUsage)
		}
		fmt.Fprintln(out, `Run "kestrel dev-certs --help" for its flags.`)
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(out, "kestrel dev-certs: unexpected argument %q (it takes only flags, such as --check)\n", fs.Arg(0))
		fmt.Fprintln(out, `Run "kestrel dev-certs --help" for its flags.`)
		return errUsage
	}
	if *check {
		if _, err := certs.LoadDevCert(); err != nil {
			return fmt.Errorf("%s; create one with \"kestrel dev-certs\"", strings.TrimPrefix(err.Error(), "certs: "))
		}
		certPath, _, _ := certs.DevCertPaths()
		fmt.Fprintf(out, "A valid development certificate was found: %s\n", certPath)
		return nil
	}
	certPath, keyPath, created, err := certs.EnsureDevCert(time.Now())
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(out, "Created a development certificate for localhost, 127.0.0.1 and ::1:\n")
	} else {
		fmt.Fprintf(out, "A valid development certificate already exists:\n")
	}
	fmt.Fprintf(out, "  certificate: %s\n  private key: %s\n\n", certPath, keyPath)
	fmt.Fprintln(out, certs.TrustInstructions(certPath))
	return nil
}

// getenv looks name up in environ.
func getenv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
