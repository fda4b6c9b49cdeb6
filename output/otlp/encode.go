package otlp

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// OTLP field numbers (opentelemetry/proto/metrics/v1/metrics.proto, collector/metrics/v1).
const (
	fieldResourceMetrics = 1 // ExportMetricsServiceRequest.resource_metrics
	fieldScopeMetrics    = 2 // ResourceMetrics.scope_metrics
	fieldScope           = 1 // ScopeMetrics.scope
	fieldMetrics         = 2 // ScopeMetrics.metrics
	fieldScopeName       = 1 // InstrumentationScope.name
	fieldMetricName      = 1 // Metric.name
	fieldGauge           = 5 // Metric.gauge
	fieldDataPoints      = 1 // Gauge.data_points
	fieldAttributes      = 7 // NumberDataPoint.attributes
	fieldTimeUnixNano    = 3 // NumberDataPoint.time_unix_nano (fixed64)
	fieldAsDouble        = 4 // NumberDataPoint.as_double (double)
	fieldFlags           = 8 // NumberDataPoint.flags
	fieldKey             = 1 // KeyValue.key
	fieldValue           = 2 // KeyValue.value
	fieldStringValue     = 1 // AnyValue.string_value

	// flagNoRecordedValue is DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK: the staleness marker.
	flagNoRecordedValue = 1
)

// Scope is the instrumentation scope the exported metrics name.
const Scope = "sluice"

// Encoder turns remote-write 1.0 WriteRequests (the pipeline's merged requests: each series once,
// its samples in timestamp order) into OTLP ExportMetricsServiceRequests: one gauge Metric per
// series, named by its __name__, its other labels the data points' attributes, one data point per
// sample; the staleness marker becomes a point flagged no-recorded-value, as the Collector's
// Prometheus receiver makes it. Its buffers are reused; it is not safe for concurrent use.
type Encoder struct {
	body  []byte // the ScopeMetrics' fields: the scope, then every Metric
	attrs []byte // the series' attributes, encoded once, repeated in each of its points
	name  []byte
}

// Encode appends to dst the request holding the series of req; ok is false when req is
// malformed. samples counts the data points.
func (e *Encoder) Encode(dst, req []byte) (out []byte, samples int, ok bool) {
	e.body = e.body[:0]
	scope := protowire.SizeTag(fieldScopeName) + protowire.SizeBytes(len(Scope))
	e.body = protowire.AppendTag(e.body, fieldScope, protowire.BytesType)
	e.body = protowire.AppendVarint(e.body, uint64(scope))
	e.body = protowire.AppendTag(e.body, fieldScopeName, protowire.BytesType)
	e.body = protowire.AppendString(e.body, Scope)
	ok = walk(req, func(num protowire.Number, typ protowire.Type, ts []byte) bool {
		if num != 1 {
			return true // metadata and anything else: not exported
		}
		if typ != protowire.BytesType {
			return false
		}
		n, good := e.series(ts)
		samples += n
		return good
	})
	if !ok {
		return dst, 0, false
	}
	sm := protowire.SizeTag(fieldScopeMetrics) + protowire.SizeBytes(len(e.body))
	dst = protowire.AppendTag(dst, fieldResourceMetrics, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(sm))
	dst = protowire.AppendTag(dst, fieldScopeMetrics, protowire.BytesType)
	dst = protowire.AppendBytes(dst, e.body)
	return dst, samples, true
}

