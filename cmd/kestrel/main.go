// Command kestrel serves the demo app, or a folder's static files, on the
// Kestrel for Go web server.
//
//	kestrel [--urls URLS] [--config FILE] [--root DIR [--fallback FILE] [--browse] [--cache-control VALUE]]
//	        [--log-level LEVEL] [--no-server-header]
//	kestrel dev-certs [--check]
//
// URLs are semicolon-separated URL prefixes such as
// "http://localhost:5000;http://[::]:8080;unix:/run/app.sock". Without
// --urls, the KESTREL_URLS environment variable is used, then
// ASPNETCORE_URLS, then http://localhost:5000.
//
// --config reads the "Kestrel" section of an appsettings.json-style file
// (endpoints, certificates, limits); flags override it, and environment
// variables such as Kestrel__Limits__MaxRequestBodySize override both.
// Endpoints from the file win over --urls.
//
// --root serves a folder's files with package staticfiles: ETags,
// conditional and range requests, precompressed siblings and compression
// on the fly, default files (index.html). --fallback names the file served
// for unknown paths without an extension (a single-page app's index.html),
// --browse turns on directory listings (off by default), --cache-control
// sets the Cache-Control of files whose names carry no content hash
// (default "no-cache"; fingerprinted names such as app.3f2a9c1b.js are
// cached for a year as immutable).
//
// Ctrl-C or SIGTERM shuts the server down gracefully.
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
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/forwardedheaders"
	"github.com/kestrel-go/kestrel/hostfiltering"
	"github.com/kestrel-go/kestrel/internal/certs"
	"github.com/kestrel-go/kestrel/internal/demo"
	"github.com/kestrel-go/kestrel/staticfiles"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
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

// run is the command: it parses args, builds the server and serves until
// ctx ends.
func run(ctx context.Context, args []string, environ []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "dev-certs" {
		return devCerts(args[1:], stderr)
	}
	fs := flag.NewFlagSet("kestrel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("urls", "", "semicolon-separated URLs to listen on (default $KESTREL_URLS, $ASPNETCORE_URLS or "+kestrel.DefaultURL+")")
	configFile := fs.String("config", "", "read endpoints, certificates and limits from this JSON file (the Kestrel section)")
	root := fs.String("root", "", "serve the static files of this folder instead of the demo app")
	var static staticfiles.Options
	fs.StringVar(&static.Fallback, "fallback", "", "with --root: serve this file (such as index.html) for unknown paths without an extension, for single-page apps")
	fs.BoolVar(&static.Browse, "browse", false, "with --root: list the files of folders that have no index.html")
	fs.StringVar(&static.CacheControl, "cache-control", "", `with --root: the Cache-Control of files whose names carry no content hash (default "no-cache")`)
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	noServer := fs.Bool("no-server-header", false, "do not send the Server: Kestrel header")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kestrel: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", *level)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	srv := &kestrel.Server{Logger: log}
	var data []byte
	if *configFile != "" {
		var err error
		if data, err = os.ReadFile(*configFile); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	overrides := map[string]string{}
	if *noServer {
		overrides["Kestrel:AddServerHeader"] = "false"
	}
	cfg, err := kestrel.ParseConfig(data, *configFile, overrides, environ)
	if err != nil {
		return err
	}
	if err := cfg.Apply(srv); err != nil {
		return err
	}

	if *root != "" {
		static.Logger = log
		h, err := staticFiles(*root, static)
		if err != nil {
			return err
		}
		defer h.Close()
		srv.Handler = h
	} else if static.Fallback != "" || static.Browse || static.CacheControl != "" {
		return errors.New("--fallback, --browse and --cache-control apply to --root: add --root DIR")
	} else {
		srv.Handler = demo.New(srv.Addresses)
	}

	h, err := wrapProxyMiddleware(srv.Handler, cfg)
	if err != nil {
		return err
	}
	if app, ok := srv.Handler.(*demo.App); ok && cfg.AllowedHosts == "" {
		// The hot paths use neither the client's address nor the host:
		// they stay on the zero-allocation path, ahead of the middleware.
		srv.NativeHandler = app.Native(h)
	}
	srv.Handler = h

	u := *urls
	if u == "" {
		u = getenv(environ, "KESTREL_URLS")
	}
	if u == "" {
		u = getenv(environ, "ASPNETCORE_URLS")
	}
	if u != "" {
		if err := srv.UseURLs(u); err != nil {
			return err
		}
	}
	return srv.Run(ctx)
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *check {
		if _, err := certs.LoadDevCert(); err != nil {
			return err
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

// forwardedEnabled reports whether the forwarded-headers middleware is on
// (Kestrel:ForwardedHeaders:Enabled, default true).
func forwardedEnabled(cfg *kestrel.Config) bool {
	return cfg.ForwardedHeaders.Enabled == nil || *cfg.ForwardedHeaders.Enabled
}

// wrapProxyMiddleware puts host filtering (Kestrel:AllowedHosts) and the
// forwarded headers (trusting loopback and Unix socket peers unless
// configured otherwise) in front of h, so that behind nginx the app sees
// the client's address.
func wrapProxyMiddleware(h http.Handler, cfg *kestrel.Config) (http.Handler, error) {
	if cfg.AllowedHosts != "" {
		h = hostfiltering.Handler(h, hostfiltering.Options{AllowedHosts: hostfiltering.ParseAllowedHosts(cfg.AllowedHosts)})
	}
	if !forwardedEnabled(cfg) {
		return h, nil
	}
	fc := cfg.ForwardedHeaders
	opts := forwardedheaders.Options{}
	if fc.ForwardLimit != nil {
		opts.ForwardLimit = *fc.ForwardLimit
		if *fc.ForwardLimit == 0 {
			opts.ForwardLimit = forwardedheaders.Unlimited
		}
	}
	for i, p := range fc.KnownProxies {
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("Kestrel:ForwardedHeaders:KnownProxies:%d: %q is not an IP address", i, p)
		}
		opts.KnownProxies = append(opts.KnownProxies, a)
	}
	if fc.KnownNetworks != nil {
		opts.KnownNetworks = []netip.Prefix{}
		for i, n := range fc.KnownNetworks {
			p, err := netip.ParsePrefix(n)
			if err != nil {
				return nil, fmt.Errorf("Kestrel:ForwardedHeaders:KnownNetworks:%d: %q is not a network such as 10.0.0.0/8", i, n)
			}
			opts.KnownNetworks = append(opts.KnownNetworks, p)
		}
	}
	return forwardedheaders.Handler(h, opts), nil
}
