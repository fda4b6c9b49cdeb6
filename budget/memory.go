// Package budget computes the memory a pipeline is sized to hold, by part, from its
// configuration, and the soft memory limit the Go runtime gets from it.
package budget

import (
	"runtime/debug"

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
	// Runtime is a fixed allowance for goroutine stacks, the actor system, metrics and HTTP.
	Runtime int64
}

// WorkingSet is the sum of the parts: what is live at full load.
func (b Memory) WorkingSet() int64 {
	return b.Pools + b.Consumers + b.Outputs + b.Workers + b.Runtime
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
	}{{"pools", b.Pools}, {"consumers", b.Consumers}, {"outputs", b.Outputs}, {"workers", b.Workers}, {"runtime", b.Runtime}}
}

// New computes the budget of cfg with partitions input partitions.
func New(cfg *config.Config, partitions int) Memory {
	p := cfg.Pipeline
	b := Memory{Pools: p.PoolBudget(), Partitions: partitions, Runtime: runtimeBytes}
	if cfg.DeadLetter != nil {
		b.Pools += int64(p.Workers*2) * int64(p.BatchBytes) // see startDeadLetter
	}
	b.Consumers = int64(partitions) * (2*kafkaio.FetchBytes + kafkaio.ChannelBuffer*kafkaio.MessageBytes)
	for _, o := range cfg.Outputs {
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
