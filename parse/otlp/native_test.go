package otlp

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
	"github.com/sluicehq/sluice/parse/otlp/otlptest"
)

// histView is a remote-write Histogram message read back field by field, independently of how
// native.go writes it.
type histView struct {
	Count, ZeroCount     uint64
	Sum, ZeroThreshold   float64
	Schema               int32
	PosSpans, NegSpans   [][2]int64 // (offset, length)
	PosDeltas, NegDeltas []int64
	HasTimestamp         bool
}

func readHist(t *testing.T, b []byte) histView {
	t.Helper()
	var h histView
	spans := func(v []byte) [2]int64 {
		var s [2]int64
		for len(v) > 0 {
			n, _, tl := protowire.ConsumeTag(v)
			u, k := protowire.ConsumeVarint(v[tl:])
			if tl < 0 || k < 0 {
				t.Fatalf("malformed span %x", v)
			}
			if n == 1 {
				s[0] = protowire.DecodeZigZag(u)
			} else {
				s[1] = int64(u)
			}
			v = v[tl+k:]
		}
		return s
	}
	deltas := func(v []byte) (d []int64) {
		for len(v) > 0 {
			u, k := protowire.ConsumeVarint(v)
			if k < 0 {
				t.Fatalf("malformed deltas")
			}
			d, v = append(d, protowire.DecodeZigZag(u)), v[k:]
		}
		return d
	}
	for len(b) > 0 {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			t.Fatalf("malformed histogram")
		}
		b = b[tl:]
		var u uint64
		var v []byte
		var k int
		switch typ {
		case protowire.VarintType:
			u, k = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			u, k = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("field %d: wire type %d", num, typ)
		}
		if k < 0 {
			t.Fatalf("field %d malformed", num)
		}
		b = b[k:]
		switch num {
		case 1:
			h.Count = u
		case 3:
			h.Sum = math.Float64frombits(u)
		case 4:
			h.Schema = int32(protowire.DecodeZigZag(u))
		case 5:
			h.ZeroThreshold = math.Float64frombits(u)
		case 6:
			h.ZeroCount = u
		case 8:
			h.NegSpans = append(h.NegSpans, spans(v))
		case 9:
			h.NegDeltas = append(h.NegDeltas, deltas(v)...)
		case 11:
			h.PosSpans = append(h.PosSpans, spans(v))
		case 12:
			h.PosDeltas = append(h.PosDeltas, deltas(v)...)
		case 15:
			h.HasTimestamp = true
		default:
			t.Fatalf("unexpected histogram field %d", num)
		}
	}
	return h
}

// expJSON is pt as the JSON encoding writes it.
func expJSON(name string, temporality int, pt otlptest.ExpPoint) []byte {
	side := func(b otlptest.Buckets) string {
		s := fmt.Sprintf(`{"offset":%d,"bucketCounts":[`, b.Offset)
		for i, c := range b.Counts {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprintf(`"%d"`, c)
		}
		return s + "]}"
	}
	return fmt.Appendf(nil, `{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeMetrics":[{"metrics":[
		{"name":%q,"unit":"s","description":"Request time.","exponentialHistogram":{"aggregationTemporality":%d,"dataPoints":[
		{"attributes":[{"key":"route","value":{"stringValue":"/a"}}],"timeUnixNano":"%d","count":"%d","sum":%g,"scale":%d,"zeroCount":"%d","zeroThreshold":%g,"positive":%s,"negative":%s}]}}]}]}]}`,
		name, temporality, pt.TsNs, pt.Count, pt.Sum, pt.Scale, pt.ZeroCount, pt.ZeroThreshold, side(pt.Positive), side(pt.Negative))
}

