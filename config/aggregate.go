package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/aggregate"
	"github.com/sluicehq/sluice/glob"
)

// Aggregate is one `aggregate "NAME"` block: streaming aggregation named and shaped as vmagent's
// (docs/aggregation.md). Datapoints whose metric matches are re-keyed through the aggregate's
// topic, partitioned by output series, and aggregated there by the task that owns the partition.
type Aggregate struct {
	Name     string   `hcl:"name,label" reload:"restart"`
	Match    []string `hcl:"match" reload:"restart"`
	Interval string   `hcl:"interval" reload:"restart"`
	By       []string `hcl:"by,optional" reload:"restart"`
	Without  []string `hcl:"without,optional" reload:"restart"`
	Outputs  []string `hcl:"outputs" reload:"restart"`
	// KeepInput also sends the matching datapoints on by the routes, as they came.
	KeepInput bool `hcl:"keep_input,optional" reload:"restart"`
	// Lateness is how long, in datapoint time, a window waits for late datapoints after its end.
	LatenessRaw string `hcl:"lateness,optional" reload:"restart"`
	// MaxSeries bounds the output series of one window of one partition; beyond it, datapoints of
	// new ones are dropped and counted (max_series).
	MaxSeries int `hcl:"max_series,optional" reload:"restart"`
	// Topic is the aggregation topic (created beforehand, like an output's); its partition count
	// spreads the aggregate's output series over the tasks.
	Topic string `hcl:"topic,optional" reload:"restart"`

	Spec     *aggregate.Spec `reload:"-"`
	Lateness time.Duration   `reload:"-"`
	// Output is the internal Kafka output that writes the aggregate's topic (stage A).
	Output *Output `reload:"-"`
}

// AggregateGroupSuffix is added to the first input's group to name the aggregation stage's group.
const AggregateGroupSuffix = ".aggregate"

// AggregateOutputPrefix names an aggregate's internal output: "aggregate." + its name.
const AggregateOutputPrefix = "aggregate."

// AggregateGroup is the consumer group in which every task reads the aggregation topics.
func (c *Config) AggregateGroup() string {
	g := DefaultInputGroup
	if len(c.Inputs) > 0 {
		g = c.Inputs[0].Group
	}
	return g + AggregateGroupSuffix
}

// validateAggregates checks the aggregate blocks, each error where it was written, and makes
// each one's internal output.
func (c *Config) validateAggregates(v *validator) {
	names := map[string]bool{}
	topics := map[string]string{}
	for _, a := range c.Aggregates {
		key := "aggregate." + a.Name
		a.deriveDefaults()
		if names[a.Name] {
			v.errorf(key, "", "Duplicate aggregate name", "There is already an aggregate named %q.", a.Name)
		}
		names[a.Name] = true
		if len(a.Match) == 0 {
			v.errorf(key, "match", "Empty match", `List the metric-name globs to aggregate, such as match = ["http.requests.**"].`)
		} else if _, err := glob.Compile(a.Match); err != nil {
			v.errorf(key, "match", "Invalid glob", "%v.", err)
		}
		// Each setting checked on its own, so that every error is reported where it was written.
		if _, err := aggregate.NewSpec(a.Interval, nil, nil, []string{aggregate.SumSamples}); err != nil {
			v.errorf(key, "interval", "Invalid interval", "%v.", err)
		}
		if len(a.By) > 0 && len(a.Without) > 0 {
			v.errorf(key, "without", "Both by and without", "Use by (keep only these labels) or without (keep all but these), not both, as vmagent requires.")
		}
		if _, err := aggregate.NewSpec("1m", nil, nil, a.Outputs); err != nil {
			v.errorf(key, "outputs", "Invalid outputs", "%v.", err)
		}
		if spec, err := aggregate.NewSpec(a.Interval, a.By, a.Without, a.Outputs); err == nil {
			a.Spec = spec
		}
		a.Lateness = v.duration(key, "lateness", a.LatenessRaw, 0)
		if a.MaxSeries < 1 {
			v.errorf(key, "max_series", "Must be at least 1", "max_series is %d; it bounds the output series a partition holds.", a.MaxSeries)
		}
		if other, ok := topics[a.Topic]; ok {
			v.errorf(key, "topic", "Topic of another aggregate", "Aggregate %q writes topic %q already; each aggregate needs its own.", other, a.Topic)
		}
		topics[a.Topic] = a.Name
		for _, in := range c.Inputs {
			if contains(in.Topics, a.Topic) {
				v.errorf(key, "topic", "Aggregation topic is an input", "Topic %q is read by input %q.", a.Topic, in.Format)
			}
		}
		for _, o := range c.Outputs {
			if o.Type == OutputKafka && o.Topic == a.Topic {
				v.errorf(key, "topic", "Aggregation topic is an output", "Topic %q is also output %q's topic.", a.Topic, o.Name)
			}
		}
		a.Output = defaultOutput(OutputKafka)
		a.Output.Type, a.Output.Name, a.Output.Topic = OutputKafka, AggregateOutputPrefix+a.Name, a.Topic
		v.resolveWriting(key, a.Output) // a kafka output block's defaults
	}
}

// AggregateMetadata is what an aggregation partition's offset commit carries: the watermark state
// (the newest timestamp taken and the partition's first one) that its checkpoint replays from,
// the offset after the last record taken then (replayed records before it are not news), and the
// offset of the first record of its running totals' state in the partition (-1: none).
func AggregateMetadata(maxTs, since, next, state int64) string {
	return fmt.Sprintf("sluice-aggregate/1 %d %d %d %d", maxTs, since, next, state)
}

// ParseAggregateMetadata reads AggregateMetadata; ok is false for anything else (no commit yet).
func ParseAggregateMetadata(s string) (maxTs, since, next, state int64, ok bool) {
	rest, found := strings.CutPrefix(s, "sluice-aggregate/1 ")
	if !found {
		return 0, 0, 0, 0, false
	}
	if _, err := fmt.Sscanf(rest, "%d %d %d %d", &maxTs, &since, &next, &state); err != nil {
		return 0, 0, 0, 0, false
	}
	return maxTs, since, next, state, true
}
