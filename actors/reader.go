package actors

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/output"
)

// reader owns one sarama consumer-group member. Its Kafka loop runs on a goroutine started on
// *actor.Started and cancelled on *actor.Stopping, *actor.Restarting or stopFetching; Receive
// itself never blocks.
//
// The loop packs the records of each claimed partition into RawBatches and sends each to the
// worker the partition table names for that partition. It takes batches from the RawBatch pool,
// waiting when the pool is empty: that wait is the pipeline's backpressure on Kafka.
type reader struct {
	d      *readerDeps
	index  int
	log    hclog.Logger
	cancel context.CancelFunc
}

func newReader(d *readerDeps, index int) actor.Producer {
	return func() actor.Actor {
		return &reader{d: d, index: index, log: d.log.Named("reader").With("reader", index)}
	}
}

func (r *reader) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if r.d.stopping.Load() {
			return
		}
		c, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		// One consumer-group member per input: each input has its own group and topics.
		for _, in := range r.d.cfg.Inputs {
			r.d.readersWG.Add(1)
			go r.run(c, in)
		}
		if len(r.d.cfg.Aggregates) > 0 {
			// Stage B: the aggregation topics, in a group of their own.
			r.d.readersWG.Add(1)
			go r.run(c, aggregationInput(r.d.cfg))
			if r.index == 0 {
				r.d.readersWG.Add(1)
				go func() {
					defer r.d.readersWG.Done()
					r.tickAggregates(c)
				}()
			}
		}
	case *actor.Restarting, *actor.Stopping:
		r.stop()
	case *actor.Stopped:

	case stopFetching:
		r.stop()
	default:
		r.log.Warn("unexpected message", "type", typeName(m))
	}
}

func (r *reader) stop() {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
}

// saramaConsumerConfig is the consumer configuration of reader's group members: kafkaio's, with
// the balance strategy that reports the reader's partition loads.
func saramaConsumerConfig(d *readerDeps, reader int) *sarama.Config {
	c := kafkaio.ConsumerConfig(d.cfg.Kafka, reader)
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{balanceStrategy(d, reader)}
	return c
}

// run is the reader's Kafka loop for one input. It joins the input's group, consumes until ctx
// is cancelled, then leaves the group (sarama commits the marked offsets as the session ends).
func (r *reader) run(ctx context.Context, in *config.Input) {
	defer r.d.readersWG.Done()
	// Joins and consumes that fail are retried after an exponential backoff with full jitter, as
	// every retry in Sluice is, so that a fleet that failed together does not retry together.
	attempt := 0
	var group sarama.ConsumerGroup
	var client sarama.Client // the group's, which also says which topics exist
	for group == nil {
		sc := saramaConsumerConfig(r.d, r.index)
		if in.InitialOffset == "newest" {
			sc.Consumer.Offsets.Initial = sarama.OffsetNewest
		}
		sc.Consumer.IsolationLevel = in.SaramaIsolation()
		c, err := sarama.NewClient(r.d.cfg.Kafka.Brokers, sc)
		if err == nil {
			g, gerr := sarama.NewConsumerGroupFromClient(in.Group, c)
			if gerr == nil {
				group, client = g, c
				break
			}
			_ = c.Close()
			err = gerr
		}
		attempt++
		backoff := output.Backoff(minBackoff, maxBackoff, attempt)
		r.log.Error("cannot join the consumer group; retrying", "group", in.Group, "error", err, "backoff", backoff)
		if !sleepCtx(ctx, backoff) {
			return
		}
	}
	go func() {
		for err := range group.Errors() {
			var ce *sarama.ConsumerError
			if errors.As(err, &ce) && commitRefused(ce.Err) {
				// The group moved on (a rebalance) before this commit: what was marked since the
				// partition's last commit is consumed again by its next owner. Duplicates, no loss.
				r.d.commitsRefused.Add(1)
				r.log.Warn("offset commit refused by the group coordinator; records since the partition's last commit will be consumed again",
					"topic", ce.Topic, "partition", ce.Partition, "error", ce.Err)
				continue
			}
			r.log.Warn("consumer error", "error", err)
		}
	}()
	h := &claimHandler{r: r, stopping: ctx, topics: in.Topics, client: client, group: in.Group, cg: group}
	r.d.rebalances.joining(&h.rebalance, time.Now())
	for ctx.Err() == nil {
		if err := group.Consume(ctx, in.Topics, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			attempt++
			backoff := output.Backoff(minBackoff, maxBackoff, attempt)
			var missing []string
			if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				missing = absent(client, in.Topics)
			}
			if len(missing) > 0 {
				// Said once per topic and process; /readyz, the progress line and
				// sluice_input_topic_missing carry it while it lasts.
				if fresh := r.d.missing.report(missing); len(fresh) > 0 {
					r.log.Warn("input topic does not exist on the brokers; waiting for it", "topics", strings.Join(fresh, ","),
						"group", in.Group, "hint", "create it, or fix the input's topics; the other inputs are not held up")
				}
			} else {
				r.log.Error("consume failed; retrying", "error", err, "backoff", backoff)
			}
			sleepCtx(ctx, backoff)
			continue
		}
		attempt = 0
	}
	if err := group.Close(); err != nil {
		r.log.Warn("leaving the consumer group", "error", err)
	}
	if h.stateProducer != nil {
		_ = h.stateProducer.Close()
	}
	_ = client.Close()
	r.log.Debug("left the consumer group")
}