// series appends the Metric of one TimeSeries to e.body and returns its data points.
func (e *Encoder) series(ts []byte) (int, bool) {
	e.name, e.attrs = e.name[:0], e.attrs[:0]
	points, pointsSize := 0, 0
	ok := walk(ts, func(n protowire.Number, t protowire.Type, f []byte) bool {
		switch n {
		case 1: // Label
			if t != protowire.BytesType {
				return false
			}
			var name, value []byte
			if !walk(f, func(k protowire.Number, _ protowire.Type, v []byte) bool {
				switch k {
				case 1:
					name = v
				case 2:
					value = v
				}
				return true
			}) {
				return false
			}
			if string(name) == "__name__" {
				e.name = append(e.name, value...)
				return true
			}
			anyValue := protowire.SizeTag(fieldStringValue) + protowire.SizeBytes(len(value))
			kv := protowire.SizeTag(fieldKey) + protowire.SizeBytes(len(name)) + protowire.SizeTag(fieldValue) + protowire.SizeBytes(anyValue)
			e.attrs = protowire.AppendTag(e.attrs, fieldAttributes, protowire.BytesType)
			e.attrs = protowire.AppendVarint(e.attrs, uint64(kv))
			e.attrs = protowire.AppendTag(e.attrs, fieldKey, protowire.BytesType)
			e.attrs = protowire.AppendBytes(e.attrs, name)
			e.attrs = protowire.AppendTag(e.attrs, fieldValue, protowire.BytesType)
			e.attrs = protowire.AppendVarint(e.attrs, uint64(anyValue))
			e.attrs = protowire.AppendTag(e.attrs, fieldStringValue, protowire.BytesType)
			e.attrs = protowire.AppendBytes(e.attrs, value)
		case 2: // Sample
			if t != protowire.BytesType {
				return false
			}
			v, _, good := sample(f)
			if !good {
				return false
			}
			points++
			pointsSize += protowire.SizeTag(fieldDataPoints) + protowire.SizeBytes(e.pointSize(v))
		}
		return true
	})
	if !ok || points == 0 {
		return 0, ok
	}
	metric := protowire.SizeTag(fieldMetricName) + protowire.SizeBytes(len(e.name)) +
		protowire.SizeTag(fieldGauge) + protowire.SizeBytes(pointsSize)
	b := protowire.AppendTag(e.body, fieldMetrics, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(metric))
	b = protowire.AppendTag(b, fieldMetricName, protowire.BytesType)
	b = protowire.AppendBytes(b, e.name)
	b = protowire.AppendTag(b, fieldGauge, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(pointsSize))
	walk(ts, func(n protowire.Number, _ protowire.Type, f []byte) bool {
		if n != 2 {
			return true
		}
		v, tsMs, _ := sample(f)
		b = protowire.AppendTag(b, fieldDataPoints, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(e.pointSize(v)))
		b = append(b, e.attrs...)
		b = protowire.AppendTag(b, fieldTimeUnixNano, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, uint64(tsMs)*1e6)
		b = protowire.AppendTag(b, fieldAsDouble, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v))
		if messages.IsStaleNaN(v) {
			b = protowire.AppendTag(b, fieldFlags, protowire.VarintType)
			b = protowire.AppendVarint(b, flagNoRecordedValue)
		}
		return true
	})
	e.body = b
	return points, true
}

// pointSize is the size of a NumberDataPoint of the series being encoded holding v.
func (e *Encoder) pointSize(v float64) int {
	n := len(e.attrs) + protowire.SizeTag(fieldTimeUnixNano) + 8 + protowire.SizeTag(fieldAsDouble) + 8
	if messages.IsStaleNaN(v) {
		n += protowire.SizeTag(fieldFlags) + protowire.SizeVarint(flagNoRecordedValue)
	}
	return n
}

// sample reads a remote-write Sample: value (1, double) and timestamp (2, ms).
func sample(b []byte) (v float64, ts int64, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.Fixed64Type:
			x, m := protowire.ConsumeFixed64(b)
			if m < 0 {
				return 0, 0, false
			}
			v, n = math.Float64frombits(x), m
		case num == 2 && typ == protowire.VarintType:
			x, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, 0, false
			}
			ts, n = int64(x), m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return 0, 0, false
			}
		}
		b = b[n:]
	}
	return v, ts, true
}

// walk calls fn for every field of message b; it reports false on malformed protobuf or when fn
// does. The value is the field's bytes for length-delimited fields, nil otherwise.
func walk(b []byte, fn func(protowire.Number, protowire.Type, []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 || !fn(num, typ, v) {
			return false
		}
		b = b[n:]
	}
	return true
}
