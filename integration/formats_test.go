package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/otlp/otlptest"
	"github.com/sluicehq/sluice/proto/prompb"
)

// want is one datapoint expected on the shard topic, identified by its (unique) value.
type want struct {
	metric string
	labels string // "k=v,k=v" sorted by key
	ts     int64
}

// formatCase is generated input for one format and what must come out of the pipeline.
type formatCase struct {
	format      string
	inputExtra  string // settings inside the input block
	outputExtra string // settings inside the output block
	records     [][]byte
	valid       map[float64]want
	drops       map[messages.Reason]int64
}

func labels(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+kv[i+1])
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

const (
	formatRecords = 40
	formatPerRec  = 50
)

var (
	// nowSec is a timestamp inside the validation window, written in the lines.
	nowSec = time.Now().Add(-time.Minute).Unix()
	// recordTsMillis is set on every record; lines without a timestamp take it.
	recordTsMillis = time.Now().Add(-30 * time.Second).UnixMilli()
)

func newCase(format string) *formatCase {
	return &formatCase{format: format, valid: map[float64]want{}, drops: map[messages.Reason]int64{}}
}

func opentsdbCase() *formatCase {
	c := newCase("opentsdb")
	c.inputExtra = `default_tags = { source = "agent" }`
	for r := 0; r < formatRecords; r++ {
		var b strings.Builder
		for i := 0; i < formatPerRec; i++ {
			v := float64(r*formatPerRec + i)
			fmt.Fprintf(&b, "put sys.cpu%d %d %v host=h%d\n", i%4, nowSec, v, i%7)
			c.valid[v] = want{fmt.Sprintf("sys.cpu%d", i%4), labels("host", fmt.Sprintf("h%d", i%7), "source", "agent"), nowSec * 1000}
		}
		b.WriteString("put missing.value 1\n")
		c.drops[messages.ReasonUnparseable]++
		c.records = append(c.records, []byte(b.String()))
	}
	return c
}

func graphiteCase() *formatCase {
	c := newCase("graphite")
	c.outputExtra = `name_mapping = "prometheus"`
	for r := 0; r < formatRecords; r++ {
		var b strings.Builder
		for i := 0; i < formatPerRec; i++ {
			v := float64(r*formatPerRec + i)
			switch i % 3 {
			case 0:
				fmt.Fprintf(&b, "servers.web%d.cpu-user %v %d\n", i%5, v, nowSec)
				c.valid[v] = want{fmt.Sprintf("servers_web%d_cpu_user", i%5), "", nowSec * 1000}
			case 1:
				fmt.Fprintf(&b, "disk.used;host=h%d;mount-point=root %v %d\n", i%5, v, nowSec)
				c.valid[v] = want{"disk_used", labels("host", fmt.Sprintf("h%d", i%5), "mount_point", "root"), nowSec * 1000}
			case 2: // no timestamp: the record's
				fmt.Fprintf(&b, "mem.free %v\n", v)
				c.valid[v] = want{"mem_free", "", recordTsMillis}
			}
		}
		b.WriteString("no.value.here\n")
		c.drops[messages.ReasonUnparseable]++
		c.records = append(c.records, []byte(b.String()))
	}
	return c
}

func influxCase() *formatCase {
	c := newCase("influx")
	c.inputExtra = "precision = \"s\"\n  value_field_bare = true"
	for r := 0; r < formatRecords; r++ {
		var b strings.Builder
		for i := 0; i < formatPerRec; i += 2 {
			v := float64(r*formatPerRec + i)
			// Two numeric fields (one named value) and one string field per line.
			fmt.Fprintf(&b, "cpu,host=h%d,region=us\\ east value=%vi,idle=%v,note=\"x y\" %d\n", i%5, v, v+1, nowSec)
			l := labels("host", fmt.Sprintf("h%d", i%5), "region", "us east")
			c.valid[v] = want{"cpu", l, nowSec * 1000}
			c.valid[v+1] = want{"cpu_idle", l, nowSec * 1000}
			c.drops[messages.ReasonStringField]++
		}
		b.WriteString("cpu,host=x\n")
		c.drops[messages.ReasonUnparseable]++
		c.records = append(c.records, []byte(b.String()))
	}
	return c
}

