package actors

import (
	"fmt"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages/denylist"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/rwclient"
)

// outputPlan is one configured output as the pipeline runs it. Every output has its own shards
// (a Kafka output's partitions, a remote-write output's parallel requests) and its own writers,
// which own contiguous ranges of them; all outputs' shards are numbered in one space, output
// after output, so that a worker sorts and sends a datapoint's copies for every output it is
// routed to in one pass.
type outputPlan struct {
	cfg *config.Output
	// shards is the output's shard count: a Kafka output's `shards`, or its topic's partition
	// count when that is not set (resolved at start); a remote-write output's concurrency.
	shards int
	// offset is the output's first shard in the pipeline's shard space; firstWriter its first
	// writer and writers how many it has.
	offset, firstWriter, writers int
	counters                     *outputCounters
	// rw sends a remote-write output's requests; nil for a Kafka output.
	rw *rwclient.Client
}

// kafka reports whether the output writes to a Kafka topic.
func (o *outputPlan) kafka() bool { return o.cfg.Type == config.OutputKafka }

// target is where one route sends a datapoint's copy: an output's slice of the shard space.
type target struct{ offset, shards uint32 }

// route is one compiled `route` block; match is nil for a route that matches everything.
type route struct {
	match   *denylist.Matcher
	targets []target
}

// topology is the fixed layout of outputs, shards and writers, and the routes into them.
type topology struct {
	routes []route
	// shards is the size of the shard space; owner maps a shard to its writer, writerOutput a
	// writer to its output.
	shards       int
	owner        []int32
	writerOutput []*outputPlan
}

// newOutputPlans makes a plan per configured output, with its counters; shards and writers are
// laid out by layout once a Kafka output's partition count is known.
func newOutputPlans(cfg *config.Config) []*outputPlan {
	plans := make([]*outputPlan, len(cfg.Outputs))
	for i, o := range cfg.Outputs {
		plans[i] = &outputPlan{cfg: o, shards: o.Shards, counters: newOutputCounters(o.Name)}
		if o.Type == config.OutputRemoteWrite {
			plans[i].shards = o.Concurrency
			plans[i].rw = rwclient.New(o)
		}
	}
	return plans
}

// layout numbers the outputs' shards and gives each output min(writers, its shards) writers,
// then compiles the routes (validation compiled them already).
func layout(plans []*outputPlan, routes []*config.Route, writers int) (*topology, error) {
	t := &topology{}
	for _, o := range plans {
		if o.shards < 1 {
			return nil, fmt.Errorf("output %q has %d shards", o.cfg.Name, o.shards)
		}
		o.offset, o.firstWriter, o.writers = t.shards, len(t.writerOutput), min(writers, o.shards)
		for s := 0; s < o.shards; s++ {
			t.owner = append(t.owner, int32(o.firstWriter+shard.Owner(s, o.shards, o.writers)))
		}
		for w := 0; w < o.writers; w++ {
			t.writerOutput = append(t.writerOutput, o)
		}
		t.shards += o.shards
	}
	if len(routes) == 0 { // validation allows this with one output only
		t.routes = []route{{targets: []target{{offset: 0, shards: uint32(plans[0].shards)}}}}
		return t, nil
	}
	for _, r := range routes {
		var rt route
		if len(r.Match) > 0 {
			m, err := denylist.Compile(r.Match)
			if err != nil {
				return nil, err
			}
			rt.match = m
		}
		for _, name := range r.Outputs {
			for _, o := range plans {
				if o.cfg.Name == name {
					rt.targets = append(rt.targets, target{offset: uint32(o.offset), shards: uint32(o.shards)})
				}
			}
		}
		t.routes = append(t.routes, rt)
	}
	return t, nil
}

// routeIndex returns the index of the first route that matches a metric name, or -1.
func (t *topology) routeIndex(metric []byte) int {
	for i := range t.routes {
		if r := &t.routes[i]; r.match == nil || r.match.Match(metric) {
			return i
		}
	}
	return -1
}

// writers is the number of writers over all outputs.
func (t *topology) writers() int { return len(t.writerOutput) }

// writerRange is the shards writer w owns, in the pipeline's shard space.
func (t *topology) writerRange(w int) (lo, hi int) {
	o := t.writerOutput[w]
	lo, hi = shard.Range(w-o.firstWriter, o.shards, o.writers)
	return o.offset + lo, o.offset + hi
}
