package actors

import (
	"errors"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/messages/shard"
)

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// writer owns a contiguous range of shards. It holds the ShardBatches workers send it and flushes
// them when they reach the output's flush_bytes or after its linger: for every shard it joins the
// shard's segments into one remote-write WriteRequest, snappy-compresses it into that shard's
// reused buffer and produces it as one record to partition = shard. Only when the output has
// acknowledged every record of a flush does it ack the flush's batches to the offset tracker and
// release them; holding them until then bounds what a slow output can make Sluice buffer.
type writer struct {
	d     *deps
	index int
	log   hclog.Logger
	link  *outputLink

	lo, hi int

	held      []*messages.ShardBatch
	heldBytes int
	lingering bool

	flushing []*messages.ShardBatch // the flush in flight
	flushID  uint64
	// flushStart is when the flush in flight began: its records' write latency counts from it,
	// retries included.
	flushStart time.Time
	pending    []bool // per shard of the range: record not yet acknowledged
	waiting    int
	attempts   []int
	due        bool // flush again as soon as the one in flight completes

	scratch []byte
	out     [][]byte // per shard: the compressed record being produced
	cursor  []int
	keys    []sarama.ByteEncoder // per shard: the record key, its id in decimal
	samples []int64              // per shard: datapoints in the record being produced
	// rejected counts the current flush's datapoints the output refused for good.
	rejected int64
}

// produceRef identifies one shard record of a flush in the producer's answers.
type produceRef struct {
	flush uint64
	shard int32
}

func newWriter(d *deps, index int) actor.Producer {
	return func() actor.Actor {
		lo, hi := shard.Range(index, d.shards, d.writers)
		n := hi - lo
		w := &writer{d: d, index: index, log: d.log.Named("writer").With("writer", index), link: d.outputs[index],
			lo: lo, hi: hi, pending: make([]bool, n), attempts: make([]int, n), out: make([][]byte, n), samples: make([]int64, n)}
		for s := lo; s < hi; s++ {
			w.keys = append(w.keys, sarama.ByteEncoder(strconv.Itoa(s)))
		}
		return w
	}
}

func (w *writer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Restarting:
		// Hand everything held to the next instance through the mailbox; a flush in flight is
		// produced again (at-least-once), its late answers are ignored by flush id.
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
		if w.heldBytes >= w.d.cfg.Outputs[0].FlushBytes {
			w.flush(ctx)
		} else if !w.lingering {
			w.lingering = true
			w.after(ctx, w.d.cfg.Outputs[0].Linger, lingerTick{})
		}
	case lingerTick:
		w.lingering = false
		w.flush(ctx)
	case Flush:
		w.flush(ctx)
	case *produced:
		w.onProduced(ctx, m)
	case *rejectedDone:
		if k := int(m.shard) - w.lo; m.flush == w.flushID && k >= 0 && k < len(w.pending) && w.pending[k] {
			w.shardDone(ctx, k)
		}
	case *retryShard:
		if m.flush == w.flushID && w.pending[int(m.shard)-w.lo] {
			w.produce(int(m.shard))
		}
	default:
		w.log.Warn("unexpected message", "type", typeName(m))
	}
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
		w.scratch = w.scratch[:0]
		var samples int64
		for i, b := range w.flushing {
			segs := b.Segments
			for w.cursor[i] < len(segs) && segs[w.cursor[i]].Shard == uint32(s) {
				w.scratch = append(w.scratch, b.Data(segs[w.cursor[i]])...)
				samples += int64(segs[w.cursor[i]].Samples)
				w.cursor[i]++
			}
		}
		w.samples[s-w.lo] = samples
		if len(w.scratch) == 0 {
			continue
		}
		k := s - w.lo
		w.out[k] = remotewrite.Compress(w.out[k][:0], w.scratch)
		w.pending[k] = true
		w.attempts[k] = 0
		w.waiting++
		w.produce(s)
	}
	if w.waiting == 0 { // only empty batches
		w.complete(ctx)
	}
}

// produce sends shard s's record of the current flush (the writer has at most one record per
// shard in flight, within the link's window).
func (w *writer) produce(s int) {
	w.link.enqueue(&sarama.ProducerMessage{Topic: w.d.cfg.Outputs[0].Topic, Partition: int32(s), Key: w.keys[s-w.lo],
		Value: sarama.ByteEncoder(w.out[s-w.lo]), Metadata: produceRef{flush: w.flushID, shard: int32(s)}})
}

func (w *writer) onProduced(ctx actor.Context, p *produced) {
	m, ok := p.meta.(produceRef)
	k := int(m.shard) - w.lo
	if !ok || m.flush != w.flushID || k < 0 || k >= len(w.pending) || !w.pending[k] {
		return // an answer for a flush a failed instance made
	}
	o := w.d.out
	if p.err != nil {
		o.lastWriteFailed.Store(true)
		if permanentOutputError(p.err) {
			o.permanent.Add(1)
			w.reject(ctx, int(m.shard), p.err)
			return
		}
		o.retryable.Add(1)
		w.attempts[k]++
		b := backoff(w.attempts[k])
		w.log.Warn("output write failed; retrying", "shard", m.shard, "attempt", w.attempts[k], "backoff", b, "error", p.err)
		w.after(ctx, b, &retryShard{flush: m.flush, shard: m.shard})
		return
	}
	o.lastWriteFailed.Store(false)
	o.records.Add(1)
	o.bytes.Add(int64(len(w.out[k])))
	o.writeSeconds.Observe(time.Since(w.flushStart).Seconds())
	w.shardDone(ctx, k)
}

func (w *writer) shardDone(ctx actor.Context, k int) {
	w.pending[k] = false
	w.waiting--
	if w.waiting == 0 {
		w.complete(ctx)
	}
}

// permanentOutputError reports errors that retrying cannot fix.
func permanentOutputError(err error) bool {
	var ce sarama.ConfigurationError
	return errors.As(err, &ce) || errors.Is(err, sarama.ErrMessageSizeTooLarge) ||
		errors.Is(err, sarama.ErrInvalidMessageSize) ||
		errors.Is(err, sarama.ErrTopicAuthorizationFailed) || errors.Is(err, sarama.ErrClusterAuthorizationFailed) ||
		errors.Is(err, sarama.ErrInvalidRecord)
}

// reject gives up on shard s's record of the current flush: it goes to the dead-letter topic
// (the shard counts as done when the dead letter is written) or, without one, its samples are
// logged and counted as output_rejected. Retrying would stall the input forever.
func (w *writer) reject(ctx actor.Context, s int, err error) {
	k := s - w.lo
	samples := w.samples[k]
	w.rejected += samples
	w.d.stats.Dropped[messages.ReasonOutputRejected].Add(samples)
	w.log.Error("output refused a shard record for good", "shard", s, "bytes", len(w.out[k]), "samples", samples,
		"error", err, "dead_letter", w.d.deadLetterPID != nil)
	if w.d.deadLetterPID != nil {
		ctx.Send(w.d.deadLetterPID, &rejectedRecord{writer: ctx.Self(), flush: w.flushID, shard: int32(s),
			topic: w.d.cfg.Outputs[0].Topic, value: append([]byte(nil), w.out[k]...), reason: err.Error()})
		return
	}
	w.shardDone(ctx, k)
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
	w.rejected = 0
	if w.due || w.heldBytes >= w.d.cfg.Outputs[0].FlushBytes {
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
