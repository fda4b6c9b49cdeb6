// Package formats builds the decoder of an input: the format's parser plus the input's
// default_tags and metric_prefix. The pipeline's workers and `sluice decode` both use it, so
// what an SRE sees from `sluice decode` is what the pipeline makes of the same bytes.
package formats

import (
	"fmt"
	"sort"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/parse/graphite"
	"github.com/sluicehq/sluice/parse/influx"
	"github.com/sluicehq/sluice/parse/jsonput"
	"github.com/sluicehq/sluice/parse/opentsdb"
	"github.com/sluicehq/sluice/parse/otlp"
	"github.com/sluicehq/sluice/parse/prometheus"
)

// ParseFunc is the one shape of every format's parser: it appends the datapoints of one Kafka
// record to dst and the parts it cannot parse to dst.Bad, slicing the record (never copying it);
// recordTsMs is the record's timestamp, for formats whose lines may omit theirs.
type ParseFunc func(dst *messages.Rows, record []byte, recordTsMs int64)

// format is one row of the format table.
type format struct {
	name string
	// lineBased: the records are independent lines, so a record too large for one batch may be
	// split at line boundaries.
	lineBased bool
	// prometheus: a format of the Prometheus family, whose data model it follows: a label with an
	// empty value is no label, and NaN and ±Inf are ordinary sample values.
	prometheus bool
	parser     func(Options) (ParseFunc, error)
}

func fixed(p ParseFunc) func(Options) (ParseFunc, error) {
	return func(Options) (ParseFunc, error) { return p, nil }
}

// table is the list of formats: the config's validation, the workers, `sluice decode` and
// `sluice bench` all read it (through Names, LineBased and New).
var table = []format{
	{name: "opentsdb", lineBased: true, parser: fixed(opentsdb.Parse)},
	{name: "graphite", lineBased: true, parser: fixed(graphite.Parse)},
	{name: "influx", lineBased: true, parser: func(o Options) (ParseFunc, error) {
		p, ok := influx.New(o.InfluxPrecision, o.InfluxSeparator, o.InfluxBareValueField)
		if !ok {
			return nil, fmt.Errorf("influx precision %q: use ns, us, ms or s", o.InfluxPrecision)
		}
		return p.Parse, nil
	}},
	{name: "prometheus", lineBased: true, prometheus: true, parser: fixed(prometheus.Parse)},
	{name: "json", parser: fixed(jsonput.Parse)},
	{name: "remote_write", prometheus: true, parser: fixed(remotewrite.Parse)},
	{name: "otlp", prometheus: true, parser: func(o Options) (ParseFunc, error) {
		p, err := otlp.New(otlp.Options{Translation: o.OTLPTranslation, Promote: o.OTLPPromote, Encoding: o.OTLPEncoding})
		if err != nil {
			return nil, err
		}
		return p.Parse, nil
	}},
}

// Names lists the formats, as written in `input "<format>"`.
var Names = func() []string {
	out := make([]string, len(table))
	for i, f := range table {
		out[i] = f.name
	}
	return out
}()

func lookup(name string) *format {
	for i := range table {
		if table[i].name == name {
			return &table[i]
		}
	}
	return nil
}

// LineBased reports whether a format's records are independent lines, so that a record too large
// for one batch may be split at line boundaries.
func LineBased(name string) bool {
	f := lookup(name)
	return f != nil && f.lineBased
}

// PrometheusFamily reports whether a format follows Prometheus' data model (prometheus text,
// remote write, OTLP): an empty label value is no label, and NaN and ±Inf are sample values.
func PrometheusFamily(name string) bool {
	f := lookup(name)
	return f != nil && f.prometheus
}

// Options are an input's decoding settings.
type Options struct {
	// DefaultTags are added to every datapoint that lacks the key.
	DefaultTags map[string]string
	// MetricPrefix is prepended to every metric name.
	MetricPrefix string
	// Influx: timestamp precision (ns, us, ms, s), the separator of measurement and field, and
	// whether a field named "value" maps to the bare measurement.
	InfluxPrecision      string
	InfluxSeparator      string
	InfluxBareValueField bool
	// OTLP: the name translation (prometheus or keep) and the resource attributes promoted to
	// labels.
	OTLPTranslation string
	OTLPPromote     []string
	OTLPEncoding    string
}

