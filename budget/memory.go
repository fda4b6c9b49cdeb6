// Package budget computes the memory a pipeline is sized to hold, by part, from its
// configuration, and the soft memory limit the Go runtime gets from it.
package budget

import (
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/aggregate"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/encode"
	"github.com/sluicehq/sluice/kafkaio"
)

// What the budget allows for the Go runtime, and for one cached series of a worker. What the
// Kafka consumer holds per claimed partition is kafkaio's FetchBytes, ChannelBuffer and
// MessageBytes.
const (
	runtimeBytes           = 32 << 20
	seriesCacheBytesPerRow = 320 // key, labels, seriesInfo and two table slots of one cached series
)

// Memory is what the pipeline is sized to hold, by part. Everything in it is bounded by
// configuration (and the number of input partitions), never by the input rate or a backlog.
type Memory struct {
	// Pools are the preallocated batches: reader→worker, worker→writer and dead letters.
	Pools int64
	// Consumers are the Kafka fetch responses and per-partition channels, for Partitions input
	// partitions (all of them: one process may be given every partition).
	Consumers  int64
	Partitions int
	// Outputs are the writers' record and request buffers and what the producers hold.
	Outputs int64
	// Workers are the encoders' series caches and per-batch tables.
	Workers int64
	// Aggregation is the aggregation stage's windows and running totals: per aggregate, for each
	// partition of its topic one process may own (all of them), max_series output series in
	// every open window, and their running totals.
	Aggregation int64
	// Runtime is a fixed allowance for goroutine stacks, the actor system, metrics and HTTP.
	Runtime int64
}

// WorkingSet is the sum of the parts: what is live at full load.
func (b Memory) WorkingSet() int64 {
	return b.Pools + b.Consumers + b.Outputs + b.Workers + b.Aggregation + b.Runtime
}

// Limit is the soft memory limit for the Go runtime: the configured one, or twice the working
// set, which leaves the collector the headroom GOGC=100 gives it (a limit at the working set
// makes it run almost continuously).
func (b Memory) Limit(configured int64) int64 {
	if configured > 0 {
		return configured
	}
	return 2 * b.WorkingSet()
}

// Parts lists the budget's parts by name, for logs and metrics.
func (b Memory) Parts() []struct {
	Name  string
	Bytes int64
} {
	return []struct {
		Name  string
		Bytes int64
	}{{"pools", b.Pools}, {"consumers", b.Consumers}, {"outputs", b.Outputs}, {"workers", b.Workers},
		{"aggregation", b.Aggregation}, {"runtime", b.Runtime}}
}

// What one output series of an aggregate holds in one open window (accumulators, its key and
// labels, its input series), what its quantiles sketch and vmrange buckets add, and what its
// running total keeps.
const (
	aggregateSeriesBytes  = 512
	aggregateSketchBytes  = 8 << 10 // valyala/histogram keeps up to 1,000 samples
	aggregateBucketsBytes = 1 << 10
	aggregateTotalBytes   = 256
)

// New computes the budget of cfg with partitions input partitions; each aggregation topic is
// counted with as many (AggregationFor gives the actual counts).
func New(cfg *config.Config, partitions int) Memory {
	parts := map[string]int{}
	for _, a := range cfg.Aggregates {
		parts[a.Topic] = partitions
	}
	return NewWith(cfg, partitions, parts)
}

// NewWith is New with each aggregation topic's partition count.
func NewWith(cfg *config.Config, partitions int, aggregatePartitions map[string]int) Memory {
	p := cfg.Pipeline
	b := Memory{Pools: p.PoolBudget(), Partitions: partitions, Runtime: runtimeBytes}
	if cfg.DeadLetter != nil {
		b.Pools += int64(p.Workers*2) * int64(p.BatchBytes) // see startDeadLetter
	}
	b.Consumers = int64(partitions) * (2*kafkaio.FetchBytes + kafkaio.ChannelBuffer*kafkaio.MessageBytes)
	outputs := slices.Clone(cfg.Outputs)
	for _, a := range cfg.Aggregates {
		outputs = append(outputs, a.Output)
		b.Aggregation += int64(aggregatePartitions[a.Topic]) * aggregateBytes(a)
	}
	for _, o := range outputs {
		shards := o.Shards // 0: the topic's partition count, at least as many as writers then
		if o.HTTP() {
			shards = o.Concurrency
		}
		writers := int64(p.Writers)
		if shards > 0 {
			writers = int64(min(p.Writers, shards))
		}
		if o.HTTP() {
			// Per writer: a flush's compressed requests, the merger's uncompressed request.
			b.Outputs += writers * int64(o.FlushBytes+o.MaxBatchBytes)
		} else {
			// Per writer: the joined record, its compressed parts, and the producer's request.
			b.Outputs += writers * 3 * int64(o.FlushBytes)
		}
	}
	// Per worker: the series cache and a batch's entries, twice (sorted and unsorted), at about
	// one datapoint per 32 bytes of input.
	b.Workers = int64(p.Workers) * (encode.MaxCachedSeries*seriesCacheBytesPerRow + 2*int64(p.BatchBytes))
	return b
}

// aggregateBytes is what one partition of aggregate a may hold: max_series output series in each
// window open at once (those the lateness keeps open past their end, the current one and the next),
// and a running total each.
func aggregateBytes(a *config.Aggregate) int64 {
	if a.Spec == nil {
		return 0
	}
	per, total := int64(aggregateSeriesBytes), int64(0)
	for _, o := range a.Spec.Outputs {
		switch {
		case strings.HasPrefix(o, aggregate.Quantiles):
			per += aggregateSketchBytes
		case o == aggregate.HistogramBucket:
			per += aggregateBucketsBytes
			total += aggregateBucketsBytes
		case o == aggregate.Total:
			total += aggregateTotalBytes
		}
	}
	windows := int64(a.Lateness/a.Spec.Interval) + 2
	return int64(a.MaxSeries) * (windows*per + total)
}

// GCPercent is the garbage collector's target that Sluice sets unless GOGC is set: a heap that
// may grow to 1.5× what is live after a collection, not Go's 2×. The pipeline's garbage is small
// (its batches are pooled; what it makes is mostly the Kafka client's fetch and produce
// buffers), so collecting twice as often costs about 1 % of the CPU, and it takes about 35 MiB
// off the peak RSS at the defaults (docs/performance.md, "Memory").
const GCPercent = 50

// SetGCPercent sets GCPercent unless GOGC is set, and returns the percentage in force.
func SetGCPercent() int {
	if os.Getenv("GOGC") != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(GCPercent)
	return GCPercent
}

// SetLimit sets the Go soft memory limit from the budget (or the configured limit) unless
// GOMEMLIMIT is set, and returns the limit in force.
func SetLimit(b Memory, configured int64, fromEnv bool) int64 {
	if fromEnv {
		return debug.SetMemoryLimit(-1)
	}
	limit := b.Limit(configured)
	debug.SetMemoryLimit(limit)
	return limit
}
