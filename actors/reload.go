package actors

import (
	"reflect"
	"slices"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/limits"
	"github.com/sluicehq/sluice/parse/formats"
)

// Reload applies what of next can change while the pipeline runs and returns the blocks it
// applied and the settings that changed but need a restart, which it leaves as they run. Which
// is which is declared once, by the reload tags of the config's fields (config/reload.go): live
// are the denylist (globs and file), the validation limits, the coordinator's tuning (interval,
// hot_factor, max_spread), the cardinality budgets (limits: their windows start afresh),
// shedding, the routes' priorities, the inputs' default_tags and metric_prefix and the inputs'
// and outputs' relabel rules; a live setting of an input, output or route is applied only when
// no restart setting of those blocks changed with it. The log level is the caller's (it owns
// the logger). next must be a validated config.
//
// Workers pick up the new denylist and limits at their next batch, the coordinator its tuning at
// its next tick; nothing in flight is touched.
func (p *Pipeline) Reload(next *config.Config) (applied, needsRestart []string, err error) {
	d := p.d
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	cur := p.running
	if !slices.Equal(cur.Denylist.All, next.Denylist.All) {
		m, err := glob.Compile(next.Denylist.All)
		if err != nil {
			return nil, nil, err // validation compiled it already; only a bug gets here
		}
		d.settings.denylist.Store(m)
		applied = append(applied, "denylist")
	}
	if !reflect.DeepEqual(cur.Validation, next.Validation) {
		d.settings.validator.Store(newValidator(next))
		applied = append(applied, "validation")
	}
	curCo, nextCo := *cur.Coordinator, *next.Coordinator
	nextCo.Enabled = curCo.Enabled // a restart setting (reported below): the tuning is applied
	if curCo != nextCo {
		d.settings.coordinator.Store(&nextCo)
		applied = append(applied, "coordinator")
	}
	if !reflect.DeepEqual(cur.Limits, next.Limits) {
		set, err := limits.New(next.Limits, p.log.Named("limits"), d.settings.limits.Load())
		if err != nil {
			return nil, nil, err // validation compiled it already; only a bug gets here
		}
		d.settings.limits.Store(set)
		applied = append(applied, "limits")
	}
	if *cur.Shedding != *next.Shedding {
		d.settings.shedding.Store(next.Shedding)
		applied = append(applied, "shedding")
	}
	routes := cur.Routes
	if !reflect.DeepEqual(cur.Routes, next.Routes) && config.SameRestartSettings(cur.Routes, next.Routes) {
		classes := routeClasses(next)
		d.settings.classes.Store(&classes)
		applied = append(applied, "route.priority")
		routes = next.Routes
	}
	inputs, outputs := cur.Inputs, cur.Outputs
	if relabelChanged(cur, next) && config.SameRestartSettings(cur.Inputs, next.Inputs) &&
		config.SameRestartSettings(cur.Outputs, next.Outputs) {
		rl, err := newRelabeling(next)
		if err != nil {
			return nil, nil, err // validation compiled the rules already; only a bug gets here
		}
		d.settings.relabel.Store(rl)
		applied = append(applied, "relabel")
		inputs, outputs = withRules(inputs, next.Inputs, inputRules), withRules(outputs, next.Outputs, outputRules)
	}
	if config.SameRestartSettings(cur.Inputs, next.Inputs) && !p.customDecode {
		for i, in := range next.Inputs {
			old := cur.Inputs[i]
			if reflect.DeepEqual(old.DefaultTags, in.DefaultTags) && old.MetricPrefix == in.MetricPrefix {
				continue
			}
			dec, err := formats.New(in.Format, in.FormatOptions())
			if err != nil {
				return nil, nil, err // validation built it already; only a bug gets here
			}
			fn := DecodeFunc(dec.Decode)
			for _, t := range in.Topics {
				d.decoders[t].decode.Store(&fn)
			}
			applied = append(applied, "input."+in.Format)
		}
		inputs = withRules(next.Inputs, inputs, inputRules) // with the rules in force
	}
	// What needs a restart follows from the config's reload tags (config/reload.go), so a block
	// added later is reported without a list here to keep.
	needsRestart = config.NeedsRestart(cur, next)
	// What a later reload compares with: the applied blocks from next, the rest as running.
	merged := *cur
	merged.Denylist, merged.Validation, merged.Coordinator = next.Denylist, next.Validation, &nextCo
	merged.Log, merged.Inputs, merged.Outputs = next.Log, inputs, outputs
	merged.Limits, merged.Shedding, merged.Routes = next.Limits, next.Shedding, routes
	p.running = &merged
	return applied, needsRestart, nil
}

// relabelChanged reports whether any input's or output's relabel rules differ.
func relabelChanged(cur, next *config.Config) bool {
	if len(cur.Inputs) != len(next.Inputs) || len(cur.Outputs) != len(next.Outputs) {
		return true
	}
	for i := range cur.Inputs {
		if !reflect.DeepEqual(cur.Inputs[i].Relabel, next.Inputs[i].Relabel) {
			return true
		}
	}
	for i := range cur.Outputs {
		if !reflect.DeepEqual(cur.Outputs[i].Relabel, next.Outputs[i].Relabel) {
			return true
		}
	}
	return false
}

// withRules returns copies of blocks with the relabel rules (rules picks them out) of from's
// blocks, one by one.
func withRules[T any](blocks, from []*T, rules func(*T) *[]*config.Relabel) []*T {
	out := make([]*T, len(blocks))
	for i, b := range blocks {
		c := *b
		*rules(&c) = *rules(from[i])
		out[i] = &c
	}
	return out
}

func inputRules(in *config.Input) *[]*config.Relabel  { return &in.Relabel }
func outputRules(o *config.Output) *[]*config.Relabel { return &o.Relabel }
