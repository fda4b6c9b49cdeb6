package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
)

// TestCardinalityExplosion: one metric gains 1,000,000 new series within a minute (a request id
// in a tag) while 10,000 other series flow. The metric's budget caps it on the output within 5 %
// of max_series, none of the other series' datapoints is lost, every drop is counted (by reason
// and by budget), and the log names the offending tag key.
func TestCardinalityExplosion(t *testing.T) {
	const (
		in, out        = "card.in", "card.out"
		steady, points = 10_000, 5
		explosion      = 1_000_000
		budget         = 5_000
	)
	c := kafkatest.Start(t, in, 6, out, 4)
	start := time.Now().Add(-2 * time.Minute).Unix()
	lines := make([]string, 0, steady*points+explosion)
	// The explosion's lines are spread among the steady ones, as a deploy's are among an agent's.
	perSteady := explosion / (steady * points)
	n := 0
	for p := 0; p < points; p++ {
		for s := 0; s < steady; s++ {
			lines = append(lines, fmt.Sprintf("put app.m%d %d %d host=h%d dc=eu", s%20, start+int64(p), p, s))
			for k := 0; k < perSteady; k++ {
				lines = append(lines, fmt.Sprintf("put api.requests %d 1 host=h%d request_id=r%07d", start+int64(n*60/explosion), n%50, n))
				n++
			}
		}
	}
	c.Produce(t, in, lines, 1000)
	cfg := c.Config(t, in, out, 4, fmt.Sprintf(`
limits {
  budget "api-requests" {
    match      = ["api.requests"]
    max_series = %d
  }
}`, budget))
	p, reg, logs := startRecorded(t, cfg)
	kafkatest.WaitFor(t, 3*time.Minute, "every line read", func() bool { return p.Stats().DatapointsIn >= int64(len(lines)) })
	kafkatest.WaitFor(t, time.Minute, "every kept datapoint written", func() bool {
		s := p.Stats()
		return s.DatapointsOut+s.Dropped[messages.ReasonCardinality] >= int64(len(lines))
	})
	stopClean(t, p)

	apiSeries, steadyPoints := map[string]bool{}, 0
	for _, pt := range c.ReadOutput(t, out) {
		if pt.Metric == "api.requests" {
			apiSeries[pt.Labels["request_id"]] = true
		} else {
			steadyPoints++
		}
	}
	if got := len(apiSeries); got < budget*95/100 || got > budget*105/100 {
		t.Fatalf("api.requests has %d series on the output, want %d ± 5 %%", got, budget)
	}
	if steadyPoints != steady*points {
		t.Fatalf("%d datapoints of the steady series on the output, want all %d", steadyPoints, steady*points)
	}
	dropped := int64(explosion - len(apiSeries))
	if s := p.Stats(); s.Dropped[messages.ReasonCardinality] != dropped {
		t.Fatalf("cardinality drops %d, want %d", s.Dropped[messages.ReasonCardinality], dropped)
	}
	if n := metric(t, reg, "sluice_limit_dropped_total", map[string]string{"limit": "api-requests"}); n != float64(dropped) {
		t.Fatalf("sluice_limit_dropped_total %g, want %d", n, dropped)
	}
	if n := metric(t, reg, "sluice_limit_series", map[string]string{"limit": "api-requests", "value": ""}); n < explosion*0.97 || n > explosion*1.03 {
		t.Fatalf("sluice_limit_series %g, want about %d", n, explosion)
	}
	est := metric(t, reg, "sluice_limit_series", map[string]string{"limit": "api-requests", "value": ""})
	t.Logf("api.requests: %d of %d new series on the output (budget %d), %d datapoints dropped, distinct estimate %.0f (%.2f %% off); steady series: %d of %d datapoints",
		len(apiSeries), explosion, budget, dropped, est, 100*(est-explosion)/explosion, steadyPoints, steady*points)
	if l := logs.String(); !strings.Contains(l, "cardinality budget is dropping new series") || !strings.Contains(l, `top_tag_keys="request_id=200,host=50"`) {
		t.Fatalf("no log line naming request_id:\n%s", l)
	}
}

// startRecorded starts a pipeline for cfg with its metrics on a registry of its own and a logger
// whose output the test reads; the pipeline is stopped when the test ends.
func startRecorded(t *testing.T, cfg *config.Config) (*actors.Pipeline, *prometheus.Registry, *kafkatest.Recorder) {
	t.Helper()
	log, rec := kafkatest.RecordingLogger(t, "warn")
	p, err := actors.New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	return p, reg, rec
}
