package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/encode"
	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/latency"
	"github.com/sluicehq/sluice/limits"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/validate"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/placement"
	"github.com/sluicehq/sluice/relabel"
	"github.com/sluicehq/sluice/shed"
)

// DecodeFunc decodes one Kafka record value into dst (the encoder's decoder type, named here for
// New's callers).
type DecodeFunc = encode.DecodeFunc

// topicDecoder is how a worker decodes the records of one topic.
type topicDecoder struct {
	format string
	// input is the input's index in the config (its relabel rules' in encode.Relabeling);
	// allowNonFinite its own policy for NaN and ±Inf (nil: the validation block's).
	input          int
	allowNonFinite *bool
	// decode is replaced by a reload that changes the input's default_tags or metric_prefix;
	// workers load it once per batch.
	decode    atomic.Pointer[DecodeFunc]
	lineBased bool
	// aggregate is the aggregate whose topic this is (nil for an input's): its batches are stage
	// B's closed windows; agg counts what stage B took and emitted.
	aggregate *config.Aggregate
	agg       *aggregateCounters
	drops     *[messages.NumReasons]atomic.Int64 // of the topic's format
	in        *topicCounters
}

func newTopicDecoder(format string, input int, fn DecodeFunc, drops *[messages.NumReasons]atomic.Int64) *topicDecoder {
	d := &topicDecoder{format: format, input: input, lineBased: formats.LineBased(format), drops: drops, in: &topicCounters{}}
	d.decode.Store(&fn)
	return d
}

// Stats are the pipeline's counters. Actors add to them once per batch, never per datapoint.
type Stats struct {
	// TxnCommitted and TxnAborted count an exactly-once output's transactions; TxnCommitNanos is
	// the time from shutting the readers' gate to each commit's end, summed.
	TxnCommitted, TxnAborted, TxnCommitNanos atomic.Int64
	RecordsIn                                atomic.Int64
	DatapointsIn                             atomic.Int64
	DatapointsOut                            atomic.Int64
	Dropped                                  [messages.NumReasons]atomic.Int64
	// DroppedByFormat splits Dropped by input format; its keys are fixed at start-up.
	DroppedByFormat map[string]*[messages.NumReasons]atomic.Int64
	Redelivered     atomic.Int64
	// DeadLettered counts lines written to the dead-letter topic.
	DeadLettered atomic.Int64
	// RestartsByKind counts restarts per actorKinds entry; Snapshot.Restarts is their sum.
	RestartsByKind [len(actorKinds)]atomic.Int64
	Respawns       atomic.Int64
	// DeadLetterErrors counts failed (retried) writes to the dead-letter topic.
	DeadLetterErrors atomic.Int64
	// BatchesLeft counts batches a stop left uncompleted (and so uncommitted).
	BatchesLeft atomic.Int64
	// RoutingChanges counts partitions the coordinator moved; HotPartitions is how many are
	// spread over several workers now.
	RoutingChanges atomic.Int64
	HotPartitions  atomic.Int64
}

// Snapshot is a copy of Stats.
type Snapshot struct {
	// TxnCommitted, TxnAborted and TxnCommitNanos: Stats'.
	TxnCommitted, TxnAborted, TxnCommitNanos int64
	RecordsIn, DatapointsIn, DatapointsOut   int64
	Dropped                                  messages.DropCounts
	DroppedByFormat                          map[string]messages.DropCounts
	Redelivered, Restarts, Respawns          int64
	DeadLettered                             int64
	BatchesLeft                              int64
	RoutingChanges, HotPartitions            int64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	out := Snapshot{
		RecordsIn: s.RecordsIn.Load(), DatapointsIn: s.DatapointsIn.Load(), DatapointsOut: s.DatapointsOut.Load(),
		Redelivered: s.Redelivered.Load(), Respawns: s.Respawns.Load(),
		DeadLettered:   s.DeadLettered.Load(),
		BatchesLeft:    s.BatchesLeft.Load(),
		RoutingChanges: s.RoutingChanges.Load(), HotPartitions: s.HotPartitions.Load(),
		TxnCommitted: s.TxnCommitted.Load(), TxnAborted: s.TxnAborted.Load(), TxnCommitNanos: s.TxnCommitNanos.Load(),
	}
	for i := range s.Dropped {
		out.Dropped[i] = s.Dropped[i].Load()
	}
	for i := range s.RestartsByKind {
		out.Restarts += s.RestartsByKind[i].Load()
	}
	out.DroppedByFormat = map[string]messages.DropCounts{}
	for f, d := range s.DroppedByFormat {
		var c messages.DropCounts
		for i := range d {
			c[i] = d[i].Load()
		}
		out.DroppedByFormat[f] = c
	}
	return out
}

