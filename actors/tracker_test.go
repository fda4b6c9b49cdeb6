package actors

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/latency"
)

// TestTrackerRestartKeepsCommitting panics the offset tracker in the middle of a run. The
// restarted tracker must carry on with the batches already in flight, so that every partition's
// committed offset still reaches its end offset.
func TestTrackerRestartKeepsCommitting(t *testing.T) {
	const in, out, shards = "in", "out", 4
	c := kafkatest.Start(t, in, 4, out, shards)
	lines, exp := kafkatest.Generate(60_000)
	c.Produce(t, in, lines, 50)
	cfg := c.Config(t, in, out, shards, `pipeline {
  readers = 1
  workers = 2
  writers = 2
  batch_bytes = "16KiB"
  shard_batch_bytes = "16KiB"
}`)
	p, err := New(cfg, kafkatest.Logger(t, "error"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, time.Minute, "some input", func() bool { return p.Stats().DatapointsIn > 5000 })
	// A trackBatch without a claim makes the tracker's handler panic.
	p.d.system.Root.Send(p.d.trackerPID, &trackBatch{ID: 1 << 60})
	kafkatest.WaitFor(t, time.Minute, "every line to be written or dropped", func() bool {
		s := p.Stats()
		return s.DatapointsOut+s.Dropped.Total() >= int64(exp.Lines)
	})
	kafkatest.WaitFor(t, 30*time.Second, "every offset committed", func() bool {
		return len(c.Uncommitted(t, "sluice-test", in)) == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if s.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1 (the tracker)", s.Restarts)
	}
	if !s.Drained || s.RawInUse != 0 || s.ShardInUse != 0 || s.TicketsOpen != 0 || s.TicketsLeaked != 0 {
		t.Fatalf("did not stop cleanly: %+v", s)
	}
}

// markSession is a consumer-group session that only records the offsets marked on it: the
// tracker's one use of a session. The test calls the tracker on its own goroutine, so the
// fields need no lock.
type markSession struct {
	sarama.ConsumerGroupSession
	marked int64
	// claim is the session's one claim; late records a mark made after the claim said it was
	// drained (a reader would have committed already).
	claim *claim
	late  bool
}

func (s *markSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	s.marked = offset
	s.late = s.late || len(s.claim.drained) > 0
}

// TestTrackerMarksBeforeDrained: a reader whose partition is revoked commits as soon as the claim
// is drained, so by then the offset of the last batch must be marked. Signalled before the mark,
// the commit could miss the batch and the next owner of the partition would write it again.
func TestTrackerMarksBeforeDrained(t *testing.T) {
	sess := &markSession{}
	c := newClaim(sess, "in", 0, 0)
	sess.claim = c
	tr := &tracker{d: &trackerDeps{stats: &Stats{}, latency: &latency.Hist{}}, trackerState: newTrackerState()}
	for i, last := range []int64{9, 19} {
		e := tr.get()
		e.id, e.claim, e.last = uint64(i+1), c, last
		c.queue = append(c.queue, e)
		tr.entries[e.id] = e
		c.inflight.Add(1)
	}
	ack := func(id uint64) {
		tr.check(tr.entries[id])
	}
	ack(2) // the later batch first: nothing can be marked yet
	if got := sess.marked; got != 0 {
		t.Fatalf("marked %d with the first batch still in flight", got)
	}
	select {
	case <-c.drained:
		t.Fatal("drained with a batch in flight")
	default:
	}
	ack(1)
	select {
	case <-c.drained:
	default:
		t.Fatal("not drained after every batch was acknowledged")
	}
	if got := sess.marked; got != 20 || sess.late {
		t.Fatalf("marked %d (after the claim was drained: %v), want 20 before it", got, sess.late)
	}
}
