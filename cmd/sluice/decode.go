package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/messages/validate"
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/relabel"
)

// maxListedInvalid is how many invalid lines `sluice decode` lists on stderr.
const maxListedInvalid = 10

// decodeCmd runs the pipeline's decoder, validation and name mapping over a file or stdin and
// prints one canonical datapoint per line: what Sluice makes of an agent's output.
func decodeCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("decode", stderr)
	format := fs.String("format", "", "input format: "+strings.Join(formats.Names, ", "))
	input := fs.String("input", "", "file to decode (default: standard input)")
	path := fs.String("config", "", "config whose validation limits, input settings, relabel rules and name_mapping apply (default: the defaults)")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if *format == "" {
		fmt.Fprintf(stderr, "sluice decode: -format is required (%s)\n", strings.Join(formats.Names, ", "))
		return exitError
	}
	cfg, opts, mapping, ok := decodeSettings(*path, *format, stderr)
	if !ok {
		return exitError
	}
	var rules *relabel.Rules
	allowNonFinite := cfg.Validation.AllowNonFinite
	if formats.PrometheusFamily(*format) {
		allowNonFinite = true // the input's default, without a config
	}
	for _, in := range cfg.Inputs {
		if in.Format == *format && *path != "" {
			allowNonFinite = cfg.Validation.AllowNonFinite
			if in.AllowNonFinite != nil {
				allowNonFinite = *in.AllowNonFinite
			}
			var err error
			if rules, err = relabel.NewRules(config.RelabelSpecs(in.Relabel)); err != nil {
				fmt.Fprintf(stderr, "sluice decode: %v\n", err) // validation compiled them already
				return exitError
			}
		}
	}
	dec, err := formats.New(*format, opts)
	if err != nil {
		fmt.Fprintf(stderr, "sluice decode: %v\n", err)
		return exitError
	}
	var data []byte
	if *input == "" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(*input)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice decode: reading input: %v\n", err)
		return exitError
	}

	v := cfg.Validation
	validator := validate.New(validate.Limits{MaxMetricLength: v.MaxMetricLength, MaxTagKeyLength: v.MaxTagKeyLength,
		MaxTagValueLength: v.MaxTagValueLength, MaxTags: v.MaxTags, MaxAge: v.MaxAge, MaxFuture: v.MaxFuture,
		AllowNonFinite: v.AllowNonFinite})
	now := time.Now().UnixMilli()
	var rows messages.Rows
	dec.Decode(&rows, data, now)

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var invalid []string
	var line []byte
	good := 0
	var rb relabel.Builder
	for i := range rows.Points {
		dp := &rows.Points[i]
		if rules.Len() > 0 {
			rb.Reset(dp.Metric, dp.Tags)
			if !rb.Process(rules) {
				invalid = append(invalid, "relabel: "+string(appendCanonical(line[:0], dp)))
				continue
			}
			metric, tags := relabel.Split(rb.Labels(), nil)
			dp.Metric, dp.Tags = bytes.Clone(metric), cloneTags(tags)
		}
		reason, ok := validator.CheckSeries(dp)
		if ok {
			reason, ok = validator.CheckSampleAllowing(dp.Timestamp, dp.Value, now, allowNonFinite)
		}
		if !ok {
			invalid = append(invalid, reason.String()+": "+string(appendCanonical(line[:0], dp)))
			continue
		}
		mapping.Apply(dp)
		line = appendCanonical(line[:0], dp)
		line = appendExtra(line, rows.ExtraOf(dp))
		line = append(line, '\n')
		out.Write(line)
		good++
	}
	lineBased := formats.LineBased(*format)
	for _, b := range rows.Bad {
		where := "record"
		if n := lineNumber(data, b.Line); lineBased && n > 0 {
			where = "line " + strconv.Itoa(n)
		}
		invalid = append(invalid, fmt.Sprintf("%s: %s (%s): %s", where, b.Reason, b.Detail, messages.Excerpt(b.Line, 200)))
	}
	out.Flush()
	for i, s := range invalid {
		if i == maxListedInvalid {
			fmt.Fprintf(stderr, "... and %d more invalid\n", len(invalid)-maxListedInvalid)
			break
		}
		fmt.Fprintf(stderr, "invalid: %s\n", s)
	}
	fmt.Fprintf(stderr, "decoded %d datapoints, %d invalid\n", good, len(invalid))
	if good == 0 {
		return exitError // nothing valid was read: a script must not take that for success
	}
	return exitOK
}

