package otlp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
	"github.com/sluicehq/sluice/parse/otlp/otlptest"
)

const ns = uint64(1_700_000_000_000) * 1e6 // 1700000000000 ms

var dp = parsertest.DP

func TestParse(t *testing.T) {
	p, err := New(Options{Promote: []string{"cloud.region"}})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, record []byte, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
		t.Helper()
		var rows messages.Rows
		parsertest.Check(t, &rows, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, 1234) }, string(record), wantPoints, wantBad)
	}
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"), otlptest.KVStr("service.namespace", "shop"), otlptest.KVStr("service.instance.id", "pod-1"),
		otlptest.KVStr("cloud.region", "eu-west-1"), otlptest.KVStr("host.arch", "amd64"))
	lbl := []string{"job", "shop/api", "instance", "pod-1", "cloud.region", "eu-west-1"}
	with := func(kv ...string) []string { return append(append([]string(nil), lbl...), kv...) }

	f("otlptest.Gauge with unit and int attribute",
		otlptest.Request(res, otlptest.Gauge("process.memory.usage", "By", otlptest.NumberPoint([]otlptest.Msg{otlptest.KVStr("state", "used"), otlptest.KVInt("cpu", 3)}, ns, 42))),
		[]messages.Datapoint{dp("process.memory.usage_bytes", 1700000000000, 42, with("state", "used", "cpu", "3")...)}, nil)
	f("an attribute with an empty value is no label",
		otlptest.Request(res, otlptest.Gauge("g", "", otlptest.NumberPoint([]otlptest.Msg{otlptest.KVStr("state", ""), otlptest.KVStr("cpu", "0")}, ns, 1))),
		[]messages.Datapoint{dp("g", 1700000000000, 1, with("cpu", "0")...)}, nil)
	f("monotonic cumulative sum: a counter with _total",
		otlptest.Request(res, otlptest.Sum("http.server.requests", "{request}", 2, true, otlptest.NumberPoint(nil, ns, 7))),
		[]messages.Datapoint{dp("http.server.requests_total", 1700000000000, 7, lbl...)}, nil)
	f("non-monotonic cumulative sum: a gauge; ratio unit",
		otlptest.Request(res, otlptest.Sum("queue.depth", "", 2, false, otlptest.NumberPoint(nil, ns, 3)), otlptest.Gauge("cpu.utilization", "1", otlptest.NumberPoint(nil, 0, 0.5))),
		[]messages.Datapoint{dp("queue.depth", 1700000000000, 3, lbl...), dp("cpu.utilization_ratio", 1234, 0.5, lbl...)}, nil)
	delta := otlptest.NumberPoint(nil, ns, 1)
	f("delta sum: dropped with a reason",
		otlptest.Request(res, otlptest.Sum("jobs.done", "", 1, true, delta)),
		nil, []messages.BadLine{parsertest.BadWith(string(delta), messages.ReasonUnsupported, "delta sum: only cumulative sums map to Prometheus")})
	f("cumulative histogram: buckets cumulative, +Inf is the count, otlptest.Sum and count",
		otlptest.Request(res, otlptest.Histogram("http.server.duration", "ms", 2, ns, []otlptest.Msg{otlptest.KVStr("route", "/a")}, 10, 123.5, []float64{5, 10.5}, []uint64{3, 5, 2})),
		[]messages.Datapoint{
			dp("http.server.duration_milliseconds_bucket", 1700000000000, 3, with("route", "/a", "le", "5")...),
			dp("http.server.duration_milliseconds_bucket", 1700000000000, 8, with("route", "/a", "le", "10.5")...),
			dp("http.server.duration_milliseconds_bucket", 1700000000000, 10, with("route", "/a", "le", "+Inf")...),
			dp("http.server.duration_milliseconds_sum", 1700000000000, 123.5, with("route", "/a")...),
			dp("http.server.duration_milliseconds_count", 1700000000000, 10, with("route", "/a")...),
		}, nil)
	f("summary: quantiles, otlptest.Sum, count",
		otlptest.Request(res, otlptest.Summary("rpc.latency", ns, 4, 2.5, [2]float64{0.5, 0.4}, [2]float64{0.99, 1.2})),
		[]messages.Datapoint{
			dp("rpc.latency", 1700000000000, 0.4, with("quantile", "0.5")...),
			dp("rpc.latency", 1700000000000, 1.2, with("quantile", "0.99")...),
			dp("rpc.latency_sum", 1700000000000, 2.5, lbl...),
			dp("rpc.latency_count", 1700000000000, 4, lbl...),
		}, nil)
	f("a name that already has its suffixes keeps them once",
		otlptest.Request(res, otlptest.Sum("bytes_sent_bytes_total", "By", 2, true, otlptest.NumberPoint(nil, ns, 1))),
		[]messages.Datapoint{dp("bytes_sent_bytes_total", 1700000000000, 1, lbl...)}, nil)
	f("rate unit", otlptest.Request(otlptest.Resource(otlptest.KVStr("service.name", "api")), otlptest.Gauge("net.io", "By/s", otlptest.NumberPoint(nil, ns, 9))),
		[]messages.Datapoint{dp("net.io_bytes_per_second", 1700000000000, 9, "job", "api")}, nil)
	garbage := []byte("put a.b 1 1 host=x\n")
	f("not protobuf", garbage, nil, []messages.BadLine{parsertest.Bad(string(garbage), "not an OTLP ExportMetricsServiceRequest (protobuf)")})
	good := otlptest.Request(res, otlptest.Gauge("g", "", otlptest.NumberPoint(nil, ns, 1)))
	truncated := good[:len(good)-3]
	f("a truncated otlptest.Request adds nothing of itself", truncated, nil,
		[]messages.BadLine{parsertest.Bad(string(truncated), "not an OTLP ExportMetricsServiceRequest (protobuf)")})

	keep, _ := New(Options{Translation: "keep"})
	var rows messages.Rows
	keep.Parse(&rows, otlptest.Request(otlptest.Resource(), otlptest.Sum("http.server.requests", "{request}", 2, true, otlptest.NumberPoint(nil, ns, 7))), 0)
	if len(rows.Points) != 1 || string(rows.Points[0].Metric) != "http.server.requests" {
		t.Fatalf("keep translation: %+v", rows.Points)
	}
	if _, err := New(Options{Translation: "camel"}); err == nil {
		t.Fatal("an unknown translation was accepted")
	}
}

