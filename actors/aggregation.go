package actors

// Stage B of streaming aggregation (docs/aggregation.md): a reader's claim of an
// aggregation topic's partition feeds its records, in offset order, to one aggregate.Partition.
// The windows a record closes are encoded as remote-write requests into RawBatches, which go to a
// worker like any input batch: they are routed, relabeled, budgeted and written as any series,
// never aggregated again. Such a batch's ticket carries the partition's checkpoint, which the
// tracker commits once that batch and every one before it are acknowledged: the offset to replay
// from and, in the commit's metadata, the watermark state to replay with. So whoever owns the
// partition next rebuilds exactly the windows still open, and emits a window again only when
// its first emission was not acknowledged, with the same value.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/aggregate"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/output"
)

// aggregationInput is the input block stage B's group members read: every aggregate's topic, in
// the aggregation group, from the oldest record of a partition never committed.
func aggregationInput(cfg *config.Config) *config.Input {
	in := &config.Input{Format: "aggregate", Group: cfg.AggregateGroup(), InitialOffset: "oldest"}
	for _, a := range cfg.Aggregates {
		in.Topics = append(in.Topics, a.Topic)
	}
	return in
}

// committedCheckpoint reads the checkpoint committed for an aggregation partition: its offset is
// where sarama starts the claim (initial), its watermark state is in the commit's metadata.
func committedCheckpoint(ctx context.Context, client sarama.Client, group, topic string, partition int32, initial int64) (aggregate.Checkpoint, int64, error) {
	cp := aggregate.Checkpoint{Offset: initial, MaxTs: aggregate.NoCheckpoint}
	b, err := client.Coordinator(group)
	if err != nil {
		return cp, 0, err
	}
	req := &sarama.OffsetFetchRequest{Version: 1, ConsumerGroup: group}
	req.AddPartition(topic, partition)
	resp, err := b.FetchOffset(req)
	if err != nil {
		return cp, 0, err
	}
	blk := resp.GetBlock(topic, partition)
	if blk == nil {
		return cp, 0, nil
	}
	if !errors.Is(blk.Err, sarama.ErrNoError) {
		return cp, 0, blk.Err
	}
	if blk.Offset != initial && blk.Offset >= 0 {
		// Committed again since the session started: only the partition's previous owner
		// could, before this session; sarama's offset is the one consumed from.
		return cp, 0, fmt.Errorf("committed offset %d differs from the claim's first %d", blk.Offset, initial)
	}
	maxTs, since, next, state, ok := config.ParseAggregateMetadata(blk.Metadata)
	if !ok {
		return cp, 0, nil
	}
	cp.MaxTs, cp.Since = maxTs, since
	if state >= 0 {
		if cp.Totals, err = readState(ctx, client, topic, partition, state, next); err != nil {
			return cp, 0, err
		}
	}
	return cp, next, nil
}

// aggregateCounters are one aggregate's totals in this process: datapoints stage B took (not
// counting again what a previous owner took before its last checkpoint) and output samples it
// emitted.
type aggregateCounters struct{ in, emitted atomic.Int64 }

// stageB is one claimed aggregation partition's state, on the claim's goroutine.
type stageB struct {
	h    *claimHandler
	c    *claim
	sess sarama.ConsumerGroupSession
	p    *aggregate.Partition
	dec  *topicDecoder
	// news is the offset from which records were not taken before the checkpoint: late samples
	// before it are replays of windows emitted already, not late datapoints.
	news int64

	rows   messages.Rows
	labels []aggregate.Label
	// req is the remote-write request being encoded from closed windows (uncompressed), emitted
	// whether anything was emitted since the last send; comp holds a compressed record.
	req, comp []byte
	tags      []messages.Tag
	lab       []byte // one output series' encoded labels
	emitted   bool
	// emitFn is emit as a func value, made once: a method value made per datapoint allocates.
	emitFn aggregate.Emit
	// cur is the record being taken; failed: the session ended while its windows were encoded.
	cur       *sarama.ConsumerMessage
	failed    bool
	batches   []*messages.RawBatch
	maxRecord int
	markedAt  time.Time
}

