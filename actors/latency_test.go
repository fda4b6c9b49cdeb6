package actors

import (
	"testing"
	"time"
)

func TestLatencyQuantiles(t *testing.T) {
	var h latencyHist
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
	h.record(10, 90)   // 90 records at 10 ms
	h.record(2000, 10) // 10 at 2 s
	within := func(got time.Duration, want time.Duration) bool {
		return got >= want && float64(got) <= float64(want)*latencyBase
	}
	if p50 := h.quantile(0.5); !within(p50, 10*time.Millisecond) {
		t.Errorf("p50 = %v, want 10ms (bucket bound)", p50)
	}
	if p99 := h.quantile(0.99); !within(p99, 2*time.Second) {
		t.Errorf("p99 = %v, want 2s (bucket bound)", p99)
	}
	if p90 := h.quantile(0.9); !within(p90, 10*time.Millisecond) {
		t.Errorf("p90 = %v, want 10ms", p90)
	}
	h.record(-5, 1) // a clock step backwards lands in the first bucket, not a panic
}
