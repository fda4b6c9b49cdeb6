package encode

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/proto/prompb"
	"github.com/sluicehq/sluice/relabel"
)

// rule builds a relabel spec from settings over Prometheus' defaults.
func rule(action string, settings ...string) relabel.Spec {
	s := relabel.DefaultSpec()
	s.Action = action
	for i := 0; i+1 < len(settings); i += 2 {
		switch v := settings[i+1]; settings[i] {
		case "source_labels":
			s.SourceLabels, s.SourceSet = strings.Split(v, ","), true
		case "regex":
			s.Regex, s.RegexSet = v, true
		case "target_label":
			s.TargetLabel = v
		case "replacement":
			s.Replacement = v
		case "modulus":
			s.Modulus = 4
		default:
			panic(settings[i])
		}
	}
	return s
}

func relabeling(t testing.TB, inputs, outputs [][]relabel.Spec) *Relabeling {
	t.Helper()
	r, err := NewRelabeling(inputs, outputs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tenRules are ten rules of the kinds SREs write, over testBatch's series (sys.cpu.N with host,
// dc and cpu tags): every series passes them, renamed and reshaped.
func tenRules() []relabel.Spec {
	return []relabel.Spec{
		rule("replace", "source_labels", "host", "regex", "web(.*)", "target_label", "instance", "replacement", "web-$1"),
		rule("labeldrop", "regex", "host"),
		rule("replace", "source_labels", "dc", "regex", `([a-z]+-[a-z]+)-\d+`, "target_label", "region"),
		rule("labeldrop", "regex", "dc"),
		rule("keep", "source_labels", "__name__", "regex", `sys\..*`),
		rule("drop", "source_labels", "__name__", "regex", `sys\.debug\..*`),
		rule("uppercase", "source_labels", "region", "target_label", "region"),
		rule("hashmod", "source_labels", "instance", "target_label", "group", "modulus", "4"),
		rule("labelmap", "regex", "cpu", "replacement", "core"),
		rule("labeldrop", "regex", "cpu"),
	}
}

// TestBatchEncoderInputRelabel: an input's rules rename labels and metrics before anything else
// judges the series, series they drop are counted as relabel drops, series they merge share
// one shard, and shards follow the relabeled identity.
func TestBatchEncoderInputRelabel(t *testing.T) {
	e := testEncoder(t)
	e.Relabel(relabeling(t, [][]relabel.Spec{{
		rule("replace", "source_labels", "host", "target_label", "instance"),
		rule("labeldrop", "regex", "host|cpu"),
		rule("drop", "source_labels", "__name__,instance", "regex", `sys\.cpu\.3;.*`),
		rule("replace", "source_labels", "__name__", "regex", `sys\.cpu\.(.*)`, "target_label", "__name__", "replacement", "cpu_$1"),
	}}, nil), 0)
	now := time.Now()
	var lines strings.Builder
	for cpu := 0; cpu < 4; cpu++ {
		for m := 0; m < 5; m++ {
			fmt.Fprintf(&lines, "put sys.cpu.%d %d %d host=web1 cpu=%d dc=eu\n", m, now.Unix(), cpu, cpu)
		}
	}
	got := decodeSeries(t, e, oneRecord(t, lines.String()), now.UnixMilli())
	want := map[string][]float64{}
	for _, m := range []int{0, 1, 2, 4} {
		want[fmt.Sprintf(`__name__="cpu_%d",dc="eu",instance="web1",`, m)] = []float64{0, 1, 2, 3}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series\n%v\nwant\n%v", got, want)
	}
	if n := e.drops[messages.ReasonRelabel]; n != 4 {
		t.Fatalf("%d relabel drops, want 4 (sys.cpu.3's datapoints)", n)
	}
	// The merged series of the four cpus went to the shard of their relabeled identity.
	for _, en := range e.entries {
		si := &e.series[e.touched[en.series]]
		dp := messages.Datapoint{Metric: []byte("cpu_0"), Tags: []messages.Tag{{Key: []byte("dc"), Value: []byte("eu")}, {Key: []byte("instance"), Value: []byte("web1")}}}
		if strings.Contains(string(e.labels[si.labels:si.labelsEnd]), "cpu_0") {
			if want := shard.Jump(shard.Hash(shard.AppendSeriesKey(nil, &dp)), encShards); int(en.shard) != want {
				t.Fatalf("cpu_0 on shard %d, want %d (its relabeled identity's)", en.shard, want)
			}
		}
	}
}

// TestBatchEncoderOutputRelabel: one output receives the series with all labels, another with a
// reduced set, sharded by that set; the second's drop rule drops only its own copies, counted
// for it alone.
func TestBatchEncoderOutputRelabel(t *testing.T) {
	e := testEncoder(t)
	e.topo = testLayout(t, 2, []*config.Route{{Outputs: []string{"o0", "o1"}}}, 4, 3)
	e.Relabel(relabeling(t, nil, [][]relabel.Spec{nil, {
		rule("labelkeep", "regex", "__name__|dc"),
		rule("drop", "source_labels", "__name__", "regex", `sys\.cpu\.9`),
	}}), 0)
	now := time.Now()
	var lines strings.Builder
	for host := 0; host < 3; host++ {
		for _, m := range []string{"sys.cpu.0", "sys.cpu.9"} {
			fmt.Fprintf(&lines, "put %s %d %d host=h%d dc=eu\n", m, now.Unix(), host, host)
		}
	}
	pool := messages.NewShardBatchPool(16, 64<<10)
	byOutput := map[string]map[string]int{"o0": {}, "o1": {}}
	encodeAll(e, pool, oneRecord(t, lines.String()), now.UnixMilli(), func(owner int, sb *messages.ShardBatch) {
		defer sb.Release()
		o := e.topo.Outputs[e.topo.WriterOutput[owner]]
		for _, seg := range sb.Segments {
			for _, ts := range parseSegment(t, sb.Data(seg)) {
				byOutput[o.Name][ts.key] += len(ts.values)
				if want := o.Offset + shard.Jump(shard.Hash(shard.AppendSeriesKey(nil, &ts.dp)), o.Shards); int(seg.Shard) != want {
					t.Errorf("%s: %s on shard %d, want %d", o.Name, ts.key, seg.Shard, want)
				}
			}
		}
	})
	if len(byOutput["o0"]) != 6 {
		t.Fatalf("o0 got %v, want all 6 series with their labels", byOutput["o0"])
	}
	if want := map[string]int{`__name__="sys.cpu.0",dc="eu",`: 3}; fmt.Sprint(byOutput["o1"]) != fmt.Sprint(want) {
		t.Fatalf("o1 got %v, want %v", byOutput["o1"], want)
	}
	if d := e.OutputDrops(); len(d) != 2 || d[0] != 0 || d[1] != 3 {
		t.Fatalf("output drops %v, want [0 3]", d)
	}
	if e.drops.Total() != 0 {
		t.Fatalf("an output's rules are not input drops: %v", e.drops)
	}
}

type testSeries struct {
	key    string
	dp     messages.Datapoint
	values []float64
}

func parseSegment(t *testing.T, data []byte) []testSeries {
	t.Helper()
	var out []testSeries
	var wr prompb.WriteRequest
	if err := proto.Unmarshal(data, &wr); err != nil {
		t.Fatal(err)
	}
	for _, ts := range wr.Timeseries {
		var s testSeries
		var k strings.Builder
		for _, l := range ts.Labels {
			fmt.Fprintf(&k, "%s=%q,", l.Name, l.Value)
			if l.Name == "__name__" {
				s.dp.Metric = []byte(l.Value)
			} else {
				s.dp.Tags = append(s.dp.Tags, messages.Tag{Key: []byte(l.Name), Value: []byte(l.Value)})
			}
		}
		s.key = k.String()
		for _, v := range ts.Samples {
			s.values = append(s.values, v.Value)
		}
		out = append(out, s)
	}
	return out
}

// TestBatchEncoderRelabelPerInput: the same series from two inputs is relabeled by each input's
// own rules (the cache keeps them apart), and new rules (a reload) apply to series the cache had.
func TestBatchEncoderRelabelPerInput(t *testing.T) {
	e := testEncoder(t)
	r := relabeling(t, [][]relabel.Spec{
		{rule("replace", "target_label", "from", "replacement", "a")},
		{rule("replace", "target_label", "from", "replacement", "b")},
	}, nil)
	now := time.Now()
	line := fmt.Sprintf("put m %d 1 host=h\n", now.Unix())
	for _, c := range []struct {
		input int
		want  string
	}{{0, "a"}, {1, "b"}, {0, "a"}} {
		e.Relabel(r, c.input)
		got := decodeSeries(t, e, oneRecord(t, line), now.UnixMilli())
		if want := fmt.Sprintf(`__name__="m",from=%q,host="h",`, c.want); len(got) != 1 || got[want] == nil {
			t.Fatalf("input %d: %v, want %s", c.input, got, want)
		}
	}
	e.Relabel(relabeling(t, [][]relabel.Spec{{rule("replace", "target_label", "from", "replacement", "reloaded")}}, nil), 0)
	if got := decodeSeries(t, e, oneRecord(t, line), now.UnixMilli()); got[`__name__="m",from="reloaded",host="h",`] == nil {
		t.Fatalf("after new rules: %v", got)
	}
}

// TestBatchEncoderRelabelBudgets: a per_tag budget counts series by the tag the rules made.
func TestBatchEncoderRelabelBudgets(t *testing.T) {
	e := testEncoder(t)
	e.Limit(testLimits(t, &config.Budget{Name: "team", PerTag: "team", MaxSeries: 2, MaxValues: 10}), nil, nil)
	e.Relabel(relabeling(t, [][]relabel.Spec{{rule("replace", "source_labels", "owner", "target_label", "team"), rule("labeldrop", "regex", "owner")}}, nil), 0)
	now := time.Now()
	var lines strings.Builder
	for h := 0; h < 5; h++ {
		fmt.Fprintf(&lines, "put m %d 1 host=h%d owner=x\n", now.Unix(), h)
	}
	got := decodeSeries(t, e, oneRecord(t, lines.String()), now.UnixMilli())
	if len(got) != 2 || e.drops[messages.ReasonCardinality] != 3 {
		t.Fatalf("%d series kept, %d cardinality drops; want 2 and 3 (budget by the relabeled team tag)", len(got), e.drops[messages.ReasonCardinality])
	}
}

// TestBatchEncoderRelabelAllocatesNothing: with ten input rules and output rules, a steady set
// of series costs no allocation per datapoint.
func TestBatchEncoderRelabelAllocatesNothing(t *testing.T) {
	b, _ := testBatch(t, 20, 100)
	e := testEncoder(t)
	e.topo = testLayout(t, encWriters, []*config.Route{{Outputs: []string{"o0", "o1"}}}, encShards, 4)
	e.Relabel(relabeling(t, [][]relabel.Spec{tenRules()}, [][]relabel.Spec{nil, {rule("labelkeep", "regex", "__name__|region")}}), 0)
	pool := messages.NewShardBatchPool(64, 64<<10)
	now := time.Now().UnixMilli()
	release := func(_ int, sb *messages.ShardBatch) { sb.Release() }
	encodeAll(e, pool, b, now, release)
	if n := testing.AllocsPerRun(20, func() { encodeAll(e, pool, b, now, release) }); n != 0 {
		t.Fatalf("encoding a 2000-line batch with relabel rules allocates %.1f times; want 0", n)
	}
}

// BenchmarkRelabelNewSeries is the cost of a series the cache has not seen (a cold series): the
// encoder over batches of series never seen before, with no rules and with tenRules.
func BenchmarkRelabelNewSeries(b *testing.B) {
	for _, rules := range []int{0, 10} {
		b.Run(fmt.Sprintf("rules=%d", rules), func(b *testing.B) {
			e := testEncoder(b)
			if rules > 0 {
				e.Relabel(relabeling(b, [][]relabel.Spec{tenRules()}, nil), 0)
			}
			pool := messages.NewShardBatchPool(256, 64<<10)
			now := time.Now()
			release := func(_ int, sb *messages.ShardBatch) { sb.Release() }
			const perBatch = 1000
			raws := make([]*messages.RawBatch, 64)
			for i := range raws {
				var lines strings.Builder
				for s := 0; s < perBatch; s++ {
					fmt.Fprintf(&lines, "put sys.cpu.%d %d 1 host=web%d dc=us-east-1 cpu=%d\n", s%7, now.Unix(), i*perBatch+s, s%4)
				}
				raws[i] = oneRecord(b, lines.String())
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				e.cachedValidator = nil // every series is new to the cache
				encodeAll(e, pool, raws[n%len(raws)], now.UnixMilli(), release)
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*perBatch), "ns/series")
		})
	}
}
