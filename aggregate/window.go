package aggregate

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
	"github.com/valyala/histogram"
)

// Window accumulates one window of one aggregate: each output series' values over the samples
// added, then Flush emits them. A sample repeated exactly (same input series and timestamp, as an
// at-least-once redelivery repeats it) is taken once; samples out of order but distinct count, as
// vmagent counts them.
type Window struct {
	spec               *Spec
	series             map[string]*acc
	order              []string // output series keys in the order they appeared
	quantiles, buckets bool     // whether the spec has those outputs
	free               []*acc   // accumulators of flushed series, to reuse
}

// acc is one output series' accumulators.
type acc struct {
	metric   string
	labels   []Label
	sum      float64
	count    int64
	min, max float64
	last     float64
	lastTs   int64
	firstTs  int64 // the oldest sample's timestamp
	hasLast  bool
	increase float64
	inputs   map[uint64]struct{}   // input series seen (count_series)
	samples  map[uint64]struct{}   // (input series, timestamp) taken
	rates    map[uint64]seriesRate // per input series, for rate_sum and rate_avg
	quantile *histogram.Fast       // quantiles: the samples, or a reservoir of them
	buckets  *metrics.Histogram    // histogram_bucket
}

// seriesRate is one input series' counter increase within the window, between its previous
// sample (prevTs: before the window, or its own first sample when it is new) and its last.
type seriesRate struct {
	increase       float64
	prevTs, lastTs int64
}

// counterSample is what a Partition's series state says of a sample: the increase it brings
// (counted from 0 for a new series, when it counts), the increase it brings to a rate (none for a
// new series), the timestamp of the series' previous sample (its own for a new series), and
// whether it is in order at all.
type counterSample struct {
	increase, rateIncrease float64
	prevTs                 int64
	inOrder                bool
}

// seriesInfo is what an input series is to an aggregate, computed once per series: its output
// series' metric, labels and key.
type seriesInfo struct {
	metric string
	labels []Label
	key    string
}

// newSeriesInfo computes input's output series under spec.
func newSeriesInfo(spec *Spec, input []Label) *seriesInfo {
	// The caller's strings may point into storage it reuses (stage B's decoded rows): keep copies.
	input = slices.Clone(input)
	for i := range input {
		input[i] = Label{Name: strings.Clone(input[i].Name), Value: strings.Clone(input[i].Value)}
	}
	metric := metricOf(input)
	grouped := spec.Group(input)
	return &seriesInfo{metric: metric, labels: grouped, key: outputKey(metric, grouped)}
}

// NewWindow returns an empty window of spec.
func NewWindow(spec *Spec) *Window {
	return &Window{spec: spec, series: map[string]*acc{}, quantiles: spec.Phis != nil,
		buckets: slices.Contains(spec.Outputs, HistogramBucket)}
}

// Add takes one sample of the input series (its labels, __name__ included) at ts (ms). The
// counter outputs need each series' previous samples, which only a Partition keeps: a Window
// alone counts none.
func (w *Window) Add(input []Label, ts int64, value float64) {
	w.add(newSeriesInfo(w.spec, input), inputHash(input), ts, value, counterSample{})
}

// add is Add with the input series' output series, its hash and what its counter state says of
// the sample. In steady state it allocates nothing: output series' accumulators and their sets
// are reused from window to window.
func (w *Window) add(info *seriesInfo, in uint64, ts int64, value float64, c counterSample) {
	a := w.series[info.key]
	if a == nil {
		a = w.newAcc(info, ts)
		w.series[info.key] = a
		w.order = append(w.order, info.key)
	}
	a.inputs[in] = struct{}{}
	a.firstTs = min(a.firstTs, ts)
	if c.inOrder {
		a.increase += c.increase // 0 for a repeat: the series' state saw it already
		r, ok := a.rates[in]
		if !ok {
			r = seriesRate{prevTs: c.prevTs}
		}
		r.increase += c.rateIncrease
		r.lastTs = ts
		a.rates[in] = r
	}
	// min, max and last do not change when a sample repeats; the sums and counts must not.
	a.min, a.max = min(a.min, value), max(a.max, value)
	if !a.hasLast || ts >= a.lastTs {
		a.last, a.lastTs, a.hasLast = value, ts, true
	}
	sample := in ^ (uint64(ts) * 0x9E3779B97F4A7C15)
	if _, dup := a.samples[sample]; dup {
		return
	}
	a.samples[sample] = struct{}{}
	a.sum += value
	a.count++
	if w.quantiles {
		a.quantile.Update(value)
	}
	if w.buckets {
		a.buckets.Update(value)
	}
}

