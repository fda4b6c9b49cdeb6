package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/output"
)

// writer owns a contiguous range of one output's shards. Workers send it ShardBatches, each
// holding segments for several of its shards; every shard queues its segments and flushes on its
// own, when it holds its share of the output's flush_bytes (flush_bytes / the writer's shards:
// the writer as a whole flushes about when it holds flush_bytes) or its oldest queued segment has
// waited the output's linger; a shard whose flush is still in flight then flushes as soon as it
// completes. For a flush the output (package output: a component that knows nothing of actors)
// builds the shard's parts (a Kafka output: one record, the segments joined into one request;
// remote write: requests in which each series appears once, its samples in timestamp order,
// within max_batch_samples and max_batch_bytes; OTLP: export requests) into the shard's reused
// buffers, and the writer sends them one at a time, so a remote-write output has at most
// `concurrency` requests in flight. A shard that retries holds only its own flush: the other
// shards go on. A batch is acked to the offset tracker and released when every shard it has
// segments for has written them (or dead-lettered them); holding it until then bounds what a slow
// output can make Sluice buffer.
type writer struct {
	d     *writerDeps
	index int
	log   hclog.Logger
	plan  *outputPlan
	// out is the output as this writer uses it; it numbers shards within the output, the writer
	// in the pipeline's shard space (plan.offset apart).
	out output.Writer

	lo, hi int

	// held is every batch taken and not yet acked, with how many of its shards have not yet
	// finished writing their part of it: the batch is acked when that reaches 0.
	held map[*messages.ShardBatch]int
	// flushBytes is a shard's share of the output's flush_bytes.
	flushBytes int
	shards     []shardState // per shard of the range
}

// produceRef identifies one part of one shard's flush in the output's answers.
type produceRef struct {
	flush uint64
	shard int32
	part  int32
}

func newWriter(d *writerDeps, index int) actor.Producer {
	return func() actor.Actor {
		plan := d.topo.writerOutput[index]
		lo, hi := d.topo.WriterRange(index)
		w := &writer{d: d, index: index, plan: plan, lo: lo, hi: hi, shards: make([]shardState, hi-lo),
			held:       map[*messages.ShardBatch]int{},
			flushBytes: max(plan.cfg.FlushBytes/(hi-lo), 1),
			log:        d.log.Named("writer").With("writer", index, "output", plan.cfg.Name)}
		w.out = d.outs[index]
		return w
	}
}

func (w *writer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Restarting:
		// Hand every batch held to the next instance through the mailbox; flushes in flight are
		// sent again (at-least-once), their late answers are ignored by flush id.
		for b := range w.held {
			ctx.Send(ctx.Self(), b)
		}
		clear(w.held)
	case *actor.Stopping:
		w.releaseAll()
	case *actor.Stopped:

	case *messages.ShardBatch:
		w.take(ctx, m)
	case lingerTick:
		if k := m.shard - w.lo; k >= 0 && k < len(w.shards) {
			w.shards[k].lingering = false
			w.flushOrDue(ctx, m.shard)
		}
	case flushNow:
		w.flush(ctx)
	case *produced:
		w.onProduced(ctx, m)
	case *rejectedDone:
		if st := w.current(m.ref); st != nil {
			w.partDone(ctx, int(m.ref.shard))
		}
	case *retryShard:
		if st := w.current(m.ref); st != nil {
			w.sendPart(ctx, int(m.ref.shard))
		}
	default:
		w.log.Warn("unexpected message", "type", typeName(m))
	}
}