// actorKinds are the kinds of actor the root supervises, as in their names.
var actorKinds = [...]string{"reader", "worker", "writer", "tracker", "deadletter", "coordinator", "shedder", "committer"}

// deps is the pipeline's own state: everything New and Start build, which the Pipeline's
// methods (Stop, Reload, /metrics, the progress line) and the root actor read. No other actor
// takes it: the root builds each child's dependencies from it (readerDeps, workerDeps, …, in
// kinds.go), with only what that kind uses. The state that several actors share is in types
// whose comments say who writes and who reads: settings (what a reload replaces), claimRegistry
// (the partitions this process consumes), workerLoad (workers' busy time and queues), the
// partition table (placement.Table, immutable, published by the coordinator), shed.State (the
// shedder's keep thresholds) and the batch tickets (messages.Tickets: readers issue, whoever
// completes a ticket's last share tells the tracker).
type deps struct {
	cfg *config.Config
	log hclog.Logger
	// budget is the memory budget computed at start, memoryLimit the soft limit in force.
	budget      atomic.Pointer[budget.Memory]
	memoryLimit atomic.Int64
	system      *actor.ActorSystem
	rawPool     *messages.Pool[*messages.RawBatch]
	shardPool   *messages.Pool[*messages.ShardBatch]
	settings    *settings
	decoders    map[string]*topicDecoder // by topic; fixed at start-up
	// replay bounds the readers to offset ranges and replayMatch the series written (SetReplay);
	// nil for a live pipeline.
	replay      *replayState
	replayMatch *glob.Matcher
	// txn is the exactly-once output's transactions (nil: none); gate holds the readers while
	// the committer drains the pipeline for one, committerPID is the committer.
	txn          output.Transactional
	gate         *txnGate
	committerPID *actor.PID
	mapping      formats.NameMapping
	stats        *Stats
	// plans are the outputs; topo lays out their shards and writers and the routes into them
	// (set by Start, before any actor runs).
	plans []*outputPlan
	topo  *topology
	outs  []output.Writer // per writer: its output's sender (set by Start)
	// deadLetter and deadLetterPool are nil without a dead_letter block.
	deadLetter     *kafkaio.Link
	deadLetterPool *messages.Pool[*messages.DeadLetterBatch]
	tracker        *trackerState
	// tickets issues the input batches' tickets (messages/ticket.go); set with the PIDs.
	tickets *messages.Tickets

	workers int

	// PIDs are fixed names under the root, computed by Start before anything is spawned, so they
	// never change and stay valid when an actor is respawned. deadLetterPID and coordinatorPID
	// are nil when those actors do not run.
	writerPIDs, workerPIDs, readerPIDs []*actor.PID
	trackerPID, deadLetterPID          *actor.PID
	coordinatorPID                     *actor.PID
	shedderPID                         *actor.PID
	// shed is the shedding state: the shedder sets the classes' keep thresholds, workers shed by
	// them and count what they offered and shed.
	shed *shed.State
	// spawned is closed once the root actor has spawned every child; Start waits for it, so
	// that Stop, right after, finds them (a SIGTERM during start-up).
	spawned     chan struct{}
	spawnedOnce sync.Once

	// partitions is the coordinator's current table (nil before its first one, or when it is off):
	// the coordinator publishes it, readers load it for every batch.
	partitions atomic.Pointer[placement.Table]
	load       *workerLoad
	claims     *claimRegistry
	// latency is the record latency from Kafka append to output acknowledgement (the tracker
	// observes it).
	latency latency.Hist
	// rebalances counts and times the readers' group rebalances.
	rebalances *rebalanceStats
	// missing are the input topics the brokers say do not exist.
	missing missingTopics
	// commitsRefused counts offset commits the group coordinator refused (readers write).
	commitsRefused atomic.Int64
	// aggProgress is stage A's progress in datapoint time (workers write, the ticks read).
	aggProgress aggregateProgress

	readersWG sync.WaitGroup
	stopping  atomic.Bool
	// giveUp is closed when Stop's deadline passed (readers stop waiting for acknowledgements).
	giveUp      chan struct{}
	nextBatchID atomic.Uint64
	nextFlushID atomic.Uint64

	fatal func(error)
	// lastFailure holds each child's last failure; only the root's mailbox touches it.
	lastFailure map[string]string
}

// settings are what a reload replaces while the pipeline runs: Reload publishes a new value,
// workers load the validator and the denylist per batch, the coordinator its tuning per tick.
type settings struct {
	validator   atomic.Pointer[validate.Validator]
	denylist    atomic.Pointer[glob.Matcher]
	coordinator atomic.Pointer[config.Coordinator]
	// limits are the cardinality budgets (workers judge series by them), shedding the shedder's
	// settings and classes each route's priority class (workers shed by them).
	limits   atomic.Pointer[limits.Set]
	shedding atomic.Pointer[config.Shedding]
	classes  atomic.Pointer[[]shed.Class]
	// relabel is every input's and output's relabel rules; workers load it per batch.
	relabel atomic.Pointer[encode.Relabeling]
}

