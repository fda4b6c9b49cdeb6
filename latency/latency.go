// Package latency holds the record-latency histogram: lock-free, fixed-size, read by /metrics and
// the progress line while the offset tracker records into it.
package latency

import (
	"math"
	"sync/atomic"
	"time"
)

// Hist is a histogram of record latency — from a record's Kafka timestamp to the moment
// every datapoint of its batch was acknowledged by the output — over logarithmic buckets from
// 1 ms, each 1.25× the one before, so a quantile is at most 25 % above the true value. The offset
// tracker records into it once per batch; anyone may read it.
type Hist struct {
	buckets [latencyBuckets]atomic.Int64
	// sumMs is the sum of the recorded latencies, in ms, each counted once per record.
	sumMs atomic.Int64
}

const (
	latencyBuckets = 96 // 1 ms × 1.25^95 ≈ 1.6 × 10^6 s
	latencyBase    = 1.25
)

func latencyBucket(ms int64) int {
	if ms <= 1 {
		return 0
	}
	return min(int(math.Log(float64(ms))/math.Log(latencyBase))+1, latencyBuckets-1)
}

// bucketUpper is the upper bound of bucket i in ms.
func bucketUpper(i int) float64 { return math.Pow(latencyBase, float64(i)) }

// Record counts n records of latency ms.
func (h *Hist) Record(ms int64, n int) {
	h.buckets[latencyBucket(ms)].Add(int64(n))
	h.sumMs.Add(max(ms, 0) * int64(n))
}

// ExportBuckets are the upper bounds (seconds) /metrics shows the latency histogram with.
var ExportBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// Cumulative returns the histogram as Prometheus wants it: the count of records at or below each
// of bounds (seconds), the total count and the sum in seconds. A fine bucket counts under a
// bound when its upper end is at or below it, so each count is exact for the fine buckets and
// at most one fine bucket (25 %) short of the bound.
func (h *Hist) Cumulative(bounds []float64) (map[float64]uint64, uint64, float64) {
	out := make(map[float64]uint64, len(bounds))
	var seen uint64
	b := 0
	for i := range h.buckets {
		upper := bucketUpper(i) / 1000
		for b < len(bounds) && bounds[b] < upper {
			out[bounds[b]] = seen
			b++
		}
		seen += uint64(h.buckets[i].Load())
	}
	for ; b < len(bounds); b++ {
		out[bounds[b]] = seen
	}
	return out, seen, float64(h.sumMs.Load()) / 1000
}

// Quantile returns the upper bound of the bucket holding the q-quantile (0 when empty).
func (h *Hist) Quantile(q float64) time.Duration {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return time.Duration(bucketUpper(i) * float64(time.Millisecond))
		}
	}
	return time.Duration(bucketUpper(latencyBuckets-1) * float64(time.Millisecond))
}
