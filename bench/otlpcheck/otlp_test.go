package otlpcheck

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/parse/otlp"
)

// series renders a datapoint as name{k="v",...} (labels sorted) @ms = value.
func series(d messages.Datapoint) string {
	var kv []string
	for _, t := range d.Tags {
		kv = append(kv, fmt.Sprintf("%s=%q", t.Key, t.Value))
	}
	sort.Strings(kv)
	return fmt.Sprintf("%s{%s} @%d = %g", d.Metric, strings.Join(kv, ","), d.Timestamp, d.Value)
}

// TestPdataRequests: every series and value of a request the Collector marshals — gauges (double
// and int), cumulative and delta sums, a histogram, a summary, an exponential histogram — comes
// out of Sluice's decoder as the Prometheus compatibility rules say (the exponential histogram as
// a native histogram, with its buckets' boundaries; the metadata), from the protobuf and from the
// JSON encoding alike.
func TestPdataRequests(t *testing.T) {
	ts := pcommon.NewTimestampFromTime(time.UnixMilli(1_700_000_000_123))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.namespace", "shop")
	ra.PutStr("service.instance.id", "pod-7")
	ra.PutStr("k8s.cluster.name", "prod-eu")
	ra.PutStr("host.arch", "arm64")
	ms := rm.ScopeMetrics().AppendEmpty()
	ms.Scope().SetName("io.opentelemetry.runtime")
	mets := ms.Metrics()

	g := mets.AppendEmpty()
	g.SetName("process.runtime.go.mem.heap_alloc")
	g.SetUnit("By")
	gp := g.SetEmptyGauge().DataPoints()
	p := gp.AppendEmpty()
	p.SetTimestamp(ts)
	p.SetDoubleValue(1.5e6)
	p.Attributes().PutStr("pool", "heap")
	p = gp.AppendEmpty()
	p.SetTimestamp(ts)
	p.SetIntValue(42)
	p.Attributes().PutInt("gen", 2)
	p.Attributes().PutBool("live", true)

	s := mets.AppendEmpty()
	s.SetName("http.server.request.count")
	s.SetUnit("{request}")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sp := sum.DataPoints().AppendEmpty()
	sp.SetTimestamp(ts)
	sp.SetDoubleValue(1234)
	sp.Attributes().PutStr("http.route", "/cart")

	ud := mets.AppendEmpty()
	ud.SetName("queue.items")
	usum := ud.SetEmptySum()
	usum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	up := usum.DataPoints().AppendEmpty()
	up.SetTimestamp(ts)
	up.SetIntValue(-3)

	d := mets.AppendEmpty()
	d.SetName("jobs.done")
	dsum := d.SetEmptySum()
	dsum.SetIsMonotonic(true)
	dsum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dsum.DataPoints().AppendEmpty().SetIntValue(5)

	h := mets.AppendEmpty()
	h.SetName("http.server.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hist.DataPoints().AppendEmpty()
	hp.SetTimestamp(ts)
	hp.SetCount(12)
	hp.SetSum(3.25)
	hp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 2.5})
	hp.BucketCounts().FromRaw([]uint64{4, 5, 2, 1})
	hp.Attributes().PutStr("http.route", "/pay")

	sm := mets.AppendEmpty()
	sm.SetName("gc.pause")
	sm.SetUnit("ms")
	smp := sm.SetEmptySummary().DataPoints().AppendEmpty()
	smp.SetTimestamp(ts)
	smp.SetCount(9)
	smp.SetSum(27)
	q := smp.QuantileValues().AppendEmpty()
	q.SetQuantile(0.5)
	q.SetValue(2)
	q = smp.QuantileValues().AppendEmpty()
	q.SetQuantile(0.99)
	q.SetValue(7.5)

	e := mets.AppendEmpty()
	e.SetName("rpc.latency")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	ep := eh.DataPoints().AppendEmpty()
	ep.SetTimestamp(ts)
	ep.SetCount(10)
	ep.SetSum(17.5)
	ep.SetScale(1) // base √2
	ep.SetZeroCount(2)
	ep.SetZeroThreshold(1e-6)
	ep.Positive().SetOffset(2) // buckets (2, 2√2], (2√2, 4], (4, 4√2]
	ep.Positive().BucketCounts().FromRaw([]uint64{3, 0, 4})
	ep.Negative().SetOffset(-1) // [-1, -1/√2)
	ep.Negative().BucketCounts().FromRaw([]uint64{1})
	g.SetDescription("Bytes of allocated heap objects.")

	req := pmetricotlp.NewExportRequestFromMetrics(md)
	raw, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	rawJSON, err := req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := otlp.New(otlp.Options{Promote: []string{"k8s.cluster.name"}, Encoding: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []struct {
		name string
		b    []byte
	}{{"otlp_proto", raw}, {"otlp_json", rawJSON}} {
		t.Run(enc.name, func(t *testing.T) { check(t, p2, enc.b) })
	}
}

func check(t *testing.T, p2 *otlp.Parser, raw []byte) {
	var rows messages.Rows
	p2.Parse(&rows, raw, 99)
	var got []string
	for _, d := range rows.Points {
		got = append(got, series(d))
	}
	res := `instance="pod-7",job="shop/checkout",k8s.cluster.name="prod-eu"`
	at := "@1700000000123"
	want := []string{
		`process.runtime.go.mem.heap_alloc_bytes{` + res + `,pool="heap"} ` + at + ` = 1.5e+06`,
		`process.runtime.go.mem.heap_alloc_bytes{gen="2",` + res + `,live="true"} ` + at + ` = 42`,
		`http.server.request.count_total{http.route="/cart",` + res + `} ` + at + ` = 1234`,
		`queue.items{` + res + `} ` + at + ` = -3`,
		`http.server.duration_seconds_bucket{http.route="/pay",` + res + `,le="0.1"} ` + at + ` = 4`,
		`http.server.duration_seconds_bucket{http.route="/pay",` + res + `,le="0.5"} ` + at + ` = 9`,
		`http.server.duration_seconds_bucket{http.route="/pay",` + res + `,le="2.5"} ` + at + ` = 11`,
		`http.server.duration_seconds_bucket{http.route="/pay",` + res + `,le="+Inf"} ` + at + ` = 12`,
		`http.server.duration_seconds_sum{http.route="/pay",` + res + `} ` + at + ` = 3.25`,
		`http.server.duration_seconds_count{http.route="/pay",` + res + `} ` + at + ` = 12`,
		`gc.pause_milliseconds{` + res + `,quantile="0.5"} ` + at + ` = 2`,
		`gc.pause_milliseconds{` + res + `,quantile="0.99"} ` + at + ` = 7.5`,
		`gc.pause_milliseconds_sum{` + res + `} ` + at + ` = 27`,
		`gc.pause_milliseconds_count{` + res + `} ` + at + ` = 9`,
		`rpc.latency{` + res + `} ` + at + ` = 0`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("decoded:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var reasons []string
	for _, b := range rows.Bad {
		reasons = append(reasons, b.Reason.String()+": "+b.Detail)
	}
	wantBad := []string{
		"unsupported: delta sum: only cumulative sums map to Prometheus",
	}
	if strings.Join(reasons, "\n") != strings.Join(wantBad, "\n") {
		t.Fatalf("dropped:\n%s\nwant:\n%s", strings.Join(reasons, "\n"), strings.Join(wantBad, "\n"))
	}
	// The exponential histogram as a native histogram: OTLP bucket i of scale 1 is (√2^i, √2^(i+1)].
	eh := rows.ExtraOf(&rows.Points[len(rows.Points)-1])
	if eh == nil || eh.Histogram == nil || eh.Type != messages.TypeHistogram {
		t.Fatalf("rpc.latency is not a native histogram: %+v", eh)
	}
	text, ok := remotewrite.AppendHistogramText(nil, eh.Histogram)
	if want := "{count:10, sum:17.5, [-1,-0.707107):1, [-1e-06,1e-06]:2, (2,2.82843]:3, (4,5.65685]:4}"; !ok || string(text) != want {
		t.Fatalf("rpc.latency: %s, want %s", text, want)
	}
	// Metadata: the gauge's type, unit and description.
	if x := rows.ExtraOf(&rows.Points[0]); x == nil || x.Type != messages.TypeGauge || string(x.Unit) != "bytes" || string(x.Help) != "Bytes of allocated heap objects." {
		t.Fatalf("gauge metadata %+v", x)
	}
}