func TestExponentialHistograms(t *testing.T) {
	p, _ := New(Options{Encoding: "auto"})
	route := []otlptest.Msg{otlptest.KVStr("route", "/a")}
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"))
	f := func(name string, pt otlptest.ExpPoint, want histView) {
		t.Helper()
		pt.Attrs = route
		for _, record := range [][]byte{
			otlptest.Request(res, otlptest.Described(otlptest.Exponential("rpc.duration", "s", 2, pt), "Request time.")),
			expJSON("rpc.duration", 2, pt),
		} {
			var rows messages.Rows
			p.Parse(&rows, record, 0)
			if len(rows.Bad) > 0 || len(rows.Points) != 1 {
				t.Fatalf("%s: %d points, bad %+v", name, len(rows.Points), rows.Bad)
			}
			d := &rows.Points[0]
			if string(d.Metric) != "rpc.duration_seconds" || d.Timestamp != 1_700_000_000_000 || len(d.Tags) != 2 {
				t.Fatalf("%s: datapoint %s %d %+v", name, d.Metric, d.Timestamp, d.Tags)
			}
			x := rows.ExtraOf(d)
			if x == nil || x.Histogram == nil {
				t.Fatalf("%s: not a native histogram", name)
			}
			if x.Type != messages.TypeHistogram || string(x.Unit) != "seconds" || string(x.Help) != "Request time." {
				t.Fatalf("%s: metadata %d %q %q", name, x.Type, x.Unit, x.Help)
			}
			if got := readHist(t, x.Histogram); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s (%.1s): histogram\n got %+v\nwant %+v", name, record, got, want)
			}
		}
	}
	f("OTLP bucket i is Prometheus bucket i+1; zero bucket as it is",
		otlptest.ExpPoint{TsNs: ns, Count: 12, Sum: 3.5, Scale: 3, ZeroCount: 5, ZeroThreshold: 1e-9,
			Positive: otlptest.Buckets{Offset: -2, Counts: []uint64{1, 0, 4}}, Negative: otlptest.Buckets{Counts: []uint64{2}}},
		histView{Count: 12, Sum: 3.5, Schema: 3, ZeroThreshold: 1e-9, ZeroCount: 5,
			PosSpans: [][2]int64{{-1, 3}}, PosDeltas: []int64{1, -1, 4}, NegSpans: [][2]int64{{1, 1}}, NegDeltas: []int64{2}})
	f("a scale above 8 is merged down to schema 8",
		otlptest.ExpPoint{TsNs: ns, Count: 5, Sum: 1, Scale: 10, Positive: otlptest.Buckets{Offset: 1, Counts: []uint64{1, 1, 1, 1, 1}}},
		// OTLP 1..5 at scale 10 are 0,0,0,1,1 at scale 8: Prometheus buckets 1 (3) and 2 (2).
		histView{Count: 5, Sum: 1, Schema: 8, PosSpans: [][2]int64{{1, 2}}, PosDeltas: []int64{3, -1}})
	f("negative offsets merge by floor",
		otlptest.ExpPoint{TsNs: ns, Count: 3, Sum: 1, Scale: 9, Positive: otlptest.Buckets{Offset: -3, Counts: []uint64{1, 1, 1}}},
		// -3, -2, -1 at scale 9 are -2, -1, -1 at scale 8: Prometheus -1 (1) and 0 (2).
		histView{Count: 3, Sum: 1, Schema: 8, PosSpans: [][2]int64{{-1, 2}}, PosDeltas: []int64{1, 1}})
	f("no buckets: only the zero bucket, count and sum",
		otlptest.ExpPoint{TsNs: ns, Count: 2, Sum: 0, Scale: 0, ZeroCount: 2},
		histView{Count: 2, ZeroCount: 2})

	for _, c := range []struct {
		name   string
		record []byte
		detail string
	}{
		{"scale below -4", otlptest.Request(res, otlptest.Exponential("h", "", 2, otlptest.ExpPoint{TsNs: ns, Scale: -5})),
			"exponential histogram with a scale below -4: no native histogram schema holds it"},
		{"delta", otlptest.Request(res, otlptest.Exponential("h", "", 1, otlptest.ExpPoint{TsNs: ns})),
			"delta exponential histogram: only cumulative histograms map to Prometheus"},
		{"delta, JSON", expJSON("h", 1, otlptest.ExpPoint{TsNs: ns}),
			"delta exponential histogram: only cumulative histograms map to Prometheus"},
	} {
		var rows messages.Rows
		p.Parse(&rows, c.record, 0)
		if len(rows.Points) != 0 || len(rows.Bad) != 1 || rows.Bad[0].Reason != messages.ReasonUnsupported || rows.Bad[0].Detail != c.detail {
			t.Fatalf("%s: points %d, bad %+v", c.name, len(rows.Points), rows.Bad)
		}
	}
}