func prometheusCase() *formatCase {
	c := newCase("prometheus")
	for r := 0; r < formatRecords; r++ {
		var b strings.Builder
		b.WriteString("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n")
		for i := 0; i < formatPerRec; i++ {
			v := float64(r*formatPerRec + i)
			if i%2 == 0 {
				fmt.Fprintf(&b, "http_requests_total{code=\"200\",path=\"/a\\\"b\",pod=\"p%d\"} %v %d\n", i%5, v, nowSec*1000)
				c.valid[v] = want{"http_requests_total", labels("code", "200", "path", `/a"b`, "pod", fmt.Sprintf("p%d", i%5)), nowSec * 1000}
			} else {
				fmt.Fprintf(&b, "up %v\n", v)
				c.valid[v] = want{"up", "", recordTsMillis}
			}
		}
		b.WriteString("broken{ 1\n")
		c.drops[messages.ReasonUnparseable]++
		c.records = append(c.records, []byte(b.String()))
	}
	return c
}

func jsonCase() *formatCase {
	c := newCase("json")
	c.inputExtra = `metric_prefix = "edge."`
	for r := 0; r < formatRecords; r++ {
		var b strings.Builder
		b.WriteString("[")
		for i := 0; i < formatPerRec; i++ {
			v := float64(r*formatPerRec + i)
			fmt.Fprintf(&b, `{"metric":"sys.load","timestamp":%d,"value":%v,"tags":{"host":"h%d"}},`, nowSec, v, i%5)
			c.valid[v] = want{"edge.sys.load", labels("host", fmt.Sprintf("h%d", i%5)), nowSec * 1000}
		}
		b.WriteString(`{"metric":"sys.load","value":1}]`)
		c.drops[messages.ReasonUnparseable]++
		c.records = append(c.records, []byte(b.String()))
	}
	return c
}

func remoteWriteCase() *formatCase {
	c := newCase("remote_write")
	for r := 0; r < formatRecords; r++ {
		var wr prompb.WriteRequest
		for i := 0; i < formatPerRec; i += 2 {
			v := float64(r*formatPerRec + i)
			wr.Timeseries = append(wr.Timeseries, &prompb.TimeSeries{
				Labels:  []*prompb.Label{{Name: "__name__", Value: "node_load1"}, {Name: "instance", Value: fmt.Sprintf("n%d", i%5)}},
				Samples: []*prompb.Sample{{Value: v, Timestamp: nowSec * 1000}, {Value: v + 1, Timestamp: nowSec*1000 + 1}},
			})
			l := labels("instance", fmt.Sprintf("n%d", i%5))
			c.valid[v] = want{"node_load1", l, nowSec * 1000}
			c.valid[v+1] = want{"node_load1", l, nowSec*1000 + 1}
		}
		wr.Timeseries = append(wr.Timeseries, &prompb.TimeSeries{Labels: []*prompb.Label{{Name: "job", Value: "x"}},
			Samples: []*prompb.Sample{{Value: -1, Timestamp: 1}}})
		c.drops[messages.ReasonUnparseable]++
		raw, err := proto.Marshal(&wr)
		if err != nil {
			panic(err)
		}
		if r%2 == 0 {
			raw = snappy.Encode(nil, raw) // both encodings are accepted
		}
		c.records = append(c.records, raw)
	}
	return c
}

