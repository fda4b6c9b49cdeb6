package integration

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// aggWindow is one (output series, window end) and its value.
type aggWindow struct {
	series string
	end    int64
}

// TestAggregationEndToEnd: per-pod counters of two services, unkeyed over four input partitions,
// are re-keyed through the aggregation topic and summed per service per 10-second window by
// stage B; every window's outputs reach the shard topic once, stamped with the window's end, with
// the values computed here from the input; the raw per-pod series are not written (keep_input is
// off) while another metric passes through untouched.
func TestAggregationEndToEnd(t *testing.T) {
	const in, out, aggTopic = "agg.in", "agg.out", "sluice.aggregate.req"
	c := kafkatest.Start(t, in, 4, out, 4)
	c.CreateTopic(t, aggTopic, 4)
	c.CreateTopic(t, "sluice.aggregate.lat", 1) // every output series of a window in one partition
	cfg := c.ConfigFor(t, fmt.Sprintf("input \"opentsdb\" {\n  topics = [%q]\n  group = \"sluice-agg\"\n}\n", in), out, 4, "", `
aggregate "req" {
  match    = ["http.requests"]
  interval = "10s"
  lateness = "5s"
  without  = ["pod"]
  outputs  = ["sum_samples", "count_samples", "max", "min", "count_series", "last"]
}
# Many output series closing at once, their names incompressible: more than a batch (64 KiB) of
# closed windows, which go out as several records of at most half a batch each.
aggregate "lat" {
  match    = ["http.latency"]
  interval = "10s"
  lateness = "5s"
  by       = ["pod"]
  outputs  = ["count_samples"]
}
pipeline {
  batch_bytes       = "64KiB"
  shard_batch_bytes = "64KiB"
}`)
	// Live data, as agents send it: 10 pods × 2 services, a sample each per second for 40 s,
	// stamped with the wall clock, in records of 20 lines spread over the input's partitions;
	// and 50 lines of a metric no aggregate takes.
	type acc struct {
		sum, count, max, min float64
		pods                 map[string]bool
		lastTs               int64
		last                 float64
	}
	want := map[aggWindow]*acc{}
	latency := map[aggWindow]int{} // count_samples per pod and window of http.latency
	p, reg := startRW(t, cfg)
	start := time.Now()
	for sec := 0; sec < 40; sec++ {
		time.Sleep(time.Until(start.Add(time.Duration(sec) * time.Second)))
		ts := time.Now().UnixMilli()
		var lines []string
		for pod := 0; pod < 10; pod++ {
			for _, svc := range []string{"api", "web"} {
				// A millisecond apart, so that which sample is last does not depend on arrival.
				ts := ts + int64(pod)
				v := float64(sec*7 + pod)
				lines = append(lines, fmt.Sprintf("put http.requests %d %g pod=p%d svc=%s", ts, v, pod, svc))
				end := ts - ts%10_000 + 10_000
				k := aggWindow{"svc=" + svc, end}
				a := want[k]
				if a == nil {
					a = &acc{max: math.Inf(-1), min: math.Inf(1), pods: map[string]bool{}}
					want[k] = a
				}
				a.sum += v
				a.count++
				a.max, a.min = math.Max(a.max, v), math.Min(a.min, v)
				a.pods[fmt.Sprint(pod)] = true
				if ts >= a.lastTs {
					a.lastTs, a.last = ts, v
				}
			}
		}
		for pod := 0; pod < 3000; pod++ {
			lines = append(lines, fmt.Sprintf("put http.latency %d 0.5 pod=%s svc=api", ts, podName(pod)))
			latency[aggWindow{podName(pod), ts - ts%10_000 + 10_000}]++
		}
		if sec < 5 {
			for i := 0; i < 10; i++ {
				lines = append(lines, fmt.Sprintf("put other.metric %d %d host=h%d", ts, sec*10+i, i))
			}
		}
		c.Produce(t, in, lines, 10)
	}

	outputs := map[string]func(a *acc) float64{
		"sum_samples":   func(a *acc) float64 { return a.sum },
		"count_samples": func(a *acc) float64 { return a.count },
		"max":           func(a *acc) float64 { return a.max },
		"min":           func(a *acc) float64 { return a.min },
		"count_series":  func(a *acc) float64 { return float64(len(a.pods)) },
		"last":          func(a *acc) float64 { return a.last },
	}
	wantPoints := len(want)*len(outputs) + 50 + len(latency)
	var points []kafkatest.Point
	kafkatest.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d points on the output", wantPoints), func() bool {
		points = c.ReadOutput(t, out)
		return len(points) >= wantPoints
	})
	time.Sleep(3 * time.Second) // a window emitted twice would show up by now
	points = c.ReadOutput(t, out)
	stopClean(t, p)

	got := map[string]float64{}
	others := 0
	gotLatency := map[aggWindow]float64{}
	for _, pt := range points {
		if pt.Metric == "other.metric" {
			others++
			continue
		}
		if pt.Metric == "http.latency:10s_by_pod_count_samples" {
			gotLatency[aggWindow{pt.Labels["pod"], pt.Timestamp}] = pt.Value
			continue
		}
		name, output, ok := strings.Cut(pt.Metric, ":10s_without_pod_")
		if !ok || name != "http.requests" {
			t.Fatalf("unexpected series on the output: %s %v", pt.Metric, pt.Labels)
		}
		if _, has := pt.Labels["pod"]; has || len(pt.Labels) != 2 {
			t.Fatalf("%s has labels %v, want only __name__ and svc", pt.Metric, pt.Labels)
		}
		k := fmt.Sprintf("%s svc=%s @%d", output, pt.Labels["svc"], pt.Timestamp)
		if old, dup := got[k]; dup {
			t.Fatalf("%s written twice (%g, then %g)", k, old, pt.Value)
		}
		got[k] = pt.Value
	}
	for w, n := range latency {
		if gotLatency[w] != float64(n) {
			t.Fatalf("http.latency count_samples pod %s @%d = %g, want %d", w.series, w.end, gotLatency[w], n)
		}
	}
	if len(gotLatency) != len(latency) {
		t.Fatalf("%d http.latency window series, want %d", len(gotLatency), len(latency))
	}
	if others != 50 {
		t.Fatalf("%d other.metric datapoints written, want 50", others)
	}
	for w, a := range want {
		for output, f := range outputs {
			k := fmt.Sprintf("%s %s @%d", output, w.series, w.end)
			if v, ok := got[k]; !ok || v != f(a) {
				t.Fatalf("%s = %g (written: %v), want %g", k, v, ok, f(a))
			}
		}
	}
	if len(got) != len(want)*len(outputs) {
		t.Fatalf("%d window series written, want %d", len(got), len(want)*len(outputs))
	}
	if late := metric(t, reg, "sluice_dropped_total", map[string]string{"format": "aggregate.req", "reason": "late"}); late != 0 {
		t.Fatalf("%g datapoints late with live data", late)
	}
	// At least every datapoint; more when the aggregation group rebalanced as the second reader
	// joined (what the first owner took after its last checkpoint, the next takes again).
	if in := metric(t, reg, "sluice_aggregate_input_datapoints_total", map[string]string{"aggregate": "req"}); in < 800 {
		t.Errorf("sluice_aggregate_input_datapoints_total = %g, want at least 800", in)
	}
	if n := metric(t, reg, "sluice_aggregate_emitted_total", map[string]string{"aggregate": "req"}); n < float64(len(got)) {
		t.Errorf("sluice_aggregate_emitted_total = %g, want at least the %d written", n, len(got))
	}
}

