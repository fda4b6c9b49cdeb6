package latency

import (
	"testing"
	"time"
)

func TestLatencyQuantiles(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
	h.Record(10, 90)   // 90 records at 10 ms
	h.Record(2000, 10) // 10 at 2 s
	within := func(got time.Duration, want time.Duration) bool {
		return got >= want && float64(got) <= float64(want)*latencyBase
	}
	if p50 := h.Quantile(0.5); !within(p50, 10*time.Millisecond) {
		t.Errorf("p50 = %v, want 10ms (bucket bound)", p50)
	}
	if p99 := h.Quantile(0.99); !within(p99, 2*time.Second) {
		t.Errorf("p99 = %v, want 2s (bucket bound)", p99)
	}
	if p90 := h.Quantile(0.9); !within(p90, 10*time.Millisecond) {
		t.Errorf("p90 = %v, want 10ms", p90)
	}
	h.Record(-5, 1) // a clock step backwards lands in the first bucket, not a panic
}

func TestLatencyCumulative(t *testing.T) {
	var h Hist
	h.Record(10, 90)   // 10 ms
	h.Record(2000, 10) // 2 s
	h.Record(0, 5)     // under 1 ms
	bounds := []float64{.001, .01, .05, 1, 2.5, 3600}
	got, count, sum := h.Cumulative(bounds)
	if count != 105 {
		t.Errorf("count %d, want 105", count)
	}
	if want := (90*10 + 10*2000) / 1000.0; sum != want {
		t.Errorf("sum %v s, want %v", sum, want)
	}
	// A 10 ms record sits in the fine bucket whose upper end is ≥ 10 ms and < 12.5 ms: counted
	// under 50 ms but not under 10 ms unless its bucket ends exactly there.
	want := map[float64]uint64{.001: 5, .05: 95, 1: 95, 2.5: 105, 3600: 105}
	for b, n := range want {
		if got[b] != n {
			t.Errorf("le=%v: %d, want %d (all %v)", b, got[b], n, got)
		}
	}
	if got[.01] != 5 && got[.01] != 95 {
		t.Errorf("le=0.01: %d, want 5 or 95", got[.01])
	}
	for i := 1; i < len(bounds); i++ {
		if got[bounds[i]] < got[bounds[i-1]] {
			t.Errorf("not cumulative: %v", got)
		}
	}
}
