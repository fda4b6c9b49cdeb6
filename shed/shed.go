// Package shed is adaptive load shedding: when the pipeline stays behind (its worst partition's
// freshness above max_lag for a sustained time), the lowest priority class of routes is shed by
// a loss factor, then the next; critical routes never are.
//
// The loss factor follows Bluesky's rule, loss = min(capacity / demand, 1), measured from the
// last interval: capacity is the records per second the pipeline consumed, demand that plus the
// growth of its consumer lag (what producers wrote). The overall fraction of datapoints kept is
// multiplied by it every interval the pipeline is behind and keeps falling behind; the
// datapoints to shed are taken from best_effort first (its share of the datapoints measured in
// the same interval), then from normal. A series is kept when its hash is below its class's keep
// fraction, so it is kept or shed whole, and the same on every task. When freshness falls below
// half of max_lag and producers write less than the pipeline took unshed (the surge is over), the
// kept fraction rises by half each interval: back to 1 within two intervals. Between half and all
// of max_lag it holds, and while the surge lasts it holds once caught up: no flapping.
package shed

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/config"
)

// Class is a route's priority class.
type Class uint8

const (
	Critical Class = iota
	Normal
	BestEffort
	NumClasses
)

// ClassOf returns the class of a config priority.
func ClassOf(priority string) Class {
	switch priority {
	case config.PriorityCritical:
		return Critical
	case config.PriorityBestEffort:
		return BestEffort
	}
	return Normal
}

// String is the class's config name.
func (c Class) String() string { return config.Priorities[c] }

// All is the keep threshold that keeps every series.
const All = math.MaxUint64

// State is what the workers read and write, shared by the process: the keep threshold per class
// (a series is kept when its shed hash is below it) and the counters the controller measures
// classes' shares with.
type State struct {
	keep [NumClasses]atomic.Uint64
	// offered counts each class's datapoints before shedding, shedByRoute what was shed per route.
	offered     [NumClasses]atomic.Int64
	shedByClass [NumClasses]atomic.Int64
	shedByRoute []atomic.Int64
}

// NewState keeps everything; routes is how many routes count their shed datapoints.
func NewState(routes int) *State {
	s := &State{shedByRoute: make([]atomic.Int64, routes)}
	for c := range s.keep {
		s.keep[c].Store(All)
	}
	return s
}

// Keep is class c's keep threshold.
func (s *State) Keep(c Class) uint64 { return s.keep[c].Load() }

// Add counts a batch: offered datapoints per class, shed ones per route (of class classes[r]).
func (s *State) Add(offered *[NumClasses]int64, shedByRoute []int64, classes []Class) {
	for c, n := range offered {
		if n != 0 {
			s.offered[c].Add(n)
		}
	}
	for r, n := range shedByRoute {
		if n != 0 && r < len(s.shedByRoute) {
			s.shedByRoute[r].Add(n)
			s.shedByClass[classes[r]].Add(n)
		}
	}
}

// Shed returns the datapoints shed per route and per class so far.
func (s *State) Shed() (byRoute []int64, byClass [NumClasses]int64) {
	byRoute = make([]int64, len(s.shedByRoute))
	for i := range s.shedByRoute {
		byRoute[i] = s.shedByRoute[i].Load()
	}
	for c := range byClass {
		byClass[c] = s.shedByClass[c].Load()
	}
	return byRoute, byClass
}

// Factor is class c's kept fraction (1: nothing shed).
func (s *State) Factor(c Class) float64 { return fraction(s.keep[c].Load()) }

func fraction(t uint64) float64 {
	if t == All {
		return 1
	}
	return float64(t) / float64(math.MaxUint64)
}

func threshold(f float64) uint64 {
	if f >= 1 {
		return All
	}
	if f <= 0 {
		return 0
	}
	return uint64(f * float64(math.MaxUint64))
}

// Observation is what one interval measured: the worst freshness, and the cumulative records
// consumed and consumer lag (sums over the partitions consumed).
type Observation struct {
	At        time.Time
	Freshness time.Duration
	Consumed  int64
	Lag       int64
}

// Controller sets a State's factors from observations. It is not safe for concurrent use (the
// shedder actor owns it).
type Controller struct {
	cfg   config.Shedding
	state *State
	// kept is the overall fraction of datapoints to keep; behindSince when freshness first went
	// above max_lag (zero: it is not).
	kept        float64
	behindSince time.Time
	last        Observation
	lastOffered [NumClasses]int64
	started     bool
	// fullCapacity is the records a second the pipeline consumed while behind and unshed;
	// caughtUp counts the intervals since freshness fell below half of max_lag.
	fullCapacity float64
	caughtUp     int
}

