package metrics

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// instrument is what New declared: its meter, kind, unit and, for a
// histogram, its bucket boundaries.
type instrument struct {
	kind, unit string
	buckets    []float64
}

// declaring is a MeterProvider that records the instruments made on it.
type declaring struct {
	noop.MeterProvider
	got map[string]instrument
}

func (p *declaring) Meter(string, ...metric.MeterOption) metric.Meter {
	return declaringMeter{got: p.got}
}

type declaringMeter struct {
	noop.Meter
	got map[string]instrument
}

func (m declaringMeter) Int64Counter(name string, o ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	m.got[name] = instrument{kind: "counter", unit: metric.NewInt64CounterConfig(o...).Unit()}
	return m.Meter.Int64Counter(name)
}

func (m declaringMeter) Float64Histogram(name string, o ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	c := metric.NewFloat64HistogramConfig(o...)
	m.got[name] = instrument{kind: "histogram", unit: c.Unit(), buckets: c.ExplicitBucketBoundaries()}
	return m.Meter.Float64Histogram(name)
}

func (m declaringMeter) Int64ObservableCounter(name string, o ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	m.got[name] = instrument{kind: "counter", unit: metric.NewInt64ObservableCounterConfig(o...).Unit()}
	return m.Meter.Int64ObservableCounter(name)
}

func (m declaringMeter) Int64ObservableUpDownCounter(name string, o ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	m.got[name] = instrument{kind: "up-down counter", unit: metric.NewInt64ObservableUpDownCounterConfig(o...).Unit()}
	return m.Meter.Int64ObservableUpDownCounter(name)
}

func (m declaringMeter) Int64ObservableGauge(name string, o ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	m.got[name] = instrument{kind: "gauge", unit: metric.NewInt64ObservableGaugeConfig(o...).Unit()}
	return m.Meter.Int64ObservableGauge(name)
}

// readmeSeconds formats a bucket boundary as the README writes it: "5 ms",
// "0.01 s", "300 s".
func readmeSeconds(s float64) string {
	if s < 0.01 {
		return fmt.Sprintf("%g ms", s*1000)
	}
	return fmt.Sprintf("%g s", s)
}

var readmeCode = regexp.MustCompile("`([^`]+)`")

// TestREADMEMetrics keeps the README's table of metrics and New in step:
// the same instruments, each with its type, unit and, for histograms, the
// first and last bucket boundaries.
func TestREADMEMetrics(t *testing.T) {
	p := &declaring{got: map[string]instrument{}}
	m, err := New(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	in := false
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "| instrument | type | unit | attributes besides the endpoint's |":
			in = true
			continue
		case !in || strings.HasPrefix(line, "| ---"):
			continue
		case !strings.HasPrefix(line, "|"):
			in = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 4 {
			t.Fatalf("README.md:%d: %d cells, want 4", i+1, len(cells))
		}
		names := readmeCode.FindAllStringSubmatch(cells[0], -1)
		units := readmeCode.FindAllStringSubmatch(cells[2], -1)
		if len(units) != 1 && len(units) != len(names) {
			t.Errorf("README.md:%d: %d units for %d instruments", i+1, len(units), len(names))
			continue
		}
		kind, bounds, _ := strings.Cut(strings.TrimSpace(cells[1]), " (")
		for j, n := range names {
			name, unit := n[1], units[min(j, len(units)-1)][1]
			documented[name] = true
			got, ok := p.got[name]
			if !ok {
				t.Errorf("README.md:%d: %s is not an instrument of the server", i+1, name)
				continue
			}
			if got.kind != kind || got.unit != unit {
				t.Errorf("README.md:%d: %s is a %s in %q, the README says a %s in %q", i+1, name, got.kind, got.unit, kind, unit)
			}
			if got.kind != "histogram" {
				continue
			}
			if want := readmeSeconds(got.buckets[0]) + " to " + readmeSeconds(got.buckets[len(got.buckets)-1]) + ")"; bounds != want {
				t.Errorf("README.md:%d: %s's buckets are %v, the README says (%s, want (%s", i+1, name, got.buckets, bounds, want)
			}
		}
	}
	if len(documented) == 0 {
		t.Fatal("README.md: no table of metrics (| instrument | type | unit | ...)")
	}
	for name, got := range p.got {
		if !documented[name] {
			t.Errorf("%s (%s, %q) has no row in the README's table of metrics", name, got.kind, got.unit)
		}
	}
}
