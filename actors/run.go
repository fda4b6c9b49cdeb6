package actors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/denylist"
	"github.com/sluicehq/sluice/messages/formats"
	"github.com/sluicehq/sluice/messages/opentsdb"
	"github.com/sluicehq/sluice/messages/validate"
	"github.com/sluicehq/sluice/placement"
)

// Pipeline runs Sluice's actors. Start it once; Stop is safe to call more than once.
type Pipeline struct {
	d     *deps
	log   hclog.Logger
	root  *actor.PID
	fatal chan error

	startOnce, stopOnce sync.Once
	summary             Summary
	started             bool

	// reloadMu serialises Reload; running is the config as reloads have left it.
	reloadMu sync.Mutex
	running  *config.Config
	// customDecode: New was given a decode function, which a reload must keep.
	customDecode bool
}

// Summary is what a stopped pipeline reports.
type Summary struct {
	Snapshot
	// Drained is false when the shutdown timeout passed before every batch was acknowledged.
	Drained bool
	// RawInUse, ShardInUse and DeadLetterInUse are the batches not back in their pools after the
	// stop: non-zero only when the pipeline did not drain.
	RawInUse, ShardInUse, DeadLetterInUse int
}

// DecodeOpenTSDB decodes OpenTSDB lines (the record timestamp is unused: lines carry their own).
func DecodeOpenTSDB(dst *messages.Rows, record []byte, _ int64) { opentsdb.Parse(dst, record) }

// New prepares a pipeline for cfg, which must come from config.Load. decode, when not nil,
// replaces every input's decoder: tests pass one that fails on purpose.
func New(cfg *config.Config, log hclog.Logger, decode DecodeFunc) (*Pipeline, error) {
	dl, err := denylist.Compile(cfg.Denylist.All)
	if err != nil {
		return nil, err
	}
	stats := &Stats{DroppedByFormat: map[string]*[messages.NumReasons]atomic.Int64{}}
	decoders := map[string]*topicDecoder{}
	for _, in := range cfg.Inputs {
		dec, err := formats.New(in.Format, in.FormatOptions())
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Format, err)
		}
		drops := &[messages.NumReasons]atomic.Int64{}
		stats.DroppedByFormat[in.Format] = drops
		fn := decode
		if fn == nil {
			fn = dec.Decode
		}
		for _, t := range in.Topics {
			decoders[t] = newTopicDecoder(in.Format, fn, drops)
		}
	}
	p := cfg.Pipeline
	d := &deps{
		cfg: cfg, log: log, spawned: make(chan struct{}),
		rawPool:   messages.NewRawBatchPool(p.RawBatches, p.BatchBytes, p.BatchRecords),
		shardPool: messages.NewShardBatchPool(p.ShardBatches, p.ShardBatchBytes),
		decoders:  decoders,
		// Validation makes every output use the same name mapping.
		mapping:     cfg.Outputs[0].NameMapping,
		stats:       stats,
		workers:     p.Workers,
		plans:       newOutputPlans(cfg),
		claims:      map[*Claim]struct{}{},
		tracker:     newTrackerState(),
		lastFailure: map[string]string{},
		rebalances:  newRebalanceStats(),
	}
	d.workerPIDs = make([]*actor.PID, d.workers)
	d.workerBusy = make([]atomic.Int64, d.workers)
	d.workerQueue = make([]atomic.Int64, d.workers)
	d.readerPIDs = make([]*actor.PID, p.Readers)
	d.owned = make([]map[placement.Key]float64, p.Readers)
	for i := range d.owned {
		d.owned[i] = map[placement.Key]float64{}
	}
	d.validator.Store(newValidator(cfg))
	d.denylist.Store(dl)
	d.coordinator.Store(cfg.Coordinator)
	pl := &Pipeline{d: d, log: log, fatal: make(chan error, 1), running: cfg, customDecode: decode != nil}
	d.fatal = func(err error) {
		select {
		case pl.fatal <- err:
		default:
		}
	}
	return pl, nil
}

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
	busy := make([]time.Duration, len(p.d.workerBusy))
	for i := range p.d.workerBusy {
		busy[i] = time.Duration(p.d.workerBusy[i].Load())
	}
	return busy
}

// WorkerBusyImbalance is max/mean of the workers' time spent on batches so far (1 is perfect
// balance).
func (p *Pipeline) WorkerBusyImbalance() float64 {
	busy := make([]float64, len(p.d.workerBusy))
	for i, b := range p.WorkerBusy() {
		busy[i] = float64(b)
	}
	return placement.Imbalance(busy)
}

