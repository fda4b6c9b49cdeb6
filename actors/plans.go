package actors

import (
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/encode"
	"github.com/sluicehq/sluice/rwclient"
	"github.com/sluicehq/sluice/shed"
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

// topology is the fixed layout of outputs, shards and writers (encode.Layout, which the workers'
// encoders route and shard by) and each writer's output plan.
type topology struct {
	*encode.Layout
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

// layout numbers the outputs' shards and gives each output min(writers, its shards) writers
// (encode.NewLayout), then notes each plan's place in it.
func layout(plans []*outputPlan, routes []*config.Route, writers int) (*topology, error) {
	names, shards, v2 := make([]string, len(plans)), make([]int, len(plans)), make([]bool, len(plans))
	for i, o := range plans {
		names[i], shards[i], v2[i] = o.cfg.Name, o.shards, o.cfg.Protocol == config.ProtocolV2
	}
	l, err := encode.NewLayout(names, shards, v2, routes, writers)
	if err != nil {
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
