package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/encode"
	"github.com/sluicehq/sluice/messages"
)

// worker decodes RawBatches, validates, applies the denylist, shards and sorts the datapoints,
// and encodes them as remote-write series into ShardBatches for the writers that own the shards
// (encode.Encoder does the work; the actor moves batches).
//
// It never blocks: when the ShardBatch pool is empty it asks the pool for a poolReady message and
// resumes where it stopped. RawBatches that arrive meanwhile wait in its queue (the RawBatch pool
// bounds how many can).
type worker struct {
	d     *workerDeps
	index int
	log   hclog.Logger
	enc   *encode.Encoder

	current *messages.RawBatch
	queue   []*messages.RawBatch
	out     *messages.ShardBatch
	outW    int
	dl      *messages.DeadLetterBatch
	badNext int // the next bad line to dead-letter
	waiting bool
	failure string // why this instance failed, for the batch it hands back
	wake    func() // sends this worker poolReady; made once, as pools keep it while waiting
}

func (w *worker) recordPanic(reason any) { w.failure = fmt.Sprint(reason) }

// account adds the time since t0 to the worker's busy time and publishes its queue depth, for
// the coordinator and `sluice bench`.
func (w *worker) account(t0 time.Time) {
	w.d.load.busy[w.index].Add(int64(time.Since(t0)))
	n := int64(len(w.queue))
	if w.current != nil {
		n++
	}
	w.d.load.queue[w.index].Store(n)
}

func newWorker(d *workerDeps, index int) actor.Producer {
	return func() actor.Actor {
		return &worker{d: d, index: index, log: d.log.Named("worker").With("worker", index),
			enc: encode.New(d.mapping, d.topo.Layout, recordFault)}
	}
}

func (w *worker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		w.wake = func() { root.Send(self, poolReady{}) }
	case *actor.Restarting:
		w.handBack(ctx)
	case *actor.Stopping:
		w.releaseAll()
	case *actor.Stopped:

	case *messages.RawBatch:
		t0 := time.Now()
		if w.current != nil {
			w.queue = append(w.queue, m)
		} else {
			w.start(ctx, m)
		}
		w.account(t0)
	case poolReady:
		t0 := time.Now()
		if w.waiting {
			w.waiting = false
			w.emit(ctx)
		}
		w.account(t0)
	default:
		w.log.Warn("unexpected message", "type", typeName(m))
	}
}

// handBack runs on the failed instance before it is replaced. protoactor drops the message whose
// handler panicked, so the batch being processed is redelivered here, to the next worker; the
// batches still queued go back to this worker's own mailbox for the new instance.
func (w *worker) handBack(ctx actor.Context) {
	w.releaseUnsent()
	if b := w.current; b != nil {
		b.Attempts++
		at := w.enc.Decoding()
		switch {
		case b.Attempts > w.d.redeliveries && at >= 0:
			// The failure is in one record's decoding: isolate that record and deliver the rest.
			b.Poisoned = append(b.Poisoned, int32(at))
			b.PoisonError = w.failure
			b.Attempts = 0
			w.log.Error("record failed every attempt; it will be dead-lettered and the rest of its batch delivered",
				"topic", b.Topic, "partition", b.Partition, "offset", b.Records[at].Offset, "error", w.failure,
				"first_bytes", messages.Excerpt(b.Value(at), 120))
			ctx.Send(w.d.workerPIDs[(w.index+1)%len(w.d.workerPIDs)], b)
		case b.Attempts > w.d.redeliveries:
			w.poison(ctx, b)
		default:
			w.d.stats.Redelivered.Add(1)
			next := w.d.workerPIDs[(w.index+1)%len(w.d.workerPIDs)]
			w.log.Warn("redelivering the batch this worker held when it failed", "batch", b.ID,
				"topic", b.Topic, "partition", b.Partition, "first_offset", b.FirstOffset, "attempt", b.Attempts, "to", next.Id)
			ctx.Send(next, b)
		}
		w.current = nil
	}
	for _, b := range w.queue {
		ctx.Send(ctx.Self(), b)
	}
	w.queue = nil
	w.enc.Reset()
}

// poison gives up on a batch that failed every worker it was given to: its records go to the
// dead-letter topic (the dead-letter writer acks the batch once they are written) or, without one,
// are logged and counted as poison. Either way the partition's commits move on.
func (w *worker) poison(ctx actor.Context, b *messages.RawBatch) {
	n := int64(b.Len() + b.Oversized)
	s := w.d.stats
	s.RecordsIn.Add(n)
	s.DatapointsIn.Add(n)
	in := w.d.decoders[b.Topic].in
	in.records.Add(n)
	in.datapoints.Add(n)
	in.bytes.Add(int64(b.Bytes()))
	s.Dropped[messages.ReasonPoison].Add(n)
	w.d.decoders[b.Topic].drops[messages.ReasonPoison].Add(n)
	w.log.Error("batch failed every attempt; giving up on it", "batch", b.ID, "topic", b.Topic, "partition", b.Partition,
		"first_offset", b.FirstOffset, "last_offset", b.LastOffset, "attempts", b.Attempts, "error", w.failure,
		"dead_letter", w.d.deadLetterPID != nil)
	if w.d.deadLetterPID != nil {
		ctx.Send(w.d.deadLetterPID, &poisonBatch{Batch: b, Error: w.failure}) // with the batch's share
		return
	}
	for i := 0; i < b.Len() && i < 5; i++ {
		v := b.Value(i)
		w.log.Error("poison record dropped (no dead_letter topic)", "topic", b.Topic, "partition", b.Partition,
			"offset", b.Records[i].Offset, "bytes", len(v), "first_bytes", messages.Excerpt(v, 120))
	}
	if b.Len() > 5 {
		w.log.Error("more poison records dropped", "count", b.Len()-5)
	}
	b.Ticket.Done()
	b.Release()
}

