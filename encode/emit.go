package encode

// The second half of a batch: the loaded entries sorted by (shard, series, timestamp) with a
// linear counting sort, and handed out writer by writer into ShardBatches of remote-write series.

import (
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
)

// sortEntries orders the entries by (shard, series, timestamp, arrival) in linear time: a stable
// counting sort by series, then a stable counting sort by shard, then each series' run (a few
// entries, nearly always in time order already) put in time order.
func (e *Encoder) sortEntries() {
	n := len(e.entries)
	e.sorted = slices.Grow(e.sorted[:0], n)[:n]
	// By series: each series' entries in arrival order.
	next := uint32(0)
	for i := range e.runs {
		r := &e.runs[i]
		r.placed = next
		next += r.count
	}
	for _, en := range e.entries {
		r := &e.runs[en.series]
		e.sorted[r.placed] = en
		r.placed++
	}
	// By shard, stably: within a shard, series stay together in series order.
	shards := e.topo.Shards
	if cap(e.start) < shards+1 {
		e.start = make([]int, shards+1)
	}
	start := e.start[:shards+1]
	clear(start)
	for _, en := range e.sorted {
		start[en.shard+1]++
	}
	for s := 1; s <= shards; s++ {
		start[s] += start[s-1]
	}
	for _, en := range e.sorted {
		e.entries[start[en.shard]] = en
		start[en.shard]++
	}
	// Time order within each run of one series on one shard.
	for i := 0; i < n; {
		j := i + 1
		ordered := true
		for j < n && e.entries[j].series == e.entries[i].series && e.entries[j].shard == e.entries[i].shard {
			if e.entries[j].ts < e.entries[j-1].ts {
				ordered = false
			}
			j++
		}
		if !ordered {
			slices.SortFunc(e.entries[i:j], compareInRun)
		}
		i = j
	}
}

// compareInRun orders the entries of one series on one shard by time, then arrival.
func compareInRun(a, b entry) int {
	if a.ts != b.ts {
		if a.ts < b.ts {
			return -1
		}
		return 1
	}
	return int(int64(a.seq) - int64(b.seq))
}

// Done reports whether every loaded entry has been encoded.
func (e *Encoder) Done() bool { return e.cursor >= len(e.entries) }

// NextOwner is the writer that owns the next entry's shard.
func (e *Encoder) NextOwner() int {
	return int(e.topo.Owner[e.entries[e.cursor].shard])
}

// Fill encodes entries from the cursor into out while they belong to writer owner and fit. Each
// run of one series becomes one TimeSeries, split when it does not fit; for an output that
// speaks remote write 2.0 it carries the series' metadata.
func (e *Encoder) Fill(out *messages.ShardBatch, owner int) {
	v2 := e.topo.Outputs[e.topo.WriterOutput[owner]].V2
	for e.cursor < len(e.entries) {
		en := e.entries[e.cursor]
		if int(e.topo.Owner[en.shard]) != owner {
			return
		}
		si := &e.series[e.touched[en.series]]
		labels := e.labels[si.labels:si.labelsEnd]
		if len(e.targetLabels) > 0 {
			labels = e.targetLabelsFor(si, owner)
		}
		var meta []byte
		if v2 {
			meta = e.labels[si.meta:si.metaEnd]
		}
		body := len(labels) + len(meta)
		free := out.Free()
		end := e.cursor
		for end < len(e.entries) {
			n := &e.entries[end]
			if n.series != en.series || n.shard != en.shard {
				break
			}
			sz := remotewrite.SampleSize(n.ts)
			if n.hist != 0 {
				sz = remotewrite.HistogramSize(e.hist(n.hist), n.ts)
			}
			if remotewrite.SeriesSize(body+sz) > free {
				break
			}
			body += sz
			end++
		}
		if end == e.cursor { // not even one sample fits
			if out.Bytes() == 0 {
				panic(fmt.Sprintf("worker: one series (%d label bytes) does not fit an empty %d-byte shard batch", len(labels), out.Capacity()))
			}
			return
		}
		buf := append(remotewrite.AppendSeriesLabels(out.Arena(), body, labels), meta...)
		for i := e.cursor; i < end; i++ {
			p := &e.entries[i]
			if p.hist != 0 {
				buf = remotewrite.AppendHistogram(buf, e.hist(p.hist), p.ts)
			} else {
				buf = remotewrite.AppendSample(buf, p.value, p.ts)
			}
		}
		out.AddSegment(en.shard, buf, end-e.cursor)
		e.cursor = end
	}
}

// hist returns the encoded Histogram of an entry's hist.
func (e *Encoder) hist(h uint32) []byte {
	r := e.hists[h-1]
	return e.histBytes[r.start:r.end]
}

// BadBytes returns the bytes of the i-th kept bad line.
func (e *Encoder) BadBytes(i int) []byte {
	b := e.bad[i]
	return e.badBytes[b.start:b.end:b.end]
}
