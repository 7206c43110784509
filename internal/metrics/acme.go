package metrics

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// acme is the instruments of automatic HTTPS: each certificate's expiry,
// and the renewals and failed orders.
type acme struct {
	expiry   metric.Int64ObservableGauge
	renewals metric.Int64Counter
	failures metric.Int64Counter

	mu      sync.Mutex
	expires map[string]int64 // Unix seconds, by domain
}

func (a *acme) init(m metric.Meter) error {
	var err error
	if a.expiry, err = m.Int64ObservableGauge("kestrel.acme.certificate.expiry", metric.WithUnit("s"),
		metric.WithDescription("When the certificate served for a domain, obtained from an ACME CA, expires, as Unix time.")); err != nil {
		return err
	}
	if a.renewals, err = m.Int64Counter("kestrel.acme.certificate.renewals", metric.WithUnit("{renewal}"),
		metric.WithDescription("Number of certificates renewed from an ACME CA.")); err != nil {
		return err
	}
	if a.failures, err = m.Int64Counter("kestrel.acme.certificate.failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Number of failed attempts to obtain or renew a certificate from an ACME CA.")); err != nil {
		return err
	}
	a.expires = map[string]int64{}
	return nil
}

func (a *acme) observe(o metric.Observer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for d, t := range a.expires {
		o.ObserveInt64(a.expiry, t, metric.WithAttributes(attribute.String("tls.server.name", d)))
	}
}

// ACMEExpiry records when the certificate served for domain expires.
func (m *Metrics) ACMEExpiry(domain string, notAfter time.Time) {
	if m == nil {
		return
	}
	m.acme.mu.Lock()
	m.acme.expires[domain] = notAfter.Unix()
	m.acme.mu.Unlock()
}

// ACMEForget stops reporting the expiry of domain's certificate, no
// longer served.
func (m *Metrics) ACMEForget(domain string) {
	if m == nil {
		return
	}
	m.acme.mu.Lock()
	delete(m.acme.expires, domain)
	m.acme.mu.Unlock()
}

// ACMEResult counts an order for domain: a renewal when it succeeded, a
// failure when it did not.
func (m *Metrics) ACMEResult(domain string, renewal, failed bool) {
	if m == nil {
		return
	}
	opt := metric.WithAttributes(attribute.String("tls.server.name", domain))
	switch {
	case failed:
		m.acme.failures.Add(context.Background(), 1, opt)
	case renewal:
		m.acme.renewals.Add(context.Background(), 1, opt)
	}
}
