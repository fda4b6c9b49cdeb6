package actors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/output"
)

// scriptedOutput is a fake output (output.Writer) that answers every part at once: shard
// failShard fails (retryably) while fail is set, every other part succeeds. It records the parts
// sent, per shard.
type scriptedOutput struct {
	failShard int
	fail      atomic.Bool
	mu        sync.Mutex
	sent      map[int]int // parts sent per shard
	answer    output.Answer
}

func (s *scriptedOutput) Send(shard int, _ []byte, ref any) {
	s.mu.Lock()
	s.sent[shard]++
	s.mu.Unlock()
	var err error
	if shard == s.failShard && s.fail.Load() {
		err = errors.New("receiver down")
	}
	s.answer(ref, -1, err)
}
func (s *scriptedOutput) Build(_ int, segs output.Segments, parts *output.Parts) {
	joined, n := parts.Next(), 0
	segs.Each(func(data []byte, samples int) { joined, n = append(joined, data...), n+samples })
	parts.Add(joined, n)
}
func (s *scriptedOutput) DeadLetterSource() string                 { return "test" }
func (s *scriptedOutput) Permanent(error) bool                     { return false }
func (s *scriptedOutput) NewPart(int)                              {}
func (s *scriptedOutput) RetryDelay(int, error, int) time.Duration { return 20 * time.Millisecond }

func (s *scriptedOutput) sentTo(shard int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[shard]
}

// TestWriterShardsFlushIndependently: a shard whose writes keep failing holds only the batches
// with datapoints for it; batches for the writer's other shards are written and acknowledged
// meanwhile (a writer's flush is not a barrier across its shards), and the failing shard's batch
// is acknowledged once its retry succeeds, every batch back in its pool.
func TestWriterShardsFlushIndependently(t *testing.T) {
	cfg, err := config.Load("t.hcl", []byte(`input "opentsdb" { topics = ["in"] }
output "kafka" "o" {
  topic  = "o"
  shards = 2
  linger = "1h"
}
pipeline { writers = 1 }
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := newOutputPlans(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plans[0].shards = 2 // what its Start would say; the test's output is a fake, not the Kafka output
	topo, err := layout(plans, cfg.Routes, nil, cfg.Pipeline.Writers)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := topo.WriterRange(0); lo != 0 || hi != 2 {
		t.Fatalf("writer 0 owns shards [%d, %d), want [0, 2)", lo, hi)
	}
	sys := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(newSlogHandler(hclog.NewNullLogger()))
	})))
	defer sys.Shutdown()
	acked := make(chan uint64, 16)
	tickets := messages.NewTickets(chanCompleter(acked))
	var flushIDs atomic.Uint64
	sink := &scriptedOutput{failShard: 0, sent: map[int]int{}}
	sink.fail.Store(true)
	d := &writerDeps{log: hclog.NewNullLogger(), topo: topo, outs: []output.Writer{sink}, stats: &Stats{},
		nextFlushID: &flushIDs}
	w := sys.Root.Spawn(actor.PropsFromProducer(newWriter(d, 0)))
	sink.answer = func(ref any, written int64, err error) {
		sys.Root.Send(w, &produced{meta: ref, err: err, written: written})
	}

	pool := messages.NewShardBatchPool(3, 1024)
	batch := func(source uint64, shards ...uint32) *messages.ShardBatch {
		b, err := pool.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b.Ticket = tickets.Issue(source)
		for _, s := range shards {
			a := b.Arena()
			b.AddSegment(s, append(a, "segment"...), 1)
		}
		return b
	}
	wait := func(what string) uint64 {
		t.Helper()
		select {
		case id := <-acked:
			return id
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no ack within 5 s", what)
			return 0
		}
	}

	sys.Root.Send(w, batch(1, 0, 1)) // shard 0 keeps failing: batch 1 waits for it
	sys.Root.Send(w, flushNow{})
	sys.Root.Send(w, batch(2, 1))
	sys.Root.Send(w, flushNow{})
	if id := wait("batch 2, shard 1 only"); id != 2 {
		t.Fatalf("acked batch %d first, want 2 (shard 0 still failing)", id)
	}
	sys.Root.Send(w, batch(3, 1))
	sys.Root.Send(w, flushNow{})
	if id := wait("batch 3, shard 1 only"); id != 3 {
		t.Fatalf("acked batch %d, want 3", id)
	}
	for deadline := time.Now().Add(5 * time.Second); sink.sentTo(0) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("shard 0 was sent %d times in 5 s, want it retried", sink.sentTo(0))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := sink.sentTo(1); n != 3 {
		t.Fatalf("shard 1 was sent %d parts, want 3 (one per flush)", n)
	}
	select {
	case id := <-acked:
		t.Fatalf("batch %d acked while shard 0 fails", id)
	default:
	}
	sink.fail.Store(false)
	if id := wait("batch 1 after shard 0 recovered"); id != 1 {
		t.Fatalf("acked batch %d, want 1", id)
	}
	if got := d.stats.DatapointsOut.Load(); got != 4 {
		t.Fatalf("datapoints out %d, want 4", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pool.InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := pool.InUse(); n != 0 {
		t.Fatalf("%d shard batches not back in their pool", n)
	}
	if open, leaked := tickets.Open(), tickets.Leaked(); open != 0 || leaked != 0 {
		t.Fatalf("%d tickets open, %d shares released without completion", open, leaked)
	}
}

// chanCompleter sends the id of each completed ticket on the channel.
type chanCompleter chan uint64

func (c chanCompleter) Complete(t *messages.Ticket) { c <- t.ID }
