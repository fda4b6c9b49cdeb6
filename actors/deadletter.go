package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/messages"
)

// Dead-letter record headers.
const (
	HeaderSourceTopic     = "sluice-source-topic"
	HeaderSourcePartition = "sluice-source-partition"
	HeaderSourceOffset    = "sluice-source-offset"
	HeaderReason          = "sluice-reason"
	HeaderDetail          = "sluice-detail"
)

// deadLetterWindow is the most dead-letter records in flight at once.
const deadLetterWindow = 1024

// deadLetterRef identifies one record of a DeadLetterBatch in the producer's answers.
type deadLetterRef struct {
	seq uint64 // the batch's sequence number in this incarnation
	idx int
}

// deadLetterJob is what one message to the dead-letter writer asks for: the unparseable lines of a
// batch (b), every record of a poison batch (poison), or a write an output refused (rejected).
// When every record is written the job completes (complete): a batch's share of its input
// batch's ticket, or the writer's rejectedDone for a refused write.
type deadLetterJob struct {
	b        *messages.DeadLetterBatch
	poison   *poisonBatch
	rejected *rejectedRecord
	pending  int
	attempts []int
}

// complete tells the job's owner that its records are written: it completes the batch's share,
// or answers the writer that refused the write.
func (j *deadLetterJob) complete(ctx actor.Context) {
	switch {
	case j.rejected != nil:
		ctx.Send(j.rejected.writer, &rejectedDone{ref: j.rejected.ref})
	case j.poison != nil:
		j.poison.Batch.Ticket.Done()
	default:
		j.b.Ticket.Done()
	}
}

// abandon gives up the job's share when the pipeline stops before its records are written.
func (j *deadLetterJob) abandon() {
	switch {
	case j.poison != nil:
		j.poison.Batch.Ticket.Abandon()
	case j.b != nil:
		j.b.Ticket.Abandon()
	}
}

func (j *deadLetterJob) len() int {
	if j.rejected != nil {
		return 1
	}
	if j.poison != nil {
		return j.poison.Batch.Len()
	}
	return len(j.b.Entries)
}

func (j *deadLetterJob) source() (topic string, partition int32) {
	if r := j.rejected; r != nil {
		return r.topic, r.shard
	}
	if j.poison != nil {
		return j.poison.Batch.Topic, j.poison.Batch.Partition
	}
	return j.b.Topic, j.b.Partition
}

// record returns entry i's bytes, source offset, reason and detail.
func (j *deadLetterJob) record(i int) ([]byte, int64, messages.Reason, string) {
	if r := j.rejected; r != nil {
		return r.value, -1, messages.ReasonOutputRejected, r.reason
	}
	if j.poison != nil {
		b := j.poison.Batch
		return b.Value(i), b.Records[i].Offset, messages.ReasonPoison, j.poison.Error
	}
	e := j.b.Entries[i]
	return j.b.Line(i), e.Offset, e.Reason, e.Detail
}

func (j *deadLetterJob) release() {
	if j.rejected != nil {
		return // a copy: nothing to give back
	}
	if j.poison != nil {
		j.poison.Batch.Release()
		return
	}
	j.b.Release()
}

func (j *deadLetterJob) resend(ctx actor.Context) {
	if j.rejected != nil {
		ctx.Send(ctx.Self(), j.rejected)
		return
	}
	if j.poison != nil {
		ctx.Send(ctx.Self(), j.poison)
		return
	}
	ctx.Send(ctx.Self(), j.b)
}

// deadLetterWriter writes to the dead-letter topic, through its sink, the unparseable lines of
// each DeadLetterBatch, every record of each poisonBatch and each write an output refused for
// good, one record each, within a window of deadLetterWindow records in flight; failed records
// are retried until they are written. A job completes when all its records are: a batch's is
// acked to the offset tracker, so the source offsets commit only once the lines are safe; a
// refused write's is answered to its writer, whose shard then moves on.
type deadLetterWriter struct {
	d   *deadLetterDeps
	log hclog.Logger

	jobs     map[uint64]*deadLetterJob
	queue    []deadLetterRef // records waiting for room in the window
	inFlight int
}

