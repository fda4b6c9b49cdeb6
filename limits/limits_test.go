package limits

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
)

func newSet(t *testing.T, log hclog.Logger, budgets ...*config.Budget) *Set {
	t.Helper()
	for _, b := range budgets {
		if b.MaxValues == 0 {
			b.MaxValues = config.DefaultBudgetValues
		}
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s, err := New(&config.Limits{Window: time.Minute, Budgets: budgets}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func h(s string) uint64 { return xxhash.Sum64String(s) }

func tags(kv ...string) []messages.Tag {
	var out []messages.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, messages.Tag{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return out
}

// TestBudgetCapsNewSeries: under budget every series is admitted; over it, new series are
// dropped while admitted ones keep flowing; metrics the globs do not match are not counted.
func TestBudgetCapsNewSeries(t *testing.T) {
	s := newSet(t, nil, &config.Budget{Name: "api", Match: []string{"api.**"}, MaxSeries: 100})
	if m := s.Matching([]byte("db.x")); m != 0 {
		t.Fatalf("db.x matches budgets %b", m)
	}
	mask := s.Matching([]byte("api.requests"))
	if mask != 1 {
		t.Fatalf("api.requests matches budgets %b, want 1", mask)
	}
	const epoch = 1000
	for i := 0; i < 100; i++ {
		if got := s.Admit(mask, h(fmt.Sprint("s", i)), nil, epoch); got != -1 {
			t.Fatalf("series %d dropped by budget %d under budget", i, got)
		}
	}
	for i := 100; i < 1000; i++ {
		if got := s.Admit(mask, h(fmt.Sprint("s", i)), nil, epoch); got != 0 {
			t.Fatalf("series %d over budget: %d, want dropped by budget 0", i, got)
		}
	}
	for i := 0; i < 100; i++ { // asked again (another worker, a later batch)
		if got := s.Admit(mask, h(fmt.Sprint("s", i)), nil, epoch); got != -1 {
			t.Fatalf("admitted series %d dropped on its next batch", i)
		}
	}
	u, _ := s.Usage()
	if len(u) != 1 || u[0].Admitted != 100 || u[0].Series != 1000 || !u[0].Dropping {
		t.Fatalf("usage %+v, want 100 admitted of 1000 seen, dropping", u)
	}
}

// TestBudgetNextWindowDecidesByHash: after a window over budget, the next window admits the
// series whose hash is below max/distinct, whichever order they arrive in, so two tasks seeing
// the same series in different orders keep the same ones; a window within budget admits all
// again.
func TestBudgetNextWindowDecidesByHash(t *testing.T) {
	const max, n = 1000, 16000
	a := newSet(t, nil, &config.Budget{Name: "b", MaxSeries: max})
	b := newSet(t, nil, &config.Budget{Name: "b", MaxSeries: max})
	series := make([]uint64, n)
	for i := range series {
		series[i] = h(fmt.Sprint("explode", i))
	}
	for _, x := range series { // window 1, same order: both fill with the first 1000
		a.Admit(1, x, nil, 1)
		b.Admit(1, x, nil, 1)
	}
	keptA, keptB := map[uint64]bool{}, map[uint64]bool{}
	for i := range series { // window 2: a forwards, b backwards
		if a.Admit(1, series[i], nil, 2) == -1 {
			keptA[series[i]] = true
		}
		if x := series[n-1-i]; b.Admit(1, x, nil, 2) == -1 {
			keptB[x] = true
		}
	}
	if len(keptA) != len(keptB) {
		t.Fatalf("the tasks kept %d and %d series", len(keptA), len(keptB))
	}
	for x := range keptA {
		if !keptB[x] {
			t.Fatal("the tasks kept different series in a window decided by hash")
		}
	}
	// max/n = 1/16 is a power of 2^(1/4): about n/16 = 1000 series, every one below the bound.
	if len(keptA) < max*8/10 || len(keptA) > max {
		t.Fatalf("window 2 kept %d series, want close to %d", len(keptA), max)
	}
	bound := uint64(float64(math.MaxUint64) / 16)
	for x := range keptA {
		if x >= bound {
			t.Fatalf("kept a series with hash %x above the bound %x", x, bound)
		}
	}
	// Window 3 sees only 500 series: within budget, so window 4 admits every series again.
	for _, x := range series[:500] {
		a.Admit(1, x, nil, 3)
	}
	for i, x := range series[:max] {
		if a.Admit(1, x, nil, 4) != -1 {
			t.Fatalf("window 4 (after one within budget) dropped series %d", i)
		}
	}
}

// TestBudgetPerTag: a per_tag budget counts each value apart, ignores series without the tag,
// and puts values past max_values in one shared budget.
func TestBudgetPerTag(t *testing.T) {
	s := newSet(t, nil, &config.Budget{Name: "team", PerTag: "team", MaxSeries: 2, MaxValues: 2})
	adm := func(series, team string) bool {
		tg := tags("host", series)
		if team != "" {
			tg = tags("host", series, "team", team)
		}
		return s.Admit(1, h(series+team), tg, 7) == -1
	}
	for _, c := range []struct {
		series, team string
		want         bool
	}{
		{"a", "pay", true}, {"b", "pay", true}, {"c", "pay", false}, // pay is full
		{"a", "search", true}, {"b", "search", true}, {"c", "search", false},
		{"a", "ads", true}, {"b", "web", true}, {"c", "ml", false}, // ads, web, ml share __other__
		{"x", "", true}, {"y", "", true}, {"z", "", true}, // no team tag: not counted
	} {
		if got := adm(c.series, c.team); got != c.want {
			t.Fatalf("series %s team %q: admitted %v, want %v", c.series, c.team, got, c.want)
		}
	}
	u, _ := s.Usage()
	var vals []string
	for _, x := range u {
		vals = append(vals, fmt.Sprintf("%s=%d/%d", x.Value, x.Admitted, x.Series))
	}
	if got := strings.Join(vals, " "); got != "pay=2/3 search=2/3 __other__=2/3" {
		t.Fatalf("usage %s", got)
	}
}

// TestBudgetLogsStartAndStop: dropping is logged with the tag key whose values explode, and its
// end once a window after a dropping one passes without a drop.
func TestBudgetLogsStartAndStop(t *testing.T) {
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
	s := newSet(t, log, &config.Budget{Name: "api", MaxSeries: 10})
	for i := 0; i < 500; i++ {
		s.Admit(1, h(fmt.Sprint(i)), tags("host", fmt.Sprint("h", i%3), "request_id", fmt.Sprint(i)), 1)
	}
	out := buf.String()
	if !strings.Contains(out, "cardinality budget is dropping new series") || !strings.Contains(out, `top_tag_keys="request_id=200,host=3"`) {
		t.Fatalf("no start line naming request_id:\n%s", out)
	}
	// Window 2 sees 5 series, decided by hash after window 1's 500 (most are dropped); window 3
	// follows one of 5 series, so it admits all of them and drops nothing.
	for w := int64(2); w <= 3; w++ {
		for i := 0; i < 5; i++ {
			got := s.Admit(1, h(fmt.Sprint(i)), nil, w)
			if w == 3 && got != -1 {
				t.Fatalf("window 3 dropped series %d", i)
			}
		}
	}
	if strings.Contains(buf.String(), "stopped dropping") {
		t.Fatalf("stopped dropping before a whole window without a drop:\n%s", buf.String())
	}
	s.Admit(1, h("0"), nil, 4) // window 4 ends window 3
	if !strings.Contains(buf.String(), "cardinality budget stopped dropping") {
		t.Fatalf("no stop line:\n%s", buf.String())
	}
}

// TestDistinctEstimate: the distinct count is exact while small and within 3 % (about four
// standard errors of precision 14) beyond.
func TestDistinctEstimate(t *testing.T) {
	s := newSet(t, nil, &config.Budget{Name: "all", MaxSeries: 10})
	for _, n := range []int{1000, 200_000} {
		for i := 0; i < n; i++ {
			s.Admit(1, h(fmt.Sprint(n, "-", i)), nil, int64(n))
		}
		u, _ := s.Usage()
		got := float64(u[0].Series)
		if n <= exactLimit && got != float64(n) || math.Abs(got-float64(n))/float64(n) > 0.03 {
			t.Fatalf("%d distinct series estimated as %g", n, got)
		}
	}
}

func TestThreshold(t *testing.T) {
	if threshold(100, 100) != all || threshold(100, 50) != all {
		t.Fatal("within budget must admit every hash")
	}
	for _, c := range []struct {
		max int
		n   uint64
		f   float64
	}{{100, 200, 0.5}, {100, 1000, math.Pow(2, -3.5)}, {100, 1100, math.Pow(2, -3.5)}, {1, 1 << 20, math.Pow(2, -20)}} {
		got := float64(threshold(c.max, c.n)) / float64(math.MaxUint64)
		if math.Abs(got-c.f)/c.f > 1e-9 {
			t.Fatalf("threshold(%d, %d) = %g, want %g", c.max, c.n, got, c.f)
		}
	}
}
