package kestrel

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/kestrel-go/kestrel/internal/logevents"
)

// Reload makes a running server use configuration c in place of the one
// Config.Apply (or the last Reload) gave it, as Kestrel does when its
// configuration file changes (reloadOnChange), without a restart:
//
//   - An endpoint that c configures as before keeps its socket and its
//     connections.
//   - An endpoint c adds is bound. One c removes stops accepting. One c
//     changes (its URL, certificate, TLS options, protocols...) is served
//     anew with its new options, on the same socket when its address
//     stays, so that no connection is refused meanwhile.
//   - The connections of a removed or changed endpoint finish their
//     requests in flight and close: their responses say Connection: close,
//     and the idle ones close at once. Those still open after
//     ShutdownTimeout are aborted.
//   - Limits, the Server header, the default certificate (and the
//     endpoints using it), the Unix socket mode and ShutdownTimeout take
//     c's values, over those set in code; new connections get the new
//     limits, and connections open keep theirs.
//   - Endpoints added in code stay as they are. The URLs given to
//     UseURLs (or the default URL) follow the rule Start applies: they
//     serve only while no endpoint comes from code, systemd or the
//     configuration, so a c that adds the first endpoints stops them, and
//     one that removes the last binds them again, as a restart with c
//     would.
//
// Certificate files named by c are loaded again when they change, as
// usual; an endpoint whose certificate path is changed in c is served
// anew, so its next handshakes use the new certificate.
//
// When c is invalid (its error names the key) or one of its endpoints
// cannot be bound (the error names the URL), Reload changes nothing and
// the server goes on as it was. Reload binds c's new endpoints before it
// stops the old ones, so an endpoint moved to an address that overlaps its
// old one on the same port (127.0.0.1:P to *:P) cannot be bound: the error
// says so, and such a change takes two reloads (without the endpoint, then
// with its new address) or a restart. An ACME endpoint c adds gets its
// certificate before Reload returns; when the CA does not give it, c is
// in effect all the same, and the error says so ("the configuration is in
// effect, but ..."). Reload does not change the Server's
// fields, and it leaves the handler alone: apply c's AllowedHosts and
// ForwardedHeaders with Config.Handler. It logs the endpoints it stops
// and starts, as Kestrel does. Reload is for a started server; before
// Start, use Config.Apply. Once Shutdown has begun (its DrainDelay
// included) or Close was called, Reload returns ErrServerClosed and
// changes nothing: as Kestrel, a server that stops no longer follows its
// configuration.
func (s *Server) Reload(c *Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	started, closed := s.hb != nil, s.stopping()
	base := s.configFields()
	if s.preConfig != nil {
		base = *s.preConfig
	}
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	if !started {
		return errors.New("kestrel: Reload: the server is not started; configure it with Config.Apply before Start")
	}
	f, eps, err := c.resolve(base)
	if err != nil {
		return err
	}
	st, err := f.settings()
	if err != nil {
		return err
	}
	for _, w := range c.warnings {
		logevents.General(s.log, slog.LevelWarn, "ConfigurationWarning", w)
	}

	// Match the endpoints of c with those served.
	s.mu.Lock()
	old := s.active
	var served []*listener    // from the configuration
	var urlServed []*listener // from UseURLs, or the default URL
	var others []endpoint     // every other endpoint, for checkSchemes
	var pool []*socket        // sockets the endpoints c starts may take over
	var udpPool []*udpSocket
	for _, l := range s.listeners {
		switch {
		case l.ep.fromConfig:
			served = append(served, l)
		case l.ep.fromURLs:
			urlServed = append(urlServed, l)
		case l.unclaimedSystemd():
			pool = append(pool, l.sock)
		default:
			others = append(others, l.ep)
		}
	}
	// The UDP sockets of endpoints stopped by an earlier reload stay
	// open while their QUIC connections end: an endpoint of c on one of
	// their ports takes the socket over, as it could not bind the port.
	reserved := s.retiredUDP()
	defer func() {
		for _, us := range reserved {
			us.release()
		}
	}()
	udpPool = append(udpPool, reserved...)
	fallback, fallbackRaw := s.urlsKept, s.urlsRaw
	s.mu.Unlock()
	// The URLs serve while the configuration has no endpoints, as at
	// Start.
	var urlStart []endpoint
	overriding := false
	switch {
	case len(eps) == 0 && len(urlServed) == 0 && len(fallback) > 0:
		if urlStart, err = c.urlEndpoints(fallback); err != nil {
			return err
		}
	case len(eps) > 0 && len(urlServed) > 0:
		overriding = true
	}
	oldGroups := groupListeners(served)
	newGroups := groupEndpoints(eps)
	kept, toStart := matchGroups(oldGroups, old, newGroups, st)
	toStart = append(toStart, urlStart...) // last: the bound listeners of c's endpoints come first
	var stopped []*listener
	for _, og := range oldGroups {
		stopped = append(stopped, og...)
	}
	if overriding {
		stopped = append(stopped, urlServed...)
	} else {
		for _, l := range urlServed {
			others = append(others, l.ep)
		}
	}
	for _, l := range stopped {
		if l.sock != nil {
			pool = append(pool, l.sock)
		}
		if l.quic != nil {
			udpPool = append(udpPool, l.quic.sock)
		}
	}
	all := others
	for _, ls := range kept {
		for _, l := range ls {
			all = append(all, l.ep)
		}
	}
	if err := checkSchemes(append(all, toStart...)); err != nil {
		return err
	}
	// The ACME managers buildTLS makes for c's endpoints run a goroutine
	// each: a reload refused from here on stops them, or every refused
	// reload would leave its own until the next one applied.
	known := s.acme.all()
	applied := false
	defer func() {
		if !applied {
			s.dropNewACME(known)
		}
	}()
	if err := s.buildTLS(toStart, st.defaultHTTPS); err != nil {
		return err
	}
	if err := checkDefaultCertificate(st.defaultHTTPS); err != nil {
		return err
	}
	bound, err := s.bindAll(toStart, &pool, &udpPool, st.socketMode)
	if err != nil {
		return err
	}
	// unbind closes the sockets bound for c, not those taken over.
	unbind := func() {
		for _, l := range bound {
			if l.sock != nil && l.sock.done == nil {
				l.sock.Close()
			}
			if l.quic != nil && l.quic.sock.cur == nil {
				l.quic.sock.close()
			}
		}
	}

	// Switch.
	s.mu.Lock()
	if s.stopping() {
		s.mu.Unlock()
		unbind()
		return ErrServerClosed
	}
	// The ACME endpoints c adds must be able to answer a challenge with
	// the endpoints that will serve: else c changes nothing.
	serving := slices.Clone(bound)
	for _, l := range s.listeners {
		if !slices.Contains(stopped, l) {
			serving = append(serving, l)
		}
	}
	if err := checkACMEChallenges(serving); err != nil {
		s.mu.Unlock()
		unbind()
		return err
	}
	applied = true
	s.active = st
	s.counter.SetMax(st.limits.MaxConcurrentConnections)
	s.upgrades.SetMax(upgradeMax(st.limits.MaxConcurrentUpgradedConnections))
	if !reflect.DeepEqual(old.limits, st.limits) || old.serverHeader != st.serverHeader {
		for _, l := range s.listeners {
			l.cfg, l.h2cfg, l.h3cfg = s.protocolConfig(l, st)
			if l.quic != nil {
				l.quic.setLimits(l.h3cfg)
			}
		}
	}
	var retired, reborn []*listener
	for _, l := range bound {
		if prev := s.open(l); prev != nil {
			retired = append(retired, prev) // its socket now serves l
		}
	}
	for _, l := range stopped {
		if l.quic != nil && slices.Contains(udpPool, l.quic.sock) {
			l.quic.Close() // no endpoint of c took its UDP socket
		}
		switch {
		case l.sock == nil || !slices.Contains(pool, l.sock): // HTTP/3 only, or taken by an endpoint of c
		case l.sock.systemd: // serves HTTP again, as a systemd socket no endpoint takes
			nl := systemdListener(l.sock)
			s.open(nl)
			reborn = append(reborn, nl)
		default:
			s.keepPassedFile(l.sock) // after Handoff, a Unix file is the new process's
			l.sock.stop()
		}
		if !slices.Contains(retired, l) {
			retired = append(retired, l)
		}
	}
	var fromConfig []*listener // in c's order
	b := 0
	for i, ng := range newGroups {
		if kept[i] != nil {
			fromConfig = append(fromConfig, kept[i]...)
			continue
		}
		for b < len(bound) && bound[b].ep.from == ng[0].from {
			fromConfig = append(fromConfig, bound[b])
			b++
		}
	}
	if !overriding {
		fromConfig = append(fromConfig, urlServed...) // the URLs kept
	}
	fromConfig = append(fromConfig, bound[b:]...) // the URLs bound
	s.listeners = s.relist(fromConfig, retired, reborn)
	s.publishAltSvc()
	for _, l := range retired {
		s.retiring[l] = true
	}
	s.mu.Unlock()

	if overriding && len(fallbackRaw) > 0 {
		s.logOverriding(fallbackRaw)
	}
	if len(stopped) > 0 {
		logevents.General(s.log, slog.LevelInfo, "ConfigChangedStoppingEndpoints", "Config changed. Stopping the following endpoints: '"+strings.Join(endpointURLs(stopped), "', '")+"'")
	}
	if len(bound) > 0 {
		logevents.General(s.log, slog.LevelInfo, "ConfigChangedStartingEndpoints", "Config changed. Starting the following endpoints: '"+strings.Join(endpointURLs(bound), "', '")+"'")
	}
	for _, l := range append(bound, reborn...) {
		logevents.ListeningOn(s.log, l.url())
	}
	if len(retired) > 0 {
		s.draining.Add(1)
		go s.retire(retired, st)
	}
	s.syncStapling()
	if err := s.startACME(); err != nil { // the certificates of new ACME endpoints
		return &appliedError{err}
	}
	return nil
}

