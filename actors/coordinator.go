package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/placement"
)

// coordinator measures each claimed partition's load and each worker's busy time from atomic
// counters (readers and workers add to them; no message per batch), and every interval
// publishes a new immutable, versioned partition table through an atomic pointer that readers
// load for every batch (placement.Compute decides). Its only messages are its own timer ticks.
// With coordinator { enabled = false } and kafka { balance = "load" } it only measures, for the
// balance strategy to report; workers are then picked by hash.
//
// A partition's load is the bytes per second it needs: the rate at which it was read plus what it
// needs to drain its lag within one interval, so a backlog (a restart, a catch-up after an
// outage) counts as load, not only the live rate.
type coordinator struct {
	d     *coordinatorDeps
	log   hclog.Logger
	timer *time.Timer
	// early: the last table was made for new claims, before their load could be measured; the
	// next one follows one claim check later instead of a whole interval.
	early bool

	last     time.Time
	seen     map[*claim]claimSample
	load     map[placement.Key]float64 // smoothed
	lastBusy []int64
}

// claimSample is what a claim's counters read at the previous tick.
type claimSample struct{ bytes, records int64 }

// coordinatorTick is the coordinator's timer message.
type coordinatorTick struct{}

// loadSmoothing is the weight of the newest measurement in a partition's smoothed load.
const loadSmoothing = 0.5

// claimCheckEvery is how often the coordinator looks for partitions claimed since its last table
// (after a rebalance): those are routed by hash, which knows nothing of load, until a table names
// them, so it computes one at once rather than waiting out the interval.
const claimCheckEvery = time.Second

func newCoordinator(d *coordinatorDeps) actor.Producer {
	return func() actor.Actor {
		return &coordinator{d: d, log: d.log.Named("coordinator"),
			seen: map[*claim]claimSample{}, load: map[placement.Key]float64{}, lastBusy: make([]int64, d.workers)}
	}
}

func (c *coordinator) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.last = time.Now()
		c.schedule(ctx)
	case *actor.Restarting, *actor.Stopping:
		if c.timer != nil {
			c.timer.Stop()
		}
	case *actor.Stopped:

	case coordinatorTick:
		switch {
		case c.d.publish && c.unrouted():
			c.tick()
			c.early = true
		case time.Since(c.last) >= c.d.settings.coordinator.Load().Interval || c.early:
			c.tick()
			c.early = false
		}
		c.schedule(ctx)
	default:
		c.log.Warn("unexpected message", "type", typeName(m))
	}
}

// schedule sends the next tick to this actor: timers are messages to self.
func (c *coordinator) schedule(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	d := min(claimCheckEvery, c.d.settings.coordinator.Load().Interval)
	c.timer = time.AfterFunc(d, func() { root.Send(self, coordinatorTick{}) })
}

// unrouted reports whether a claimed partition is missing from the current table.
func (c *coordinator) unrouted() bool {
	t := c.d.partitions.Load()
	for _, cl := range c.d.claims.snapshot() {
		if t == nil {
			return true
		}
		if _, ok := t.Assignment[placement.Key{Topic: cl.Topic, Partition: cl.Partition}]; !ok {
			return true
		}
	}
	return false
}

// tick measures, computes the next table and publishes it when it differs.
func (c *coordinator) tick() {
	now := time.Now()
	secs := now.Sub(c.last).Seconds()
	c.last = now
	if secs <= 0 {
		return
	}
	loads := c.measure(secs)
	if !c.d.publish {
		return
	}
	prevTable := c.d.partitions.Load()
	var prev placement.Assignment
	var version uint64
	if prevTable != nil {
		prev, version = prevTable.Assignment, prevTable.Version
	}
	co := c.d.settings.coordinator.Load() // a reload may have retuned it
	next := placement.Compute(prev, loads, placement.Params{Workers: c.d.workers, HotFactor: co.HotFactor, MaxSpread: co.MaxSpread})
	changes := placement.Diff(prev, next, loads)
	if len(changes) == 0 && len(next) == len(prev) {
		return
	}
	c.d.partitions.Store(&placement.Table{Version: version + 1, Assignment: next})
	c.d.stats.RoutingChanges.Add(int64(len(changes)))
	hot := 0
	for _, ws := range next {
		if len(ws) > 1 {
			hot++
		}
	}
	c.d.stats.HotPartitions.Store(int64(hot))
	for _, ch := range changes {
		c.log.Info("partition routed", "partition", ch.Key.String(), "from", ch.Old, "to", ch.New,
			"load_bytes_per_s", int64(ch.Load), "table", version+1)
	}
	c.log.Debug("partition table published", "version", version+1, "partitions", len(next), "hot", hot,
		"worker_busy_imbalance", c.busyImbalance(), "worker_queue_depths", c.queueDepths())
}

// measure reads every current claim's counters and returns the smoothed loads. Partitions no
// longer claimed are forgotten.
func (c *coordinator) measure(secs float64) []placement.Load {
	claims := c.d.claims.snapshot()

	seen := make(map[*claim]claimSample, len(claims))
	load := make(map[placement.Key]float64, len(claims))
	for _, cl := range claims {
		s := claimSample{bytes: cl.bytes.Load(), records: cl.records.Load()}
		prev := c.seen[cl] // zero for a claim new since the last tick
		seen[cl] = s
		rate := float64(s.bytes-prev.bytes) / secs
		if s.records > 0 {
			perRecord := float64(s.bytes) / float64(s.records)
			rate += float64(cl.lag.Load()) * perRecord / c.d.settings.coordinator.Load().Interval.Seconds()
		}
		k := placement.Key{Topic: cl.Topic, Partition: cl.Partition}
		if old, ok := c.load[k]; ok {
			rate = loadSmoothing*rate + (1-loadSmoothing)*old
		}
		load[k] += rate
	}
	c.seen, c.load = seen, load
	c.d.claims.loads.Store(&load)
	out := make([]placement.Load, 0, len(load))
	for k, l := range load {
		out = append(out, placement.Load{Key: k, Load: l})
	}
	return out
}

// busyImbalance is max/mean of the workers' busy time since the last tick.
func (c *coordinator) busyImbalance() float64 {
	delta := make([]float64, len(c.d.load.busy))
	for i := range c.d.load.busy {
		b := c.d.load.busy[i].Load()
		delta[i] = float64(b - c.lastBusy[i])
		c.lastBusy[i] = b
	}
	return placement.Imbalance(delta)
}

// queueDepths reads how many batches each worker holds.
func (c *coordinator) queueDepths() []int64 {
	out := make([]int64, len(c.d.load.queue))
	for i := range c.d.load.queue {
		out[i] = c.d.load.queue[i].Load()
	}
	return out
}
