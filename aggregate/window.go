package aggregate

import (
	"hash/fnv"
	"math"
	"slices"
	"strings"
)

// Window accumulates one window of one aggregate: each output series' values over the samples
// added, then Flush emits them. A sample repeated exactly (same input series and timestamp, as an
// at-least-once redelivery repeats it) is taken once; samples out of order but distinct count, as
// vmagent counts them.
type Window struct {
	spec   *Spec
	series map[string]*acc
	order  []string // output series keys in the order they appeared
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
	hasLast  bool
	increase float64
	inputs   map[uint64]struct{} // input series seen (count_series)
	samples  map[uint64]struct{} // (input series, timestamp) taken
}

// NewWindow returns an empty window of spec.
func NewWindow(spec *Spec) *Window {
	return &Window{spec: spec, series: map[string]*acc{}}
}

// Add takes one sample of the input series (its labels, __name__ included) at ts (ms).
func (w *Window) Add(input []Label, ts int64, value float64) {
	w.add(input, inputHash(input), ts, value, 0)
}

// add is Add with the input series' hash and the counter increase the sample brings (a
// Partition's, from the series' previous sample).
func (w *Window) add(input []Label, in uint64, ts int64, value, increase float64) {
	metric := metricOf(input)
	grouped := w.spec.Group(input)
	key := outputKey(metric, grouped)
	a := w.series[key]
	if a == nil {
		a = &acc{metric: metric, labels: grouped, min: math.Inf(1), max: math.Inf(-1),
			inputs: map[uint64]struct{}{}, samples: map[uint64]struct{}{}}
		w.series[key] = a
		w.order = append(w.order, key)
	}
	a.inputs[in] = struct{}{}
	a.increase += increase // 0 for a repeat: the series' state saw it already
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
}

// Series is the number of output series the window holds.
func (w *Window) Series() int { return len(w.series) }

// Flush emits each output series' value of each of the spec's outputs, output series in the order
// they first appeared, outputs in the spec's order, and empties the window.
func (w *Window) Flush(emit func(name string, labels []Label, value float64)) {
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
			}
			emit(w.spec.Name(a.metric, o), a.labels, v)
		}
	}
	clear(w.series)
	w.order = w.order[:0]
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

// inputHash identifies an input series by all its labels, in any order.
func inputHash(input []Label) uint64 {
	sorted := slices.Clone(input)
	slices.SortFunc(sorted, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	h := fnv.New64a()
	for _, l := range sorted {
		h.Write([]byte(l.Name))
		h.Write([]byte{0xff})
		h.Write([]byte(l.Value))
		h.Write([]byte{0xfe})
	}
	return h.Sum64()
}