// commitRefused reports whether err is the group coordinator refusing an offset commit because
// the member's generation is over (a rebalance went on without it).
func commitRefused(err error) bool {
	return errors.Is(err, sarama.ErrIllegalGeneration) || errors.Is(err, sarama.ErrUnknownMemberId) ||
		errors.Is(err, sarama.ErrRebalanceInProgress) || errors.Is(err, sarama.ErrFencedInstancedId)
}

// sleepCtx waits d or until ctx is done; it reports whether the whole d passed. It runs only on
// reader goroutines, never in an actor.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type claimHandler struct {
	r *reader
	// stopping is the reader's context: done when the process stops, not when a rebalance
	// revokes the partitions.
	stopping context.Context
	// rebalance is the rebalance the reader is in, if any. Setup and Cleanup run in turn on the
	// goroutine that calls Consume; sessionEnded records the end of a session on its own one and
	// Cleanup waits for it, so the next Setup sees what it wrote.
	rebalance    readerRebalance
	sessionEnded chan struct{}
	// topics are the input's topics, which exist once a session starts.
	topics []string
	// client is the group's client and group its name (stage B reads its checkpoints with them);
	// stateProducer writes stage B's running totals (aggregate_state.go), made when first needed.
	client        sarama.Client
	group         string
	stateProducer sarama.SyncProducer
	// cg is the group itself, which pauses a replayed partition read to its end.
	cg sarama.ConsumerGroup
}

func (h *claimHandler) Setup(s sarama.ConsumerGroupSession) error {
	d := h.r.d
	waited, cause := d.rebalances.assigned(&h.rebalance, time.Now())
	h.r.log.Info("partitions assigned", "claims", s.Claims(), "generation", s.GenerationID(),
		"rebalance", cause, "waited", waited.Round(time.Millisecond))
	if were := d.missing.found(h.topics); len(were) > 0 {
		h.r.log.Info("input topic exists now", "topics", strings.Join(were, ","))
	}
	d.claims.sessionStarted(h.r.index, s.Claims())
	d.claims.inGroup.Add(1)
	ended := make(chan struct{})
	h.sessionEnded = ended
	go func() {
		defer close(ended)
		<-s.Context().Done()
		cause := context.Cause(s.Context())
		if d.rebalances.ended(&h.rebalance, cause, time.Now()) {
			h.r.log.Info("group session ended; the reader rebalances", "rebalance", sessionEndCause(cause),
				"error", cause, "generation", s.GenerationID())
		}
	}()
	return nil
}

func (h *claimHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	// sarama has cancelled the session's context before it calls Cleanup (and calls it only
	// after a Setup that succeeded).
	if h.sessionEnded != nil {
		<-h.sessionEnded
		h.sessionEnded = nil
	}
	h.r.d.claims.inGroup.Add(-1)
	s.Commit()
	return nil
}