// LatencyQuantile returns the q-quantile of record latency, from a record's Kafka timestamp to
// the output's acknowledgement of its batch (the upper bound of a histogram bucket, ≤ 25 % above).
func (p *Pipeline) LatencyQuantile(q float64) time.Duration { return p.d.latency.quantile(q) }

// Lag is the summed consumer lag of the partitions this process consumes.
func (p *Pipeline) Lag() int64 { return p.d.lag() }

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
	m := p.d.partLoad.Load()
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

// Start checks the output topic, connects the writers' producers and spawns the actors. It
// returns an error, and starts nothing, when the output cannot be used.
func (p *Pipeline) Start(ctx context.Context) error {
	var err error
	p.startOnce.Do(func() { err = p.start(ctx) })
	return err
}

func (p *Pipeline) start(ctx context.Context) error {
	d, cfg := p.d, p.d.cfg
	if err := p.resolveTopics(); err != nil {
		return err
	}
	topo, err := layout(d.plans, cfg.Routes, cfg.Pipeline.Writers)
	if err != nil {
		return err
	}
	d.topo = topo
	d.writerPIDs = make([]*actor.PID, topo.Writers())
	for w, o := range topo.writerOutput {
		if !o.kafka() {
			d.links = append(d.links, nil)
			continue
		}
		prod, err := sarama.NewAsyncProducer(cfg.Kafka.Brokers, kafkaio.ProducerConfig(cfg, o.cfg))
		if err != nil {
			p.closeOutputs()
			return fmt.Errorf("output %q: producer for writer %d: %w", o.cfg.Name, w, err)
		}
		d.links = append(d.links, newOutputLink(prod, o.shards))
	}
	if dl := cfg.DeadLetter; dl != nil {
		if err := p.startDeadLetter(dl.Topic); err != nil {
			p.closeOutputs()
			return err
		}
	}

	log := p.log
	d.system = actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(NewSlogHandler(log.Named("protoactor")))
		})))
	// Messages to an actor that is gone become dead letters; give their batches back.
	d.system.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			switch b := dl.Message.(type) {
			case *messages.RawBatch:
				b.Release()
			case *messages.ShardBatch:
				b.Release()
			case *messages.DeadLetterBatch:
				b.Release()
			case *PoisonBatch:
				b.Batch.Release()
			}
		}
	})
	rootProps := actor.PropsFromProducer(newPipelineActor(d),
		actor.WithSupervisor(supervisorStrategy(d)), actor.WithReceiverMiddleware(logPanics(log)))
	// The root's children are spawned from its Started handler; writers' PIDs are fixed names,
	// so the output goroutines can be started with them first.
	for i, l := range d.links {
		if l != nil {
			l.start(d.system.Root, actor.NewPID(d.system.Address(), RootName+"/"+childName("writer", i)))
		}
	}
	if d.deadLetter != nil {
		d.deadLetter.start(d.system.Root, actor.NewPID(d.system.Address(), RootName+"/"+childName("deadletter", -1)))
	}
	root, err := d.system.Root.SpawnNamed(rootProps, RootName)
	if err != nil {
		return err
	}
	p.root = root
	p.started = true
	select {
	case <-d.spawned:
	case <-ctx.Done():
		return fmt.Errorf("the actors did not start: %w", ctx.Err())
	}
	if f := faultsDescription(); f != "" {
		p.log.Warn("FAULT INJECTION ENABLED (a faultinject test build)", "faults", f)
	}
	return nil
}

// Stop shuts the pipeline down in order within ctx's deadline: readers stop fetching and wait for
// what they sent to be acknowledged (committing it), then workers, writers and the tracker stop.
// Whatever ctx's deadline cut short stays uncommitted and is reported in the summary.
func (p *Pipeline) Stop(ctx context.Context) Summary {
	p.stopOnce.Do(func() { p.summary = p.stop(ctx) })
	return p.summary
}

