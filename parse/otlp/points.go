package otlp

// Data points: each OTLP point kind as the Prometheus datapoints it becomes.

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// emitter adds the datapoints of one metric.
type emitter struct {
	dst                      *messages.Rows
	doc                      jsonDoc // the JSON record being decoded (nil for protobuf)
	res                      []messages.Tag
	tsMs                     int64
	name, bucket, sum, count []byte
	// why is the detail a metric's dropped points are counted with (plan sets it).
	why string
	// stale: the point being added has no recorded value, so its samples are staleness markers.
	stale bool
	// meta is the metric's metadata (type, unit, help), extra its Rows.Extras reference, which
	// every datapoint of the metric carries (0 when it has none).
	meta  messages.PointExtra
	extra uint32
}

// point adds a datapoint named name with the resource's labels, the point's attributes and
// extra (le or quantile) when given.
func (e *emitter) point(name []byte, attrs []messages.Tag, ts int64, v float64, extraKey, extraValue []byte) {
	mark := e.addLabels(attrs)
	if e.stale {
		v = math.Float64frombits(messages.StaleNaN)
	}
	if extraKey != nil {
		e.dst.AddTag(extraKey, extraValue)
	}
	dp := e.dst.NextPoint()
	dp.Metric, dp.Tags, dp.Timestamp, dp.Value, dp.Extra = name, e.dst.TagsSince(mark), ts, v, e.extra
}

// addLabels adds the resource's labels and attrs to the tag pool (an attribute with an empty value
// is no label) and returns the mark they start at.
func (e *emitter) addLabels(attrs []messages.Tag) int {
	mark := e.dst.TagsMark()
	for _, t := range e.res {
		e.dst.AddLabel(t.Key, t.Value)
	}
	for _, t := range attrs {
		e.dst.AddLabel(t.Key, t.Value)
	}
	return mark
}

// attributes adds the KeyValues of field num of dp to the tag pool and returns them.
func (e *emitter) attributes(dp []byte, num protowire.Number) ([]messages.Tag, bool) {
	mark := e.dst.TagsMark()
	ok := walk(dp, func(n protowire.Number, typ protowire.Type, kv []byte, _ uint64) bool {
		if n != num {
			return true
		}
		if typ != protowire.BytesType {
			return false
		}
		k, v, ok := keyValue(e.dst, kv)
		if ok {
			e.dst.AddTag(k, v)
		}
		return ok
	})
	return e.dst.TagsSince(mark), ok
}

// timestamp turns time_unix_nano into ms, or the record's timestamp when unset.
func (e *emitter) timestamp(ns uint64) int64 {
	if ns == 0 {
		return e.tsMs
	}
	return int64(ns / 1e6)
}

const flagNoRecordedValue = 1

// number adds a NumberDataPoint.
func (e *emitter) number(dp []byte) bool {
	var ts, flags uint64
	var v float64
	ok := walk(dp, func(num protowire.Number, typ protowire.Type, _ []byte, u uint64) bool {
		switch num {
		case 3:
			ts = u
		case 4:
			v = math.Float64frombits(u)
		case 6:
			v = float64(int64(u))
		case 8:
			flags = u
			return typ == protowire.VarintType
		default:
			return true
		}
		return typ == protowire.Fixed64Type
	})
	if skip, ret := e.skip(dp, ok, flags); skip {
		return ret
	}
	attrs, ok := e.attributes(dp, 7)
	if ok {
		e.point(e.name, attrs, e.timestamp(ts), v, nil, nil)
	}
	return ok
}

// histogram adds a HistogramDataPoint's buckets, sum and count.
func (e *emitter) histogram(dp []byte) bool {
	var ts, count, flags uint64
	var sum float64
	var hasSum bool
	var counts, bounds []byte
	ok := walk(dp, func(num protowire.Number, typ protowire.Type, v []byte, u uint64) bool {
		switch num {
		case 3:
			ts = u
		case 4:
			count = u
		case 5:
			sum, hasSum = math.Float64frombits(u), true
		case 6:
			counts = v
			return typ == protowire.BytesType && len(v)%8 == 0 // packed fixed64
		case 7:
			bounds = v
			return typ == protowire.BytesType && len(v)%8 == 0 // packed double
		case 10:
			flags = u
			return typ == protowire.VarintType
		default:
			return true
		}
		return typ == protowire.Fixed64Type
	})
	switch {
	case !ok:
		return false
	case flags&flagNoRecordedValue != 0:
		return e.unsupported(dp, "point with no recorded value")
	case len(counts) > 0 && len(counts) != len(bounds)+8:
		return e.unsupported(dp, "histogram whose bucket_counts are not one more than its explicit_bounds")
	}
	attrs, ok := e.attributes(dp, 9)
	if !ok {
		return false
	}
	t := e.timestamp(ts)
	var cum uint64
	for i := 0; len(counts) > 0 && i+8 <= len(bounds); i += 8 { // no bucket counts: only +Inf
		cum += protowireFixed64(counts[i:])
		e.bucketPoint(attrs, t, cum, math.Float64frombits(protowireFixed64(bounds[i:])))
	}
	e.histogramEnd(attrs, t, count, sum, hasSum)
	return true
}

