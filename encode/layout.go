package encode

import (
	"fmt"

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
	Routes []Route
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
	return l, nil
}

// RouteIndex returns the index of the first route that matches a metric name, or -1.
func (l *Layout) RouteIndex(metric []byte) int {
	for i := range l.Routes {
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
