package actors

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/messages/shard"
)

// entry is one valid datapoint on its way out: where it goes and how it sorts.
type entry struct {
	shard uint32
	row   int32
	hash  uint64
	ts    int64
}

func compareEntries(a, b entry) int {
	if c := cmp.Compare(a.shard, b.shard); c != 0 {
		return c
	}
	if c := cmp.Compare(a.hash, b.hash); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ts, b.ts); c != 0 {
		return c
	}
	return cmp.Compare(a.row, b.row)
}

// worker decodes RawBatches, validates, applies the denylist, shards and sorts the datapoints,
// and encodes them as remote-write series into ShardBatches for the writers that own the shards.
//
// It never blocks: when the ShardBatch pool is empty it asks the pool for a poolReady message and
// resumes where it stopped. RawBatches that arrive meanwhile wait in its queue (the RawBatch pool
// bounds how many can).
type worker struct {
	d     *deps
	index int
	log   hclog.Logger

	rows    messages.Rows
	entries []entry
	key     []byte

	current *messages.RawBatch
	queue   []*messages.RawBatch
	cursor  int
	out     *messages.ShardBatch
	outW    int
	waiting bool
	drops   messages.DropCounts
	in      int64
}

func newWorker(d *deps, index int) actor.Producer {
	return func() actor.Actor {
		return &worker{d: d, index: index, log: d.log.Named("worker").With("worker", index)}
	}
}

func (w *worker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Restarting:
		w.handBack(ctx)
	case *actor.Stopping:
		w.releaseAll()
	case *actor.Stopped:

	case *messages.RawBatch:
		if w.current != nil {
			w.queue = append(w.queue, m)
			return
		}
		w.start(ctx, m)
	case poolReady:
		if w.waiting {
			w.waiting = false
			w.emit(ctx)
		}
	default:
		w.log.Warn("unexpected message", "type", typeName(m))
	}
}

// handBack runs on the failed instance before it is replaced. protoactor drops the message whose
// handler panicked, so the batch being processed is redelivered here, to the next worker; the
// batches still queued go back to this worker's own mailbox for the new instance.
func (w *worker) handBack(ctx actor.Context) {
	if w.out != nil {
		w.out.Release() // never sent: its datapoints are produced again from the batch
		w.out = nil
	}
	if b := w.current; b != nil {
		b.Attempts++
		w.d.stats.Redelivered.Add(1)
		next := w.d.workerPIDs[(w.index+1)%w.d.workers]
		w.log.Warn("redelivering the batch this worker held when it failed", "batch", b.ID,
			"topic", b.Topic, "partition", b.Partition, "first_offset", b.FirstOffset, "attempt", b.Attempts, "to", next.Id)
		ctx.Send(next, b)
		w.current = nil
	}
	for _, b := range w.queue {
		ctx.Send(ctx.Self(), b)
	}
	w.queue = nil
	w.rows.Reset()
}

// releaseAll returns every batch this worker holds to its pool. Reached only when the pipeline is
// stopped before it drained: those batches were never acknowledged, so they are not committed.
func (w *worker) releaseAll() {
	if w.out != nil {
		w.out.Release()
		w.out = nil
	}
	if w.current != nil {
		w.current.Release()
		w.current = nil
	}
	for _, b := range w.queue {
		b.Release()
	}
	w.queue = nil
	w.rows.Reset()
}

