package placement

import (
	"fmt"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/config"
)

func pk(p int32) Key { return Key{Topic: "in", Partition: p} }

// loadsOf builds the loads of partitions in/0.. from their values.
func loadsOf(vals ...float64) []Load {
	out := make([]Load, len(vals))
	for i, v := range vals {
		out[i] = Load{Key: pk(int32(i)), Load: v}
	}
	return out
}

// workerLoads sums what each worker carries under r (a spread partition's load is split evenly).
func workerLoads(r Assignment, loads []Load, workers int) []float64 {
	out := make([]float64, workers)
	for _, l := range loads {
		ws := r[l.Key]
		for _, w := range ws {
			out[w] += l.Load / float64(len(ws))
		}
	}
	return out
}

func TestComputeRoutes(t *testing.T) {
	f := func(name string, prev Assignment, loads []Load, p Params, check func(t *testing.T, r Assignment)) {
		t.Run(name, func(t *testing.T) {
			r := Compute(prev, loads, p)
			if len(r) != len(loads) {
				t.Fatalf("%d routes for %d partitions: %v", len(r), len(loads), r)
			}
			for _, l := range loads {
				ws := r[l.Key]
				if len(ws) == 0 || len(ws) > max(p.MaxSpread, 1) || !slices.IsSorted(ws) {
					t.Fatalf("partition %v routed to %v", l.Key, ws)
				}
				for i, w := range ws {
					if w < 0 || w >= p.Workers || (i > 0 && ws[i-1] == w) {
						t.Fatalf("partition %v routed to %v (workers %d)", l.Key, ws, p.Workers)
					}
				}
			}
			check(t, r)
			// The same inputs give the same table: no flapping when nothing changed.
			if again := Compute(r, loads, p); len(Diff(r, again, loads)) != 0 {
				t.Fatalf("recomputing with unchanged loads moved partitions: %v", Diff(r, again, loads))
			}
		})
	}
	two := Params{Workers: 2, HotFactor: 1.5, MaxSpread: 8}
	four := Params{Workers: 4, HotFactor: 1.5, MaxSpread: 8}
	spreadOf := func(r Assignment) (n int) {
		for _, ws := range r {
			if len(ws) > 1 {
				n++
			}
		}
		return n
	}

	uniform := loadsOf(1, 1, 1, 1, 1, 1, 1, 1)
	f("uniform: pinned, even", nil, uniform, two, func(t *testing.T, r Assignment) {
		if n := spreadOf(r); n != 0 {
			t.Fatalf("%d partitions spread under uniform load", n)
		}
		if ib := Imbalance(workerLoads(r, uniform, 2)); ib != 1 {
			t.Fatalf("imbalance %.2f, want 1", ib)
		}
	})

	// One partition carries 60 % over 8 partitions, 2 workers: fair share 0.5, so 0.6 is 1.2×.
	hot := loadsOf(0.6, 0.4/7, 0.4/7, 0.4/7, 0.4/7, 0.4/7, 0.4/7, 0.4/7)
	f("one hot partition below hot_factor: pinned, alone", nil, hot, two, func(t *testing.T, r Assignment) {
		if n := spreadOf(r); n != 0 {
			t.Fatalf("%d spread", n)
		}
		w := r[pk(0)][0]
		for p := int32(1); p < 8; p++ {
			if r[pk(p)][0] == w {
				t.Fatalf("cold partition %d shares the hot partition's worker: %v", p, r)
			}
		}
	})
	f("one hot partition above hot_factor: spread over ⌈0.6/0.5⌉ = 2", nil, hot,
		Params{Workers: 2, HotFactor: 1.1, MaxSpread: 8}, func(t *testing.T, r Assignment) {
			if got := r[pk(0)]; !slices.Equal(got, []int{0, 1}) {
				t.Fatalf("hot partition on %v, want [0 1]", got)
			}
			if ib := Imbalance(workerLoads(r, hot, 2)); ib > 1.1 {
				t.Fatalf("imbalance %.3f", ib)
			}
		})

	// Two partitions at 0.4 each and six small ones, 4 workers: fair 0.25, threshold 0.375.
	many := loadsOf(0.4, 0.4, 0.2/6, 0.2/6, 0.2/6, 0.2/6, 0.2/6, 0.2/6)
	f("many hot: each spread over 2 disjoint workers", nil, many, four, func(t *testing.T, r Assignment) {
		a, b := r[pk(0)], r[pk(1)]
		if len(a) != 2 || len(b) != 2 {
			t.Fatalf("hot partitions on %v and %v", a, b)
		}
		for _, w := range a {
			if slices.Contains(b, w) {
				t.Fatalf("hot partitions share worker %d: %v %v", w, a, b)
			}
		}
		if ib := Imbalance(workerLoads(r, many, 4)); ib > 1.15 {
			t.Fatalf("imbalance %.3f", ib)
		}
	})
	f("max_spread caps the spread", nil, loadsOf(1, 0.01), Params{Workers: 4, HotFactor: 1.5, MaxSpread: 2},
		func(t *testing.T, r Assignment) {
			if len(r[pk(0)]) != 2 {
				t.Fatalf("spread over %v with max_spread 2", r[pk(0)])
			}
		})

	few := loadsOf(1, 1)
	f("workers > partitions: every worker used", nil, few, four, func(t *testing.T, r Assignment) {
		used := map[int]bool{}
		for _, ws := range r {
			for _, w := range ws {
				used[w] = true
			}
		}
		if len(used) != 4 {
			t.Fatalf("workers used: %v (routes %v)", used, r)
		}
	})

	f("no load measured yet: spread by count", nil, loadsOf(0, 0, 0, 0, 0, 0), four, func(t *testing.T, r Assignment) {
		per := make([]int, 4)
		for _, ws := range r {
			per[ws[0]]++
		}
		for w, n := range per {
			if n < 1 || n > 2 {
				t.Fatalf("worker %d has %d partitions: %v", w, n, r)
			}
		}
	})

	// Partitions 0-3 were on workers; now 2-5 are claimed (a rebalance).
	prev := Assignment{pk(0): {0}, pk(1): {1}, pk(2): {0}, pk(3): {1}}
	moved := []Load{{pk(2), 1}, {pk(3), 1}, {pk(4), 1}, {pk(5), 1}}
	f("partitions appear and disappear: survivors stay, newcomers fill", prev, moved, two, func(t *testing.T, r Assignment) {
		if _, ok := r[pk(0)]; ok {
			t.Fatal("a released partition is still routed")
		}
		if r[pk(2)][0] != 0 || r[pk(3)][0] != 1 {
			t.Fatalf("claimed partitions moved: %v", r)
		}
		if r[pk(4)][0] == r[pk(5)][0] {
			t.Fatalf("both new partitions on one worker: %v", r)
		}
	})

	f("one worker: everything on it", nil, hot, Params{Workers: 1, HotFactor: 1.5, MaxSpread: 8}, func(t *testing.T, r Assignment) {
		for k, ws := range r {
			if !slices.Equal(ws, []int{0}) {
				t.Fatalf("%v on %v", k, ws)
			}
		}
	})
}

