package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/latency"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/placement"
	"github.com/sluicehq/sluice/shed"
)

// What each actor kind is given: only what it uses. The root actor builds these from the
// pipeline's deps when it spawns a child (and again when it respawns one); they hold pointers
// into deps for the counters and the shared state (see deps' comment for who writes what), and
// values for what never changes after start-up (configuration, pools, PIDs).

// readerDeps is what a reader and its Kafka loop use.
type readerDeps struct {
	cfg *config.Config
	log hclog.Logger
	// root sends from the reader's goroutines, which are not actors.
	root       *actor.RootContext
	rawPool    *messages.Pool[*messages.RawBatch]
	decoders   map[string]*topicDecoder
	claims     *claimRegistry
	rebalances *rebalanceStats
	missing    *missingTopics
	// commitsRefused counts offset commits the group coordinator refused.
	commitsRefused *atomic.Int64
	partitions     *atomic.Pointer[placement.Table]
	workerPIDs     []*actor.PID
	writerPIDs     []*actor.PID
	trackerPID     *actor.PID
	tickets        *messages.Tickets
	readers        int
	readersWG      *sync.WaitGroup
	stopping       *atomic.Bool
	// giveUp is closed when Stop's deadline passed: readers stop waiting for acknowledgements.
	giveUp      <-chan struct{}
	nextBatchID *atomic.Uint64
	// aggregatePartitions is each aggregation topic's partition count (its internal output's
	// shards), which stage A's ticks cover; aggProgress the datapoint time they carry.
	aggregatePartitions map[string]int
	aggProgress         *aggregateProgress
	// replay, when not nil, bounds each partition's range (replay.go).
	replay *replayState
	// gate and committerPID, with an exactly-once output: readers enter the gate for each
	// record and batch, and ask the committer for a transaction before giving a partition up.
	gate         *txnGate
	committerPID *actor.PID
}

func (d *deps) forReader() *readerDeps {
	return &readerDeps{aggregatePartitions: aggregatePartitions(d.plans), aggProgress: &d.aggProgress, cfg: d.cfg, log: d.log, root: d.system.Root, rawPool: d.rawPool, decoders: d.decoders,
		claims: d.claims, rebalances: d.rebalances, missing: &d.missing, commitsRefused: &d.commitsRefused, partitions: &d.partitions, workerPIDs: d.workerPIDs,
		writerPIDs: d.writerPIDs, trackerPID: d.trackerPID, tickets: d.tickets, readers: len(d.readerPIDs), readersWG: &d.readersWG,
		stopping: &d.stopping, giveUp: d.giveUp, nextBatchID: &d.nextBatchID, replay: d.replay,
		gate: d.gate, committerPID: d.committerPID}
}

// workerFor returns the worker for a batch of a partition: the one the coordinator's table
// names, or, before its first table, for a partition claimed since, or with the coordinator off,
// a fixed worker by hash.
func (d *readerDeps) workerFor(topic string, partition int32, batchID uint64) *actor.PID {
	if t := d.partitions.Load(); t != nil {
		if w, ok := t.Worker(placement.Key{Topic: topic, Partition: partition}, batchID); ok {
			return d.workerPIDs[w]
		}
	}
	return d.workerPIDs[hashWorker(topic, partition, len(d.workerPIDs))]
}

// hashWorker is a partition's fixed worker when no routing table names it (FNV-1a of the topic
// plus the partition).
func hashWorker(topic string, partition int32, workers int) int {
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint32(topic[i])) * 16777619
	}
	return int((h + uint32(partition)) % uint32(workers))
}

// workerDeps is what a worker uses.
type workerDeps struct {
	log            hclog.Logger
	redeliveries   int // supervisor.redeliveries
	decoders       map[string]*topicDecoder
	settings       *settings
	shed           *shed.State
	mapping        formats.NameMapping
	topo           *topology
	shardPool      *messages.Pool[*messages.ShardBatch]
	deadLetterPool *messages.Pool[*messages.DeadLetterBatch] // nil without a dead-letter topic
	stats          *Stats
	// outputs are the outputs' counters, in the layout's order (for what their relabel rules drop).
	outputs       []*outputCounters
	load          *workerLoad
	workerPIDs    []*actor.PID
	writerPIDs    []*actor.PID
	deadLetterPID *actor.PID // nil without a dead-letter topic
	// aggProgress is stage A's progress in datapoint time, which the aggregation ticks carry.
	aggProgress *aggregateProgress
}

// outputCounters are the outputs' counters, in the layout's order.
func (d *deps) outputCounters() []*outputCounters {
	out := make([]*outputCounters, len(d.plans))
	for i, p := range d.plans {
		out[i] = p.counters
	}
	return out
}