// retiredUDP returns the UDP sockets that only the QUIC connections of
// retiring listeners (endpoints an earlier reload stopped) still use,
// each reserved so that it stays open until the caller releases it.
// s.mu is held.
func (s *Server) retiredUDP() []*udpSocket {
	var out []*udpSocket
	for l := range s.retiring {
		if l.quic == nil || slices.Contains(out, l.quic.sock) {
			continue
		}
		if us := l.quic.sock; us.reserveRetired() {
			out = append(out, us)
		}
	}
	return out
}

// appliedError is an error of Reload once the configuration is in effect.
type appliedError struct{ err error }

func (e *appliedError) Error() string {
	return "kestrel: the configuration is in effect, but " + strings.TrimPrefix(e.err.Error(), "kestrel: ")
}

func (e *appliedError) Unwrap() error { return e.err }

// reloadApplied reports whether err, an error of Server.Reload, came
// once the configuration was in effect (an ACME endpoint it added did not
// get its certificate), rather than refusing it.
func reloadApplied(err error) bool {
	var a *appliedError
	return errors.As(err, &a)
}

// stopping reports whether Shutdown has begun, drain delay included, or
// Close was called. s.mu is held.
func (s *Server) stopping() bool {
	return s.closed || s.delayDone != nil
}

// retire drains listeners that Reload stopped.
func (s *Server) retire(ls []*listener, st activeSettings) {
	defer s.draining.Done()
	ctx, cancel := context.WithTimeout(context.Background(), st.shutdownTimeout)
	defer cancel()
	if n, _ := s.drain(ctx, ls, 0, false); n > 0 {
		logevents.General(s.log, slog.LevelWarn, "EndpointConnectionsAborted", "Some connections of the endpoints the configuration stopped failed to close gracefully: the shutdown timeout passed, and "+strconv.Itoa(n)+" were aborted.")
		s.waitAborted(ls, false)
	}
	s.mu.Lock()
	for _, l := range ls {
		delete(s.retiring, l)
	}
	s.mu.Unlock()
}