// otlpCase: OTLP requests as the Collector's kafkaexporter writes them (protobuf), with gauges,
// monotonic sums (counters, _total), summaries and one delta sum per record (unsupported).
func otlpCase() *formatCase {
	c := newCase("otlp")
	c.inputExtra = `promote_resource_attributes = ["cloud.region"]`
	ns := uint64(nowSec) * 1e9
	for r := 0; r < formatRecords; r++ {
		res := otlptest.Resource(otlptest.KVStr("service.name", "api"), otlptest.KVStr("service.instance.id", fmt.Sprintf("pod-%d", r%3)),
			otlptest.KVStr("cloud.region", "eu"), otlptest.KVStr("host.arch", "amd64"))
		l := func(kv ...string) string {
			return labels(append([]string{"job", "api", "instance", fmt.Sprintf("pod-%d", r%3), "cloud.region", "eu"}, kv...)...)
		}
		var metrics []otlptest.Msg
		for i := 0; i < formatPerRec; i += 4 {
			v := float64(r*1000 + i)
			host := []otlptest.Msg{otlptest.KVStr("host", fmt.Sprintf("h%d", i%5))}
			metrics = append(metrics,
				otlptest.Gauge("system.memory.usage", "By", otlptest.NumberPoint(host, ns, v)),
				otlptest.Sum("http.requests", "{request}", 2, true, otlptest.NumberPoint(host, ns, v+1)),
				otlptest.Summary("rpc.latency", ns, uint64(v+3), v+2))
			c.valid[v] = want{"system.memory.usage_bytes", l("host", fmt.Sprintf("h%d", i%5)), nowSec * 1000}
			c.valid[v+1] = want{"http.requests_total", l("host", fmt.Sprintf("h%d", i%5)), nowSec * 1000}
			c.valid[v+2] = want{"rpc.latency_sum", l(), nowSec * 1000}
			c.valid[v+3] = want{"rpc.latency_count", l(), nowSec * 1000}
		}
		metrics = append(metrics, otlptest.Sum("jobs.done", "", 1, true, otlptest.NumberPoint(nil, ns, 1)))
		c.drops[messages.ReasonUnsupported]++
		c.records = append(c.records, otlptest.Request(res, metrics...))
	}
	return c
}

func TestEveryFormatThroughThePipeline(t *testing.T) {
	for _, fc := range []*formatCase{opentsdbCase(), graphiteCase(), influxCase(), prometheusCase(), jsonCase(), remoteWriteCase(), otlpCase()} {
		t.Run(fc.format, func(t *testing.T) {
			topic := "in." + fc.format
			c := kafkatest.Start(t, topic, 3, outTopic, shards)
			c.ProduceRecords(t, topic, fc.records, time.UnixMilli(recordTsMillis))
			input := fmt.Sprintf("input %q {\n  topics = [%q]\n  group = %q\n  %s\n}\n", fc.format, topic, group, fc.inputExtra)
			cfg := c.ConfigFor(t, input, outTopic, shards, fc.outputExtra, "")
			p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, n := range fc.drops {
				total += n
			}
			kafkatest.WaitFor(t, time.Minute, "every datapoint written or dropped", func() bool {
				s := p.Stats()
				return s.DatapointsOut+s.Dropped.Total()+s.Dropped.Skipped() >= int64(len(fc.valid))+total
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s := p.Stop(ctx)
			if s.DatapointsOut != int64(len(fc.valid)) {
				t.Errorf("datapoints_out = %d, want %d", s.DatapointsOut, len(fc.valid))
			}
			for r, n := range fc.drops {
				if got := s.DroppedByFormat[fc.format][r]; got != n {
					t.Errorf("dropped{format=%s,reason=%s} = %d, want %d", fc.format, r, got, n)
				}
			}
			// Influx string fields are skipped, not dropped: counted apart from the drops.
			if got := s.Dropped.Total() + s.Dropped.Skipped(); got != total {
				t.Errorf("dropped and skipped %v, want %v", s.Dropped, fc.drops)
			}
			if got, want := s.Dropped.Skipped(), fc.drops[messages.ReasonStringField]; got != want {
				t.Errorf("skipped %d, want the %d string fields", got, want)
			}
			seen := map[float64]bool{}
			for _, pt := range c.ReadOutput(t, outTopic) {
				w, ok := fc.valid[pt.Value]
				if !ok {
					t.Fatalf("unexpected datapoint %+v", pt)
				}
				var kv []string
				for k, v := range pt.Labels {
					if k != "__name__" {
						kv = append(kv, k, v)
					}
				}
				got := want{pt.Metric, labels(kv...), pt.Timestamp}
				if got != w {
					t.Fatalf("value %v arrived as %+v, want %+v", pt.Value, got, w)
				}
				if sh := kafkatest.ShardOf(pt, shards); pt.Partition != sh {
					t.Fatalf("value %v on partition %d, shard %d", pt.Value, pt.Partition, sh)
				}
				seen[pt.Value] = true
			}
			if len(seen) != len(fc.valid) {
				t.Fatalf("%d of %d datapoints arrived", len(seen), len(fc.valid))
			}
			if u := c.Uncommitted(t, group, topic); len(u) > 0 {
				t.Fatalf("not committed: %v", u)
			}
		})
	}
}