func (d *deps) forWorker() *workerDeps {
	return &workerDeps{aggProgress: &d.aggProgress, log: d.log, redeliveries: d.cfg.Supervisor.Redeliveries, decoders: d.decoders,
		settings: d.settings, shed: d.shed, mapping: d.mapping, topo: d.topo, shardPool: d.shardPool,
		deadLetterPool: d.deadLetterPool, stats: d.stats, outputs: d.outputCounters(), load: d.load, workerPIDs: d.workerPIDs,
		writerPIDs: d.writerPIDs, deadLetterPID: d.deadLetterPID}
}

// writerDeps is what a writer uses.
type writerDeps struct {
	log           hclog.Logger
	topo          *topology
	outs          []output.Writer // per writer
	stats         *Stats
	deadLetterPID *actor.PID // nil without a dead-letter topic
	nextFlushID   *atomic.Uint64
}

func (d *deps) forWriter() *writerDeps {
	return &writerDeps{log: d.log, topo: d.topo, outs: d.outs, stats: d.stats,
		deadLetterPID: d.deadLetterPID, nextFlushID: &d.nextFlushID}
}

// deadLetterDeps is what the dead-letter writer uses.
type deadLetterDeps struct {
	log         hclog.Logger
	sink        *deadLetterSink
	stats       *Stats
	nextFlushID *atomic.Uint64
}

func (d *deps) forDeadLetter() *deadLetterDeps {
	return &deadLetterDeps{log: d.log, sink: &deadLetterSink{link: d.deadLetter, topic: d.cfg.DeadLetter.Topic},
		stats: d.stats, nextFlushID: &d.nextFlushID}
}

// trackerDeps is what the offset tracker uses.
type trackerDeps struct {
	// transactional: an exactly-once output's committer commits the offsets (committer.go).
	transactional bool
	log           hclog.Logger
	stats         *Stats
	latency       *latency.Hist
	state         *trackerState
}

func (d *deps) forTracker() *trackerDeps {
	return &trackerDeps{log: d.log, stats: d.stats, latency: &d.latency, state: d.tracker, transactional: d.txn != nil}
}

func (d *deps) forCommitter() *committerDeps {
	return &committerDeps{log: d.log, cfg: d.cfg, txn: d.txn, gate: d.gate, claims: d.claims, writerPIDs: d.writerPIDs,
		root: d.system.Root, stats: d.stats, fatal: d.fatal}
}

// coordinatorDeps is what the coordinator uses.
type coordinatorDeps struct {
	log        hclog.Logger
	publish    bool // coordinator.enabled: publish partition tables, not only measure
	settings   *settings
	claims     *claimRegistry
	partitions *atomic.Pointer[placement.Table]
	load       *workerLoad
	stats      *Stats
	workers    int
}

func (d *deps) forCoordinator() *coordinatorDeps {
	return &coordinatorDeps{log: d.log, publish: d.cfg.Coordinator.Enabled, settings: d.settings, claims: d.claims,
		partitions: &d.partitions, load: d.load, stats: d.stats, workers: d.workers}
}

// shedderDeps is what the shedder uses.
type shedderDeps struct {
	log      hclog.Logger
	settings *settings
	claims   *claimRegistry
	state    *shed.State
}

func (d *deps) forShedder() *shedderDeps {
	return &shedderDeps{log: d.log, settings: d.settings, claims: d.claims, state: d.shed}
}

// childPIDs sets the PIDs of every child the root will spawn: they are fixed names under it.
func (d *deps) childPIDs() {
	pid := func(kind string, index int) *actor.PID {
		return actor.NewPID(d.system.Address(), rootName+"/"+childName(kind, index))
	}
	d.writerPIDs = make([]*actor.PID, d.topo.Writers())
	for i := range d.writerPIDs {
		d.writerPIDs[i] = pid("writer", i)
	}
	d.workerPIDs = make([]*actor.PID, d.workers)
	for i := range d.workerPIDs {
		d.workerPIDs[i] = pid("worker", i)
	}
	for i := range d.readerPIDs {
		d.readerPIDs[i] = pid("reader", i)
	}
	d.trackerPID = pid("tracker", -1)
	d.tickets = messages.NewTickets(trackerCompleter{root: d.system.Root, tracker: d.trackerPID})
	if d.deadLetter != nil {
		d.deadLetterPID = pid("deadletter", -1)
	}
	if d.measuresLoad() {
		d.coordinatorPID = pid("coordinator", -1)
	}
	d.shedderPID = pid("shedder", -1)
	if d.txn != nil {
		d.committerPID = pid("committer", -1)
	}
}
