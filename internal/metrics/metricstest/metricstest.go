// Package metricstest reads what instruments recorded, for tests: it
// collects from an OpenTelemetry SDK ManualReader and flattens every data
// point into attributes and numbers.
package metricstest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// New returns a meter provider whose measurements the reader collects.
func New() (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	r := sdkmetric.NewManualReader()
	return r, sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
}

// Point is one data point of an instrument.
type Point struct {
	Scope  string            // the meter's name
	Attrs  map[string]string // attribute values as strings
	Value  float64           // a counter's or up-down counter's value
	Count  uint64            // a histogram's number of measurements
	Sum    float64           // a histogram's sum
	Bounds []float64         // a histogram's bucket boundaries
	Unit   string
}

// Points collects from r and returns the data points of the instrument
// called name.
func Points(t testing.TB, r sdkmetric.Reader, name string) []Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	var out []Point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			p := Point{Scope: sm.Scope.Name, Unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					p.Attrs, p.Value = attrs(dp.Attributes.ToSlice()), float64(dp.Value)
					out = append(out, p)
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					p.Attrs, p.Value = attrs(dp.Attributes.ToSlice()), dp.Value
					out = append(out, p)
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					p.Attrs, p.Value = attrs(dp.Attributes.ToSlice()), float64(dp.Value)
					out = append(out, p)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					p.Attrs, p.Count, p.Sum, p.Bounds = attrs(dp.Attributes.ToSlice()), dp.Count, dp.Sum, dp.Bounds
					out = append(out, p)
				}
			default:
				t.Fatalf("metric %s: unexpected data %T", name, m.Data)
			}
		}
	}
	return out
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

// Match returns the points whose attributes hold every pair of want (a
// value "" asks for the attribute to be absent).
func Match(points []Point, want map[string]string) []Point {
	var out []Point
next:
	for _, p := range points {
		for k, v := range want {
			if got, ok := p.Attrs[k]; v == "" && ok || v != "" && got != v {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

// Total adds the values (counters) or counts (histograms) of points.
func Total(points []Point) float64 {
	var n float64
	for _, p := range points {
		n += p.Value + float64(p.Count)
	}
	return n
}
