package actors

// What the pipeline shows of itself while it runs: counters, pools, worker load, latency, lag,
// partition loads, live actors, health and readiness, and the memory budget. Read by /metrics,
// /healthz, /readyz, the progress line and sluice bench; nothing here changes the pipeline.

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/placement"
	"github.com/sluicehq/sluice/shed"
)

// Fatal delivers an error when the pipeline cannot go on (an actor exhausted its restart
// budget): the process should stop gracefully and exit non-zero.
func (p *Pipeline) Fatal() <-chan error { return p.fatal }

// Stats returns the current counters.
func (p *Pipeline) Stats() Snapshot { return p.d.stats.Snapshot() }

// PoolsInUse returns how many raw and shard batches are taken from their pools, and the pool sizes.
func (p *Pipeline) PoolsInUse() (raw, rawSize, shardB, shardSize int) {
	return p.d.rawPool.InUse(), p.d.rawPool.Size(), p.d.shardPool.InUse(), p.d.shardPool.Size()
}

// WorkerBusy is each worker's time spent on batches so far.
func (p *Pipeline) WorkerBusy() []time.Duration {
	busy := make([]time.Duration, len(p.d.load.busy))
	for i := range p.d.load.busy {
		busy[i] = time.Duration(p.d.load.busy[i].Load())
	}
	return busy
}

// WorkerBusyImbalance is max/mean of the workers' time spent on batches so far (1 is perfect
// balance).
func (p *Pipeline) WorkerBusyImbalance() float64 {
	busy := make([]float64, len(p.d.load.busy))
	for i, b := range p.WorkerBusy() {
		busy[i] = float64(b)
	}
	return placement.Imbalance(busy)
}

// LatencyQuantile returns the q-quantile of record latency, from a record's Kafka timestamp to
// the output's acknowledgement of its batch (the upper bound of a histogram bucket, ≤ 25 % above).
func (p *Pipeline) LatencyQuantile(q float64) time.Duration { return p.d.latency.Quantile(q) }

// Lag is the summed consumer lag of the partitions this process consumes.
func (p *Pipeline) Lag() int64 { return p.d.lag() }

// Freshness is how far behind the worst partition this process consumes is: now minus the Kafka
// timestamp of its oldest record not yet acknowledged (0 when nothing is in flight). Shedding
// compares it with max_lag.
func (p *Pipeline) Freshness() time.Duration {
	now, worst := time.Now(), time.Duration(0)
	for _, c := range p.d.claims.snapshot() {
		worst = max(worst, c.freshness(now))
	}
	return worst
}

// PartitionLoad is one claimed partition's load as the coordinator last measured it.
type PartitionLoad struct {
	Topic       string
	Partition   int32
	BytesPerSec float64
}

// Loads returns the coordinator's latest measured load of each partition this process consumes,
// sorted by topic and partition (empty before its first measurement, or when it does not run:
// coordinator off and a balance strategy other than load).
func (p *Pipeline) Loads() []PartitionLoad {
	m := p.d.claims.loads.Load()
	if m == nil {
		return nil
	}
	out := make([]PartitionLoad, 0, len(*m))
	for k, l := range *m {
		out = append(out, PartitionLoad{Topic: k.Topic, Partition: k.Partition, BytesPerSec: l})
	}
	slices.SortFunc(out, func(a, b PartitionLoad) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// Alive counts the pipeline's live actors by kind ("reader", "worker", "writer", "tracker",
// "deadletter", "coordinator", "shedder").
func (p *Pipeline) Alive() map[string]int {
	out := map[string]int{}
	d := p.d
	if d.system == nil {
		return out
	}
	for _, group := range [][]*actor.PID{d.readerPIDs, d.workerPIDs, d.writerPIDs, {d.trackerPID}, {d.deadLetterPID}, {d.coordinatorPID}, {d.shedderPID}} {
		for _, pid := range group {
			if pid == nil {
				continue
			}
			// A stopped actor is removed from the registry.
			if _, ok := d.system.ProcessRegistry.GetLocal(pid.Id); ok {
				kind, _, _ := strings.Cut(strings.TrimPrefix(pid.Id, rootName+"/"), "-")
				out[kind]++
			}
		}
	}
	return out
}

// Health reports nil when every actor the root supervises is alive at its configured count, or
// what is missing. It is /healthz: an orchestrator replaces a process that fails it.
func (p *Pipeline) Health() error {
	d := p.d
	if d.system == nil {
		return errors.New("pipeline not started")
	}
	if d.stopping.Load() {
		return errors.New("pipeline stopping")
	}
	want := map[string]int{"reader": len(d.readerPIDs), "worker": d.workers, "writer": len(d.writerPIDs), "tracker": 1, "shedder": 1}
	if d.deadLetter != nil {
		want["deadletter"] = 1
	}
	if d.measuresLoad() {
		want["coordinator"] = 1
	}
	alive := p.Alive()
	var missing []string
	for _, kind := range actorKinds {
		if alive[kind] < want[kind] {
			missing = append(missing, fmt.Sprintf("%s %d/%d alive", kind, alive[kind], want[kind]))
		}
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, ", "))
	}
	return nil
}

