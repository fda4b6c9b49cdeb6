package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
)

// TestRelabelThroughThePipeline: an input's rules change series' identity (host becomes
// instance, renamed) and so their shard on a Kafka shard output, and drop a metric (counted as
// relabel drops); an output's rules give a real VictoriaMetrics a reduced label set and drop a
// metric for that output alone, while the Kafka output receives the same datapoints with every
// label.
func TestRelabelThroughThePipeline(t *testing.T) {
	vm := startVictoriaMetrics(t, "vm-relabel")
	const shardTopic, shards = "relabel.shards", 8
	c := kafkatest.Start(t, rwIn, 4, shardTopic, shards)
	names := []string{"app.requests", "noisy.debug", "debug.trace"}
	lines, all := rwData(30_000, 300, func(s int) string { return names[s%3] })
	p, reg := startRW(t, rwConfigWith(t, c, "opentsdb", `
  relabel {
    source_labels = ["host"]
    regex         = "h(.*)"
    target_label  = "instance"
    replacement   = "node-$1"
  }
  relabel {
    action = "labeldrop"
    regex  = "host"
  }
  relabel {
    action        = "drop"
    source_labels = ["__name__"]
    regex         = "debug\\..*"
  }`, fmt.Sprintf(`output "kafka" "shards" {
  topic  = %q
  linger = "20ms"
}
output "remote_write" "vm" {
  urls   = [%q]
  linger = "20ms"
  relabel {
    action = "labelkeep"
    regex  = "__name__|instance"
  }
  relabel {
    action        = "drop"
    source_labels = ["__name__"]
    regex         = "noisy\\..*"
  }
}
route { outputs = ["shards", "vm"] }`, shardTopic, vm.writeURL())))
	c.Produce(t, rwIn, lines, 100)
	// 10k each of app, noisy and debug: debug dropped at the input, noisy only to the Kafka output.
	waitOut(t, p, 30_000)
	s := stopClean(t, p)
	if s.DatapointsOut != 30_000 || s.Dropped[messages.ReasonRelabel] != 10_000 || s.Dropped.Total() != 10_000 {
		t.Fatalf("out %d (want 30000), relabel drops %d (want 10000), all drops %d", s.DatapointsOut, s.Dropped[messages.ReasonRelabel], s.Dropped.Total())
	}

	// What each output must hold, computed from the input independently of the rules' code.
	wantKafka, wantVM := exported{}, exported{}
	for k, samples := range all {
		labels := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(k, ","), ",") {
			name, v, _ := strings.Cut(kv, "=")
			labels[name] = v
		}
		if strings.HasPrefix(labels["__name__"], "debug.") {
			continue
		}
		full := map[string]string{"__name__": labels["__name__"], "dc": labels["dc"], "instance": "node-" + strings.TrimPrefix(labels["host"], "h")}
		wantKafka[seriesKey(full)] = samples
		if !strings.HasPrefix(labels["__name__"], "noisy.") {
			delete(full, "dc")
			wantVM[seriesKey(full)] = samples
		}
	}
	sameData(t, "victoria-metrics (the output's reduced labels)", vm.exportVM(t, `{__name__=~".+"}`), wantVM)

	got := exported{}
	moved := 0
	for _, pt := range c.ReadOutput(t, shardTopic) {
		if want := kafkatest.ShardOf(pt, shards); pt.Partition != want {
			t.Fatalf("%v on partition %d, the shard of its relabeled identity is %d", pt.Labels, pt.Partition, want)
		}
		original := kafkatest.Point{Metric: pt.Metric, Labels: map[string]string{"__name__": pt.Metric, "dc": pt.Labels["dc"],
			"host": "h" + strings.TrimPrefix(pt.Labels["instance"], "node-")}}
		if kafkatest.ShardOf(original, shards) != pt.Partition {
			moved++
		}
		k := seriesKey(pt.Labels)
		if got[k] == nil {
			got[k] = map[int64]float64{}
		}
		got[k][pt.Timestamp] = pt.Value
	}
	sameData(t, "the Kafka shard topic (every label, relabeled at the input)", got, wantKafka)
	if moved == 0 {
		t.Fatal("no datapoint changed shard: the input's rules did not change the series' identity")
	}
	for out, n := range map[string]float64{"shards": 20_000, "vm": 10_000} {
		if got := metric(t, reg, "sluice_output_datapoints_total", map[string]string{"output": out}); got != n {
			t.Errorf("output %s acknowledged %g datapoints, want %g", out, got, n)
		}
	}
	for out, n := range map[string]float64{"shards": 0, "vm": 10_000} {
		if got := metric(t, reg, "sluice_output_relabel_dropped_total", map[string]string{"output": out}); got != n {
			t.Errorf("output %s's rules dropped %g datapoints, want %g", out, got, n)
		}
	}
	if got := metric(t, reg, "sluice_dropped_total", map[string]string{"format": "opentsdb", "reason": "relabel"}); got != 10_000 {
		t.Errorf("sluice_dropped_total{reason=\"relabel\"} = %g, want 10000", got)
	}
}