// consumeAggregate runs one aggregation partition until the session ends.
func (h *claimHandler) consumeAggregate(sess sarama.ConsumerGroupSession, kc sarama.ConsumerGroupClaim, a *config.Aggregate) error {
	d := h.r.d
	// Without its watermark state the partition would close windows differently than its
	// previous owner did: it is not consumed until the checkpoint is read (retried with backoff
	// while the session lasts; a rebalance starts it afresh).
	var cp aggregate.Checkpoint
	var news int64
	for attempt := 1; ; attempt++ {
		var err error
		if cp, news, err = committedCheckpoint(sess.Context(), h.client, h.group, kc.Topic(), kc.Partition(), kc.InitialOffset()); err == nil {
			break
		}
		backoff := output.Backoff(minBackoff, maxBackoff, attempt)
		h.r.log.Error("cannot read the aggregation partition's checkpoint; retrying", "topic", kc.Topic(), "partition", kc.Partition(),
			"error", err, "backoff", backoff)
		if !sleepCtx(sess.Context(), backoff) {
			return nil
		}
	}
	c := newClaim(sess, kc.Topic(), kc.Partition(), h.r.index)
	c.aggregate = true
	d.claims.add(c)
	defer d.claims.remove(c)
	g := &stageB{h: h, c: c, sess: sess, dec: d.decoders[kc.Topic()], news: news,
		p:         aggregate.NewPartition(a.Spec, a.Lateness.Milliseconds(), cp),
		maxRecord: d.cfg.Pipeline.BatchBytes / 2, markedAt: time.Now()}
	g.p.MaxSeries = a.MaxSeries
	g.emitFn = g.emit
	if cp.MaxTs != aggregate.NoCheckpoint {
		h.r.log.Info("aggregation partition resumes from its checkpoint", "topic", c.Topic, "partition", c.Partition,
			"offset", cp.Offset, "replay_until", news, "watermark", time.UnixMilli(cp.MaxTs).UTC().Format(time.RFC3339Nano), "totals", len(cp.Totals))
	}
	done := sess.Context().Done()
loop:
	for {
		select {
		case m, ok := <-kc.Messages():
			if !ok {
				break loop
			}
			c.took(m, kc.HighWaterMarkOffset())
			if !g.take(m) {
				break loop
			}
		case <-done:
			break loop
		}
	}
	for _, b := range g.batches { // the session ended while they filled: not sent, not committed
		b.Release()
	}
	h.drain(c)
	return nil
}

