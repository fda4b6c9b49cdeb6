package integration

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/shed"
)

// TestShedUnderOverload: a remote-write output that can take only so many requests a second
// (one request of at most 5 samples in flight to a real VictoriaMetrics) gets a surge several
// times what it takes, from a critical route (a tenth of the datapoints) and a best_effort one.
// Shedding starts after `for`, loses no critical datapoint, sheds best_effort series whole (the
// series kept in each round are those below one threshold of one order of the series, the same
// for all rounds), and is off again within two intervals once the surge is over and the
// pipeline caught up. Default timeouts.
func TestShedUnderOverload(t *testing.T) {
	vm := startVictoriaMetrics(t, "vm")
	c := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	const critical, bestEffort = 20, 180
	cfg := rwConfig(t, c, fmt.Sprintf(`output "remote_write" "vm" {
  urls              = [%q]
  concurrency       = 1
  max_batch_samples = 5
  linger            = "5ms"
}
route {
  match    = ["crit.**"]
  outputs  = ["vm"]
  priority = "critical"
}
route {
  outputs  = ["vm"]
  priority = "best_effort"
}
shedding {
  enabled  = true
  max_lag  = "2s"
  for      = "2s"
  interval = "1s"
}`, vm.writeURL()))
	p, reg, _ := startRecorded(t, cfg)
	base := time.Now().Add(-time.Minute).UnixMilli()
	round := 0
	produce := func(rounds int) {
		lines := make([]string, 0, rounds*(critical+bestEffort))
		for r := 0; r < rounds; r++ {
			ts := base + int64(round)
			for s := 0; s < critical; s++ {
				lines = append(lines, fmt.Sprintf("put crit.m %d %d host=c%d", ts, round, s))
			}
			for s := 0; s < bestEffort; s++ {
				lines = append(lines, fmt.Sprintf("put be.m %d %d host=b%d", ts, round, s))
			}
			round++
		}
		c.Produce(t, rwIn, lines, 1000)
	}
	shedAt, factors := time.Time{}, []string{}
	watch := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			f := p.ShedFactors()
			if f[shed.BestEffort] < 1 && shedAt.IsZero() {
				shedAt = time.Now()
			}
			if len(factors) == 0 || factors[len(factors)-1] != fmt.Sprintf("%.3f", f[shed.BestEffort]) {
				factors = append(factors, fmt.Sprintf("%.3f", f[shed.BestEffort]))
			}
		}
	}
	// Steady: 2 rounds (400 datapoints) a second, far below what the output takes.
	for i := 0; i < 3; i++ {
		produce(2)
		watch(time.Second)
	}
	if !shedAt.IsZero() {
		t.Fatalf("shed before the surge: factors %v", factors)
	}
	// The surge: 200 rounds (40,000 datapoints) a second for 15 s.
	surgeStart := time.Now()
	for time.Since(surgeStart) < 15*time.Second {
		produce(20)
		watch(100 * time.Millisecond)
	}
	surgeEnd := time.Now()
	if shedAt.IsZero() {
		t.Fatalf("no shedding during the surge (factors %v); the output kept up with %d datapoints a second?", factors, 200*(critical+bestEffort))
	}
	if since := shedAt.Sub(surgeStart); since < 2*time.Second {
		t.Fatalf("shedding started %s into the surge, before max_lag for `for` could be over", since)
	}
	// After it: steady again until shedding is off; it must be off within two intervals of the
	// pipeline catching up (freshness below half of max_lag).
	caughtUp := time.Time{}
	kafkatest.WaitFor(t, 2*time.Minute, "shedding off after the surge", func() bool {
		produce(1)
		watch(500 * time.Millisecond)
		if caughtUp.IsZero() && p.Freshness() < time.Second && p.Lag() == 0 {
			caughtUp = time.Now()
		}
		return p.ShedFactors()[shed.BestEffort] == 1
	})
	off := time.Now()
	if !caughtUp.IsZero() && off.Sub(caughtUp) > 3*time.Second {
		t.Fatalf("shedding off %s after catching up, more than two 1 s intervals (and a poll) (factors %v)", off.Sub(caughtUp), factors)
	}
	t.Logf("surge %s; shedding from %s into it; off %s after it; best_effort factors %v",
		surgeEnd.Sub(surgeStart).Round(time.Second), shedAt.Sub(surgeStart).Round(100*time.Millisecond), off.Sub(surgeEnd).Round(100*time.Millisecond), factors)
	total := round
	kafkatest.WaitFor(t, 2*time.Minute, "every datapoint written or shed", func() bool {
		s := p.Stats()
		return s.DatapointsOut+s.Dropped.Total() >= int64(total*(critical+bestEffort))
	})
	stopClean(t, p)

	got := vm.exportVM(t, `{__name__=~"crit.m|be.m"}`)
	lost := 0
	shedSeries := 0
	for s := 0; s < critical; s++ {
		lost += total - len(got[seriesKey(map[string]string{"__name__": "crit.m", "host": fmt.Sprint("c", s)})])
	}
	if lost != 0 {
		t.Fatalf("%d critical datapoints lost", lost)
	}
	// Whole series: the batches of one moment decide by one threshold over the series' hashes, so
	// the best_effort series present in any round form a prefix of one order of the series, and
	// the sets of all rounds are nested. A sampled series (some datapoints kept, some not, at
	// random) breaks the chain.
	present := make([]map[int]bool, total)
	for r := range present {
		present[r] = map[int]bool{}
	}
	for s := 0; s < bestEffort; s++ {
		pts := got[seriesKey(map[string]string{"__name__": "be.m", "host": fmt.Sprint("b", s)})]
		if len(pts) < total {
			shedSeries++
		}
		for ts := range pts {
			present[ts-base][s] = true
		}
	}
	sort.Slice(present, func(i, j int) bool { return len(present[i]) < len(present[j]) })
	for r := 1; r < len(present); r++ {
		for s := range present[r-1] {
			if !present[r][s] {
				t.Fatalf("a round kept best_effort series b%d without keeping all of a round with %d more series: not shed by series", s, len(present[r])-len(present[r-1]))
			}
		}
	}
	if shedSeries == 0 {
		t.Fatal("no best_effort series lost a datapoint, yet shedding was on")
	}
	if n := metric(t, reg, "sluice_shed_total", map[string]string{"route": "1", "class": "best_effort"}); n == 0 {
		t.Fatal("sluice_shed_total for the best_effort route is 0")
	}
	if n := metric(t, reg, "sluice_shed_total", map[string]string{"route": "0", "class": "critical"}); n != 0 {
		t.Fatalf("sluice_shed_total for the critical route is %g", n)
	}
	t.Logf("%d of %d best_effort series shed (whole), 0 critical datapoints lost", shedSeries, bestEffort)
}
