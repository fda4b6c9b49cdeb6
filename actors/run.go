package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/limits"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/validate"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/shed"
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
	// TicketsOpen is the input batches whose tickets neither completed nor were abandoned by the
	// stop; TicketsLeaked the shares released with their batch without either (a bug: the
	// partition's commits would stall). Both are 0 after any stop.
	TicketsOpen, TicketsLeaked int64
}

// New prepares a pipeline for cfg, which must come from config.Load. decode, when not nil,
// replaces every input's decoder: tests pass one that fails on purpose.
func New(cfg *config.Config, log hclog.Logger, decode DecodeFunc) (*Pipeline, error) {
	dl, err := glob.Compile(cfg.Denylist.All)
	if err != nil {
		return nil, err
	}
	stats := &Stats{DroppedByFormat: map[string]*[messages.NumReasons]atomic.Int64{}}
	decoders := map[string]*topicDecoder{}
	for i, in := range cfg.Inputs {
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
			decoders[t] = newTopicDecoder(in.Format, i, fn, drops)
			decoders[t].allowNonFinite = in.AllowNonFinite
		}
	}
	for i, a := range cfg.Aggregates {
		// Stage B's batches: the closed windows of an aggregation partition, as one remote-write
		// request, routed like any series but never aggregated again.
		dec, err := formats.New("remote_write", formats.Options{})
		if err != nil {
			return nil, err
		}
		drops := &[messages.NumReasons]atomic.Int64{}
		stats.DroppedByFormat["aggregate."+a.Name] = drops
		fn := dec.Decode
		decoders[a.Topic] = newTopicDecoder("aggregate", len(cfg.Inputs)+i, fn, drops)
		decoders[a.Topic].aggregate = a
		decoders[a.Topic].agg = &aggregateCounters{}
	}
	plans, err := newOutputPlans(cfg)
	if err != nil {
		return nil, err
	}
	p := cfg.Pipeline
	d := &deps{
		cfg: cfg, log: log, spawned: make(chan struct{}), giveUp: make(chan struct{}),
		rawPool:   messages.NewRawBatchPool(p.RawBatches, p.BatchBytes, p.BatchRecords),
		shardPool: messages.NewShardBatchPool(p.ShardBatches, p.ShardBatchBytes),
		decoders:  decoders,
		// Validation makes every output use the same name mapping.
		mapping:     cfg.Outputs[0].NameMapping,
		stats:       stats,
		workers:     p.Workers,
		plans:       plans,
		settings:    &settings{},
		load:        newWorkerLoad(p.Workers),
		claims:      newClaimRegistry(p.Readers),
		tracker:     newTrackerState(),
		lastFailure: map[string]string{},
		rebalances:  newRebalanceStats(),
	}
	d.readerPIDs = make([]*actor.PID, p.Readers)
	d.settings.validator.Store(newValidator(cfg))
	d.settings.denylist.Store(dl)
	d.settings.coordinator.Store(cfg.Coordinator)
	set, err := limits.New(cfg.Limits, log.Named("limits"), nil)
	if err != nil {
		return nil, err // validation compiled the globs already; only a bug gets here
	}
	d.settings.limits.Store(set)
	rl, err := newRelabeling(cfg)
	if err != nil {
		return nil, err // validation compiled the rules already; only a bug gets here
	}
	d.settings.relabel.Store(rl)
	d.settings.shedding.Store(cfg.Shedding)
	classes := routeClasses(cfg)
	d.settings.classes.Store(&classes)
	d.shed = shed.NewState(len(classes))
	pl := &Pipeline{d: d, log: log, fatal: make(chan error, 1), running: cfg, customDecode: decode != nil}
	d.fatal = func(err error) {
		select {
		case pl.fatal <- err:
		default:
		}
	}
	return pl, nil
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
	// The first contact with the brokers is where a wrong address or an outage waits longest
	// (sarama retries its metadata requests without a context): Start returns when ctx ends, and
	// the lookup's goroutine finishes on its own.
	resolved := make(chan error, 1)
	var step atomic.Pointer[string]
	began := time.Now()
	go func() { resolved <- p.startOutputs(ctx, &step) }()
	select {
	case err := <-resolved:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		what := "starting the outputs"
		if s := step.Load(); s != nil {
			what = *s
		}
		return fmt.Errorf("no answer from Kafka at %s after %s, %s: check that these are the brokers' addresses, "+
			"reachable from here, and that kafka.tls and kafka.sasl match their listener (%w)",
			strings.Join(cfg.Kafka.Brokers, ","), time.Since(began).Round(time.Second), what, context.Cause(ctx))
	}
	topo, err := layout(d.plans, cfg.Routes, cfg.Aggregates, cfg.Pipeline.Writers)
	if err != nil {
		p.closeOutputs()
		return err
	}
	topo.Only = d.replayMatch
	d.topo = topo
	for _, o := range d.plans {
		if t, ok := o.out.(interface{ Transactions() output.Transactional }); ok && t.Transactions() != nil {
			d.txn, d.gate = t.Transactions(), &txnGate{}
			p.log.Info("exactly-once output: its records and the input offsets commit in transactions", "output", o.cfg.Name,
				"transactional_id", d.txn.TransactionalID(), "commit_interval", cfg.Kafka.CommitInterval.String())
		}
	}
	if dl := cfg.DeadLetter; dl != nil {
		if err := p.startDeadLetter(dl.Topic); err != nil {
			p.closeOutputs()
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		p.closeOutputs()
		return fmt.Errorf("connecting the outputs: %w", context.Cause(ctx))
	}

	log := p.log
	d.system = actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(newSlogHandler(log.Named("protoactor")))
		})))
	// A message to an actor that is gone is undeliverable (protoactor publishes it as a
	// DeadLetterEvent, nothing to do with the dead-letter topic): give its batches back.
	d.system.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			switch b := dl.Message.(type) {
			case *messages.RawBatch:
				b.Ticket.Abandon()
				b.Release()
			case *messages.ShardBatch:
				b.Ticket.Abandon()
				b.Release()
			case *messages.DeadLetterBatch:
				b.Ticket.Abandon()
				b.Release()
			case *poisonBatch:
				b.Batch.Ticket.Abandon()
				b.Batch.Release()
			}
		}
	})
	rootProps := actor.PropsFromProducer(newPipelineActor(d),
		actor.WithSupervisor(supervisorStrategy(d)), actor.WithReceiverMiddleware(logPanics(log)))
	// The root's children are spawned from its Started handler under fixed names, so their PIDs
	// are known now and the output goroutines can be started with them first.
	d.childPIDs()
	for i, o := range d.topo.writerOutput {
		lo, hi := d.topo.WriterRange(i)
		sys, pid := d.system.Root, d.writerPIDs[i]
		w, err := o.out.Writer(lo-o.offset, hi-o.offset, func(ref any, written int64, err error) {
			sys.Send(pid, &produced{meta: ref, err: err, written: written})
		})
		if err != nil {
			p.closeOutputs()
			return fmt.Errorf("output %q: writer %d: %w", o.cfg.Name, i, err)
		}
		d.outs = append(d.outs, w)
	}
	if d.deadLetter != nil {
		sys, pid := d.system.Root, d.deadLetterPID
		d.deadLetter.Start(func(meta any, err error) { sys.Send(pid, &produced{meta: meta, err: err, written: -1}) })
	}
	root, err := d.system.Root.SpawnNamed(rootProps, rootName)
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