func (p *Pipeline) stop(ctx context.Context) Summary {
	d := p.d
	if !p.started {
		return Summary{Drained: true}
	}
	d.stopping.Store(true)
	root := d.system.Root
	root.Send(p.root, beginShutdown{})
	for _, r := range d.readerPIDs {
		root.Send(r, StopFetching{})
	}
	readersDone := make(chan struct{})
	go func() { d.readersWG.Wait(); close(readersDone) }()
	drained := true
	select {
	case <-readersDone:
	case <-ctx.Done():
		drained = false
		p.log.Warn("shutdown timeout: readers still draining")
	}
	// Readers first, then workers, then writers; each Poison is queued behind what the actor
	// already holds, so mailboxes drain in order.
	sinks := d.writerPIDs
	if d.deadLetterPID != nil {
		sinks = append(append([]*actor.PID(nil), sinks...), d.deadLetterPID)
	}
	first := d.readerPIDs
	if d.coordinatorPID != nil {
		first = append(append([]*actor.PID(nil), first...), d.coordinatorPID)
	}
	// The whole stop is bounded by ctx (shutdown_timeout): past it, what is still stopping is
	// logged and the actor system is shut down at once (the hard stop); the batches left are in
	// the summary's pool counts, their offsets uncommitted.
	groups := []struct {
		kind string
		pids []*actor.PID
	}{{"readers", first}, {"workers", d.workerPIDs}, {"writers", sinks}, {"tracker", []*actor.PID{d.trackerPID}}, {"root", []*actor.PID{p.root}}}
	for _, g := range groups {
		if !poisonAll(ctx, root, p.log, g.kind, g.pids) {
			raw, _, shard, _ := p.PoolsInUse()
			p.log.Warn("shutdown timeout: stopping the rest at once", "waiting_for", g.kind, "actors", len(g.pids),
				"raw_batches_in_use", raw, "shard_batches_in_use", shard)
			drained = false
			break
		}
	}
	p.closeOutputs()
	d.system.Shutdown()
	raw, _, sb, _ := p.PoolsInUse()
	s := Summary{Snapshot: d.stats.Snapshot(), Drained: drained && d.stats.BatchesLeft.Load() == 0, RawInUse: raw, ShardInUse: sb}
	if d.deadLetterPool != nil {
		s.DeadLetterInUse = d.deadLetterPool.InUse()
	}
	return s
}

// poisonAll stops pids, each after what its mailbox already holds, and waits until they have
// stopped or ctx is done; it reports whether they stopped in time.
func poisonAll(ctx context.Context, root *actor.RootContext, log hclog.Logger, kind string, pids []*actor.PID) bool {
	futures := make([]*actor.Future, 0, len(pids))
	for _, pid := range pids {
		futures = append(futures, root.PoisonFuture(pid))
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for _, f := range futures {
			// Each future gives up after protoactor's 10 s; ctx is the bound that counts.
			if err := f.Wait(); err != nil && !errors.Is(err, actor.ErrTimeout) {
				log.Warn("stopping actor", "kind", kind, "error", err)
			}
		}
	}()
	select {
	case <-stopped:
		return true
	case <-ctx.Done():
		return false
	}
}

// Alive counts the pipeline's live actors by kind ("reader", "worker", "writer", "tracker",
// "deadletter", "coordinator").
func (p *Pipeline) Alive() map[string]int {
	out := map[string]int{}
	d := p.d
	if d.system == nil {
		return out
	}
	for _, group := range [][]*actor.PID{d.readerPIDs, d.workerPIDs, d.writerPIDs, {d.trackerPID}, {d.deadLetterPID}, {d.coordinatorPID}} {
		for _, pid := range group {
			if pid == nil {
				continue
			}
			// A stopped actor is removed from the registry.
			if _, ok := d.system.ProcessRegistry.GetLocal(pid.Id); ok {
				kind, _, _ := strings.Cut(strings.TrimPrefix(pid.Id, RootName+"/"), "-")
				out[kind]++
			}
		}
	}
	return out
}

