package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/messages"
)

// trackEntry is one in-flight RawBatch.
type trackEntry struct {
	id    uint64
	claim *claim
	last  int64
	// appendedMs and records feed the latency histogram when the batch completes.
	appendedMs int64
	records    int
	done       bool
	checkpoint *checkpointMark
}

// tracker is the offset tracker: per partition it keeps the in-flight batches in offset order and
// how many output acks each still waits for, and marks the offset below which every batch is
// fully acknowledged. sarama commits marked offsets on an interval and when a session ends, so
// an input offset is committed only after every datapoint before it reached the output.
type tracker struct {
	d   *trackerDeps
	log hclog.Logger
	*trackerState
}

// trackerState outlives a tracker instance: the claims' queues point into it, so a restarted
// tracker must carry on with the same entries or the partitions they block would never commit
// again. Only one tracker instance runs at a time, so it needs no lock.
type trackerState struct {
	entries map[uint64]*trackEntry
	free    []*trackEntry
}

func newTrackerState() *trackerState { return &trackerState{entries: map[uint64]*trackEntry{}} }

func newTracker(d *trackerDeps) actor.Producer {
	return func() actor.Actor {
		return &tracker{d: d, log: d.log.Named("tracker"), trackerState: d.state}
	}
}

func (t *tracker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
	case *actor.Restarting:
		// The message that failed is lost (a trackBatch or a completed ticket): the batch it
		// concerned cannot complete any more, so its partition's commits stop there until the
		// partition is reassigned, when the batch is consumed again. Everything else carries on.
		t.log.Warn("offset tracker restarting; its state is kept", "in_flight", len(t.entries))
	case *actor.Stopping:
		if n := len(t.entries); n > 0 {
			t.d.stats.BatchesLeft.Add(int64(n))
			t.log.Warn("stopping with batches not fully acknowledged; their offsets stay uncommitted", "batches", n)
		}
	case *actor.Stopped:

	case *trackBatch:
		e := t.get()
		e.id, e.claim, e.last = m.ID, m.Claim, m.Last
		e.appendedMs, e.records, e.checkpoint = m.AppendedMs, m.Records, m.Checkpoint
		if len(m.Claim.queue) == 0 {
			m.Claim.oldestMs.Store(m.AppendedMs)
		}
		m.Claim.queue = append(m.Claim.queue, e)
		t.entries[m.ID] = e
	case *messages.Ticket:
		if e := t.entries[m.ID]; e != nil {
			t.check(e)
		}
	default:
		t.log.Warn("unexpected message", "type", typeName(m))
	}
}

func (t *tracker) get() *trackEntry {
	if n := len(t.free); n > 0 {
		e := t.free[n-1]
		t.free = t.free[:n-1]
		return e
	}
	return &trackEntry{}
}

// trackerCompleter hands completed tickets to the offset tracker, from whichever actor completed
// the last share.
type trackerCompleter struct {
	root    *actor.RootContext
	tracker *actor.PID
}

func (c trackerCompleter) Complete(t *messages.Ticket) { c.root.Send(c.tracker, t) }

// check completes e, whose ticket completed, then moves the partition's watermark over the
// completed batches at the front of its queue.
func (t *tracker) check(e *trackEntry) {
	if e.done {
		return
	}
	e.done = true
	if e.records > 0 && e.appendedMs > 0 {
		t.d.latency.Record(time.Now().UnixMilli()-e.appendedMs, e.records)
	}
	c := e.claim
	delete(t.entries, e.id)
	next := int64(-1)
	var cp *checkpointMark
	q := c.queue
	for len(q) > 0 && q[0].done {
		next = q[0].last + 1
		if q[0].checkpoint != nil {
			cp = q[0].checkpoint
		}
		*q[0] = trackEntry{}
		t.free = append(t.free, q[0])
		q[0] = nil
		q = q[1:]
	}
	if len(q) == 0 {
		q = c.queue[:0]
		c.oldestMs.Store(0)
	} else {
		c.oldestMs.Store(q[0].appendedMs)
	}
	c.queue = q
	switch {
	case c.aggregate:
		// An aggregation partition commits its checkpoints, not the offsets its batches cover.
		if cp != nil {
			c.markCheckpoint(cp)
		}
	case next >= 0 && t.d.transactional:
		// The committer commits it with the transaction that holds the batches' records.
		c.markedAt.Store(time.Now().UnixNano())
		c.acked.Store(next)
	case next >= 0:
		c.mark(next)
	}
	// Only now, with the offset marked, may a draining reader go on to commit: signalled before
	// the mark, the reader could commit first and the partition's next owner would consume the
	// batch again.
	if c.inflight.Add(-1) == 0 {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}
