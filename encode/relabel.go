package encode

// Relabeling in the series cache: an input's rules are applied when a series enters the cache,
// before it is validated, denylisted, budgeted, routed and sharded, so that it is all of those
// by its relabeled identity; an output's rules are applied then too, to what that output
// receives, giving the output its own labels and shard for the series (or none: dropped for that
// output). Every later datapoint of the series reuses what was decided.

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/aggregate"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/relabel"
)

// Relabeling is the compiled relabel rules of every input and output. It is immutable: a reload
// replaces it whole, and the series cache starts afresh when it changes.
type Relabeling struct {
	// Inputs are each input's rules, by the input index batches are loaded with; Outputs each
	// output's, by Layout.Outputs index. nil: none.
	Inputs, Outputs []*relabel.Rules
	anyInput        bool
	anyOutput       bool
}

// NewRelabeling compiles the rules of each input and output (validation compiled them already).
func NewRelabeling(inputs, outputs [][]relabel.Spec) (*Relabeling, error) {
	r := &Relabeling{}
	var err error
	if r.Inputs, r.anyInput, err = compileEach("input", inputs); err != nil {
		return nil, err
	}
	if r.Outputs, r.anyOutput, err = compileEach("output", outputs); err != nil {
		return nil, err
	}
	return r, nil
}

// compileEach compiles each block's rules (nil for a block without any) and reports whether any
// block has some.
func compileEach(what string, blocks [][]relabel.Spec) ([]*relabel.Rules, bool, error) {
	out, some := make([]*relabel.Rules, len(blocks)), false
	for i, specs := range blocks {
		if len(specs) == 0 {
			continue
		}
		rs, err := relabel.NewRules(specs)
		if err != nil {
			return nil, false, fmt.Errorf("%s %d: %w", what, i, err)
		}
		out[i], some = rs, true
	}
	return out, some, nil
}

// input is input i's rules (nil: none).
func (r *Relabeling) input(i int) *relabel.Rules {
	if r == nil || i < 0 || i >= len(r.Inputs) {
		return nil
	}
	return r.Inputs[i]
}

// output is output i's rules (nil: none).
func (r *Relabeling) output(i uint32) *relabel.Rules {
	if r == nil || !r.anyOutput || int(i) >= len(r.Outputs) {
		return nil
	}
	return r.Outputs[i]
}

// relabelMaxTags is how many tags a series of an input with rules may have before its rules run:
// rules such as labeldrop may bring it within validation's max_tags, which is checked after them.
const relabelMaxTags = 256

// droppedShard marks a series' target whose output's rules dropped it.
const droppedShard = ^uint32(0)

// labelRange is where a series' labels for one output are in Encoder.labels.
type labelRange struct{ start, end uint32 }

// Relabel sets the relabel rules (nil: none) and the input the next batches come from; other
// rules than before (a reload) start the series cache afresh.
func (e *Encoder) Relabel(r *Relabeling, input int) { e.relabeling, e.input = r, input }

// OutputDrops returns, per output (Layout.Outputs index), the loaded batch's datapoints that the
// output's relabel rules dropped; nil when no output has rules.
func (e *Encoder) OutputDrops() []int64 { return e.outDrops }

// startRelabel readies the loaded batch's input rules and per-output counts.
func (e *Encoder) startRelabel() {
	e.inRules = e.relabeling.input(e.input)
	e.keyInput = e.relabeling != nil && e.relabeling.anyInput
	if e.relabeling != nil && e.relabeling.anyOutput {
		e.outDrops = append(e.outDrops[:0], make([]int64, len(e.topo.Outputs))...)
	} else {
		e.outDrops = e.outDrops[:0]
	}
}

// relabelInput applies the batch's input rules to dp's series: it returns the relabeled series
// (a datapoint of e.relabeled that refers to e.rb's storage until the next series) or false
// when the rules drop it.
func (e *Encoder) relabelInput(dp *messages.Datapoint) (*messages.Datapoint, bool) {
	e.rb.Reset(dp.Metric, dp.Tags)
	if !e.rb.Process(e.inRules) {
		return nil, false
	}
	return e.toPoint(&e.relabeled, e.rb.Labels(), dp), true
}

// toPoint makes labels a datapoint of rows (reset first) with dp's sample and extras.
func (e *Encoder) toPoint(rows *messages.Rows, labels []messages.Tag, dp *messages.Datapoint) *messages.Datapoint {
	rows.Reset()
	mark := rows.TagsMark()
	var metric []byte
	named := false
	for _, l := range labels {
		if !named && string(l.Key) == relabel.NameLabel {
			metric, named = l.Value, true
			continue
		}
		rows.AddTag(l.Key, l.Value)
	}
	out := rows.NextPoint()
	out.Metric, out.Tags = metric, rows.TagsSince(mark)
	out.Timestamp, out.Value, out.Extra = dp.Timestamp, dp.Value, dp.Extra
	return out
}

