package actors

import (
	"fmt"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/encode"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/output/registry"
	"github.com/sluicehq/sluice/shed"
)

// outputPlan is one configured output as the pipeline runs it. Every output has its own shards
// (a Kafka output's partitions, a remote-write output's parallel requests) and its own writers,
// which own contiguous ranges of them; all outputs' shards are numbered in one space, output
// after output, so that a worker sorts and sends a datapoint's copies for every output it is
// routed to in one pass.
type outputPlan struct {
	cfg *config.Output
	// shards is the output's shard count, which its Start returns (a Kafka output's partitions,
	// a remote-write output's concurrency).
	shards int
	// offset is the output's first shard in the pipeline's shard space; firstWriter its first
	// writer and writers how many it has.
	offset, firstWriter, writers int
	counters                     *outputCounters
	// out is the output's component (package output), made by the registry for its type.
	out output.Output
	// aggregate is the aggregate whose internal output this is (nil for a configured output).
	aggregate *config.Aggregate
}

// topology is the fixed layout of outputs, shards and writers (encode.Layout, which the workers'
// encoders route and shard by) and each writer's output plan.
type topology struct {
	*encode.Layout
	writerOutput []*outputPlan
}

// newOutputPlans makes a plan per configured output, with its counters and its component;
// shards and writers are laid out by layout once the outputs have started and said their shard
// counts.
func newOutputPlans(cfg *config.Config) ([]*outputPlan, error) {
	plans := make([]*outputPlan, len(cfg.Outputs))
	for i, o := range cfg.Outputs {
		out, err := registry.New(cfg, o)
		if err != nil {
			return nil, err
		}
		plans[i] = &outputPlan{cfg: o, counters: newOutputCounters(o.Name), out: out}
	}
	// The aggregates' internal outputs come last (encode.Relabeling knows only the configured ones).
	for _, a := range cfg.Aggregates {
		out, err := registry.New(cfg, a.Output)
		if err != nil {
			return nil, err
		}
		plans = append(plans, &outputPlan{cfg: a.Output, counters: newOutputCounters(a.Output.Name), out: out, aggregate: a})
	}
	return plans, nil
}

// aggregatePartitions is each aggregation topic's partition count: its internal output's shards
// (known once the outputs have started).
func aggregatePartitions(plans []*outputPlan) map[string]int {
	parts := map[string]int{}
	for _, o := range plans {
		if o.aggregate != nil {
			parts[o.aggregate.Topic] = o.shards
		}
	}
	return parts
}

// stop stops the outputs' components.
func stopOutputs(plans []*outputPlan) error {
	var first error
	for _, o := range plans {
		if err := o.out.Stop(); err != nil && first == nil {
			first = fmt.Errorf("output %q: %w", o.cfg.Name, err)
		}
	}
	return first
}

// layout numbers the outputs' shards and gives each output min(writers, its shards) writers
// (encode.NewLayout), then notes each plan's place in it.
func layout(plans []*outputPlan, routes []*config.Route, aggs []*config.Aggregate, writers int) (*topology, error) {
	names, shards, v2 := make([]string, len(plans)), make([]int, len(plans)), make([]bool, len(plans))
	for i, o := range plans {
		names[i], shards[i], v2[i] = o.cfg.Name, o.shards, o.cfg.Protocol == config.ProtocolV2
	}
	l, err := encode.NewLayout(names, shards, v2, routes, writers)
	if err != nil {
		return nil, err
	}
	outs := make([]int, len(aggs))
	for i := range aggs {
		outs[i] = len(plans) - len(aggs) + i
	}
	if err := l.AddAggregates(aggs, outs); err != nil {
		return nil, err
	}
	t := &topology{Layout: l}
	for i, o := range plans {
		lo := l.Outputs[i]
		o.offset, o.firstWriter, o.writers = lo.Offset, lo.FirstWriter, lo.Writers
	}
	for _, i := range l.WriterOutput {
		t.writerOutput = append(t.writerOutput, plans[i])
	}
	return t, nil
}

// routeClasses is each route's priority class, as the layout numbers routes (one catch-all route
// of class normal without route blocks).
func routeClasses(cfg *config.Config) []shed.Class {
	if len(cfg.Routes) == 0 {
		return []shed.Class{shed.Normal}
	}
	out := make([]shed.Class, len(cfg.Routes))
	for i, r := range cfg.Routes {
		out[i] = shed.ClassOf(r.Priority)
	}
	return out
}
