package integration

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// vmagentBinary is $SLUICE_VMAGENT, or vmagent on the PATH; the test skips without one. .ci/run
// builds it from the Go module proxy at the version docs/aggregation.md names.
func vmagentBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_VMAGENT"); p != "" {
		return p
	}
	p, err := exec.LookPath("vmagent")
	if err != nil {
		t.Skip("vmagent is not installed: GOBIN=/some/dir go install github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@v1.151.0, " +
			"then SLUICE_VMAGENT=/some/dir/vmagent (.ci/run does this)")
	}
	return p
}

// TestAggregationMatchesVMAgent: vmagent, running the same aggregation as a -streamAggr.config
// file, and Sluice are fed the same live InfluxDB lines (per-pod counters of two services, with
// resets); what each writes into a VictoriaMetrics of its own must have the same output series
// names, labels and values for every output, window by window.
//
// vmagent windows by arrival time (this version's enable_windows uses alternating windows with
// deadlines of its own, which Sluice does not reproduce), Sluice by datapoint timestamp: the
// lines are sent, stamped with the wall clock, only between 1 s and 8.5 s into each 10-second
// window, so that both put every sample in the same window.
//
// A counter's first sample is not an increase while either may have just started: vmagent ignores
// new series' first samples for ignore_first_sample_interval after its start (wall clock), Sluice
// within the staleness interval after the partition's first datapoint. Every series here starts
// with the first lines, after vmagent had been running for a while, so its interval is made to
// cover the test, as Sluice's covers those first samples.
func TestAggregationMatchesVMAgent(t *testing.T) {
	bin := vmagentBinary(t)
	vmSluice := startVictoriaMetrics(t, "vm-sluice")
	vmAgent := startVictoriaMetrics(t, "vm-vmagent")
	const outputs = `["total", "increase", "sum_samples", "count_samples", "count_series", "min", "max", "avg", "last", "rate_sum", "rate_avg", "histogram_bucket", "quantiles(0.5, 0.99)"]`
	dir := t.TempDir()
	aggFile := filepath.Join(dir, "aggr.yml")
	if err := os.WriteFile(aggFile, []byte(fmt.Sprintf("- match: '{__name__=\"http_requests\"}'\n  interval: 10s\n  without: [pod]\n  ignore_first_sample_interval: 5m\n  outputs: %s\n", outputs)), 0o644); err != nil {
		t.Fatal(err)
	}
	agent := &receiver{name: "vmagent", args: func(addr string) []string {
		return []string{bin, "-httpListenAddr=" + addr, "-remoteWrite.url=" + vmAgent.writeURL(), "-streamAggr.config=" + aggFile,
			"-remoteWrite.tmpDataPath=" + filepath.Join(dir, "queue"), "-remoteWrite.flushInterval=1s", "-loggerLevel=WARN"}
	}}
	agent.start(t, "/health")

	const in, aggTopic = "vmagent.in", "sluice.aggregate.http"
	c := kafkatest.Start(t, in, 1, "vmagent.unused", 1) // one partition: the lines reach Sluice in the order vmagent gets them
	c.CreateTopic(t, aggTopic, 4)
	cfg, err := config.Load("agg.hcl", []byte(fmt.Sprintf(`
log { level = "warn" }
kafka { brokers = [%q] }
input "influx" {
  topics = [%q]
  group  = "sluice-vmagent"
}
output "remote_write" "vm" {
  urls   = [%q]
  linger = "20ms"
}
aggregate "http" {
  match    = ["http_requests"]
  interval = "10s"
  lateness = "5s"
  without  = ["pod"]
  outputs  = %s
}
`, c.Addrs[0], in, vmSluice.writeURL(), outputs)))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startRW(t, cfg)

	// Start right after a window begins, so that both see every window whole.
	time.Sleep(time.Until(time.Now().Truncate(10 * time.Second).Add(10*time.Second + 500*time.Millisecond)))
	start := time.Now()
	var windows []int64
	for tick := 0; time.Since(start) < 40*time.Second; tick++ {
		time.Sleep(time.Until(start.Add(time.Duration(tick) * 500 * time.Millisecond)))
		now := time.Now()
		if into := now.Sub(now.Truncate(10 * time.Second)); into < time.Second || into > 8500*time.Millisecond {
			continue
		}
		if end := now.Truncate(10 * time.Second).Add(10 * time.Second).UnixMilli(); !slices.Contains(windows, end) {
			windows = append(windows, end)
		}
		var lines []string
		for pod := 0; pod < 8; pod++ {
			for _, svc := range []string{"api", "web"} {
				v := (tick * (pod + 1) * 7) % 500 // a counter that wraps: resets
				lines = append(lines, fmt.Sprintf("http,pod=p%d,svc=%s requests=%d %d", pod, svc, v, now.UnixNano()+int64(pod)*1e6))
			}
		}
		body := strings.Join(lines, "\n") + "\n"
		resp, err := http.Post(agent.base+"/write", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("vmagent /write: %s", resp.Status)
		}
		c.Produce(t, in, lines, len(lines))
	}
	// vmagent flushes at the next window end, Sluice once the lateness has passed.
	time.Sleep(time.Until(time.UnixMilli(windows[len(windows)-1]).Add(12 * time.Second)))
	agent.stop(t)
	stopClean(t, p)

	match := `{__name__=~"http_requests:.+"}`
	got, want := vmSluice.exportVM(t, match), vmAgent.exportVM(t, match)
	if len(want) == 0 {
		t.Fatalf("vmagent wrote nothing; its log:\n%s", agent.logTail())
	}
	// Every window the lines went into, each output series of it: the same in both.
	compared := 0
	names := map[string]bool{}
	for k, samples := range want {
		for _, end := range windows {
			w, ok := samples[end]
			if !ok {
				continue
			}
			g, ok := got[k][end]
			if !ok {
				t.Errorf("%s @%d: vmagent wrote %g, Sluice nothing", k, end, w)
				continue
			}
			if math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
				t.Errorf("%s @%d: Sluice %g, vmagent %g", k, end, g, w)
			}
			compared++
			names[strings.SplitN(strings.TrimPrefix(k, "__name__="), ",", 2)[0]] = true
		}
	}
	for k, samples := range got {
		for _, end := range windows {
			if _, ok := samples[end]; ok && want[k][end] == 0 {
				if _, ok := want[k][end]; !ok {
					t.Errorf("%s @%d: Sluice wrote %g, vmagent nothing", k, end, samples[end])
				}
			}
		}
	}
	for _, o := range []string{"total", "increase", "sum_samples", "count_samples", "count_series", "min", "max", "avg", "last",
		"rate_sum", "rate_avg", "histogram_bucket", "quantiles"} {
		if !names["http_requests:10s_without_pod_"+o] {
			t.Errorf("no %s series compared (vmagent's: %v)", o, slices.Sorted(func(yield func(string) bool) {
				for n := range names {
					if !yield(n) {
						return
					}
				}
			}))
		}
	}
	t.Logf("%d windows, %d output samples compared with vmagent's", len(windows), compared)
}