// newRelabeling compiles cfg's relabel rules, inputs in config order (topicDecoder.input),
// outputs in the layout's order (the config's).
func newRelabeling(cfg *config.Config) (*encode.Relabeling, error) {
	var inputs, outputs [][]relabel.Spec
	for _, in := range cfg.Inputs {
		inputs = append(inputs, config.RelabelSpecs(in.Relabel))
	}
	for _, o := range cfg.Outputs {
		outputs = append(outputs, config.RelabelSpecs(o.Relabel))
	}
	return encode.NewRelabeling(inputs, outputs)
}

// workerLoad is what each worker publishes of its load: worker i alone writes busy[i] (its time
// spent on batches, ns) and queue[i] (the batches it holds: the one it works on and those
// waiting behind it); the coordinator, /metrics and sluice bench read them.
type workerLoad struct{ busy, queue []atomic.Int64 }

func newWorkerLoad(workers int) *workerLoad {
	return &workerLoad{busy: make([]atomic.Int64, workers), queue: make([]atomic.Int64, workers)}
}

// claimRegistry is the partitions this process consumes. The readers' claim handlers add and
// remove claims and record each group session's partitions; the coordinator reads the claims'
// counters and publishes their measured loads; the load-aware balance strategy reads a reader's
// last session's partitions with those loads; /metrics, /readyz and the progress line read the
// claims' lag and freshness. Everything goes through its methods, under its lock.
type claimRegistry struct {
	mu     sync.Mutex
	claims map[*claim]struct{}
	// owned is, per reader, the partitions of its latest group session with their last measured
	// load. Unlike claims it outlives the session, because the load-aware balance strategy
	// reports it at the next JoinGroup, after every claim of the old session has ended.
	owned []map[placement.Key]float64
	// loads is the coordinator's latest smoothed load per claimed partition.
	loads atomic.Pointer[map[placement.Key]float64]
	// inGroup counts readers inside a consumer group session (between Setup and Cleanup).
	inGroup atomic.Int32
}

func newClaimRegistry(readers int) *claimRegistry {
	r := &claimRegistry{claims: map[*claim]struct{}{}, owned: make([]map[placement.Key]float64, readers)}
	for i := range r.owned {
		r.owned[i] = map[placement.Key]float64{}
	}
	return r
}

func (r *claimRegistry) add(c *claim) {
	r.mu.Lock()
	r.claims[c] = struct{}{}
	r.mu.Unlock()
}

// remove forgets a claim whose partition was released, keeping its last measured load for the
// reader's next JoinGroup.
func (r *claimRegistry) remove(c *claim) {
	k := placement.Key{Topic: c.Topic, Partition: c.Partition}
	r.mu.Lock()
	delete(r.claims, c)
	if loads := r.loads.Load(); loads != nil {
		if l, ok := (*loads)[k]; ok {
			r.owned[c.reader][k] = l
		}
	}
	r.mu.Unlock()
}

// sessionStarted records the partitions a reader's new group session owns, keeping the last
// load measured for those it owned before.
func (r *claimRegistry) sessionStarted(reader int, claims map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.owned[reader]
	next := make(map[placement.Key]float64, len(prev))
	for topic, ps := range claims {
		for _, p := range ps {
			k := placement.Key{Topic: topic, Partition: p}
			next[k] = prev[k]
		}
	}
	r.owned[reader] = next
}

// snapshot returns the current claims.
func (r *claimRegistry) snapshot() []*claim {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*claim, 0, len(r.claims))
	for c := range r.claims {
		out = append(out, c)
	}
	return out
}

// ownedBy returns the partitions of reader's latest session with their last measured loads.
func (r *claimRegistry) ownedBy(reader int) []placement.ReportedPartition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []placement.ReportedPartition
	for k, l := range r.owned[reader] {
		out = append(out, placement.ReportedPartition{Topic: k.Topic, Partition: k.Partition, Load: l})
	}
	return out
}

// lag sums the consumer lag of the partitions this process consumes now.
func (r *claimRegistry) lag() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for c := range r.claims {
		n += c.lag.Load()
	}
	return n
}

// measuresLoad reports whether the coordinator runs: to route partitions, or to measure the
// loads the load-aware balance strategy reports.
func (d *deps) measuresLoad() bool {
	return d.cfg.Coordinator.Enabled || d.cfg.Kafka.Balance == "load"
}

// lag sums the consumer lag of the partitions this process consumes now.
func (d *deps) lag() int64 { return d.claims.lag() }
