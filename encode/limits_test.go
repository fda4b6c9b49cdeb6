package encode

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/limits"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/shed"
)

func testLimits(t testing.TB, budgets ...*config.Budget) *limits.Set {
	t.Helper()
	for _, b := range budgets {
		b.MaxValues = config.DefaultBudgetValues
	}
	s, err := limits.New(&config.Limits{Window: time.Hour, Budgets: budgets}, hclog.NewNullLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seriesOf maps each encoded series ("name{...}") to its samples' values.
func seriesOf(t *testing.T, e *testEnc, b *messages.RawBatch, now int64) map[string][]float64 {
	return decodeSeries(t, e, b, now)
}

// TestBatchEncoderBudgets: a budget caps its metrics' series and leaves other metrics alone; the
// series it admitted keep every datapoint in the next batches, the ones it dropped lose all of
// theirs, and the drops are counted by reason and by budget.
func TestBatchEncoderBudgets(t *testing.T) {
	e := testEncoder(t)
	set := testLimits(t, &config.Budget{Name: "cpu1", Match: []string{"sys.cpu.1"}, MaxSeries: 10})
	e.Limit(set, nil, nil)
	now := time.Now().UnixMilli()
	kept := map[string]int{}
	var other int
	for batch := 0; batch < 3; batch++ {
		var lines strings.Builder
		for s := 0; s < 40; s++ { // 40 series of sys.cpu.1, 40 of sys.cpu.2
			for _, m := range []string{"sys.cpu.1", "sys.cpu.2"} {
				fmt.Fprintf(&lines, "put %s %d %d host=h%d\n", m, now/1000-int64(batch), batch, s)
			}
		}
		got := seriesOf(t, e, oneRecord(t, lines.String()), now)
		for k, v := range got {
			if strings.Contains(k, `"sys.cpu.1"`) {
				kept[k] += len(v)
			} else {
				other += len(v)
			}
		}
		if e.drops[messages.ReasonCardinality] != 30 {
			t.Fatalf("batch %d: %d cardinality drops, want 30", batch, e.drops[messages.ReasonCardinality])
		}
	}
	if len(kept) != 10 || other != 120 {
		t.Fatalf("kept %d series of sys.cpu.1 (want 10) and %d datapoints of sys.cpu.2 (want 120)", len(kept), other)
	}
	for k, n := range kept {
		if n != 3 {
			t.Fatalf("admitted series %s has %d of its 3 datapoints", k, n)
		}
	}
	if _, dropped := set.Usage(); dropped["cpu1"] != 90 {
		t.Fatalf("budget cpu1 counted %d dropped datapoints, want 90", dropped["cpu1"])
	}
}

// TestBatchEncoderSheds: with best_effort kept at half, about half its series are shed, each
// whole; critical routes lose nothing; offered and shed datapoints are counted.
func TestBatchEncoderSheds(t *testing.T) {
	e := testEncoder(t)
	routes := []*config.Route{{Match: []string{"crit.*"}, Outputs: []string{"o0"}}, {Outputs: []string{"o0"}}}
	e.topo = testLayout(t, 1, routes, 4)
	st := shed.NewState(2)
	classes := []shed.Class{shed.Critical, shed.BestEffort}
	cfg := config.Shedding{Enabled: true, MaxLag: time.Second, Interval: time.Second}
	ctl := shed.NewController(cfg, st)
	e.Limit(nil, st, classes)
	now := time.Now().UnixMilli()
	batch := func(ts int64) *messages.RawBatch {
		var lines strings.Builder
		for s := 0; s < 200; s++ {
			fmt.Fprintf(&lines, "put crit.x %d 1 host=h%d\nput be.x %d 1 host=h%d\n", ts, s, ts, s)
		}
		return oneRecord(t, lines.String())
	}
	at := time.Unix(1_700_000_000, 0)
	ctl.Step(shed.Observation{At: at})
	seriesOf(t, e, batch(now/1000), now) // offers 200 datapoints of each class
	// A 2× overload, behind: keep half of all datapoints, which is shedding all of best_effort's
	// (half of what was offered).
	ctl.Step(shed.Observation{At: at.Add(time.Second), Freshness: 5 * time.Second, Consumed: 1000, Lag: 1000})
	if f := st.Factor(shed.BestEffort); f != 0 {
		t.Fatalf("best_effort factor %g, want 0", f)
	}
	got := seriesOf(t, e, batch(now/1000-1), now)
	crit, be := 0, 0
	for k := range got {
		if strings.Contains(k, `"crit.x"`) {
			crit++
		} else {
			be++
		}
	}
	if crit != 200 || be != 0 {
		t.Fatalf("critical %d series (want 200), best_effort %d (want 0)", crit, be)
	}
	if e.drops[messages.ReasonShed] != 200 {
		t.Fatalf("%d shed, want 200", e.drops[messages.ReasonShed])
	}
	byRoute, byClass := st.Shed()
	if byRoute[1] != 200 || byClass[shed.BestEffort] != 200 || byRoute[0] != 0 {
		t.Fatalf("shed by route %v, by class %v", byRoute, byClass)
	}
}

// TestBatchEncoderShedsWholeSeries: at a keep fraction of one half, each series is kept or shed
// in every batch alike, and about half of them are kept.
func TestBatchEncoderShedsWholeSeries(t *testing.T) {
	e := testEncoder(t)
	st := shed.NewState(1)
	ctl := shed.NewController(config.Shedding{Enabled: true, MaxLag: time.Second, Interval: time.Second}, st)
	at := time.Unix(1_700_000_000, 0)
	ctl.Step(shed.Observation{At: at})
	st.Add(&[shed.NumClasses]int64{0, 100, 0}, nil, nil)                                                       // an interval offering only normal datapoints
	ctl.Step(shed.Observation{At: at.Add(time.Second), Freshness: 5 * time.Second, Consumed: 1000, Lag: 1000}) // keep 1/2 of normal
	if f := st.Factor(shed.Normal); math.Abs(f-0.5) > 1e-9 {
		t.Fatalf("normal factor %g, want 0.5", f)
	}
	e.Limit(nil, st, []shed.Class{shed.Normal})
	now := time.Now().UnixMilli()
	counts := map[string]int{}
	for batch := 0; batch < 4; batch++ {
		var lines strings.Builder
		for s := 0; s < 1000; s++ {
			fmt.Fprintf(&lines, "put m.x %d 1 host=h%d\n", now/1000-int64(batch), s)
		}
		for k, v := range seriesOf(t, e, oneRecord(t, lines.String()), now) {
			counts[k] += len(v)
		}
	}
	for k, n := range counts {
		if n != 4 {
			t.Fatalf("series %s kept in %d of 4 batches", k, n)
		}
	}
	if len(counts) < 430 || len(counts) > 570 {
		t.Fatalf("%d of 1000 series kept at a factor of 0.5", len(counts))
	}
}

// TestBatchEncoderLimitsAllocateNothing: budgets and shedding keep the hot path free of
// allocations.
func TestBatchEncoderLimitsAllocateNothing(t *testing.T) {
	b, _ := testBatch(t, 20, 100)
	e := limitedEncoder(t)
	pool := messages.NewShardBatchPool(64, 64<<10)
	now := time.Now().UnixMilli()
	release := func(_ int, sb *messages.ShardBatch) { sb.Release() }
	encodeAll(e, pool, b, now, release)
	if n := testing.AllocsPerRun(20, func() { encodeAll(e, pool, b, now, release) }); n != 0 {
		t.Fatalf("encoding with budgets and shedding allocates %.1f times a batch; want 0", n)
	}
}

// limitedEncoder is testEncoder with two budgets (one per tag value) over every metric, and
// shedding keeping half of normal's series.
func limitedEncoder(t testing.TB) *testEnc { return encoderWith(t, true, 0.5) }

// encoderWith is testEncoder with two budgets over every metric (one per tag value) when
// budgets, and shedding keeping the fraction keep of normal's series when keep < 1.
func encoderWith(t testing.TB, budgets bool, keep float64) *testEnc {
	e := testEncoder(t)
	var set *limits.Set
	if budgets {
		set = testLimits(t, &config.Budget{Name: "all", MaxSeries: 1 << 20}, &config.Budget{Name: "by-dc", PerTag: "dc", MaxSeries: 1 << 20})
	}
	var st *shed.State
	if keep < 1 {
		st = shed.NewState(1)
		ctl := shed.NewController(config.Shedding{Enabled: true, MaxLag: time.Second, Interval: time.Second}, st)
		at := time.Unix(1_700_000_000, 0)
		ctl.Step(shed.Observation{At: at})
		st.Add(&[shed.NumClasses]int64{0, 100, 0}, nil, nil) // an interval offering only normal datapoints
		// Consumed 1000 while the lag grew by 1000/keep - 1000: capacity/demand = keep.
		ctl.Step(shed.Observation{At: at.Add(time.Second), Freshness: 5 * time.Second, Consumed: 1000, Lag: int64(1000/keep) - 1000})
	}
	e.Limit(set, st, []shed.Class{shed.Normal})
	return e
}

// BenchmarkBatchEncoderLimits is BenchmarkBatchEncoder's 14k-line batch over 10k series with
// neither budgets nor shedding, with two budgets (every series judged by both), with shedding
// keeping 99 % of the series (each datapoint's series checked), and with both, shedding half.
func BenchmarkBatchEncoderLimits(b *testing.B) {
	for _, c := range []struct {
		name    string
		budgets bool
		keep    float64
	}{{"off", false, 1}, {"budgets", true, 1}, {"shedding-keep-99%", false, 0.99}, {"budgets+shedding-keep-50%", true, 0.5}} {
		b.Run(c.name, func(b *testing.B) {
			raw, valid := testBatchSeries(b, 140, 100, 10000)
			e := encoderWith(b, c.budgets, c.keep)
			pool := messages.NewShardBatchPool(256, 64<<10)
			now := time.Now().UnixMilli()
			release := func(_ int, sb *messages.ShardBatch) { sb.Release() }
			encodeAll(e, pool, raw, now, release) // the budgets admit every series once
			b.SetBytes(int64(raw.Bytes()))
			b.ReportAllocs()
			for b.Loop() {
				encodeAll(e, pool, raw, now, release)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*valid), "ns/datapoint")
		})
	}
}