// readersGiveUp is how long a stop past its deadline still waits for readers to leave their
// groups, after telling them to give up.
const readersGiveUp = 5 * time.Second

func (p *Pipeline) stop(ctx context.Context) Summary {
	d := p.d
	if !p.started {
		return Summary{Drained: true}
	}
	d.stopping.Store(true)
	root := d.system.Root
	root.Send(p.root, beginShutdown{})
	for _, r := range d.readerPIDs {
		root.Send(r, stopFetching{})
	}
	readersDone := make(chan struct{})
	go func() { d.readersWG.Wait(); close(readersDone) }()
	drained := true
	select {
	case <-readersDone:
	case <-ctx.Done():
		drained = false
		p.log.Warn("shutdown timeout: readers still draining")
		// They give up at once (each logs what it leaves unacknowledged) and leave their groups:
		// waited for a little, so that their lines come before the summary.
		close(d.giveUp)
		select {
		case <-readersDone:
		case <-time.After(readersGiveUp):
		}
	}
	// Readers first, then workers, then writers; each Poison is queued behind what the actor
	// already holds, so mailboxes drain in order.
	sinks := d.writerPIDs
	if d.deadLetterPID != nil {
		sinks = append(append([]*actor.PID(nil), sinks...), d.deadLetterPID)
	}
	first := append(append([]*actor.PID(nil), d.readerPIDs...), d.shedderPID)
	if d.coordinatorPID != nil {
		first = append(first, d.coordinatorPID)
	}
	// The whole stop is bounded by ctx (shutdown_timeout): past it, what is still stopping is
	// logged and the actor system is shut down at once (the hard stop); the batches left are in
	// the summary's pool counts, their offsets uncommitted.
	trackers := []*actor.PID{d.trackerPID}
	if d.committerPID != nil {
		trackers = append(trackers, d.committerPID)
	}
	groups := []struct {
		kind string
		pids []*actor.PID
	}{{"readers", first}, {"workers", d.workerPIDs}, {"writers", sinks}, {"tracker", trackers}, {"root", []*actor.PID{p.root}}}
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
	s := Summary{Snapshot: d.stats.Snapshot(), RawInUse: raw, ShardInUse: sb}
	if d.deadLetterPool != nil {
		s.DeadLetterInUse = d.deadLetterPool.InUse()
	}
	if d.tickets != nil {
		s.TicketsOpen, s.TicketsLeaked = d.tickets.Open(), d.tickets.Leaked()
		// Every batch the stop left behind, wherever it was (the tracker counts those it held
		// when it stopped; a hard stop may never reach it): its ticket was abandoned.
		s.BatchesLeft = max(s.BatchesLeft, d.tickets.Abandoned()+s.TicketsOpen)
	}
	s.Drained = drained && s.BatchesLeft == 0
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

func newValidator(cfg *config.Config) *validate.Validator {
	v := cfg.Validation
	return validate.New(validate.Limits{MaxMetricLength: v.MaxMetricLength, MaxTagKeyLength: v.MaxTagKeyLength,
		MaxTagValueLength: v.MaxTagValueLength, MaxTags: v.MaxTags, MaxAge: v.MaxAge, MaxFuture: v.MaxFuture,
		AllowNonFinite: v.AllowNonFinite})
}

// closeOutputs closes the writers' and the dead-letter writer's producers, after their in-flight
// records are answered, and the remote-write clients. Start calls it when it fails half-way,
// stop once the actors are gone.
func (p *Pipeline) closeOutputs() {
	d := p.d
	if err := stopOutputs(d.plans); err != nil {
		p.log.Warn("closing the outputs", "error", err)
	}
	if d.deadLetter != nil {
		if err := d.deadLetter.Close(); err != nil {
			p.log.Warn("closing the dead-letter producer", "error", err)
		}
	}
}

// startOutputs starts every output, which says its shard count (a Kafka output checks its topic
// and partitions), and counts the input topics' partitions for the memory budget (0 for a topic
// that cannot be looked up yet: readers retry, and the budget is then logged as counting none of
// its partitions).
func (p *Pipeline) startOutputs(ctx context.Context, step *atomic.Pointer[string]) error {
	d, cfg := p.d, p.d.cfg
	at := func(s string) { step.Store(&s) }
	for _, o := range d.plans {
		at(fmt.Sprintf("starting output %q (a Kafka output looks up its topic)", o.cfg.Name))
		shards, err := o.out.Start(ctx)
		var degraded *output.Degraded
		if errors.As(err, &degraded) {
			p.log.Warn("output starts degraded", "output", o.cfg.Name, "problems", strings.Join(degraded.Problems, "; "))
		} else if err != nil {
			if a := o.aggregate; a != nil {
				return fmt.Errorf("aggregate %q: its topic: %w (create it like an output topic, with as many partitions as the input topics have)", a.Name, err)
			}
			return fmt.Errorf("output %q: %w", o.cfg.Name, err)
		}
		o.shards = shards
	}
	at("looking up the input topics' partitions")
	client, err := sarama.NewClient(cfg.Kafka.Brokers, kafkaio.ProducerConfig(cfg, nil))
	if err != nil {
		return fmt.Errorf("connecting to Kafka %v: %w%s", cfg.Kafka.Brokers, err, kafkaio.AuthHint(cfg.Kafka, err))
	}
	defer client.Close()
	inputs := 0
	for _, in := range cfg.Inputs {
		for _, t := range in.Topics {
			if parts, err := client.Partitions(t); err == nil {
				inputs += len(parts)
			}
		}
	}
	b := budget.NewWith(cfg, inputs, aggregatePartitions(d.plans))
	d.budget.Store(&b)
	return nil
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
	d.deadLetter = kafkaio.NewLink(prod, deadLetterWindow)
	d.deadLetterPool = messages.NewDeadLetterPool(d.workers*2, cfg.Pipeline.BatchBytes)
	return nil
}
