package aggregate

import (
	"fmt"
	"testing"
)

// BenchmarkPartitionAdd: one sample into a partition's open window (100 series over 10 output
// series, every output), the aggregation path's cost per datapoint as it stands.
func BenchmarkPartitionAdd(b *testing.B) {
	spec, err := NewSpec("10s", nil, []string{"pod"}, []string{SumSamples, CountSamples, CountSeries, Min, Max, Avg, Last,
		Increase, Total, RateSum, RateAvg, HistogramBucket, "quantiles(0.5, 0.99)"})
	if err != nil {
		b.Fatal(err)
	}
	var inputs [][]Label
	for i := range 100 {
		inputs = append(inputs, []Label{{"__name__", "http_requests"}, {"job", fmt.Sprint("j", i%10)}, {"pod", fmt.Sprint("p", i)}})
	}
	p := NewPartition(spec, 30_000, Checkpoint{MaxTs: NoCheckpoint})
	emit := func(int64, string, []Label, float64) {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts := int64(1_800_000_000_000 + i)
		p.Add(int64(i), inputs[i%len(inputs)], ts, float64(i), emit)
	}
}

// TestPartitionAddAllocatesNothing: in steady state (series known, their output series' window
// open, accumulators reused from closed windows) a sample allocates nothing, whatever outputs.
func TestPartitionAddAllocatesNothing(t *testing.T) {
	spec, err := NewSpec("10s", nil, []string{"pod"}, []string{SumSamples, CountSamples, CountSeries, Min, Max, Avg, Last,
		Increase, Total, RateSum, RateAvg, HistogramBucket, "quantiles(0.5, 0.99)"})
	if err != nil {
		t.Fatal(err)
	}
	var inputs [][]Label
	for i := range 50 {
		inputs = append(inputs, []Label{{"__name__", "http_requests"}, {"job", fmt.Sprint("j", i%5)}, {"pod", fmt.Sprint("p", i)}})
	}
	p := NewPartition(spec, 0, Checkpoint{MaxTs: NoCheckpoint})
	emit := func(int64, string, []Label, float64) {}
	ts, off := int64(1_800_000_000_000), int64(0)
	add := func() {
		p.Add(off, inputs[off%int64(len(inputs))], ts, float64(off), emit)
		off++
		ts += 3 // 3,334 samples a window
	}
	for range 20_000 { // six windows: accumulators, sets and sketches grown and reused
		add()
	}
	if n := testing.AllocsPerRun(1000, add); n != 0 {
		t.Fatalf("%v allocations per sample", n)
	}
}
