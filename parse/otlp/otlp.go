// Package otlp decodes OpenTelemetry metrics as the Collector's kafkaexporter writes them: one
// OTLP ExportMetricsServiceRequest in protobuf per Kafka record. It maps them to the Prometheus
// data model as the OpenTelemetry specification's Prometheus compatibility section and the
// Collector's Prometheus exporters do:
//
//   - gauges are gauges; monotonic cumulative sums are counters (`_total` with the prometheus
//     translation); non-monotonic cumulative sums are gauges;
//   - cumulative histograms become `<name>_bucket{le}` (cumulative counts, `+Inf` = the count),
//     `<name>_sum` and `<name>_count`; summaries become `<name>{quantile}`, `_sum` and `_count`;
//   - delta sums and histograms, exponential histograms (native histograms need remote write
//     2.0) and points flagged as having no recorded value are dropped, each datapoint counted
//     under the reason "unsupported" with a detail saying which;
//   - resource attributes: service.namespace/service.name become `job`, service.instance.id
//     `instance`, the attributes Options.Promote lists become labels, the rest are dropped.
//
// The record is read with protowire, slicing it: names, keys and string values are sub-slices of
// the record, and what must be built (suffixed names, `le`, numbers as labels) goes to the Rows'
// arena, so decoding allocates nothing in steady state. A record that is not a well-formed
// request adds nothing but one unparseable line.
package otlp

import (
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// Options are an otlp input's settings.
type Options struct {
	// Translation is "prometheus" (unit and type suffixes: `_seconds`, `_bytes`, `_total`,
	// `_ratio`, as Prometheus' UnderscoreEscapingWithSuffixes) or "keep" (names as they are).
	Translation string
	// Promote lists resource attributes added as labels to every datapoint of the resource.
	Promote []string
}

// Translations are the values Options.Translation accepts.
var Translations = []string{"prometheus", "keep"}

// Parser decodes records with fixed options; it holds no mutable state, so workers share it.
type Parser struct {
	suffixes bool
	promote  []string
}

// New returns a parser for o.
func New(o Options) (*Parser, error) {
	switch o.Translation {
	case "", "prometheus":
		return &Parser{suffixes: true, promote: o.Promote}, nil
	case "keep":
		return &Parser{promote: o.Promote}, nil
	}
	return nil, fmt.Errorf("otlp translation %q: use prometheus or keep", o.Translation)
}

var (
	labelJob      = []byte("job")
	labelInstance = []byte("instance")
	labelLe       = []byte("le")
	labelQuantile = []byte("quantile")
	sufBucket     = []byte("_bucket")
	sufSum        = []byte("_sum")
	sufCount      = []byte("_count")
	sufTotal      = []byte("_total")
	sufRatio      = []byte("_ratio")
	plusInf       = []byte("+Inf")
	slash         = []byte("/")
	valueTrue     = []byte("true")
	valueFalse    = []byte("false")
)

// Parse appends the datapoints of one ExportMetricsServiceRequest to dst. recordTsMs is used for
// points without a timestamp.
func (p *Parser) Parse(dst *messages.Rows, record []byte, recordTsMs int64) {
	mark, points, bad := dst.TagsMark(), len(dst.Points), len(dst.Bad)
	ok := walk(record, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if num != 1 {
			return true
		}
		return typ == protowire.BytesType && p.resourceMetrics(dst, v, recordTsMs)
	})
	if !ok {
		clear(dst.Points[points:])
		dst.Points, dst.Bad = dst.Points[:points], dst.Bad[:bad]
		dst.DropTagsTo(mark)
		dst.AddBad(record, messages.ReasonUnparseable, "not an OTLP ExportMetricsServiceRequest (protobuf)")
	}
}

