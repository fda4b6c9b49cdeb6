package aggregate

import (
	"maps"
	"slices"
)

// Partition aggregates the samples of one aggregation-topic partition, read in offset order, for
// one aggregate: windows aligned to the clock by datapoint timestamp, closed at a watermark (the
// newest timestamp seen minus the lateness), each emitted once with its end as timestamp.
//
// A restart reproduces it exactly from a checkpoint: the offset to commit (the earliest sample
// still needed) and the state to commit with it (the watermark and the partition's first
// timestamp in the offset commit's metadata, the running totals in a compacted topic). Every
// window open then stays open under that watermark, and every window it closes was emitted
// before. So NewPartition from the checkpoint, fed the records from its offset, closes the same
// windows over the same samples and does not emit again what was closed before it. The caller
// commits a checkpoint only once what was emitted up to it is acknowledged.
// docs/aggregation.md has the protocol around it.
type Partition struct {
	spec      *Spec
	interval  int64 // ms
	lateness  int64 // ms
	staleness int64 // ms: a series silent this long (in datapoint time) starts afresh
	maxTs     int64 // the newest datapoint or tick timestamp taken (ms)
	since     int64 // the first timestamp the partition ever took (ms)
	open      map[int64]*openWindow
	series    map[uint64]*seriesState
	totals    map[string]*TotalState // by output series key, when the spec has Total
	windows   []*openWindow          // closed windows, to reuse
	hasTotal  bool
	hasHist   bool // histogram_bucket: running buckets, kept in totals too
	// MaxSeries, when above 0, bounds the output series of one window: a sample of another is
	// dropped and counted in Dropped.
	MaxSeries int
	Dropped   int64
	// Late counts samples for windows already closed (after a restart, also the replayed samples of
	// windows closed before it).
	Late int64
}

// openWindow is a window not closed yet, with the offset of its first sample and the earliest
// previous sample (of a series it has) that its increases were computed from.
type openWindow struct {
	w     *Window
	first int64
	need  int64
	in    map[uint64]struct{} // input series it has
}

// seriesState is an input series' last sample taken, for the counter outputs, and its output
// series (computed once).
type seriesState struct {
	value      float64
	ts, offset int64
	known      bool // a sample was taken (not a state just made)
	info       *seriesInfo
}

// TotalState is one output series' running total: its value after the windows closed so far,
// when it last had a sample, and its name and labels, to emit it in windows without samples.
type TotalState struct {
	Value  float64
	LastTs int64
	Metric string
	Labels []Label
	// Buckets are histogram_bucket's running counts by vmrange (nil without that output).
	Buckets map[string]uint64
}

// Checkpoint is what to commit: replaying from Offset with the watermark state MaxTs, Since (the
// partition's first timestamp) and the running totals rebuilds every open window exactly.
type Checkpoint struct {
	Offset int64
	MaxTs  int64
	Since  int64
	Totals map[string]TotalState
}

// Emit receives one output series' value of a closed window ending at end (ms).
type Emit func(end int64, name string, labels []Label, value float64)

// noTimestamp is the watermark before any sample.
const noTimestamp = -1 << 62

// NoCheckpoint is Checkpoint.MaxTs of a partition that has none: no sample seen.
const NoCheckpoint = noTimestamp

// NewPartition starts from a checkpoint (Checkpoint{Offset: first offset, MaxTs: NoCheckpoint}
// for a partition never committed).
func NewPartition(spec *Spec, lateness int64, from Checkpoint) *Partition {
	since := from.Since
	if from.MaxTs == NoCheckpoint {
		since = noTimestamp
	}
	p := &Partition{spec: spec, interval: spec.Interval.Milliseconds(), lateness: lateness,
		staleness: 2 * spec.Interval.Milliseconds(), maxTs: from.MaxTs, since: since,
		open: map[int64]*openWindow{}, series: map[uint64]*seriesState{}, totals: map[string]*TotalState{},
		hasTotal: slices.Contains(spec.Outputs, Total), hasHist: slices.Contains(spec.Outputs, HistogramBucket)}
	// Keyed again from what they hold: the checkpoint's keys went through Kafka.
	for _, t := range from.Totals {
		p.totals[outputKey(t.Metric, t.Labels)] = t.clone()
	}
	return p
}

