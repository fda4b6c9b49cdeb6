package otlp

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/otlp/otlptest"
)

// TestNoRecordedValueIsStale: a point flagged as having no recorded value becomes staleness
// markers, one per series it maps to, as the specification's Prometheus mapping says.
func TestNoRecordedValueIsStale(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"))
	number := otlptest.NumberPoint(nil, ns, 42).Varint(8, 1)
	summary := otlptest.Summary("rpc.latency", ns, 4, 2.5, [2]float64{0.5, 0.4}, [2]float64{0.99, 1.2})
	// A summary point like otlptest.Summary's, with flags (field 8) set.
	flagged := otlptest.Msg(nil).Fixed(3, ns).Fixed(4, 4).Double(5, 2.5).
		Bytes(6, otlptest.Msg(nil).Double(1, 0.5).Double(2, 0.4)).Varint(8, 1)
	staleSummary := otlptest.Msg(nil).Str(1, "rpc.latency").Bytes(11, otlptest.Msg(nil).Bytes(1, flagged))
	var rows messages.Rows
	p.Parse(&rows, otlptest.Request(res, otlptest.Gauge("g", "", number), staleSummary, summary), 0)
	if len(rows.Bad) != 0 {
		t.Fatalf("bad: %+v", rows.Bad)
	}
	stale := 0
	for _, dp := range rows.Points {
		if messages.IsStaleNaN(dp.Value) {
			stale++
		} else if math.IsNaN(dp.Value) {
			t.Fatalf("%s: a NaN that is not the staleness marker: %x", dp.Metric, math.Float64bits(dp.Value))
		}
	}
	// The gauge (1) and the flagged summary (one quantile, sum, count: 3) are stale; the other
	// summary's 4 points are not.
	if stale != 4 || len(rows.Points) != 8 {
		t.Fatalf("%d staleness markers of %d points, want 4 of 8", stale, len(rows.Points))
	}
}
