package aggregate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// record is one record of an aggregation-topic partition: a sample, or a watermark tick.
type record struct {
	tick   bool
	input  []Label
	ts     int64
	value  float64
	offset int64
}

// randomLog is n records of a few series: timestamps that mostly move forward with jitter within
// the lateness, some far behind (late), repeats of earlier samples (at-least-once redelivery) and
// ticks.
func randomLog(rng *rand.Rand, n int) []record {
	var log []record
	now := int64(1_800_000_000_000)
	for i := range n {
		var r record
		switch k := rng.IntN(20); {
		case k == 0 && len(log) > 0: // a redelivered sample
			r = log[rng.IntN(len(log))]
		case k == 1:
			r = record{tick: true, ts: now}
		default:
			ts := now - int64(rng.IntN(20_000)) // within the lateness, out of order
			if k == 2 {
				ts = now - 5*60_000 // far behind: late
			}
			pod := fmt.Sprintf("p%d", rng.IntN(4))
			if k == 3 { // a series seen now and then: new, stale, back
				pod = fmt.Sprintf("rare%d", rng.IntN(3))
			}
			r = record{input: []Label{{"__name__", fmt.Sprintf("m%d", rng.IntN(2))}, {"pod", pod}, {"job", fmt.Sprintf("j%d", rng.IntN(2))}},
				ts: ts, value: float64(rng.IntN(1000))}
		}
		r.offset = int64(i)
		log = append(log, r)
		now += int64(rng.IntN(3_000))
	}
	return log
}

type emitted map[string]float64

// run feeds log[from:] to p and records what it emits (window end, series, output) → value,
// failing on a window series emitted twice with different values within what is given.
func run(t *testing.T, p *Partition, log []record, from, to int, out emitted, commit func(next int64)) {
	t.Helper()
	emit := func(end int64, name string, labels []Label, v float64) {
		k := fmt.Sprint(end, name, labels)
		if old, ok := out[k]; ok && old != v {
			t.Fatalf("%s emitted as %g and as %g", k, old, v)
		}
		out[k] = v
	}
	for i := from; i < to; i++ {
		r := log[i]
		if r.tick {
			p.Tick(r.ts, emit)
		} else {
			p.Add(r.offset, r.input, r.ts, r.value, emit)
		}
		if commit != nil {
			commit(r.offset + 1)
		}
	}
}

// TestPartitionReplayIsExact: a partition killed at any point and restarted from its last commit
// (the checkpoint's offset and watermark) emits, for every window and output series, the value an
// uninterrupted run emits, and no window the uninterrupted run does not close; a window emitted
// before the commit is not emitted again.
func TestPartitionReplayIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	all := []string{SumSamples, CountSamples, CountSeries, Min, Max, Avg, Last, Increase, Total, RateSum, RateAvg,
		HistogramBucket, "quantiles(0, 0.5, 0.99, 1)"}
	for round := range 100 {
		spec, err := NewSpec("10s", nil, []string{"pod"}, all)
		if err != nil {
			t.Fatal(err)
		}
		lateness := int64(5_000 + rng.IntN(25_000))
		log := randomLog(rng, 400+rng.IntN(400))
		start := Checkpoint{Offset: 0, MaxTs: NoCheckpoint}

		// Every other round bounds the output series per window: what the bound drops must be
		// dropped the same way on replay.
		maxSeries := 0
		if round%2 == 1 {
			maxSeries = 1 + rng.IntN(3)
		}
		want := emitted{}
		straight := NewPartition(spec, lateness, start)
		straight.MaxSeries = maxSeries
		run(t, straight, log, 0, len(log), want, nil)
		if maxSeries > 0 && straight.Dropped == 0 {
			t.Fatalf("round %d: max_series %d dropped nothing: the log tests little", round, maxSeries)
		}
		if len(want) == 0 || straight.Late == 0 {
			t.Fatalf("round %d: %d series emitted, %d late: the log tests little", round, len(want), straight.Late)
		}

		// Commits every few records, as the acknowledgements come; a crash at a random record.
		got := emitted{}
		p := NewPartition(spec, lateness, start)
		p.MaxSeries = maxSeries
		cp := start
		var emittedAtCommit emitted
		every := 1 + rng.IntN(50)
		crash := rng.IntN(len(log))
		n := 0
		run(t, p, log, 0, crash, got, func(next int64) {
			if n++; n%every == 0 {
				cp, emittedAtCommit = p.Checkpoint(next), clone(got)
			}
		})
		again := emitted{}
		q := NewPartition(spec, lateness, cp)
		q.MaxSeries = maxSeries
		run(t, q, log, int(cp.Offset), len(log), again, nil)
		for k, v := range again {
			if _, ok := emittedAtCommit[k]; ok {
				t.Fatalf("round %d: %s, emitted before the commit, emitted again after the restart", round, k)
			}
			if old, ok := got[k]; ok && old != v {
				t.Fatalf("round %d: %s emitted %g before the crash at %d and %g after the restart from %d", round, k, old, crash, v, cp.Offset)
			}
			got[k] = v
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Fatalf("round %d (crash at %d, restart from %d): %s = %v (emitted: %v), want %g", round, crash, cp.Offset, k, g, ok, v)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d window series emitted across the crash, %d without it", round, len(got), len(want))
		}
	}
}