// resourceMetrics decodes one ResourceMetrics; false on malformed protobuf.
func (p *Parser) resourceMetrics(dst *messages.Rows, rm []byte, tsMs int64) bool {
	// The resource's labels first (the resource may come after its metrics on the wire): job and
	// instance, then the promoted attributes in the resource's order.
	rmark := dst.TagsMark()
	var name, namespace, instance []byte
	attrs := func(fn func(k, v []byte)) bool {
		return walk(rm, func(num protowire.Number, typ protowire.Type, res []byte, _ uint64) bool {
			if num != 1 {
				return true
			}
			return typ == protowire.BytesType && walk(res, func(n protowire.Number, t protowire.Type, kv []byte, _ uint64) bool {
				if n != 1 {
					return true
				}
				if t != protowire.BytesType {
					return false
				}
				k, v, ok := keyValue(dst, kv)
				if ok {
					fn(k, v)
				}
				return ok
			})
		})
	}
	if !attrs(func(k, v []byte) {
		switch string(k) {
		case "service.name":
			name = v
		case "service.namespace":
			namespace = v
		case "service.instance.id":
			instance = v
		}
	}) {
		return false
	}
	switch {
	case len(namespace) > 0 && len(name) > 0:
		dst.AddTag(labelJob, dst.Append(namespace, slash, name))
	case len(name) > 0:
		dst.AddTag(labelJob, name)
	}
	if len(instance) > 0 {
		dst.AddTag(labelInstance, instance)
	}
	if len(p.promote) > 0 {
		attrs(func(k, v []byte) {
			for _, pk := range p.promote {
				if string(k) == pk {
					dst.AddTag(k, v)
				}
			}
		})
	}
	res := dst.TagsSince(rmark)
	return walk(rm, func(num protowire.Number, typ protowire.Type, sm []byte, _ uint64) bool {
		if num != 2 {
			return true
		}
		return typ == protowire.BytesType && walk(sm, func(n protowire.Number, t protowire.Type, m []byte, _ uint64) bool {
			if n != 2 {
				return true
			}
			return t == protowire.BytesType && p.metric(dst, m, res, tsMs)
		})
	})
}

// Metric data kinds: the field numbers of Metric's data oneof.
const (
	kindGauge        = 5
	kindSum          = 7
	kindHistogram    = 9
	kindExponential  = 10
	kindSummary      = 11
	temporalityDelta = 1
)

// metric decodes one Metric.
func (p *Parser) metric(dst *messages.Rows, m []byte, res []messages.Tag, tsMs int64) bool {
	var name, unit, data []byte
	kind := protowire.Number(0)
	ok := walk(m, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		switch num {
		case 1:
			name = v
		case 3:
			unit = v
		case kindGauge, kindSum, kindHistogram, kindExponential, kindSummary:
			kind, data = num, v
		default:
			return true
		}
		return typ == protowire.BytesType
	})
	if !ok {
		return false
	}
	if len(name) == 0 {
		dst.AddBad(m, messages.ReasonInvalidName, "metric without a name")
		return true
	}
	// The aggregation's temporality and monotonicity (fields 2 and 3 of Sum, 2 of Histogram).
	var temporality, monotonic uint64
	if kind == kindSum || kind == kindHistogram || kind == kindExponential {
		if !walk(data, func(num protowire.Number, typ protowire.Type, _ []byte, u uint64) bool {
			switch num {
			case 2:
				temporality = u
			case 3:
				monotonic = u
			default:
				return true
			}
			return typ == protowire.VarintType
		}) {
			return false
		}
	}
	e := emitter{dst: dst, res: res, tsMs: tsMs}
	switch {
	case kind == kindGauge:
		e.name = p.name(dst, name, unit, nil, true)
		return eachPoint(data, func(dp []byte) bool { return e.number(dp) })
	case kind == kindSum && temporality == temporalityDelta:
		return eachPoint(data, func(dp []byte) bool { return e.unsupported(dp, "delta sum: only cumulative sums map to Prometheus") })
	case kind == kindSum && monotonic != 0:
		e.name = p.name(dst, name, unit, sufTotal, false)
		return eachPoint(data, func(dp []byte) bool { return e.number(dp) })
	case kind == kindSum:
		e.name = p.name(dst, name, unit, nil, true)
		return eachPoint(data, func(dp []byte) bool { return e.number(dp) })
	case kind == kindHistogram && temporality == temporalityDelta:
		return eachPoint(data, func(dp []byte) bool {
			return e.unsupported(dp, "delta histogram: only cumulative histograms map to Prometheus")
		})
	case kind == kindHistogram:
		base := p.name(dst, name, unit, nil, false)
		e.bucket, e.sum, e.count = dst.Append(base, sufBucket), dst.Append(base, sufSum), dst.Append(base, sufCount)
		return eachPoint(data, func(dp []byte) bool { return e.histogram(dp) })
	case kind == kindSummary:
		e.name = p.name(dst, name, unit, nil, false)
		e.sum, e.count = dst.Append(e.name, sufSum), dst.Append(e.name, sufCount)
		return eachPoint(data, func(dp []byte) bool { return e.summary(dp) })
	case kind == kindExponential:
		return eachPoint(data, func(dp []byte) bool {
			return e.unsupported(dp, "exponential histogram: native histograms need remote write 2.0")
		})
	}
	return true // a metric without data
}

