package vmcompare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompbmarshal"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/streamaggr"

	"github.com/sluicehq/sluice/aggregate"
)

// TestStreamAggrWindow: one window of package aggregate against VictoriaMetrics' own
// lib/streamaggr (vmagent's stream aggregation) on the same random samples: per input series,
// by labels and without labels, every output a window computes alone (histogram_bucket's vmrange
// buckets and quantiles included: the same libraries, exact below 1,000 samples), the same output
// names, labels and values. Samples have distinct (series, timestamp) pairs: a repeated pair is where Sluice
// differs on purpose (taken once, so that a redelivery cannot change a result).
func TestStreamAggrWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ by, without []string }{
		{nil, nil}, {[]string{"job"}, nil}, {[]string{"job", "dc"}, nil}, {nil, []string{"pod"}}, {nil, []string{"pod", "instance"}},
	}
	outputs := append(slices.Clone(aggregate.WindowOutputs), "quantiles(0, 0.5, 0.9, 0.99, 1)")
	for round := range 20 {
		shape := shapes[round%len(shapes)]
		spec, err := aggregate.NewSpec("1m", shape.by, shape.without, outputs)
		if err != nil {
			t.Fatal(err)
		}
		samples := randomSamples(rng, 200+rng.IntN(800))
		want := vmagentWindow(t, shape.by, shape.without, outputs, "", samples)
		w := aggregate.NewWindow(spec)
		for _, s := range samples {
			w.Add(s.labels, s.ts, s.value)
		}
		got := map[string]float64{}
		w.Flush(func(name string, labels []aggregate.Label, v float64) {
			got[render(name, labels)] = v
		})
		if len(got) != len(want) {
			t.Errorf("round %d (by %v, without %v): %d output series, vmagent %d", round, shape.by, shape.without, len(got), len(want))
		}
		for k, v := range want {
			g, ok := got[k]
			if !ok {
				t.Errorf("round %d: vmagent has %s, Sluice does not", round, k)
				continue
			}
			if math.Abs(g-v) > 1e-9*math.Max(1, math.Abs(v)) {
				t.Errorf("round %d: %s = %g, vmagent %g", round, k, g, v)
			}
		}
	}
}

type aggrSample struct {
	labels []aggregate.Label
	ts     int64
	value  float64
}

// TestStreamAggrCounters: the counter outputs (increase, total, rate_sum, rate_avg) of a package
// aggregate Partition (a window closed by a later tick) against lib/streamaggr's, on counters with
// resets, samples out of order and series new in the window, each series' first sample counted
// from 0 as vmagent does once it has run past ignore_first_sample_interval (0s here; a Partition
// past its first staleness interval). One window: vmagent's later windows follow wall time.
func TestStreamAggrCounters(t *testing.T) {
	counters := []string{aggregate.Increase, aggregate.Total, aggregate.RateSum, aggregate.RateAvg}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 20 {
		var by, without []string
		switch round % 3 {
		case 1:
			by = []string{"job"}
		case 2:
			without = []string{"pod"}
		}
		spec, err := aggregate.NewSpec("1m", by, without, counters)
		if err != nil {
			t.Fatal(err)
		}
		// Timestamps 15 to 17 s ahead, as lib/streamaggr's own tests stamp theirs, within one
		// aligned minute (a Partition windows by timestamp).
		base := time.Now().Add(15 * time.Second).UnixMilli()
		if base/60_000 != (base+2_000)/60_000 {
			base += 2_000
		}
		minute := base - base%60_000
		var samples []aggrSample
		for i, s := range randomSamples(rng, 100+rng.IntN(300)) {
			s.ts = base + int64(rng.IntN(2_000))
			if i%7 != 0 { // mostly counters going up, some resets (random values)
				s.value = float64(i) * 3
			}
			samples = append(samples, s)
		}
		want := vmagentWindow(t, by, without, counters, "  ignore_first_sample_interval: 0s\n", samples)
		p := aggregate.NewPartition(spec, 0, aggregate.Checkpoint{MaxTs: minute - 3_600_000, Since: minute - 3_600_000})
		got := map[string]float64{}
		emit := func(_ int64, name string, labels []aggregate.Label, v float64) { got[render(name, labels)] = v }
		for i, s := range samples {
			p.Add(int64(i), s.labels, s.ts, s.value, emit)
		}
		p.Tick(minute+120_000, emit)
		if len(got) != len(want) || len(want) == 0 {
			t.Errorf("round %d (by %v, without %v): %d output series, vmagent %d", round, by, without, len(got), len(want))
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9*math.Max(1, math.Abs(v)) {
				t.Errorf("round %d: %s = %v (%v), vmagent %g", round, k, g, ok, v)
			}
		}
	}
}

