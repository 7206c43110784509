package certs

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often, at most, a Reloader looks at its files
// when handshakes ask for its certificate.
const DefaultCheckInterval = time.Second

// settleTime: a file modified this recently may still be being written, or
// be modified again within the file system's timestamp granularity, so its
// stamp is not trusted yet and the next check loads it again.
const settleTime = 2 * time.Second

// Reloader serves a certificate loaded from a Spec's files and reloads it
// when the files change. A change is seen by comparing each file's
// modification time, size and identity (os.Stat; a replaced or re-linked
// file counts as changed), at most once per DefaultCheckInterval when a
// handshake asks for the certificate, or whenever Check is called (from the
// server's heartbeat, say). A reload that fails keeps the previous
// certificate and logs the error once per change of the files. Connections
// already established keep the certificate they negotiated. A Reloader
// starts no goroutine and needs no closing, unless StartStapling starts
// its OCSP stapling.
type Reloader struct {
	spec     Spec
	logger   *slog.Logger
	interval time.Duration

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // UnixNano before which handshakes do not check

	mu     sync.Mutex  // serializes checks; guards stamps
	stamps []fileStamp // of the files when last loaded (or tried)

	staple   atomic.Pointer[stapled] // the OCSP staple; nil: none
	changed  chan struct{}           // a different certificate was loaded (1 slot)
	stapleMu sync.Mutex              // guards stapling
	stapling *stapler                // nil: not stapling
}

type fileStamp struct {
	info os.FileInfo // nil: the file could not be stat'ed
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return a.info.ModTime().Equal(b.info.ModTime()) && a.info.Size() == b.info.Size() &&
		os.SameFile(a.info, b.info)
}

// NewReloader loads spec's certificate and returns a Reloader serving it. A
// nil logger means slog.Default(). An expired certificate, or one not
// valid yet, is loaded, with a warning logged.
func NewReloader(spec Spec, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Reloader{spec: spec, logger: logger, interval: DefaultCheckInterval, changed: make(chan struct{}, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps, now := r.stat(), time.Now()
	cert, err := Load(spec)
	if err != nil {
		return nil, err
	}
	r.cert.Store(cert)
	r.stamps = settled(stamps, now)
	r.nextCheck.Store(now.Add(r.interval).UnixNano())
	r.warnIfExpired(cert, now)
	return r, nil
}

// Spec returns the files the Reloader watches.
func (r *Reloader) Spec() Spec { return r.spec }

// Certificate returns the current certificate without checking the files,
// and without its OCSP staple.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

// withStaple returns cert with its staple, if the staple is of cert and
// valid at now.
func (r *Reloader) withStaple(cert *tls.Certificate, now time.Time) *tls.Certificate {
	if s := r.staple.Load(); s != nil && s.base == cert && now.Before(s.until) {
		return s.cert
	}
	return cert
}

// GetCertificate returns the current certificate, first checking the files
// if the last check is more than the check interval ago; for
// tls.Config.GetCertificate or a Selector entry. Only one handshake at a time
// does the check; the others go on with the current certificate.
// The certificate carries its OCSP staple while it has a valid one.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now()
	if ns := now.UnixNano(); ns >= r.nextCheck.Load() && r.mu.TryLock() {
		if ns >= r.nextCheck.Load() {
			r.check()
		}
		r.mu.Unlock()
	}
	return r.withStaple(r.cert.Load(), now), nil
}

// Check looks at the files now and reloads the certificate if they changed.
// It reports whether a different certificate was loaded; the error is that
// of a failed reload (which keeps the previous certificate, and is logged).
func (r *Reloader) Check() (reloaded bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.check()
}

// check does the work of Check; r.mu is held.
func (r *Reloader) check() (bool, error) {
	now := time.Now()
	r.nextCheck.Store(now.Add(r.interval).UnixNano())
	stamps := r.stat()
	if sameStamps(stamps, r.stamps) {
		return false, nil
	}
	// Remember the stamps even if loading fails, so that a broken file is
	// reported once and not at every check; the next change is tried again.
	r.stamps = settled(stamps, now)
	cert, err := Load(r.spec)
	if err != nil {
		r.logger.Error("reloading the certificate failed; still using the previous one",
			"path", r.spec.Path, "error", err)
		return false, err
	}
	// The same certificate loaded again keeps its place (and its OCSP
	// staple).
	changed := !sameCertificate(r.cert.Load(), cert)
	if changed {
		r.cert.Store(cert)
		select {
		case r.changed <- struct{}{}: // wake the stapler
		default:
		}
		attrs := []any{"path", r.spec.Path}
		if leaf := leafOf(cert); leaf != nil {
			attrs = append(attrs, "subject", leaf.Subject.String(), "notAfter", leaf.NotAfter)
		}
		r.logger.Info("certificate reloaded", attrs...)
		r.warnIfExpired(cert, now)
	}
	return changed, nil
}

// warnIfExpired warns of a certificate that clients reject for its
// dates: expired, or not valid yet (issued ahead, or this machine's clock
// is behind).
func (r *Reloader) warnIfExpired(cert *tls.Certificate, now time.Time) {
	leaf := leafOf(cert)
	switch {
	case leaf == nil:
	case now.After(leaf.NotAfter):
		r.logger.Warn("the certificate has expired; clients will reject it",
			"path", r.spec.Path, "subject", leaf.Subject.String(), "notAfter", leaf.NotAfter)
	case now.Before(leaf.NotBefore):
		r.logger.Warn("the certificate is not valid yet; clients will reject it until its notBefore time (if it should be valid, check this machine's clock)",
			"path", r.spec.Path, "subject", leaf.Subject.String(), "notBefore", leaf.NotBefore)
	}
}

// stat stamps the spec's files.
func (r *Reloader) stat() []fileStamp {
	paths := []string{r.spec.Path}
	if r.spec.KeyPath != "" {
		paths = append(paths, r.spec.KeyPath)
	}
	stamps := make([]fileStamp, len(paths))
	for i, p := range paths {
		if info, err := os.Stat(p); err == nil {
			stamps[i].info = info
		}
	}
	return stamps
}

// settled returns stamps, or nil if a file was modified within settleTime of
// now, so that the next check looks again.
func settled(stamps []fileStamp, now time.Time) []fileStamp {
	for _, s := range stamps {
		if s.info == nil {
			continue
		}
		if d := now.Sub(s.info.ModTime()); d < settleTime && d > -settleTime {
			return nil
		}
	}
	return stamps
}

func sameStamps(a, b []fileStamp) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

// sameCertificate reports whether a and b hold the same certificate chain.
func sameCertificate(a, b *tls.Certificate) bool {
	if a == nil || b == nil || len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if string(a.Certificate[i]) != string(b.Certificate[i]) {
			return false
		}
	}
	return true
}
