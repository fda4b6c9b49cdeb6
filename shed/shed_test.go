package shed

import (
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

// sim drives a controller with a pipeline that consumes capacity records a second while
// producers write demand, offering datapoints per class in the shares given.
type sim struct {
	t        *testing.T
	ctl      *Controller
	st       *State
	now      time.Time
	consumed int64
	lag      int64
	shares   [NumClasses]int64
}

func newSim(t *testing.T, shares [NumClasses]int64) *sim {
	st := NewState(3)
	cfg := config.Shedding{Enabled: true, MaxLag: 10 * time.Second, For: 2 * time.Second, Interval: time.Second}
	s := &sim{t: t, ctl: NewController(cfg, st), st: st, now: time.Unix(1_700_000_000, 0), shares: shares}
	s.ctl.Step(Observation{At: s.now})
	return s
}

// step runs one second: freshness as given, capacity and demand in records a second. The
// datapoints offered per class are the shares times the records consumed.
func (s *sim) step(freshness time.Duration, capacity, demand int64) [NumClasses]float64 {
	s.now = s.now.Add(time.Second)
	s.consumed += capacity
	s.lag += demand - capacity
	var offered [NumClasses]int64
	for c := range offered {
		offered[c] = s.shares[c] * capacity
	}
	s.st.Add(&offered, nil, nil)
	_, f := s.ctl.Step(Observation{At: s.now, Freshness: freshness, Consumed: s.consumed, Lag: s.lag})
	return f
}

// TestShedsBestEffortFirst: a sustained 3× overload sheds nothing before `for`, then best_effort
// (of half the datapoints) first and wholly before normal, never critical; on recovery the
// factors return to 1 within two intervals, and in the band between half and all of max_lag
// they hold.
func TestShedsBestEffortFirst(t *testing.T) {
	s := newSim(t, [NumClasses]int64{1, 4, 5}) // critical 10 %, normal 40 %, best_effort 50 %
	f := s.step(20*time.Second, 1000, 3000)
	if f != [NumClasses]float64{1, 1, 1} {
		t.Fatalf("shed before being behind for `for`: %v", f)
	}
	s.step(20*time.Second, 1000, 3000)
	f = s.step(20*time.Second, 1000, 3000) // behind for 2 s: kept = 1/3, so 2/3 of all shed
	if f[Critical] != 1 || f[BestEffort] != 0 || math.Abs(f[Normal]-(1-(2.0/3-0.5)/0.4)) > 1e-6 {
		t.Fatalf("after 2 s at 3×: factors %v; want critical 1, best_effort 0, normal %.3f", f, 1-(2.0/3-0.5)/0.4)
	}
	// Keeping up now (capacity = demand) while the backlog drains: hold.
	held := s.step(15*time.Second, 3000, 3000)
	if held != f {
		t.Fatalf("factors moved while draining: %v, were %v", held, f)
	}
	// Between half and all of max_lag: hold.
	if g := s.step(7*time.Second, 3000, 3000); g != f {
		t.Fatalf("factors moved in the hysteresis band: %v, were %v", g, f)
	}
	// Caught up while the surge lasts (producers still write 3× what it took unshed): hold, or
	// it would flap.
	for i := 0; i < 3; i++ {
		if g := s.step(time.Second, 3000, 3000); g != f {
			t.Fatalf("factors moved while caught up during the surge: %v, were %v", g, f)
		}
	}
	// The surge is over: back to 1 within two intervals.
	s.step(time.Second, 500, 500)
	if g := s.step(time.Second, 500, 500); g != [NumClasses]float64{1, 1, 1} {
		t.Fatalf("two intervals after the surge: factors %v", g)
	}
}

// TestGivesBackAfterAWhile: caught up for long with producers as fast as ever, shedding gives
// series back anyway (the capacity it measured may have been wrong).
func TestGivesBackAfterAWhile(t *testing.T) {
	s := newSim(t, [NumClasses]int64{0, 1, 1})
	for i := 0; i < 3; i++ {
		s.step(20*time.Second, 1000, 2000)
	}
	var f [NumClasses]float64
	for i := 0; i < giveBackAfter+1; i++ {
		f = s.step(time.Second, 2000, 2000)
	}
	if f[BestEffort] == 0 {
		t.Fatalf("still shedding everything after %d caught-up intervals: %v", giveBackAfter+1, f)
	}
}

// TestShedsOnlyWhatIsNeeded: a 1.25× overload sheds a fifth of the datapoints, all from
// best_effort; a controller that is off sheds nothing.
func TestShedsOnlyWhatIsNeeded(t *testing.T) {
	s := newSim(t, [NumClasses]int64{0, 1, 1})
	var f [NumClasses]float64
	for i := 0; i < 3; i++ {
		f = s.step(20*time.Second, 1000, 1250)
	}
	if f[Normal] != 1 || math.Abs(f[BestEffort]-0.6) > 1e-6 { // 20 % of all = 40 % of best_effort
		t.Fatalf("factors %v, want normal 1, best_effort 0.6", f)
	}
	s.ctl.Configure(config.Shedding{Enabled: false, MaxLag: time.Second, Interval: time.Second})
	if g := s.step(20*time.Second, 1000, 1250); g != [NumClasses]float64{1, 1, 1} {
		t.Fatalf("shedding turned off: factors %v", g)
	}
}

func TestClassOf(t *testing.T) {
	for p, c := range map[string]Class{"critical": Critical, "normal": Normal, "best_effort": BestEffort, "": Normal} {
		if ClassOf(p) != c {
			t.Fatalf("ClassOf(%q) = %v", p, ClassOf(p))
		}
	}
}