// releaseAll returns every batch this worker holds to its pool. Reached only when the pipeline is
// stopped before it drained: those batches were never acknowledged, so they are not committed.
func (w *worker) releaseAll() {
	w.releaseUnsent()
	if w.current != nil {
		w.current.Ticket.Abandon()
		w.current.Release()
		w.current = nil
	}
	for _, b := range w.queue {
		b.Ticket.Abandon()
		b.Release()
	}
	w.queue = nil
	w.enc.Reset()
}

// releaseUnsent returns the output batches being filled: never sent, their contents are produced
// again from the RawBatch if it is redelivered.
func (w *worker) releaseUnsent() {
	if w.out != nil {
		w.out.Release()
		w.out = nil
	}
	if w.dl != nil {
		w.dl.Release()
		w.dl = nil
	}
}

func (w *worker) start(ctx actor.Context, b *messages.RawBatch) {
	w.current = b
	w.badNext = 0
	faultWorkerBatch()
	w.enc.Judge(w.d.settings.validator.Load(), w.d.settings.denylist.Load())
	w.enc.Limit(w.d.settings.limits.Load(), w.d.shed, *w.d.settings.classes.Load())
	dec := w.d.decoders[b.Topic]
	w.enc.Relabel(w.d.settings.relabel.Load(), dec.input)
	w.enc.NonFinite(dec.allowNonFinite)
	w.enc.Aggregated(dec.aggregate != nil)
	w.enc.Load(b, *dec.decode.Load(), time.Now().UnixMilli())
	if ts := w.enc.AggregateMaxTs(); ts != 0 {
		w.d.aggProgress.observe(ts, time.Now())
	}
	w.emit(ctx)
}

// emit fills ShardBatches from the encoder and sends each to its writer; a batch goes out when
// full or when the next entry belongs to another writer.
func (w *worker) emit(ctx actor.Context) {
	for !w.enc.Done() {
		owner := w.enc.NextOwner()
		if w.out == nil {
			sb, ok := w.d.shardPool.GetOrNotify(w.wake)
			if !ok {
				w.waiting = true
				return
			}
			w.out, w.outW = sb, owner
		}
		w.enc.Fill(w.out, w.outW)
		w.send(ctx)
	}
	if w.d.deadLetterPool != nil && !w.emitDeadLetters(ctx) {
		return // waiting for a DeadLetterBatch
	}
	w.finish(ctx)
}

// emitDeadLetters copies the batch's unparseable lines into DeadLetterBatches for the
// dead-letter writer. It reports false when it must wait for the pool.
func (w *worker) emitDeadLetters(ctx actor.Context) bool {
	bad := w.enc.Bad()
	for w.badNext < len(bad) {
		bl := bad[w.badNext]
		if w.dl == nil {
			dl, ok := w.d.deadLetterPool.GetOrNotify(w.wake)
			if !ok {
				w.waiting = true
				return false
			}
			w.dl = dl
		}
		if !w.dl.Add(bl.Offset, bl.Reason, bl.Detail, w.enc.BadBytes(w.badNext)) {
			w.sendDeadLetters(ctx)
			continue
		}
		w.badNext++
	}
	if w.dl != nil {
		w.sendDeadLetters(ctx)
	}
	return true
}

func (w *worker) sendDeadLetters(ctx actor.Context) {
	b := w.current
	w.dl.Ticket, w.dl.Topic, w.dl.Partition = b.Ticket.Split(), b.Topic, b.Partition
	ctx.Send(w.d.deadLetterPID, w.dl)
	w.dl = nil
}

// send hands the current ShardBatch to its writer with a share of the batch's ticket.
func (w *worker) send(ctx actor.Context) {
	w.out.Ticket = w.current.Ticket.Split()
	ctx.Send(w.d.writerPIDs[w.outW], w.out)
	w.out = nil
}

// finish completes the worker's share of the batch (every part is handed on), adds its counts,
// releases it and starts the next one.
func (w *worker) finish(ctx actor.Context) {
	b := w.current
	w.current = nil // done with: a failure from here on must not redeliver it
	b.Ticket.Done()
	s, e := w.d.stats, w.enc
	in, drops := e.Counts()
	s.RecordsIn.Add(int64(b.Len() + b.Oversized))
	s.DatapointsIn.Add(in)
	dec := w.d.decoders[b.Topic]
	dec.in.records.Add(int64(b.Len() + b.Oversized))
	dec.in.datapoints.Add(in)
	dec.in.bytes.Add(int64(b.Bytes()))
	byFormat := dec.drops
	for r, n := range drops {
		if n != 0 {
			s.Dropped[r].Add(n)
			byFormat[r].Add(n)
		}
	}
	for o, n := range e.OutputDrops() {
		if n != 0 {
			w.d.outputs[o].relabelDropped.Add(n)
		}
	}
	if bad := e.Bad(); len(bad) > 0 && w.log.IsDebug() {
		w.log.Debug("unparseable lines", "topic", b.Topic, "partition", b.Partition, "count", len(bad),
			"first", string(e.BadBytes(0)), "reason", bad[0].Detail)
	}
	e.Reset()
	b.Release()
	for w.current == nil && len(w.queue) > 0 {
		next := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.start(ctx, next)
	}
}

func typeName(m any) string { return fmt.Sprintf("%T", m) }