// take feeds one record to the partition and sends what it closed, with the checkpoint after it.
// It reports false when the session ended while waiting for a batch.
func (g *stageB) take(m *sarama.ConsumerMessage) bool {
	g.cur = m
	if isState(m) { // running totals, read only when the partition is assigned
		return true
	}
	if len(m.Value) == 0 { // a tick: stage A's wall clock, which closes idle windows
		g.p.Tick(m.Timestamp.UnixMilli(), g.emitFn)
	} else {
		g.rows.Reset()
		remotewrite.Parse(&g.rows, m.Value, 0)
		late, dropped := g.p.Late, g.p.Dropped
		if m.Offset >= g.news {
			g.dec.agg.in.Add(int64(len(g.rows.Points)))
		}
		for i := range g.rows.Points {
			dp := &g.rows.Points[i]
			g.labels = append(g.labels[:0], aggregate.Label{Name: "__name__", Value: unsafeString(dp.Metric)})
			for _, t := range dp.Tags {
				g.labels = append(g.labels, aggregate.Label{Name: unsafeString(t.Key), Value: unsafeString(t.Value)})
			}
			g.p.Add(m.Offset, g.labels, dp.Timestamp, dp.Value, g.emitFn)
		}
		if m.Offset >= g.news {
			if n := g.p.Late - late; n > 0 {
				g.dec.drops[messages.ReasonLate].Add(n)
			}
			if n := g.p.Dropped - dropped; n > 0 {
				g.dec.drops[messages.ReasonMaxSeries].Add(n)
			}
		}
	}
	if g.failed {
		return false
	}
	next := m.Offset + 1
	g.c.aggSeries.Store(int64(g.p.Series()))
	if wm := g.p.Watermark(); wm != aggregate.NoCheckpoint {
		g.c.aggWatermark.Store(wm)
	}
	if g.emitted {
		if !g.cut(m) {
			return false
		}
		g.send(g.checkpoint(next))
		g.emitted = false
		return true
	}
	// Nothing emitted and nothing in flight: the checkpoint may move on now (idle partitions
	// and open windows alike), every commit interval. Running totals change only as windows
	// close, which emits them; a partition holding some waits for that.
	if g.c.inflight.Load() == 0 && time.Since(g.markedAt) >= g.h.r.d.cfg.Kafka.CommitInterval {
		if cp := g.p.Checkpoint(next); len(cp.Totals) == 0 {
			g.c.markCheckpoint(&checkpointMark{Offset: cp.Offset, Metadata: config.AggregateMetadata(cp.MaxTs, cp.Since, next, -1)})
		}
		g.markedAt = time.Now()
	}
	return true
}

// checkpoint is the checkpoint after the record before next, its running totals written to the
// partition first; nil (nothing to commit with these windows) when they could not be.
func (g *stageB) checkpoint(next int64) *checkpointMark {
	cp := g.p.Checkpoint(next)
	state := int64(-1)
	if len(cp.Totals) > 0 {
		off, err := g.h.writeState(g.c.Topic, g.c.Partition, next, cp.Totals)
		if err != nil {
			g.h.r.log.Warn("cannot write the aggregation partition's running totals; its checkpoint waits for the next windows",
				"topic", g.c.Topic, "partition", g.c.Partition, "error", err)
			return nil
		}
		state = off
	}
	return &checkpointMark{Offset: cp.Offset, Metadata: config.AggregateMetadata(cp.MaxTs, cp.Since, next, state)}
}

// emit encodes one output series' value of a closed window into the request being built.
func (g *stageB) emit(end int64, name string, labels []aggregate.Label, value float64) {
	g.tags = g.tags[:0]
	for _, l := range labels { // read only: views of the strings, no copies
		g.tags = append(g.tags, messages.Tag{Key: unsafeBytes(l.Name), Value: unsafeBytes(l.Value)})
	}
	g.lab = remotewrite.AppendLabels(g.lab[:0], unsafeBytes(name), g.tags)
	g.req = remotewrite.AppendSeriesLabels(g.req, len(g.lab)+remotewrite.SampleSize(end), g.lab)
	g.req = remotewrite.AppendSample(g.req, value, end)
	g.emitted = true
	if len(g.req) > g.maxRecord && !g.failed && !g.cut(g.cur) {
		// Many windows closed at once make several records; the session ended meanwhile.
		g.failed = true
	}
	g.dec.agg.emitted.Add(1)
}

// cut compresses the request built so far into a record of the batch being filled.
func (g *stageB) cut(m *sarama.ConsumerMessage) bool {
	if len(g.req) == 0 {
		return true
	}
	g.comp = remotewrite.Compress(g.comp[:0], g.req)
	g.req = g.req[:0]
	if n := len(g.batches); n == 0 || !g.batches[n-1].Append(m.Offset, m.Timestamp.UnixMilli(), g.comp) {
		b, err := g.h.r.d.rawPool.Get(g.sess.Context())
		if err != nil {
			return false
		}
		if !b.Append(m.Offset, m.Timestamp.UnixMilli(), g.comp) {
			b.Release()
			g.h.r.log.Error("closed windows larger than a whole batch; dropped", "topic", g.c.Topic, "partition", g.c.Partition,
				"bytes", len(g.comp), "batch_bytes", b.Capacity())
			return true
		}
		g.batches = append(g.batches, b)
	}
	return true
}

