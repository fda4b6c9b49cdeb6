package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
)

// writer owns a contiguous range of one output's shards. It holds the ShardBatches workers send
// it and flushes them when they reach the output's flush_bytes or after its linger: for every
// shard it builds the shard's part of the flush (a Kafka output: one record, the shard's segments
// joined into one remote-write WriteRequest; a remote-write output: requests in which each series
// appears once, its samples in timestamp order, within max_batch_samples and max_batch_bytes),
// snappy-compresses it into the shard's reused buffers and sends it through its sink. A shard has
// one part in flight at a time, so a remote-write output has at most `concurrency` requests in
// flight. Only when every part of a flush is acknowledged (or dead-lettered) does it ack the
// flush's batches to the offset tracker and release them; holding them until then bounds what a
// slow output can make Sluice buffer.
type writer struct {
	d     *deps
	index int
	log   hclog.Logger
	plan  *outputPlan
	sink  writerSink

	lo, hi int

	held      []*messages.ShardBatch
	heldBytes int
	lingering bool

	flushing []*messages.ShardBatch // the flush in flight
	flushID  uint64
	// flushStart is when the flush in flight began: its parts' write latency counts from it,
	// retries included.
	flushStart time.Time
	shards     []shardState // per shard of the range
	waiting    int          // shards with parts not yet acknowledged
	due        bool         // flush again as soon as the one in flight completes

	scratch []byte
	cursor  []int
	merger  remotewrite.Merger
	// rejected counts the current flush's datapoints the output refused for good.
	rejected int64
}

// shardState is one shard's part of the flush in flight.
type shardState struct {
	parts       [][]byte // compressed records or requests; the buffers are reused
	partSamples []int64
	n, next     int // parts in this flush; the one in flight
	pending     bool
	attempts    int
	firstTry    time.Time // when the part in flight was first sent
}

// writerSink is one output type's way of writing a shard's parts (sinks.go). The writer batches,
// flushes and acknowledges; the sink sends, says which errors are permanent and how long a
// failed part waits before its next attempt, with whatever per-shard state that takes.
type writerSink interface {
	// send sends part of shard s without blocking; the answer comes back to ctx.Self() as
	// *produced with ref as meta.
	send(ctx actor.Context, s int, part []byte, ref produceRef)
	// permanent reports whether retrying err cannot help.
	permanent(err error) bool
	// newPart resets shard s's retry state for a part sent for the first time.
	newPart(s int)
	// retryDelay is how long shard s's part waits after its attempt-th failure, err.
	retryDelay(s int, err error, attempt int) time.Duration
}

// produceRef identifies one part of one shard of a flush in the sink's answers.
type produceRef struct {
	flush uint64
	shard int32
	part  int32
}

func newWriter(d *deps, index int) actor.Producer {
	return func() actor.Actor {
		plan := d.topo.writerOutput[index]
		lo, hi := d.topo.WriterRange(index)
		w := &writer{d: d, index: index, plan: plan, lo: lo, hi: hi, shards: make([]shardState, hi-lo),
			log: d.log.Named("writer").With("writer", index, "output", plan.cfg.Name)}
		if plan.kafka() {
			w.sink = newKafkaSink(d.links[index], plan, lo, hi)
		} else {
			w.sink = newRWSink(plan, lo, hi)
		}
		return w
	}
}

