package integration

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/integration/kafkatest"
)

// startPrometheus3OTLP runs Prometheus 3 with its OTLP receiver, keeping metric and label names
// as they are (UTF-8, with type and unit suffixes, which gauges without a unit do not get).
func startPrometheus3OTLP(t testing.TB) *receiver {
	t.Helper()
	bin := prometheus3(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\nstorage:\n  tsdb:\n    out_of_order_time_window: 2h\n"+
		"otlp:\n  translation_strategy: NoUTF8EscapingWithSuffixes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &receiver{name: "prometheus3-otlp", dataDir: dir, args: func(addr string) []string {
		return []string{bin, "--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr, "--web.enable-otlp-receiver", "--log.level=warn"}
	}}
	r.start(t, "/-/ready")
	return r
}

// TestOTLPOutputPrometheus3: an `output "otlp"` into Prometheus 3's OTLP receiver, an output added
// through the output interface alone. 50k datapoints over 500 series, each series' samples
// reaching the writers out of order across batches; every series is read back by PromQL with its
// name, labels, timestamps and values.
func TestOTLPOutputPrometheus3(t *testing.T) {
	prom := startPrometheus3OTLP(t)
	c := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	lines, want := rwData(50_000, 500, func(s int) string { return fmt.Sprintf("rw.m%d", s%10) })
	c.Produce(t, rwIn, lines, 100)
	p, reg := startRW(t, rwConfig(t, c, fmt.Sprintf(`output "otlp" "prom3" {
  urls   = [%q]
  linger = "20ms"
}`, prom.base+"/api/v1/otlp/v1/metrics")))
	waitOut(t, p, 50_000)
	stopClean(t, p)
	for _, kind := range []string{"permanent", "retryable"} {
		if e := metric(t, reg, "sluice_output_errors_total", map[string]string{"output": "prom3", "kind": kind}); e != 0 {
			t.Fatalf("%g %s errors from Prometheus 3; its log:\n%s", e, kind, prom.logTail())
		}
	}
	got := exported{}
	for _, r := range prom.promQuery(t, `{__name__=~"rw\\..+"}[10m]`) {
		k := seriesKey(r.Metric)
		got[k] = map[int64]float64{}
		for _, v := range r.Values {
			var f float64
			fmt.Sscan(v[1].(string), &f)
			got[k][int64(math.Round(v[0].(float64)*1000))] = f
		}
	}
	sameData(t, "samples Prometheus 3 holds after OTLP", got, want)
	t.Logf("%g requests for 50000 datapoints", metric(t, reg, "sluice_output_records_total", map[string]string{"output": "prom3"}))
}
