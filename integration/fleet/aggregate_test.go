package fleet

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
)

// TestAggregationCrashExact: three processes with the default timeouts aggregate per-pod counters
// read unkeyed from 8 partitions, summed per service per 10-second window. One process is
// SIGKILLed mid-stream and restarted (its partitions move away and back), while agents keep
// writing, some datapoints too late. Running totals cross the kill in the state records. Every (output series, window) on the shard topic must have the value computed here
// from the input, and every copy of it (a window emitted again after the crash) that one value.
func TestAggregationCrashExact(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for minutes")
	}
	const (
		topic    = "in.agg"
		aggTopic = "sluice.aggregate.req"
		pods     = 10
		seconds  = 90
	)
	// 16 services: output series on every aggregation partition, so that the killed process
	// held some that carry data, and so does every partition that moves.
	var services []string
	for i := 0; i < 16; i++ {
		services = append(services, fmt.Sprintf("svc%02d", i))
	}
	c := kafkatest.Start(t, topic, 8, outTopic, shards)
	c.CreateTopic(t, aggTopic, 8)
	// lateness covers a killed process's input partitions standing still until the group gives
	// them to another (session timeout + rebalance timeout, with the defaults 18 s). The kill
	// comes once windows have closed, so that the partitions that move carry running totals.
	src := sluicetest.CrashHCL(c.Addrs[0], topic, "", "") + `
aggregate "req" {
  match    = ["http.requests"]
  interval = "10s"
  lateness = "30s"
  without  = ["pod"]
  outputs  = ["sum_samples", "count_samples", "max", "min", "count_series", "last", "avg", "increase", "total"]
}
`
	cfgPath := sluicetest.WriteConfig(t, src)
	def, err := config.LoadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("defaults: session timeout %s, rebalance timeout %s", def.Kafka.SessionTimeout, def.Kafka.RebalanceTimeout)
	bin := sluicetest.Binary(t)

	type acc struct {
		sum, count, max, min float64
		pods                 map[int]bool
		lastTs               int64
		last                 float64
		increase             float64
	}
	want := map[string]*acc{} // "svc=S @end"
	lastTs := map[string]int64{}
	var mu sync.Mutex
	produced := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(produced)
		for tick := 0; tick < seconds*2; tick++ {
			time.Sleep(time.Until(start.Add(time.Duration(tick) * 500 * time.Millisecond)))
			now := time.Now().UnixMilli()
			var lines []string
			mu.Lock()
			for s, svc := range services {
				for pod := 0; pod < pods; pod++ {
					ts := now + int64(s*pods+pod) // distinct, so that "last" does not depend on arrival
					v := float64(tick*3 + pod%7)  // a counter of each pod
					lines = append(lines, fmt.Sprintf("put http.requests %d %g pod=p%d svc=%s", ts, v, pod, svc))
					k := fmt.Sprintf("svc=%s @%d", svc, ts-ts%10_000+10_000)
					a := want[k]
					if a == nil {
						a = &acc{max: math.Inf(-1), min: math.Inf(1), pods: map[int]bool{}}
						want[k] = a
					}
					a.sum += v
					a.count++
					a.max, a.min = math.Max(a.max, v), math.Min(a.min, v)
					a.pods[pod] = true
					if ts > a.lastTs {
						a.lastTs, a.last = ts, v
					}
					if tick > 0 { // a counter's first sample is not an increase: its past is unknown
						a.increase += 3
					}
					lastTs[svc] = max(lastTs[svc], ts)
				}
				if tick >= 20 && tick%4 == 0 {
					// A datapoint 50 s old, for a window the lateness (30 s) has closed lately:
					// dropped as late, then and on every replay, whichever process owns its
					// partition (a replay that did not restore the watermark would reopen it).
					lines = append(lines, fmt.Sprintf("put http.requests %d 1000 pod=late svc=%s", now-50_000, svc))
				}
			}
			mu.Unlock()
			c.Produce(t, topic, lines, 20)
		}
	}()

	procs := []*sluicetest.Proc{}
	for i := 0; i < 3; i++ {
		procs = append(procs, sluicetest.Start(t, bin, nil, "run", "-config", cfgPath))
	}
	all := slices.Clone(procs)
	time.Sleep(50 * time.Second)
	t.Log("SIGKILL process 1")
	procs[1].Cmd.Process.Signal(syscall.SIGKILL)
	<-procs[1].Done()
	procs[1].Cmd.Wait()
	time.Sleep(10 * time.Second)
	t.Log("process 1 restarted")
	procs[1] = sluicetest.Start(t, bin, nil, "run", "-config", cfgPath)
	all = append(all, procs[1])
	<-produced

	outputs := map[string]func(a *acc) float64{
		"sum_samples":   func(a *acc) float64 { return a.sum },
		"count_samples": func(a *acc) float64 { return a.count },
		"max":           func(a *acc) float64 { return a.max },
		"min":           func(a *acc) float64 { return a.min },
		"count_series":  func(a *acc) float64 { return float64(len(a.pods)) },
		"last":          func(a *acc) float64 { return a.last },
		"avg":           func(a *acc) float64 { return a.sum / a.count },
	}
	// total: each service's increases summed over its windows so far, emitted at every window
	// end while the series lives (until the staleness interval, 2 × interval, passes without
	// samples).
	wantTotal := map[string]float64{}
	for _, svc := range services {
		ends := windowEnds(slices.Collect(maps.Keys(want)), "svc="+svc+" @")
		sum := 0.0
		for end := ends[0]; end <= lastTs[svc]+20_000; end += 10_000 {
			if a := want[fmt.Sprintf("svc=%s @%d", svc, end)]; a != nil {
				sum += a.increase
			}
			wantTotal[fmt.Sprintf("total svc=%s @%d", svc, end)] = sum
		}
	}
	wantSeries := len(want)*(len(outputs)+1) + len(wantTotal)
	got := map[string]float64{}
	copies := 0
	read := func() {
		got, copies = map[string]float64{}, 0
		for _, pt := range c.ReadOutput(t, outTopic) {
			name, output, ok := strings.Cut(pt.Metric, ":10s_without_pod_")
			if !ok || name != "http.requests" || len(pt.Labels) != 2 {
				t.Fatalf("unexpected series on the output: %s %v", pt.Metric, pt.Labels)
			}
			k := fmt.Sprintf("%s svc=%s @%d", output, pt.Labels["svc"], pt.Timestamp)
			if old, dup := got[k]; dup {
				copies++
				if old != pt.Value {
					for _, p := range all {
						for _, l := range p.Lines("aggregation partition resumes from its checkpoint") {
							t.Logf("resumed: %v", l)
						}
					}
					svc := pt.Labels["svc"]
					parts := map[int32]map[int64]int{}
					for _, m := range c.ReadRecords(t, aggTopic) {
						if len(m.Value) == 0 {
							continue
						}
						var rows messages.Rows
						remotewrite.Parse(&rows, m.Value, 0)
						for _, dp := range rows.Points {
							for _, tg := range dp.Tags {
								if string(tg.Key) == "svc" && string(tg.Value) == svc {
									if parts[m.Partition] == nil {
										parts[m.Partition] = map[int64]int{}
									}
									parts[m.Partition][dp.Timestamp-dp.Timestamp%10_000+10_000]++
								}
							}
						}
					}
					t.Logf("samples of %s per aggregation partition and window end: %v", svc, parts)
					t.Fatalf("%s written as %g and as %g (partition %d); want %g", k, old, pt.Value, pt.Partition, wantTotal[k])
				}
			}
			got[k] = pt.Value
		}
	}
	kafkatest.WaitFor(t, 3*time.Minute, fmt.Sprintf("%d window series on the output", wantSeries), func() bool {
		read()
		return len(got) >= wantSeries
	})
	for i, p := range procs {
		if code, last := p.Stop(t); code != 0 {
			t.Errorf("process %d: exit %d on SIGTERM, last line %v", i, code, last)
		}
	}
	read()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := want[k]
		for output, f := range outputs {
			name := output + " " + k
			if v, ok := got[name]; !ok || v != f(a) {
				t.Errorf("%s = %g (written: %v), want %g", name, v, ok, f(a))
			}
		}
	}
	// A counter's increase goes to the window of the sample it was computed at, in the order its
	// samples reached the aggregation partition (an out-of-order sample is skipped, as vmagent
	// skips it): with unkeyed input, and more so while a killed process's input waits for the
	// group, a pod's sample may reach it after the pod's next one, and its increase then counts in
	// the next window. So per window the increase may move to a later one, but none is lost or
	// counted twice: each service's increases sum to the input's, and each total is the sum of the
	// increases written up to its window, the last one the input's whole increase.
	for _, svc := range services {
		var wantSum, gotSum float64
		for k, a := range want {
			if strings.HasPrefix(k, "svc="+svc+" @") {
				wantSum += a.increase
				v, ok := got["increase "+k]
				if !ok {
					t.Errorf("increase %s not written", k)
				}
				gotSum += v
			}
		}
		if gotSum != wantSum {
			t.Errorf("svc=%s: the increases written sum to %g, the input's to %g", svc, gotSum, wantSum)
		}
		ends := windowEnds(slices.Collect(maps.Keys(wantTotal)), "total svc="+svc+" @")
		cum := 0.0
		for _, end := range ends {
			cum += got[fmt.Sprintf("increase svc=%s @%d", svc, end)]
			k := fmt.Sprintf("total svc=%s @%d", svc, end)
			if g, ok := got[k]; !ok || g != cum {
				t.Errorf("%s = %g (written: %v), want %g, the increases written so far", k, g, ok, cum)
			}
		}
		if final := got[fmt.Sprintf("total svc=%s @%d", svc, ends[len(ends)-1])]; final != wantSum {
			t.Errorf("svc=%s: the last total is %g, the input's whole increase %g", svc, final, wantSum)
		}
	}
	if len(got) != wantSeries {
		t.Errorf("%d window series written, want %d", len(got), wantSeries)
	}
	resumed, withTotals := 0, 0
	for _, p := range all {
		for _, l := range p.Lines("aggregation partition resumes from its checkpoint") {
			resumed++
			if sluicetest.Num(l, "totals") > 0 {
				withTotals++
			}
		}
	}
	if withTotals == 0 {
		t.Errorf("no aggregation partition resumed from a checkpoint with running totals (%d resumed): the test did not cross a move", resumed)
	}
	t.Logf("%d partitions resumed from a checkpoint, %d with running totals", resumed, withTotals)
	if t.Failed() {
		return
	}
	t.Logf("%d windows × %d outputs and %d totals exact; %d copies written again after the crash, each with its first value", len(want), len(outputs), len(wantTotal), copies)
}

// windowEnds is the window ends, ascending, of the keys "<prefix><end>".
func windowEnds(keys []string, prefix string) []int64 {
	var ends []int64
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			var end int64
			fmt.Sscanf(rest, "%d", &end)
			ends = append(ends, end)
		}
	}
	slices.Sort(ends)
	return ends
}