// relist returns the listeners once Reload has replaced those of the
// configuration (and of the URLs) with fromConfig: the others keep their
// places, those from the configuration come where the first of them was, the retired ones go
// and the reborn systemd ones come last. s.mu is held.
func (s *Server) relist(fromConfig, retired, reborn []*listener) []*listener {
	var out []*listener
	placed := false
	for _, l := range s.listeners {
		if l.ep.fromConfig || l.ep.fromURLs || slices.Contains(retired, l) {
			if !placed {
				out, placed = append(out, fromConfig...), true
			}
			continue
		}
		out = append(out, l)
	}
	if !placed {
		out = append(out, fromConfig...)
	}
	return append(out, reborn...)
}

// groupListeners groups listeners by the Endpoint they were resolved from
// (the two loopbacks of localhost are one), in order.
func groupListeners(ls []*listener) [][]*listener {
	var groups [][]*listener
	for _, l := range ls {
		if n := len(groups); n > 0 && groups[n-1][0].ep.from == l.ep.from {
			groups[n-1] = append(groups[n-1], l)
			continue
		}
		groups = append(groups, []*listener{l})
	}
	return groups
}

// groupEndpoints groups sockets by the Endpoint they were resolved from.
func groupEndpoints(eps []endpoint) [][]endpoint {
	var groups [][]endpoint
	for _, ep := range eps {
		if n := len(groups); n > 0 && groups[n-1][0].from == ep.from {
			groups[n-1] = append(groups[n-1], ep)
			continue
		}
		groups = append(groups, []endpoint{ep})
	}
	return groups
}