// lineNumber is the 1-based line of data on which part (a slice of data, as the parsers make
// their bad lines) starts; 0 when part is not inside data.
func lineNumber(data, part []byte) int {
	if len(part) == 0 || len(data) == 0 {
		return 0
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(part))) - uintptr(unsafe.Pointer(unsafe.SliceData(data))))
	if off < 0 || off >= len(data) {
		return 0
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// decodeSettings takes limits, the format's input settings and the name mapping from the config
// when one is given, and the defaults otherwise.
func decodeSettings(path, format string, stderr io.Writer) (*config.Config, formats.Options, formats.NameMapping, bool) {
	opts := formats.Options{InfluxPrecision: "ns", InfluxSeparator: "_"}
	if path == "" {
		cfg, err := config.Load("defaults", []byte(`
input "opentsdb" { topics = ["x"] }
output "kafka" "x" { topic = "x" }`))
		if err != nil {
			fmt.Fprintf(stderr, "sluice decode: %v\n", err)
			return nil, opts, 0, false
		}
		return cfg, opts, formats.MappingKeep, true
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return nil, opts, 0, false
	}
	for _, in := range cfg.Inputs {
		if in.Format == format {
			opts = in.FormatOptions()
		}
	}
	return cfg, opts, cfg.Outputs[0].NameMapping, true
}

// appendExtra appends what a datapoint carries beyond its sample: ` # histogram {…}` for a native
// histogram (its value is then meaningless), ` # type=gauge unit=bytes help="…"` for metadata.
func appendExtra(b []byte, x *messages.PointExtra) []byte {
	if x == nil {
		return b
	}
	if x.Histogram != nil {
		b = append(b, " # histogram "...)
		var ok bool
		if b, ok = remotewrite.AppendHistogramText(b, x.Histogram); !ok {
			b = strconv.AppendInt(append(b, "(unreadable, bytes: "...), int64(len(x.Histogram)), 10)
			b = append(b, ')')
		}
	}
	if x.HasMetadata() {
		b = append(b, " # type="...)
		b = append(b, metricTypeNames[x.Type]...)
		if len(x.Unit) > 0 {
			b = append(append(b, " unit="...), x.Unit...)
		}
		if len(x.Help) > 0 {
			b = strconv.AppendQuote(append(b, " help="...), string(x.Help))
		}
	}
	return b
}

var metricTypeNames = [...]string{messages.TypeUnknown: "unknown", messages.TypeCounter: "counter", messages.TypeGauge: "gauge",
	messages.TypeHistogram: "histogram", messages.TypeGaugeHistogram: "gaugehistogram", messages.TypeSummary: "summary",
	messages.TypeInfo: "info", messages.TypeStateset: "stateset"}

// appendCanonical appends dp as `metric{a="1",b="2"} value timestampMs` (tags sorted by key, values
// quoted with strconv.Quote, no braces without tags).
func appendCanonical(b []byte, dp *messages.Datapoint) []byte {
	b = appendValue(append(appendCanonicalSeries(b, dp), ' '), dp.Value)
	b = append(b, ' ')
	return strconv.AppendInt(b, dp.Timestamp, 10)
}

// appendValue appends v as strconv formats it, but a NaN other than Go's (and Prometheus') usual
// one with its bits: Prometheus' staleness marker is NaN(0x7ff0000000000002).
func appendValue(b []byte, v float64) []byte {
	if bits := math.Float64bits(v); math.IsNaN(v) && bits != math.Float64bits(math.NaN()) {
		return fmt.Appendf(b, "NaN(%#x)", bits)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendCanonicalSeries appends dp's series as `metric{a="1",b="2"}`, tags in their order.
func appendCanonicalSeries(b []byte, dp *messages.Datapoint) []byte {
	b = append(b, dp.Metric...)
	if len(dp.Tags) > 0 {
		b = append(b, '{')
		for i, t := range dp.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, t.Key...)
			b = append(b, '=')
			b = strconv.AppendQuote(b, string(t.Value))
		}
		b = append(b, '}')
	}
	return b
}

// cloneTags copies tags and their bytes.
func cloneTags(tags []messages.Tag) []messages.Tag {
	out := make([]messages.Tag, len(tags))
	for i, t := range tags {
		out[i] = messages.Tag{Key: bytes.Clone(t.Key), Value: bytes.Clone(t.Value)}
	}
	return out
}