// TestComputeRoutesSticky checks that small load changes move nothing, that a pinned partition
// leaves its worker only when keeping it would unbalance, and the hysteresis of spreading.
func TestComputeRoutesSticky(t *testing.T) {
	p := Params{Workers: 2, HotFactor: 1.5, MaxSpread: 8}
	prev := Compute(nil, loadsOf(1, 1, 1, 1), p)
	jitter := loadsOf(1.04, 0.97, 1.02, 0.99)
	if ch := Diff(prev, Compute(prev, jitter, p), jitter); len(ch) != 0 {
		t.Fatalf("5 %% jitter moved partitions: %v", ch)
	}
	// Both of one worker's partitions triple: one of them must move to rebalance.
	w := prev[pk(0)][0]
	var skew []Load
	for i := int32(0); i < 4; i++ {
		l := 1.0
		if prev[pk(i)][0] == w {
			l = 3
		}
		skew = append(skew, Load{pk(i), l})
	}
	next := Compute(prev, skew, p)
	if ib := Imbalance(workerLoads(next, skew, 2)); ib > 1.01 {
		t.Fatalf("after a skew the imbalance is %.2f: %v", ib, next)
	}
	if ch := Diff(prev, next, skew); len(ch) != 2 {
		t.Fatalf("want exactly two moves (one hot-side, one cold-side), got %v", ch)
	}

	// Hysteresis: fair share 0.5, hot_factor 1.5 → threshold 0.75; spread stays down to 0.6.
	spread := Assignment{pk(0): {0, 1}, pk(1): {0}}
	for _, tc := range []struct {
		load       float64
		wantSpread bool
	}{{0.7, true}, {0.62, true}, {0.58, false}} {
		loads := []Load{{pk(0), tc.load}, {pk(1), 1 - tc.load}}
		got := len(Compute(spread, loads, p)[pk(0)]) > 1
		if got != tc.wantSpread {
			t.Errorf("spread partition at %.2f of the load: spread=%v, want %v", tc.load, got, tc.wantSpread)
		}
		pinned := Assignment{pk(0): {0}, pk(1): {1}}
		if len(Compute(pinned, loads, p)[pk(0)]) > 1 {
			t.Errorf("pinned partition at %.2f of the load (below 0.75) was spread", tc.load)
		}
	}
}

