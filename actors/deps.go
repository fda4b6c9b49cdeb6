package actors

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/encode"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/denylist"
	"github.com/sluicehq/sluice/messages/formats"
	"github.com/sluicehq/sluice/messages/validate"
	"github.com/sluicehq/sluice/placement"
)

// DecodeFunc decodes one Kafka record value into dst (the encoder's decoder type, named here for
// New's callers).
type DecodeFunc = encode.DecodeFunc

// topicDecoder is how a worker decodes the records of one topic.
type topicDecoder struct {
	format string
	// decode is replaced by a reload that changes the input's default_tags or metric_prefix;
	// workers load it once per batch.
	decode    atomic.Pointer[DecodeFunc]
	lineBased bool
	drops     *[messages.NumReasons]atomic.Int64 // of the topic's format
	in        *topicCounters
}

func newTopicDecoder(format string, fn DecodeFunc, drops *[messages.NumReasons]atomic.Int64) *topicDecoder {
	d := &topicDecoder{format: format, lineBased: formats.LineBased(format), drops: drops, in: &topicCounters{}}
	d.decode.Store(&fn)
	return d
}

// Stats are the pipeline's counters. Actors add to them once per batch, never per datapoint.
type Stats struct {
	RecordsIn     atomic.Int64
	DatapointsIn  atomic.Int64
	DatapointsOut atomic.Int64
	Dropped       [messages.NumReasons]atomic.Int64
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
	RecordsIn, DatapointsIn, DatapointsOut int64
	Dropped                                messages.DropCounts
	DroppedByFormat                        map[string]messages.DropCounts
	Redelivered, Restarts, Respawns        int64
	DeadLettered                           int64
	BatchesLeft                            int64
	RoutingChanges, HotPartitions          int64
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	out := Snapshot{
		RecordsIn: s.RecordsIn.Load(), DatapointsIn: s.DatapointsIn.Load(), DatapointsOut: s.DatapointsOut.Load(),
		Redelivered: s.Redelivered.Load(), Respawns: s.Respawns.Load(),
		DeadLettered:   s.DeadLettered.Load(),
		BatchesLeft:    s.BatchesLeft.Load(),
		RoutingChanges: s.RoutingChanges.Load(), HotPartitions: s.HotPartitions.Load(),
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
var actorKinds = [...]string{"reader", "worker", "writer", "tracker", "deadletter", "coordinator"}

// deps is what the actors share: configuration, pools, the PIDs of their peers and counters.
// Actor producers take it; nothing in it changes after start-up except the counters, the
// claims registry and the stopping flag.
type deps struct {
	cfg *config.Config
	log hclog.Logger
	// budget is the memory budget computed at start, memoryLimit the soft limit in force.
	budget      atomic.Pointer[MemoryBudget]
	memoryLimit atomic.Int64
	system      *actor.ActorSystem
	rawPool     *messages.Pool[*messages.RawBatch]
	shardPool   *messages.Pool[*messages.ShardBatch]
	// validator, denylist and coordinator are what a reload may replace; actors load them per
	// batch (per tick for the coordinator).
	validator   atomic.Pointer[validate.Validator]
	denylist    atomic.Pointer[denylist.Matcher]
	coordinator atomic.Pointer[config.Coordinator]
	decoders    map[string]*topicDecoder // by topic
	mapping     formats.NameMapping
	stats       *Stats
	// plans are the outputs; topo lays out their shards and writers and the routes into them
	// (set by Start, before any actor runs).
	plans []*outputPlan
	topo  *topology
	links []*outputLink // per writer: its Kafka producer (nil for a remote-write writer)
	// deadLetter and deadLetterPool are nil without a dead_letter block.
	deadLetter     *outputLink
	deadLetterPool *messages.Pool[*messages.DeadLetterBatch]
	tracker        *trackerState

	workers int

	// PIDs are fixed names under the root, so they stay valid when an actor is respawned.
	writerPIDs, workerPIDs, readerPIDs []*actor.PID
	trackerPID, deadLetterPID          *actor.PID
	coordinatorPID                     *actor.PID
	// spawned is closed once the root actor has spawned every child and set the PIDs above;
	// Start waits for it, so that Stop, right after, finds them (a SIGTERM during start-up).
	spawned     chan struct{}
	spawnedOnce sync.Once

	// routing is the coordinator's current table (nil before its first one, or when it is off).
	routing atomic.Pointer[placement.Table]
	// workerBusy is each worker's time spent on batches (ns); workerQueue the batches it holds
	// (the one it works on and those waiting behind it).
	workerBusy, workerQueue []atomic.Int64
	// partLoad is the coordinator's latest smoothed load per claimed partition, which the
	// load-aware balance strategy reports to the group.
	partLoad atomic.Pointer[map[placement.Key]float64]
	// latency is the record latency from Kafka append to output acknowledgement.
	latency latencyHist
	// rebalances counts and times the readers' group rebalances.
	rebalances *rebalanceStats

	readersWG   sync.WaitGroup
	stopping    atomic.Bool
	nextBatchID atomic.Uint64
	nextFlushID atomic.Uint64

	// inGroup counts readers inside a consumer group session (between Setup and Cleanup).
	inGroup  atomic.Int32
	claimsMu sync.Mutex
	claims   map[*Claim]struct{}
	// owned is, per reader, the partitions of its latest group session with their last measured
	// load. Unlike claims it outlives the session, because the load-aware balance strategy
	// reports it at the next JoinGroup, after every claim of the old session has ended.
	owned []map[placement.Key]float64

	fatal func(error)
	// lastFailure holds each child's last failure; only the root's mailbox touches it.
	lastFailure map[string]string
}

func (d *deps) addClaim(c *Claim) {
	d.claimsMu.Lock()
	d.claims[c] = struct{}{}
	d.claimsMu.Unlock()
}

func (d *deps) removeClaim(c *Claim) {
	k := placement.Key{Topic: c.Topic, Partition: c.Partition}
	d.claimsMu.Lock()
	delete(d.claims, c)
	if loads := d.partLoad.Load(); loads != nil {
		if l, ok := (*loads)[k]; ok {
			d.owned[c.reader][k] = l
		}
	}
	d.claimsMu.Unlock()
}

// sessionStarted records the partitions a reader's new group session owns, keeping the last
// load measured for those it owned before.
func (d *deps) sessionStarted(reader int, claims map[string][]int32) {
	d.claimsMu.Lock()
	defer d.claimsMu.Unlock()
	prev := d.owned[reader]
	next := make(map[placement.Key]float64, len(prev))
	for topic, ps := range claims {
		for _, p := range ps {
			k := placement.Key{Topic: topic, Partition: p}
			next[k] = prev[k]
		}
	}
	d.owned[reader] = next
}

// measuresLoad reports whether the coordinator runs: to route partitions, or to measure the
// loads the load-aware balance strategy reports.
func (d *deps) measuresLoad() bool {
	return d.cfg.Coordinator.Enabled || d.cfg.Kafka.Balance == "load"
}

// Lag sums the consumer lag of the partitions this process consumes now.
func (d *deps) lag() int64 {
	d.claimsMu.Lock()
	defer d.claimsMu.Unlock()
	var n int64
	for c := range d.claims {
		n += c.lag.Load()
	}
	return n
}

// workerFor returns the worker for a batch of a partition: the one the coordinator's table
// names, or, before its first table, for a partition claimed since, or with the coordinator off,
// a fixed worker by hash.
func (d *deps) workerFor(topic string, partition int32, batchID uint64) *actor.PID {
	if t := d.routing.Load(); t != nil {
		if w, ok := t.Worker(placement.Key{Topic: topic, Partition: partition}, batchID); ok {
			return d.workerPIDs[w]
		}
	}
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint32(topic[i])) * 16777619
	}
	return d.workerPIDs[(h+uint32(partition))%uint32(d.workers)]
}
