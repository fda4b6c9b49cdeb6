package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/otlp/otlptest"
)

// promHistogram is a native histogram as Prometheus' query API gives it.
type promHistogram struct {
	Count, Sum string
	Buckets    [][4]any // boundary rule, lower, upper, count
}

// promSample is one series of an instant query's vector.
type promSample struct {
	Metric    map[string]string `json:"metric"`
	Value     [2]any            `json:"value"`
	Histogram []json.RawMessage `json:"histogram"`
}

// hist is s's native histogram, or nil.
func (s promSample) hist(t testing.TB) *promHistogram {
	if len(s.Histogram) != 2 {
		return nil
	}
	var h promHistogram
	if err := json.Unmarshal(s.Histogram[1], &h); err != nil {
		t.Fatal(err)
	}
	return &h
}

// promQueryAt runs an instant PromQL query at time at (Unix seconds).
func (r *receiver) promQueryAt(t testing.TB, q, at string) []promSample {
	t.Helper()
	resp, err := http.Get(r.base + "/api/v1/query?time=" + at + "&query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status, Error string
		Data          struct{ Result []promSample }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body.Error)
	}
	return body.Data.Result
}

// TestOTLPNativeHistogramsPrometheus3: OpenTelemetry exponential histograms read from Kafka reach
// a real Prometheus 3 over remote write 2.0 as native histograms — every series' count, sum and
// buckets checked by query, bucket boundaries included (OTLP bucket i of scale 0 is (2^i,
// 2^(i+1)]) — and a gauge's metadata arrives with it (Prometheus' type-and-unit-labels feature
// shows the type and unit as __type__ and __unit__). The same pipeline with a 1.0 output counts
// the histograms as unsupported and writes the gauges.
func TestOTLPNativeHistogramsPrometheus3(t *testing.T) {
	prom := startPrometheus3(t)
	c := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	const series, points = 20, 30
	start := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	var records [][]byte
	for i := 0; i < points; i++ {
		ns := uint64(start.Add(time.Duration(i) * 10 * time.Second).UnixNano())
		var metrics []otlptest.Msg
		for s := 0; s < series; s++ {
			route := []otlptest.Msg{otlptest.KVStr("route", fmt.Sprintf("/r%d", s))}
			n := uint64(i + 1)
			// Cumulative: bucket (1,2] gains s+1 a point, (2,4] gains 2, [-2,-1) gains 1, zero 1.
			pt := otlptest.ExpPoint{Attrs: route, TsNs: ns, Scale: 0, ZeroThreshold: 1e-3,
				Count: n * uint64(s+1+2+1+1), Sum: float64(n) * 10.5, ZeroCount: n,
				Positive: otlptest.Buckets{Offset: 0, Counts: []uint64{n * uint64(s+1), 2 * n}},
				Negative: otlptest.Buckets{Offset: 0, Counts: []uint64{n}}}
			metrics = append(metrics,
				otlptest.Described(otlptest.Exponential("rpc.duration", "s", 2, pt), "RPC time."),
				otlptest.Described(otlptest.Gauge("mem.used", "By", otlptest.NumberPoint(route, ns, float64(i))), "Memory in use."))
		}
		records = append(records, otlptest.Request(otlptest.Resource(otlptest.KVStr("service.name", "api")), metrics...))
	}
	c.ProduceRecords(t, rwIn, records, time.Now())
	p, reg := startRW(t, rwConfigInput(t, c, "otlp", fmt.Sprintf(`output "remote_write" "prom3" {
  urls     = [%q]
  protocol = "2.0"
  linger   = "20ms"
}`, prom.writeURL())))
	total := int64(2 * series * points)
	waitOut(t, p, total)
	stopClean(t, p)
	if e := metric(t, reg, "sluice_output_errors_total", map[string]string{"output": "prom3", "kind": "permanent"}); e != 0 {
		t.Fatalf("Prometheus 3 refused %g requests; its log:\n%s", e, prom.logTail())
	}
	if n := metric(t, reg, "sluice_output_confirmed_samples_total", map[string]string{"output": "prom3"}); n != float64(total) {
		t.Fatalf("the receiver confirmed %g samples and histograms written, want %d", n, total)
	}
	at := strconv.FormatInt(start.Add((points-1)*10*time.Second).Unix(), 10)
	for s := 0; s < series; s++ {
		q := fmt.Sprintf(`{__name__="rpc.duration_seconds",route="/r%d"}`, s)
		r := prom.promQueryAt(t, q, at)
		if len(r) != 1 || r[0].hist(t) == nil {
			t.Fatalf("%s: %+v, want one native histogram", q, r)
		}
		h := r[0].hist(t)
		n := points
		if h.Count != strconv.Itoa(n*(s+5)) || h.Sum != strconv.FormatFloat(float64(n)*10.5, 'g', -1, 64) {
			t.Fatalf("%s: count %s sum %s, want %d and %g", q, h.Count, h.Sum, n*(s+5), float64(n)*10.5)
		}
		got := fmt.Sprint(h.Buckets)
		want := fmt.Sprint([][4]any{{float64(1), "-2", "-1", strconv.Itoa(n)}, {float64(3), "-0.001", "0.001", strconv.Itoa(n)},
			{float64(0), "1", "2", strconv.Itoa(n * (s + 1))}, {float64(0), "2", "4", strconv.Itoa(2 * n)}})
		if got != want {
			t.Fatalf("%s: buckets %s, want %s", q, got, want)
		}
		// Every point is there: one histogram per 10 s over the five minutes.
		if c := prom.promQueryAt(t, fmt.Sprintf(`count_over_time(%s[10m])`, q), at); len(c) != 1 || c[0].Value[1] != strconv.Itoa(points) {
			t.Fatalf("%s: %+v points, want %d", q, c, points)
		}
	}
	g := prom.promQueryAt(t, `{__name__="mem.used_bytes",route="/r7"}`, at)
	if len(g) != 1 || g[0].Metric["__type__"] != "gauge" || g[0].Metric["__unit__"] != "bytes" || g[0].Value[1] != strconv.Itoa(points-1) {
		t.Fatalf("mem.used_bytes: %+v, want the gauge with __type__ gauge, __unit__ bytes", g)
	}

	// The same records into a 1.0 output: histograms are counted unsupported, gauges written.
	c2 := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	c2.ProduceRecords(t, rwIn, records, time.Now())
	vm := startVictoriaMetrics(t, "vm")
	p2, _ := startRW(t, rwConfigInput(t, c2, "otlp", fmt.Sprintf(`output "remote_write" "vm" {
  urls   = [%q]
  linger = "20ms"
}`, vm.writeURL())))
	kafkatest.WaitFor(t, 2*time.Minute, "every datapoint written or dropped", func() bool {
		st := p2.Stats()
		return st.DatapointsOut >= series*points && st.Dropped[messages.ReasonUnsupported] >= series*points
	})
	st := p2.Stats()
	stopClean(t, p2)
	if st.DatapointsOut != series*points || st.Dropped[messages.ReasonUnsupported] != series*points {
		t.Fatalf("1.0 output: %d out, %d unsupported; want %d each (the gauges out, the histograms unsupported)", st.DatapointsOut, st.Dropped[messages.ReasonUnsupported], series*points)
	}
}
