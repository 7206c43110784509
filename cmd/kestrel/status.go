package main

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/kestrel-go/kestrel"
)

// statusRoute serves the status page (--status, Kestrel:Status) ahead of
// next; a reload may move it, change its networks or turn it off.
type statusRoute struct {
	srv    *kestrel.Server
	next   http.Handler
	health string                     // --health's path, which the page may not take; "": none
	cur    atomic.Pointer[statusPage] // nil: no page
}

type statusPage struct {
	path string
	h    http.Handler
}

func (s *statusRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := s.cur.Load(); p != nil && r.URL.Path == p.path {
		p.h.ServeHTTP(w, r)
		return
	}
	s.next.ServeHTTP(w, r)
}

// configure prepares the page cfg asks for (kestrel.Service's Configure).
// The first configuration is read before the server starts, so that the
// server counts for the page from its start. A path where the health
// checks answer is refused: the page, ahead of them, would answer a
// balancer's readiness probe in their stead.
func (s *statusRoute) configure(cfg *kestrel.Config) (func(), error) {
	path, opts, err := cfg.StatusPage()
	if err != nil {
		return nil, err
	}
	if path != "" && healthPath(path, s.health) {
		return nil, fmt.Errorf("Kestrel:Status:Path %q: the health checks answer there (--health %q); give the status page a path of its own, such as /status", path, s.health)
	}
	var p *statusPage
	if path != "" {
		p = &statusPage{path: path, h: s.srv.StatusHandler(&opts)}
	}
	return func() { s.cur.Store(p) }, nil
}

// healthPath reports whether the health checks at health (readiness
// there, liveness at health+"/live"; "": none) answer path.
func healthPath(path, health string) bool {
	return health != "" && (path == health || path == health+"/live")
}