// giveBackAfter is how many caught-up intervals shedding waits at most for producers to slow
// down before it gives series back anyway.
const giveBackAfter = 10

// demand is the records a second producers wrote over the interval from prev to o: what was
// consumed plus the growth of the lag.
func demand(o, prev Observation, dt float64) float64 {
	return (float64(max(o.Consumed-prev.Consumed, 0)) + float64(o.Lag-prev.Lag)) / dt
}

// NewController controls state by cfg.
func NewController(cfg config.Shedding, state *State) *Controller {
	return &Controller{cfg: cfg, state: state, kept: 1}
}

// Configure takes new settings (a reload); the factors stay until the next observation.
func (c *Controller) Configure(cfg config.Shedding) {
	c.cfg = cfg
	if !cfg.Enabled {
		c.kept = 1
		c.apply([NumClasses]int64{})
	}
}

// Step takes an interval's observation and sets the factors; it reports the classes' factors
// when they changed.
func (c *Controller) Step(o Observation) (changed bool, factors [NumClasses]float64) {
	var offered [NumClasses]int64
	for k := range offered {
		total := c.state.offered[k].Load()
		offered[k] = total - c.lastOffered[k]
		c.lastOffered[k] = total
	}
	before := c.factors()
	prev := c.last
	c.last = o
	if !c.started {
		c.started = true
		return false, before
	}
	if !c.cfg.Enabled {
		return false, before
	}
	dt := o.At.Sub(prev.At).Seconds()
	kept := c.kept
	if o.Freshness >= c.cfg.MaxLag/2 {
		c.caughtUp = 0
	}
	switch {
	case o.Freshness > c.cfg.MaxLag:
		if c.behindSince.IsZero() {
			c.behindSince = o.At
		}
		if o.At.Sub(c.behindSince) < c.cfg.For || dt <= 0 {
			break
		}
		capacity := float64(max(o.Consumed-prev.Consumed, 0)) / dt
		demand := demand(o, prev, dt)
		if c.kept >= 1 {
			c.fullCapacity = capacity // what the pipeline takes unshed, behind
		}
		if demand > capacity && capacity > 0 {
			c.kept *= capacity / demand // falling further behind: shed more
		} else if capacity == 0 && demand > 0 {
			c.kept /= 2
		}
		c.kept = max(c.kept, 0)
	case o.Freshness < c.cfg.MaxLag/2:
		c.behindSince = time.Time{}
		c.caughtUp++
		// Caught up: the surge is over when producers write less than the pipeline could take
		// unshed (with a tenth to spare), or, should that capacity be misjudged, after a while.
		if c.kept < 1 && dt > 0 && (demand(o, prev, dt) < 0.9*c.fullCapacity || c.caughtUp >= giveBackAfter) {
			c.kept = min(1, c.kept+0.5)
		}
	default: // between half and all of max_lag: hold
		c.behindSince = time.Time{}
	}
	if c.kept != kept { // the classes' shares are those of the interval that changed it
		c.apply(offered)
	}
	after := c.factors()
	return after != before, after
}

func (c *Controller) factors() (f [NumClasses]float64) {
	for k := range f {
		f[k] = c.state.Factor(Class(k))
	}
	return f
}

// apply spreads the datapoints to shed, 1 - kept of all offered, over best_effort then normal.
func (c *Controller) apply(offered [NumClasses]int64) {
	if c.kept >= 1 {
		for k := range c.state.keep {
			c.state.keep[k].Store(All)
		}
		return
	}
	total := float64(offered[Critical] + offered[Normal] + offered[BestEffort])
	toShed := (1 - c.kept) * total
	if total == 0 { // nothing measured: shed best_effort by the factor itself
		c.state.keep[BestEffort].Store(threshold(c.kept))
		return
	}
	for _, k := range []Class{BestEffort, Normal} {
		n := float64(offered[k])
		keep := 1.0
		if toShed > 0 && n > 0 {
			// Shares are measured before shedding, so the class's current factor does not skew them.
			keep = max(0, 1-toShed/n)
			toShed -= n * (1 - keep)
		}
		c.state.keep[k].Store(threshold(keep))
	}
	c.state.keep[Critical].Store(All)
}