// TestParseJSON: the otlp_json encoding (protojson: camelCase, 64-bit integers as strings)
// decodes as the protobuf does; escapes are unescaped; a malformed document adds one bad record.
func TestParseJSON(t *testing.T) {
	p, _ := New(Options{Encoding: "otlp_json"})
	f := func(name, doc string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
		t.Helper()
		var rows messages.Rows
		parsertest.Check(t, &rows, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, 1234) }, doc, wantPoints, wantBad)
	}
	res := `"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}},{"key":"service.instance.id","value":{"stringValue":"p\u002d1"}}]}`
	wrap := func(metrics string) string {
		return `{"resourceMetrics":[{` + res + `,"scopeMetrics":[{"scope":{"name":"s"},"metrics":[` + metrics + `]}]}]}`
	}
	lbl := []string{"job", "api", "instance", "p-1"}
	with := func(kv ...string) []string { return append(append([]string(nil), lbl...), kv...) }
	f("gauge, int gauge and counter", wrap(`{"name":"mem.used","unit":"By","gauge":{"dataPoints":[
		{"attributes":[{"key":"host","value":{"stringValue":"a\"b"}}],"timeUnixNano":"1700000000000000000","asDouble":1.5},
		{"timeUnixNano":"1700000000000000000","asInt":"42","attributes":[{"key":"cpu","value":{"intValue":"3"}}]}]}},
		{"name":"reqs","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"7"}]}}`),
		[]messages.Datapoint{
			dp("mem.used_bytes", 1700000000000, 1.5, with("host", `a"b`)...),
			dp("mem.used_bytes", 1700000000000, 42, with("cpu", "3")...),
			dp("reqs_total", 1700000000000, 7, lbl...),
		}, nil)
	f("histogram and summary", wrap(`{"name":"lat","unit":"s","histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","dataPoints":[
		{"timeUnixNano":"1700000000000000000","count":"10","sum":2.5,"bucketCounts":["3","5","2"],"explicitBounds":[0.5,1]}]}},
		{"name":"gc","summary":{"dataPoints":[{"timeUnixNano":"1700000000000000000","count":"4","sum":2,"quantileValues":[{"quantile":0.5,"value":0.25}]}]}}`),
		[]messages.Datapoint{
			dp("lat_seconds_bucket", 1700000000000, 3, with("le", "0.5")...),
			dp("lat_seconds_bucket", 1700000000000, 8, with("le", "1")...),
			dp("lat_seconds_bucket", 1700000000000, 10, with("le", "+Inf")...),
			dp("lat_seconds_sum", 1700000000000, 2.5, lbl...),
			dp("lat_seconds_count", 1700000000000, 10, lbl...),
			dp("gc", 1700000000000, 0.25, with("quantile", "0.5")...),
			dp("gc_sum", 1700000000000, 2, lbl...),
			dp("gc_count", 1700000000000, 4, lbl...),
		}, nil)
	f("histogram without bucket counts", wrap(`{"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[
		{"timeUnixNano":"1700000000000000000","count":"4","sum":1.5,"explicitBounds":[1,2]}]}}`),
		[]messages.Datapoint{
			dp("h_bucket", 1700000000000, 4, with("le", "+Inf")...),
			dp("h_sum", 1700000000000, 1.5, lbl...),
			dp("h_count", 1700000000000, 4, lbl...),
		}, nil)
	deltaPoint := `{"asInt":"1"}`
	f("delta sum", wrap(`{"name":"jobs","sum":{"aggregationTemporality":1,"dataPoints":[`+deltaPoint+`]}}`), nil,
		[]messages.BadLine{parsertest.BadWith(deltaPoint, messages.ReasonUnsupported, "delta sum: only cumulative sums map to Prometheus")})
	broken := wrap(`{"name":"g","gauge":{"dataPoints":[{"asDouble":1}]}}`)
	broken = broken[:len(broken)-4]
	f("truncated", broken, nil, []messages.BadLine{parsertest.Bad(broken, "not an OTLP ExportMetricsServiceRequest (JSON)")})
	proto := otlptest.Request(otlptest.Resource(), otlptest.Gauge("g", "", otlptest.NumberPoint(nil, ns, 1)))
	f("a protobuf record on a JSON input", string(proto), nil, []messages.BadLine{parsertest.Bad(string(proto), "a protobuf record on an otlp_json input")})
	protoOnly, _ := New(Options{Encoding: "otlp_proto"})
	var rows messages.Rows
	doc := wrap(`{"name":"g","gauge":{"dataPoints":[{"asDouble":1}]}}`)
	protoOnly.Parse(&rows, []byte(doc), 0)
	if len(rows.Points) != 0 || len(rows.Bad) != 1 || rows.Bad[0].Detail != "a JSON record on an otlp_proto input" {
		t.Fatalf("a JSON record on a protobuf input: %d points, bad %v", len(rows.Points), rows.Bad)
	}
	auto, _ := New(Options{Encoding: "auto"})
	rows.Reset()
	auto.Parse(&rows, []byte(doc), 0)
	auto.Parse(&rows, proto, 0)
	if len(rows.Points) != 2 || len(rows.Bad) != 0 {
		t.Fatalf("auto: %d points, bad %v; want 2 and none", len(rows.Points), rows.Bad)
	}
	if _, err := New(Options{Encoding: "xml"}); err == nil {
		t.Fatal("an unknown encoding was accepted")
	}
}