func clone(e emitted) emitted {
	out := emitted{}
	for k, v := range e {
		out[k] = v
	}
	return out
}

// TestPartitionWindows: windows close at the watermark (newest timestamp minus the lateness),
// are stamped with their end, and a sample for a closed window is late.
func TestPartitionWindows(t *testing.T) {
	spec, err := NewSpec("10s", nil, nil, []string{SumSamples})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPartition(spec, (5 * time.Second).Milliseconds(), Checkpoint{MaxTs: NoCheckpoint})
	var out []string
	emit := func(end int64, name string, _ []Label, v float64) {
		out = append(out, fmt.Sprint(end, " ", name, " ", v))
	}
	m := []Label{{"__name__", "m"}}
	p.Add(0, m, 1_000, 1, emit)
	p.Add(1, m, 9_000, 2, emit)
	p.Add(2, m, 12_000, 4, emit)  // window 20000 opens; the watermark 7000 closes nothing
	p.Add(3, m, 3_000, 8, emit)   // still window 10000
	p.Add(4, m, 15_000, 16, emit) // watermark 10000: window 10000 closes
	p.Add(5, m, 4_000, 32, emit)  // late
	p.Tick(25_000, emit)          // watermark 20000: window 20000 closes
	want := []string{"10000 m:10s_sum_samples 11", "20000 m:10s_sum_samples 20"}
	if fmt.Sprint(out) != fmt.Sprint(want) || p.Late != 1 || p.Open() != 0 {
		t.Fatalf("emitted %q, late %d, open %d; want %q, 1 late, none open", out, p.Late, p.Open(), want)
	}
	// No window is open, but series m's next sample could still land in one: its last sample
	// (offset 4; the late one at 5 was out of order) is where a replay starts.
	if cp := p.Checkpoint(6); cp.Offset != 4 || cp.MaxTs != 25_000 || cp.Since != 1_000 || cp.Totals != nil {
		t.Fatalf("checkpoint %+v with no window open", cp)
	}
	p.Tick(25_000+20_000+5_000+10_001, emit) // past staleness, lateness and a window: m is forgotten
	if cp := p.Checkpoint(6); cp.Offset != 6 {
		t.Fatalf("checkpoint %+v once no series can matter", cp)
	}
}

// TestPartitionIncrease: a counter's increase per window, as vmagent's increase: deltas between
// a series' samples, a reset counting the new value, an out-of-order sample skipped, a repeat
// adding nothing; a series new (or back after the staleness interval) counts its value from 0,
// except within the staleness interval after the partition's first sample, whose previous
// values are unknown.
func TestPartitionIncrease(t *testing.T) {
	spec, err := NewSpec("10s", nil, nil, []string{Increase})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPartition(spec, 0, Checkpoint{MaxTs: NoCheckpoint})
	got := map[int64]float64{}
	emit := func(end int64, _ string, labels []Label, v float64) { got[end] += v }
	a, b := []Label{{"__name__", "c"}, {"s", "a"}}, []Label{{"__name__", "c"}, {"s", "b"}}
	add := func(off int64, in []Label, ts int64, v float64) { p.Add(off, in, ts, v, emit) }
	add(0, a, 1_000, 100) // the partition's first sample: a's previous values unknown, 0
	add(1, a, 5_000, 110) // +10
	add(2, a, 4_000, 999) // out of order: skipped
	add(3, a, 5_000, 110) // a repeat: +0
	add(4, b, 8_000, 7)   // new within the first staleness interval (20 s): 0
	add(5, a, 12_000, 3)  // a reset: +3
	add(6, b, 25_000, 9)  // +2 (17 s after b's last sample)
	add(7, a, 35_000, 5)  // new again: a's last sample (12 s) is past the staleness interval: +5
	p.Tick(100_000, emit)
	want := map[int64]float64{10_000: 10, 20_000: 3, 30_000: 2, 40_000: 5}
	for end, v := range want {
		if got[end] != v {
			t.Errorf("window %d: increase %g, want %g (all: %v)", end, got[end], v, got)
		}
	}
}

// TestPartitionTotal: total is the running sum of the increases, emitted at every window end
// while the output series lives, samples or not, and it starts again from 0 once the series was
// silent for the staleness interval.
func TestPartitionTotal(t *testing.T) {
	spec, err := NewSpec("10s", nil, nil, []string{Total})
	if err != nil {
		t.Fatal(err)
	}
	// Long past the partition's first staleness interval: first samples count from 0.
	p := NewPartition(spec, 0, Checkpoint{MaxTs: 0, Since: -1_000_000})
	var got []string
	emit := func(end int64, name string, _ []Label, v float64) { got = append(got, fmt.Sprint(end, " ", v)) }
	a := []Label{{"__name__", "c"}}
	p.Add(0, a, 1_000, 5, emit)  // +5
	p.Add(1, a, 12_000, 8, emit) // +3
	p.Add(2, a, 41_000, 2, emit) // 29 s after the last sample: new again, +2
	p.Add(3, a, 43_000, 6, emit) // +4
	p.Tick(100_000, emit)
	// 40000: 28 s after the last sample, the total ended; 70000 likewise after 43 s.
	want := []string{"10000 5", "20000 8", "30000 8", "50000 6", "60000 6"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("totals %v, want %v", got, want)
	}
}