// eachPoint calls fn with every data point (field 1) of a Gauge, Sum, Histogram or Summary.
func eachPoint(data []byte, fn func(dp []byte) bool) bool {
	return walk(data, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if num != 1 {
			return true
		}
		return typ == protowire.BytesType && fn(v)
	})
}

// name is the Prometheus name of a metric: as it is with the keep translation, else with its
// unit's suffix (unless the name already ends with it), "_ratio" for a gauge of unit "1", and
// typeSuffix ("_total" for counters).
func (p *Parser) name(dst *messages.Rows, name, unit, typeSuffix []byte, gauge bool) []byte {
	if !p.suffixes {
		return name
	}
	var buf [64]byte
	u := unitSuffix(buf[:0], unit)
	if string(unit) == "1" && gauge {
		u = append(buf[:0], sufRatio...)
	}
	base := name
	if len(typeSuffix) > 0 && hasSuffix(base, typeSuffix) {
		base = base[:len(base)-len(typeSuffix)] // the unit goes before _total
	}
	if len(u) > 0 && hasSuffix(base, u) {
		u = u[:0]
	}
	if len(u) == 0 && len(base)+len(typeSuffix) == len(name) {
		return name
	}
	return dst.Append(base, u, typeSuffix)
}

func hasSuffix(s, suf []byte) bool {
	return len(s) >= len(suf) && string(s[len(s)-len(suf):]) == string(suf)
}

// units maps UCUM units (as OpenTelemetry semantic conventions use them) to Prometheus' words.
var units = map[string]string{
	"d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
	"ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
	"TiBy": "tebibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
	"m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
	"Hz": "hertz", "%": "percent",
}

// perUnits maps the denominator of a rate unit ("By/s") to its word.
var perUnits = map[string]string{"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

// unitSuffix appends "_<unit>" for unit to b ("_bytes_per_second" for "By/s"; annotations in
// braces and "1" add nothing).
func unitSuffix(b, unit []byte) []byte {
	main, per := unit, []byte(nil)
	for i, c := range unit {
		if c == '/' {
			main, per = unit[:i], unit[i+1:]
			break
		}
	}
	word := func(b, u []byte, table map[string]string) []byte {
		if len(u) == 0 || u[0] == '{' || string(u) == "1" {
			return b
		}
		if w, ok := table[string(u)]; ok {
			return append(b, w...)
		}
		for _, c := range u { // an unknown unit is kept when it is a plain word
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return b
			}
		}
		return append(b, u...)
	}
	start := len(b)
	b = append(b, '_')
	b = word(b, main, units)
	if w := word(nil, per, perUnits); len(w) > 0 {
		if len(b) > start+1 {
			b = append(b, '_')
		}
		b = append(b, "per_"...)
		b = word(b, per, perUnits)
	}
	if len(b) == start+1 {
		return b[:start]
	}
	return b
}