// matchGroups finds, for each group of endpoints of a configuration
// resolved with settings is, the group of listeners served with settings
// was that sameEndpoint finds the same, if any: kept has them by new
// group, and toStart the endpoints of the new groups without one. The
// groups matched are set to nil in oldGroups; those left are to stop.
func matchGroups(oldGroups [][]*listener, was activeSettings, newGroups [][]endpoint, is activeSettings) (kept [][]*listener, toStart []endpoint) {
	kept = make([][]*listener, len(newGroups))
	// The old groups by what sameEndpoint compares first, in order, so
	// that each new group is compared with the few that may match it,
	// not with every one (a reload of n endpoints took n² comparisons).
	candidates := make(map[endpointKey][]int, len(oldGroups))
	for j, og := range oldGroups {
		k := keyOf(og[0].ep.from)
		candidates[k] = append(candidates[k], j)
	}
	for i, ng := range newGroups {
		k := keyOf(ng[0].from)
		for n, j := range candidates[k] {
			if og := oldGroups[j]; sameEndpoint(og[0].ep, was, ng[0], is) {
				kept[i], oldGroups[j] = og, nil
				if n == 0 {
					candidates[k] = candidates[k][1:] // the usual case: in the same order
				} else {
					candidates[k] = slices.Delete(candidates[k], n, n+1)
				}
				break
			}
		}
		if kept[i] == nil {
			toStart = append(toStart, ng...)
		}
	}
	return kept, toStart
}

// endpointKey holds fields of an Endpoint that sameEndpoint finds equal
// in two endpoints it finds the same.
type endpointKey struct {
	url, address, unixPath string
	protocols              Protocols
	reusePort              bool
}

func keyOf(e *Endpoint) endpointKey {
	return endpointKey{e.URL, e.Address, e.UnixPath, e.Protocols, e.ReusePort}
}

// sameEndpoint reports whether an endpoint served with settings was is
// configured the same by an endpoint resolved with settings is: the same
// options, and the same defaults where it takes them (the default
// certificate, the Unix socket mode).
func sameEndpoint(a endpoint, was activeSettings, b endpoint, is activeSettings) bool {
	if !reflect.DeepEqual(*a.from, *b.from) {
		return false
	}
	if h := a.from.HTTPS; a.scheme == "https" && (h == nil || h.defaultCertificate) && !reflect.DeepEqual(was.defaultHTTPS, is.defaultHTTPS) {
		return false
	}
	return a.network != "unix" || a.from.UnixSocketMode != 0 || was.socketMode == is.socketMode
}

// endpointURLs returns the configured URLs of the listeners' endpoints,
// once each.
func endpointURLs(ls []*listener) []string {
	var urls []string
	for _, l := range ls {
		if u := l.ep.from.describe(); !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}