// bucketPoint adds one finite bucket of a histogram: its cumulative count at le = bound.
func (e *emitter) bucketPoint(attrs []messages.Tag, t int64, cum uint64, bound float64) {
	var lb [32]byte
	e.point(e.bucket, attrs, t, float64(cum), labelLe, e.dst.Append(strconv.AppendFloat(lb[:0], bound, 'g', -1, 64)))
}

// histogramEnd adds a histogram's +Inf bucket (its count), its sum when it has one and its count.
func (e *emitter) histogramEnd(attrs []messages.Tag, t int64, count uint64, sum float64, hasSum bool) {
	e.point(e.bucket, attrs, t, float64(count), labelLe, plusInf)
	if hasSum {
		e.point(e.sum, attrs, t, sum, nil, nil)
	}
	e.point(e.count, attrs, t, float64(count), nil, nil)
}

// quantilePoint adds one quantile of a summary.
func (e *emitter) quantilePoint(attrs []messages.Tag, t int64, q, v float64) {
	var qb [32]byte
	e.point(e.name, attrs, t, v, labelQuantile, e.dst.Append(strconv.AppendFloat(qb[:0], q, 'g', -1, 64)))
}

// summaryEnd adds a summary's sum and count.
func (e *emitter) summaryEnd(attrs []messages.Tag, t int64, sum float64, count uint64) {
	e.point(e.sum, attrs, t, sum, nil, nil)
	e.point(e.count, attrs, t, float64(count), nil, nil)
}

// summary adds a SummaryDataPoint's quantiles, sum and count.
func (e *emitter) summary(dp []byte) bool {
	var ts, count, flags uint64
	var sum float64
	ok := walk(dp, func(num protowire.Number, typ protowire.Type, _ []byte, u uint64) bool {
		switch num {
		case 3:
			ts = u
		case 4:
			count = u
		case 5:
			sum = math.Float64frombits(u)
		case 8:
			flags = u
			return typ == protowire.VarintType
		default:
			return true
		}
		return typ == protowire.Fixed64Type
	})
	if skip, ret := e.skip(dp, ok, flags); skip {
		return ret
	}
	attrs, ok := e.attributes(dp, 7)
	if !ok {
		return false
	}
	t := e.timestamp(ts)
	ok = walk(dp, func(num protowire.Number, typ protowire.Type, qv []byte, _ uint64) bool {
		if num != 6 {
			return true
		}
		if typ != protowire.BytesType {
			return false
		}
		var q, v float64
		if !walk(qv, func(n protowire.Number, t protowire.Type, _ []byte, u uint64) bool {
			switch n {
			case 1:
				q = math.Float64frombits(u)
			case 2:
				v = math.Float64frombits(u)
			default:
				return true
			}
			return t == protowire.Fixed64Type
		}) {
			return false
		}
		e.quantilePoint(attrs, t, q, v)
		return true
	})
	if ok {
		e.summaryEnd(attrs, t, sum, count)
	}
	return ok
}

// skip says whether a point read with ok and flags is not to be added, and what the reader
// returns then (false: a malformed point). A point flagged as having no recorded value is added,
// as the specification's Prometheus mapping says, as staleness markers: e.stale makes every
// sample it gives Prometheus' stale NaN.
func (e *emitter) skip(_ []byte, ok bool, flags uint64) (skip, ret bool) {
	e.stale = flags&flagNoRecordedValue != 0
	return !ok, false
}

// unsupportedPoint counts a point of a metric plan found no Prometheus form for.
func (e *emitter) unsupportedPoint(dp []byte) bool { return e.unsupported(dp, e.why) }

// unsupported counts a data point that has no Prometheus form here.
func (e *emitter) unsupported(dp []byte, detail string) bool {
	e.dst.AddBad(dp, messages.ReasonUnsupported, detail)
	return true
}

func protowireFixed64(b []byte) uint64 {
	v, _ := protowire.ConsumeFixed64(b)
	return v
}
