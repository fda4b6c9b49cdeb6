package aggregate

import "slices"

// Partition aggregates the samples of one aggregation-topic partition, read in offset order, for
// one aggregate: windows aligned to the clock by datapoint timestamp, closed at a watermark (the
// newest timestamp seen minus the lateness), each emitted once with its end as timestamp.
//
// A restart reproduces it exactly from one offset and one number: Checkpoint says the offset to
// commit (the first sample of the oldest open window) and the watermark to commit with it (in the
// offset commit's metadata). Every window open then stays open under that watermark, and every
// window it closes was emitted before. So NewPartition from the checkpoint, fed the records from
// its offset, closes the same windows over the same samples and does not emit again what was
// closed before it. The caller commits a checkpoint only once what was emitted up to it is
// acknowledged. docs/aggregation-design.md has the protocol around it.
type Partition struct {
	spec     *Spec
	interval int64 // ms
	lateness int64 // ms
	maxTs    int64 // the newest datapoint or tick timestamp taken (ms)
	open     map[int64]*openWindow
	// Late counts samples for windows already closed (after a restart, also the replayed samples of
	// windows closed before it).
	Late int64
}

// openWindow is a window not closed yet, with the offset of its first sample.
type openWindow struct {
	w     *Window
	first int64
}

// Checkpoint is what to commit: replaying from Offset with the watermark state MaxTs rebuilds
// every open window exactly.
type Checkpoint struct {
	Offset int64
	MaxTs  int64
}

// Emit receives one output series' value of a closed window ending at end (ms).
type Emit func(end int64, name string, labels []Label, value float64)

// noTimestamp is the watermark before any sample.
const noTimestamp = -1 << 62

// NewPartition starts from a checkpoint (Checkpoint{Offset: first offset, MaxTs: NoCheckpoint}
// for a partition never committed).
func NewPartition(spec *Spec, lateness int64, from Checkpoint) *Partition {
	return &Partition{spec: spec, interval: spec.Interval.Milliseconds(), lateness: lateness,
		maxTs: from.MaxTs, open: map[int64]*openWindow{}}
}

// NoCheckpoint is Checkpoint.MaxTs of a partition that has none: no sample seen.
const NoCheckpoint = noTimestamp

// closed is the end of the newest closed window: every window ending at or before the watermark.
func (p *Partition) closed() int64 {
	if p.maxTs == noTimestamp {
		return noTimestamp
	}
	wm := p.maxTs - p.lateness
	return wm - mod(wm, p.interval)
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// Add takes the sample at offset; a sample of a window already closed is counted in Late. Windows
// the sample's timestamp closes are emitted.
func (p *Partition) Add(offset int64, input []Label, ts int64, value float64, emit Emit) {
	end := ts - mod(ts, p.interval) + p.interval
	if end <= p.closed() {
		p.Late++
		return
	}
	ow := p.open[end]
	if ow == nil {
		ow = &openWindow{w: NewWindow(p.spec), first: offset}
		p.open[end] = ow
	}
	ow.w.Add(input, ts, value)
	p.advance(ts, emit)
}

// Tick advances the watermark as a sample at ts would, without a sample: the records stage A
// writes into every partition so that an idle partition's windows close, in the log, so that a
// replay closes them at the same place.
func (p *Partition) Tick(ts int64, emit Emit) { p.advance(ts, emit) }

func (p *Partition) advance(ts int64, emit Emit) {
	if ts <= p.maxTs {
		return
	}
	p.maxTs = ts
	closed := p.closed()
	var ends []int64
	for end := range p.open {
		if end <= closed {
			ends = append(ends, end)
		}
	}
	slices.Sort(ends)
	for _, end := range ends {
		ow := p.open[end]
		delete(p.open, end)
		ow.w.Flush(func(name string, labels []Label, v float64) { emit(end, name, labels, v) })
	}
}

// Checkpoint is where a restart must replay from, given next, the offset after the last record
// taken: the first sample of the oldest open window (next with none open), with the watermark now.
func (p *Partition) Checkpoint(next int64) Checkpoint {
	cp := Checkpoint{Offset: next, MaxTs: p.maxTs}
	for _, ow := range p.open {
		cp.Offset = min(cp.Offset, ow.first)
	}
	return cp
}

// Open is the number of open windows.
func (p *Partition) Open() int { return len(p.open) }