func (w *writer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Restarting:
		// Hand everything held to the next instance through the mailbox; a flush in flight is
		// sent again (at-least-once), its late answers are ignored by flush id.
		for _, b := range w.flushing {
			ctx.Send(ctx.Self(), b)
		}
		for _, b := range w.held {
			ctx.Send(ctx.Self(), b)
		}
		w.flushing, w.held = nil, nil
	case *actor.Stopping:
		w.releaseAll()
	case *actor.Stopped:

	case *messages.ShardBatch:
		w.held = append(w.held, m)
		faultWriterBatch() // after taking it: a failure hands it to the next incarnation
		w.heldBytes += m.Bytes()
		if w.heldBytes >= w.plan.cfg.FlushBytes {
			w.flush(ctx)
		} else if !w.lingering {
			w.lingering = true
			w.after(ctx, w.plan.cfg.Linger, lingerTick{})
		}
	case lingerTick:
		w.lingering = false
		w.flush(ctx)
	case Flush:
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

// current returns the state of the shard ref names if ref is the part in flight, else nil (an
// answer for a flush a failed instance made, or one already settled).
func (w *writer) current(ref produceRef) *shardState {
	k := int(ref.shard) - w.lo
	if ref.flush != w.flushID || k < 0 || k >= len(w.shards) {
		return nil
	}
	if st := &w.shards[k]; st.pending && st.next == int(ref.part) {
		return st
	}
	return nil
}

// after sends msg to this actor after d: timers are messages to self.
func (w *writer) after(ctx actor.Context, d time.Duration, msg any) {
	self, root := ctx.Self(), w.d.system.Root
	time.AfterFunc(d, func() { root.Send(self, msg) })
}

func (w *writer) flush(ctx actor.Context) {
	if len(w.held) == 0 {
		return
	}
	if w.waiting > 0 {
		w.due = true
		return
	}
	w.due = false
	w.flushing, w.held = w.held, w.flushing[:0]
	w.heldBytes = 0
	w.flushID = w.d.nextFlushID.Add(1)
	w.flushStart = time.Now()
	w.cursor = append(w.cursor[:0], make([]int, len(w.flushing))...)
	w.rejected = 0
	for s := w.lo; s < w.hi; s++ {
		st := &w.shards[s-w.lo]
		st.n, st.next = 0, 0
		if w.plan.kafka() {
			w.buildRecord(s, st)
		} else {
			w.buildRequests(s, st)
		}
		if st.n == 0 {
			continue
		}
		st.pending = true
		w.waiting++
		w.startPart(ctx, s)
	}
	if w.waiting == 0 { // only empty batches
		w.complete(ctx)
	}
}

// eachSegment calls fn with the data and samples of every segment of shard s in the flush, in
// batch order (segments are sorted by shard, so a cursor per batch walks them once).
func (w *writer) eachSegment(s int, fn func(data []byte, samples int)) {
	for i, b := range w.flushing {
		segs := b.Segments
		for w.cursor[i] < len(segs) && segs[w.cursor[i]].Shard == uint32(s) {
			fn(b.Data(segs[w.cursor[i]]), int(segs[w.cursor[i]].Samples))
			w.cursor[i]++
		}
	}
}

// addPart compresses req into the shard's next part buffer.
func (st *shardState) addPart(req []byte, samples int) {
	if st.n == len(st.parts) {
		st.parts = append(st.parts, nil)
		st.partSamples = append(st.partSamples, 0)
	}
	st.parts[st.n] = remotewrite.Compress(st.parts[st.n][:0], req)
	st.partSamples[st.n] = int64(samples)
	st.n++
}

// buildRecord joins shard s's segments into one record: a Kafka output's shard record.
func (w *writer) buildRecord(s int, st *shardState) {
	w.scratch = w.scratch[:0]
	samples := 0
	w.eachSegment(s, func(data []byte, n int) {
		w.scratch = append(w.scratch, data...)
		samples += n
	})
	if len(w.scratch) > 0 {
		st.addPart(w.scratch, samples)
	}
}

// buildRequests merges shard s's segments into remote-write requests.
func (w *writer) buildRequests(s int, st *shardState) {
	w.eachSegment(s, func(data []byte, _ int) {
		if !w.merger.Add(data) {
			panic("writer: a worker encoded a malformed segment") // a bug, not bad input
		}
	})
	if w.merger.Series() == 0 {
		return
	}
	w.merger.Build(w.plan.cfg.MaxBatchSamples, w.plan.cfg.MaxBatchBytes, st.addPart)
}

// startPart sends the shard's next part for the first time.
func (w *writer) startPart(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	st.attempts, st.firstTry = 0, time.Now()
	w.sink.newPart(s)
	w.sendPart(ctx, s)
}

func (w *writer) sendPart(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	w.sink.send(ctx, s, st.parts[st.next], produceRef{flush: w.flushID, shard: int32(s), part: int32(st.next)})
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
		if w.sink.permanent(p.err) {
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
		delay := w.sink.retryDelay(s, p.err, st.attempts)
		w.log.Warn("output write failed; retrying", "shard", s-w.plan.offset, "attempt", st.attempts, "backoff", delay, "error", p.err)
		if delay == 0 {
			w.sendPart(ctx, s)
		} else {
			w.after(ctx, delay, &retryShard{ref: ref})
		}
		return
	}
	o.lastWriteFailed.Store(false)
	o.records.Add(1)
	o.bytes.Add(int64(len(st.parts[st.next])))
	o.writeSeconds.Observe(time.Since(w.flushStart).Seconds())
	w.partDone(ctx, s)
}

// partDone moves shard s to its next part, or counts it done.
func (w *writer) partDone(ctx actor.Context, s int) {
	st := &w.shards[s-w.lo]
	st.next++
	if st.next < st.n {
		w.startPart(ctx, s)
		return
	}
	st.pending = false
	w.waiting--
	if w.waiting == 0 {
		w.complete(ctx)
	}
}

// permanentOutputError reports Kafka errors that retrying cannot fix.
func permanentOutputError(err error) bool {
	var ce sarama.ConfigurationError
	return errors.As(err, &ce) || errors.Is(err, sarama.ErrMessageSizeTooLarge) ||
		errors.Is(err, sarama.ErrInvalidMessageSize) ||
		errors.Is(err, sarama.ErrTopicAuthorizationFailed) || errors.Is(err, sarama.ErrClusterAuthorizationFailed) ||
		errors.Is(err, sarama.ErrInvalidRecord)
}

// reject gives up on shard s's part in flight: it goes to the dead-letter topic (the part counts
// as done when the dead letter is written) or, without one, its samples are logged and counted
// as output_rejected. Retrying would stall the input forever.
func (w *writer) reject(ctx actor.Context, s int, err error) {
	st := &w.shards[s-w.lo]
	part := st.parts[st.next]
	samples := st.partSamples[st.next]
	w.rejected += samples
	w.plan.counters.rejected.Add(samples)
	w.d.stats.Dropped[messages.ReasonOutputRejected].Add(samples)
	w.log.Error("output refused a write for good", "shard", s-w.plan.offset, "bytes", len(part), "samples", samples,
		"error", err, "dead_letter", w.d.deadLetterPID != nil)
	if w.d.deadLetterPID != nil {
		ctx.Send(w.d.deadLetterPID, &rejectedRecord{writer: ctx.Self(), ref: produceRef{flush: w.flushID, shard: int32(s), part: int32(st.next)},
			topic: w.plan.deadLetterSource(), shard: int32(s - w.plan.offset), value: append([]byte(nil), part...), reason: err.Error()})
		return
	}
	w.partDone(ctx, s)
}

// complete acks a finished flush's batches to the tracker and releases them.
func (w *writer) complete(ctx actor.Context) {
	var out int64
	for i, b := range w.flushing {
		out += int64(b.Samples())
		ctx.Send(w.d.trackerPID, &Acked{ID: b.Source})
		b.Release()
		w.flushing[i] = nil
	}
	w.flushing = w.flushing[:0]
	w.d.stats.DatapointsOut.Add(out - w.rejected)
	w.plan.counters.datapoints.Add(out - w.rejected)
	w.rejected = 0
	if w.due || w.heldBytes >= w.plan.cfg.FlushBytes {
		w.flush(ctx)
	}
}

// releaseAll returns held batches to their pool when the pipeline stops before draining; they
// were never acknowledged, so their input offsets stay uncommitted.
func (w *writer) releaseAll() {
	for _, b := range w.flushing {
		b.Release()
	}
	for _, b := range w.held {
		b.Release()
	}
	w.flushing, w.held = nil, nil
}