// emitter adds the datapoints of one metric.
type emitter struct {
	dst                      *messages.Rows
	res                      []messages.Tag
	tsMs                     int64
	name, bucket, sum, count []byte
}

// point adds a datapoint named name with the resource's labels, the point's attributes and
// extra (le or quantile) when given.
func (e *emitter) point(name []byte, attrs []messages.Tag, ts int64, v float64, extraKey, extraValue []byte) {
	mark := e.dst.TagsMark()
	for _, t := range e.res {
		e.dst.AddTag(t.Key, t.Value)
	}
	for _, t := range attrs {
		e.dst.AddTag(t.Key, t.Value)
	}
	if extraKey != nil {
		e.dst.AddTag(extraKey, extraValue)
	}
	dp := e.dst.NextPoint()
	dp.Metric, dp.Tags, dp.Timestamp, dp.Value = name, e.dst.TagsSince(mark), ts, v
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
	switch {
	case !ok:
		return false
	case flags&flagNoRecordedValue != 0:
		return e.unsupported(dp, "point with no recorded value")
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
	for i := 0; i+8 <= len(bounds); i += 8 {
		cum += protowireFixed64(counts[i:])
		var lb [32]byte
		le := strconv.AppendFloat(lb[:0], math.Float64frombits(protowireFixed64(bounds[i:])), 'g', -1, 64)
		e.point(e.bucket, attrs, t, float64(cum), labelLe, e.dst.Append(le))
	}
	e.point(e.bucket, attrs, t, float64(count), labelLe, plusInf)
	if hasSum {
		e.point(e.sum, attrs, t, sum, nil, nil)
	}
	e.point(e.count, attrs, t, float64(count), nil, nil)
	return true
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
	switch {
	case !ok:
		return false
	case flags&flagNoRecordedValue != 0:
		return e.unsupported(dp, "point with no recorded value")
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
		var qb [32]byte
		e.point(e.name, attrs, t, v, labelQuantile, e.dst.Append(strconv.AppendFloat(qb[:0], q, 'g', -1, 64)))
		return true
	})
	if !ok {
		return false
	}
	e.point(e.sum, attrs, t, sum, nil, nil)
	e.point(e.count, attrs, t, float64(count), nil, nil)
	return true
}

// unsupported counts a data point that has no Prometheus form here.
func (e *emitter) unsupported(dp []byte, detail string) bool {
	e.dst.AddBad(dp, messages.ReasonUnsupported, detail)
	return true
}

func protowireFixed64(b []byte) uint64 {
	v, _ := protowire.ConsumeFixed64(b)
	return v
}

// keyValue decodes a KeyValue: its key and its value as label text (strings as they are,
// numbers and booleans formatted into dst's arena; arrays, maps and bytes are not labels and
// yield an empty value). ok is false on malformed protobuf.
func keyValue(dst *messages.Rows, kv []byte) (k, v []byte, ok bool) {
	ok = walk(kv, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			k = b
		case 2:
			if typ != protowire.BytesType {
				return false
			}
			return walk(b, func(n protowire.Number, t protowire.Type, s []byte, u uint64) bool {
				var nb [32]byte
				switch n {
				case 1:
					v = s
				case 2:
					v = valueFalse
					if u != 0 {
						v = valueTrue
					}
				case 3:
					v = dst.Append(strconv.AppendInt(nb[:0], int64(u), 10))
				case 4:
					v = dst.Append(strconv.AppendFloat(nb[:0], math.Float64frombits(u), 'g', -1, 64))
				}
				return true
			})
		default:
			return true
		}
		return typ == protowire.BytesType
	})
	return k, v, ok
}

// walk calls fn for every field of message b: v holds a length-delimited field's bytes, u a
// varint or fixed field's value. It reports false on malformed protobuf or when fn does.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, u uint64) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v []byte
		var u uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			u, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var u32 uint32
			u32, n = protowire.ConsumeFixed32(b)
			u = uint64(u32)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 || !fn(num, typ, v, u) {
			return false
		}
		b = b[n:]
	}
	return true
}
