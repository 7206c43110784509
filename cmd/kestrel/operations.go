package main

import (
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/hostfiltering"
	"github.com/kestrel-go/kestrel/internal/demo"
)

// frontHandler is the app behind the middleware the configuration asks
// for (AllowedHosts, forwarded headers) and the access log between them; a
// reload replaces the middleware (kestrel.Service's Configure).
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

// configure prepares the middleware cfg asks for, in front of the app, and
// returns the function that puts it in place (kestrel.Service's
// Configure).
func (f *frontHandler) configure(cfg *kestrel.Config) (func(), error) {
	var wrap []func(http.Handler) http.Handler
	if f.wrap != nil {
		wrap = append(wrap, f.wrap)
	}
	h, err := cfg.Handler(f.app, wrap...)
	if err != nil {
		return nil, err
	}
	hosts := hostfiltering.ParseAllowedHosts(cfg.AllowedHosts)
	st := &frontState{h: h, native: (len(hosts) == 0 || slices.Contains(hosts, "*")) && !f.accessLog}
	return func() { f.cur.Store(st) }, nil
}

// native returns the demo app's native handler, which serves outer (the
// health checks, if any, in front of f) for what it does not take: its hot paths use neither
// the client's address nor the host, so they stay on the zero-allocation
// path ahead of the middleware, unless a host filter or the access log
// needs to see them.
func (f *frontHandler) native(app *demo.App, outer http.Handler) kestrel.NativeHandler {
	hot := app.Native(outer)
	return kestrel.NativeHandlerFunc(func(c *kestrel.Context) {
		if f.cur.Load().native {
			hot.ServeKestrel(c)
			return
		}
		c.ServeHTTP(outer)
	})
}
