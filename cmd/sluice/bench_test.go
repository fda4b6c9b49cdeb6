package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/parse/formats"
)

// TestMain lets the test binary serve as the benchmark's broker child process, as the sluice
// binary does.
func TestMain(m *testing.M) {
	if os.Getenv(benchBrokerEnv) != "" {
		os.Exit(benchBrokerMain())
	}
	os.Exit(m.Run())
}

// TestBenchSmoke runs `sluice bench` on a small skewed load for every format and checks that the
// JSON parses, carries every documented field and counts exactly the datapoints produced.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker process and a pipeline")
	}
	fields := []string{"format", "records", "datapoints", "wall_s", "cpu_s", "dp_per_s", "dp_per_cpu_s",
		"alloc_bytes_per_dp", "allocs_per_dp", "gc_cycles", "gc_pause_total_s", "gc_pause_max_s", "gc_cpu_share", "gc_cpu_s", "memory_limit_bytes", "memory_budget_bytes",
		"peak_rss_bytes", "worker_busy_imbalance", "latency_p50_s", "latency_p99_s", "coordinator", "baseline", "broker_cpu_s"}
	run := func(t *testing.T, args ...string) map[string]any {
		t.Helper()
		var out, errb bytes.Buffer
		if code := mainErr(append([]string{"bench"}, args...), &out, &errb); code != exitOK {
			t.Fatalf("sluice bench %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		var res map[string]any
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
		}
		for _, f := range fields {
			if _, ok := res[f]; !ok {
				t.Errorf("field %q missing from %s", f, out.String())
			}
		}
		return res
	}
	for _, format := range formats.Names {
		t.Run(format, func(t *testing.T) {
			res := run(t, "-format", format, "-records", "300", "-lines-per-record", "50", "-skew", "hot:1:0.6", "-workers", "2")
			want := 300 * 50.0
			if format == "influx" { // agent-shaped: 3 fields a line
				want *= 3
			}
			// "datapoints" is what the generator wrote; "datapoints_out" is what the pipeline's
			// outputs acknowledged, counted by the writers: the figure that could be wrong.
			if res["datapoints_out"].(float64) != want {
				t.Fatalf("the outputs acknowledged %v datapoints, want %v (generated: %v)", res["datapoints_out"], want, res["datapoints"])
			}
			// The rates must be the counts over the times the run reports, and the latency must
			// have been measured (0 when no batch completed, or when nothing records it).
			cpu, wall := res["cpu_s"].(float64), res["wall_s"].(float64)
			if cpu <= 0 || wall <= 0 {
				t.Fatalf("cpu_s %v, wall_s %v", cpu, wall)
			}
			if got, exp := res["dp_per_cpu_s"].(float64), want/cpu; got < exp*0.99 || got > exp*1.01 {
				t.Errorf("dp_per_cpu_s %v, but datapoints / cpu_s = %v", got, exp)
			}
			if p50 := res["latency_p50_s"].(float64); p50 <= 0 || p50 > 60 {
				t.Errorf("latency_p50_s %v: not measured", p50)
			}
		})
	}
	t.Run("baseline", func(t *testing.T) {
		res := run(t, "-baseline", "-records", "300")
		if res["baseline"] != true || res["datapoints"].(float64) != 300*100 {
			t.Fatalf("baseline result %v", res)
		}
	})
}

func TestBenchSkew(t *testing.T) {
	f := func(spec string, partitions, records int, want []int) {
		t.Helper()
		s, err := parseSkew(spec, partitions)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		got := s.split(records)
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", spec, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", spec, got, want)
			}
		}
	}
	f("uniform", 4, 10, []int{3, 3, 2, 2})
	f("hot:1:0.6", 5, 100, []int{60, 10, 10, 10, 10})
	f("hot:2:0.5", 4, 100, []int{25, 25, 25, 25})
	f("zipf:1", 3, 110, []int{60, 30, 20})
	for _, bad := range []string{"hot:0:0.5", "hot:1:1.5", "hot:4:0.5", "zipf:0", "zipf", "pareto:1", ""} {
		if _, err := parseSkew(bad, 4); err == nil {
			t.Errorf("-skew %q accepted", bad)
		}
	}
}
