package actors_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/opentsdb"
)

// TestWorkerPanicIsRestartedAndBatchRedelivered makes a worker panic on the first batch that holds
// a marked line. The worker must be restarted (the counts stay fixed), the batch it held must be
// redelivered (protoactor drops the message whose handler panicked), no batch may leak from its
// pool, and every datapoint must still arrive.
func TestWorkerPanicIsRestartedAndBatchRedelivered(t *testing.T) {
	const in, out, shards = "in", "out", 4
	c := kafkatest.Start(t, in, 3, out, shards)
	lines, exp := kafkatest.Generate(20_000)
	// Mark one valid line; the decoder panics the first time it sees it.
	marked := lines[1000]
	c.Produce(t, in, lines, 50)

	var panics atomic.Int32
	decode := func(dst *messages.Rows, record []byte, _ int64) {
		if bytes.Contains(record, []byte(marked+"\n")) && panics.Add(1) == 1 {
			panic("injected failure while decoding")
		}
		opentsdb.Parse(dst, record, 0)
	}
	cfg := c.Config(t, in, out, shards, `pipeline {
  readers = 1
  workers = 3
  writers = 2
  batch_bytes = "16KiB"
  shard_batch_bytes = "16KiB"
}`)
	log, logs := kafkatest.RecordingLogger(t, "error")
	p, err := actors.New(cfg, log, decode)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, time.Minute, "every line to be written or dropped", func() bool {
		s := p.Stats()
		return s.DatapointsOut+s.Dropped.Total() >= int64(exp.Lines)
	})
	if panics.Load() < 1 {
		t.Fatal("the injected failure never fired; the test proves nothing")
	}
	logged := logs.String()
	if !strings.Contains(logged, "actor panicked") || !strings.Contains(logged, "injected failure while decoding") ||
		!strings.Contains(logged, "goroutine ") || !strings.Contains(logged, "encode.(*Encoder).Load") {
		t.Fatalf("the panic was not logged with its stack trace:\n%s", logged)
	}
	alive := p.Alive()
	if alive["worker"] != 3 || alive["reader"] != 1 || alive["writer"] != 2 || alive["tracker"] != 1 {
		t.Fatalf("actor counts changed after the failure: %v", alive)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if s.Restarts != 1 || s.Redelivered != 1 {
		t.Fatalf("restarts = %d, redelivered = %d; want 1 and 1", s.Restarts, s.Redelivered)
	}
	if s.RawInUse != 0 || s.ShardInUse != 0 || s.TicketsOpen != 0 || s.TicketsLeaked != 0 {
		t.Fatalf("batches leaked: raw %d, shard %d; tickets open %d, shares leaked %d", s.RawInUse, s.ShardInUse, s.TicketsOpen, s.TicketsLeaked)
	}
	if s.DatapointsOut != int64(len(exp.Valid)) {
		t.Fatalf("datapoints_out = %d, want %d", s.DatapointsOut, len(exp.Valid))
	}
	seen := map[int64]bool{}
	for _, pt := range c.ReadOutput(t, out) {
		seen[int64(pt.Value)] = true
	}
	for v, line := range exp.Valid {
		if !seen[v] {
			t.Fatalf("datapoint %s never arrived", line)
		}
	}
	if u := c.Uncommitted(t, "sluice-test", in); len(u) > 0 {
		t.Fatalf("partitions not committed to their end (partition: committed/end): %v", u)
	}
}