func (w *worker) start(ctx actor.Context, b *messages.RawBatch) {
	w.current = b
	w.rows.Reset()
	w.entries = w.entries[:0]
	w.cursor = 0
	w.drops = messages.DropCounts{}
	w.drops[messages.ReasonRecordTooLarge] = int64(b.Oversized)
	for i := 0; i < b.Len(); i++ {
		w.d.decode(&w.rows, b.Value(i), b.Records[i].Timestamp)
	}
	for _, bad := range w.rows.Bad {
		w.drops[bad.Reason]++
	}
	w.in = int64(len(w.rows.Points) + len(w.rows.Bad))
	now := time.Now().UnixMilli()
	for i := range w.rows.Points {
		dp := &w.rows.Points[i]
		if reason, ok := w.d.validator.Check(dp, now); !ok {
			w.drops[reason]++
			continue
		}
		if w.d.denylist.Match(dp.Metric) {
			w.drops[messages.ReasonDenylisted]++
			continue
		}
		w.key = shard.AppendSeriesKey(w.key[:0], dp)
		h := shard.Hash(w.key)
		w.entries = append(w.entries, entry{shard: uint32(shard.Jump(h, w.d.shards)), row: int32(i), hash: h, ts: dp.Timestamp})
	}
	slices.SortFunc(w.entries, compareEntries)
	w.emit(ctx)
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

// emit encodes entries from the cursor on. Each run of one series becomes one TimeSeries (split
// when it does not fit a ShardBatch); a ShardBatch is sent when full or when the next entry
// belongs to another writer.
func (w *worker) emit(ctx actor.Context) {
	pts := w.rows.Points
	for w.cursor < len(w.entries) {
		e := w.entries[w.cursor]
		owner := shard.Owner(int(e.shard), w.d.shards, w.d.writers)
		if w.out != nil && w.outW != owner {
			w.send(ctx)
		}
		if w.out == nil {
			sb, ok := w.d.shardPool.GetOrNotify(w.notify(ctx))
			if !ok {
				w.waiting = true
				return
			}
			w.out, w.outW = sb, owner
		}
		first := &pts[e.row]
		labels := remotewrite.LabelsSize(first.Metric, first.Tags)
		body := labels
		free := w.out.Free()
		end := w.cursor
		for end < len(w.entries) {
			n := w.entries[end]
			if n.shard != e.shard || n.hash != e.hash || !sameSeries(first, &pts[n.row]) {
				break
			}
			sz := remotewrite.SampleSize(pts[n.row].Timestamp)
			if remotewrite.SeriesSize(body+sz) > free {
				break
			}
			body += sz
			end++
		}
		if end == w.cursor { // not even one sample fits
			if w.out.Bytes() == 0 {
				panic(fmt.Sprintf("worker: one series (%d label bytes) does not fit an empty %d-byte shard batch", labels, w.out.Capacity()))
			}
			w.send(ctx)
			continue
		}
		buf := remotewrite.AppendSeriesHeader(w.out.Arena(), body, first.Metric, first.Tags)
		for i := w.cursor; i < end; i++ {
			p := &pts[w.entries[i].row]
			buf = remotewrite.AppendSample(buf, p.Value, p.Timestamp)
		}
		w.out.AddSegment(e.shard, buf, end-w.cursor)
		w.cursor = end
	}
	if w.out != nil {
		w.send(ctx)
	}
	w.finish(ctx)
}

func (w *worker) notify(ctx actor.Context) func() {
	self, root := ctx.Self(), w.d.system.Root
	return func() { root.Send(self, poolReady{}) }
}

// send hands the current ShardBatch to its writer, telling the tracker to expect one more part
// first.
func (w *worker) send(ctx actor.Context) {
	b := w.current
	w.out.Source = b.ID
	ctx.Send(w.d.trackerPID, &Expect{ID: b.ID})
	ctx.Send(w.d.writerPIDs[w.outW], w.out)
	w.out = nil
}

// finish reports the batch decoded, adds its counts, releases it and starts the next one.
func (w *worker) finish(ctx actor.Context) {
	b := w.current
	ctx.Send(w.d.trackerPID, &Decoded{ID: b.ID})
	s := w.d.stats
	s.RecordsIn.Add(int64(b.Len() + b.Oversized))
	s.DatapointsIn.Add(w.in + int64(b.Oversized))
	for r, n := range w.drops {
		if n != 0 {
			s.Dropped[r].Add(n)
		}
	}
	if n := len(w.rows.Bad); n > 0 && w.log.IsDebug() {
		w.log.Debug("unparseable lines", "topic", b.Topic, "partition", b.Partition, "count", n,
			"first", string(w.rows.Bad[0].Line), "reason", w.rows.Bad[0].Detail)
	}
	w.rows.Reset()
	w.current = nil
	b.Release()
	for w.current == nil && len(w.queue) > 0 {
		next := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.start(ctx, next)
	}
}

func typeName(m any) string { return fmt.Sprintf("%T", m) }