// TestMetadata: every datapoint carries its metric's type, unit and description.
func TestMetadata(t *testing.T) {
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"))
	record := otlptest.Request(res,
		otlptest.Described(otlptest.Gauge("mem.used", "By", otlptest.NumberPoint(nil, ns, 1)), "Memory in use."),
		otlptest.Sum("reqs", "{request}", 2, true, otlptest.NumberPoint(nil, ns, 2)),
		otlptest.Sum("queue", "", 2, false, otlptest.NumberPoint(nil, ns, 3)),
		otlptest.Histogram("lat", "ms", 2, ns, nil, 1, 1, nil, nil),
		otlptest.Summary("rpc", ns, 1, 1))
	type meta struct {
		Type       messages.MetricType
		Unit, Help string
	}
	for _, c := range []struct {
		translation string
		want        map[string]meta
	}{
		{"prometheus", map[string]meta{
			"mem.used_bytes": {messages.TypeGauge, "bytes", "Memory in use."}, "reqs_total": {messages.TypeCounter, "", ""},
			"queue": {messages.TypeGauge, "", ""}, "lat_milliseconds_bucket": {messages.TypeHistogram, "milliseconds", ""},
			"lat_milliseconds_sum": {messages.TypeHistogram, "milliseconds", ""}, "lat_milliseconds_count": {messages.TypeHistogram, "milliseconds", ""},
			"rpc_sum": {messages.TypeSummary, "", ""}, "rpc_count": {messages.TypeSummary, "", ""},
		}},
		{"keep", map[string]meta{
			"mem.used": {messages.TypeGauge, "By", "Memory in use."}, "reqs": {messages.TypeCounter, "{request}", ""},
			"queue": {messages.TypeGauge, "", ""}, "lat_bucket": {messages.TypeHistogram, "ms", ""},
			"lat_sum": {messages.TypeHistogram, "ms", ""}, "lat_count": {messages.TypeHistogram, "ms", ""},
			"rpc_sum": {messages.TypeSummary, "", ""}, "rpc_count": {messages.TypeSummary, "", ""},
		}},
	} {
		p, _ := New(Options{Translation: c.translation})
		var rows messages.Rows
		p.Parse(&rows, record, 0)
		got := map[string]meta{}
		for i := range rows.Points {
			d := &rows.Points[i]
			x := rows.ExtraOf(d)
			if x == nil {
				t.Fatalf("%s: %s has no metadata", c.translation, d.Metric)
			}
			got[string(d.Metric)] = meta{x.Type, string(x.Unit), string(x.Help)}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%s: metadata\n got %v\nwant %v", c.translation, got, c.want)
		}
	}
}

func TestExponentialAllocatesNothing(t *testing.T) {
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"))
	var metrics []otlptest.Msg
	for i := 0; i < 100; i++ {
		metrics = append(metrics, otlptest.Exponential("rpc.duration", "s", 2, otlptest.ExpPoint{TsNs: ns + uint64(i), Count: 10, Sum: 2, Scale: 4,
			Attrs: []otlptest.Msg{otlptest.KVInt("i", int64(i))}, Positive: otlptest.Buckets{Offset: 3, Counts: []uint64{1, 2, 3, 4}}}))
	}
	p, _ := New(Options{})
	var rows messages.Rows
	record := otlptest.Request(res, metrics...)
	p.Parse(&rows, record, 0)
	if len(rows.Points) != 100 {
		t.Fatalf("%d points, bad %+v", len(rows.Points), rows.Bad)
	}
	if n := testing.AllocsPerRun(20, func() { rows.Reset(); p.Parse(&rows, record, 0) }); n != 0 {
		t.Fatalf("%.1f allocations per record of 100 exponential histograms", n)
	}
}

// expRequest is a request of n exponential histogram points (scale 3, 20 positive buckets, 4
// negative ones, three attributes), as an SDK's default aggregation sends them.
func expRequest(n int) []byte {
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"), otlptest.KVStr("service.instance.id", "pod-1"))
	counts := make([]uint64, 20)
	for i := range counts {
		counts[i] = uint64(i * 7 % 13)
	}
	var metrics []otlptest.Msg
	for i := 0; i < n; i++ {
		attrs := []otlptest.Msg{otlptest.KVStr("route", "/api/v1/items"), otlptest.KVStr("method", "GET"), otlptest.KVInt("code", int64(200+i%3))}
		metrics = append(metrics, otlptest.Exponential("http.server.duration", "s", 2, otlptest.ExpPoint{Attrs: attrs, TsNs: ns + uint64(i), Count: 150, Sum: 12.5,
			Scale: 3, ZeroCount: 1, Positive: otlptest.Buckets{Offset: -10, Counts: counts}, Negative: otlptest.Buckets{Offset: 2, Counts: counts[:4]}}))
	}
	return otlptest.Request(res, metrics...)
}

func BenchmarkParseExponential(b *testing.B) {
	p, _ := New(Options{})
	parsertest.Bench(b, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, 0) }, expRequest(1000), 1000, "ns/histogram")
}
