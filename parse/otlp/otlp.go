// Package otlp decodes OpenTelemetry metrics as the Collector's kafkaexporter writes them: one
// OTLP ExportMetricsServiceRequest per Kafka record, in protobuf (otlp_proto) or in its JSON
// form (otlp_json), told apart by the record's first byte. It maps them to the Prometheus
// data model as the OpenTelemetry specification's Prometheus compatibility section and the
// Collector's Prometheus exporters do:
//
//   - gauges are gauges; monotonic cumulative sums are counters (`_total` with the prometheus
//     translation); non-monotonic cumulative sums are gauges;
//   - cumulative histograms become `<name>_bucket{le}` (cumulative counts, `+Inf` = the count),
//     `<name>_sum` and `<name>_count`; summaries become `<name>{quantile}`, `_sum` and `_count`;
//   - cumulative exponential histograms become native histograms (native.go), which only outputs
//     speaking remote write 2.0 take (the others count them under "unsupported");
//   - delta sums and histograms and points flagged as having no recorded value are dropped, each
//     datapoint counted under the reason "unsupported" with a detail saying which;
//   - every datapoint carries its metric's metadata: the type, the unit (Prometheus' word for it
//     with the prometheus translation) and the description as help, which outputs speaking
//     remote write 2.0 send;
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
	// Encoding is what the records hold: "otlp_proto" (the kafkaexporter's default), "otlp_json",
	// or "auto" (either, told apart by the first byte). A record of the other encoding is
	// unparseable.
	Encoding string
}

// Encodings are the values Options.Encoding accepts.
var Encodings = []string{"otlp_proto", "otlp_json", "auto"}

// Translations are the values Options.Translation accepts.
var Translations = []string{"prometheus", "keep"}

// Parser decodes records with fixed options; it holds no mutable state, so workers share it.
type Parser struct {
	suffixes    bool
	promote     []string
	proto, json bool // the encodings accepted
}

// New returns a parser for o.
func New(o Options) (*Parser, error) {
	p := &Parser{promote: o.Promote}
	switch o.Translation {
	case "", "prometheus":
		p.suffixes = true
	case "keep":
	default:
		return nil, fmt.Errorf("otlp translation %q: use prometheus or keep", o.Translation)
	}
	switch o.Encoding {
	case "", "otlp_proto":
		p.proto = true
	case "otlp_json":
		p.json = true
	case "auto":
		p.proto, p.json = true, true
	default:
		return nil, fmt.Errorf("otlp encoding %q: use otlp_proto, otlp_json or auto", o.Encoding)
	}
	return p, nil
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
	mark, points, bad, extras := dst.TagsMark(), len(dst.Points), len(dst.Bad), len(dst.Extras)
	var ok bool
	// A protobuf request starts with field 1's tag (0x0a); a JSON one with '{' (after spaces),
	// which is no tag a request can start with: the encoding is detected, never guessed.
	isJSON := false
	if i := skipWS(record, 0); i < len(record) && record[i] == '{' {
		isJSON = true
		ok = p.json && p.parseJSON(dst, record, recordTsMs)
	} else {
		ok = p.proto
	}
	if ok && !isJSON {
		ok = walk(record, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
			if num != 1 {
				return true
			}
			return typ == protowire.BytesType && p.resourceMetrics(dst, v, recordTsMs)
		})
	}
	if !ok {
		clear(dst.Points[points:])
		dst.Points, dst.Bad, dst.Extras = dst.Points[:points], dst.Bad[:bad], dst.Extras[:extras]
		dst.DropTagsTo(mark)
		detail := "not an OTLP ExportMetricsServiceRequest (protobuf)"
		switch {
		case isJSON && !p.json:
			detail = "a JSON record on an otlp_proto input"
		case isJSON:
			detail = "not an OTLP ExportMetricsServiceRequest (JSON)"
		case !p.proto:
			detail = "a protobuf record on an otlp_json input"
		}
		dst.AddBad(record, messages.ReasonUnparseable, detail)
	}
}

// resourceMetrics decodes one ResourceMetrics; false on malformed protobuf.
func (p *Parser) resourceMetrics(dst *messages.Rows, rm []byte, tsMs int64) bool {
	// The resource's labels first (the resource may come after its metrics on the wire): its
	// attributes are parked in the tag pool, then its labels are made from them.
	amark := dst.TagsMark()
	if !walk(rm, func(num protowire.Number, typ protowire.Type, res []byte, _ uint64) bool {
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
				dst.AddTag(k, v)
			}
			return ok
		})
	}) {
		return false
	}
	rmark := dst.TagsMark()
	p.addResourceLabels(dst, dst.TagsSince(amark))
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