// target decides where one of a new series' route targets goes: its shard (droppedShard when
// the output's rules drop the series) and, when the output has rules, its own labels. named is
// the series as outputs receive it (input rules and name mapping applied) and sh its shard hash.
func (e *Encoder) target(t Target, named *messages.Datapoint, sh uint64, all labelRange) {
	if t.Aggregate != 0 {
		// Every input series of one output series goes to one partition of the aggregate's topic,
		// with its own labels: the aggregation stage groups them.
		a := &e.topo.Aggregates[t.Aggregate-1]
		e.seriesShards = append(e.seriesShards, t.Offset+uint32(shard.Jump(outputSeriesHash(a.Spec, named), int(t.Shards))))
		if e.relabeling != nil && e.relabeling.anyOutput {
			e.targetLabels = append(e.targetLabels, all)
		}
		return
	}
	rules := e.relabeling.output(t.Output)
	if rules == nil {
		e.seriesShards = append(e.seriesShards, t.Offset+uint32(shard.Jump(sh, int(t.Shards))))
		if e.relabeling != nil && e.relabeling.anyOutput {
			e.targetLabels = append(e.targetLabels, all)
		}
		return
	}
	e.orb.Reset(named.Metric, named.Tags)
	keep := e.orb.Process(rules)
	var out *messages.Datapoint
	if keep {
		out = e.toPoint(&e.outRows, e.orb.Labels(), named)
		// What the rules made must still be a series the output can take.
		_, keep = e.validator.CheckSeries(out)
	}
	if !keep {
		e.seriesShards = append(e.seriesShards, droppedShard)
		e.targetLabels = append(e.targetLabels, labelRange{})
		return
	}
	e.shardKey = shard.AppendSeriesKey(e.shardKey[:0], out)
	e.seriesShards = append(e.seriesShards, t.Offset+uint32(shard.Jump(shard.Hash(e.shardKey), int(t.Shards))))
	start := uint32(len(e.labels))
	e.labels = remotewrite.AppendLabels(e.labels, out.Metric, out.Tags)
	e.targetLabels = append(e.targetLabels, labelRange{start, uint32(len(e.labels))})
}

// targetLabelsFor returns series si's label fields for writer owner's output: its own when the
// output has relabel rules, else the series'.
func (e *Encoder) targetLabelsFor(si *seriesInfo, owner int) []byte {
	out := e.topo.WriterOutput[owner]
	if e.relabeling.output(uint32(out)) != nil {
		for k, t := range e.topo.Routes[si.route].Targets {
			if int(t.Output) == out {
				r := e.targetLabels[int(si.shards)+k]
				return e.labels[r.start:r.end]
			}
		}
	}
	return e.labels[si.labels:si.labelsEnd]
}

// seriesTags returns the tags of a relabeled series as its encoded labels hold them (the
// budgets judge a series by those, not by the tags it came in with).
func (e *Encoder) seriesTags(si *seriesInfo) []messages.Tag {
	e.admitTags = e.admitTags[:0]
	b := e.labels[si.labels:si.labelsEnd]
	for len(b) > 0 {
		_, _, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		label, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			break
		}
		b = b[n+m:]
		var t messages.Tag
		for len(label) > 0 {
			num, _, k := protowire.ConsumeTag(label)
			if k < 0 {
				break
			}
			v, j := protowire.ConsumeBytes(label[k:])
			if j < 0 {
				break
			}
			if num == 1 {
				t.Key = v
			} else {
				t.Value = v
			}
			label = label[k+j:]
		}
		if string(t.Key) != relabel.NameLabel {
			e.admitTags = append(e.admitTags, t)
		}
	}
	return e.admitTags
}

// outputSeriesHash is the hash of the output series an aggregate makes of dp: its metric and the
// labels the aggregate's by or without keeps (dp's tags are sorted).
func outputSeriesHash(spec *aggregate.Spec, dp *messages.Datapoint) uint64 {
	h := xxhash.New()
	_, _ = h.Write(dp.Metric)
	for _, t := range dp.Tags {
		if !spec.Keeps(string(t.Key)) {
			continue
		}
		_, _ = h.Write(sep[:])
		_, _ = h.Write(t.Key)
		_, _ = h.Write(sep[:])
		_, _ = h.Write(t.Value)
	}
	return h.Sum64()
}

var sep = [1]byte{0xff}