// take queues a batch's segments on their shards (segments are sorted by shard).
func (w *writer) take(ctx actor.Context, b *messages.ShardBatch) {
	w.held[b] = 0
	faultWriterBatch() // after taking it: a failure hands it to the next incarnation
	unwritten := 0
	segs := b.Segments
	for i := 0; i < len(segs); {
		shard, j, bytes := segs[i].Shard, i, 0
		for ; j < len(segs) && segs[j].Shard == shard; j++ {
			bytes += int(segs[j].End - segs[j].Start)
		}
		st := &w.shards[int(shard)-w.lo]
		st.queue = append(st.queue, segRun{b: b, lo: i, hi: j})
		st.queueBytes += bytes
		unwritten++
		i = j
	}
	w.held[b] = unwritten
	if unwritten == 0 { // no datapoints for this output
		w.ack(ctx, b)
		return
	}
	for i := 0; i < len(segs); {
		s := int(segs[i].Shard)
		for i < len(segs) && int(segs[i].Shard) == s {
			i++
		}
		w.maybeFlush(ctx, s)
	}
}

// maybeFlush flushes shard s when it is idle and holds its share of flush_bytes, and makes sure
// its linger runs while it has segments queued.
func (w *writer) maybeFlush(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	if len(st.queue) == 0 {
		return
	}
	if !st.pending && st.queueBytes >= w.flushBytes {
		w.flushShard(ctx, s)
		return
	}
	if !st.lingering {
		st.lingering = true
		w.after(ctx, w.plan.cfg.Linger, lingerTick{shard: s})
	}
}

// flushOrDue flushes shard s now, or as soon as its flush in flight completes.
func (w *writer) flushOrDue(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	switch {
	case len(st.queue) == 0:
	case st.pending:
		st.due = true
	default:
		w.flushShard(ctx, s)
	}
}

// current returns the state of the shard ref names if ref is its part in flight, else nil (an
// answer for a flush a failed instance made, or one already settled).
func (w *writer) current(ref produceRef) *shardState {
	k := int(ref.shard) - w.lo
	if k < 0 || k >= len(w.shards) {
		return nil
	}
	if st := &w.shards[k]; st.pending && st.flushID == ref.flush && st.next == int(ref.part) {
		return st
	}
	return nil
}

// after sends msg to this actor after d: timers are messages to self.
func (w *writer) after(ctx actor.Context, d time.Duration, msg any) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(d, func() { root.Send(self, msg) })
}

// flush flushes every shard with segments queued, now or when its flush in flight completes.
func (w *writer) flush(ctx actor.Context) {
	for s := w.lo; s < w.hi; s++ {
		w.flushOrDue(ctx, s)
	}
}

// flushShard builds shard s's parts from its queue and sends the first.
func (w *writer) flushShard(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	st.flushing, st.queue = st.queue, st.flushing[:0]
	st.queueBytes, st.due = 0, false
	st.flushID = w.d.nextFlushID.Add(1)
	st.flushStart = time.Now()
	st.samples, st.rejected = st.flushing.countSamples(), 0
	st.next = 0
	st.parts.Reset()
	w.out.Build(s-w.plan.offset, st.flushing, &st.parts)
	if st.parts.Len() == 0 { // only empty segments
		w.shardDone(ctx, s)
		return
	}
	st.pending = true
	w.startPart(ctx, s)
}

// startPart sends the shard's next part for the first time.
func (w *writer) startPart(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	st.attempts, st.firstTry = 0, time.Now()
	w.out.NewPart(s - w.plan.offset)
	w.sendPart(ctx, s)
}

func (w *writer) sendPart(_ actor.Context, s int) {
	st := &w.shards[s-w.lo]
	part, _ := st.parts.Part(st.next)
	w.out.Send(s-w.plan.offset, part, produceRef{flush: st.flushID, shard: int32(s), part: int32(st.next)})
}