func newValidator(cfg *config.Config) *validate.Validator {
	v := cfg.Validation
	return validate.New(validate.Limits{MaxMetricLength: v.MaxMetricLength, MaxTagKeyLength: v.MaxTagKeyLength,
		MaxTagValueLength: v.MaxTagValueLength, MaxTags: v.MaxTags, MaxAge: v.MaxAge, MaxFuture: v.MaxFuture,
		AllowNonFinite: v.AllowNonFinite})
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
	want := map[string]int{"reader": len(d.readerPIDs), "worker": d.workers, "writer": len(d.writerPIDs), "tracker": 1}
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
	// Each reader is a member of every input's group.
	if n, want := int(d.inGroup.Load()), len(d.readerPIDs)*len(d.cfg.Inputs); n < want {
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
	d.claimsMu.Lock()
	defer d.claimsMu.Unlock()
	for c := range d.claims {
		if age := c.commitAge(now); c.lag.Load() > 0 && age > limit {
			return fmt.Errorf("partition %s/%d: %d records behind and nothing committed for %s (more than 3 × commit_interval)",
				c.Topic, c.Partition, c.lag.Load(), age.Round(100*time.Millisecond))
		}
	}
	return nil
}

// closeOutputs closes the writers' and the dead-letter writer's producers, after their in-flight
// records are answered, and the remote-write clients. Start calls it when it fails half-way,
// stop once the actors are gone.
func (p *Pipeline) closeOutputs() {
	d := p.d
	for _, l := range append(d.links, d.deadLetter) {
		if l == nil {
			continue
		}
		if err := l.close(); err != nil {
			p.log.Warn("closing a producer", "error", err)
		}
	}
	for _, o := range d.plans {
		if o.rw != nil {
			o.rw.Close()
		}
	}
}

// resolveTopics sets each Kafka output's shard count, checking its topic: the topic's partition
// count when `shards` is not set, else at least that many partitions. It also counts the input
// topics' partitions for the memory budget (0 for a topic that cannot be looked up yet: readers
// retry, and the budget is then logged as counting none of its partitions).
func (p *Pipeline) resolveTopics() error {
	d, cfg := p.d, p.d.cfg
	client, err := sarama.NewClient(cfg.Kafka.Brokers, kafkaio.ProducerConfig(cfg, nil))
	if err != nil {
		return fmt.Errorf("connecting to Kafka %v: %w%s", cfg.Kafka.Brokers, err, kafkaio.AuthHint(cfg.Kafka, err))
	}
	defer client.Close()
	for _, o := range d.plans {
		if !o.kafka() {
			continue
		}
		parts, err := client.Partitions(o.cfg.Topic)
		if err != nil {
			return fmt.Errorf("output %q: topic %q: %w", o.cfg.Name, o.cfg.Topic, err)
		}
		switch {
		case o.cfg.Shards == 0:
			o.shards = len(parts)
		case len(parts) < o.cfg.Shards:
			return fmt.Errorf("output %q: topic %q has %d partitions, but shards = %d needs at least %d (one partition per shard): add partitions or lower shards",
				o.cfg.Name, o.cfg.Topic, len(parts), o.cfg.Shards, o.cfg.Shards)
		}
	}
	inputs := 0
	for _, in := range cfg.Inputs {
		for _, t := range in.Topics {
			if parts, err := client.Partitions(t); err == nil {
				inputs += len(parts)
			}
		}
	}
	b := NewMemoryBudget(cfg, inputs)
	d.budget.Store(&b)
	return nil
}

// MemoryBudget is the pipeline's memory budget, known once it started (zero before).
func (p *Pipeline) MemoryBudget() MemoryBudget {
	if b := p.d.budget.Load(); b != nil {
		return *b
	}
	return MemoryBudget{}
}

// SetMemoryLimit sets the Go soft memory limit from the budget or pipeline.memory_limit, unless
// GOMEMLIMIT (fromEnv) already set it, and returns the limit in force; /metrics exports it.
func (p *Pipeline) SetMemoryLimit(fromEnv bool) int64 {
	limit := SetMemoryLimit(p.MemoryBudget(), p.d.cfg.Pipeline.MemoryLimit, fromEnv)
	p.d.memoryLimit.Store(limit)
	return limit
}

// startDeadLetter checks the dead-letter topic and connects its producer. Records are keyed by
// source topic and partition, so one partition's dead letters stay in order.
func (p *Pipeline) startDeadLetter(topic string) error {
	d, cfg := p.d, p.d.cfg
	pc := kafkaio.ProducerConfig(cfg, nil)
	pc.Producer.Partitioner = sarama.NewHashPartitioner
	client, err := sarama.NewClient(cfg.Kafka.Brokers, pc)
	if err != nil {
		return fmt.Errorf("dead_letter: %w", err)
	}
	_, err = client.Partitions(topic)
	client.Close()
	if err != nil {
		return fmt.Errorf("dead_letter: topic %q: %w", topic, err)
	}
	prod, err := sarama.NewAsyncProducer(cfg.Kafka.Brokers, pc)
	if err != nil {
		return fmt.Errorf("dead_letter: producer: %w", err)
	}
	d.deadLetter = newOutputLink(prod, deadLetterWindow)
	d.deadLetterPool = messages.NewDeadLetterPool(d.workers*2, cfg.Pipeline.BatchBytes)
	return nil
}
