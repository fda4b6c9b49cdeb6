// Package aggregate is streaming aggregation's arithmetic, as vmagent's stream aggregation
// defines it: an aggregate's shape (interval, by or without, outputs), the names and labels of
// its output series, one window's accumulators (Window), and one aggregation-topic partition's
// windows closed at a watermark, with each series' counter state and the checkpoint from which
// a restart replays them exactly (Partition). It knows nothing of Kafka or actors: the pipeline
// runs it (actors/aggregation.go), and docs/aggregation.md says how across a fleet.
package aggregate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Label is one label of a series. The metric name is the label __name__.
type Label struct{ Name, Value string }

// The outputs computed so far, by their names in an aggregate's outputs list.
const (
	SumSamples   = "sum_samples"
	CountSamples = "count_samples"
	CountSeries  = "count_series"
	Min          = "min"
	Max          = "max"
	Avg          = "avg"
	Last         = "last"
	// Increase is the counter increase of the window's input series, summed: resets count the
	// new value, an out-of-order sample is skipped. It needs each series' previous sample, which
	// a Partition keeps (a Window alone counts none).
	Increase = "increase"
	// Total is Increase summed over the windows: a counter of the output series that never
	// resets while the output series lives (it ends after the staleness interval without samples).
	Total = "total"
	// RateSum and RateAvg are the per-second rates of the window's input series (their increase
	// from their previous sample to their last in the window), summed or averaged.
	RateSum = "rate_sum"
	RateAvg = "rate_avg"
	// HistogramBucket counts the window's samples in VictoriaMetrics' vmrange buckets: one output
	// series per non-empty bucket, labelled vmrange.
	HistogramBucket = "histogram_bucket"
	// Quantiles, written quantiles(φ, ...), estimates the window's sample quantiles as vmagent
	// does (valyala/histogram: exact up to 1,000 samples, then a deterministic reservoir): one
	// output series per φ, labelled quantile, named _quantiles.
	Quantiles = "quantiles"
)

// Outputs are the output names a Spec accepts, in the order they are documented.
var Outputs = []string{SumSamples, CountSamples, CountSeries, Min, Max, Avg, Last, Increase, Total, RateSum, RateAvg,
	HistogramBucket, "quantiles(φ, ...)"}

// WindowOutputs are the outputs a Window computes alone, from its own samples.
var WindowOutputs = []string{SumSamples, CountSamples, CountSeries, Min, Max, Avg, Last, HistogramBucket}

// planned are vmagent's other outputs, which the design covers and this package does not compute
// yet: a Spec naming one is refused with that said, not silently ignored.
var planned = []string{"total_prometheus", "increase_prometheus", "stddev", "stdvar", "unique_samples"}

// Spec is one aggregate's shape.
type Spec struct {
	Interval time.Duration
	// IntervalText is the interval as written ("1m"), which output names carry as vmagent's do.
	IntervalText string
	// By and Without are sorted, without duplicates and without __name__; at most one is set.
	By, Without []string
	Outputs     []string
	// Phis are the quantiles(...) output's, in the order written.
	Phis   []float64
	suffix string
}

// NewSpec checks an aggregate's settings as vmagent does and returns its shape.
func NewSpec(interval string, by, without, outputs []string) (*Spec, error) {
	d, err := time.ParseDuration(interval)
	if err != nil {
		return nil, fmt.Errorf("interval %q: %w", interval, err)
	}
	if d < time.Second || d%time.Second != 0 {
		return nil, fmt.Errorf("interval %q must be a whole number of seconds, at least 1s", interval)
	}
	if len(by) > 0 && len(without) > 0 {
		return nil, fmt.Errorf("by and without cannot both be set")
	}
	if len(outputs) == 0 {
		return nil, fmt.Errorf("outputs is empty: use some of %s", strings.Join(Outputs, ", "))
	}
	seen := map[string]bool{}
	var phis []float64
	for _, o := range outputs {
		name := o
		if strings.HasPrefix(o, Quantiles+"(") {
			name = Quantiles
			if phis, err = parsePhis(o); err != nil {
				return nil, err
			}
		}
		switch {
		case seen[name]:
			return nil, fmt.Errorf("output %q is listed twice (one quantiles(...) takes several φ)", name)
		case slices.Contains(Outputs, name) || name == Quantiles:
		case slices.Contains(planned, name):
			return nil, fmt.Errorf("output %q is not computed yet: use some of %s", o, strings.Join(Outputs, ", "))
		default:
			return nil, fmt.Errorf("unknown output %q: use some of %s", o, strings.Join(Outputs, ", "))
		}
		seen[name] = true
	}
	s := &Spec{Interval: d, IntervalText: interval, By: normalize(by), Without: normalize(without), Outputs: slices.Clone(outputs), Phis: phis}
	s.suffix = ":" + interval
	if len(s.By) > 0 {
		s.suffix += "_by_" + strings.Join(s.By, "_")
	}
	if len(s.Without) > 0 {
		s.suffix += "_without_" + strings.Join(s.Without, "_")
	}
	s.suffix += "_"
	return s, nil
}

// parsePhis reads quantiles(φ, ...): at least one φ, each in [0, 1].
func parsePhis(o string) ([]float64, error) {
	args, ok := strings.CutSuffix(strings.TrimPrefix(o, Quantiles+"("), ")")
	if !ok {
		return nil, fmt.Errorf("%q: a closing parenthesis is missing", o)
	}
	var phis []float64
	for a := range strings.SplitSeq(args, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		phi, err := strconv.ParseFloat(a, 64)
		if err != nil || phi < 0 || phi > 1 || math.IsNaN(phi) {
			return nil, fmt.Errorf("%q: φ %q must be a number in [0, 1]", o, a)
		}
		phis = append(phis, phi)
	}
	if len(phis) == 0 {
		return nil, fmt.Errorf("%q: give at least one φ, such as quantiles(0.5, 0.99)", o)
	}
	return phis, nil
}

// normalize sorts labels, drops duplicates and __name__.
func normalize(labels []string) []string {
	out := slices.DeleteFunc(slices.Clone(labels), func(l string) bool { return l == "__name__" })
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// Name is the output series' metric name for output of metric:
// <metric>:<interval>[_by_<labels>][_without_<labels>]_<output>.
func (s *Spec) Name(metric, output string) string { return metric + s.suffix + output }

// Group returns the labels an input series' output series keeps, __name__ aside: the by labels
// it has, or all but the without labels, or (with neither) all of them; sorted by name.
func (s *Spec) Group(input []Label) []Label {
	out := make([]Label, 0, len(input))
	for _, l := range input {
		if l.Name != "__name__" && s.Keeps(l.Name) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Keeps reports whether an output series keeps the label name (not __name__): one of by, or
// not one of without, or any with neither.
func (s *Spec) Keeps(name string) bool {
	switch {
	case len(s.By) > 0:
		return slices.Contains(s.By, name)
	case len(s.Without) > 0:
		return !slices.Contains(s.Without, name)
	}
	return true
}

// metricOf is input's __name__.
func metricOf(input []Label) string {
	for _, l := range input {
		if l.Name == "__name__" {
			return l.Value
		}
	}
	return ""
}