func TestUnitSuffix(t *testing.T) {
	for unit, want := range map[string]string{"s": "_seconds", "By": "_bytes", "By/s": "_bytes_per_second", "{req}/s": "_per_second",
		"1": "", "{packets}": "", "": "", "widgets": "_widgets", "m/s": "_meters_per_second", "µs": ""} {
		if got := string(unitSuffix(nil, []byte(unit))); got != want {
			t.Errorf("unit %q: suffix %q, want %q", unit, got, want)
		}
	}
}

func benchRequest(points int) []byte {
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"), otlptest.KVStr("service.namespace", "shop"), otlptest.KVStr("service.instance.id", "pod-1"))
	var metrics []otlptest.Msg
	for i := 0; i < points/4; i++ {
		attrs := []otlptest.Msg{otlptest.KVStr("host", "web01"), otlptest.KVStr("region", "eu"), otlptest.KVInt("cpu", int64(i%8))}
		metrics = append(metrics,
			otlptest.Gauge("system.memory.usage", "By", otlptest.NumberPoint(attrs, ns+uint64(i), float64(i))),
			otlptest.Sum("system.cpu.time", "s", 2, true, otlptest.NumberPoint(attrs, ns+uint64(i), float64(i))),
			otlptest.Sum("system.network.io", "By", 2, true, otlptest.NumberPoint(attrs, ns+uint64(i), float64(i))),
			otlptest.Gauge("system.cpu.utilization", "1", otlptest.NumberPoint(attrs, ns+uint64(i), 0.5)))
	}
	return otlptest.Request(res, metrics...)
}

