package budget

import (
	"runtime/debug"
	"testing"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/encode"
	"github.com/sluicehq/sluice/kafkaio"
)

func loadConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Load("test.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestMemoryBudget: the budget counts the pools, what the Kafka client holds per input partition,
// the outputs' buffers and the workers' caches; the limit is twice its working set unless
// configured.
func TestMemoryBudget(t *testing.T) {
	cfg := loadConfig(t, `input "opentsdb" { topics = ["in"] }
output "kafka" "k" { topic = "out" }`)
	b8, b16 := New(cfg, 8), New(cfg, 16)
	if b8.Pools != cfg.Pipeline.PoolBudget() {
		t.Errorf("pools %d, want the pool budget %d", b8.Pools, cfg.Pipeline.PoolBudget())
	}
	if got, want := b16.Consumers-b8.Consumers, int64(8*(2*kafkaio.FetchBytes+kafkaio.ChannelBuffer*kafkaio.MessageBytes)); got != want {
		t.Errorf("8 more partitions add %d bytes, want %d (two fetches and a channel each)", got, want)
	}
	if b8.Outputs != 2*3<<20 { // 2 writers × 3 × flush_bytes
		t.Errorf("outputs %d, want %d", b8.Outputs, 2*3<<20)
	}
	if b8.Workers < 4*encode.MaxCachedSeries*seriesCacheBytesPerRow {
		t.Errorf("workers %d: less than four series caches", b8.Workers)
	}
	sum := int64(0)
	for _, p := range b8.Parts() {
		sum += p.Bytes
	}
	if sum != b8.WorkingSet() || b8.Limit(0) != 2*sum || b8.Limit(1<<30) != 1<<30 {
		t.Errorf("parts sum %d, working set %d, limits %d and %d", sum, b8.WorkingSet(), b8.Limit(0), b8.Limit(1<<30))
	}
	rw := loadConfig(t, `input "opentsdb" { topics = ["in"] }
output "remote_write" "r" { urls = ["http://127.0.0.1:1/w"] }
dead_letter { topic = "dl" }
pipeline { memory_limit = "1GiB" }`)
	b := New(rw, 8)
	if b.Pools != rw.Pipeline.PoolBudget()+int64(rw.Pipeline.Workers*2*rw.Pipeline.BatchBytes) {
		t.Errorf("pools %d do not count the dead-letter pool", b.Pools)
	}
	if want := int64(2 * (1<<20 + 4<<20)); b.Outputs != want { // 2 writers × (flush_bytes + max_batch_bytes)
		t.Errorf("remote-write outputs %d, want %d", b.Outputs, want)
	}
	otlp := loadConfig(t, `input "opentsdb" { topics = ["in"] }
output "otlp" "o" { urls = ["http://127.0.0.1:1/v1/metrics"] }`)
	if got := New(otlp, 8).Outputs; got != b.Outputs { // an OTLP output is sized as remote write is
		t.Errorf("OTLP outputs %d, want %d", got, b.Outputs)
	}
	if rw.Pipeline.MemoryLimit != 1<<30 || b.Limit(rw.Pipeline.MemoryLimit) != 1<<30 {
		t.Errorf("memory_limit = 1GiB gives %d", b.Limit(rw.Pipeline.MemoryLimit))
	}
}

// TestAggregationBudget: an aggregate adds, per partition of its topic, max_series output series
// in each window the lateness keeps open (plus the current and the next), a sketch each with
// quantiles, and its internal output's buffers.
func TestAggregationBudget(t *testing.T) {
	plain := loadConfig(t, `input "opentsdb" { topics = ["in"] }
output "kafka" "k" { topic = "out" }`)
	cfg := loadConfig(t, `input "opentsdb" { topics = ["in"] }
output "kafka" "k" { topic = "out" }
aggregate "a" {
  match      = ["x.**"]
  interval   = "1m"
  lateness   = "2m"
  outputs    = ["sum_samples", "quantiles(0.5)"]
  max_series = 1000
}`)
	b := NewWith(cfg, 8, map[string]int{"sluice.aggregate.a": 4})
	if want := int64(4 * 1000 * 4 * (aggregateSeriesBytes + aggregateSketchBytes)); b.Aggregation != want {
		t.Errorf("aggregation %d, want %d (4 partitions × 1000 series × 4 windows)", b.Aggregation, want)
	}
	if p := New(plain, 8); b.Outputs != 2*p.Outputs || p.Aggregation != 0 {
		t.Errorf("outputs %d with the aggregate's, %d without: its internal output is not counted", b.Outputs, p.Outputs)
	}
	if b.WorkingSet() != New(plain, 8).WorkingSet()+b.Aggregation+b.Outputs/2 {
		t.Error("the aggregation part is not in the working set")
	}
}

// TestSetGCPercent: Sluice's GC target unless GOGC is set, and GOGC's when it is.
func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	debug.SetGCPercent(100)
	if got := SetGCPercent(); got != GCPercent {
		t.Fatalf("GOGC unset: SetGCPercent() = %d, want %d", got, GCPercent)
	}
	if p := debug.SetGCPercent(100); p != GCPercent {
		t.Fatalf("GOGC unset: the runtime's GC percent is %d, want %d", p, GCPercent)
	}
	t.Setenv("GOGC", "80")
	debug.SetGCPercent(80) // as the runtime read it at start
	if got := SetGCPercent(); got != 80 {
		t.Fatalf("GOGC=80: SetGCPercent() = %d, want 80 (GOGC wins)", got)
	}
	if p := debug.SetGCPercent(100); p != 80 {
		t.Fatalf("GOGC=80: the runtime's GC percent is %d, want 80", p)
	}
}
