package actors

import (
	"strconv"
	"time"

	"github.com/IBM/sarama"
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

type deadLetterJob struct {
	b        *messages.DeadLetterBatch
	pending  int
	attempts []int
}

// deadLetterWriter produces the unparseable lines of each DeadLetterBatch to the dead-letter
// topic, one record per line, with headers naming where the line came from and why it was
// rejected. When every record of a batch is acknowledged it acks the batch to the offset tracker,
// so the source offsets commit only once the lines are safe.
type deadLetterWriter struct {
	d    *deps
	log  hclog.Logger
	link *outputLink

	jobs     map[uint64]*deadLetterJob
	queue    []deadLetterRef // records waiting for room in the window
	inFlight int
}

func newDeadLetterWriter(d *deps) actor.Producer {
	return func() actor.Actor {
		return &deadLetterWriter{d: d, log: d.log.Named("deadletter"), link: d.deadLetter, jobs: map[uint64]*deadLetterJob{}}
	}
}

func (w *deadLetterWriter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Restarting:
		// Hand the batches to the next incarnation; records in flight are produced again.
		for _, j := range w.jobs {
			ctx.Send(ctx.Self(), j.b)
		}
		w.jobs = nil
	case *actor.Stopping:
		for _, j := range w.jobs {
			j.b.Release()
		}
		w.jobs = nil
	case *actor.Stopped:

	case *messages.DeadLetterBatch:
		// Unique across incarnations, so a late answer never lands on another batch.
		seq := w.d.nextFlushID.Add(1)
		w.jobs[seq] = &deadLetterJob{b: m, pending: len(m.Entries), attempts: make([]int, len(m.Entries))}
		for i := range m.Entries {
			w.queue = append(w.queue, deadLetterRef{seq: seq, idx: i})
		}
		w.pump()
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

// pump sends queued records while the window has room.
func (w *deadLetterWriter) pump() {
	for len(w.queue) > 0 && w.inFlight < deadLetterWindow {
		ref := w.queue[0]
		w.queue = w.queue[1:]
		j := w.jobs[ref.seq]
		if j == nil {
			continue
		}
		b, e := j.b, j.b.Entries[ref.idx]
		w.link.enqueue(&sarama.ProducerMessage{
			Topic: w.d.cfg.DeadLetter.Topic,
			Key:   sarama.StringEncoder(b.Topic + "/" + strconv.Itoa(int(b.Partition))),
			Value: sarama.ByteEncoder(b.Line(ref.idx)),
			Headers: []sarama.RecordHeader{
				{Key: []byte(HeaderSourceTopic), Value: []byte(b.Topic)},
				{Key: []byte(HeaderSourcePartition), Value: []byte(strconv.Itoa(int(b.Partition)))},
				{Key: []byte(HeaderSourceOffset), Value: []byte(strconv.FormatInt(e.Offset, 10))},
				{Key: []byte(HeaderReason), Value: []byte(e.Reason.String())},
				{Key: []byte(HeaderDetail), Value: []byte(e.Detail)},
			},
			Metadata: ref,
		})
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
		w.d.stats.OutputErrors.Add(1)
		j.attempts[ref.idx]++
		b := backoff(j.attempts[ref.idx])
		w.log.Warn("dead-letter write failed; retrying", "attempt", j.attempts[ref.idx], "backoff", b, "error", p.err)
		self, root := ctx.Self(), w.d.system.Root
		time.AfterFunc(b, func() { root.Send(self, &retryDeadLetter{ref: ref}) })
		return
	}
	j.pending--
	if j.pending == 0 {
		w.d.stats.DeadLettered.Add(int64(len(j.b.Entries)))
		ctx.Send(w.d.trackerPID, &Acked{ID: j.b.Source})
		j.b.Release()
		delete(w.jobs, ref.seq)
	}
}
