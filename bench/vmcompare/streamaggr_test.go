package vmcompare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
// by labels and without labels, every output aggregate computes, the same output names, labels
// and values. Samples have distinct (series, timestamp) pairs: a repeated pair is where Sluice
// differs on purpose (taken once, so that a redelivery cannot change a result).
func TestStreamAggrWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ by, without []string }{
		{nil, nil}, {[]string{"job"}, nil}, {[]string{"job", "dc"}, nil}, {nil, []string{"pod"}}, {nil, []string{"pod", "instance"}},
	}
	for round := range 20 {
		shape := shapes[round%len(shapes)]
		spec, err := aggregate.NewSpec("1m", shape.by, shape.without, aggregate.Outputs)
		if err != nil {
			t.Fatal(err)
		}
		samples := randomSamples(rng, 200+rng.IntN(800))
		want := vmagentWindow(t, shape.by, shape.without, samples)
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
func vmagentWindow(t *testing.T, by, without []string, samples []aggrSample) map[string]float64 {
	t.Helper()
	cfg := "- interval: 1m\n  outputs: [" + strings.Join(aggregate.Outputs, ", ") + "]\n"
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