func (w *writer) onProduced(ctx actor.Context, p *produced) {
	ref, ok := p.meta.(produceRef)
	if !ok {
		return
	}
	st := w.current(ref)
	if st == nil {
		return
	}
	s, o := int(ref.shard), w.plan.counters
	if p.err != nil {
		o.lastWriteFailed.Store(true)
		if w.out.Permanent(p.err) {
			o.permanent.Add(1)
			w.reject(ctx, s, p.err)
			return
		}
		o.retryable.Add(1)
		st.attempts++
		r := w.plan.cfg.Retry
		if r.MaxElapsed > 0 && time.Since(st.firstTry) >= r.MaxElapsed {
			w.reject(ctx, s, fmt.Errorf("still failing after retrying for %s (retry.max_elapsed): %w", r.MaxElapsed, p.err))
			return
		}
		delay := w.out.RetryDelay(s-w.plan.offset, p.err, st.attempts)
		w.log.Warn("output write failed; retrying", "shard", s-w.plan.offset, "attempt", st.attempts, "backoff", delay, "error", p.err)
		if delay == 0 {
			w.sendPart(ctx, s)
		} else {
			w.after(ctx, delay, &retryShard{ref: ref})
		}
		return
	}
	o.lastWriteFailed.Store(false)
	if p.written >= 0 {
		o.confirmed.Add(p.written)
	}
	part, sent := st.parts.Part(st.next)
	if p.written >= 0 && p.written < sent {
		o.partial.Add(1)
		o.unwritten.Add(sent - p.written)
		w.log.Warn("the receiver wrote fewer samples than sent", "shard", s-w.plan.offset, "sent", sent, "written", p.written)
	}
	o.records.Add(1)
	o.bytes.Add(int64(len(part)))
	o.writeSeconds.Observe(time.Since(st.flushStart).Seconds())
	w.partDone(ctx, s)
}

// partDone moves shard s to its next part, or completes its flush.
func (w *writer) partDone(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	st.next++
	if st.next < st.parts.Len() {
		w.startPart(ctx, s)
		return
	}
	w.shardDone(ctx, s)
}

// shardDone completes shard s's flush: it counts the datapoints written, acks the batches whose
// last shard this was, and flushes the shard again if it is due.
func (w *writer) shardDone(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	st.pending = false
	out := st.samples - st.rejected
	w.d.stats.DatapointsOut.Add(out)
	w.plan.counters.datapoints.Add(out)
	for i, r := range st.flushing {
		if w.held[r.b]--; w.held[r.b] == 0 {
			w.ack(ctx, r.b)
		}
		st.flushing[i] = segRun{}
	}
	st.flushing = st.flushing[:0]
	if st.due {
		w.flushShard(ctx, s)
		return
	}
	w.maybeFlush(ctx, s)
}

// ack completes a written batch's share of its input batch's ticket and releases it.
func (w *writer) ack(_ actor.Context, b *messages.ShardBatch) {
	b.Ticket.Done()
	delete(w.held, b)
	b.Release()
}

// reject gives up on shard s's part in flight: it goes to the dead-letter topic (the part counts
// as done when the dead letter is written) or, without one, its samples are logged and counted
// as output_rejected. Retrying would stall the input forever.
func (w *writer) reject(ctx actor.Context, s int, err error) {
	st := &w.shards[s-w.lo]
	part, samples := st.parts.Part(st.next)
	st.rejected += samples
	w.plan.counters.rejected.Add(samples)
	w.d.stats.Dropped[messages.ReasonOutputRejected].Add(samples)
	w.log.Error("output refused a write for good", "shard", s-w.plan.offset, "bytes", len(part), "samples", samples,
		"error", err, "dead_letter", w.d.deadLetterPID != nil)
	if w.d.deadLetterPID != nil {
		ctx.Send(w.d.deadLetterPID, &rejectedRecord{writer: ctx.Self(), ref: produceRef{flush: st.flushID, shard: int32(s), part: int32(st.next)},
			topic: w.out.DeadLetterSource(), shard: int32(s - w.plan.offset), value: append([]byte(nil), part...), reason: err.Error()})
		return
	}
	w.partDone(ctx, s)
}

// releaseAll returns held batches to their pool when the pipeline stops before draining; they
// were never acknowledged, so their input offsets stay uncommitted.
func (w *writer) releaseAll() {
	for b := range w.held {
		b.Ticket.Abandon()
		b.Release()
	}
	clear(w.held)
	for i := range w.shards {
		st := &w.shards[i]
		st.queue, st.flushing, st.pending = nil, nil, false
	}
}
