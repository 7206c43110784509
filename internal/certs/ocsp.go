package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/kestrel-go/kestrel/internal/logevents"
)

// The OCSP stapler's timing.
const (
	// ocspFetchTimeout bounds one request to the responder.
	ocspFetchTimeout = 10 * time.Second
	// ocspMaxResponse bounds the size of a response read.
	ocspMaxResponse = 1 << 20
	// ocspMinRefresh is the shortest wait between two fetches after a
	// success, whatever the response's validity.
	ocspMinRefresh = time.Second
	// ocspMaxRefresh is the longest wait between two fetches.
	ocspMaxRefresh = 24 * time.Hour
	// ocspNoNextUpdate is how long a response without NextUpdate is
	// stapled ("newer information is always available").
	ocspNoNextUpdate = time.Hour
	// ocspFirstBackoff and ocspMaxBackoff bound the wait after a failure,
	// doubled at each failure in a row.
	ocspFirstBackoff = 250 * time.Millisecond
	ocspMaxBackoff   = 5 * time.Minute
	// ocspRevokedRecheck is how often a revoked certificate is asked about
	// again (a responder may have answered in error).
	ocspRevokedRecheck = time.Hour
	// ocspClockSkew is how far in the future a response's ThisUpdate may
	// be (the responder's clock ahead of ours).
	ocspClockSkew = 5 * time.Minute
)

// stapled is the certificate base with an OCSP staple, served until
// until.
type stapled struct {
	base  *tls.Certificate
	cert  *tls.Certificate // a copy of base with OCSPStaple set
	until time.Time        // the response's NextUpdate
}

// stapler is the state of a Reloader's OCSP stapling goroutine.
type stapler struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartStapling starts stapling OCSP responses to the certificate, as
// nginx's ssl_stapling does: for a certificate whose leaf names an OCSP
// responder and whose issuer is in the file's chain, a goroutine fetches
// the response, checks it with the issuer (signature, certificate, and a
// Good status whose validity covers now), staples it to the handshakes
// that follow, and fetches the next one halfway through its validity.
// When the certificate is reloaded, the staple of the previous one is no
// longer served and one is fetched for the new certificate. A failed
// fetch keeps the previous staple while it is valid and is retried with
// backoff; a failure is logged once per streak as OcspStaplingFailed on
// log, a revoked certificate as OcspCertificateRevoked. client, when not
// nil, makes the requests. The first fetch is made in the background:
// StartStapling does not wait for it. Calling it again does nothing; stop
// with StopStapling.
func (r *Reloader) StartStapling(log *slog.Logger, client *http.Client) {
	if log == nil {
		log = r.logger
	}
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DisableKeepAlives = true // a request every few hours or days: no idle connections left behind
		client = &http.Client{Transport: t}
	}
	r.stapleMu.Lock()
	defer r.stapleMu.Unlock()
	if r.stapling != nil {
		return
	}
	select {
	case <-r.changed: // a reload before now: the loop starts with the current certificate anyway
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &stapler{cancel: cancel, done: make(chan struct{})}
	r.stapling = st
	go func() {
		defer close(st.done)
		r.stapleLoop(ctx, log, client)
	}()
}

// StopStapling stops the stapling goroutine, waits for it to end, and
// stops serving the staple. It does nothing if stapling has not started.
func (r *Reloader) StopStapling() {
	r.stapleMu.Lock()
	st := r.stapling
	r.stapling = nil
	r.stapleMu.Unlock()
	if st == nil {
		return
	}
	st.cancel()
	<-st.done
	r.staple.Store(nil)
}

// stapleState is what the loop remembers of the certificate it staples.
type stapleState struct {
	cert     *tls.Certificate
	failures int  // in a row
	revoked  bool // logged for this certificate
	skipped  bool // the reason there is nothing to staple was logged
}

