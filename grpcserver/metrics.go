package grpcserver

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// serverMetrics records OpenTelemetry's RPC server metrics.
type serverMetrics struct {
	duration metric.Float64Histogram
	attrs    sync.Map // attrKey -> metric.MeasurementOption
}

type attrKey struct {
	method string
	code   codes.Code
}

// meterName is the instrumentation scope of the server's metrics.
const meterName = "github.com/kestrel-go/kestrel/grpcserver"

func newServerMetrics(mp metric.MeterProvider) *serverMetrics {
	m := mp.Meter(meterName)
	d, err := m.Float64Histogram("rpc.server.call.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Measures the duration of inbound remote procedure calls."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err != nil {
		otelHandle(err)
	}
	return &serverMetrics{duration: d}
}

// otelHandle reports an instrument that could not be made; the API
// returns a no-op instrument then.
func otelHandle(error) {}

// record records one call's duration.
func (m *serverMetrics) record(c *call, st *status.Status) {
	if m.duration == nil {
		return
	}
	name := "_OTHER"
	if c.m != nil {
		name = c.m.name
	}
	code := codes.OK
	if st != nil {
		code = st.Code()
	}
	k := attrKey{name, code}
	opt, ok := m.attrs.Load(k)
	if !ok {
		opt, _ = m.attrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("rpc.system.name", "grpc"),
			attribute.String("rpc.method", name),
			attribute.String("rpc.response.status_code", codeName(code)),
		)))
	}
	m.duration.Record(context.Background(), now().Sub(c.begin).Seconds(), opt.(metric.RecordOption))
}

// codeName is a status code's name as the conventions write it, such as
// "DEADLINE_EXCEEDED".
func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "UNKNOWN"
}

var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
