// Package otlptest writes OTLP ExportMetricsServiceRequests field by field with protowire: just
// enough protobuf for tests to build requests without the Collector's pdata (which stays out of
// Sluice's go.mod; the side module bench/otlpcheck checks requests pdata marshals).
package otlptest

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Msg is a protobuf message being written.

type Msg []byte

// Bytes appends a length-delimited field.
func (m Msg) Bytes(num protowire.Number, b []byte) Msg {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendBytes(m, b)
}

// Str appends a string field.
func (m Msg) Str(num protowire.Number, s string) Msg { return m.Bytes(num, []byte(s)) }

// Fixed appends a fixed64 field.
func (m Msg) Fixed(num protowire.Number, v uint64) Msg {
	m = protowire.AppendTag(m, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(m, v)
}

// Double appends a double field.
func (m Msg) Double(num protowire.Number, v float64) Msg { return m.Fixed(num, math.Float64bits(v)) }

// Varint appends a varint field.
func (m Msg) Varint(num protowire.Number, v uint64) Msg {
	m = protowire.AppendTag(m, num, protowire.VarintType)
	return protowire.AppendVarint(m, v)
}

// KVStr is a KeyValue with a string value.
func KVStr(k, v string) Msg { return Msg(nil).Str(1, k).Bytes(2, Msg(nil).Str(1, v)) }

// KVInt is a KeyValue with an int value.
func KVInt(k string, v int64) Msg {
	return Msg(nil).Str(1, k).Bytes(2, Msg(nil).Varint(3, uint64(v)))
}

// Request is an ExportMetricsServiceRequest of one resource with one scope holding metrics (the
// resource written after its metrics, as the wire allows).
func Request(resource Msg, metrics ...Msg) []byte {
	sm := Msg(nil).Bytes(1, Msg(nil).Str(1, "scope"))
	for _, m := range metrics {
		sm = sm.Bytes(2, m)
	}
	rm := Msg(nil).Bytes(2, sm).Bytes(1, resource) // the Resource after its metrics, as the wire allows
	return Msg(nil).Bytes(1, rm)
}

// Resource is a Resource with attributes kvs.
func Resource(kvs ...Msg) Msg {
	r := Msg(nil)
	for _, kv := range kvs {
		r = r.Bytes(1, kv)
	}
	return r
}

// NumberPoint is a NumberDataPoint holding a double.
func NumberPoint(attrs []Msg, tsNs uint64, v float64) Msg {
	p := Msg(nil)
	for _, a := range attrs {
		p = p.Bytes(7, a)
	}
	return p.Fixed(3, tsNs).Double(4, v)
}

// Gauge is a Metric with a Gauge.
func Gauge(name, unit string, points ...Msg) Msg {
	g := Msg(nil)
	for _, p := range points {
		g = g.Bytes(1, p)
	}
	return Msg(nil).Str(1, name).Str(3, unit).Bytes(5, g)
}

// Sum is a Metric with a Sum of temporality (1 delta, 2 cumulative).
func Sum(name, unit string, temporality uint64, monotonic bool, points ...Msg) Msg {
	s := Msg(nil)
	for _, p := range points {
		s = s.Bytes(1, p)
	}
	s = s.Varint(2, temporality)
	if monotonic {
		s = s.Varint(3, 1)
	}
	return Msg(nil).Str(1, name).Str(3, unit).Bytes(7, s)
}

// Histogram is a Metric with a Histogram of one point.
func Histogram(name, unit string, temporality uint64, tsNs uint64, attrs []Msg, count uint64, total float64, bounds []float64, counts []uint64) Msg {
	p := Msg(nil)
	for _, a := range attrs {
		p = p.Bytes(9, a)
	}
	var bc, eb []byte
	for _, c := range counts {
		bc = protowire.AppendFixed64(bc, c)
	}
	for _, b := range bounds {
		eb = protowire.AppendFixed64(eb, math.Float64bits(b))
	}
	p = p.Fixed(3, tsNs).Fixed(4, count).Double(5, total).Bytes(6, bc).Bytes(7, eb)
	h := Msg(nil).Bytes(1, p).Varint(2, temporality)
	return Msg(nil).Str(1, name).Str(3, unit).Bytes(9, h)
}

// Summary is a Metric with a Summary of one point; quantiles are (quantile, value) pairs.
func Summary(name string, tsNs uint64, count uint64, total float64, quantiles ...[2]float64) Msg {
	p := Msg(nil).Fixed(3, tsNs).Fixed(4, count).Double(5, total)
	for _, q := range quantiles {
		p = p.Bytes(6, Msg(nil).Double(1, q[0]).Double(2, q[1]))
	}
	return Msg(nil).Str(1, name).Bytes(11, Msg(nil).Bytes(1, p))
}

// Buckets is one side of an exponential histogram point: its offset and bucket counts.
type Buckets struct {
	Offset int32
	Counts []uint64
}

func (b Buckets) msg() Msg {
	var packed []byte
	for _, c := range b.Counts {
		packed = protowire.AppendVarint(packed, c)
	}
	return Msg(nil).Varint(1, protowire.EncodeZigZag(int64(b.Offset))).Bytes(2, packed)
}

// ExpPoint is an exponential histogram data point.
type ExpPoint struct {
	Attrs              []Msg
	TsNs, Count        uint64
	Sum                float64
	Scale              int32
	ZeroCount          uint64
	ZeroThreshold      float64
	Positive, Negative Buckets
}

// Exponential is a Metric with an ExponentialHistogram of one point.
func Exponential(name, unit string, temporality uint64, pt ExpPoint) Msg {
	p := Msg(nil)
	for _, a := range pt.Attrs {
		p = p.Bytes(1, a)
	}
	p = p.Fixed(3, pt.TsNs).Fixed(4, pt.Count).Double(5, pt.Sum).Varint(6, protowire.EncodeZigZag(int64(pt.Scale))).
		Fixed(7, pt.ZeroCount).Bytes(8, pt.Positive.msg()).Bytes(9, pt.Negative.msg()).Double(14, pt.ZeroThreshold)
	h := Msg(nil).Bytes(1, p).Varint(2, temporality)
	return Msg(nil).Str(1, name).Str(3, unit).Bytes(10, h)
}

// Described is metric m with a description.
func Described(m Msg, description string) Msg { return m.Str(2, description) }