// ConsumeClaim packs one partition's records into RawBatches until the session ends, then waits
// (up to the shutdown timeout) until every batch it sent is acknowledged, so that the partition's
// final offset is committed before another member takes it over.
func (h *claimHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, kc sarama.ConsumerGroupClaim) error {
	d := h.r.d
	if a := d.decoders[kc.Topic()].aggregate; a != nil {
		return h.consumeAggregate(sess, kc, a)
	}
	c := newClaim(sess, kc.Topic(), kc.Partition(), h.r.index)
	c.group = h.group
	d.claims.add(c)
	defer d.claims.remove(c)
	l := &claimLoop{r: h.r, c: c, sess: sess, lineBased: d.decoders[c.Topic].lineBased, linger: time.NewTimer(time.Hour)}
	l.linger.Stop()
	defer l.linger.Stop()
	done := sess.Context().Done()
	// A replay (replay.go) reads the partition up to end and skips the rest; returning early
	// would end the whole session (sarama), so the claim stays, paused.
	end, replaying := d.replay.bound(c.Topic, c.Partition)
	reached := replaying && kc.InitialOffset() >= end
	if reached {
		h.reachedEnd(c)
	}
loop:
	for {
		select {
		case m, ok := <-kc.Messages():
			if !ok {
				break loop
			}
			// With an exactly-once output a record is added, and a batch sent, only through the
			// gate, which the committer shuts while it makes a transaction (committer.go).
			if !d.gate.enter(sess.Context()) {
				break loop // the session ended; m is consumed again later
			}
			ok = h.take(l, kc, m, end, replaying, &reached)
			d.gate.leave()
			if !ok {
				break loop
			}
		case <-l.linger.C:
			if d.gate.enter(sess.Context()) {
				l.flush()
				d.gate.leave()
			}
		case <-done:
			break loop
		}
	}
	if d.gate.enter(h.stopping) {
		l.flush()
		d.gate.leave()
	} else if l.b != nil { // stopping past the deadline: the batch is not sent, its records not marked
		l.b.Release()
		l.b = nil
	}
	h.drain(c)
	return nil
}

// take adds one record to l's batches, or skips it past a replay's end; false when the session
// ended meanwhile (m is consumed again later).
func (h *claimHandler) take(l *claimLoop, kc sarama.ConsumerGroupClaim, m *sarama.ConsumerMessage, end int64, replaying bool, reached *bool) bool {
	d, c := h.r.d, l.c
	if replaying {
		if *reached || m.Offset >= end {
			if !*reached {
				*reached = true
				l.flush()
				h.reachedEnd(c)
			}
			return true // past the range: not read, not marked
		}
		if !d.replay.wait(l.sess.Context()) {
			return false
		}
	}
	c.took(m, kc.HighWaterMarkOffset())
	if !l.add(m) {
		return false // the session ended while waiting for a batch
	}
	if replaying && m.Offset >= end-1 {
		*reached = true
		l.flush() // in flight from here on, which ReplayPending counts
		h.reachedEnd(c)
	}
	return true
}

// reachedEnd records that a replayed partition's range is read (or starts past its end) and
// pauses its fetches: what follows is not replayed.
func (h *claimHandler) reachedEnd(c *claim) {
	h.r.d.replay.reach(c.Topic, c.Partition)
	if h.cg != nil {
		h.cg.Pause(map[string][]int32{c.Topic: {c.Partition}})
	}
}

// claimLoop is the state of one partition's fetch loop: the batch being filled and its timer.
type claimLoop struct {
	r         *reader
	c         *claim
	sess      sarama.ConsumerGroupSession
	lineBased bool
	b         *messages.RawBatch
	linger    *time.Timer
}

// batch makes sure a batch is being filled, waiting for the pool when it is empty (this wait is
// the pipeline's backpressure on Kafka). It reports false when the session ended meanwhile.
func (l *claimLoop) batch() bool {
	if l.b != nil {
		return true
	}
	b, err := l.r.d.rawPool.Get(l.sess.Context())
	if err != nil {
		return false
	}
	l.b = b
	l.linger.Reset(l.r.d.cfg.Pipeline.BatchLinger)
	return true
}

// add puts one record into batches, flushing them as they fill.
func (l *claimLoop) add(m *sarama.ConsumerMessage) bool {
	if !l.batch() {
		return false
	}
	ts := m.Timestamp.UnixMilli()
	switch {
	case l.b.Append(m.Offset, ts, m.Value):
	case !l.b.FitsEmpty(len(m.Value)) && l.lineBased:
		return l.split(m.Offset, ts, m.Value)
	case !l.b.FitsEmpty(len(m.Value)):
		l.r.log.Warn("record larger than a whole batch; dropped", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "bytes", len(m.Value), "batch_bytes", l.b.Capacity())
		l.b.SkipOversized(m.Offset)
	default: // fits an empty batch, not this one
		l.flush()
		if !l.batch() {
			return false
		}
		l.b.Append(m.Offset, ts, m.Value)
	}
	if l.b.Full() {
		l.flush()
	}
	return true
}