// stapleLoop fetches OCSP responses until ctx ends.
func (r *Reloader) stapleLoop(ctx context.Context, log *slog.Logger, client *http.Client) {
	var st stapleState
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if cert := r.cert.Load(); cert != st.cert {
			st = stapleState{cert: cert}
		}
		wait := r.stapleOnce(ctx, log, client, &st)
		if ctx.Err() != nil {
			return
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-r.changed:
		case <-tick:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// stapleOnce fetches and checks a response for st.cert, stores the
// staple, and returns how long to wait before the next fetch (0: until the
// certificate changes).
func (r *Reloader) stapleOnce(ctx context.Context, log *slog.Logger, client *http.Client, st *stapleState) time.Duration {
	cert := st.cert
	leaf := leafOf(cert)
	if leaf == nil {
		return 0
	}
	subject := leaf.Subject.String()
	if len(leaf.OCSPServer) == 0 {
		if !st.skipped {
			st.skipped = true
			log.Debug("the certificate names no OCSP responder; nothing to staple", "path", r.spec.Path, "subject", subject)
		}
		return 0
	}
	issuer := issuerOf(cert, leaf)
	if issuer == nil {
		if !st.skipped {
			st.skipped = true
			log.Info("the certificate's issuer is not in its file, so its OCSP response cannot be checked and is not stapled; add the intermediate certificate to the file",
				"path", r.spec.Path, "subject", subject)
		}
		return 0
	}
	responder := leaf.OCSPServer[0]
	resp, raw, err := fetchOCSP(ctx, client, responder, leaf, issuer)
	if ctx.Err() != nil {
		return 0
	}
	now := time.Now()
	if err == nil && resp.Status == ocsp.Revoked {
		r.staple.Store(nil)
		if !st.revoked {
			st.revoked = true
			logevents.OCSPCertificateRevoked(log, r.spec.Path, subject, resp.RevokedAt)
		}
		st.failures = 0
		return ocspRevokedRecheck
	}
	until := time.Time{}
	if err == nil {
		until, err = checkValidity(resp, now)
	}
	if err != nil {
		st.failures++
		var current time.Time
		if s := r.staple.Load(); s != nil && s.base == cert && now.Before(s.until) {
			current = s.until
		}
		if st.failures == 1 {
			logevents.OCSPStaplingFailed(log, r.spec.Path, subject, responder, current, err)
		}
		backoff := ocspFirstBackoff << min(st.failures-1, 20)
		return min(backoff, ocspMaxBackoff)
	}
	if st.failures > 0 {
		logevents.OCSPStaplingResumed(log, r.spec.Path, subject)
	}
	withStaple := *cert
	withStaple.OCSPStaple = raw
	r.staple.Store(&stapled{base: cert, cert: &withStaple, until: until})
	st.failures, st.revoked = 0, false
	// Halfway through the validity left, within bounds.
	wait := min(max(until.Sub(now)/2, ocspMinRefresh), ocspMaxRefresh)
	logevents.OCSPStapled(log, r.spec.Path, subject, until, now.Add(wait))
	return wait
}

// checkValidity checks that a response is Good and valid now, and returns
// until when it may be stapled.
func checkValidity(resp *ocsp.Response, now time.Time) (time.Time, error) {
	switch resp.Status {
	case ocsp.Good:
	case ocsp.Unknown:
		return time.Time{}, errors.New("the responder does not know the certificate (status Unknown)")
	default:
		return time.Time{}, fmt.Errorf("unexpected OCSP status %d", resp.Status)
	}
	if resp.ThisUpdate.After(now.Add(ocspClockSkew)) {
		return time.Time{}, fmt.Errorf("the response is not valid yet (thisUpdate %s); is the clock right?", resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	until := resp.NextUpdate
	if until.IsZero() {
		until = now.Add(ocspNoNextUpdate)
	}
	if !now.Before(until) {
		return time.Time{}, fmt.Errorf("the response has expired (nextUpdate %s)", until.UTC().Format(time.RFC3339))
	}
	return until, nil
}

// fetchOCSP asks responder about leaf, and returns the response checked
// against issuer (its signature, and that it is about leaf) with its DER
// bytes.
func fetchOCSP(ctx context.Context, client *http.Client, responder string, leaf, issuer *x509.Certificate) (*ocsp.Response, []byte, error) {
	reqDER, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, nil, fmt.Errorf("making the OCSP request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, ocspFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responder, bytes.NewReader(reqDER))
	if err != nil {
		return nil, nil, fmt.Errorf("the OCSP responder URL %q: %w", responder, err)
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("HTTP status %s", res.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, ocspMaxResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	if len(raw) > ocspMaxResponse {
		return nil, nil, fmt.Errorf("the response is larger than %d bytes", ocspMaxResponse)
	}
	resp, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("the response does not check out: %w", err)
	}
	return resp, raw, nil
}

// issuerOf returns the certificate of cert's chain that issued leaf, or
// nil.
func issuerOf(cert *tls.Certificate, leaf *x509.Certificate) *x509.Certificate {
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil || !bytes.Equal(c.RawSubject, leaf.RawIssuer) {
			continue
		}
		if leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}