// randomSamples are n samples of a few metrics over a few label sets, distinct in (series,
// timestamp), stamped 15 to 25 s ahead as lib/streamaggr's own tests stamp theirs (its windows take
// samples by arrival; older ones may fall before its current window).
func randomSamples(rng *rand.Rand, n int) []aggrSample {
	now := time.Now().UnixMilli()
	seen := map[string]bool{}
	var out []aggrSample
	for len(out) < n {
		labels := []aggregate.Label{{Name: "__name__", Value: fmt.Sprintf("http_requests_%d", rng.IntN(3))}}
		for _, l := range []string{"job", "dc", "pod", "instance"} {
			if rng.IntN(4) > 0 {
				labels = append(labels, aggregate.Label{Name: l, Value: fmt.Sprintf("%s%d", l, rng.IntN(3))})
			}
		}
		ts := now + 15_000 + int64(rng.IntN(10_000))
		key := fmt.Sprint(labels, ts)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, aggrSample{labels, ts, math.Round(rng.NormFloat64()*1000) / 8})
	}
	return out
}

// vmagentWindow runs the samples through lib/streamaggr with the same aggregate and returns its
// output series, flushed once (on stop).
func vmagentWindow(t *testing.T, by, without, outputs []string, extra string, samples []aggrSample) map[string]float64 {
	t.Helper()
	var quoted []string
	for _, o := range outputs {
		quoted = append(quoted, strconv.Quote(o)) // quantiles(a, b) holds commas
	}
	cfg := "- interval: 1m\n  outputs: [" + strings.Join(quoted, ", ") + "]\n" + extra
	if len(by) > 0 {
		cfg += "  by: [" + strings.Join(by, ", ") + "]\n"
	}
	if len(without) > 0 {
		cfg += "  without: [" + strings.Join(without, ", ") + "]\n"
	}
	var mu sync.Mutex
	out := map[string]float64{}
	push := func(tss []prompbmarshal.TimeSeries) {
		mu.Lock()
		defer mu.Unlock()
		for _, ts := range tss {
			var labels []aggregate.Label
			name := ""
			for _, l := range ts.Labels {
				if l.Name == "__name__" {
					name = l.Value
				} else {
					labels = append(labels, aggregate.Label{Name: l.Name, Value: l.Value})
				}
			}
			slices.SortFunc(labels, func(a, b aggregate.Label) int { return strings.Compare(a.Name, b.Name) })
			for _, s := range ts.Samples {
				out[render(name, labels)] = s.Value
			}
		}
	}
	a, err := streamaggr.LoadFromData([]byte(cfg), push, &streamaggr.Options{FlushOnShutdown: true, NoAlignFlushToInterval: true, EnableWindows: true}, "sluice")
	if err != nil {
		t.Fatalf("vmagent config %q: %v", cfg, err)
	}
	tss := make([]prompbmarshal.TimeSeries, len(samples))
	for i, s := range samples {
		var ls []prompbmarshal.Label
		for _, l := range s.labels {
			ls = append(ls, prompbmarshal.Label{Name: l.Name, Value: l.Value})
		}
		tss[i] = prompbmarshal.TimeSeries{Labels: ls, Samples: []prompbmarshal.Sample{{Value: s.value, Timestamp: s.ts}}}
	}
	a.Push(tss, nil)
	a.MustStop()
	return out
}

func render(name string, labels []aggregate.Label) string {
	var b strings.Builder
	b.WriteString(name)
	for _, l := range labels {
		fmt.Fprintf(&b, ",%s=%q", l.Name, l.Value)
	}
	return b.String()
}