// closed is the end of the newest closed window: every window ending at or before the watermark.
func (p *Partition) closed() int64 {
	if p.maxTs == noTimestamp {
		return noTimestamp
	}
	wm := p.maxTs - p.lateness
	return wm - mod(wm, p.interval)
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// Add takes the sample at offset; a sample of a window already closed is counted in Late (it
// still moves its series' counter state, in the log's order, so that a replay does the same).
// Windows the sample's timestamp closes are emitted.
func (p *Partition) Add(offset int64, input []Label, ts int64, value float64, emit Emit) {
	if p.since == noTimestamp {
		p.since = ts
	}
	in := inputHash(input)
	st := p.series[in]
	if st == nil {
		st = &seriesState{info: newSeriesInfo(p.spec, input)}
		p.series[in] = st
	}
	c, decidedBy := p.counter(st, offset, ts, value)
	end := ts - mod(ts, p.interval) + p.interval
	if end <= p.closed() {
		p.Late++
		p.advance(ts, emit)
		return
	}
	ow := p.open[end]
	if ow == nil {
		ow = p.newWindow(offset)
		p.open[end] = ow
	}
	if p.MaxSeries > 0 && ow.w.series[st.info.key] == nil && len(ow.w.series) >= p.MaxSeries {
		// A window holds at most MaxSeries output series; a replay rebuilds the window and
		// makes the same decision.
		p.Dropped++
		p.advance(ts, emit)
		return
	}
	if _, ok := ow.in[in]; !ok {
		// The series' first sample in this window: what it brings was decided by an earlier
		// sample, which a replay must read again.
		ow.in[in] = struct{}{}
		if decidedBy >= 0 {
			ow.need = min(ow.need, decidedBy)
		}
	}
	ow.w.add(st.info, in, ts, value, c)
	p.advance(ts, emit)
}

// counter takes the sample into its series' counter state and returns what it brings and the
// offset of the sample that decided it (the previous one, or the newer one that makes it out of
// order; -1: none). As vmagent's counter outputs: a reset counts the new value; an out-of-order
// sample is skipped; a series new or silent for the staleness interval counts its whole value as
// an increase from 0 (not as a rate: its own sample starts its span), except within the
// staleness interval after the partition's first sample ever, when its previous values are
// unknown (vmagent ignores the first samples after a start the same way).
func (p *Partition) counter(st *seriesState, offset, ts int64, value float64) (counterSample, int64) {
	switch {
	case !st.known || ts-st.ts > p.staleness:
		st.value, st.ts, st.offset, st.known = value, ts, offset, true
		c := counterSample{prevTs: ts, inOrder: true}
		if ts >= p.since+p.staleness {
			c.increase = value
		}
		return c, -1
	case ts < st.ts:
		// Skipped because of a newer sample, which a replay must read again to skip it too.
		return counterSample{}, st.offset
	}
	decidedBy := st.offset
	increase := value
	if value >= st.value {
		increase = value - st.value
	}
	c := counterSample{increase: increase, rateIncrease: increase, prevTs: st.ts, inOrder: true}
	st.value, st.ts, st.offset = value, ts, offset
	return c, decidedBy
}

// newWindow returns an empty open window whose first sample is at offset, reused from a closed
// one when there is one.
func (p *Partition) newWindow(offset int64) *openWindow {
	if n := len(p.windows); n > 0 {
		ow := p.windows[n-1]
		p.windows = p.windows[:n-1]
		clear(ow.in)
		ow.first, ow.need = offset, offset
		return ow
	}
	return &openWindow{w: NewWindow(p.spec), first: offset, need: offset, in: map[uint64]struct{}{}}
}

// Tick advances the watermark as a sample at ts would, without a sample: the records stage A
// writes into every partition so that an idle partition's windows close, in the log, so that a
// replay closes them at the same place.
func (p *Partition) Tick(ts int64, emit Emit) { p.advance(ts, emit) }

func (p *Partition) advance(ts int64, emit Emit) {
	if ts <= p.maxTs {
		return
	}
	before := p.closed()
	p.maxTs = ts
	closed := p.closed()
	// Every window end in (before, closed], ascending: those of open windows and, while running
	// totals live, every interval's end (a total is emitted at each, samples or not, as vmagent
	// emits it at every flush).
	next := before + p.interval
	for {
		if len(p.totals) == 0 || before == noTimestamp {
			next = p.nextOpen(next)
		}
		if next > closed {
			break
		}
		p.closeAt(next, emit)
		next += p.interval
	}
	// A series silent past the staleness interval starts afresh: its state goes once any sample
	// it could still be compared with would be late anyway (so that a replay, which starts with a
	// higher watermark and drops states sooner, computes the same increases for open windows).
	// Looked for once a window closes, not at every sample.
	if closed == before {
		return
	}
	for in, st := range p.series {
		if p.maxTs-st.ts > p.staleness+p.lateness+p.interval {
			delete(p.series, in)
		}
	}
}

// nextOpen is the end of the oldest open window ending at or after from (past every end: none).
func (p *Partition) nextOpen(from int64) int64 {
	next := int64(1<<63 - 1)
	for end := range p.open {
		if end >= from {
			next = min(next, end)
		}
	}
	return next
}

// closeAt closes the window ending at end: emits its series, and the running totals of the
// output series without samples in it, dropping those silent past the staleness interval.
func (p *Partition) closeAt(end int64, emit Emit) {
	emitted := map[string]bool{}
	if ow := p.open[end]; ow != nil {
		delete(p.open, end)
		ow.w.flush(func(key string, a *acc, name string, v float64) {
			emitted[key] = true
			emit(end, name, a.labels, v)
		}, func(key string, a *acc) float64 { return p.addTotal(key, a) }, p.addBuckets)
		p.windows = append(p.windows, ow)
	}
	if !p.hasTotal && !p.hasHist {
		return
	}
	for _, key := range slices.Sorted(maps.Keys(p.totals)) {
		t := p.totals[key]
		switch {
		case emitted[key]:
		case end-t.LastTs > p.staleness:
			delete(p.totals, key)
		default:
			if p.hasTotal {
				emit(end, p.spec.Name(t.Metric, Total), t.Labels, t.Value)
			}
			if p.hasHist {
				a := &acc{metric: t.Metric, labels: t.Labels}
				t.visit(func(vmrange string, n uint64) {
					emit(end, p.spec.Name(t.Metric, HistogramBucket), a.with("vmrange", vmrange).labels, float64(n))
				})
			}
		}
	}
}

// addTotal adds a closing window's increase to its output series' running total and returns it.
// A total whose output series was silent for the staleness interval before this window's first
// sample starts again from 0.
func (p *Partition) addTotal(key string, a *acc) float64 {
	t := p.running(key, a)
	t.Value += a.increase
	return t.Value
}

// addBuckets adds a closing window's histogram to its output series' running buckets and visits
// them (in vmrange order, so that a replay emits in the same order).
func (p *Partition) addBuckets(key string, a *acc, visit func(vmrange string, n uint64)) {
	t := p.running(key, a)
	if t.Buckets == nil {
		t.Buckets = map[string]uint64{}
	}
	a.buckets.VisitNonZeroBuckets(func(vmrange string, n uint64) { t.Buckets[vmrange] += n })
	t.visit(visit)
}

// running is the running state of a closing window's output series, started afresh when the
// series was silent for the staleness interval before the window's first sample.
func (p *Partition) running(key string, a *acc) *TotalState {
	t := p.totals[key]
	if t != nil && a.firstTs-t.LastTs > p.staleness {
		t = nil
	}
	if t == nil {
		t = &TotalState{Metric: a.metric, Labels: a.labels}
		p.totals[key] = t
	}
	t.LastTs = max(t.LastTs, a.lastTs)
	return t
}

// visit calls fn for each running bucket, in vmrange order.
func (t *TotalState) visit(fn func(vmrange string, n uint64)) {
	for _, vr := range slices.Sorted(maps.Keys(t.Buckets)) {
		fn(vr, t.Buckets[vr])
	}
}

// clone is a deep copy of t.
func (t TotalState) clone() *TotalState {
	return &TotalState{Value: t.Value, LastTs: t.LastTs, Metric: t.Metric, Labels: slices.Clone(t.Labels), Buckets: maps.Clone(t.Buckets)}
}

// Checkpoint is where a restart must replay from, given next, the offset after the last record
// taken, with the watermark now and the running totals: the earliest sample still needed. An open
// window needs its first sample and the samples that decided what its series brought. A series
// whose next sample could still land in an open window needs its last sample (the states kept
// are exactly those: advance drops the others). With none of these, next.
func (p *Partition) Checkpoint(next int64) Checkpoint {
	cp := Checkpoint{Offset: next, MaxTs: p.maxTs, Since: p.since}
	for _, ow := range p.open {
		cp.Offset = min(cp.Offset, ow.need)
	}
	for _, st := range p.series {
		cp.Offset = min(cp.Offset, st.offset)
	}
	if len(p.totals) > 0 {
		cp.Totals = make(map[string]TotalState, len(p.totals))
		for k, t := range p.totals {
			cp.Totals[k] = *t.clone()
		}
	}
	return cp
}

// Series is the number of output series in open windows.
func (p *Partition) Series() int {
	n := 0
	for _, ow := range p.open {
		n += len(ow.w.series)
	}
	return n
}

// Watermark is the newest datapoint or tick timestamp taken (ms), NoCheckpoint before any.
func (p *Partition) Watermark() int64 { return p.maxTs }

// Open is the number of open windows.
func (p *Partition) Open() int { return len(p.open) }
