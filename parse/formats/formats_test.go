package formats

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/messages"
)

func render(rs *messages.Rows) string {
	var b strings.Builder
	for _, p := range rs.Points {
		b.WriteString(string(p.Metric))
		for _, t := range p.Tags {
			b.WriteString(" " + string(t.Key) + "=" + string(t.Value))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestEveryFormatDecodes(t *testing.T) {
	inputs := map[string]string{
		"opentsdb":   "put a.b 1700000000 1 host=x\n",
		"graphite":   "a.b 1 1700000000\n",
		"influx":     "a,host=x b=1 1700000000000000000\n",
		"prometheus": "a_b{host=\"x\"} 1\n",
		"json":       `{"metric":"a.b","timestamp":1700000000,"value":1,"tags":{"host":"x"}}`,
	}
	for _, name := range Names {
		d, err := New(name, Options{InfluxPrecision: "ns", InfluxSeparator: "_"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in, ok := inputs[name]
		if !ok {
			continue // remote_write is binary: covered by its own package
		}
		var rows messages.Rows
		d.Decode(&rows, []byte(in), 1700000000000)
		if len(rows.Points) != 1 || len(rows.Bad) != 0 {
			t.Fatalf("%s: %d points, bad %v", name, len(rows.Points), rows.Bad)
		}
	}
	if _, err := New("csv", Options{}); err == nil {
		t.Fatal("unknown format accepted")
	}
	// A record of a line-based format may be split at line boundaries; a JSON document or a
	// WriteRequest may not.
	for name, want := range map[string]bool{"opentsdb": true, "graphite": true, "influx": true, "prometheus": true,
		"json": false, "remote_write": false, "otlp": false, "csv": false} {
		if LineBased(name) != want {
			t.Errorf("LineBased(%q) = %v, want %v", name, !want, want)
		}
	}
	if _, err := New("influx", Options{InfluxPrecision: "h"}); err == nil {
		t.Fatal("bad influx precision accepted")
	}
}

func TestPrefixAndDefaultTags(t *testing.T) {
	d, err := New("influx", Options{MetricPrefix: "edge.", DefaultTags: map[string]string{"source": "telegraf", "host": "ignored"},
		InfluxPrecision: "s", InfluxSeparator: "_"})
	if err != nil {
		t.Fatal(err)
	}
	var rows messages.Rows
	for pass := 0; pass < 2; pass++ {
		rows.Reset()
		d.Decode(&rows, []byte("cpu,host=web1 user=1,sys=2 1700000000\nmem free=3 1700000000\n"), 0)
		// The line's own host wins; source is added; the prefix goes on every name; the two
		// datapoints of the first line keep separate tag slices.
		want := "edge.cpu_user host=web1 source=telegraf\nedge.cpu_sys host=web1 source=telegraf\nedge.mem_free host=ignored source=telegraf\n"
		if got := render(&rows); got != want {
			t.Fatalf("pass %d:\n got %q\nwant %q", pass, got, want)
		}
	}
}

func TestPrometheusNameMapping(t *testing.T) {
	f := func(metric, key, wantMetric, wantKey string) {
		t.Helper()
		dp := messages.Datapoint{Metric: []byte(metric), Tags: []messages.Tag{{Key: []byte(key), Value: []byte("v.a-l")}}}
		MappingPrometheus.Apply(&dp)
		if string(dp.Metric) != wantMetric || string(dp.Tags[0].Key) != wantKey || string(dp.Tags[0].Value) != "v.a-l" {
			t.Fatalf("%s/%s -> %s/%s=%s; want %s/%s (value untouched)", metric, key, dp.Metric, dp.Tags[0].Key, dp.Tags[0].Value, wantMetric, wantKey)
		}
	}
	f("sys.cpu.user", "host-name", "sys_cpu_user", "host_name")
	f("ns:rule:rate5m", "a:b", "ns:rule:rate5m", "a_b")
	f("9lives", "0k", "_lives", "_k")
	f("métrique", "ok_1", "m__trique", "ok_1")
	keep := messages.Datapoint{Metric: []byte("sys.cpu")}
	MappingKeep.Apply(&keep)
	if string(keep.Metric) != "sys.cpu" {
		t.Fatal("keep changed a name")
	}
	if _, ok := ParseNameMapping("lowercase"); ok {
		t.Fatal("unknown mapping accepted")
	}
}

func TestDecodeWithDefaultsAllocatesNothing(t *testing.T) {
	d, _ := New("opentsdb", Options{MetricPrefix: "p.", DefaultTags: map[string]string{"source": "agent"}})
	input := []byte(strings.Repeat("put sys.cpu.user 1700000000 1 host=web01 dc=x\n", 500))
	var rows messages.Rows
	d.Decode(&rows, input, 0)
	if n := testing.AllocsPerRun(50, func() {
		rows.Reset()
		d.Decode(&rows, input, 0)
	}); n != 0 {
		t.Fatalf("%.1f allocs per record", n)
	}
}
