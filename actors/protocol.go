package actors

import (
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/sluicehq/sluice/messages"
)

// Messages between actors, besides the batches of package messages. Batches move ownership when
// sent; these control messages carry no batch and are small.

// trackBatch tells the offset tracker that a reader handed a RawBatch to a worker, before the
// batch goes: the tracker then knows the batch when its ticket completes. A completed ticket
// (*messages.Ticket, sent by whoever completed its last share: messages/ticket.go) is the other
// message the tracker takes.
type trackBatch struct {
	ID          uint64
	Claim       *claim
	First, Last int64
	// AppendedMs is the Kafka timestamp of the batch's first record; Records how many it holds.
	AppendedMs int64
	Records    int
	// Checkpoint, on an aggregation partition's batch of closed windows, is what to commit once
	// it and every batch before it are acknowledged (nil: nothing; see aggregator.go).
	Checkpoint *checkpointMark
}

// checkpointMark is an aggregation partition's checkpoint as committed: the offset to replay
// from, with the watermark state in the commit's metadata.
type checkpointMark struct {
	Offset   int64
	Metadata string
}

// poisonBatch hands a RawBatch that failed its worker too often to the dead-letter writer, which
// writes each record to the dead-letter topic and then completes the batch's share.
type poisonBatch struct {
	Batch *messages.RawBatch
	Error string
}

// rejectedRecord hands the dead-letter writer a shard record or request the output refused for
// good (too large, not authorized, a 4xx, retries exhausted). Value is a copy; the writer waits
// for rejectedDone before it counts the part as done, so the input is committed only once the
// record is safe. topic and shard say where it was going.
type rejectedRecord struct {
	writer *actor.PID
	ref    produceRef
	topic  string
	shard  int32
	value  []byte
	reason string
}

// rejectedDone tells a writer its rejected part is on the dead-letter topic.
type rejectedDone struct{ ref produceRef }

// stopFetching asks a reader to stop consuming, drain what it sent and leave the group.
type stopFetching struct{}

// flushNow asks a writer to flush what it holds now.
type flushNow struct{}

// poolReady wakes a worker that waited for a free ShardBatch.
type poolReady struct{}

// lingerTick is a writer's linger timer for one of its shards firing.
type lingerTick struct{ shard int }

// produced is the output's answer for one record; meta is the record's Metadata.
type produced struct {
	meta any
	err  error
	// written is the samples a remote-write 2.0 receiver says it wrote, -1 when it does not say
	// (always, from Kafka and 1.0 receivers: partial writes are not reported there).
	written int64
}

// retryShard re-sends one part of a flush after a backoff.
type retryShard struct{ ref produceRef }

// retryDeadLetter re-sends one dead-letter record after a backoff.
type retryDeadLetter struct{ ref deadLetterRef }

// beginShutdown tells the root actor that terminations from now on are expected.
type beginShutdown struct{}

// claim is one partition of one consumer-group session, shared by the reader goroutine that
// consumes it and the offset tracker that commits it.
type claim struct {
	Topic     string
	Partition int32
	sess      sarama.ConsumerGroupSession
	reader    int // the reader whose group member owns the claim
	// aggregate: a partition of an aggregation topic, which commits checkpoints (aggregation.go);
	// aggSeries is its output series in open windows, aggWatermark its watermark (ms, 0: none).
	aggregate    bool
	aggSeries    atomic.Int64
	aggWatermark atomic.Int64

	// inflight counts batches issued (issue) and not yet completed and marked (tracker.check).
	inflight atomic.Int64
	// drained receives a token when inflight drops to zero.
	drained chan struct{}
	// lag is the high watermark minus the next offset to consume.
	lag atomic.Int64
	// bytes and records count what was read from the partition, for the coordinator.
	bytes, records atomic.Int64
	// oldestMs is the Kafka timestamp of the oldest record not yet acknowledged (0: none in
	// flight), kept by the tracker; markedAt is when the committable offset last moved (unix ns),
	// from the claim's start. /metrics and /readyz read them.
	oldestMs, markedAt atomic.Int64

	// queue holds the tracker's in-flight entries in offset order. Only the tracker touches it.
	queue []*trackEntry

	// With an exactly-once output: group is the claim's consumer group, and acked the offset
	// below which every batch is acknowledged (-1: none yet), which the committer commits in a
	// transaction instead of the session's marks.
	group string
	acked atomic.Int64
}

// ended reports whether the claim's group session is over.
func (c *claim) ended() bool { return c.sess != nil && c.sess.Context().Err() != nil }

func newClaim(sess sarama.ConsumerGroupSession, topic string, partition int32, reader int) *claim {
	c := &claim{Topic: topic, Partition: partition, sess: sess, reader: reader, drained: make(chan struct{}, 1)}
	c.acked.Store(-1)
	c.markedAt.Store(time.Now().UnixNano())
	return c
}

// took counts a record read from the claim's partition, whose high watermark is now hw.
func (c *claim) took(m *sarama.ConsumerMessage, hw int64) {
	c.lag.Store(hw - m.Offset - 1)
	c.bytes.Add(int64(len(m.Value)))
	c.records.Add(1)
}

// issue gives batch id of this claim its ticket and counts it in flight until the tracker has
// marked its offsets.
func (c *claim) issue(tickets *messages.Tickets, id uint64) messages.Share {
	c.inflight.Add(1)
	return tickets.Issue(id)
}

// freshness is how far behind the partition's output is: now minus the Kafka timestamp of its
// oldest record not yet acknowledged, 0 when nothing is in flight.
func (c *claim) freshness(now time.Time) time.Duration {
	ms := c.oldestMs.Load()
	if ms <= 0 {
		return 0
	}
	return max(now.Sub(time.UnixMilli(ms)), 0)
}

// commitAge is how long ago the partition's committable offset last moved (or the claim began).
func (c *claim) commitAge(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.markedAt.Load()))
}

// mark records the next offset to consume; sarama commits marked offsets on its interval and
// when the session ends.
func (c *claim) mark(next int64) {
	c.markedAt.Store(time.Now().UnixNano())
	if c.sess != nil {
		c.sess.MarkOffset(c.Topic, c.Partition, next, "")
	}
}

// markCheckpoint records an aggregation partition's checkpoint: its offset may be at or before
// the one marked last (replay goes back to the oldest open window), and its metadata is new
// even then. MarkOffset moves only forward and ResetOffset only back or in place, so one of the
// two takes it, and the second of them leaves it so.
func (c *claim) markCheckpoint(m *checkpointMark) {
	c.markedAt.Store(time.Now().UnixNano())
	if c.sess != nil {
		c.sess.MarkOffset(c.Topic, c.Partition, m.Offset, m.Metadata)
		c.sess.ResetOffset(c.Topic, c.Partition, m.Offset, m.Metadata)
	}
}