// benchJSON is benchRequest's points in the JSON encoding.
func benchJSON(points int) []byte {
	var b []byte
	b = append(b, `{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}},{"key":"service.namespace","value":{"stringValue":"shop"}},{"key":"service.instance.id","value":{"stringValue":"pod-1"}}]},"scopeMetrics":[{"metrics":[`...)
	for i := 0; i < points; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"name":"system.memory.usage","unit":"By","gauge":{"dataPoints":[{"attributes":[{"key":"host","value":{"stringValue":"web01"}},{"key":"region","value":{"stringValue":"eu"}},{"key":"cpu","value":{"intValue":"%d"}}],"timeUnixNano":"%d","asDouble":%d}]}}`, i%8, ns+uint64(i), i)
	}
	return append(b, `]}]}]}`...)
}

func TestParseAllocatesNothing(t *testing.T) {
	p, _ := New(Options{})
	parsertest.NoAllocs(t, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, 0) }, benchRequest(1000), 1000)
	auto, _ := New(Options{Encoding: "auto"})
	parsertest.NoAllocs(t, func(dst *messages.Rows, s []byte) { auto.Parse(dst, s, 0) }, benchJSON(1000), 1000)
}

func BenchmarkParseJSON(b *testing.B) {
	p, _ := New(Options{Encoding: "otlp_json"})
	parsertest.Bench(b, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, 0) }, benchJSON(1000), 1000, "ns/datapoint")
}

func BenchmarkParse(b *testing.B) {
	p, _ := New(Options{})
	parsertest.Bench(b, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, 0) }, benchRequest(1000), 1000, "ns/datapoint")
}

func FuzzParse(f *testing.F) {
	f.Add(benchRequest(8))
	f.Add(otlptest.Request(otlptest.Resource(otlptest.KVStr("service.name", "a")), otlptest.Histogram("h", "s", 2, ns, nil, 3, 1, []float64{1}, []uint64{1, 2}),
		otlptest.Summary("s", ns, 1, 1, [2]float64{0.5, 1})))
	f.Add([]byte("garbage"))
	f.Add(benchJSON(3))
	p, _ := New(Options{Promote: []string{"x"}, Encoding: "auto"})
	f.Fuzz(func(t *testing.T, b []byte) {
		var rows messages.Rows
		p.Parse(&rows, b, 0)
		for _, d := range rows.Points {
			if len(d.Metric) == 0 {
				t.Fatalf("a datapoint without a name from %x", b)
			}
		}
	})
}

// FuzzJSONIndex: the structural index gives every object's and array's end exactly as scanning
// does, for the record and for its sub-slices (as the decoder's levels see them), on any bytes.
func FuzzJSONIndex(f *testing.F) {
	f.Add(benchJSON(3), uint16(0), uint16(0))
	f.Add([]byte(`{"a":[1,{"b":"}\"]"}],"c":{}}`), uint16(5), uint16(3))
	f.Add([]byte(`{"a": x"y, "b": {"c":[]}}`), uint16(1), uint16(0))
	f.Add([]byte(`[[[{]}]]]{"`), uint16(2), uint16(1))
	f.Add([]byte(`{"s":"\\"}"}`), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, rec []byte, from, cut uint16) {
		d := indexJSON(rec, nil)
		lo := int(from) % (len(rec) + 1)
		hi := len(rec) - int(cut)%(len(rec)-lo+1)
		sub := rec[lo:hi]
		for _, b := range [][]byte{rec, sub} {
			for i := range b {
				if b[i] != '{' && b[i] != '[' {
					continue
				}
				end, ok := valueEnd(d, b, i)
				wantEnd, wantOK := valueEnd(jsonDoc{}, b, i)
				if ok != wantOK || (ok && end != wantEnd) {
					t.Fatalf("%q at %d: indexed end %d %v, scanned %d %v", b, i, end, ok, wantEnd, wantOK)
				}
			}
		}
	})
}

// TestJSONIndexIsUsed: decoding a JSON record skips nested values through the index (a cursor
// that moved), so the speed of BenchmarkParseJSON does not hang on a silent fallback to scanning.
func TestJSONIndexIsUsed(t *testing.T) {
	rec := benchJSON(10)
	d := indexJSON(rec, nil)
	if len(d.ix) != 1+2*strings.Count(string(rec), "{")+2*strings.Count(string(rec), "[") {
		t.Fatalf("index of %d entries for the record's containers", len(d.ix))
	}
	p, _ := New(Options{Encoding: "otlp_json"})
	var rows messages.Rows
	p.Parse(&rows, rec, 0)
	if len(rows.Points) != 10 || len(rows.Scratch) < 3 || rows.Scratch[0] == 0 {
		t.Fatalf("%d points; index %d entries, cursor %v", len(rows.Points), len(rows.Scratch), rows.Scratch[:min(1, len(rows.Scratch))])
	}
}