// split spreads a record of a line-based format that is larger than a batch over several
// batches, cut at line boundaries. A single line longer than a whole batch is dropped and
// counted (line_too_long); the record's other lines are kept.
func (l *claimLoop) split(offset, ts int64, v []byte) bool {
	skipped := 0
	for len(v) > 0 {
		if !l.batch() {
			return false
		}
		room := l.b.Room()
		if len(v) <= room {
			l.b.AppendChunk(offset, ts, v, true)
			v = nil
			break
		}
		if cut := bytes.LastIndexByte(v[:room], '\n'); cut >= 0 {
			l.b.AppendChunk(offset, ts, v[:cut+1], false)
			v = v[cut+1:]
			l.flush()
			continue
		}
		if !l.b.Empty() {
			l.flush() // the next line may fit an empty batch
			continue
		}
		// One line longer than an empty batch.
		n := bytes.IndexByte(v, '\n')
		if n < 0 {
			v = nil
		} else {
			v = v[n+1:]
		}
		l.b.SkipLongLine(offset, len(v) == 0)
		skipped++
	}
	if skipped > 0 {
		l.r.log.Warn("lines longer than a whole batch; dropped, the record's other lines kept", "topic", l.c.Topic,
			"partition", l.c.Partition, "offset", offset, "lines", skipped, "batch_bytes", l.b.Capacity())
	}
	if l.b.Full() {
		l.flush()
	}
	return true
}

// flush sends the batch being filled: trackBatch to the offset tracker first, then the batch to the
// worker that the partition table names for the partition.
func (l *claimLoop) flush() {
	l.linger.Stop()
	b := l.b
	if b == nil {
		return
	}
	l.b = nil
	if b.Empty() {
		b.Release()
		return
	}
	d, c := l.r.d, l.c
	b.ID = d.nextBatchID.Add(1)
	b.Topic, b.Partition = c.Topic, c.Partition
	b.Ticket = c.issue(d.tickets, b.ID)
	t := &trackBatch{ID: b.ID, Claim: c, First: b.FirstOffset, Last: b.LastOffset, Records: len(b.Records)}
	if len(b.Records) > 0 {
		t.AppendedMs = b.Records[0].Timestamp
	}
	l.r.send(d.trackerPID, t)
	l.r.send(d.workerFor(c.Topic, c.Partition, b.ID), b)
}

// drain waits until every batch of c is acknowledged (the tracker then marked its last offset),
// or the rebalance's time is up, or, when the process stops, until Stop gives up (its deadline,
// the shutdown timeout, passed), so that what a reader logs comes before the stop's summary.
func (h *claimHandler) drain(c *claim) {
	d := h.r.d
	if d.committerPID != nil {
		defer h.commitTransaction(c)
	}
	if c.inflight.Load() == 0 {
		return
	}
	for _, w := range d.writerPIDs {
		h.r.send(w, flushNow{})
	}
	wait, why := revokeDrain(d.cfg), "revoked"
	if h.stopping.Err() != nil {
		wait, why = d.cfg.Pipeline.ShutdownTimeout, "stopping"
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	began := time.Now()
	for c.inflight.Load() > 0 {
		select {
		case <-c.drained:
		case <-d.giveUp:
			h.r.log.Warn("partition released with batches not acknowledged; they will be consumed again",
				"topic", c.Topic, "partition", c.Partition, "batches", c.inflight.Load(), "cause", "shutdown timeout",
				"waited", time.Since(began).Round(time.Millisecond))
			return
		case <-deadline.C:
			// Their offsets are not marked, so they are not committed: the next owner reads them again.
			h.r.log.Warn("partition released with batches not acknowledged; they will be consumed again",
				"topic", c.Topic, "partition", c.Partition, "batches", c.inflight.Load(), "cause", why, "waited", wait)
			return
		}
	}
}

// commitTransaction asks the committer for a transaction now, so that what c's batches wrote is
// committed with their offsets before the partition goes to another member (whose group
// generation would fence this one's), and waits for it, as long as drain may.
func (h *claimHandler) commitTransaction(c *claim) {
	d := h.r.d
	if c.acked.Load() < 0 {
		return // nothing acknowledged, nothing to commit
	}
	wait := revokeDrain(d.cfg)
	if h.stopping.Err() != nil {
		wait = d.cfg.Pipeline.ShutdownTimeout
	}
	done := make(chan struct{})
	h.r.send(d.committerPID, commitNow{done: done})
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-d.giveUp:
	case <-t.C:
		h.r.log.Warn("partition released before its transaction committed; what it wrote since the last commit is aborted and read again",
			"topic", c.Topic, "partition", c.Partition, "waited", wait)
	}
}

// revokeDrain is how long a member whose partitions a rebalance revokes waits for their batches
// to be acknowledged: what is left of the rebalance timeout after the heartbeat that told it of
// the rebalance (up to a heartbeat interval late), with time to commit and join.
func revokeDrain(cfg *config.Config) time.Duration {
	return max(cfg.Kafka.RebalanceTimeout-cfg.Kafka.HeartbeatInterval-500*time.Millisecond, 500*time.Millisecond)
}

// send delivers a message from the reader's goroutine.
func (r *reader) send(pid *actor.PID, msg any) { r.d.root.Send(pid, msg) }
