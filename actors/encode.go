package actors

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/denylist"
	"github.com/sluicehq/sluice/messages/formats"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/messages/validate"
)

// entry is one valid datapoint on its way out: where it goes and how it sorts.
type entry struct {
	shard uint32
	row   int32
	hash  uint64
	ts    int64
}

// compareInShard orders the entries of one shard by series, then time, then arrival.
func compareInShard(a, b entry) int {
	if c := cmp.Compare(a.hash, b.hash); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ts, b.ts); c != 0 {
		return c
	}
	return cmp.Compare(a.row, b.row)
}

// batchEncoder is the worker's hot path, kept apart from the actor so that it can be measured
// and its allocations asserted: decode a RawBatch, validate, apply the denylist, shard, sort by
// (shard, series, timestamp) and encode remote-write series into ShardBatches. All its storage is
// reused from batch to batch.
type batchEncoder struct {
	decoders  map[string]*topicDecoder
	mapping   formats.NameMapping
	validator *validate.Validator
	denylist  *denylist.Matcher
	// topo routes each datapoint to its outputs and says which writer owns each shard.
	topo *topology

	rows  messages.Rows
	badAt []int64 // the source record offset of each rows.Bad entry
	// decoding is the index of the record being decoded, -1 outside decoding.
	decoding int
	entries  []entry
	sorted   []entry // entries bucketed by shard, then sorted within each shard
	start    []int   // where each shard's bucket starts in sorted (shards+1 bounds)
	key      []byte
	cursor   int
	// drops and in count the loaded batch's drops by reason and its datapoints (lines) read.
	drops messages.DropCounts
	in    int64
}

// load decodes, checks, shards and sorts every record of b. nowMs bounds the timestamp window.
func (e *batchEncoder) load(b *messages.RawBatch, nowMs int64) {
	e.rows.Reset()
	e.entries = e.entries[:0]
	e.cursor = 0
	e.drops = messages.DropCounts{}
	e.drops[messages.ReasonRecordTooLarge] = int64(b.Oversized)
	e.drops[messages.ReasonLineTooLong] = int64(b.LongLines)
	dec := e.decoders[b.Topic]
	decode := *dec.decode.Load()
	e.badAt = e.badAt[:0]
	for i := 0; i < b.Len(); i++ {
		if len(b.Poisoned) > 0 && b.IsPoisoned(i) {
			e.rows.AddBad(b.Value(i), messages.ReasonPoison, b.PoisonError)
		} else {
			e.decoding = i // if decoding panics, the worker knows which record did it
			faultRecord(b.Value(i))
			decode(&e.rows, b.Value(i), b.Records[i].Timestamp)
		}
		for len(e.badAt) < len(e.rows.Bad) {
			e.badAt = append(e.badAt, b.Records[i].Offset)
		}
	}
	e.decoding = -1
	for _, bad := range e.rows.Bad {
		e.drops[bad.Reason]++
	}
	e.in = int64(len(e.rows.Points)+len(e.rows.Bad)) + int64(b.Oversized+b.LongLines)
	for i := range e.rows.Points {
		dp := &e.rows.Points[i]
		if reason, ok := e.validator.Check(dp, nowMs); !ok {
			e.drops[reason]++
			continue
		}
		if e.denylist.Match(dp.Metric) {
			e.drops[messages.ReasonDenylisted]++
			continue
		}
		targets := e.topo.route(dp.Metric)
		if targets == nil {
			e.drops[messages.ReasonUnrouted]++
			continue
		}
		e.mapping.Apply(dp)
		e.key = shard.AppendSeriesKey(e.key[:0], dp)
		h := shard.Hash(e.key)
		// One entry per output the route names: a double-written datapoint is encoded for each.
		for _, t := range targets {
			e.entries = append(e.entries, entry{shard: t.offset + uint32(shard.Jump(h, int(t.shards))), row: int32(i), hash: h, ts: dp.Timestamp})
		}
	}
	e.sortEntries()
}

// sortEntries orders the entries by (shard, series, timestamp): a counting sort into one bucket
// per shard, then a comparison sort of each bucket, which is a shards-th of the batch and needs
// no shard comparison.
func (e *batchEncoder) sortEntries() {
	shards := e.topo.shards
	if cap(e.start) < shards+1 {
		e.start = make([]int, shards+1)
	}
	start := e.start[:shards+1]
	clear(start)
	for _, en := range e.entries {
		start[en.shard+1]++
	}
	for s := 1; s <= shards; s++ {
		start[s] += start[s-1]
	}
	e.sorted = slices.Grow(e.sorted[:0], len(e.entries))[:len(e.entries)]
	for _, en := range e.entries {
		e.sorted[start[en.shard]] = en
		start[en.shard]++
	}
	// start[s] is now the end of bucket s, which is where bucket s+1 begins.
	from := 0
	for s := 0; s < shards; s++ {
		slices.SortFunc(e.sorted[from:start[s]], compareInShard)
		from = start[s]
	}
	e.entries, e.sorted = e.sorted, e.entries
}

// done reports whether every loaded entry has been encoded.
func (e *batchEncoder) done() bool { return e.cursor >= len(e.entries) }

// nextOwner is the writer that owns the next entry's shard.
func (e *batchEncoder) nextOwner() int {
	return int(e.topo.owner[e.entries[e.cursor].shard])
}

// fill encodes entries from the cursor into out while they belong to writer owner and fit. Each
// run of one series becomes one TimeSeries, split when it does not fit.
func (e *batchEncoder) fill(out *messages.ShardBatch, owner int) {
	pts := e.rows.Points
	for e.cursor < len(e.entries) {
		en := e.entries[e.cursor]
		if int(e.topo.owner[en.shard]) != owner {
			return
		}
		first := &pts[en.row]
		labels := remotewrite.LabelsSize(first.Metric, first.Tags)
		body := labels
		free := out.Free()
		end := e.cursor
		for end < len(e.entries) {
			n := e.entries[end]
			if n.shard != en.shard || n.hash != en.hash || !sameSeries(first, &pts[n.row]) {
				break
			}
			sz := remotewrite.SampleSize(pts[n.row].Timestamp)
			if remotewrite.SeriesSize(body+sz) > free {
				break
			}
			body += sz
			end++
		}
		if end == e.cursor { // not even one sample fits
			if out.Bytes() == 0 {
				panic(fmt.Sprintf("worker: one series (%d label bytes) does not fit an empty %d-byte shard batch", labels, out.Capacity()))
			}
			return
		}
		buf := remotewrite.AppendSeriesHeader(out.Arena(), body, first.Metric, first.Tags)
		for i := e.cursor; i < end; i++ {
			p := &pts[e.entries[i].row]
			buf = remotewrite.AppendSample(buf, p.Value, p.Timestamp)
		}
		out.AddSegment(en.shard, buf, end-e.cursor)
		e.cursor = end
	}
}

// reset drops references to the loaded batch.
func (e *batchEncoder) reset() {
	e.rows.Reset()
	e.entries = e.entries[:0]
	e.cursor = 0
}

// sameSeries reports whether two datapoints belong to one series (hashes are compared first).
func sameSeries(a, b *messages.Datapoint) bool {
	if !bytes.Equal(a.Metric, b.Metric) || len(a.Tags) != len(b.Tags) {
		return false
	}
	for i := range a.Tags {
		if !bytes.Equal(a.Tags[i].Key, b.Tags[i].Key) || !bytes.Equal(a.Tags[i].Value, b.Tags[i].Value) {
			return false
		}
	}
	return true
}