// addResourceLabels adds a resource's labels to dst's tag pool from its attributes (in either
// encoding): job (service.namespace/service.name), instance (service.instance.id), then the
// promoted attributes in the resource's order.
func (p *Parser) addResourceLabels(dst *messages.Rows, attrs []messages.Tag) {
	var name, namespace, instance []byte
	for _, a := range attrs {
		switch string(a.Key) {
		case "service.name":
			name = a.Value
		case "service.namespace":
			namespace = a.Value
		case "service.instance.id":
			instance = a.Value
		}
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
	for _, a := range attrs {
		for _, pk := range p.promote {
			if string(a.Key) == pk {
				dst.AddLabel(a.Key, a.Value)
			}
		}
	}
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
	var name, help, unit, data []byte
	kind := protowire.Number(0)
	ok := walk(m, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		switch num {
		case 1:
			name = v
		case 2:
			help = v
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
	switch p.plan(&e, int(kind), name, unit, help, temporality == temporalityDelta, monotonic != 0) {
	case asNumber:
		return eachPoint(data, e.number)
	case asHistogram:
		return eachPoint(data, e.histogram)
	case asSummary:
		return eachPoint(data, e.summary)
	case asNative:
		return eachPoint(data, e.exponential)
	case asUnsupported:
		return eachPoint(data, e.unsupportedPoint)
	}
	return true // a metric without data
}

// How a metric's points become Prometheus datapoints (plan's answer).
const (
	asNothing = iota
	asNumber
	asHistogram
	asSummary
	asNative
	asUnsupported
)

// plan is the Prometheus compatibility mapping of one metric, for either encoding: it names e's
// datapoints (suffixes per the translation), gives them the metric's metadata (for remote write
// 2.0) and says how each point is read. A kind without a Prometheus form sets e.why, the detail
// its dropped points are counted with.
func (p *Parser) plan(e *emitter, kind int, name, unit, help []byte, delta, monotonic bool) int {
	how := p.mapping(e, kind, name, unit, delta, monotonic)
	if how == asUnsupported || how == asNothing {
		return how
	}
	e.meta.Help, e.meta.Unit = help, p.unit(e.dst, unit)
	switch {
	case kind == kindGauge, kind == kindSum && !monotonic:
		e.meta.Type = messages.TypeGauge
	case kind == kindSum:
		e.meta.Type = messages.TypeCounter
	case kind == kindSummary:
		e.meta.Type = messages.TypeSummary
	default:
		e.meta.Type = messages.TypeHistogram
	}
	if how != asNative { // a native histogram's points each carry their own extra
		e.extra = e.dst.AddExtra(e.meta)
	}
	return how
}

// mapping is plan's choice of names and reading for one metric.
func (p *Parser) mapping(e *emitter, kind int, name, unit []byte, delta, monotonic bool) int {
	dst := e.dst
	switch {
	case kind == kindGauge:
		e.name = p.name(dst, name, unit, nil, true)
		return asNumber
	case kind == kindSum && delta:
		e.why = "delta sum: only cumulative sums map to Prometheus"
		return asUnsupported
	case kind == kindSum && monotonic:
		e.name = p.name(dst, name, unit, sufTotal, false)
		return asNumber
	case kind == kindSum:
		e.name = p.name(dst, name, unit, nil, true)
		return asNumber
	case kind == kindHistogram && delta:
		e.why = "delta histogram: only cumulative histograms map to Prometheus"
		return asUnsupported
	case kind == kindHistogram:
		base := p.name(dst, name, unit, nil, false)
		e.bucket, e.sum, e.count = dst.Append(base, sufBucket), dst.Append(base, sufSum), dst.Append(base, sufCount)
		return asHistogram
	case kind == kindSummary:
		e.name = p.name(dst, name, unit, nil, false)
		e.sum, e.count = dst.Append(e.name, sufSum), dst.Append(e.name, sufCount)
		return asSummary
	case kind == kindExponential && delta:
		e.why = "delta exponential histogram: only cumulative histograms map to Prometheus"
		return asUnsupported
	case kind == kindExponential:
		e.name = p.name(dst, name, unit, nil, false)
		return asNative
	}
	return asNothing
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