// TestAggregationTopicMissingFailsStart: an aggregate whose topic does not exist stops the start
// with an error that names the aggregate and says what to create.
func TestAggregationTopicMissingFailsStart(t *testing.T) {
	c := kafkatest.Start(t, "aggmiss.in", 2, "aggmiss.out", 2)
	cfg := c.ConfigFor(t, "input \"opentsdb\" {\n  topics = [\"aggmiss.in\"]\n}\n", "aggmiss.out", 2, "", `
aggregate "nowhere" {
  match    = ["x"]
  interval = "10s"
  outputs  = ["sum_samples"]
}`)
	p, err := actors.New(cfg, kafkatest.Logger(t, "error"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.Start(ctx)
	if err == nil {
		p.Stop(ctx)
		t.Fatal("the pipeline started without the aggregate's topic")
	}
	if !strings.Contains(err.Error(), `aggregate "nowhere": its topic`) || !strings.Contains(err.Error(), "sluice.aggregate.nowhere") {
		t.Fatalf("error %q does not name the aggregate and its topic", err)
	}
}

// podName is a pod label that snappy cannot compress much.
func podName(pod int) string {
	return fmt.Sprintf("%016x%016x", uint64(pod+1)*0x9e3779b97f4a7c15, uint64(pod+1)*0xbf58476d1ce4e5b9)
}