// Decoder decodes the records of one input.
type Decoder struct {
	Format   string
	parse    ParseFunc
	prefix   []byte
	defaults []messages.Tag // sorted by key
}

// New returns the decoder for format with opts.
func New(format string, opts Options) (*Decoder, error) {
	f := lookup(format)
	if f == nil {
		return nil, fmt.Errorf("unknown format %q", format)
	}
	parse, err := f.parser(opts)
	if err != nil {
		return nil, err
	}
	d := &Decoder{Format: format, parse: parse}
	if opts.MetricPrefix != "" {
		d.prefix = []byte(opts.MetricPrefix)
	}
	for k, v := range opts.DefaultTags {
		d.defaults = append(d.defaults, messages.Tag{Key: []byte(k), Value: []byte(v)})
	}
	sort.Slice(d.defaults, func(i, j int) bool { return string(d.defaults[i].Key) < string(d.defaults[j].Key) })
	return d, nil
}

// Decode appends the datapoints of one record to dst (bad lines to dst.Bad), with the input's
// prefix and default tags applied. recordTsMs is the record's Kafka timestamp, used by formats
// whose lines may omit theirs. It allocates nothing in steady state.
func (d *Decoder) Decode(dst *messages.Rows, record []byte, recordTsMs int64) {
	start := len(dst.Points)
	d.parse(dst, record, recordTsMs)
	if d.prefix == nil && d.defaults == nil {
		return
	}
	for i := start; i < len(dst.Points); i++ {
		dp := &dst.Points[i]
		if d.prefix != nil {
			dp.Metric = dst.Append(d.prefix, dp.Metric)
		}
		if d.defaults != nil {
			d.addDefaults(dst, dp)
		}
	}
}

// addDefaults gives dp a copy of its tags plus the default tags it lacks (its own tags may be
// shared with other datapoints of the same line or series, so they are never changed in place).
func (d *Decoder) addDefaults(dst *messages.Rows, dp *messages.Datapoint) {
	missing := false
	for _, def := range d.defaults {
		if !hasKey(dp.Tags, def.Key) {
			missing = true
			break
		}
	}
	if !missing {
		return
	}
	mark := dst.TagsMark()
	for _, t := range dp.Tags {
		dst.AddTag(t.Key, t.Value)
	}
	for _, def := range d.defaults {
		if !hasKey(dp.Tags, def.Key) {
			// Copied: name mapping rewrites tag names in place, and d is shared by workers.
			dst.AddTag(dst.Append(def.Key), dst.Append(def.Value))
		}
	}
	dp.Tags = dst.TagsSince(mark)
}

func hasKey(tags []messages.Tag, k []byte) bool {
	for _, t := range tags {
		if string(t.Key) == string(k) {
			return true
		}
	}
	return false
}

// NameMapping rewrites names for an output: "keep" passes them through (VictoriaMetrics and
// Prometheus 3 accept dots), "prometheus" rewrites metric-name characters outside [a-zA-Z0-9_:]
// and label-name characters outside [a-zA-Z0-9_] to '_', and a leading digit to '_'.
type NameMapping uint8

const (
	MappingKeep NameMapping = iota
	MappingPrometheus
)

// ParseNameMapping parses a name_mapping setting.
func ParseNameMapping(s string) (NameMapping, bool) {
	switch s {
	case "keep":
		return MappingKeep, true
	case "prometheus":
		return MappingPrometheus, true
	}
	return 0, false
}

var metricOK, labelOK = func() (m, l [256]bool) {
	for c := 0; c < 256; c++ {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		l[c] = ok
		m[c] = ok || c == ':'
	}
	return m, l
}()

// Apply maps dp's metric and tag names in place. The bytes belong to the batch being processed,
// which the caller owns; mapping is idempotent, so tags shared between datapoints may be mapped
// more than once.
func (m NameMapping) Apply(dp *messages.Datapoint) {
	if m != MappingPrometheus {
		return
	}
	mapName(dp.Metric, &metricOK)
	for i := range dp.Tags {
		mapName(dp.Tags[i].Key, &labelOK)
	}
}

func mapName(b []byte, ok *[256]bool) {
	for i, c := range b {
		if !ok[c] {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		b[0] = '_'
	}
}
