package actors

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
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
	if !s.Drained || s.RawInUse != 0 || s.ShardInUse != 0 {
		t.Fatalf("did not stop cleanly: %+v", s)
	}
}