func newDeadLetterWriter(d *deadLetterDeps) actor.Producer {
	return func() actor.Actor {
		return &deadLetterWriter{d: d, log: d.log.Named("deadletter"), jobs: map[uint64]*deadLetterJob{}}
	}
}

func (w *deadLetterWriter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Restarting:
		// Hand the batches to the next incarnation; records in flight are produced again.
		for _, j := range w.jobs {
			j.resend(ctx)
		}
		w.jobs = nil
	case *actor.Stopping:
		for _, j := range w.jobs {
			j.abandon()
			j.release()
		}
		w.jobs = nil
	case *actor.Stopped:

	case *messages.DeadLetterBatch:
		w.add(ctx, &deadLetterJob{b: m})
	case *poisonBatch:
		w.add(ctx, &deadLetterJob{poison: m})
	case *rejectedRecord:
		w.add(ctx, &deadLetterJob{rejected: m})
	case *produced:
		w.onProduced(ctx, m)
	case *retryDeadLetter:
		if j := w.jobs[m.ref.seq]; j != nil {
			w.queue = append(w.queue, m.ref)
			w.pump()
		}
	default:
		w.log.Warn("unexpected message", "type", typeName(m))
	}
}

// add queues every record of a job.
func (w *deadLetterWriter) add(ctx actor.Context, j *deadLetterJob) {
	// Unique across incarnations, so a late answer never lands on another batch.
	seq := w.d.nextFlushID.Add(1)
	n := j.len()
	j.pending, j.attempts = n, make([]int, n)
	w.jobs[seq] = j
	for i := 0; i < n; i++ {
		w.queue = append(w.queue, deadLetterRef{seq: seq, idx: i})
	}
	if n == 0 {
		w.complete(ctx, seq, j)
	}
	w.pump()
}

// pump sends queued records while the window has room.
func (w *deadLetterWriter) pump() {
	for len(w.queue) > 0 && w.inFlight < deadLetterWindow {
		ref := w.queue[0]
		w.queue = w.queue[1:]
		j := w.jobs[ref.seq]
		if j == nil {
			continue
		}
		topic, partition := j.source()
		value, offset, reason, detail := j.record(ref.idx)
		w.d.sink.send(value, topic, partition, offset, reason, detail, ref)
		w.inFlight++
	}
	if len(w.queue) == 0 {
		w.queue = nil
	}
}

func (w *deadLetterWriter) onProduced(ctx actor.Context, p *produced) {
	ref, ok := p.meta.(deadLetterRef)
	if !ok {
		return
	}
	j := w.jobs[ref.seq]
	if j == nil {
		return // for a batch a failed instance held; not in this instance's window
	}
	w.inFlight--
	defer w.pump()
	if p.err != nil {
		w.d.stats.DeadLetterErrors.Add(1)
		j.attempts[ref.idx]++
		b := w.d.sink.retryDelay(j.attempts[ref.idx])
		w.log.Warn("dead-letter write failed; retrying", "attempt", j.attempts[ref.idx], "backoff", b, "error", p.err)
		self, root := ctx.Self(), ctx.ActorSystem().Root
		time.AfterFunc(b, func() { root.Send(self, &retryDeadLetter{ref: ref}) })
		return
	}
	j.pending--
	if j.pending == 0 {
		w.complete(ctx, ref.seq, j)
	}
}

// complete tells the job's owner every record is written, and releases what it holds.
func (w *deadLetterWriter) complete(ctx actor.Context, seq uint64, j *deadLetterJob) {
	w.d.stats.DeadLettered.Add(int64(j.len()))
	j.complete(ctx)
	j.release()
	delete(w.jobs, seq)
}