// Ready reports nil when every reader is in a session of every input's consumer group and the output's last
// write did not fail, or why not. It is /readyz: it flaps during a rebalance or an output outage,
// which is what it is for.
func (p *Pipeline) Ready() error {
	if err := p.Health(); err != nil {
		return err
	}
	d := p.d
	if missing := d.missing.list(); len(missing) > 0 {
		return fmt.Errorf("input topics that do not exist on the brokers: %s (create them, or fix the inputs' topics)", strings.Join(missing, ", "))
	}
	// Each reader is a member of every input's group.
	if n, want := int(d.claims.inGroup.Load()), len(d.readerPIDs)*len(d.cfg.Inputs); n < want {
		return fmt.Errorf("%d of %d consumer group memberships (readers × inputs) in a session", n, want)
	}
	for _, o := range d.plans {
		if o.counters.lastWriteFailed.Load() {
			return fmt.Errorf("output %q: its last write failed", o.cfg.Name)
		}
	}
	return stalledClaim(d, time.Now())
}

// stalledClaim reports a partition this process consumes that is behind (lag > 0) and whose
// committable offset has not moved for 3 × commit_interval: records wait and nothing is
// acknowledged, so the task is not doing its job even though it is in the group.
func stalledClaim(d *deps, now time.Time) error {
	limit := 3 * d.cfg.Kafka.CommitInterval
	for _, c := range d.claims.snapshot() {
		if age := c.commitAge(now); c.lag.Load() > 0 && age > limit {
			return fmt.Errorf("partition %s/%d: %d records behind and nothing committed for %s (more than 3 × commit_interval)",
				c.Topic, c.Partition, c.lag.Load(), age.Round(100*time.Millisecond))
		}
	}
	return nil
}

// MissingTopics are the input topics the brokers said do not exist, sorted; the readers wait
// for them.
func (p *Pipeline) MissingTopics() []string { return p.d.missing.list() }

// MemoryBudget is the pipeline's memory budget, known once it started (zero before).
func (p *Pipeline) MemoryBudget() budget.Memory {
	if b := p.d.budget.Load(); b != nil {
		return *b
	}
	return budget.Memory{}
}

// SetMemoryLimit sets the Go soft memory limit from the budget or pipeline.memory_limit, unless
// GOMEMLIMIT (fromEnv) already set it, and returns the limit in force; /metrics exports it.
func (p *Pipeline) SetMemoryLimit(fromEnv bool) int64 {
	limit := budget.SetLimit(p.MemoryBudget(), p.d.cfg.Pipeline.MemoryLimit, fromEnv)
	p.d.memoryLimit.Store(limit)
	return limit
}

// OutputBytes is what the outputs acknowledged, in bytes on the wire (compressed records and
// requests), summed over the outputs.
func (p *Pipeline) OutputBytes() int64 {
	var n int64
	for _, o := range p.d.plans {
		n += o.counters.bytes.Load()
	}
	return n
}

// Aggregated is the datapoints the aggregates' internal outputs wrote to their topics (stage A)
// and those the aggregation stage took from them in this process (stage B; what a previous owner took before its last checkpoint is not counted again).
func (p *Pipeline) Aggregated() (written, taken int64) {
	for _, o := range p.d.plans {
		if o.aggregate != nil {
			written += o.counters.datapoints.Load()
			taken += p.d.decoders[o.aggregate.Topic].agg.in.Load()
		}
	}
	return written, taken
}

// Config is the configuration the pipeline runs.
func (p *Pipeline) Config() *config.Config { return p.d.cfg }

// ShedFactors is the fraction of each priority class's series kept now (1: nothing shed), by
// shed.Class.
func (p *Pipeline) ShedFactors() (f [shed.NumClasses]float64) {
	for c := range f {
		f[c] = p.d.shed.Factor(shed.Class(c))
	}
	return f
}
