package encode

import (
	"fmt"

	"github.com/sluicehq/sluice/aggregate"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/messages/shard"
)

// Target is where one route sends a datapoint's copy: an output's slice of the shard space, and
// whether the output speaks remote write 2.0 (native histograms go only there).
type Target struct {
	Offset, Shards uint32
	// Output is the output's index in Layout.Outputs.
	Output uint32
	Native bool
	// Aggregate is 1 + the index in Layout.Aggregates of the aggregate this target re-keys for
	// (its shard is chosen by the output series, not the input series), 0 for an output's.
	Aggregate uint32
}

// Aggregate is one aggregate as the layout routes to it: the datapoints its Match takes go to its
// internal output (Output, an index in Outputs), sharded by output series; with Keep, on by the
// routes too.
type Aggregate struct {
	Match  *glob.Matcher
	Spec   *aggregate.Spec
	Output int
	Keep   bool
	// route is the aggregate's route without Keep; with Keep, route+1+r is the one for regular
	// route r (r = -1: none matched).
	route int
}

// Route is one compiled `route` block; Match is nil for a route that matches everything.
type Route struct {
	Match   *glob.Matcher
	Targets []Target
}

// Output is one output as the layout numbers it: its first shard in the pipeline's shard space,
// its first writer and how many it has.
type Output struct {
	Name                         string
	Shards                       int
	Offset, FirstWriter, Writers int
	// V2: the output speaks remote write 2.0, so its series carry metadata and native histograms.
	V2 bool
}

// Layout is the fixed layout of outputs, shards and writers, and the routes into them.
type Layout struct {
	// Routes are the route blocks' (the first regular of them), then the aggregates'.
	Routes     []Route
	regular    int
	Aggregates []Aggregate
	// Only, when not nil, takes a metric name it does not match to no route (sluice replay's
	// -match): judged per series, as the routes are.
	Only *glob.Matcher
	// Shards is the size of the shard space; Owner maps a shard to its writer, WriterOutput a
	// writer to its output (an index into Outputs).
	Shards       int
	Owner        []int32
	Outputs      []Output
	WriterOutput []int
}

// NewLayout numbers the outputs' shards (outputs[i] has shards[i]; v2[i], when v2 is not nil,
// says it speaks remote write 2.0) and gives each output min(writers, its shards) writers, then
// compiles the routes (validation compiled them already).
func NewLayout(names []string, shards []int, v2 []bool, routes []*config.Route, writers int) (*Layout, error) {
	l := &Layout{}
	for i, name := range names {
		n := shards[i]
		if n < 1 {
			return nil, fmt.Errorf("output %q has %d shards", name, n)
		}
		o := Output{Name: name, Shards: n, Offset: l.Shards, FirstWriter: len(l.WriterOutput), Writers: min(writers, n), V2: v2 != nil && v2[i]}
		for s := 0; s < n; s++ {
			l.Owner = append(l.Owner, int32(o.FirstWriter+shard.Owner(s, n, o.Writers)))
		}
		for w := 0; w < o.Writers; w++ {
			l.WriterOutput = append(l.WriterOutput, i)
		}
		l.Outputs = append(l.Outputs, o)
		l.Shards += n
	}
	if len(routes) == 0 { // validation allows this with one output only
		l.Routes = []Route{{Targets: []Target{{Offset: 0, Shards: uint32(shards[0]), Output: 0, Native: l.Outputs[0].V2}}}}
		l.regular = 1
		return l, nil
	}
	for _, r := range routes {
		var rt Route
		if len(r.Match) > 0 {
			m, err := glob.Compile(r.Match)
			if err != nil {
				return nil, err
			}
			rt.Match = m
		}
		for _, name := range r.Outputs {
			for i, o := range l.Outputs {
				if o.Name == name {
					rt.Targets = append(rt.Targets, Target{Offset: uint32(o.Offset), Shards: uint32(o.Shards), Output: uint32(i), Native: o.V2})
				}
			}
		}
		l.Routes = append(l.Routes, rt)
	}
	l.regular = len(l.Routes)
	return l, nil
}

// AddAggregates routes the aggregates' datapoints to their internal outputs: aggs[i] writes
// output outputs[i]. A datapoint goes to the first aggregate that matches it.
func (l *Layout) AddAggregates(aggs []*config.Aggregate, outputs []int) error {
	for i, a := range aggs {
		m, err := glob.Compile(a.Match)
		if err != nil {
			return err
		}
		o := l.Outputs[outputs[i]]
		agg := Aggregate{Match: m, Spec: a.Spec, Output: outputs[i], Keep: a.KeepInput, route: len(l.Routes)}
		t := Target{Offset: uint32(o.Offset), Shards: uint32(o.Shards), Output: uint32(outputs[i]), Aggregate: uint32(i + 1)}
		l.Routes = append(l.Routes, Route{Match: m, Targets: []Target{t}})
		if a.KeepInput {
			for r := 0; r < l.regular; r++ {
				l.Routes = append(l.Routes, Route{Match: m, Targets: append([]Target{t}, l.Routes[r].Targets...)})
			}
		}
		l.Aggregates = append(l.Aggregates, agg)
	}
	return nil
}

// RouteIndex returns the index of the route a metric name takes: the first aggregate's that
// matches it, unless aggregated (a series the aggregation stage made), else the first route
// block's that matches it, or -1.
func (l *Layout) RouteIndex(metric []byte, aggregated bool) int {
	if l.Only != nil && !l.Only.Match(metric) {
		return -1
	}
	if !aggregated {
		for i := range l.Aggregates {
			a := &l.Aggregates[i]
			if a.Match.Match(metric) {
				if !a.Keep {
					return a.route
				}
				return a.route + 1 + l.regularIndex(metric)
			}
		}
	}
	return l.regularIndex(metric)
}

func (l *Layout) regularIndex(metric []byte) int {
	for i := range l.Routes[:l.regular] {
		if r := &l.Routes[i]; r.Match == nil || r.Match.Match(metric) {
			return i
		}
	}
	return -1
}

// Writers is the number of writers over all outputs.
func (l *Layout) Writers() int { return len(l.WriterOutput) }

// WriterRange is the shards writer w owns, in the pipeline's shard space.
func (l *Layout) WriterRange(w int) (lo, hi int) {
	o := l.Outputs[l.WriterOutput[w]]
	lo, hi = shard.Range(w-o.FirstWriter, o.Shards, o.Writers)
	return o.Offset + lo, o.Offset + hi
}