// newAcc returns an empty accumulator for info's output series, reused from a closed window's
// when there is one.
func (w *Window) newAcc(info *seriesInfo, ts int64) *acc {
	var a *acc
	if n := len(w.free); n > 0 {
		a = w.free[n-1]
		w.free = w.free[:n-1]
	} else {
		a = &acc{inputs: map[uint64]struct{}{}, samples: map[uint64]struct{}{}, rates: map[uint64]seriesRate{}}
		if w.quantiles {
			a.quantile = histogram.NewFast()
		}
		if w.buckets {
			a.buckets = &metrics.Histogram{}
		}
	}
	inputs, samples, rates, q, b := a.inputs, a.samples, a.rates, a.quantile, a.buckets
	clear(inputs)
	clear(samples)
	clear(rates)
	if q != nil {
		q.Reset()
	}
	if b != nil {
		b.Reset()
	}
	*a = acc{metric: info.metric, labels: info.labels, min: math.Inf(1), max: math.Inf(-1), firstTs: ts,
		inputs: inputs, samples: samples, rates: rates, quantile: q, buckets: b}
	return a
}

// Series is the number of output series the window holds.
func (w *Window) Series() int { return len(w.series) }

// Flush emits each output series' value of each of the spec's outputs, output series in the order
// they first appeared, outputs in the spec's order, and empties the window.
func (w *Window) Flush(emit func(name string, labels []Label, value float64)) {
	w.flush(func(_ string, a *acc, name string, v float64) { emit(name, a.labels, v) }, nil, nil)
}

// flush emits as Flush does, with each output series' key; total adds the window's increase to
// the output series' running total and returns it (nil: the window's increase alone); buckets,
// likewise, adds the window's histogram to the output series' running one and visits its
// non-zero buckets (nil: the window's own), as vmagent's histogram_bucket counts from the
// series' start.
func (w *Window) flush(emit func(key string, a *acc, name string, v float64), total func(key string, a *acc) float64,
	buckets func(key string, a *acc, visit func(vmrange string, n uint64))) {
	for _, key := range w.order {
		a := w.series[key]
		for _, o := range w.spec.Outputs {
			var v float64
			switch o {
			case SumSamples:
				v = a.sum
			case CountSamples:
				v = float64(a.count)
			case CountSeries:
				v = float64(len(a.inputs))
			case Min:
				v = a.min
			case Max:
				v = a.max
			case Avg:
				v = a.sum / float64(a.count)
			case Last:
				v = a.last
			case Increase:
				v = a.increase
			case Total:
				v = a.increase
				if total != nil {
					v = total(key, a)
				}
			case RateSum, RateAvg:
				// Per input series: its increase over the time from its previous sample to its
				// last; series without such a span do not count, and with none the output is
				// not emitted (vmagent's). Summed in the order of the series' hashes, so that a
				// replay sums in the same order and emits the identical value.
				rate, n := 0.0, 0
				for _, in := range slices.Sorted(maps.Keys(a.rates)) {
					r := a.rates[in]
					if d := float64(r.lastTs-r.prevTs) / 1000; d > 0 {
						rate += r.increase / d
						n++
					}
				}
				if n == 0 {
					continue
				}
				if o == RateAvg {
					rate /= float64(n)
				}
				v = rate
			case HistogramBucket:
				visit := func(vmrange string, n uint64) {
					emit(key, a.with("vmrange", vmrange), w.spec.Name(a.metric, o), float64(n))
				}
				if buckets != nil {
					buckets(key, a, visit)
				} else {
					a.buckets.VisitNonZeroBuckets(visit)
				}
				continue
			default: // quantiles(...)
				for i, q := range a.quantile.Quantiles(nil, w.spec.Phis) {
					emit(key, a.with("quantile", strconv.FormatFloat(w.spec.Phis[i], 'g', -1, 64)), w.spec.Name(a.metric, Quantiles), q)
				}
				continue
			}
			emit(key, a, w.spec.Name(a.metric, o), v)
		}
	}
	for _, key := range w.order {
		w.free = append(w.free, w.series[key])
	}
	clear(w.series)
	w.order = w.order[:0]
}

// with is a copy of a whose labels have one more, as the outputs with a label of their own
// (histogram_bucket's vmrange, quantiles' quantile) emit them; sorted by name.
func (a *acc) with(name, value string) *acc {
	b := &acc{metric: a.metric, labels: append(slices.Clone(a.labels), Label{name, value})}
	slices.SortFunc(b.labels, func(x, y Label) int { return strings.Compare(x.Name, y.Name) })
	return b
}

// outputKey identifies an output series: its metric and grouped labels.
func outputKey(metric string, labels []Label) string {
	var b strings.Builder
	b.WriteString(metric)
	for _, l := range labels {
		b.WriteByte(0xff)
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
	}
	return b.String()
}

// inputHash identifies an input series by all its labels, in any order: the sum of each label's
// xxhash, without allocating.
func inputHash(input []Label) uint64 {
	// A sum of the labels' hashes, so that the labels' order does not matter; each label's is its
	// name's and value's hashes mixed apart (a name and a value swapped hash differently).
	var sum uint64
	for _, l := range input {
		h := xxhash.Sum64String(l.Name)*0x9e3779b97f4a7c15 ^ xxhash.Sum64String(l.Value)
		sum += (h ^ h>>29) * 0xbf58476d1ce4e5b9
	}
	return sum
}