// send hands the filled batches to workers, the last with the checkpoint to commit once they
// are all acknowledged.
func (g *stageB) send(cp *checkpointMark) {
	d, c := g.h.r.d, g.c
	for i, b := range g.batches {
		b.ID = d.nextBatchID.Add(1)
		b.Topic, b.Partition = c.Topic, c.Partition
		b.Ticket = c.issue(d.tickets, b.ID)
		t := &trackBatch{ID: b.ID, Claim: c, First: b.FirstOffset, Last: b.LastOffset, Records: len(b.Records)}
		if i == len(g.batches)-1 {
			t.Checkpoint = cp
		}
		g.h.r.send(d.trackerPID, t)
		g.h.r.send(d.workerFor(c.Topic, c.Partition, b.ID), b)
	}
	clear(g.batches)
	g.batches = g.batches[:0]
	g.markedAt = time.Now()
}

// unsafeString views b as a string without copying: the partition copies the labels it keeps.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// unsafeBytes views s as bytes without copying, for reading only.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// aggregateProgress is how far this process's stage A has come in datapoint time: the newest
// timestamp it sent to an aggregate, and when (wall clock) that newest one was seen.
type aggregateProgress struct{ ts, seenAt atomic.Int64 }

// observe records a batch's newest aggregated timestamp.
func (a *aggregateProgress) observe(ts int64, now time.Time) {
	for {
		old := a.ts.Load()
		if ts <= old {
			return
		}
		if a.ts.CompareAndSwap(old, ts) {
			a.seenAt.Store(now.UnixMilli())
			return
		}
	}
}

// at is the datapoint time now: the newest timestamp, moved on by the wall time since it was
// seen (0: no datapoint yet). Live data keeps it near the wall clock; a backlog being read keeps
// it in the backlog's time, so that its windows are not closed ahead of it.
func (a *aggregateProgress) at(now time.Time) int64 {
	ts := a.ts.Load()
	if ts == 0 {
		return 0
	}
	return ts + max(now.UnixMilli()-a.seenAt.Load(), 0)
}

// tickAggregates writes an empty record to every partition of every aggregation topic every tick
// interval until ctx is done, its Kafka timestamp this process's datapoint time
// (aggregateProgress.at): it moves the watermark of partitions no datapoint reaches, so that
// their windows close, in the log. A process that has sent no datapoint to an aggregate writes
// none. One reader per process runs it.
func (r *reader) tickAggregates(ctx context.Context) {
	cfg := r.d.cfg
	every := time.Duration(0)
	for _, a := range cfg.Aggregates {
		if every == 0 || a.Spec.Interval < every {
			every = a.Spec.Interval
		}
	}
	every = min(max(every/4, time.Second), 10*time.Second)
	var prod sarama.SyncProducer
	defer func() {
		if prod != nil {
			_ = prod.Close()
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if prod == nil {
			p, err := sarama.NewSyncProducer(cfg.Kafka.Brokers, kafkaio.ProducerConfig(cfg, nil))
			if err != nil {
				r.log.Warn("cannot connect the aggregation ticks' producer; retrying", "error", err)
				continue
			}
			prod = p
		}
		at := r.d.aggProgress.at(time.Now())
		if at == 0 {
			continue
		}
		now := time.UnixMilli(at)
		var msgs []*sarama.ProducerMessage
		for _, a := range cfg.Aggregates {
			for part := 0; part < r.d.aggregatePartitions[a.Topic]; part++ {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: a.Topic, Partition: int32(part), Timestamp: now})
			}
		}
		if err := prod.SendMessages(msgs); err != nil {
			r.log.Warn("aggregation ticks not written; windows of idle partitions close later", "error", err)
		}
	}
}