func TestRoutingTableWorker(t *testing.T) {
	tb := &Table{Assignment: Assignment{pk(0): {1}, pk(1): {0, 2, 3}}}
	if w, ok := tb.Worker(pk(0), 7); !ok || w != 1 {
		t.Fatalf("pinned: %d %v", w, ok)
	}
	seen := map[int]int{}
	for id := uint64(0); id < 300; id++ {
		w, _ := tb.Worker(pk(1), id)
		seen[w]++
	}
	if fmt.Sprint(seen) != "map[0:100 2:100 3:100]" {
		t.Fatalf("round robin over a spread partition: %v", seen)
	}
	if _, ok := tb.Worker(pk(9), 1); ok {
		t.Fatal("unknown partition reported as routed")
	}
}

// TestDefaultsSpreadAHotPartition: with the default coordinator settings and two workers, one
// partition carrying 60 % of the load (the rest over seven others) is spread, and the workers'
// loads come within 15 % of each other; the old default (1.5) pinned it, leaving 1.2.
func TestDefaultsSpreadAHotPartition(t *testing.T) {
	co := config.Default().Coordinator
	p := Params{Workers: 2, HotFactor: co.HotFactor, MaxSpread: co.MaxSpread}
	loads := loadsOf(0.6, 0.4/7, 0.4/7, 0.4/7, 0.4/7, 0.4/7, 0.4/7, 0.4/7)
	r := Compute(nil, loads, p)
	if len(r[pk(0)]) != 2 {
		t.Fatalf("the 60 %% partition is routed to %v, want both workers", r[pk(0)])
	}
	if got := Imbalance(workerLoads(r, loads, 2)); got > 1.15 {
		t.Fatalf("worker loads %v: imbalance %.2f, want ≤ 1.15", workerLoads(r, loads, 2), got)
	}
	old := Compute(nil, loads, Params{Workers: 2, HotFactor: 1.5, MaxSpread: co.MaxSpread})
	if got := Imbalance(workerLoads(old, loads, 2)); got < 1.15 {
		t.Fatalf("hot_factor 1.5 gives imbalance %.2f: the test no longer tells the defaults apart", got)
	}
}
